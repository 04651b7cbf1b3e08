import * as http from "http";
import { AddressInfo } from "net";
import { expect } from "chai";
import { parseStackConfig } from "../components/config";
import { DISPATCH_LIBRARY, readNotebook, renderAsyncWorker, renderDispatcher, writeNotebooks } from "../components/render";
import { WORKER_NAMES } from "../components/workers";
import { OfflineRun } from "../tools/offline";
import { exitSummary, orchestratorSettings, renderedNotebookDir, runIn } from "./support/notebooks";
import { configSource, notebookSource, ofType, one, REQUIRED_CONFIG, runStack, TYPES } from "./support/stack";

describe("the asynchronous fan-out", function () {
    this.timeout(30000);
    let on: OfflineRun;
    let off: OfflineRun;

    before(async () => {
        on = await runStack({ asyncFanOut: "true", asyncConcurrencyCap: "40", asyncDispatchIntervalMinutes: "10" });
        off = await runStack({});
    });

    it("adds nothing when switched off", () => {
        expect(ofType(off, "orchestration:async:AsyncFanOut")).to.have.length(0);
        expect(ofType(off, TYPES.job)).to.have.length(2);
        expect(ofType(off, TYPES.notebook).map((n) => String(n.inputs.path))).not.to.satisfy((paths: string[]) => paths.some((p) => /async|dispatch/.test(p)));
        expect(off.outputs).not.to.have.property("asyncDispatcherJobId");
        const setup = (one(off, TYPES.job, "parallel-job").inputs.tasks as Record<string, any>[]).find((t) => t.taskKey === "setup");
        expect(setup?.notebookTask.baseParameters).not.to.have.property("state_table");
    });

    it("adds a worker job that runs the worker named by its parameters, with a run limit of the cap and queueing", () => {
        const worker = one(on, TYPES.job, "async-worker-job").inputs as Record<string, any>;
        expect(worker.name).to.equal("[dev] notebook-orchestration async-worker");
        expect(worker).to.deep.include({ maxConcurrentRuns: 40, queue: { enabled: true } });
        expect(worker.schedule).to.equal(undefined);
        expect(worker.tasks).to.have.length(1);
        expect(worker.tasks[0]).to.deep.include({ taskKey: "worker", existingClusterId: `<id of ${one(on, TYPES.cluster).name}>` });
        expect(worker.tasks[0].notebookTask.notebookPath).to.equal("/Shared/notebook-orchestration/dev/async/run_worker");
        expect(worker.parameters.map((p: { name: string }) => p.name)).to.deep.equal(["entry_key", "parameters", "run_id", "worker"]);
    });

    it("adds a dispatcher job on a schedule every N minutes, paused off production, one run at a time, after setup", () => {
        const dispatcher = one(on, TYPES.job, "async-dispatcher-job").inputs as Record<string, any>;
        expect(dispatcher.schedule).to.deep.equal({ quartzCronExpression: "0 0/10 * * * ?", timezoneId: "UTC", pauseStatus: "PAUSED" });
        expect(dispatcher.maxConcurrentRuns).to.equal(1);
        expect(dispatcher.tasks.map((t: { taskKey: string }) => t.taskKey)).to.deep.equal(["dispatch", "setup"]);
        const dispatch = dispatcher.tasks[0];
        expect(dispatch.notebookTask.notebookPath).to.equal("/Shared/notebook-orchestration/dev/async/dispatcher");
        expect(dispatch.dependsOns).to.deep.equal([{ taskKey: "setup" }]);
        expect(dispatcher.tasks[1].notebookTask.baseParameters).to.include({ state_table: "etl_work_queue" });
        for (const kind of ["sequential", "parallel"]) {
            const setup = (one(on, TYPES.job, `${kind}-job`).inputs.tasks as Record<string, any>[]).find((t) => t.taskKey === "setup");
            expect(setup?.notebookTask.baseParameters).to.include({ state_table: "etl_work_queue" });
        }
    });

    it("renders the worker job's id, the tables, the cap and the token source into the dispatcher", () => {
        const source = notebookSource(on, "async/dispatcher");
        expect(source).to.contain('WORKER_JOB_ID = int("<id of notebook-orchestration-dev-async-worker-job>")');
        expect(source).to.contain('STATE_TABLE = "`main`.`notebook_orchestration_dev`.`etl_work_queue`"');
        expect(source).to.contain('RUN_LOG_TABLE = "`main`.`notebook_orchestration_dev`.`etl_run_log`"');
        expect(source).to.contain("CONCURRENCY_CAP = 40");
        expect(source).to.contain("MAX_ATTEMPTS = 3");
        expect(source).to.contain('API_TOKEN_SOURCE = "context"');
        expect(source).to.contain('SECRET_SCOPE = "notebook-orchestration-dev"');
        expect(source).to.contain("# MAGIC %run ../lib/dispatch");
        expect(ofType(on, TYPES.notebook).map((n) => n.inputs.path)).to.include("/Shared/notebook-orchestration/dev/lib/dispatch");
        expect(notebookSource(on, "async/run_worker")).to.contain('"path": "/Shared/notebook-orchestration/dev/workers/daily_sales"');
        expect((on.outputs.tables as Record<string, string>).asyncState).to.equal("main.notebook_orchestration_dev.etl_work_queue");
        expect(on.outputs.asyncDispatcherJobId).to.equal("<id of notebook-orchestration-dev-async-dispatcher-job>");
    });

    it("bounds the cap by the shared cluster's execution contexts, or well below the workspace limit per job", () => {
        const cap = (values: Record<string, string>) => () => parseStackConfig(configSource({ ...REQUIRED_CONFIG, asyncFanOut: "true", ...values }));
        expect(cap({ asyncConcurrencyCap: "145" })).to.throw(
            'notebook-orchestration:asyncConcurrencyCap: got "145"; expected an integer from 1 to 144 (the worker job runs on the shared cluster',
        );
        expect(cap({ asyncConcurrencyCap: "500", computeMode: "perJob" })().asyncFanOut.concurrencyCap).to.equal(500);
        expect(cap({ asyncConcurrencyCap: "1000", computeMode: "perJob" })).to.throw(
            "expected an integer from 1 to 900 (well below the workspace's 1000 concurrent task runs",
        );
        expect(cap({ asyncApiTokenSource: "pat" })).to.throw("asyncApiTokenSource: got \"pat\"; expected one of 'context', 'secretScope'");
        expect(cap({ asyncDispatchIntervalMinutes: "60" })).to.throw('asyncDispatchIntervalMinutes: got "60"; expected an integer from 1 to 59');
    });
});

