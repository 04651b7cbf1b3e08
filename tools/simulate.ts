/**
 * `npm run simulate [-- --stack dev | --workload FILE | --workload skewed-200] [--pools 1,2,4,8] [--scale 10] [--chart FILE] [--for-each-overhead 10] [--no-skewed]`
 *
 * Runs the real rendered sequential and parallel orchestrators locally for each pool size, with each
 * work item answered by a stub that sleeps for its expected duration scaled down, and prints the
 * makespan against its lower bound and the ideal longest-first makespan, and the speedup over
 * sequential, plus a Gantt chart of every run: how to pick `maxWorkers` before spending cluster time.
 * The For each job (forEachJob) is modelled beside them, at each pool size as its concurrency:
 * iterations in list order, each paying a fixed overhead. Then, unless the workload is already that
 * one, the built-in 200-item workload (one notebook over 200 tables, skewed durations) at P = 8 and 16.
 */
import * as fs from "fs";
import * as path from "path";
import { Command, InvalidArgumentError } from "commander";
import { parseStackConfig, MAX_WORKERS_HARD_LIMIT } from "../components/config";
import { forEachShape, WorkItem } from "../components/workItems";
import { formatDuration, formatRatio, table } from "../cli/format";
import { parseWorkload } from "../cli/workload";
import { asyncSimulationText } from "./asyncSimulation";
import { chartFileContent, checkChartFile, renderVegaLiteSvg } from "./charts";
import { projectName, readStackConfigFile } from "./offline";
import {
    FOR_EACH_ITERATION_OVERHEAD_SECONDS,
    forEachResult,
    itemNotebook,
    simulate,
    SimulatedItem,
    SimulationNotebooks,
    SimulationResult,
    SKEWED_WORKLOAD,
    skewedItems,
    workloadProblems,
} from "./simulation";

export interface Workload {
    readonly source: string;
    readonly items: readonly SimulatedItem[];
}

/** Pool sizes the built-in 200-item workload is simulated at. */
export const SKEWED_POOLS: readonly number[] = [8, 16];

/**
 * Real milliseconds per simulated minute for the built-in 200-item workload shown after the stack's,
 * unless --scale is given: at the default 10 ms a millisecond of per-call jitter is 6 simulated
 * seconds, and 25 dispatches a slot would blur the comparison with the ideal; at 50 it takes 5 s.
 */
export const SKEWED_MIN_SCALE = 50;

/** The stack's work items (workItems in Pulumi.<stack>.yaml, default the four ETL workers), estimates merged in, and its workItemsQuery. */
function stackWorkItems(stack: string): { items: readonly WorkItem[]; query?: string } {
    const { config, secretKeys } = readStackConfigFile(stack);
    const project = projectName();
    const values = Object.fromEntries(Object.entries(config).map(([key, value]) => [key.replace(`${project}:`, ""), value]));
    return parseStackConfig({ project, stack, get: (key) => values[key], isSecret: (key) => secretKeys.includes(`${project}:${key}`) }).workItems;
}

function stackItems(stack: string): readonly WorkItem[] {
    return stackWorkItems(stack).items;
}

/** `workerExpectedSeconds.<name>` as `pulumi config set --path` takes it: brackets for names that are not plain words. */
export function expectedSecondsConfigPath(name: string): string {
    return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `workerExpectedSeconds.${name}` : `workerExpectedSeconds[${JSON.stringify(name)}]`;
}

function simulatedItem(item: WorkItem, seconds: number): SimulatedItem {
    return { name: item.name, notebook: item.notebook, arguments: item.arguments, seconds };
}

/** The stack's items with their expected durations (`expected_seconds` in workItems, or workerExpectedSeconds by item name). */
export function workloadFromStack(stack: string): Workload {
    const { items, query } = stackWorkItems(stack);
    return workloadFromItems(items, stack, query);
}

