import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { expect } from "chai";
import { benchWorkloads, checkTargets, failedAttemptSeconds, TRANSIENT_FAILURE_WORKLOAD } from "../tools/bench";
import { seededRandom } from "../tools/random";
import {
    dispatchMakespan,
    FOR_EACH_ITERATION_OVERHEAD_SECONDS,
    forEachResult,
    forEachSchedule,
    idealLongestFirstMakespan,
    listScheduleMakespan,
    longestFirst,
    lowerBound,
    simulate,
    SimulationNotebooks,
    SimulationResult,
} from "../tools/simulation";
import { checkChartFile } from "../tools/charts";
import { ganttSpec, parsePools, smallestGoodPool, workloadFromFile, workloadFromStack } from "../tools/simulate";

const ROOT = path.join(__dirname, "..");

function simulateCommand(...args: string[]) {
    return spawnSync(process.execPath, ["-r", "ts-node/register", "tools/simulate.ts", ...args], { cwd: ROOT, encoding: "utf8" });
}

function workloadFile(content: string): string {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "workload-")), "workload.json");
    fs.writeFileSync(file, content);
    return file;
}

describe("scheduling arithmetic", () => {
    it("bounds a makespan below by the longest task and by the total over the pool", () => {
        expect(lowerBound([10, 20, 30], 2)).to.equal(30);
        expect(lowerBound([10, 10, 10, 10], 2)).to.equal(20);
    });

    it("list-schedules on the earliest free slot, so order matters", () => {
        expect(listScheduleMakespan([1, 1, 1, 1, 4], 2)).to.equal(6);
        expect(listScheduleMakespan([4, 1, 1, 1, 1], 2)).to.equal(4);
    });

    it("orders longest first, keeping declared order among equals", () => {
        const order = longestFirst([
            { name: "a", seconds: 5 },
            { name: "b", seconds: 9 },
            { name: "c", seconds: 5 },
        ]).map((w) => w.name);
        expect(order).to.deep.equal(["b", "a", "c"]);
        expect(
            idealLongestFirstMakespan(
                [
                    { name: "a", seconds: 1 },
                    { name: "b", seconds: 1 },
                    { name: "c", seconds: 1 },
                    { name: "d", seconds: 1 },
                    { name: "e", seconds: 4 },
                ],
                2,
            ),
        ).to.equal(4);
    });

    it("models the orchestrators' dispatch loop: a retry waits for its backoff in a queue, not in a slot", () => {
        const equal = (failedAttempts?: number[]) => ({ name: "a", seconds: 1000, failedAttempts });
        const workers = [equal([100]), { ...equal(), name: "b" }, { ...equal(), name: "c" }, { ...equal(), name: "d" }];
        // Slot 1: a fails (0-100), c (100-1100), d (1100-2100); slot 2: b (0-1000), a's retry (1000-2000), due since 600.
        expect(dispatchMakespan(workers, 2, { backoffSeconds: 500 })).to.equal(2100);
        // Held in its slot: a fails, sleeps 500 s, retries (0-1600); b, c on the other slot; d after a.
        expect(dispatchMakespan(workers, 2, { backoffSeconds: 500 }, true)).to.equal(2600);
        // Without failures it is list scheduling; with nothing else to run, the backoff is waited out either way.
        expect(
            dispatchMakespan(
                [
                    { name: "x", seconds: 5 },
                    { name: "y", seconds: 1 },
                    { name: "z", seconds: 3 },
                ],
                2,
            ),
        ).to.equal(listScheduleMakespan([5, 1, 3], 2));
        expect(dispatchMakespan([equal([100, 100])], 4, { backoffSeconds: 50 })).to.equal(100 + 50 + 100 + 100 + 1000);
    });

    it("includes a transient failure the bench checks against the no-failure makespan plus the failed attempt", () => {
        const transient = benchWorkloads().find((w) => w.name === TRANSIENT_FAILURE_WORKLOAD)!;
        expect(failedAttemptSeconds(transient.workers)).to.equal(120);
        const ordered = longestFirst(transient.workers);
        for (const pool of [2, 4]) {
            expect(dispatchMakespan(ordered, pool, transient.retries)).to.equal(idealLongestFirstMakespan(transient.workers, pool) + 120);
            expect(dispatchMakespan(ordered, pool, transient.retries, true)).to.equal(idealLongestFirstMakespan(transient.workers, pool) + 120 + 1200);
        }
    });

    it("models a For each task: list order (not longest-first), a fixed overhead per attempt, retries in the iteration's slot", () => {
        const workers = [
            { name: "a", seconds: 60 },
            { name: "b", seconds: 60 },
            { name: "c", seconds: 300 },
        ];
        // c starts last, after a slot frees at 60 + 10: 70 + 310 = 380; longest-first would give 310.
        expect(forEachSchedule(workers, 2, { iterationOverheadSeconds: 10 })).to.deep.equal([
            { name: "a", slot: 0, start: 0, end: 70 },
            { name: "b", slot: 1, start: 0, end: 70 },
            { name: "c", slot: 0, start: 70, end: 380 },
        ]);
        const result = forEachResult(workers, 2, { iterationOverheadSeconds: 10 });
        expect(result).to.include({ mode: "for each", pool: 2, makespan: 380, lowerBound: 300, idealLongestFirst: 300 });
        expect(result.calls.map((c) => [c.name, c.thread])).to.deep.equal([
            ["a", "iteration slot 1"],
            ["b", "iteration slot 2"],
            ["c", "iteration slot 1"],
        ]);
        // A failed attempt of 20 s, then the 45 s retry interval, then the retry: both attempts pay the overhead.
        const retried = forEachSchedule([{ name: "a", seconds: 60, failedAttempts: [20] }], 4, { iterationOverheadSeconds: 10, retryIntervalSeconds: 45 });
        expect(retried).to.deep.equal([{ name: "a", slot: 0, start: 0, end: 20 + 10 + 45 + 60 + 10 }]);
        expect(forEachResult(workers, 1, { iterationOverheadSeconds: FOR_EACH_ITERATION_OVERHEAD_SECONDS }).makespan).to.equal(
            420 + 3 * FOR_EACH_ITERATION_OVERHEAD_SECONDS,
        );
    });

    it("generates the same random workload on every run", () => {
        const a = seededRandom(42);
        const b = seededRandom(42);
        expect([a(), a(), a()]).to.deep.equal([b(), b(), b()]);
        expect(benchWorkloads()[2].workers.map((w) => w.seconds)).to.deep.equal(benchWorkloads()[2].workers.map((w) => w.seconds));
        expect(benchWorkloads().map((w) => w.workers.length)).to.deep.equal([4, 16, 32, 8]);
    });
});

