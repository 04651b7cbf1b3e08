import { execFileSync } from "child_process";
import * as path from "path";
import { expect } from "chai";
import { NOTEBOOKS_DIR } from "../components/render";
import { WORKER_NAMES } from "../components/workers";
import { exitSummary, orchestratorSettings, raisedSummary, renderedNotebookDir, runIn, WORKER_ROOT, workersTaking } from "./support/notebooks";

const ALL_QUICK = workersTaking({ customer_totals: 20, daily_sales: 20, product_sales: 20, order_status: 20 });

describe("the sequential orchestrator, run locally against a fake dbutils", () => {
    const dir = renderedNotebookDir(orchestratorSettings({ maxRetries: 1 }));

    it("runs every worker in declared order, one at a time, with its timeout and arguments", async () => {
        const result = await runIn(dir, "orchestrators/sequential", { workers: ALL_QUICK, widgets: { run_id: "777" } });
        const summary = exitSummary(result);
        expect(result.calls.map((c) => c.name)).to.deep.equal(WORKER_NAMES);
        expect(result.max_in_flight).to.equal(1);
        for (let i = 1; i < result.calls.length; i++) {
            expect(result.calls[i].start).to.be.at.least(result.calls[i - 1].end);
        }
        expect(result.calls[0].timeout_seconds).to.equal(600);
        expect(result.calls[0].arguments).to.deep.equal({
            catalog: "main",
            schema: "etl_test",
            input_table: "orders",
            run_log_table: "etl_run_log",
            orchestration_mode: "sequential",
            run_id: "777",
            attempt: "1",
        });
        expect(summary).to.include({ mode: "sequential", status: "SUCCEEDED", run_id: "777" });
        expect(summary.workers.map((w: { status: string }) => w.status)).to.deep.equal(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]);
        expect(summary.workers[0].exit_value).to.deep.equal({ worker: "customer_totals", status: "SUCCEEDED" });
    });

    it("stops at the first worker that still fails after its retries, reports what ran and fails the run", async () => {
        const result = await runIn(dir, "orchestrators/sequential", {
            workers: { ...ALL_QUICK, daily_sales: { attempts: [{ seconds: 5, outcome: "fail", error: "MERGE conflict" }] } },
        });
        expect(result.status).to.equal("raised");
        expect(result.error).to.contain("3 of 4 workers did not succeed: daily_sales (FAILED), product_sales (SKIPPED), order_status (SKIPPED)");
        expect(result.calls.map((c) => `${c.name}#${c.attempt}`)).to.deep.equal(["customer_totals#1", "daily_sales#1", "daily_sales#2"]);
        const summary = raisedSummary(result);
        expect(summary.workers.map((w: { name: string; status: string }) => `${w.name}:${w.status}`)).to.deep.equal([
            "customer_totals:SUCCEEDED",
            "daily_sales:FAILED",
            "product_sales:SKIPPED",
            "order_status:SKIPPED",
        ]);
        expect(summary.workers[1].error).to.contain("MERGE conflict");
        expect(summary.workers[1].attempts).to.equal(2);
        expect(summary.workers[2].error).to.equal("not run: daily_sales FAILED");
        expect(result.output).to.match(/daily_sales\s+FAILED\s+2/);
    });
});

