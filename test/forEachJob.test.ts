import { expect } from "chai";
import { parseStackConfig, StackConfigError } from "../components/config";
import { WORKERS } from "../components/workers";
import { OfflineRun } from "../tools/offline";
import { exitSummary, renderedNotebookDir, runIn } from "./support/notebooks";
import { configSource, ofType, one, REQUIRED_CONFIG, runStack, TYPES } from "./support/stack";

type Inputs = Record<string, any>;

function problemsFor(values: Record<string, string>): string {
    try {
        parseStackConfig(configSource({ ...REQUIRED_CONFIG, ...values }));
    } catch (error) {
        expect(error).to.be.instanceOf(StackConfigError);
        return (error as StackConfigError).message;
    }
    throw new Error("expected the configuration to be rejected");
}

describe("the For each job (forEachJob)", function () {
    this.timeout(30000);
    let dev: OfflineRun;
    let forEach: OfflineRun;

    before(async () => {
        dev = await runStack({}, "dev");
        forEach = await runStack({ forEachJob: "true", maxWorkers: "3", maxRetries: "2", retryBackoffSeconds: "45" }, "dev");
    });

    it("is not declared by default: two jobs, no entry notebook, no output", () => {
        expect(ofType(dev, TYPES.job)).to.have.length(2);
        expect(ofType(dev, TYPES.notebook).map((n) => n.inputs.path as string)).to.not.include.members(["/Shared/notebook-orchestration/dev/for_each/worker"]);
        expect(dev.outputs).to.not.have.property("forEachJobId");
    });

    it("runs setup, then the entry notebook once per worker in list order, maxWorkers at a time, on the shared cluster", () => {
        const cluster = one(forEach, TYPES.cluster);
        const job = one(forEach, TYPES.job, "for-each-job").inputs as Inputs;
        expect(job.name).to.equal("[dev] notebook-orchestration for-each");
        const [loop, setup] = job.tasks as Inputs[];
        expect(setup.taskKey).to.equal("setup");
        expect(setup.existingClusterId).to.equal(`<id of ${cluster.name}>`);
        expect(loop.taskKey).to.equal("for_each_worker");
        expect(loop.dependsOns).to.deep.equal([{ taskKey: "setup" }]);
        expect(loop.existingClusterId).to.equal(undefined);
        expect(JSON.parse(loop.forEachTask.inputs)).to.deep.equal(WORKERS.map((w) => w.name));
        expect(loop.forEachTask.concurrency).to.equal(3);
        const nested = loop.forEachTask.task as Inputs;
        expect(nested).to.deep.include({
            taskKey: "worker",
            existingClusterId: `<id of ${cluster.name}>`,
            maxRetries: 2,
            minRetryIntervalMillis: 45_000,
            retryOnTimeout: true,
        });
        expect(nested.notebookTask.notebookPath).to.equal("/Shared/notebook-orchestration/dev/for_each/worker");
        expect(nested.notebookTask.baseParameters).to.deep.equal({
            catalog: "main",
            schema: "notebook_orchestration_dev",
            input_table: "orders",
            run_log_table: "etl_run_log",
            worker: "{{input}}",
            orchestration_mode: "for_each",
        });
        expect(ofType(forEach, TYPES.notebook).map((n) => n.inputs.path)).to.include("/Shared/notebook-orchestration/dev/for_each/worker");
    });

    it("follows the other jobs' schedule, timeout, health rule, notifications and queueing", () => {
        const job = one(forEach, TYPES.job, "for-each-job").inputs as Inputs;
        const parallel = one(forEach, TYPES.job, "parallel-job").inputs as Inputs;
        expect(job.schedule).to.deep.equal({ ...parallel.schedule, quartzCronExpression: "0 0 6 * * ?" });
        for (const field of ["timeoutSeconds", "health", "emailNotifications", "queue", "maxConcurrentRuns", "tags"]) {
            expect(job[field], field).to.deep.equal(parallel[field]);
        }
        expect(job.parameters).to.deep.equal([{ name: "run_id", default: "{{job.run_id}}" }]);
    });

    it("exports its id and URL", () => {
        expect(forEach.outputs.forEachJobId).to.equal("<id of notebook-orchestration-dev-for-each-job>");
        expect(forEach.outputs.forEachJobUrl).to.be.a("string").and.contain("notebook-orchestration-dev-for-each-job");
    });

    it("uses the same job-cluster spec as the other jobs in perJob mode", async () => {
        const perJob = await runStack({ forEachJob: "true", computeMode: "perJob" }, "dev");
        const job = one(perJob, TYPES.job, "for-each-job").inputs as Inputs;
        const parallel = one(perJob, TYPES.job, "parallel-job").inputs as Inputs;
        expect(job.jobClusters).to.deep.equal(parallel.jobClusters);
        const nested = (job.tasks as Inputs[])[0].forEachTask.task;
        expect(nested.jobClusterKey).to.equal(parallel.tasks[0].jobClusterKey);
    });

    it("refuses a schedule that could share the cluster with another job's run, and more than 100 iterations at a time", () => {
        expect(problemsFor({ forEachJob: "true", forEachSchedule: "0 30 4 * * ?" })).to.contain(
            'forEachSchedule: got "0 30 4 * * ?"; expected fire times at least jobTimeoutSeconds (7200 s) away from every fire time of parallelSchedule',
        );
        expect(problemsFor({ forEachJob: "true", forEachSchedule: "0 0 1 * * ?" })).to.contain("away from every fire time of sequentialSchedule");
        // Without the job its schedule is not read, and perJob clusters may overlap.
        expect(() => parseStackConfig(configSource({ ...REQUIRED_CONFIG, forEachSchedule: "0 30 4 * * ?" }))).to.not.throw();
        expect(() =>
            parseStackConfig(configSource({ ...REQUIRED_CONFIG, forEachJob: "true", computeMode: "perJob", forEachSchedule: "0 30 4 * * ?" })),
        ).to.not.throw();
        expect(problemsFor({ forEachJob: "true", maxWorkersLimit: "120", maxWorkers: "101" })).to.contain(
            'maxWorkers: got "101"; expected at most 100 when forEachJob is true',
        );
        expect(() => parseStackConfig(configSource({ ...REQUIRED_CONFIG, maxWorkersLimit: "120", maxWorkers: "101" }))).to.not.throw();
    });
});

