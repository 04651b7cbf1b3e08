import { expect } from "chai";
import { median, runTiming, speedup, spread, successRate, timingSpread, workerSpreads } from "../cli/stats";
import { asSummary, orchestrateTask, summaryFromErrorText, summaryFromOutput } from "../cli/summary";
import { formatDuration, formatElapsed, formatGoDuration, parseGoDuration } from "../cli/format";
import { prettySummary } from "../cli/run";
import { parseWorkload } from "../cli/workload";
import type { JobRun } from "../cli/types";
import { loadFixture } from "./fixtures/jobs/server";

const close = (actual: number, expected: number, what: string): void => {
    expect(Math.abs(actual - expected), `${what}: expected ${expected}, got ${actual}`).to.be.below(1e-9);
};

describe("jobs: statistics (cli/stats.ts)", () => {
    it("median of odd and even counts, unsorted input", () => {
        expect(median([421, 433, 411])).to.equal(421);
        expect(median([161, 170, 152, 166])).to.equal(163.5);
        expect(median([5])).to.equal(5);
        expect(() => median([])).to.throw(/empty/);
    });

    it("spread gives count, median, min and max, and nothing for no values", () => {
        expect(spread([161, 170, 152, 166])).to.deep.equal({ count: 4, median: 163.5, min: 152, max: 170 });
        expect(spread([])).to.be.undefined;
    });

    it("splits a multitask run: run_duration for wall time, per-task setup/execution sums, queue apart", () => {
        // Sequential run 1105 of the fixture: queue 1000 ms; setup task 2000 + 18000 ms;
        // orchestrate 0 + 400000 ms; run_duration 421000 ms; run-level durations 0 (multitask).
        const run = loadFixture().runs["123"].find((r) => r.run_id === 1105) as JobRun;
        expect(runTiming(run)).to.deep.equal({ queue: 1, setup: 2, execution: 418, cleanup: 0, other: 1, duration: 421 });
    });

    it("splits a single-task run from its run-level durations", () => {
        const run: JobRun = { run_id: 1, setup_duration: 30_000, execution_duration: 90_000, cleanup_duration: 5000, queue_duration: 2500 };
        expect(runTiming(run)).to.deep.equal({ queue: 2.5, setup: 30, execution: 90, cleanup: 5, other: 0, duration: 125 });
    });

    it("falls back to end_time - start_time when run_duration is missing", () => {
        const run: JobRun = { run_id: 1, start_time: 1_000_000, end_time: 1_061_500, tasks: [{ task_key: "a", execution_duration: 60_000 }] };
        expect(runTiming(run)).to.deep.equal({ queue: 0, setup: 0, execution: 60, cleanup: 0, other: 1.5, duration: 61.5 });
    });

    it("success rate counts SUCCESS among all completed runs, also from the 2.2 status field", () => {
        const runs: JobRun[] = [
            { run_id: 1, state: { life_cycle_state: "TERMINATED", result_state: "SUCCESS" } },
            { run_id: 2, state: { life_cycle_state: "TERMINATED", result_state: "FAILED" } },
            { run_id: 3, status: { state: "TERMINATED", termination_details: { code: "SUCCESS" } } },
            { run_id: 4, state: { life_cycle_state: "SKIPPED" } },
        ];
        expect(successRate(runs)).to.equal(0.5);
        expect(successRate([])).to.be.undefined;
    });

    it("timingSpread takes the median of each part", () => {
        const t = (duration: number, execution: number) => ({ queue: 0, setup: 1, execution, cleanup: 0, other: duration - execution - 1, duration });
        const s = timingSpread([t(10, 8), t(20, 17), t(12, 10)])!;
        expect(s.duration).to.deep.equal({ count: 3, median: 12, min: 10, max: 20 });
        expect(s.execution).to.deep.equal({ count: 3, median: 10, min: 8, max: 17 });
        expect(timingSpread([])).to.be.undefined;
    });

    it("speedup is median/median with a min/max ratio range and the time saved", () => {
        // Hand-computed: 421/163.5, 411/170, 433/152, 421-163.5.
        const s = speedup({ count: 3, median: 421, min: 411, max: 433 }, { count: 4, median: 163.5, min: 152, max: 170 });
        close(s.median, 421 / 163.5, "median");
        close(s.low, 411 / 170, "low");
        close(s.high, 433 / 152, "high");
        expect(s.savedSeconds).to.equal(257.5);
    });

    it("per-worker spreads keep the declared order and only count SUCCEEDED workers", () => {
        const w = (name: string, status: string, d: number | null) => ({ name, status, duration_seconds: d });
        const spreads = workerSpreads([
            { status: "SUCCEEDED", workers: [w("b", "SUCCEEDED", 10), w("a", "SUCCEEDED", 4)] },
            { status: "FAILED", workers: [w("b", "SUCCEEDED", 12), w("a", "FAILED", 1), w("c", "SKIPPED", null)] },
            { status: "SUCCEEDED", workers: [w("b", "SUCCEEDED", 11), w("a", "SUCCEEDED", 6)] },
        ]);
        expect(spreads.map((s) => [s.name, s.count, s.median, s.min, s.max])).to.deep.equal([
            ["b", 3, 11, 10, 12],
            ["a", 2, 5, 4, 6],
            ["c", 0, NaN, NaN, NaN],
        ]);
    });

    it("per-item spreads keep each item's notebook and arguments, from the newest summary that has them", () => {
        const item = (table: string, d: number, withNotebook = true) => ({
            name: `ingest_table(table=${table})`,
            status: "SUCCEEDED",
            duration_seconds: d,
            ...(withNotebook ? { notebook: "ingest/ingest_table", arguments: { table } } : {}),
        });
        const spreads = workerSpreads([
            { status: "SUCCEEDED", workers: [item("a", 10), item("b", 20)] },
            { status: "SUCCEEDED", workers: [item("a", 12, false), item("b", 22, false)] },
        ]);
        expect(spreads.map((s) => [s.name, s.notebook, s.arguments, s.median])).to.deep.equal([
            ["ingest_table(table=a)", "ingest/ingest_table", { table: "a" }, 11],
            ["ingest_table(table=b)", "ingest/ingest_table", { table: "b" }, 21],
        ]);
        const workload = parseWorkload(
            JSON.stringify({
                source: "test",
                workers: spreads.map((s) => ({ name: s.name, expected_seconds: s.median, notebook: s.notebook, arguments: s.arguments })),
            }),
            "saved.json",
        );
        expect(workload.workers.map((w) => [w.name, w.notebook, w.arguments])).to.deep.equal([
            ["ingest_table(table=a)", "ingest/ingest_table", { table: "a" }],
            ["ingest_table(table=b)", "ingest/ingest_table", { table: "b" }],
        ]);
    });
});