describe("the parallel orchestrator, run locally against a fake dbutils", () => {
    const dir = renderedNotebookDir(orchestratorSettings({ maxWorkers: 2, maxRetries: 2 }));

    it("keeps at most max_workers runs in flight and reaches it", async () => {
        const result = await runIn(dir, "orchestrators/parallel", { workers: ALL_QUICK });
        exitSummary(result);
        expect(result.max_in_flight).to.equal(2);
        expect(result.calls).to.have.length(4);
    });

    it("takes max_workers from the job parameter, within the rendered limit", async () => {
        const wide = await runIn(dir, "orchestrators/parallel", { workers: ALL_QUICK, widgets: { max_workers: "4" } });
        expect(wide.max_in_flight).to.equal(4);
        expect(exitSummary(wide).max_workers).to.equal(4);
        const tooWide = await runIn(dir, "orchestrators/parallel", { workers: ALL_QUICK, widgets: { max_workers: "17" } });
        expect(tooWide.status).to.equal("raised");
        expect(tooWide.error).to.equal("Job parameter max_workers=17 is out of range; expected 1 to 16");
        expect(tooWide.calls).to.have.length(0);
        const notANumber = await runIn(dir, "orchestrators/parallel", { workers: ALL_QUICK, widgets: { max_workers: "four" } });
        expect(notANumber.error).to.equal("Job parameter max_workers='four' is not an integer; expected 1 to 16");
    });

    it("runs only the workers the job parameter names, and rejects an unknown one", async () => {
        const subset = await runIn(dir, "orchestrators/parallel", { workers: ALL_QUICK, widgets: { workers: "order_status, daily_sales" } });
        expect(exitSummary(subset).workers.map((w: { name: string }) => w.name)).to.deep.equal(["daily_sales", "order_status"]);
        const unknown = await runIn(dir, "orchestrators/parallel", { workers: ALL_QUICK, widgets: { workers: "daily_sales,nightly" } });
        expect(unknown.error).to.contain(
            "names unknown worker(s) nightly; expected a comma-separated subset of customer_totals, daily_sales, product_sales, order_status",
        );
    });

    it("collects every outcome when workers fail and time out, retries, then raises with the full summary", async () => {
        const result = await runIn(dir, "orchestrators/parallel", {
            widgets: { timeout_seconds: "100" },
            workers: {
                customer_totals: { attempts: [{ seconds: 10, outcome: "fail", error: "transient" }, { seconds: 10 }] },
                daily_sales: { attempts: [{ seconds: 10, outcome: "fail", error: "bad input" }] },
                product_sales: { attempts: [{ seconds: 500 }] },
                order_status: { attempts: [{ seconds: 30 }] },
            },
        });
        expect(result.status).to.equal("raised");
        expect(result.error).to.match(/^2 of 4 workers did not succeed: daily_sales \(FAILED\), product_sales \(TIMED_OUT\)/);
        const summary = raisedSummary(result);
        expect(summary.status).to.equal("FAILED");
        const byName = Object.fromEntries(summary.workers.map((w: { name: string }) => [w.name, w]));
        expect(byName.customer_totals).to.include({ status: "SUCCEEDED", attempts: 2 });
        expect(byName.daily_sales).to.include({ status: "FAILED", attempts: 3 });
        expect(byName.daily_sales.error).to.contain("bad input");
        expect(byName.product_sales).to.include({ status: "TIMED_OUT", attempts: 3 });
        expect(byName.order_status).to.include({ status: "SUCCEEDED", attempts: 1 });
        expect(result.calls.filter((c) => c.name === "product_sales").every((c) => c.outcome === "timeout" && c.timeout_seconds === 100)).to.equal(true);
        expect(result.output).to.contain("parallel run FAILED: 2 of 4 workers succeeded");
    });

    it("records a worker that is missing from the workspace as failed, without losing the others", async () => {
        const result = await runIn(dir, "orchestrators/parallel", {
            workers: workersTaking({ customer_totals: 5, daily_sales: 5, product_sales: 5 }),
            widgets: { max_retries: "0" },
        });
        const summary = raisedSummary(result);
        expect(summary.workers.map((w: { status: string }) => w.status)).to.deep.equal(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "FAILED"]);
        expect(summary.workers[3].error).to.contain(`Notebook not found: ${WORKER_ROOT}/order_status`);
    });

    it("doubles the backoff with every retry, up to ten minutes", () => {
        const waits = execFileSync("python3", [
            "-c",
            "import sys; exec(open(sys.argv[1]).read()); print([backoff_seconds(30, a) for a in range(1, 7)])",
            path.join(NOTEBOOKS_DIR, "lib/orchestration.py"),
        ]);
        expect(waits.toString().trim()).to.equal("[30, 60, 120, 240, 480, 600]");
    });

    it("waits the backoff between retries", async () => {
        const slow = renderedNotebookDir(orchestratorSettings({ maxWorkers: 1, maxRetries: 2, retryBackoffSeconds: 30 }));
        const result = await runIn(slow, "orchestrators/parallel", {
            time_scale: 1,
            widgets: { retry_backoff_seconds: "0", workers: "order_status" },
            workers: { order_status: { attempts: [{ outcome: "fail" }] } },
        });
        expect(result.output).to.contain("retrying in 0s");
        const waited = await runIn(slow, "orchestrators/parallel", {
            time_scale: 1,
            widgets: { retry_backoff_seconds: "1", max_retries: "1", workers: "order_status" },
            workers: { order_status: { attempts: [{ outcome: "fail" }] } },
        });
        const [first, second] = waited.calls;
        expect(second.start - first.end).to.be.within(0.95, 5);
        expect(waited.output).to.contain("retrying in 1s");
    });
});