describe("the asynchronous worker task, run locally", () => {
    const dir = renderedNotebookDir();
    writeNotebooks(dir, [{ relativePath: "async/run_worker", source: renderAsyncWorker(orchestratorSettings().workers, 900) }]);

    it("runs the named worker with its default arguments overridden by the entry's parameters", async () => {
        const result = await runIn(dir, "async/run_worker", {
            widgets: { worker: "daily_sales", parameters: '{"input_table": "orders_2026_11_21"}', entry_key: "daily/2026-11-21", run_id: "31" },
            workers: { daily_sales: { attempts: [{ seconds: 1, exit_value: '{"rows_merged": 3}' }] } },
        });
        expect(result.status).to.equal("exited");
        expect(result.exit_value).to.equal('{"rows_merged": 3}');
        expect(result.calls).to.have.length(1);
        expect(result.calls[0]).to.deep.include({ name: "daily_sales", timeout_seconds: 900 });
        expect(result.calls[0].arguments).to.deep.equal({
            catalog: "main",
            schema: "etl_test",
            input_table: "orders_2026_11_21",
            run_log_table: "etl_run_log",
            orchestration_mode: "async_task",
            run_id: "31",
        });
    });

    it("refuses an unknown worker or parameters that are not a JSON object of strings", async () => {
        const unknown = await runIn(dir, "async/run_worker", { widgets: { worker: "nightly" } });
        expect(unknown.error).to.equal(`Job parameter worker='nightly' is not a worker; expected one of ${WORKER_NAMES.join(", ")}`);
        const notJson = await runIn(dir, "async/run_worker", { widgets: { worker: "daily_sales", parameters: "{oops" } });
        expect(notJson.error).to.match(/^Job parameter parameters='\{oops' is not JSON/);
        const notStrings = await runIn(dir, "async/run_worker", { widgets: { worker: "daily_sales", parameters: '{"n": 1}' } });
        expect(notStrings.error).to.equal(`Job parameter parameters='{"n": 1}'; expected a JSON object of string values`);
        expect([unknown, notJson, notStrings].every((r) => r.calls.length === 0)).to.equal(true);
    });
});

