import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { AddressInfo } from "net";
import * as databricks from "@pulumi/databricks";
import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { AsyncFanOut, asyncWorkerNotebooks } from "../components/asyncFanOut";
import { largestSharedClusterCap, parseStackConfig, sharedClusterContexts } from "../components/config";
import { NotebookJob } from "../components/jobs";
import { DISPATCH_LIBRARY, readNotebook, renderDispatcher, writeNotebooks } from "../components/render";
import { WORKER_NAMES } from "../components/workers";
import { DEFAULT_WORK_ITEMS, defaultItemName, notebookPath, parseWorkItems, WorkItem } from "../components/workItems";
import { OfflineRun, runOffline } from "../tools/offline";
import { exitSummary, renderedNotebookDir, runIn } from "./support/notebooks";
import { SparkOnDuckDb } from "./support/sqlDuckDb";
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

    it("gives each notebook among the default items (the four workers) a job whose one task is that notebook, so a run holds one execution context", () => {
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
                work_item: "",
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
        expect(source).to.contain(
            '"daily_sales": {\n        "job_id": "<id of notebook-orchestration-dev-async-daily_sales-job>",\n        "notebook": "workers/daily_sales",',
        );
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

    /** The four workers' jobs (70-73) and a team notebook's, ingest_table (80), whose items set `table` and `mode`. */
    function dispatcherDir(apiTokenSource: "context" | "secretScope", catalog = "main"): string {
        const common = ["catalog", "schema", "input_table", "run_log_table"];
        const dir = renderedNotebookDir();
        writeNotebooks(dir, [
            {
                relativePath: "async/dispatcher",
                source: renderDispatcher({
                    workerJobs: {
                        ...Object.fromEntries(
                            WORKER_NAMES.map((name, i) => [name, { jobId: String(70 + i), notebook: `workers/${name}`, parameters: common }]),
                        ),
                        ingest_table: { jobId: "80", notebook: "ingest/ingest_table", parameters: [...common, "mode", "table"] },
                    },
                    clusterId: "c-1",
                    contextLimit: 145,
                    workspaceTaskRunLimit: 1000,
                    stateTable: `\`${catalog}\`.\`s\`.\`etl_work_queue\``,
                    leaseTable: `\`${catalog}\`.\`s\`.\`etl_work_queue_lease\``,
                    runLogTable: `\`${catalog}\`.\`s\`.\`etl_run_log\``,
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
        expect(runNow?.body).to.deep.include({ job_id: 71, job_parameters: { entry_key: "e2", attempt: "1", work_item: "daily_sales" } });
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
        expect(log?.args).to.deep.include({
            notebook0: "workers/daily_sales",
            item0: "daily_sales",
            arguments0: "{}",
            run_id0: "500",
            attempt0: 1,
            duration0: 90,
            status0: "SUCCEEDED",
            error0: null,
        });
        for (const { query } of result.sql) {
            expect(sparkSqlProblems(query), query).to.deep.equal([]);
        }
        expect(result.output).to.contain(
            "Dispatcher pass: 1 submitted, 0 still running, 1 finished, 0 failed, 0 timed out, 1 waiting for a slot (1 of the cap 2 active, 2 of 145 execution contexts in use)",
        );
    });

    it("refuses an entry parameter its worker job does not have, submits a team notebook's entry with its arguments and logs it as an item", async () => {
        requests.length = 0;
        const entry = (entry_key: string, status: string, parameters: string, run_id: number | null) => ({
            entry_key,
            worker: "ingest_table",
            parameters,
            status,
            run_id,
            attempts: run_id ? 1 : 0,
            created_at: `2026-11-21T0${entry_key.slice(1)}`,
            last_error: null,
            submission_token: run_id ? "t-old" : null,
            submitted_at: run_id ? "2026-11-21T01:00:00" : null,
        });
        const result = await runIn(dispatcherDir("context"), "async/dispatcher", {
            widgets: { run_id: "79" },
            notebook_context: { api_url: workspaceUrl, api_token: "context-token" },
            sql: [
                {
                    match: "^\\s*SELECT entry_key",
                    rows: [
                        entry("e1", "RUNNING", '{"table": "sales.orders"}', 500),
                        entry("e2", "PENDING", '{"tabel": "sales.returns"}', null),
                        entry("e3", "PENDING", '{"table": "sales.customers", "mode": "full"}', null),
                    ],
                },
                { match: "MERGE INTO", rows: [{ num_affected_rows: 1 }] },
            ],
        });
        expect(exitSummary(result)).to.deep.include({ finished: ["e1"], failed: ["e2"], submitted: ["e3"], errors: [] });
        const refused = result.sql.find((s) => s.query.includes("MERGE INTO `main`.`s`.`etl_work_queue` ") && s.args?.status0 === "FAILED");
        expect(refused?.args).to.deep.include({
            k0: "e2",
            attempts0: 3,
            last_error0:
                "parameters tabel are not parameters of worker 'ingest_table' (notebook ingest/ingest_table); " +
                "expected some of catalog, schema, input_table, run_log_table, mode, table",
        });
        expect(requests.filter((r) => r.url === "/api/2.2/jobs/run-now").map((r) => r.body)).to.deep.equal([
            {
                job_id: 80,
                idempotency_token: requests.find((r) => r.url === "/api/2.2/jobs/run-now")?.body?.idempotency_token,
                job_parameters: {
                    table: "sales.customers",
                    mode: "full",
                    entry_key: "e3",
                    attempt: "1",
                    work_item: "ingest_table(mode=full, table=sales.customers)",
                },
            },
        ]);
        const log = result.sql.find((s) => s.query.includes("INSERT INTO `main`.`s`.`etl_run_log`"));
        expect(log?.query).to.match(/\(notebook, item, arguments, orchestration_mode, run_id,/);
        expect(log?.args).to.deep.include({
            notebook0: "ingest/ingest_table",
            item0: "ingest_table(table=sales.orders)",
            arguments0: '{"table":"sales.orders"}',
            status0: "SUCCEEDED",
        });
        for (const { query } of result.sql) {
            expect(sparkSqlProblems(query), query).to.deep.equal([]);
        }
    });

    it("on DuckDB: setup's state table, lease and run log take a pass's writes, and the run log gets notebook, item and arguments", async () => {
        requests.length = 0;
        const db = await SparkOnDuckDb.start(["lakehouse"]);
        try {
            const engine = await db.endpoint();
            const dir = dispatcherDir("context", "lakehouse");
            const setup = await runIn(dir, "setup", {
                widgets: {
                    catalog: "lakehouse",
                    schema: "s",
                    input_table: "orders",
                    run_log_table: "etl_run_log",
                    state_table: "etl_work_queue",
                    lease_table: "etl_work_queue_lease",
                    sample_data: "false",
                    sample_rows: "1",
                    secret_scope: "",
                },
                sql_engine: engine,
            });
            expect(setup.status, `${setup.error}\n${setup.output}`).to.equal("exited");
            // What producers do, and a run the previous pass submitted (run 500 has ended, as the Jobs API says).
            await db.sql(
                "INSERT INTO `lakehouse`.`s`.`etl_work_queue` (entry_key, worker, parameters, status, run_id, attempts, created_at, updated_at, submitted_at) VALUES " +
                    "('orders', 'ingest_table', '{\"table\": \"sales.orders\"}', 'RUNNING', 500, 1, current_timestamp(), current_timestamp(), current_timestamp()), " +
                    "('returns', 'ingest_table', '{\"tabel\": \"sales.returns\"}', 'PENDING', NULL, 0, current_timestamp(), current_timestamp(), NULL), " +
                    "('customers', 'ingest_table', '{\"table\": \"sales.customers\"}', 'PENDING', NULL, 0, current_timestamp(), current_timestamp(), NULL)",
            );
            const pass = await runIn(dir, "async/dispatcher", {
                widgets: { run_id: "90" },
                notebook_context: { api_url: workspaceUrl, api_token: "context-token" },
                sql_engine: engine,
            });
            expect(exitSummary(pass)).to.deep.include({ finished: ["orders"], failed: ["returns"], submitted: ["customers"], lost_race: [], errors: [] });
            expect(await db.query('SELECT entry_key, status, run_id, attempts FROM "lakehouse"."s"."etl_work_queue" ORDER BY entry_key')).to.deep.equal([
                { entry_key: "customers", status: "RUNNING", run_id: "600", attempts: 1 },
                { entry_key: "orders", status: "DONE", run_id: "500", attempts: 1 },
                { entry_key: "returns", status: "FAILED", run_id: null, attempts: 3 },
            ]);
            expect(await db.query('SELECT notebook, item, arguments, orchestration_mode, run_id, status FROM "lakehouse"."s"."etl_run_log"')).to.deep.equal([
                {
                    notebook: "ingest/ingest_table",
                    item: "ingest_table(table=sales.orders)",
                    arguments: '{"table":"sales.orders"}',
                    orchestration_mode: "async",
                    run_id: "500",
                    status: "SUCCEEDED",
                },
            ]);
        } finally {
            await db.close();
        }
    });
});

describe("the asynchronous fan-out's worker jobs, one per notebook among the work items", () => {
    const common = ["catalog", "schema", "input_table", "run_log_table"];
    const item = (notebook: string, args: Record<string, string> = {}): WorkItem => ({ notebook, arguments: args, name: defaultItemName(notebook, args) });

    it("are the four workers for the default items, each with the common arguments", () => {
        const notebooks = asyncWorkerNotebooks(DEFAULT_WORK_ITEMS, common);
        expect(Object.keys(notebooks)).to.deep.equal([...WORKER_NAMES]);
        expect(notebooks.daily_sales).to.deep.equal({ notebook: "workers/daily_sales", argumentNames: common });
    });

    it("give one notebook over many argument sets one job, whose argument names are the union of its items'", () => {
        const items = [
            item("ingest/ingest_table", { table: "sales.orders" }),
            item("ingest/ingest_table", { table: "sales.customers", mode: "full" }),
            item("workers/daily_sales"),
            item("ingest/ingest_table", { table: "sales.returns", input_table: "returns_raw" }),
        ];
        expect(asyncWorkerNotebooks(items, common)).to.deep.equal({
            ingest_table: { notebook: "ingest/ingest_table", argumentNames: [...common, "mode", "table"] },
            daily_sales: { notebook: "workers/daily_sales", argumentNames: common },
        });
    });

    it("refuse two notebooks with the same last path segment, naming both and what to rename", () => {
        expect(() => asyncWorkerNotebooks([item("workers/ingest"), item("/Workspace/Shared/team/ingest", { table: "a" })], common)).to.throw(
            'asynchronous fan-out: notebooks "workers/ingest" and "/Workspace/Shared/team/ingest" would both have the worker job key "ingest" ' +
                '(a worker job is keyed by its notebook\'s last path segment, which entries name in "worker"); expected distinct last segments: rename one of the two notebooks',
        );
    });

    it("refuse a notebook named like the fan-out's own jobs and an argument the dispatcher sets", () => {
        expect(() => asyncWorkerNotebooks([item("team/dispatcher")], common)).to.throw(
            'worker job key "dispatcher", which is the fan-out\'s own async-dispatcher job',
        );
        expect(() => asyncWorkerNotebooks([item("ingest/ingest_table", { entry_key: "x" })], common)).to.throw(
            'item "ingest_table(entry_key=x)" has argument "entry_key", which the dispatcher sets on every submission',
        );
    });

    it("can be declared by another program: its own notebooks, relative or absolute, on an existing cluster", async () => {
        const folderPath = "/Shared/team-etl";
        const parsed = parseWorkItems(
            [
                { notebook: "ingest/ingest_table", arguments: { table: "sales.orders" } },
                { notebook: "ingest/ingest_table", arguments: { table: "sales.customers" } },
                { notebook: "ingest/ingest_table", arguments: { table: "sales.returns", mode: "full" } },
                { notebook: "/Workspace/Shared/exports/export_table", arguments: { target: "s3" } },
            ],
            { knownNotebooks: ["ingest/ingest_table"], folder: folderPath },
        );
        expect(parsed.problems).to.deep.equal([]);
        const run = await runOffline(
            () => {
                const folder = new databricks.Directory("team-folder", { path: folderPath });
                const notebooks = asyncWorkerNotebooks(parsed.items, ["catalog"]);
                const table = (name: string) => ({ name: `main.team.${name}`, quoted: `\`main\`.\`team\`.\`${name}\`` });
                const fanOut = new AsyncFanOut("team-async", {
                    folder,
                    workerNotebooks: Object.fromEntries(
                        Object.entries(notebooks).map(([key, n]) => [key, { path: notebookPath(n.notebook, folderPath), argumentNames: n.argumentNames }]),
                    ),
                    workerArguments: { catalog: "main" },
                    jobName: (kind) => `team ${kind}`,
                    setupNotebookPath: `${folderPath}/setup`,
                    setupParameters: { catalog: "main" },
                    compute: { task: { existingClusterId: pulumi.output("0101-existing") } },
                    clusterId: "0101-existing",
                    config: {
                        enabled: true,
                        stateTable: "queue",
                        leaseTable: "queue_lease",
                        tableTrigger: false,
                        dispatcherSchedule: { quartzCronExpression: "0 0/5 * * * ?", timezoneId: "UTC", pauseStatus: "PAUSED" },
                        concurrencyCap: 20,
                        maxAttempts: 2,
                        entryDeadlineSeconds: 3600,
                        apiTokenSource: "context",
                        apiTokenSecret: "databricks-jobs-token",
                    },
                    stateTable: table("queue"),
                    leaseTable: table("queue_lease"),
                    runLogTable: table("run_log"),
                    secretScope: "team",
                    workspaceUrl: "https://adb-1.2.azuredatabricks.net",
                    jobTimeoutSeconds: 3600,
                    notificationEmails: [],
                    tags: {},
                });
                return { workerJobIds: pulumi.all(Object.fromEntries(Object.entries(fanOut.workerJobs).map(([key, job]) => [key, job.jobId]))) };
            },
            { project: "team", stack: "dev", config: {} },
        );
        const workerJobs = ofType(run, TYPES.job).filter((job) => !/dispatcher|safety-net/.test(job.name));
        expect(workerJobs.map((job) => job.inputs.name)).to.deep.equal(["team async-ingest_table", "team async-export_table"]);
        const [ingest, exporter] = workerJobs.map((job) => job.inputs as Record<string, any>);
        expect(ingest.tasks).to.deep.equal([
            {
                taskKey: "ingest_table",
                notebookTask: { notebookPath: "/Shared/team-etl/ingest/ingest_table", source: "WORKSPACE" },
                existingClusterId: "0101-existing",
            },
        ]);
        expect(ingest.parameters.map((p: { name: string; default: string }) => `${p.name}=${p.default}`)).to.deep.equal([
            "attempt=1",
            "catalog=main",
            "entry_key=",
            "mode=",
            "orchestration_mode=async_task",
            "run_id={{job.run_id}}",
            "table=",
            "work_item=",
        ]);
        expect(exporter.tasks[0].notebookTask.notebookPath).to.equal("/Workspace/Shared/exports/export_table");
        expect(ofType(run, TYPES.cluster)).to.have.length(0);
        const dispatcher = Buffer.from(
            String(ofType(run, TYPES.notebook).find((n) => n.inputs.path === "/Shared/team-etl/async/dispatcher")?.inputs.contentBase64),
            "base64",
        ).toString("utf8");
        expect(dispatcher).to.contain(
            '"notebook": "ingest/ingest_table",\n        "parameters": [\n            "catalog",\n            "mode",\n            "table",\n        ],',
        );
        expect(dispatcher).to.contain(
            '"notebook": "/Workspace/Shared/exports/export_table",\n        "parameters": [\n            "catalog",\n            "target",\n        ],',
        );
        expect(run.outputs.workerJobIds).to.deep.equal({
            ingest_table: "<id of team-async-ingest_table-job>",
            export_table: "<id of team-async-export_table-job>",
        });
    });

    it("in this stack: items over a team notebook with three argument sets give one worker job with those argument names", async () => {
        const team = fs.mkdtempSync(path.join(os.tmpdir(), "team-notebooks-"));
        fs.mkdirSync(path.join(team, "ingest"));
        fs.writeFileSync(
            path.join(team, "ingest", "ingest_table.py"),
            '# Databricks notebook source\ndbutils.widgets.text("table", "")\ndbutils.widgets.text("mode", "incremental")\n' +
                "print(f\"ingest {dbutils.widgets.get('table')} ({dbutils.widgets.get('mode')})\")\n",
        );
        const run = await runStack({
            asyncFanOut: "true",
            notebookSourceFolder: team,
            workItems: JSON.stringify([
                { notebook: "ingest/ingest_table", arguments: { table: "sales.orders" } },
                { notebook: "ingest/ingest_table", arguments: { table: "sales.customers" } },
                { notebook: "ingest/ingest_table", arguments: { table: "sales.returns", mode: "full" } },
            ]),
        });
        const workerJobs = ofType(run, TYPES.job).filter((job) => /-async-/.test(job.name) && !/dispatcher|safety-net/.test(job.name));
        expect(workerJobs.map((job) => job.name)).to.deep.equal(["notebook-orchestration-dev-async-ingest_table-job"]);
        const job = workerJobs[0].inputs as Record<string, any>;
        expect(job.name).to.equal("[dev] notebook-orchestration async-ingest_table");
        expect(job.tasks[0].notebookTask.notebookPath).to.equal("/Shared/notebook-orchestration/dev/ingest/ingest_table");
        expect(job.parameters.map((p: { name: string }) => p.name)).to.deep.equal([
            "attempt",
            "catalog",
            "entry_key",
            "input_table",
            "mode",
            "orchestration_mode",
            "run_id",
            "run_log_table",
            "schema",
            "table",
            "work_item",
        ]);
        expect(run.outputs.asyncWorkerJobIds).to.deep.equal({ ingest_table: "<id of notebook-orchestration-dev-async-ingest_table-job>" });
        expect(notebookSource(run, "async/dispatcher")).to.contain(
            '"notebook": "ingest/ingest_table",\n        "parameters": [\n            "catalog",\n            "schema",\n            "input_table",\n            "run_log_table",\n            "mode",\n            "table",\n        ],',
        );
    });
});
