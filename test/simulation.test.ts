import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { expect } from "chai";
import { WorkItem } from "../components/workItems";
import { benchWorkloads, checkTargets, failedAttemptSeconds, SCALE_WORKLOAD, TRANSIENT_FAILURE_WORKLOAD } from "../tools/bench";
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
    SKEWED_WORKLOAD,
    skewedItems,
} from "../tools/simulation";
import { checkChartFile } from "../tools/charts";
import {
    chooseWorkload,
    expectedSecondsConfigPath,
    ganttSpec,
    parsePools,
    smallestGoodPool,
    workloadFromFile,
    workloadFromItems,
    workloadFromStack,
} from "../tools/simulate";

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
        expect(failedAttemptSeconds(transient.items)).to.equal(120);
        const ordered = longestFirst(transient.items);
        for (const pool of [2, 4]) {
            expect(dispatchMakespan(ordered, pool, transient.retries)).to.equal(idealLongestFirstMakespan(transient.items, pool) + 120);
            expect(dispatchMakespan(ordered, pool, transient.retries, true)).to.equal(idealLongestFirstMakespan(transient.items, pool) + 120 + 1200);
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
        expect(benchWorkloads()[2].items.map((w) => w.seconds)).to.deep.equal(benchWorkloads()[2].items.map((w) => w.seconds));
        expect(benchWorkloads().map((w) => w.items.length)).to.deep.equal([4, 16, 32, 8, 200]);
        expect(benchWorkloads().map((w) => w.pools ?? [2, 4, 8])).to.deep.equal([
            [2, 4, 8],
            [2, 4, 8],
            [2, 4, 8],
            [2, 4, 8],
            [8, 16],
        ]);
    });
});

