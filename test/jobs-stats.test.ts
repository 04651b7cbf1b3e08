import { strict as assert } from "node:assert";
import { median, runTiming, speedup, spread, successRate, timingSpread, workerSpreads } from "../cli/stats";
import { asSummary, orchestrateTask, summaryFromErrorText, summaryFromOutput } from "../cli/summary";
import { formatDuration, formatElapsed } from "../cli/format";
import { prettySummary } from "../cli/run";
import type { JobRun } from "../cli/types";
import { loadFixture } from "./fixtures/jobs/server";

const close = (actual: number, expected: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: expected ${expected}, got ${actual}`);

describe("jobs: statistics (cli/stats.ts)", () => {
  it("median of odd and even counts, unsorted input", () => {
    assert.equal(median([421, 433, 411]), 421);
    assert.equal(median([161, 170, 152, 166]), 163.5);
    assert.equal(median([5]), 5);
    assert.throws(() => median([]), /empty/);
  });

  it("spread gives count, median, min and max, and nothing for no values", () => {
    assert.deepEqual(spread([161, 170, 152, 166]), { count: 4, median: 163.5, min: 152, max: 170 });
    assert.equal(spread([]), undefined);
  });

  it("splits a multitask run: run_duration for wall time, per-task setup/execution sums, queue apart", () => {
    // Sequential run 1105 of the fixture: queue 1000 ms; setup task 2000 + 18000 ms;
    // orchestrate 0 + 400000 ms; run_duration 421000 ms; run-level durations 0 (multitask).
    const run = loadFixture().runs["123"].find((r) => r.run_id === 1105) as JobRun;
    assert.deepEqual(runTiming(run), { queue: 1, setup: 2, execution: 418, cleanup: 0, other: 1, duration: 421 });
  });

  it("splits a single-task run from its run-level durations", () => {
    const run: JobRun = { run_id: 1, setup_duration: 30_000, execution_duration: 90_000, cleanup_duration: 5000, queue_duration: 2500 };
    assert.deepEqual(runTiming(run), { queue: 2.5, setup: 30, execution: 90, cleanup: 5, other: 0, duration: 125 });
  });

  it("falls back to end_time - start_time when run_duration is missing", () => {
    const run: JobRun = { run_id: 1, start_time: 1_000_000, end_time: 1_061_500, tasks: [{ task_key: "a", execution_duration: 60_000 }] };
    assert.deepEqual(runTiming(run), { queue: 0, setup: 0, execution: 60, cleanup: 0, other: 1.5, duration: 61.5 });
  });

  it("success rate counts SUCCESS among all completed runs, also from the 2.2 status field", () => {
    const runs: JobRun[] = [
      { run_id: 1, state: { life_cycle_state: "TERMINATED", result_state: "SUCCESS" } },
      { run_id: 2, state: { life_cycle_state: "TERMINATED", result_state: "FAILED" } },
      { run_id: 3, status: { state: "TERMINATED", termination_details: { code: "SUCCESS" } } },
      { run_id: 4, state: { life_cycle_state: "SKIPPED" } },
    ];
    assert.equal(successRate(runs), 0.5);
    assert.equal(successRate([]), undefined);
  });

  it("timingSpread takes the median of each part", () => {
    const t = (duration: number, execution: number) => ({ queue: 0, setup: 1, execution, cleanup: 0, other: duration - execution - 1, duration });
    const s = timingSpread([t(10, 8), t(20, 17), t(12, 10)])!;
    assert.deepEqual(s.duration, { count: 3, median: 12, min: 10, max: 20 });
    assert.deepEqual(s.execution, { count: 3, median: 10, min: 8, max: 17 });
    assert.equal(timingSpread([]), undefined);
  });

  it("speedup is median/median with a min/max ratio range and the time saved", () => {
    // Hand-computed: 421/163.5, 411/170, 433/152, 421-163.5.
    const s = speedup({ count: 3, median: 421, min: 411, max: 433 }, { count: 4, median: 163.5, min: 152, max: 170 });
    close(s.median, 421 / 163.5, "median");
    close(s.low, 411 / 170, "low");
    close(s.high, 433 / 152, "high");
    assert.equal(s.savedSeconds, 257.5);
  });

  it("per-worker spreads keep the declared order and only count SUCCEEDED workers", () => {
    const w = (name: string, status: string, d: number | null) => ({ name, status, duration_seconds: d });
    const spreads = workerSpreads([
      { status: "SUCCEEDED", workers: [w("b", "SUCCEEDED", 10), w("a", "SUCCEEDED", 4)] },
      { status: "FAILED", workers: [w("b", "SUCCEEDED", 12), w("a", "FAILED", 1), w("c", "SKIPPED", null)] },
      { status: "SUCCEEDED", workers: [w("b", "SUCCEEDED", 11), w("a", "SUCCEEDED", 6)] },
    ]);
    assert.deepEqual(
      spreads.map((s) => [s.name, s.count, s.median, s.min, s.max]),
      [
        ["b", 3, 11, 10, 12],
        ["a", 2, 5, 4, 6],
        ["c", 0, NaN, NaN, NaN],
      ],
    );
  });
});

describe("jobs: orchestrator summary (cli/summary.ts)", () => {
  const fixture = loadFixture();

  it("reads the summary from notebook_output.result", () => {
    const summary = summaryFromOutput(fixture.outputs["11052"] as never)!;
    assert.equal(summary.mode, "sequential");
    assert.equal(summary.status, "SUCCEEDED");
    assert.deepEqual(summary.workers.map((w) => w.duration_seconds), [95, 120, 110, 70]);
  });

  it("reads the summary from the 'Summary: ' line of a failed task's error", () => {
    const summary = summaryFromOutput(fixture.outputs["11042"] as never)!;
    assert.equal(summary.status, "FAILED");
    assert.deepEqual(summary.workers.map((w) => w.status), ["SUCCEEDED", "SUCCEEDED", "FAILED", "SKIPPED"]);
    assert.equal(summary.workers[3].duration_seconds, null);
  });

  it("finds the Summary line after an exception class name, and ignores lines that are not a summary", () => {
    const text = 'Traceback...\nException: Summary: {"status": "FAILED", "workers": [{"name": "a", "status": "FAILED", "duration_seconds": 3}]}';
    assert.equal(summaryFromErrorText(text)!.workers[0].name, "a");
    assert.equal(summaryFromErrorText("Summary: not json"), undefined);
    assert.equal(summaryFromErrorText(undefined), undefined);
    assert.equal(asSummary({ status: "SUCCEEDED" }), undefined, "no workers: not a summary");
    assert.equal(asSummary({ workers: [{ duration_seconds: 1 }] }), undefined, "a worker without a name");
  });

  it("picks the orchestrate task, or the only task of a single-task run", () => {
    const run = fixture.runs["123"][0] as JobRun;
    assert.equal(orchestrateTask(run)!.task_key, "orchestrate");
    assert.equal(orchestrateTask({ run_id: 1, tasks: [{ task_key: "only", run_id: 5 }] })!.run_id, 5);
    assert.equal(orchestrateTask({ run_id: 1, tasks: [{ task_key: "x" }, { task_key: "y" }] }), undefined);
  });

  it("prints the summary as JSON that parses back to the same object", () => {
    const summary = summaryFromOutput(fixture.outputs["21052"] as never)!;
    const text = prettySummary(summary);
    assert.deepEqual(JSON.parse(text), summary);
    assert.equal(text.split("\n").filter((l) => l.includes('"name":')).length, 4, "one line per worker");
  });
});

describe("jobs: formatting (cli/format.ts)", () => {
  it("formats durations and elapsed times", () => {
    assert.equal(formatDuration(45.24), "45.2s");
    assert.equal(formatDuration(412.7), "6m 53s");
    assert.equal(formatDuration(3723), "1h 02m 03s");
    assert.equal(formatDuration(undefined), "-");
    assert.equal(formatElapsed(7_900), "0:07");
    assert.equal(formatElapsed(3_723_000), "1:02:03");
  });
});