/** Configured items as a workload; every one needs an expected duration. */
export function workloadFromItems(items: readonly WorkItem[], stack: string, query?: string): Workload {
    const missing = items.filter((item) => item.expectedSeconds === undefined).map((item) => item.name);
    if (missing.length > 0) {
        throw new Error(
            `Pulumi.${stack}.yaml gives no expected duration for item${missing.length > 1 ? "s" : ""} ${missing.join(", ")}: set "expected_seconds" on ` +
                `${missing.length > 1 ? "their workItems entries" : "its workItems entry"}, or workerExpectedSeconds by item name ` +
                `(pulumi config set --path '${expectedSecondsConfigPath(missing[0])}' 120); or pass --workload FILE`,
        );
    }
    // With a query, the orchestrators run the control table's rows, which only a workspace can read.
    const caveat = query === undefined ? "" : "; workItemsQuery is set: the jobs run its rows, which may differ (pass them as --workload FILE)";
    return {
        source: `workItems and workerExpectedSeconds in Pulumi.${stack}.yaml${caveat}`,
        items: items.map((item) => simulatedItem(item, item.expectedSeconds as number)),
    };
}

/**
 * A workload file (as `jobs compare --save-workload` writes it): entries name the stack's items, or
 * describe items of their own with `notebook` (and `arguments`). The stack is read only when needed.
 */
export function workloadFromFile(file: string, stack: string): Workload {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (error) {
        throw new Error(`${file}: cannot read the workload file (${(error as Error).message})`);
    }
    const workload = parseWorkload(text, file);
    const named = workload.workers.filter((entry) => entry.notebook === undefined);
    const known = named.length > 0 ? new Map(stackItems(stack).map((item) => [item.name, item])) : new Map<string, WorkItem>();
    const unknown = named.map((entry) => entry.name).filter((name) => !known.has(name));
    if (unknown.length > 0) {
        throw new Error(
            `${file}: unknown item(s) ${unknown.join(", ")}; the items of stack ${stack} are ${[...known.keys()].join(", ")} ` +
                `(give an entry "notebook" and "arguments" to simulate an item the stack does not have)`,
        );
    }
    const items = workload.workers.map((entry) =>
        entry.notebook === undefined
            ? simulatedItem(known.get(entry.name) as WorkItem, entry.expected_seconds)
            : { name: entry.name, notebook: entry.notebook, arguments: entry.arguments ?? {}, seconds: entry.expected_seconds },
    );
    const problems = workloadProblems(items);
    if (problems.length > 0) {
        throw new Error(`${file}: ${problems.join("; ")}`);
    }
    return { source: workload.source || file, items };
}

/** The built-in workload at scale: one notebook over 200 tables, Pareto durations, seeded. */
export function skewedWorkload(): Workload {
    const { name, count, notebook, minimumSeconds, alpha, seed } = SKEWED_WORKLOAD;
    return {
        source: `${name}: ${notebook} over ${count} tables, Pareto durations from ${minimumSeconds} s (alpha ${alpha}), seed ${seed}`,
        items: skewedItems(),
    };
}

/** `--workload` names a file, or the built-in `skewed-200`; without it, the stack's items. */
export function chooseWorkload(workload: string | undefined, stack: string): Workload {
    if (workload === SKEWED_WORKLOAD.name) {
        return skewedWorkload();
    }
    return workload ? workloadFromFile(workload, stack) : workloadFromStack(stack);
}

export function parsePools(value: string): number[] {
    const pools = value.split(",").map((part) => part.trim());
    const parsed = pools.map(Number);
    if (pools.length === 0 || parsed.some((p, i) => !/^\d+$/.test(pools[i]) || p < 1 || p > MAX_WORKERS_HARD_LIMIT)) {
        throw new InvalidArgumentError(`expected comma-separated pool sizes from 1 to ${MAX_WORKERS_HARD_LIMIT}, e.g. 1,2,4,8`);
    }
    return [...new Set(parsed)].sort((a, b) => a - b);
}

function parseOverhead(value: string): number {
    const seconds = Number(value);
    if (value.trim() === "" || !Number.isFinite(seconds) || seconds < 0 || seconds > 3600) {
        throw new InvalidArgumentError("expected simulated seconds per For each iteration, from 0 to 3600 (e.g. 10)");
    }
    return seconds;
}

function parseScale(value: string): number {
    const scale = Number(value);
    if (!Number.isFinite(scale) || scale <= 0 || scale > 60000) {
        throw new InvalidArgumentError("expected real milliseconds per simulated minute, greater than 0 (e.g. 10)");
    }
    return scale;
}

export function runLabel(result: Pick<SimulationResult, "mode" | "pool">): string {
    return result.mode === "sequential" ? "sequential" : `${result.mode} P=${result.pool}`;
}

/** Above this many items a colour legend would be a list longer than the chart: bars stay coloured, the tooltip names them. */
const LEGEND_ITEM_LIMIT = 20;