describe("longest-first dispatch in the parallel orchestrator", () => {
    const expected = { customer_totals: 60, daily_sales: 240, product_sales: 120, order_status: 30 };
    const withEstimates = renderedNotebookDir(
        orchestratorSettings({
            maxWorkers: 1,
            workers: orchestratorSettings().workers.map((w) => ({ ...w, expectedSeconds: expected[w.name as keyof typeof expected] })),
        }),
    );
    const noEstimates = renderedNotebookDir(orchestratorSettings({ maxWorkers: 1 }));
    const runLogAnswer = (rows: { notebook: string; duration_seconds: number }[]) => [{ match: "FROM `main`.`etl_test`.`etl_run_log`", rows }];

    it("dispatches the longest configured worker first, and reports results in declared order", async () => {
        const result = await runIn(withEstimates, "orchestrators/parallel", { workers: ALL_QUICK });
        const summary = exitSummary(result);
        expect(result.calls.map((c) => c.name)).to.deep.equal(["daily_sales", "product_sales", "customer_totals", "order_status"]);
        expect(summary.dispatch_order).to.deep.equal(["daily_sales", "product_sales", "customer_totals", "order_status"]);
        expect(summary.order_source).to.equal("configured");
        expect(summary.workers.map((w: { name: string }) => w.name)).to.deep.equal(WORKER_NAMES);
    });

    it("keeps the declared order when no durations are known", async () => {
        const result = await runIn(noEstimates, "orchestrators/parallel", { workers: ALL_QUICK, sql: runLogAnswer([]) });
        expect(result.calls.map((c) => c.name)).to.deep.equal(WORKER_NAMES);
        expect(exitSummary(result).order_source).to.equal("declared");
    });

    it("prefers the run log's median over configured estimates", async () => {
        const history = [
            ...[10, 11, 500].map((d) => ({ notebook: "daily_sales", duration_seconds: d })), // median 11: one slow outlier does not count
            ...[300, 310, 320].map((d) => ({ notebook: "order_status", duration_seconds: d })),
            ...[100, 90].map((d) => ({ notebook: "customer_totals", duration_seconds: d })),
            ...[50].map((d) => ({ notebook: "product_sales", duration_seconds: d })),
        ];
        const result = await runIn(withEstimates, "orchestrators/parallel", { workers: ALL_QUICK, sql: runLogAnswer(history) });
        const summary = exitSummary(result);
        expect(result.calls.map((c) => c.name)).to.deep.equal(["order_status", "customer_totals", "product_sales", "daily_sales"]);
        expect(summary.order_source).to.equal("run_log_history");
        expect(summary.expected_seconds).to.deep.equal({ customer_totals: 95, daily_sales: 11, product_sales: 50, order_status: 310 });
        const query = result.sql.find((s) => s.query.includes("etl_run_log"))?.query ?? "";
        expect(query).to.contain("status = 'SUCCEEDED'");
        expect(query).to.contain("recency <= 5");
    });

    it("falls back to configured estimates for workers without history, and to them all when the run log is unreadable", async () => {
        const partial = await runIn(withEstimates, "orchestrators/parallel", {
            workers: ALL_QUICK,
            sql: runLogAnswer([{ notebook: "order_status", duration_seconds: 1000 }]),
        });
        expect(partial.calls.map((c) => c.name)).to.deep.equal(["order_status", "daily_sales", "product_sales", "customer_totals"]);
        expect(exitSummary(partial).order_source).to.equal("run_log_history+configured");
        const missingTable = await runIn(withEstimates, "orchestrators/parallel", {
            workers: ALL_QUICK,
            sql: [{ match: "etl_run_log", error: "[TABLE_OR_VIEW_NOT_FOUND] The table cannot be found" }],
        });
        expect(missingTable.calls.map((c) => c.name)).to.deep.equal(["daily_sales", "product_sales", "customer_totals", "order_status"]);
        expect(missingTable.output).to.contain("Run-log history unavailable");
    });

    it("puts workers with no estimate first, since they may be the long ones", async () => {
        const result = await runIn(noEstimates, "orchestrators/parallel", {
            workers: ALL_QUICK,
            sql: runLogAnswer([
                { notebook: "customer_totals", duration_seconds: 10 },
                { notebook: "product_sales", duration_seconds: 90 },
            ]),
        });
        expect(result.calls.map((c) => c.name)).to.deep.equal(["daily_sales", "order_status", "product_sales", "customer_totals"]);
        expect(exitSummary(result).order_source).to.equal("run_log_history+declared");
    });
});
