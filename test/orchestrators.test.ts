import { execFileSync } from "child_process";
import * as path from "path";
import { expect } from "chai";
import { NOTEBOOKS_DIR } from "../components/render";
import { WORKER_NAMES } from "../components/workers";
import type { NotebookResult } from "../tools/localRun";
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
            work_item: "customer_totals",
        });
        expect(summary).to.include({ mode: "sequential", status: "SUCCEEDED", run_id: "777", items_source: "rendered" });
        expect(summary.workers.map((w: { status: string }) => w.status)).to.deep.equal(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]);
        expect(summary.workers[0].exit_value).to.deep.equal({ worker: "customer_totals", status: "SUCCEEDED" });
    });

    it("stops at the first worker that still fails after its retries, reports what ran and fails the run", async () => {
        const result = await runIn(dir, "orchestrators/sequential", {
            workers: { ...ALL_QUICK, daily_sales: { attempts: [{ seconds: 5, outcome: "fail" }] } },
        });
        expect(result.status).to.equal("raised");
        expect(result.error).to.contain("3 of 4 items did not succeed: daily_sales (FAILED), product_sales (SKIPPED), order_status (SKIPPED)");
        expect(result.calls.map((c) => `${c.name}#${c.attempt}`)).to.deep.equal(["customer_totals#1", "daily_sales#1", "daily_sales#2"]);
        const summary = raisedSummary(result);
        expect(summary.workers.map((w: { name: string; status: string }) => `${w.name}:${w.status}`)).to.deep.equal([
            "customer_totals:SUCCEEDED",
            "daily_sales:FAILED",
            "product_sales:SKIPPED",
            "order_status:SKIPPED",
        ]);
        expect(summary.workers[1].error).to.contain("com.databricks.WorkflowException: com.databricks.NotebookExecutionException: FAILED");
        expect(summary.workers[1].attempts).to.equal(2);
        expect(summary.workers[2].error).to.equal("not run: daily_sales FAILED");
        expect(result.output).to.match(/daily_sales\s+FAILED\s+2/);
    });

    it("waits out a retry's backoff before running anything else, since later workers may depend on earlier ones", async () => {
        const result = await runIn(dir, "orchestrators/sequential", {
            widgets: { retry_backoff_seconds: "0.2" },
            workers: { ...ALL_QUICK, daily_sales: { attempts: [{ seconds: 5, outcome: "fail" }, { seconds: 20 }] } },
        });
        exitSummary(result);
        expect(result.calls.map((c) => `${c.name}#${c.attempt}`)).to.deep.equal([
            "customer_totals#1",
            "daily_sales#1",
            "daily_sales#2",
            "product_sales#1",
            "order_status#1",
        ]);
        const [, failed, retried, next] = result.calls;
        expect(retried.start - failed.end, "the backoff, 0.2 s = 200 simulated seconds").to.be.at.least(190);
        expect(next.start).to.be.at.least(retried.end);
    });

    it("appends every attempt to the run log with its wall time, beside the worker's own SQL time", async () => {
        const result = await runIn(dir, "orchestrators/sequential", {
            widgets: { run_id: "42" },
            workers: {
                ...ALL_QUICK,
                customer_totals: {
                    attempts: [
                        { seconds: 10, outcome: "fail" },
                        { seconds: 30, exit_value: JSON.stringify({ rows_merged: 7, duration_seconds: 0.0125 }) },
                    ],
                },
            },
        });
        const summary = exitSummary(result);
        const inserts = result.sql.filter((s) => /^\s*INSERT INTO `main`\.`etl_test`\.`etl_run_log`/.test(s.query));
        expect(inserts, "one INSERT, one Delta commit").to.have.length(1);
        const [{ query, args }] = inserts;
        expect(query).to.contain("recorded_by");
        expect(query).to.contain("'orchestrator'");
        const rows = Array.from({ length: 5 }, (_, i) =>
            Object.fromEntries(
                ["notebook", "item", "arguments", "mode", "run_id", "attempt", "status", "duration", "rows_merged"].map((key) => [key, args?.[`${key}_${i}`]]),
            ),
        );
        const row = (name: string, attempt: number, status: string, duration: number | null = null, rows_merged: number | null = null) => ({
            notebook: `workers/${name}`,
            item: name,
            arguments: "{}",
            mode: "sequential",
            run_id: "42",
            attempt,
            status,
            duration,
            rows_merged,
        });
        expect(rows).to.deep.equal([
            row("customer_totals", 1, "FAILED"),
            row("customer_totals", 2, "SUCCEEDED", 0.0125, 7),
            row("daily_sales", 1, "SUCCEEDED"),
            row("product_sales", 1, "SUCCEEDED"),
            row("order_status", 1, "SUCCEEDED"),
        ]);
        expect(query).to.match(/recorded_by, item, arguments\)/);
        // Wall times are real seconds: 30 simulated seconds at 1 ms each, plus the call's own overhead.
        expect(args?.wall_1).to.be.within(0.03, 1);
        expect(summary.workers[0].wall_seconds).to.be.at.least((args?.wall_0 as number) + (args?.wall_1 as number) - 0.002);
        expect(summary.workers[0].attempt_history.map((a: { status: string }) => a.status)).to.deep.equal(["FAILED", "SUCCEEDED"]);
    });

    it("reports a run log it cannot write, and still ends the run by the workers' outcomes", async () => {
        const result = await runIn(dir, "orchestrators/sequential", {
            workers: ALL_QUICK,
            sql: [{ match: "^\\s*INSERT INTO", error: "[TABLE_OR_VIEW_NOT_FOUND] The table `etl_run_log` cannot be found" }],
        });
        expect(exitSummary(result).status).to.equal("SUCCEEDED");
        expect(result.output).to.contain("Could not append 4 attempt(s) to the run log `main`.`etl_test`.`etl_run_log`");
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

    it("runs only the items the workers job parameter names (comma-separated or a JSON array), and rejects an unknown one", async () => {
        const subset = await runIn(dir, "orchestrators/parallel", { workers: ALL_QUICK, widgets: { workers: "order_status, daily_sales" } });
        expect(exitSummary(subset).workers.map((w: { name: string }) => w.name)).to.deep.equal(["daily_sales", "order_status"]);
        const array = await runIn(dir, "orchestrators/parallel", { workers: ALL_QUICK, widgets: { workers: '["order_status"]' } });
        expect(exitSummary(array).workers.map((w: { name: string }) => w.name)).to.deep.equal(["order_status"]);
        const unknown = await runIn(dir, "orchestrators/parallel", { workers: ALL_QUICK, widgets: { workers: "daily_sales,nightly" } });
        expect(unknown.error).to.contain(
            "names unknown item(s) nightly; expected a comma-separated subset (or a JSON array) of customer_totals, daily_sales, product_sales, order_status",
        );
        expect(unknown.calls).to.have.length(0);
    });

    it("collects every outcome when workers fail and time out, retries failures, then raises with the full summary", async () => {
        const result = await runIn(dir, "orchestrators/parallel", {
            widgets: { timeout_seconds: "100" },
            workers: {
                customer_totals: { attempts: [{ seconds: 10, outcome: "fail" }, { seconds: 10 }] },
                daily_sales: { attempts: [{ seconds: 10, outcome: "fail" }] },
                product_sales: { attempts: [{ seconds: 500 }] },
                order_status: { attempts: [{ seconds: 30 }] },
            },
        });
        expect(result.status).to.equal("raised");
        expect(result.error).to.match(/^2 of 4 items did not succeed: daily_sales \(FAILED\), product_sales \(TIMED_OUT\)/);
        const summary = raisedSummary(result);
        expect(summary.status).to.equal("FAILED");
        const byName = Object.fromEntries(summary.workers.map((w: { name: string }) => [w.name, w]));
        expect(byName.customer_totals).to.include({ status: "SUCCEEDED", attempts: 2 });
        expect(byName.daily_sales).to.include({ status: "FAILED", attempts: 3, not_retried: null });
        expect(byName.daily_sales.error).to.contain("NotebookExecutionException: FAILED");
        expect(byName.product_sales).to.include({ status: "TIMED_OUT", attempts: 1 });
        expect(byName.product_sales.not_retried).to.contain("timed out");
        expect(byName.order_status).to.include({ status: "SUCCEEDED", attempts: 1 });
        const timedOut = result.calls.filter((c) => c.name === "product_sales");
        expect(
            timedOut.map((c) => [c.outcome, c.timeout_seconds]),
            "a timed-out worker is not retried",
        ).to.deep.equal([["timeout", 100]]);
        expect(result.output).to.contain("parallel run FAILED: 2 of 4 items succeeded");
        expect(result.output).to.match(/product_sales\s+TIMED_OUT\s+1 .*not retried: it timed out/);
    });

    it("tells a timeout from a failure by what dbutils.notebook.run raises, not by the words of its message", async () => {
        const result = await runIn(dir, "orchestrators/parallel", {
            widgets: { timeout_seconds: "100", max_workers: "4" },
            workers: {
                // The driver could not reach the control plane: "connect timed out", long before the timeout.
                customer_totals: { attempts: [{ seconds: 5, outcome: "unreachable" }] },
                // Stopped by Databricks at its timeout: result state TIMEDOUT.
                daily_sales: { attempts: [{ seconds: 100, outcome: "timeout" }] },
                // The workspace refused to start the run: nothing is running, so it is retried.
                product_sales: { attempts: [{ seconds: 1, outcome: "throttled" }, { seconds: 5 }] },
                // The child run was cancelled: it ended, so it is retried.
                order_status: { attempts: [{ seconds: 5, outcome: "canceled" }, { seconds: 5 }] },
            },
        });
        const byName = Object.fromEntries(raisedSummary(result).workers.map((w: { name: string }) => [w.name, w]));
        expect(byName.customer_totals.error).to.contain("connect timed out");
        expect(byName.customer_totals).to.include({ status: "FAILED", attempts: 1 });
        expect(byName.customer_totals.not_retried).to.contain("may still be running");
        expect(byName.daily_sales).to.include({ status: "TIMED_OUT", attempts: 1 });
        expect(byName.product_sales).to.include({ status: "SUCCEEDED", attempts: 2 });
        expect(byName.order_status).to.include({ status: "SUCCEEDED", attempts: 2 });
    });

    it("classifies what dbutils.notebook.run raised: the child's result state, else the deadline, never the text", () => {
        const script = `
import json, sys
sys.path.insert(0, sys.argv[2])
from local_databricks import JavaThrowable, Py4JJavaError, workflow_exception
exec(open(sys.argv[1]).read())
NEE = "com.databricks.NotebookExecutionException"
cases = {
    "result state TIMEDOUT, early": classify_failure(workflow_exception(NEE, "TIMEDOUT"), 3, 100),
    "result state FAILED, at the deadline": classify_failure(workflow_exception(NEE, "FAILED: Workload failed, see run output for details"), 100, 100),
    "result state CANCELED": classify_failure(workflow_exception(NEE, "CANCELED"), 3, 100),
    "no result state, at the deadline": classify_failure(Py4JJavaError(JavaThrowable("com.databricks.WorkflowException", "Run did not finish")), 100.2, 100),
    "no result state, no timeout set": classify_failure(Py4JJavaError(JavaThrowable("com.databricks.WorkflowException", "gone")), 5000, 0),
    "text says timed out, early": classify_failure(RuntimeError("Notebook timed out"), 3, 100),
    "refused by the workspace": classify_failure(workflow_exception("com.databricks.common.client.DatabricksServiceHttpClientException", "REQUEST_LIMIT_EXCEEDED: limit"), 1, 100),
}
print(json.dumps({name: [status, ended] for name, (status, ended, _) in cases.items()}))
`;
        const output = execFileSync("python3", ["-c", script, path.join(NOTEBOOKS_DIR, "lib/orchestration.py"), path.join(__dirname, "..", "tools")]);
        expect(JSON.parse(output.toString())).to.deep.equal({
            "result state TIMEDOUT, early": ["TIMED_OUT", false],
            "result state FAILED, at the deadline": ["FAILED", true],
            "result state CANCELED": ["FAILED", true],
            "no result state, at the deadline": ["TIMED_OUT", false],
            "no result state, no timeout set": ["FAILED", false],
            "text says timed out, early": ["FAILED", false],
            "refused by the workspace": ["FAILED", true],
        });
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
            widgets: { retry_backoff_seconds: "0.5", max_retries: "1", workers: "order_status" },
            workers: { order_status: { attempts: [{ outcome: "fail" }] } },
        });
        const [first, second] = waited.calls;
        expect(second.start - first.end).to.be.within(0.45, 3);
        expect(waited.output).to.contain("retrying in 0.5s");
        const negative = await runIn(slow, "orchestrators/parallel", { widgets: { retry_backoff_seconds: "-1" }, workers: ALL_QUICK });
        expect(negative.error).to.equal("Job parameter retry_backoff_seconds=-1.0 is out of range; expected 0 to 3600");
        const word = await runIn(slow, "orchestrators/parallel", { widgets: { retry_backoff_seconds: "soon" }, workers: ALL_QUICK });
        expect(word.error).to.equal("Job parameter retry_backoff_seconds='soon' is not a number of seconds; expected 0 to 3600");
    });

    it("does not hold a slot while a retry waits for its backoff: the slot runs the next worker meanwhile", async () => {
        // Two slots, four 1000-second workers; the first fails after 100 s and waits a 500 s backoff.
        // Held in its slot, the backoff would make the run 2600 s long; re-queued, it costs only the failed attempt: 2100 s.
        const result = await runIn(dir, "orchestrators/parallel", {
            widgets: { max_retries: "1", retry_backoff_seconds: "0.5", timeout_seconds: "0" },
            workers: {
                customer_totals: { attempts: [{ seconds: 100, outcome: "fail" }, { seconds: 1000 }] },
                daily_sales: { attempts: [{ seconds: 1000 }] },
                product_sales: { attempts: [{ seconds: 1000 }] },
                order_status: { attempts: [{ seconds: 1000 }] },
            },
        });
        exitSummary(result);
        const call = (name: string, attempt = 1) => result.calls.find((c) => c.name === name && c.attempt === attempt)!;
        expect(result.max_in_flight).to.equal(2);
        expect(call("product_sales").start, "the freed slot takes the next worker at once").to.be.below(call("customer_totals").end + 150);
        expect(call("customer_totals", 2).start - call("customer_totals").end, "the retry still waits its backoff").to.be.at.least(490);
        const makespan = Math.max(...result.calls.map((c) => c.end)) - Math.min(...result.calls.map((c) => c.start));
        expect(makespan).to.be.within(2100, 2400);
    });

    it("refuses a workers parameter that names no worker, or has an empty name in it", async () => {
        const blank = await runIn(dir, "orchestrators/parallel", { workers: ALL_QUICK, widgets: { workers: " , " } });
        expect(blank.status).to.equal("raised");
        expect(blank.error).to.equal(
            "Job parameter workers=',' names no item; expected a comma-separated subset (or a JSON array) of customer_totals, daily_sales, product_sales, order_status, or empty for all of them",
        );
        expect(blank.calls).to.have.length(0);
        const gap = await runIn(dir, "orchestrators/sequential", { workers: ALL_QUICK, widgets: { workers: "daily_sales,,order_status" } });
        expect(gap.error).to.contain("Job parameter workers='daily_sales,,order_status' has an empty name between commas");
    });
});