/** Vega-Lite spec of a Gantt chart: one row of bars per run, a bar per item run, in simulated minutes. */
export function ganttSpec(results: readonly SimulationResult[], title: string): Record<string, unknown> {
    const labels = results.map(runLabel);
    // Each run's clock starts at its first dispatch, so notebook start-up does not shift the bars.
    const values = results.flatMap((result) => {
        const first = Math.min(...result.calls.map((call) => call.start));
        return result.calls.map((call) => ({
            run: runLabel(result),
            slot: call.thread,
            item: call.name,
            start: (call.start - first) / 60,
            end: (call.end - first) / 60,
        }));
    });
    const items = new Set(values.map((v) => v.item)).size;
    return {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title,
        data: { values },
        facet: { row: { field: "run", type: "nominal", sort: labels, title: null, header: { labelAngle: 0, labelAlign: "left" } } },
        resolve: { scale: { y: "independent" } },
        spec: {
            width: 640,
            height: { step: 16 },
            mark: { type: "bar", cornerRadius: 2 },
            encoding: {
                x: { field: "start", type: "quantitative", title: "simulated minutes since the first dispatch" },
                x2: { field: "end" },
                y: { field: "slot", type: "nominal", title: null, axis: { labels: false, ticks: false } },
                color: { field: "item", type: "nominal", title: "item", ...(items > LEGEND_ITEM_LIMIT ? { legend: null } : {}) },
                tooltip: [{ field: "item" }, { field: "start", format: ".1f" }, { field: "end", format: ".1f" }],
            },
        },
    };
}

/** The smallest parallel pool whose makespan is within 2% of the shortest one: more slots would buy nothing. */
export function smallestGoodPool(results: readonly SimulationResult[]): number {
    const parallel = results.filter((r) => r.mode === "parallel");
    const shortest = Math.min(...parallel.map((r) => r.makespan));
    return Math.min(...parallel.filter((r) => r.makespan <= shortest * 1.02).map((r) => r.pool));
}

/** Makespan against its lower bound and the ideal longest-first makespan; the speedup over sequential when it was run. */
export function simulationTable(results: readonly SimulationResult[]): string {
    const sequential = results.find((r) => r.mode === "sequential");
    const pct = (ratio: number) => `${ratio >= 1 ? "+" : ""}${((ratio - 1) * 100).toFixed(2)}%`;
    return table(
        ["mode", "pool", "makespan", "lower bound", "ideal LPT", "ratio", "vs ideal", ...(sequential ? ["speedup"] : [])],
        results.map((r) => [
            r.mode,
            r.pool,
            formatDuration(r.makespan),
            formatDuration(r.lowerBound),
            formatDuration(r.idealLongestFirst),
            (r.makespan / r.lowerBound).toFixed(2),
            pct(r.makespan / r.idealLongestFirst),
            ...(sequential ? [formatRatio(sequential.makespan / r.makespan)] : []),
        ]),
        ["left", "right", "right", "right", "right", "right", "right", "right"],
    );
}

/** "Simulating 4 items (source): total ..., longest ...; 1 simulated minute = 10 ms". */
export function workloadLine(workload: Workload, scale: number): string {
    const durations = workload.items.map((item) => item.seconds);
    const notebooks = new Set(workload.items.map(itemNotebook)).size;
    const sorted = [...durations].sort((a, b) => a - b);
    const median = sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    return (
        `Simulating ${workload.items.length} items of ${notebooks} notebook${notebooks > 1 ? "s" : ""} (${workload.source}): ` +
        `total ${formatDuration(durations.reduce((a, b) => a + b, 0))}, longest ${formatDuration(sorted[sorted.length - 1])}, ` +
        `median ${formatDuration(median)}; 1 simulated minute = ${scale} ms`
    );
}

/** The For each job's rows at each pool size, or why it cannot run these items. */
function forEachRows(items: readonly SimulatedItem[], pools: readonly number[], overheadSeconds: number): { rows: SimulationResult[]; note: string } {
    const shape = forEachShape(items.map((item) => ({ name: item.name, notebook: itemNotebook(item), arguments: item.arguments ?? {} })));
    if (shape.kind === "unsupported") {
        return { rows: [], note: `for each: not modelled, the For each job cannot run these items: ${shape.reason}` };
    }
    return {
        rows: pools.map((pool) => forEachResult(items, pool, { iterationOverheadSeconds: overheadSeconds })),
        note:
            `for each: the For each job (forEachJob), modelled: concurrency = pool, iterations in list order, ` +
            `${overheadSeconds} s each on top of the item (--for-each-overhead)`,
    };
}