describe("the local simulation", function () {
    this.timeout(30000);

    it("runs the real parallel orchestrator longest-first and the pool.map baseline in list order, neither faster than its schedule allows", async () => {
        const workers = [
            { name: "short_a", seconds: 60 },
            { name: "short_b", seconds: 60 },
            { name: "short_c", seconds: 60 },
            { name: "long", seconds: 240 },
        ];
        const notebooks = new SimulationNotebooks(workers);
        try {
            // Lower bounds only: a loaded machine makes runs longer, never shorter; speed is the benchmark's job.
            const ours = await simulate(notebooks, "parallel", 2, 60);
            expect(ours.dispatchOrder[0]).to.equal("long");
            expect(ours.idealLongestFirst).to.equal(240);
            expect(ours.lowerBound).to.equal(240);
            expect(ours.makespan).to.be.at.least(240);
            const baseline = await simulate(notebooks, "pool.map", 2, 60);
            expect(baseline.dispatchOrder).to.deep.equal(["short_a", "short_b", "short_c", "long"]);
            expect(baseline.makespan).to.be.at.least(listScheduleMakespan([60, 60, 60, 240], 2));
            expect(ours.makespan).to.be.below(baseline.makespan);
            const sequential = await simulate(notebooks, "sequential", 1, 60);
            expect(sequential.pool).to.equal(1);
            expect(sequential.dispatchOrder).to.deep.equal(["short_a", "short_b", "short_c", "long"]);
            expect(sequential.makespan).to.be.at.least(420);
            expect(sequential.calls.every((call, i, calls) => i === 0 || call.start >= calls[i - 1].end)).to.equal(true);
        } finally {
            notebooks.dispose();
        }
    });

    it("runs the real parallel orchestrator on a transient failure: the retry costs the failed attempt, not the backoff", async () => {
        const notebooks = new SimulationNotebooks([
            { name: "flaky", seconds: 240, failedAttempts: [30] },
            { name: "b", seconds: 240 },
            { name: "c", seconds: 240 },
            { name: "d", seconds: 240 },
        ]);
        try {
            const ours = await simulate(notebooks, "parallel", 2, 60, { backoffSeconds: 120 });
            expect(ours.noFailureMakespan).to.equal(480);
            expect(ours.idealLongestFirst).to.equal(510);
            expect(ours.backoffHoldingSlotMakespan).to.equal(630);
            expect(ours.calls.filter((c) => c.name === "flaky").map((c) => c.outcome)).to.deep.equal(["fail", "success"]);
            expect(ours.makespan).to.be.at.least(510);
            expect(ours.makespan, "well below the 630 s of a backoff held in its slot").to.be.below(600);
        } finally {
            notebooks.dispose();
        }
    });

    it("picks the smallest pool within 2% of the shortest makespan", () => {
        const result = (pool: number, makespan: number) => ({ mode: "parallel", pool, makespan }) as SimulationResult;
        expect(smallestGoodPool([result(1, 100), result(2, 61), result(4, 60), result(8, 60)])).to.equal(2);
        expect(smallestGoodPool([result(1, 100), result(2, 70), result(4, 60)])).to.equal(4);
    });

    it("draws one Gantt row per run, a bar per worker run, in simulated minutes", () => {
        const run = {
            mode: "parallel",
            pool: 2,
            calls: [
                { name: "v", thread: "worker_1", start: 30, end: 60 },
                { name: "w", thread: "worker_0", start: 60, end: 180 },
            ],
        } as unknown as SimulationResult;
        const spec = ganttSpec([run], "t") as { data: { values: unknown[] }; facet: { row: { sort: string[] } } };
        expect(spec.data.values).to.deep.equal([
            { run: "parallel P=2", slot: "worker_1", worker: "v", start: 0, end: 0.5 },
            { run: "parallel P=2", slot: "worker_0", worker: "w", start: 0.5, end: 2.5 },
        ]);
        expect(spec.facet.row.sort).to.deep.equal(["parallel P=2"]);
    });

    it("checks the benchmark targets against measured figures", () => {
        const sim = (makespan: number, ideal: number, bound: number, overhead = 1, noFailure = ideal, held = ideal) =>
            ({
                makespan,
                idealLongestFirst: ideal,
                lowerBound: bound,
                overheadMsPerTask: overhead,
                noFailureMakespan: noFailure,
                backoffHoldingSlotMakespan: held,
            }) as SimulationResult;
        const rows = [
            { workload: "16 skewed", pool: 4, ours: sim(100, 100, 100), poolMap: sim(140, 100, 100), failedAttemptSeconds: 0 },
            { workload: "32 random", pool: 2, ours: sim(103, 100, 100, 25), poolMap: sim(110, 100, 100), failedAttemptSeconds: 0 },
        ];
        expect(checkTargets(rows).map((c) => c.met)).to.deep.equal([false, true, true, false]);
        const requeued = { workload: TRANSIENT_FAILURE_WORKLOAD, pool: 4, ours: sim(3725, 3720, 3630, 300, 3600, 4920), failedAttemptSeconds: 120 };
        expect(checkTargets([rows[0], requeued]).map((c) => c.met)).to.deep.equal([true, true, true, true, true]);
        const held = { ...requeued, ours: sim(4925, 3720, 3630, 300, 3600, 4920) };
        const checks = checkTargets([rows[0], held]);
        expect(checks.map((c) => c.met)).to.deep.equal([false, true, true, true, false]);
        expect(checks[4].detail).to.contain("P=4: 1h 22m 05s against 1h 00m 00s + 2m 00s");
    });
});