describe("longest-first dispatch in the parallel orchestrator", () => {
    const expected = { customer_totals: 60, daily_sales: 240, product_sales: 120, order_status: 30 };
    const withEstimates = renderedNotebookDir(
        orchestratorSettings({
            maxWorkers: 1,
            items: orchestratorSettings().items.map((item) => ({ ...item, expectedSeconds: expected[item.name as keyof typeof expected] })),
        }),
    );
    const noEstimates = renderedNotebookDir(orchestratorSettings({ maxWorkers: 1 }));
    /** Run-log rows of the ETL workers (by name), run without arguments, in parallel runs unless said otherwise. */
    type HistoryRow = { notebook: string; orchestration_mode?: string; arguments?: string; wall_seconds: number; finished_at?: string };
    const runLogAnswer = (rows: HistoryRow[]) => [
        {
            match: "FROM `main`.`etl_test`.`etl_run_log`",
            rows: rows.map((row) => ({ orchestration_mode: "parallel", arguments: "{}", ...row, notebook: `workers/${row.notebook}` })),
        },
    ];

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

    it("prefers the median wall time of the run log's parallel attempts over configured estimates", async () => {
        const history = [
            ...[10, 11, 500].map((d) => ({ notebook: "daily_sales", wall_seconds: d })), // median 11: one slow outlier does not count
            ...[300, 310, 320].map((d) => ({ notebook: "order_status", wall_seconds: d })),
            ...[100, 90].map((d) => ({ notebook: "customer_totals", wall_seconds: d })),
            ...[50].map((d) => ({ notebook: "product_sales", wall_seconds: d })),
        ];
        const result = await runIn(withEstimates, "orchestrators/parallel", { workers: ALL_QUICK, sql: runLogAnswer(history) });
        const summary = exitSummary(result);
        expect(result.calls.map((c) => c.name)).to.deep.equal(["order_status", "customer_totals", "product_sales", "daily_sales"]);
        expect(summary.order_source).to.equal("run_log_parallel");
        expect(summary.expected_seconds).to.deep.equal({ customer_totals: 95, daily_sales: 11, product_sales: 50, order_status: 310 });
        const query = result.sql.find((s) => s.query.includes("FROM `main`.`etl_test`.`etl_run_log`"))?.query ?? "";
        expect(query).to.contain("recorded_by = 'orchestrator' AND status = 'SUCCEEDED' AND wall_seconds IS NOT NULL");
        expect(query).to.contain("PARTITION BY notebook, arguments, orchestration_mode");
        expect(query).to.contain("notebook IN ('workers/customer_totals', 'workers/daily_sales', 'workers/order_status', 'workers/product_sales')");
        expect(query).to.contain("recency <= 5");
    });

    it("falls back to sequential wall times, and says so, rather than mixing them with parallel ones", async () => {
        const result = await runIn(withEstimates, "orchestrators/parallel", {
            workers: ALL_QUICK,
            sql: runLogAnswer([
                { notebook: "daily_sales", wall_seconds: 40 },
                { notebook: "daily_sales", orchestration_mode: "sequential", wall_seconds: 900 },
                { notebook: "customer_totals", orchestration_mode: "sequential", wall_seconds: 500 },
            ]),
        });
        const summary = exitSummary(result);
        expect(summary.expected_seconds).to.include({ daily_sales: 40, customer_totals: 500 });
        expect(summary.estimate_sources).to.deep.equal({
            customer_totals: "run_log_sequential",
            daily_sales: "run_log_parallel",
            product_sales: "configured",
            order_status: "configured",
        });
        expect(summary.order_source).to.equal("run_log_parallel+run_log_sequential+configured");
        expect(result.calls.map((c) => c.name)).to.deep.equal(["customer_totals", "product_sales", "daily_sales", "order_status"]);
        expect(result.output).to.contain("customer_totals (~500s, run_log_sequential)");
    });

    it("falls back to configured estimates for workers without history, and to them all when the run log is unreadable", async () => {
        const partial = await runIn(withEstimates, "orchestrators/parallel", {
            workers: ALL_QUICK,
            sql: runLogAnswer([{ notebook: "order_status", wall_seconds: 1000 }]),
        });
        expect(partial.calls.map((c) => c.name)).to.deep.equal(["order_status", "daily_sales", "product_sales", "customer_totals"]);
        expect(exitSummary(partial).order_source).to.equal("run_log_parallel+configured");
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
                { notebook: "customer_totals", wall_seconds: 10 },
                { notebook: "product_sales", wall_seconds: 90 },
            ]),
        });
        expect(result.calls.map((c) => c.name)).to.deep.equal(["daily_sales", "order_status", "product_sales", "customer_totals"]);
        expect(exitSummary(result).order_source).to.equal("run_log_parallel+declared");
    });
});