describe("the dispatcher notebook, run locally against a Jobs API on 127.0.0.1", () => {
    let server: http.Server;
    let workspaceUrl = "";
    const requests: { method: string; url: string; authorization?: string; body?: Record<string, unknown> }[] = [];

    before(async () => {
        server = http.createServer((request, response) => {
            let body = "";
            request.on("data", (chunk: Buffer) => (body += chunk.toString()));
            request.on("end", () => {
                requests.push({
                    method: request.method ?? "",
                    url: request.url ?? "",
                    authorization: request.headers.authorization,
                    body: body ? JSON.parse(body) : undefined,
                });
                const reply = (value: unknown) => response.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(value));
                if (request.url?.startsWith("/api/2.2/jobs/runs/list")) {
                    reply({ runs: [{ run_id: 1 }] });
                } else if (request.url === "/api/2.2/jobs/runs/get?run_id=500") {
                    reply({
                        run_id: 500,
                        state: { life_cycle_state: "TERMINATED", result_state: "SUCCESS" },
                        start_time: 1763690400000,
                        end_time: 1763690490000,
                        run_duration: 90000,
                    });
                } else if (request.url === "/api/2.2/jobs/run-now") {
                    reply({ run_id: 600 });
                } else {
                    response.writeHead(404).end("{}");
                }
            });
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        workspaceUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    after(() => server.close());

    function dispatcherDir(apiTokenSource: "context" | "secretScope"): string {
        const dir = renderedNotebookDir();
        writeNotebooks(dir, [
            {
                relativePath: "async/dispatcher",
                source: renderDispatcher({
                    workerJobId: "77",
                    stateTable: "`main`.`s`.`etl_work_queue`",
                    runLogTable: "`main`.`s`.`etl_run_log`",
                    workerNames: WORKER_NAMES,
                    concurrencyCap: 2,
                    maxAttempts: 3,
                    apiTokenSource,
                    secretScope: "nbo-test",
                    apiTokenSecret: "databricks-jobs-token",
                    workspaceUrl,
                }),
            },
            { relativePath: DISPATCH_LIBRARY, source: readNotebook(DISPATCH_LIBRARY) },
        ]);
        return dir;
    }

    it("calls the Jobs API with the notebook's own token when the token source is the context", async () => {
        requests.length = 0;
        const result = await runIn(dispatcherDir("context"), "async/dispatcher", {
            notebook_context: { api_url: workspaceUrl, api_token: "context-token" },
            sql: [{ match: "^SELECT entry_key", rows: [] }],
        });
        expect(exitSummary(result)).to.deep.include({ submitted: [], errors: [] });
        expect(requests.map((r) => r.authorization)).to.deep.equal(["Bearer context-token"]);
    });

    it("marks finished runs, submits pending entries up to the cap with the token from the secret scope, and reports", async () => {
        requests.length = 0;
        const dir = dispatcherDir("secretScope");
        const entry = (entry_key: string, status: string, run_id: number | null, created_at: string) => ({
            entry_key,
            worker: "daily_sales",
            parameters: "{}",
            status,
            run_id,
            attempts: run_id ? 1 : 0,
            created_at,
            last_error: null,
        });
        const result = await runIn(dir, "async/dispatcher", {
            secrets: { "nbo-test": { "databricks-jobs-token": "dapi-test" } },
            sql: [
                {
                    match: "^SELECT entry_key",
                    rows: [
                        entry("e1", "RUNNING", 500, "2026-11-21T01"),
                        entry("e2", "PENDING", null, "2026-11-21T02"),
                        entry("e3", "PENDING", null, "2026-11-21T03"),
                    ],
                },
                { match: "MERGE INTO", rows: [{ num_affected_rows: 1 }] },
            ],
        });
        const report = exitSummary(result);
        expect(report).to.deep.include({ finished: ["e1"], submitted: ["e2"], skipped_for_cap: ["e3"], failed: [], errors: [] });
        expect(requests.every((r) => r.authorization === "Bearer dapi-test")).to.equal(true);
        const runNow = requests.find((r) => r.url === "/api/2.2/jobs/run-now");
        expect(runNow?.body).to.deep.include({ job_id: 77, job_parameters: { worker: "daily_sales", parameters: "{}", entry_key: "e2" } });
        expect(String(runNow?.body?.idempotency_token)).to.match(/^[0-9a-f]{64}$/);
        const merges = result.sql.filter((s) => s.query.includes("MERGE INTO"));
        expect(merges.map((m) => m.args)).to.deep.equal([
            { entry_key: "e1", expected_status: "RUNNING", expected_attempts: 1, status: "DONE", last_error: null },
            { entry_key: "e2", expected_status: "PENDING", expected_attempts: 0, status: "RUNNING", run_id: 600, attempts: 1, last_error: null },
        ]);
        const log = result.sql.find((s) => s.query.includes("INSERT INTO `main`.`s`.`etl_run_log`"));
        expect(log?.args).to.deep.include({ notebook: "daily_sales", run_id: "500", attempt: 1, duration: 90, status: "SUCCEEDED" });
        expect(result.output).to.contain("Dispatcher pass: 1 submitted, 0 still running, 1 finished, 0 failed, 1 skipped for the cap (1 active of 2)");
    });
});
