import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { allNotebooks, OrchestratorSettings, writeNotebooks } from "../../components/render";
import { WORKERS } from "../../components/workers";
import { NotebookResult, runNotebookLocally, Scenario } from "../../tools/localRun";

export const WORKER_ROOT = "/Shared/notebook-orchestration/test/workers";

/** Orchestrator settings for tests: the four workers, no backoff, and whatever `overrides` say. */
export function orchestratorSettings(overrides: Partial<OrchestratorSettings> = {}): OrchestratorSettings {
    return {
        workers: WORKERS.map((worker) => ({
            name: worker.name,
            path: `${WORKER_ROOT}/${worker.name}`,
            arguments: { catalog: "main", schema: "etl_test", input_table: "orders", run_log_table: "etl_run_log" },
        })),
        maxWorkers: 2,
        maxWorkersLimit: 16,
        timeoutSeconds: 600,
        maxRetries: 0,
        retryBackoffSeconds: 0,
        runLogTable: "`main`.`etl_test`.`etl_run_log`",
        historyRuns: 5,
        ...overrides,
    };
}

/** Writes every notebook, orchestrators rendered with `settings`, into a fresh directory; returns it. */
export function renderedNotebookDir(settings: OrchestratorSettings = orchestratorSettings()): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rendered-notebooks-"));
    writeNotebooks(dir, allNotebooks(settings));
    return dir;
}

export function runIn(dir: string, relativePath: string, scenario: Omit<Scenario, "notebook">): Promise<NotebookResult> {
    return runNotebookLocally({ time_scale: 0.001, ...scenario, notebook: path.join(dir, `${relativePath}.py`) });
}

/** Workers scripted to succeed after `seconds` each (simulated). */
export function workersTaking(seconds: Readonly<Record<string, number>>): Scenario["workers"] {
    return Object.fromEntries(Object.entries(seconds).map(([name, s]) => [name, { attempts: [{ seconds: s }] }]));
}

export function exitSummary(result: NotebookResult): Record<string, any> {
    if (result.status !== "exited" || result.exit_value === null) {
        throw new Error(`expected the notebook to exit with a value, but it ${result.status}: ${result.error}\n${result.output}`);
    }
    return JSON.parse(result.exit_value) as Record<string, any>;
}

/** The JSON summary a failed orchestrator puts in its exception, after "Summary: ". */
export function raisedSummary(result: NotebookResult): Record<string, any> {
    if (result.status !== "raised" || !result.error) {
        throw new Error(`expected the notebook to raise, but it ${result.status}`);
    }
    return JSON.parse(result.error.slice(result.error.indexOf("Summary: ") + "Summary: ".length)) as Record<string, any>;
}