describe("npm run simulate", function () {
    this.timeout(60000);

    it("prints the table for each pool size and writes the Gantt chart", () => {
        const chart = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "chart-")), "simulation.svg");
        const file = workloadFile(
            JSON.stringify({
                source: "test",
                workers: [
                    { name: "daily_sales", expected_seconds: 120 },
                    { name: "order_status", expected_seconds: 60 },
                ],
            }),
        );
        const result = simulateCommand("--workload", file, "--pools", "1,2", "--scale", "5", "--chart", chart);
        expect(result.status, result.stderr).to.equal(0);
        expect(result.stdout).to.contain("Simulating 2 workers (test)");
        expect(result.stdout).to.match(/mode +pool +makespan +lower bound +ratio +speedup/);
        expect(result.stdout).to.match(/\nsequential +1 /);
        expect(result.stdout).to.match(/\nparallel +2 /);
        // The For each job, modelled at each pool size as its concurrency, 10 s per iteration by default.
        expect(result.stdout).to.match(/\nfor each +1 +3m 20s /);
        expect(result.stdout).to.match(/\nfor each +2 +2m 10s /);
        expect(result.stdout).to.contain("iterations in list order, 10 s each on top of the worker (--for-each-overhead)");
        const svg = fs.readFileSync(chart, "utf8");
        expect(svg).to.match(/^<svg/);
        expect(svg).to.contain("parallel P=2");
    });

    it("reads the workload from the stack's config by default", () => {
        const workload = workloadFromStack("dev");
        expect(workload.workers).to.deep.equal([
            { name: "customer_totals", seconds: 95 },
            { name: "daily_sales", seconds: 240 },
            { name: "product_sales", seconds: 120 },
            { name: "order_status", seconds: 60 },
        ]);
    });

    for (const [what, content, message] of [
        ["not JSON", "{workers: [", "not valid JSON"],
        ["a negative duration", JSON.stringify({ workers: [{ name: "daily_sales", expected_seconds: -5 }] }), "expected_seconds"],
        [
            "an unknown worker",
            JSON.stringify({ workers: [{ name: "nightly_sales", expected_seconds: 5 }] }),
            "unknown worker(s) nightly_sales; the stack's workers are customer_totals, daily_sales, product_sales, order_status",
        ],
    ]) {
        it(`rejects a workload file with ${what}, naming the file`, () => {
            const file = workloadFile(content);
            expect(() => workloadFromFile(file))
                .to.throw(`${file}: `)
                .with.property("message")
                .that.contains(message);
        });
    }

    it("exits non-zero with the message when the workload file is bad", () => {
        const file = workloadFile(JSON.stringify({ workers: [{ name: "nightly_sales", expected_seconds: 5 }] }));
        const result = simulateCommand("--workload", file);
        expect(result.status).to.equal(1);
        expect(result.stderr.trim()).to.equal(
            `simulate: ${file}: unknown worker(s) nightly_sales; the stack's workers are customer_totals, daily_sales, product_sales, order_status`,
        );
    });

    it("refuses a chart file it could not write before simulating anything", () => {
        const file = workloadFile(JSON.stringify({ workers: [{ name: "daily_sales", expected_seconds: 60 }] }));
        const png = simulateCommand("--workload", file, "--chart", path.join(os.tmpdir(), "chart.png"));
        expect(png.status).to.equal(1);
        expect(png.stderr.trim()).to.equal(`simulate: Chart file '${path.join(os.tmpdir(), "chart.png")}': the name must end in .svg or .html`);
        expect(png.stdout).not.to.contain("Simulating");
        const underAFile = path.join(file, "charts", "simulation.svg");
        expect(() => checkChartFile(underAFile)).to.throw(`Chart file '${underAFile}': cannot be written (`);
        expect(() => checkChartFile(path.dirname(file) + path.sep + ".")).to.throw("the name must end in .svg or .html");
        const directory = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "chart-")), "chart.svg");
        fs.mkdirSync(directory);
        expect(() => checkChartFile(directory)).to.throw(`Chart file '${directory}': cannot be written (it is a directory)`);
    });

    it("rejects pool sizes outside 1 to 144", () => {
        expect(parsePools("4,2,2")).to.deep.equal([2, 4]);
        expect(() => parsePools("0,2")).to.throw("expected comma-separated pool sizes from 1 to 144");
        expect(() => parsePools("2,x")).to.throw("expected comma-separated pool sizes");
    });
});