describe("the For each entry notebook, run locally against a fake spark", () => {
    const dir = renderedNotebookDir();
    const widgets = { catalog: "main", schema: "etl_test", input_table: "orders", run_log_table: "etl_run_log", orchestration_mode: "for_each", run_id: "77" };
    const merged = { sql: [{ match: "^\\s*MERGE", rows: [{ num_affected_rows: 5 }] }] };

    for (const worker of WORKERS) {
        it(`${worker.name}: runs the same statements as the worker's own notebook, logged as for_each`, async () => {
            const entry = await runIn(dir, "for_each/worker", { widgets: { ...widgets, worker: worker.name }, ...merged });
            const own = await runIn(dir, `workers/${worker.name}`, { widgets, ...merged });
            expect(exitSummary(entry)).to.include({ worker: worker.name, status: "SUCCEEDED", rows_merged: 5, orchestration_mode: "for_each", run_id: "77" });
            expect(entry.sql.map((s) => s.query)).to.deep.equal(own.sql.map((s) => s.query));
            expect(entry.sql[2].args).to.include({ notebook: `workers/${worker.name}`, item: worker.name, mode: "for_each", run_id: "77" });
        });
    }

    it("fails, naming the expected workers, for an unknown worker", async () => {
        const result = await runIn(dir, "for_each/worker", { widgets: { ...widgets, worker: "weekly_sales" }, ...merged });
        expect(result.status).to.equal("raised");
        expect(result.error).to.contain("Unknown worker 'weekly_sales'; expected one of customer_totals, daily_sales, product_sales, order_status");
        expect(result.sql).to.deep.equal([]);
    });
});
