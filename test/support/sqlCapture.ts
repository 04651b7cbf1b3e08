/**
 * Captures every SQL statement the deployed notebooks send to spark.sql: runs the stack under Pulumi's
 * mocks (asynchronous fan-out on), writes the notebooks it uploads into a directory laid out like the
 * workspace folder, and runs each notebook that issues SQL (setup, the workers, both orchestrators,
 * the dispatcher) under tools/local_databricks.py, whose fake spark records every statement.
 */
import * as fs from "fs";
import * as http from "http";
import type { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { WORKERS } from "../../components/workers";
import type { RecordedResource } from "../../tools/offline";
import { NotebookResult, runNotebookLocally, Scenario } from "../../tools/localRun";
import { ofType, runStack, TYPES } from "./stack";

export interface CapturedStatement {
    readonly notebook: string;
    readonly query: string;
    readonly args: Record<string, unknown> | null;
}

/** The catalog the capture deploys to (DuckDB reserves `main`, and the statements are replayed there). */
export const CAPTURE_CATALOG = "lakehouse";

/**
 * A Jobs API 2.2 on 127.0.0.1, enough for one dispatcher pass: runs/list (active runs: none), runs/get
 * (a run that TERMINATED with SUCCESS), run-now and runs/cancel, shaped as
 * https://docs.databricks.com/api/azure/workspace/jobs documents them; anything else is 404
 * ENDPOINT_NOT_FOUND, as the real API answers.
 */
function startJobsApi(): Promise<http.Server> {
    const server = http.createServer((request, response) => {
        request.resume();
        request.on("end", () => {
            const url = request.url ?? "";
            const reply = (value: unknown, status = 200) => response.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(value));
            if (url.startsWith("/api/2.2/jobs/runs/list")) {
                reply({ runs: [], has_more: false });
            } else if (url.startsWith("/api/2.2/jobs/runs/get")) {
                reply({
                    run_id: 500,
                    state: { life_cycle_state: "TERMINATED", result_state: "SUCCESS" },
                    status: { state: "TERMINATED", termination_details: { code: "SUCCESS", type: "SUCCESS" } },
                    start_time: 1763690400000,
                    end_time: 1763690490000,
                    run_duration: 90000,
                });
            } else if (url.startsWith("/api/2.2/jobs/run-now")) {
                reply({ run_id: 600, number_in_job: 600 });
            } else if (url.startsWith("/api/2.2/jobs/runs/cancel")) {
                reply({});
            } else {
                reply({ error_code: "ENDPOINT_NOT_FOUND", message: `No API found for '${request.method} ${url}'` }, 404);
            }
        });
    });
    return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function taskParameters(job: RecordedResource, taskKey: string): Record<string, string> {
    const tasks = job.inputs.tasks as { taskKey: string; notebookTask?: { baseParameters?: Record<string, string> } }[];
    return { ...(tasks.find((task) => task.taskKey === taskKey)?.notebookTask?.baseParameters ?? {}) };
}

function jobParameters(job: RecordedResource): Record<string, string> {
    const parameters = (job.inputs.parameters ?? []) as { name: string; default: string }[];
    return Object.fromEntries(parameters.map((p) => [p.name, p.default.includes("{{") ? "1" : p.default]));
}

/** Runs every SQL-issuing notebook the stack uploads under the fakes; returns the statements, in order. */
export async function captureStatements(): Promise<{ statements: CapturedStatement[]; results: Record<string, NotebookResult> }> {
    const run = await runStack({ catalog: CAPTURE_CATALOG, asyncFanOut: "true", asyncApiTokenSource: "context" });
    const folder = String(ofType(run, TYPES.directory)[0].inputs.path);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deployed-notebooks-"));
    const ids = new Map<string, number>();
    for (const notebook of ofType(run, TYPES.notebook)) {
        const relative = String(notebook.inputs.path).slice(folder.length + 1);
        const source = Buffer.from(String(notebook.inputs.contentBase64), "base64").toString("utf8");
        fs.mkdirSync(path.dirname(path.join(dir, relative)), { recursive: true });
        // Under the mocks a resource's id is a placeholder; a deployment renders the number Databricks gave it.
        const deployed = source.replace(/<id of [^>]+>/g, (placeholder) =>
            String(ids.get(placeholder) ?? ids.set(placeholder, 1000 + ids.size).get(placeholder)),
        );
        fs.writeFileSync(path.join(dir, `${relative}.py`), deployed);
    }
    const jobs = ofType(run, TYPES.job);
    const job = (suffix: string) => {
        const found = jobs.find((j) => String(j.inputs.name).endsWith(suffix));
        if (!found) {
            throw new Error(`no job named *${suffix} among ${jobs.map((j) => j.inputs.name).join(", ")}`);
        }
        return found;
    };
    const setupWidgets = taskParameters(job("sequential"), "setup");
    const workerWidgets = {
        catalog: setupWidgets.catalog,
        schema: setupWidgets.schema,
        input_table: setupWidgets.input_table,
        run_log_table: setupWidgets.run_log_table,
    };
    const everyWorkerSucceeds = Object.fromEntries(
        WORKERS.map((w) => [w.name, { attempts: [{ seconds: 1, exit_value: JSON.stringify({ rows_merged: 3, duration_seconds: 1 }) }] }]),
    );
    const metrics = [{ num_affected_rows: 1, num_updated_rows: 1, num_deleted_rows: 0, num_inserted_rows: 0 }];
    const jobsApi = await startJobsApi();
    const apiUrl = `http://127.0.0.1:${(jobsApi.address() as AddressInfo).port}`;

    const scenarios: Record<string, Omit<Scenario, "notebook">> = {
        setup: { widgets: setupWidgets, secrets: { [setupWidgets.secret_scope]: {} }, sql: [{ match: "SELECT COUNT", rows: [{ n: 0 }] }] },
        ...Object.fromEntries(WORKERS.map((w) => [`workers/${w.name}`, { widgets: workerWidgets, sql: [{ match: "^\\s*MERGE", rows: metrics }] }])),
        "orchestrators/sequential": { widgets: jobParameters(job("sequential")), workers: everyWorkerSucceeds },
        "orchestrators/parallel": { widgets: jobParameters(job("parallel")), workers: everyWorkerSucceeds },
        "async/dispatcher": {
            widgets: jobParameters(job("async-dispatcher")),
            notebook_context: { api_url: apiUrl, api_token: "context-token" },
            sql: [
                {
                    match: "^\\s*SELECT entry_key",
                    rows: [{ entry_key: "e1", worker: WORKERS[0].name, parameters: "{}", status: "RUNNING", run_id: 500, attempts: 1 }],
                },
                { match: "^\\s*MERGE", rows: metrics },
            ],
        },
    };
    const statements: CapturedStatement[] = [];
    const results: Record<string, NotebookResult> = {};
    try {
        for (const [notebook, scenario] of Object.entries(scenarios)) {
            const result = await runNotebookLocally({ time_scale: 0.001, ...scenario, notebook: path.join(dir, `${notebook}.py`) });
            results[notebook] = result;
            statements.push(...result.sql.map((s) => ({ notebook, query: s.query, args: s.args })));
        }
    } finally {
        jobsApi.close();
    }
    return { statements, results };
}