describe("the run log the orchestrators append to", () => {
    const dir = renderedNotebookDir();
    const setupWidgets = { catalog: "main", schema: "etl_test", input_table: "orders", run_log_table: "etl_run_log", sample_data: "false", secret_scope: "" };
    const describeRunLog = (columns: string[]) => ({
        match: "^\\s*DESCRIBE TABLE `main`\\.`etl_test`\\.`etl_run_log`",
        rows: columns.map((col_name) => ({ col_name })),
    });
    const FIRST_COLUMNS = [
        "notebook",
        "orchestration_mode",
        "run_id",
        "attempt",
        "started_at",
        "finished_at",
        "duration_seconds",
        "rows_merged",
        "status",
        "error",
    ];

    const LATER_COLUMNS = ["wall_seconds", "recorded_by", "item", "arguments"];
    const createRunLog = (result: NotebookResult) =>
        result.sql.filter((s) => /CREATE TABLE IF NOT EXISTS `main`\.`etl_test`\.`etl_run_log`/.test(s.query)).map((s) => s.query);

    it("is created by setup with the wall time, who recorded each row and the work item, and an existing one gains those columns", async () => {
        const fresh = await runIn(dir, "setup", { widgets: setupWidgets, sql: [{ match: "SELECT COUNT", rows: [{ n: 1 }] }] });
        exitSummary(fresh);
        const [create] = createRunLog(fresh);
        expect(create).to.match(/wall_seconds DOUBLE,\s+recorded_by STRING,\s+item STRING,\s+arguments STRING\s+\) USING DELTA/);

        const old = await runIn(dir, "setup", { widgets: setupWidgets, sql: [{ match: "SELECT COUNT", rows: [{ n: 1 }] }, describeRunLog(FIRST_COLUMNS)] });
        exitSummary(old);
        expect(old.sql.map((s) => s.query.trim())).to.include(
            "ALTER TABLE `main`.`etl_test`.`etl_run_log` ADD COLUMNS (wall_seconds DOUBLE, recorded_by STRING, item STRING, arguments STRING)",
        );
        const beforeItems = await runIn(dir, "setup", {
            widgets: setupWidgets,
            sql: [{ match: "SELECT COUNT", rows: [{ n: 1 }] }, describeRunLog([...FIRST_COLUMNS, "wall_seconds", "recorded_by"])],
        });
        expect(beforeItems.sql.map((s) => s.query.trim())).to.include(
            "ALTER TABLE `main`.`etl_test`.`etl_run_log` ADD COLUMNS (item STRING, arguments STRING)",
        );

        const current = await runIn(dir, "setup", {
            widgets: setupWidgets,
            sql: [{ match: "SELECT COUNT", rows: [{ n: 1 }] }, describeRunLog([...FIRST_COLUMNS, ...LATER_COLUMNS])],
        });
        exitSummary(current);
        expect(current.sql.some((s) => s.query.includes("ALTER TABLE `main`.`etl_test`.`etl_run_log`"))).to.equal(false);
    });

    it("is created by each orchestrator too, with the same statement as setup's, before any item runs, so no setup task is needed", async () => {
        const setup = await runIn(dir, "setup", { widgets: setupWidgets, sql: [{ match: "SELECT COUNT", rows: [{ n: 1 }] }] });
        for (const orchestrator of ["orchestrators/sequential", "orchestrators/parallel"]) {
            const old = await runIn(dir, orchestrator, { workers: ALL_QUICK, sql: [describeRunLog(FIRST_COLUMNS)] });
            exitSummary(old);
            expect(createRunLog(old), orchestrator).to.deep.equal(createRunLog(setup));
            const statements = old.sql.map((s) => s.query.trim());
            const alter = statements.indexOf(
                "ALTER TABLE `main`.`etl_test`.`etl_run_log` ADD COLUMNS (wall_seconds DOUBLE, recorded_by STRING, item STRING, arguments STRING)",
            );
            expect(alter, orchestrator).to.be.greaterThan(0);
            expect(alter, "before the run log is written").to.be.below(statements.findIndex((q) => q.startsWith("INSERT INTO")));
        }
        const unwritable = await runIn(dir, "orchestrators/parallel", {
            workers: ALL_QUICK,
            sql: [{ match: "^\\s*CREATE TABLE", error: "[PERMISSION_DENIED] User does not have CREATE TABLE on Schema" }],
        });
        expect(exitSummary(unwritable).status, "a run log it cannot create does not stop the items").to.equal("SUCCEEDED");
        expect(unwritable.output).to.contain("Could not create or update the run log `main`.`etl_test`.`etl_run_log`: Exception: [PERMISSION_DENIED]");
    });

    it("gets the worker's own row marked as such, its duration being the worker's SQL time, with its notebook and work item", async () => {
        const result = await runIn(dir, "workers/daily_sales", { widgets: { ...setupWidgets, orchestration_mode: "parallel", run_id: "9" } });
        exitSummary(result);
        const insert = result.sql.find((s) => s.query.includes("INSERT INTO `main`.`etl_test`.`etl_run_log`"));
        expect(insert?.query).to.match(/status, error, recorded_by,\s+item, arguments\)/);
        expect(insert?.query).to.contain(":error, 'worker', :item, NULL)");
        expect(insert?.args).to.include({ notebook: "workers/daily_sales", item: "daily_sales" });
        const asItem = await runIn(dir, "workers/daily_sales", { widgets: { ...setupWidgets, work_item: "sales_eu" } });
        expect(asItem.sql.find((s) => s.query.includes("INSERT INTO"))?.args).to.include({ notebook: "workers/daily_sales", item: "sales_eu" });
    });
});