describe("jobs: orchestrator summary (cli/summary.ts)", () => {
    const fixture = loadFixture();

    it("reads the summary from notebook_output.result", () => {
        const summary = summaryFromOutput(fixture.outputs["11052"] as never)!;
        expect(summary.mode).to.equal("sequential");
        expect(summary.status).to.equal("SUCCEEDED");
        expect(summary.workers.map((w) => w.duration_seconds)).to.deep.equal([95, 120, 110, 70]);
    });

    it("reads the summary from the 'Summary: ' line of a failed task's error", () => {
        const summary = summaryFromOutput(fixture.outputs["11042"] as never)!;
        expect(summary.status).to.equal("FAILED");
        expect(summary.workers.map((w) => w.status)).to.deep.equal(["SUCCEEDED", "SUCCEEDED", "FAILED", "SKIPPED"]);
        expect(summary.workers[3].duration_seconds).to.equal(0);
        expect(summary.workers[3].error).to.equal("not run: product_sales FAILED");
    });

    it("finds the Summary line after an exception class name, and ignores lines that are not a summary", () => {
        const text = 'Traceback...\nException: Summary: {"status": "FAILED", "workers": [{"name": "a", "status": "FAILED", "duration_seconds": 3}]}';
        expect(summaryFromErrorText(text)!.workers[0].name).to.equal("a");
        expect(summaryFromErrorText("Summary: not json")).to.be.undefined;
        expect(summaryFromErrorText(undefined)).to.be.undefined;
        expect(asSummary({ status: "SUCCEEDED" }), "no workers: not a summary").to.be.undefined;
        expect(asSummary({ workers: [{ duration_seconds: 1 }] }), "a worker without a name").to.be.undefined;
    });

    it("picks the orchestrate task, or the only task of a single-task run", () => {
        const run = fixture.runs["123"][0] as JobRun;
        expect(orchestrateTask(run)!.task_key).to.equal("orchestrate");
        expect(orchestrateTask({ run_id: 1, tasks: [{ task_key: "only", run_id: 5 }] })!.run_id).to.equal(5);
        expect(orchestrateTask({ run_id: 1, tasks: [{ task_key: "x" }, { task_key: "y" }] })).to.be.undefined;
    });

    it("prints the summary as JSON that parses back to the same object", () => {
        const summary = summaryFromOutput(fixture.outputs["21052"] as never)!;
        const text = prettySummary(summary);
        expect(JSON.parse(text)).to.deep.equal(summary);
        expect(text.split("\n").filter((l) => l.includes('"name":')).length, "one line per worker").to.equal(4);
    });
});

describe("jobs: formatting (cli/format.ts)", () => {
    it("formats durations and elapsed times", () => {
        expect(formatDuration(45.24)).to.equal("45.2s");
        expect(formatDuration(412.7)).to.equal("6m 53s");
        expect(formatDuration(3723)).to.equal("1h 02m 03s");
        expect(formatDuration(undefined)).to.equal("-");
        expect(formatElapsed(7_900)).to.equal("0:07");
        expect(formatElapsed(3_723_000)).to.equal("1:02:03");
    });

    it("reads and prints durations the way the Databricks CLI's --timeout does (Go syntax)", () => {
        expect(parseGoDuration("20m")).to.equal(1_200_000);
        expect(parseGoDuration("1h30m")).to.equal(5_400_000);
        expect(parseGoDuration("2.5h")).to.equal(9_000_000);
        expect(parseGoDuration("90s")).to.equal(90_000);
        expect(parseGoDuration("1m500ms")).to.equal(60_500);
        for (const bad of ["30", "", "m", "1d", "-5m", "5 m"]) expect(parseGoDuration(bad), bad).to.be.undefined;
        expect(formatGoDuration(1_200_000)).to.equal("20m0s");
        expect(formatGoDuration(5_400_000)).to.equal("1h30m0s");
        expect(formatGoDuration(45_000)).to.equal("45s");
        expect(formatGoDuration(1_500)).to.equal("1.5s");
    });
});
