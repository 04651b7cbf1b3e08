import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { allNotebooks, OrchestratedItem, OrchestratorSettings, workerNotebookFiles, writeNotebooks } from "../../components/render";
import { DEFAULT_WORK_ITEMS, notebookPath, WorkItem } from "../../components/workItems";
import { NotebookResult, runNotebookLocally, Scenario } from "../../tools/localRun";

/** The stack's workspace folder in tests: relative notebooks resolve against it. */
export const NOTEBOOK_FOLDER = "/Shared/notebook-orchestration/test";
export const WORKER_ROOT = `${NOTEBOOK_FOLDER}/workers`;
/** The widgets every item gets in tests, as the stack renders them. */
export const COMMON_ARGUMENTS = { catalog: "main", schema: "etl_test", input_table: "orders", run_log_table: "etl_run_log" };

/** Work items as the orchestrators get them rendered: with the workspace path each one runs at. */
export function orchestratedItems(items: readonly WorkItem[], folder: string = NOTEBOOK_FOLDER): OrchestratedItem[] {
    return items.map((item) => ({ ...item, path: notebookPath(item.notebook, folder) }));
}

/** Orchestrator settings for tests: the four workers as items, no backoff, and whatever `overrides` say. */
export function orchestratorSettings(overrides: Partial<OrchestratorSettings> = {}): OrchestratorSettings {
    return {
        items: orchestratedItems(DEFAULT_WORK_ITEMS),
        commonArguments: COMMON_ARGUMENTS,
        notebookFolder: NOTEBOOK_FOLDER,
        knownNotebooks: workerNotebookFiles().map((notebook) => notebook.relativePath),
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
