import * as http from "http";
import { AddressInfo } from "net";
import { expect } from "chai";
import { largestSharedClusterCap, parseStackConfig, sharedClusterContexts } from "../components/config";
import { NotebookJob } from "../components/jobs";
import { DISPATCH_LIBRARY, readNotebook, renderDispatcher, writeNotebooks } from "../components/render";
import { WORKER_NAMES } from "../components/workers";
import { OfflineRun } from "../tools/offline";
import { exitSummary, renderedNotebookDir, runIn } from "./support/notebooks";
import { sparkSqlProblems } from "./support/sqlGrammar";
import { configSource, notebookSource, ofType, one, REQUIRED_CONFIG, runStack, TYPES } from "./support/stack";

const CLUSTER = "<id of notebook-orchestration-dev-compute-cluster>";

describe("the asynchronous fan-out", function () {
    this.timeout(30000);
    let on: OfflineRun;
    let off: OfflineRun;

    before(async () => {
        on = await runStack({ asyncFanOut: "true", asyncTableTrigger: "true", asyncConcurrencyCap: "40", asyncDispatchIntervalMinutes: "10" });
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

    it("gives each worker a job whose one task is the worker notebook, so a run holds one execution context", () => {
        for (const worker of WORKER_NAMES) {
            const job = one(on, TYPES.job, `async-${worker}-job`).inputs as Record<string, any>;
            expect(job.name).to.equal(`[dev] notebook-orchestration async-${worker}`);
            expect(job).to.deep.include({ maxConcurrentRuns: 40, queue: { enabled: true } });
            expect(job.schedule).to.equal(undefined);
            expect(job.trigger).to.equal(undefined);
            expect(job.tasks).to.have.length(1);
            expect(job.tasks[0]).to.deep.include({ taskKey: worker, existingClusterId: CLUSTER });
            expect(job.tasks[0].notebookTask.notebookPath).to.equal(`/Shared/notebook-orchestration/dev/workers/${worker}`);
            expect(Object.fromEntries(job.parameters.map((p: { name: string; default: string }) => [p.name, p.default]))).to.deep.equal({
                attempt: "1",
                catalog: "main",
                entry_key: "",
                input_table: "orders",
                orchestration_mode: "async_task",
                run_id: "{{job.run_id}}",
                run_log_table: "etl_run_log",
                schema: "notebook_orchestration_dev",
            });
        }
        expect(ofType(on, TYPES.notebook).map((n) => String(n.inputs.path))).not.to.satisfy((paths: string[]) => paths.some((p) => /run_worker/.test(p)));
        expect(on.outputs.asyncWorkerJobIds).to.deep.equal(
            Object.fromEntries(WORKER_NAMES.map((w) => [w, `<id of notebook-orchestration-dev-async-${w}-job>`])),
        );
    });

    it("starts the dispatcher on updates of the state table and the run log, at most once a minute, paused off production", () => {
        const dispatcher = one(on, TYPES.job, "async-dispatcher-job").inputs as Record<string, any>;
        expect(dispatcher.schedule).to.equal(undefined);
        expect(dispatcher.trigger).to.deep.equal({
            pauseStatus: "PAUSED",
            tableUpdate: {
                tableNames: ["main.notebook_orchestration_dev.etl_work_queue", "main.notebook_orchestration_dev.etl_run_log"],
                condition: "ANY_UPDATED",
                minTimeBetweenTriggersSeconds: 60,
            },
        });
        expect(dispatcher).to.deep.include({ maxConcurrentRuns: 1, queue: { enabled: true }, timeoutSeconds: 1800 });
        expect(dispatcher.tasks.map((t: { taskKey: string }) => t.taskKey)).to.deep.equal(["dispatch", "setup"]);
        expect(dispatcher.tasks[0].notebookTask.notebookPath).to.equal("/Shared/notebook-orchestration/dev/async/dispatcher");
        expect(dispatcher.tasks[0].dependsOns).to.deep.equal([{ taskKey: "setup" }]);
        expect(dispatcher.tasks[1].notebookTask.baseParameters).to.include({ state_table: "etl_work_queue", lease_table: "etl_work_queue_lease" });
        for (const kind of ["sequential", "parallel"]) {
            const setup = (one(on, TYPES.job, `${kind}-job`).inputs.tasks as Record<string, any>[]).find((t) => t.taskKey === "setup");
            expect(setup?.notebookTask.baseParameters).to.include({ state_table: "etl_work_queue" });
        }
    });

    it("runs the dispatcher job from a scheduled safety-net job through a Run Job task, which needs no compute", () => {
        const safetyNet = one(on, TYPES.job, "async-safety-net-job").inputs as Record<string, any>;
        expect(safetyNet.name).to.equal("[dev] notebook-orchestration async-safety-net");
        expect(safetyNet.schedule).to.deep.equal({ quartzCronExpression: "0 0/10 * * * ?", timezoneId: "UTC", pauseStatus: "PAUSED" });
        expect(safetyNet.tasks).to.deep.equal([{ taskKey: "dispatch", runJobTask: { jobId: "<id of notebook-orchestration-dev-async-dispatcher-job>" } }]);
        expect(safetyNet).to.deep.include({ maxConcurrentRuns: 1, queue: { enabled: false }, timeoutSeconds: 3600 });
        const dispatcher = one(on, TYPES.job, "async-dispatcher-job").inputs as Record<string, any>;
        expect(safetyNet.emailNotifications.onFailures).to.have.length.greaterThan(0).and.deep.equal(dispatcher.emailNotifications.onFailures);
        expect(on.outputs.asyncSafetyNetJobId).to.equal("<id of notebook-orchestration-dev-async-safety-net-job>");
    });

    it("runs trigger and safety net in production, and only the safety net without the trigger", async () => {
        const production = await runStack({ asyncFanOut: "true", asyncTableTrigger: "true", mode: "production" }, "prod");
        expect((one(production, TYPES.job, "async-dispatcher-job").inputs as Record<string, any>).trigger.pauseStatus).to.equal("UNPAUSED");
        expect((one(production, TYPES.job, "async-safety-net-job").inputs as Record<string, any>).schedule.pauseStatus).to.equal("UNPAUSED");
        // Off by default: the Jobs API refuses a trigger on tables that setup has not created yet.
        const scheduleOnly = await runStack({ asyncFanOut: "true" });
        expect((one(scheduleOnly, TYPES.job, "async-dispatcher-job").inputs as Record<string, any>).trigger).to.equal(undefined);
        expect((one(scheduleOnly, TYPES.job, "async-safety-net-job").inputs as Record<string, any>).schedule.quartzCronExpression).to.equal("0 0/5 * * * ?");
    });

    it("renders the worker jobs, the shared cluster, the tables, the cap and the deadline into the dispatcher", () => {
        const source = notebookSource(on, "async/dispatcher");
        expect(source).to.contain('"daily_sales": {\n        "job_id": "<id of notebook-orchestration-dev-async-daily_sales-job>",');
        expect(source).to.contain(
            '"parameters": [\n            "catalog",\n            "schema",\n            "input_table",\n            "run_log_table",\n        ],',
        );
        expect(source).to.contain(`CLUSTER_ID = "${CLUSTER}"`);
        expect(source).to.contain("CONTEXT_LIMIT = 145");
        expect(source).to.contain("WORKSPACE_TASK_RUN_LIMIT = 1000");
        expect(source).to.contain('STATE_TABLE = "`main`.`notebook_orchestration_dev`.`etl_work_queue`"');
        expect(source).to.contain('LEASE_TABLE = "`main`.`notebook_orchestration_dev`.`etl_work_queue_lease`"');
        expect(source).to.contain('RUN_LOG_TABLE = "`main`.`notebook_orchestration_dev`.`etl_run_log`"');
        expect(source).to.contain("CONCURRENCY_CAP = 40");
        expect(source).to.contain("MAX_ATTEMPTS = 3");
        expect(source).to.contain("DEADLINE_SECONDS = 10800");
        expect(source).to.contain("LEASE_SECONDS = 1800");
        expect(source).to.contain('API_TOKEN_SOURCE = "context"');
        expect(source).to.contain("# MAGIC %run ../lib/dispatch");
        expect(ofType(on, TYPES.notebook).map((n) => n.inputs.path)).to.include("/Shared/notebook-orchestration/dev/lib/dispatch");
        expect((on.outputs.tables as Record<string, string>).asyncState).to.equal("main.notebook_orchestration_dev.etl_work_queue");
    });

    it("counts the workspace's task runs instead of a cluster's contexts with job clusters", async () => {
        const perJob = await runStack({ asyncFanOut: "true", computeMode: "perJob", asyncConcurrencyCap: "300" });
        expect(notebookSource(perJob, "async/dispatcher")).to.contain("CLUSTER_ID = None");
        const worker = one(perJob, TYPES.job, "async-daily_sales-job").inputs as Record<string, any>;
        expect(worker.tasks[0].jobClusterKey).to.equal("etl");
        expect(worker.maxConcurrentRuns).to.equal(300);
    });

    it("refuses a job with both a schedule and a trigger", () => {
        const schedule = { quartzCronExpression: "0 0 * * * ?", timezoneId: "UTC", pauseStatus: "PAUSED" as const };
        const args = { jobName: "j", description: "d", task: { key: "t", notebookPath: "/p" }, parameters: {}, maxConcurrentRuns: 1, timeoutSeconds: 60 };
        expect(
            () =>
                new NotebookJob("both", {
                    ...args,
                    compute: { task: { jobClusterKey: "etl" } },
                    schedule,
                    trigger: { pauseStatus: "PAUSED", tableUpdate: { tableNames: ["c.s.t"] } },
                    notificationEmails: [],
                    tags: {},
                }),
        ).to.throw("Job both: a Databricks job has one schedule or one trigger, not both");
    });
});

describe("the fan-out's share of the shared cluster's execution contexts", () => {
    const parse = (values: Record<string, string>) => parseStackConfig(configSource({ ...REQUIRED_CONFIG, asyncFanOut: "true", ...values }));

    it("adds up the dispatcher, both orchestrators and the cap, for the default and the largest cap", () => {
        expect(sharedClusterContexts(16, 50)).to.deep.equal({ dispatcher: 1, sequential: 2, parallel: 17, fanOut: 50, total: 70, limit: 145 });
        expect(largestSharedClusterCap(16)).to.equal(125);
        expect(sharedClusterContexts(16, 125).total).to.equal(145);
        expect(largestSharedClusterCap(4)).to.equal(137);
    });

    it("refuses a cap that cannot fit, naming what holds the other contexts", () => {
        expect(parse({ asyncConcurrencyCap: "125" }).asyncFanOut.concurrencyCap).to.equal(125);
        expect(() => parse({ asyncConcurrencyCap: "126" })).to.throw(
            'notebook-orchestration:asyncConcurrencyCap: got "126"; expected an integer from 1 to 125 (the worker jobs run on the shared cluster, ' +
                "whose 145 execution contexts also hold the dispatcher's run (1), the sequential orchestrator (2) and the parallel one at maxWorkersLimit 16 (17)",
        );
        expect(() => parse({ maxWorkersLimit: "100", asyncConcurrencyCap: "50" })).to.throw('asyncConcurrencyCap: got "50"; expected an integer from 1 to 41');
        expect(parse({ maxWorkersLimit: "100" }).asyncFanOut.concurrencyCap, "unset: the default, or the largest cap that fits").to.equal(41);
        expect(() => parse({ maxWorkersLimit: "144", maxWorkers: "4" })).to.throw('asyncConcurrencyCap: got "50"; expected a cap that fits, but none does');
        expect(parse({ asyncConcurrencyCap: "500", computeMode: "perJob" }).asyncFanOut.concurrencyCap).to.equal(500);
        expect(() => parse({ asyncConcurrencyCap: "1000", computeMode: "perJob" })).to.throw(
            "expected an integer from 1 to 900 (well below the workspace's 1000 concurrent task runs",
        );
    });

    it("checks the trigger, deadline, interval and token source", () => {
        expect(parse({}).asyncFanOut).to.deep.include({ tableTrigger: false, entryDeadlineSeconds: 10800, leaseTable: "etl_work_queue_lease" });
        expect(() => parse({ catalog: "hive_metastore", asyncTableTrigger: "true" })).to.throw(
            'asyncTableTrigger: got "true"; expected false when catalog is hive_metastore: table update triggers watch Unity Catalog tables only',
        );
        expect(parse({ catalog: "hive_metastore", asyncTableTrigger: "false" }).asyncFanOut.tableTrigger).to.equal(false);
        expect(() => parse({ asyncEntryDeadlineMinutes: "2" })).to.throw('asyncEntryDeadlineMinutes: got "2"; expected an integer from 5 to 10080');
        expect(() => parse({ asyncApiTokenSource: "pat" })).to.throw("asyncApiTokenSource: got \"pat\"; expected one of 'context', 'secretScope'");
        expect(() => parse({ asyncDispatchIntervalMinutes: "60" })).to.throw('asyncDispatchIntervalMinutes: got "60"; expected an integer from 1 to 59');
    });
});

describe("the setup task's state and lease tables, run locally", () => {
    const dir = renderedNotebookDir();
    const widgets = {
        catalog: "main",
        schema: "s",
        input_table: "orders",
        run_log_table: "etl_run_log",
        state_table: "etl_work_queue",
        lease_table: "etl_work_queue_lease",
    };

    it("creates both tables and adds the submission columns to a state table from before them", async () => {
        const old = ["entry_key", "worker", "parameters", "status", "run_id", "attempts", "created_at", "updated_at", "last_error"];
        const result = await runIn(dir, "setup", {
            widgets,
            sql: [
                { match: "^DESCRIBE TABLE `main`.`s`.`etl_work_queue`", rows: old.map((col_name) => ({ col_name, data_type: "string" })) },
                { match: "COUNT\\(\\*\\)", rows: [{ n: 1 }] },
            ],
        });
        expect(exitSummary(result)).to.deep.include({ state_table: "main.s.etl_work_queue", lease_table: "main.s.etl_work_queue_lease" });
        const statements = result.sql.map((s) => s.query);
        expect(statements.some((q) => /CREATE TABLE IF NOT EXISTS `main`.`s`.`etl_work_queue_lease` \(\s*name STRING NOT NULL/.test(q))).to.equal(true);
        expect(statements).to.include("ALTER TABLE `main`.`s`.`etl_work_queue` ADD COLUMNS (submission_token STRING, submitted_at TIMESTAMP)");
        for (const statement of statements.filter((q) => /etl_work_queue/.test(q))) {
            expect(sparkSqlProblems(statement), statement).to.deep.equal([]);
        }
    });

    it("leaves a current state table alone", async () => {
        const current = ["entry_key", "worker", "status", "attempts", "submission_token", "submitted_at"];
        const result = await runIn(dir, "setup", {
            widgets,
            sql: [
                { match: "^DESCRIBE TABLE `main`.`s`.`etl_work_queue`", rows: current.map((col_name) => ({ col_name })) },
                { match: "COUNT\\(\\*\\)", rows: [{ n: 1 }] },
            ],
        });
        expect(result.sql.some((s) => s.query.startsWith("ALTER TABLE `main`.`s`.`etl_work_queue`"))).to.equal(false);
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
                    // The dispatcher's own run, and a run of a worker job that someone started by hand.
                    const run = (run_id: number, job_id: number, task_key: string) => ({
                        run_id,
                        job_id,
                        status: { state: "RUNNING" },
                        tasks: [{ task_key, existing_cluster_id: "c-1", status: { state: "RUNNING" } }],
                    });
                    reply({ runs: [run(2, 71, "daily_sales"), run(1, 60, "dispatch")], has_more: false });
                } else if (request.url === "/api/2.2/jobs/runs/get?run_id=500") {
                    reply({
                        run_id: 500,
                        status: { state: "TERMINATED", termination_details: { code: "SUCCESS", type: "SUCCESS", message: "" } },
                        state: { life_cycle_state: "TERMINATED", result_state: "SUCCESS" },
                        start_time: 1763690400000,
                        end_time: 1763690490000,
                        run_duration: 90000,
                    });
                } else if (request.url === "/api/2.2/jobs/run-now") {
                    reply({ run_id: 600, number_in_job: 600 });
                } else {
                    response.writeHead(404).end('{"error_code": "ENDPOINT_NOT_FOUND", "message": "no such API"}');
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
                    workerJobs: Object.fromEntries(
                        WORKER_NAMES.map((name, i) => [name, { jobId: String(70 + i), parameters: ["catalog", "schema", "input_table", "run_log_table"] }]),
                    ),
                    clusterId: "c-1",
                    contextLimit: 145,
                    workspaceTaskRunLimit: 1000,
                    stateTable: "`main`.`s`.`etl_work_queue`",
                    leaseTable: "`main`.`s`.`etl_work_queue_lease`",
                    runLogTable: "`main`.`s`.`etl_run_log`",
                    concurrencyCap: 2,
                    maxAttempts: 3,
                    deadlineSeconds: 3600,
                    leaseSeconds: 1800,
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
            widgets: { run_id: "77" },
            notebook_context: { api_url: workspaceUrl, api_token: "context-token" },
            sql: [
                { match: "MERGE INTO `main`.`s`.`etl_work_queue_lease`", rows: [{ num_affected_rows: 1 }] },
                { match: "^SELECT entry_key", rows: [] },
            ],
        });
        expect(exitSummary(result)).to.deep.include({ submitted: [], errors: [], lease: "run 77" });
        expect(requests.map((r) => r.authorization)).to.deep.equal(["Bearer context-token"]);
        expect(result.sql.map((s) => s.query.trim().split(/\s+/).slice(0, 2).join(" "))).to.deep.equal([
            "MERGE INTO",
            "SELECT entry_key,",
            "UPDATE `main`.`s`.`etl_work_queue_lease`",
        ]);
    });

    it("does nothing while another pass holds the lease", async () => {
        requests.length = 0;
        const result = await runIn(dispatcherDir("context"), "async/dispatcher", {
            notebook_context: { api_url: workspaceUrl, api_token: "context-token" },
            sql: [
                { match: "MERGE INTO `main`.`s`.`etl_work_queue_lease`", rows: [{ num_affected_rows: 0 }] },
                { match: "SELECT holder", rows: [{ holder: "run 76", expires_at: "2026-12-01T00:30:00" }] },
            ],
        });
        expect(exitSummary(result).lease).to.equal("not acquired (held by run 76 until 2026-12-01T00:30:00); this pass did nothing");
        expect(requests).to.have.length(0);
    });

    it("marks finished runs, claims and submits waiting entries to their worker's job up to the cap, and reports", async () => {
        requests.length = 0;
        const entry = (entry_key: string, status: string, run_id: number | null, created_at: string) => ({
            entry_key,
            worker: "daily_sales",
            parameters: "{}",
            status,
            run_id,
            attempts: run_id ? 1 : 0,
            created_at,
            last_error: null,
            submission_token: run_id ? "t-old" : null,
            submitted_at: run_id ? "2026-11-21T01:00:00" : null,
        });
        const result = await runIn(dispatcherDir("secretScope"), "async/dispatcher", {
            widgets: { run_id: "78" },
            secrets: { "nbo-test": { "databricks-jobs-token": "dapi-test" } },
            sql: [
                {
                    match: "^\\s*SELECT entry_key",
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
        expect(report).to.deep.include({ finished: ["e1"], submitted: ["e2"], waiting: ["e3"], failed: [], errors: [], free: 1 });
        expect(report.usage).to.deep.equal({ fan_out: 1, contexts: 2, task_runs: 2 });
        expect(requests.every((r) => r.authorization === "Bearer dapi-test")).to.equal(true);
        expect(requests.find((r) => r.url.startsWith("/api/2.2/jobs/runs/list"))?.url).to.equal(
            "/api/2.2/jobs/runs/list?active_only=true&expand_tasks=true&limit=25",
        );
        const runNow = requests.find((r) => r.url === "/api/2.2/jobs/run-now");
        expect(runNow?.body).to.deep.include({ job_id: 71, job_parameters: { entry_key: "e2", attempt: "1" } });
        const token = String(runNow?.body?.idempotency_token);
        expect(token).to.match(/^[0-9a-f]{32}$/);
        const merges = result.sql.filter((s) => s.query.includes("MERGE INTO `main`.`s`.`etl_work_queue` "));
        expect(merges.map((m) => m.args)).to.deep.equal([
            { k0: "e1", s0: "RUNNING", a0: 1, status0: "DONE", last_error0: null },
            { k0: "e2", s0: "PENDING", a0: 0, status0: "SUBMITTING", submission_token0: token, attempts0: 1, run_id0: null, last_error0: null },
            { k0: "e2", s0: "SUBMITTING", a0: 1, status0: "RUNNING", run_id0: 600, last_error0: null },
        ]);
        expect(merges[1].query).to.contain("target.submitted_at = current_timestamp()");
        const log = result.sql.find((s) => s.query.includes("INSERT INTO `main`.`s`.`etl_run_log`"));
        expect(log?.args).to.deep.include({ notebook0: "daily_sales", run_id0: "500", attempt0: 1, duration0: 90, status0: "SUCCEEDED", error0: null });
        for (const { query } of result.sql) {
            expect(sparkSqlProblems(query), query).to.deep.equal([]);
        }
        expect(result.output).to.contain(
            "Dispatcher pass: 1 submitted, 0 still running, 1 finished, 0 failed, 0 timed out, 1 waiting for a slot (1 of the cap 2 active, 2 of 145 execution contexts in use)",
        );
    });
});