/** Runs the orchestrators on a workload: sequential once when asked, then parallel at each pool size. */
async function simulateWorkload(items: readonly SimulatedItem[], pools: readonly number[], scale: number, sequential: boolean): Promise<SimulationResult[]> {
    const notebooks = new SimulationNotebooks(items);
    const results: SimulationResult[] = [];
    try {
        if (sequential) {
            results.push(await simulate(notebooks, "sequential", 1, scale));
        }
        for (const pool of pools) {
            results.push(await simulate(notebooks, "parallel", pool, scale));
        }
    } finally {
        notebooks.dispose();
    }
    return results;
}

async function main(): Promise<void> {
    const program = new Command("simulate")
        .description("Run the orchestrators locally on a workload's expected durations, for several pool sizes")
        .option("--stack <name>", "take the workload from the work items and their expected durations in Pulumi.<name>.yaml", "dev")
        .option(
            "--workload <file>",
            `take the workload from a file ({"workers": [{"name", "expected_seconds"}]}, e.g. from \`jobs compare --save-workload\`), or ${SKEWED_WORKLOAD.name} for the built-in 200-item workload`,
        )
        .option("--pools <list>", "pool sizes (max_workers) to try", parsePools, [1, 2, 4, 8])
        .option("--scale <ms>", "real milliseconds per simulated minute", parseScale, 10)
        .option(
            "--for-each-overhead <seconds>",
            "extra seconds per For each iteration (a task run of its own) over an item's expected duration",
            parseOverhead,
            FOR_EACH_ITERATION_OVERHEAD_SECONDS,
        )
        .option("--chart <file>", "where to write the Gantt chart (.svg or .html)", path.join("build", "simulation.svg"))
        .option("--no-skewed", `do not also simulate the built-in ${SKEWED_WORKLOAD.name} workload at P = ${SKEWED_POOLS.join(" and ")}`)
        .option("--async", "model the asynchronous fan-out instead: insert-to-start and a 500-entry drain, schedule only vs table update trigger")
        .parse();
    const options = program.opts<{
        stack: string;
        workload?: string;
        pools: number[];
        scale: number;
        forEachOverhead: number;
        chart: string;
        skewed: boolean;
        async?: boolean;
    }>();

    // Everything that can be checked is checked before the simulation spends its minutes.
    const workload = chooseWorkload(options.workload, options.stack);
    if (options.async) {
        console.log(
            asyncSimulationText(
                workload.items.map((item) => item.seconds),
                workload.source,
            ),
        );
        return;
    }
    checkChartFile(options.chart);
    console.log(`${workloadLine(workload, options.scale)}\n`);
    const results = await simulateWorkload(workload.items, options.pools, options.scale, true);
    const forEach = forEachRows(workload.items, options.pools, options.forEachOverhead);
    console.log(simulationTable([...results, ...forEach.rows]));
    console.log(`\n${forEach.note}`);
    console.log(`\nSmallest pool within 2% of the shortest makespan: max_workers = ${smallestGoodPool(results)}`);

    const svg = await renderVegaLiteSvg(ganttSpec([...results, ...forEach.rows], `Simulated runs: ${workload.source}`));
    fs.writeFileSync(options.chart, chartFileContent(options.chart, svg, "Simulated orchestration runs", "npm run simulate"));
    console.log(`Gantt chart: ${options.chart}`);

    if (options.skewed && options.workload !== SKEWED_WORKLOAD.name) {
        const skewed = skewedWorkload();
        const scale = program.getOptionValueSource("scale") === "cli" ? options.scale : SKEWED_MIN_SCALE;
        console.log(`\n${workloadLine(skewed, scale)}\n`);
        const skewedResults = await simulateWorkload(skewed.items, SKEWED_POOLS, scale, false);
        const skewedForEach = forEachRows(skewed.items, SKEWED_POOLS, options.forEachOverhead);
        console.log(simulationTable([...skewedResults, ...skewedForEach.rows]));
        console.log(`\n${skewedForEach.note}`);
    }
}

if (require.main === module) {
    main().catch((error: unknown) => {
        console.error(`simulate: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
    });
}