describe("the 200-item workload (skewed-200)", function () {
    this.timeout(30000);
    const items = skewedItems();
    const sorted = items.map((item) => item.seconds).sort((x, y) => x - y);
    const total = sorted.reduce((sum, seconds) => sum + seconds, 0);
    const median = (sorted[99] + sorted[100]) / 2;

    it("is one notebook over 200 distinct argument sets, named as the stack names items", () => {
        expect(items).to.have.length(200);
        expect(new Set(items.map((item) => item.notebook))).to.deep.equal(new Set(["ingest/ingest_table"]));
        expect(new Set(items.map((item) => JSON.stringify(item.arguments))).size).to.equal(200);
        expect(items[0]).to.include({ name: "ingest_table(table=table_001)" });
        expect(items[0].arguments).to.deep.equal({ table: "table_001" });
        expect(items[199].name).to.equal("ingest_table(table=table_200)");
        expect(new Set(items.map((item) => item.name)).size).to.equal(200);
    });

    it("is the same on every run, from its seed, and another seed gives other durations", () => {
        expect(skewedItems()).to.deep.equal(items);
        expect(skewedItems(200, SKEWED_WORKLOAD.seed + 1).map((item) => item.seconds)).not.to.deep.equal(items.map((item) => item.seconds));
    });

    it("is skewed: most tables take about a minute, the ten longest (5%) over a third of the total, the longest 40 times the median", () => {
        expect(sorted[0]).to.be.at.least(SKEWED_WORKLOAD.minimumSeconds);
        expect(median).to.be.below(90);
        const longestTen = sorted.slice(-10).reduce((sum, seconds) => sum + seconds, 0);
        expect(longestTen / total).to.be.above(1 / 3);
        expect(sorted[199] / median).to.be.above(40);
        // The long tables are spread through the list, so list order is well off longest-first at both pool sizes.
        for (const pool of [8, 16]) {
            const inListOrder = listScheduleMakespan(
                items.map((item) => item.seconds),
                pool,
            );
            expect(inListOrder / idealLongestFirstMakespan(items, pool)).to.be.above(1.08);
        }
    });

    it("is dispatched by the real parallel orchestrator longest first, every item exactly once with its own arguments", async () => {
        const notebooks = new SimulationNotebooks(items);
        try {
            // One slot: the order the calls start in is the dispatch order.
            const one = await simulate(notebooks, "parallel", 1, 1);
            expect(one.dispatchOrder).to.deep.equal(longestFirst(items).map((item) => item.name));
            // Sixteen slots: each item runs once, with its own table, and the sixteen longest go first.
            const sixteen = await simulate(notebooks, "parallel", 16, 2);
            expect(sixteen.calls).to.have.length(200);
            expect([...sixteen.calls.map((call) => call.name)].sort()).to.deep.equal(items.map((item) => item.name).sort());
            for (const call of sixteen.calls) {
                const item = items.find((candidate) => candidate.name === call.name)!;
                expect(call.arguments).to.include({ table: item.arguments!.table, work_item: item.name });
                expect(call.path).to.equal("/simulation/ingest/ingest_table");
            }
            expect(new Set(sixteen.dispatchOrder.slice(0, 16))).to.deep.equal(
                new Set(
                    longestFirst(items)
                        .slice(0, 16)
                        .map((item) => item.name),
                ),
            );
            expect(sixteen.makespan).to.be.at.least(sixteen.idealLongestFirst);
        } finally {
            notebooks.dispose();
        }
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
            { run: "parallel P=2", slot: "worker_1", item: "v", start: 0, end: 0.5 },
            { run: "parallel P=2", slot: "worker_0", item: "w", start: 0.5, end: 2.5 },
        ]);
        expect(spec.facet.row.sort).to.deep.equal(["parallel P=2"]);
        const colour = (results: SimulationResult[]) =>
            (ganttSpec(results, "t") as { spec: { encoding: { color: Record<string, unknown> } } }).spec.encoding.color;
        expect(colour([run])).not.to.have.property("legend");
        const manyItems = {
            ...run,
            calls: skewedItems(21).map((item, i) => ({ name: item.name, thread: "t", start: i, end: i + 1 })),
        } as unknown as SimulationResult;
        expect(colour([manyItems]), "no legend of 21 entries").to.have.property("legend", null);
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
        // The 200-item workload gets a line of its own, with both pool sizes' figures.
        const atScale = (pool: number, makespan: number) => ({
            workload: SCALE_WORKLOAD,
            pool,
            ours: sim(makespan, 3600, 3500),
            poolMap: sim(3900, 3600, 3500),
            failedAttemptSeconds: 0,
        });
        const scaled = checkTargets([rows[0], atScale(8, 3650), atScale(16, 3600)]);
        expect(scaled.map((c) => c.met)).to.deep.equal([true, true, true, true, true]);
        expect(scaled[1].target).to.equal("the same on 200 items of one notebook with skewed durations (skewed-200), at P = 8 and 16");
        expect(scaled[1].detail).to.equal("P=8: 1h 00m 50s against 1h 00m 00s, +1.39%; P=16: 1h 00m 00s against 1h 00m 00s, +0.00%");
        expect(checkTargets([rows[0], atScale(8, 3700)]).map((c) => c.met)).to.deep.equal([false, false, true, true, true]);
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
        const [stack, skewed] = result.stdout.split(/\n(?=Simulating )/);
        expect(stack).to.match(/^Simulating 2 items of 2 notebooks \(test\): total 3m 00s, longest 2m 00s, median 1m 30s; 1 simulated minute = 5 ms\n/);
        expect(stack).to.match(/mode +pool +makespan +lower bound +ideal LPT +ratio +vs ideal +speedup/);
        expect(stack).to.match(/\nsequential +1 /);
        expect(stack).to.match(/\nparallel +2 +[\dhms ]+ +2m 00s +2m 00s /);
        // The For each job, modelled at each pool size as its concurrency, 10 s per iteration by default.
        expect(stack).to.match(/\nfor each +1 +3m 20s /);
        expect(stack).to.match(/\nfor each +2 +2m 10s /);
        expect(stack).to.contain("iterations in list order, 10 s each on top of the item (--for-each-overhead)");
        const svg = fs.readFileSync(chart, "utf8");
        expect(svg).to.match(/^<!-- notebook-orchestration generated this file \(npm run simulate\); the next run replaces it -->\n<svg/);
        expect(svg).to.contain("parallel P=2");
        // Then the built-in 200-item workload at P = 8 and 16, at the --scale given, with no sequential run to compare with.
        expect(skewed).to.match(
            /^Simulating 200 items of 1 notebook \(skewed-200: ingest\/ingest_table over 200 tables, .*seed 7\): .*; 1 simulated minute = 5 ms\n/,
        );
        expect(skewed).to.match(/mode +pool +makespan +lower bound +ideal LPT +ratio +vs ideal\n/);
        expect(skewed).to.match(/\nparallel +8 +[\dhms ]+ +59m 07s +59m 28s /);
        expect(skewed).to.match(/\nparallel +16 +[\dhms ]+ +40m 25s +40m 25s /);
        expect(skewed).to.contain("for each: not modelled, the For each job cannot run these items: the For each task's inputs would be");
    });

    it("leaves out the 200-item workload with --no-skewed, and runs it alone with --workload skewed-200", function () {
        this.timeout(120000);
        const file = workloadFile(JSON.stringify({ workers: [{ name: "daily_sales", expected_seconds: 60 }] }));
        const chart = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "chart-")), "simulation.svg");
        const without = simulateCommand("--workload", file, "--pools", "2", "--scale", "5", "--chart", chart, "--no-skewed");
        expect(without.status, without.stderr).to.equal(0);
        expect(without.stdout).not.to.contain("200 items");
        const alone = simulateCommand("--workload", "skewed-200", "--pools", "16", "--scale", "2", "--chart", chart);
        expect(alone.status, alone.stderr).to.equal(0);
        expect(alone.stdout.match(/Simulating 200 items/g)).to.have.length(1);
        expect(alone.stdout).to.match(/\nsequential +1 .* +1\.00x\n/);
        expect(alone.stdout).to.match(/\nparallel +16 /);
    });

    it("reads the workload from the stack's items and their expected durations by default", () => {
        const workload = workloadFromStack("dev");
        expect(workload.items).to.deep.equal([
            { name: "customer_totals", notebook: "workers/customer_totals", arguments: {}, seconds: 95 },
            { name: "daily_sales", notebook: "workers/daily_sales", arguments: {}, seconds: 240 },
            { name: "product_sales", notebook: "workers/product_sales", arguments: {}, seconds: 120 },
            { name: "order_status", notebook: "workers/order_status", arguments: {}, seconds: 60 },
        ]);
        expect(chooseWorkload(undefined, "dev")).to.deep.equal(workload);
        expect(chooseWorkload(SKEWED_WORKLOAD.name, "dev").items).to.deep.equal(skewedItems());
    });

    it("names the items without an expected duration and how to set one", () => {
        const items: WorkItem[] = [
            { notebook: "ingest/ingest_table", arguments: { table: "sales.orders" }, name: "ingest_table(table=sales.orders)" },
            { notebook: "ingest/ingest_table", arguments: { table: "sales.items" }, name: "items", expectedSeconds: 60 },
            { notebook: "workers/daily_sales", arguments: {}, name: "daily_sales" },
        ];
        expect(() => workloadFromItems(items, "dev")).to.throw(
            `Pulumi.dev.yaml gives no expected duration for items ingest_table(table=sales.orders), daily_sales: set "expected_seconds" on their workItems entries, ` +
                `or workerExpectedSeconds by item name (pulumi config set --path 'workerExpectedSeconds["ingest_table(table=sales.orders)"]' 120); or pass --workload FILE`,
        );
        expect(expectedSecondsConfigPath("daily_sales")).to.equal("workerExpectedSeconds.daily_sales");
        const workload = workloadFromItems([items[1]], "dev");
        expect(workload.items).to.deep.equal([{ name: "items", notebook: "ingest/ingest_table", arguments: { table: "sales.items" }, seconds: 60 }]);
        expect(workload.source).to.equal("workItems and workerExpectedSeconds in Pulumi.dev.yaml");
        expect(workloadFromItems([items[1]], "dev", "SELECT notebook FROM control").source).to.equal(
            "workItems and workerExpectedSeconds in Pulumi.dev.yaml; workItemsQuery is set: the jobs run its rows, which may differ (pass them as --workload FILE)",
        );
    });

    it("takes a workload file's entries as the stack's items by name, or as items of their own with a notebook", () => {
        const file = workloadFile(
            JSON.stringify({
                source: "measured",
                workers: [
                    { name: "daily_sales", expected_seconds: 200 },
                    { name: "orders", expected_seconds: 300, notebook: "ingest/ingest_table", arguments: { table: "sales.orders" } },
                    { name: "items", expected_seconds: 30, notebook: "ingest/ingest_table", arguments: { table: "sales.items" } },
                ],
            }),
        );
        expect(workloadFromFile(file, "dev")).to.deep.equal({
            source: "measured",
            items: [
                { name: "daily_sales", notebook: "workers/daily_sales", arguments: {}, seconds: 200 },
                { name: "orders", notebook: "ingest/ingest_table", arguments: { table: "sales.orders" }, seconds: 300 },
                { name: "items", notebook: "ingest/ingest_table", arguments: { table: "sales.items" }, seconds: 30 },
            ],
        });
        // Entries that all describe their own items need no stack at all.
        const own = workloadFile(JSON.stringify({ workers: [{ name: "a", expected_seconds: 1, notebook: "/Shared/a" }] }));
        expect(workloadFromFile(own, "no-such-stack").items).to.deep.equal([{ name: "a", notebook: "/Shared/a", arguments: {}, seconds: 1 }]);
    });

    for (const [what, content, message] of [
        ["not JSON", "{workers: [", "not valid JSON"],
        ["a negative duration", JSON.stringify({ workers: [{ name: "daily_sales", expected_seconds: -5 }] }), "expected_seconds"],
        [
            "an unknown item",
            JSON.stringify({ workers: [{ name: "nightly_sales", expected_seconds: 5 }] }),
            "unknown item(s) nightly_sales; the items of stack dev are customer_totals, daily_sales, product_sales, order_status " +
                '(give an entry "notebook" and "arguments" to simulate an item the stack does not have)',
        ],
        [
            "the same notebook and arguments twice",
            JSON.stringify({
                workers: [
                    { name: "a", expected_seconds: 5, notebook: "ingest/ingest_table", arguments: { table: "x" } },
                    { name: "b", expected_seconds: 5, notebook: "ingest/ingest_table", arguments: { table: "x" } },
                ],
            }),
            'item 2 ("b"): same notebook and arguments as item 1; expected each item once',
        ],
    ]) {
        it(`rejects a workload file with ${what}, naming the file`, () => {
            const file = workloadFile(content);
            expect(() => workloadFromFile(file, "dev"))
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
            `simulate: ${file}: unknown item(s) nightly_sales; the items of stack dev are customer_totals, daily_sales, product_sales, order_status ` +
                '(give an entry "notebook" and "arguments" to simulate an item the stack does not have)',
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
        expect(() => checkChartFile(directory)).to.throw(`Chart file '${directory}': it is a directory; expected a new file or one a previous run wrote`);
    });

    it("never replaces a file it did not write: a user's chart is refused before simulating, its own is replaced", () => {
        const file = workloadFile(JSON.stringify({ workers: [{ name: "daily_sales", expected_seconds: 60 }] }));
        const chart = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "chart-")), "mine.svg");
        fs.writeFileSync(chart, "<svg>the user's own drawing</svg>");
        const refused = simulateCommand("--workload", file, "--pools", "1", "--scale", "1", "--no-skewed", "--chart", chart);
        expect(refused.status).to.equal(1);
        expect(refused.stderr).to.contain(`Chart file '${chart}': the file exists and no run of these tools wrote it`);
        expect(refused.stdout).not.to.contain("Simulating");
        expect(fs.readFileSync(chart, "utf8")).to.equal("<svg>the user's own drawing</svg>");

        fs.rmSync(chart);
        for (let run = 0; run < 2; run++) {
            const result = simulateCommand("--workload", file, "--pools", "1", "--scale", "1", "--no-skewed", "--chart", chart);
            expect(result.status, result.stderr).to.equal(0);
        }
        expect(fs.readFileSync(chart, "utf8")).to.match(/^<!-- notebook-orchestration generated this file/);
    });

    it("rejects pool sizes outside 1 to 144", () => {
        expect(parsePools("4,2,2")).to.deep.equal([2, 4]);
        expect(() => parsePools("0,2")).to.throw("expected comma-separated pool sizes from 1 to 144");
        expect(() => parsePools("2,x")).to.throw("expected comma-separated pool sizes");
    });
});
