/**
 * `npm run simulate [-- --stack dev | --workload FILE] [--pools 1,2,4,8] [--scale 10] [--chart FILE] [--for-each-overhead 10]`
 *
 * Runs the real rendered sequential and parallel orchestrators locally for each pool size, with each
 * worker answered by a stub that sleeps for its expected duration scaled down, and prints the makespan
 * against its lower bound and the speedup over sequential, plus a Gantt chart of every run: how to pick
 * `maxWorkers` before spending cluster time. The For each job (forEachJob) is modelled beside them, at
 * each pool size as its concurrency: iterations in list order, each paying a fixed overhead.
 */
import * as fs from "fs";
import * as path from "path";
import { Command, InvalidArgumentError } from "commander";
import { parseStackConfig, MAX_WORKERS_HARD_LIMIT } from "../components/config";
import { WORKER_NAMES } from "../components/workers";
import { formatDuration, formatRatio, table } from "../cli/format";
import { parseWorkload } from "../cli/workload";
import { asyncSimulationText } from "./asyncSimulation";
import { chartFileContent, checkChartFile, renderVegaLiteSvg } from "./charts";
import { projectName, readStackConfigFile } from "./offline";
import { FOR_EACH_ITERATION_OVERHEAD_SECONDS, forEachResult, simulate, SimulatedWorker, SimulationNotebooks, SimulationResult } from "./simulation";

export interface Workload {
    readonly source: string;
    readonly workers: readonly SimulatedWorker[];
}

/** A workload file (as `jobs compare --save-workload` writes it), checked against the stack's workers. */
export function workloadFromFile(file: string): Workload {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (error) {
        throw new Error(`${file}: cannot read the workload file (${(error as Error).message})`);
    }
    const workload = parseWorkload(text, file);
    const unknown = workload.workers.map((w) => w.name).filter((name) => !WORKER_NAMES.includes(name));
    if (unknown.length > 0) {
        throw new Error(`${file}: unknown worker(s) ${unknown.join(", ")}; the stack's workers are ${WORKER_NAMES.join(", ")}`);
    }
    return { source: workload.source || file, workers: workload.workers.map((w) => ({ name: w.name, seconds: w.expected_seconds })) };
}

/** The expected durations configured for a stack (workerExpectedSeconds in Pulumi.<stack>.yaml). */
export function workloadFromStack(stack: string): Workload {
    const { config, secretKeys } = readStackConfigFile(stack);
    const project = projectName();
    const values = Object.fromEntries(Object.entries(config).map(([key, value]) => [key.replace(`${project}:`, ""), value]));
    const expected = parseStackConfig({ project, stack, get: (key) => values[key], isSecret: (key) => secretKeys.includes(`${project}:${key}`) }).orchestration
        .expectedSeconds;
    const missing = WORKER_NAMES.filter((name) => expected[name] === undefined);
    if (missing.length > 0) {
        throw new Error(
            `Pulumi.${stack}.yaml has no workerExpectedSeconds for ${missing.join(", ")}: set them ` +
                `(pulumi config set --path 'workerExpectedSeconds.${missing[0]}' 120) or pass --workload FILE`,
        );
    }
    return { source: `workerExpectedSeconds in Pulumi.${stack}.yaml`, workers: WORKER_NAMES.map((name) => ({ name, seconds: expected[name] })) };
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

/** Vega-Lite spec of a Gantt chart: one row of bars per run, a bar per worker run, in simulated minutes. */
export function ganttSpec(results: readonly SimulationResult[], title: string): Record<string, unknown> {
    const labels = results.map(runLabel);
    // Each run's clock starts at its first dispatch, so notebook start-up does not shift the bars.
    const values = results.flatMap((result) => {
        const first = Math.min(...result.calls.map((call) => call.start));
        return result.calls.map((call) => ({
            run: runLabel(result),
            slot: call.thread,
            worker: call.name,
            start: (call.start - first) / 60,
            end: (call.end - first) / 60,
        }));
    });
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
                color: { field: "worker", type: "nominal", title: "worker" },
                tooltip: [{ field: "worker" }, { field: "start", format: ".1f" }, { field: "end", format: ".1f" }],
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

export function simulationTable(results: readonly SimulationResult[]): string {
    const sequential = results.find((r) => r.mode === "sequential");
    return table(
        ["mode", "pool", "makespan", "lower bound", "ratio", "speedup"],
        results.map((r) => [
            r.mode,
            r.pool,
            formatDuration(r.makespan),
            formatDuration(r.lowerBound),
            (r.makespan / r.lowerBound).toFixed(2),
            sequential ? formatRatio(sequential.makespan / r.makespan) : "-",
        ]),
        ["left", "right", "right", "right", "right", "right"],
    );
}

async function main(): Promise<void> {
    const options = new Command("simulate")
        .description("Run the orchestrators locally on a workload's expected durations, for several pool sizes")
        .option("--stack <name>", "take the workload from workerExpectedSeconds in Pulumi.<name>.yaml", "dev")
        .option("--workload <file>", 'take the workload from a file ({"workers": [{"name", "expected_seconds"}]}), e.g. from `jobs compare --save-workload`')
        .option("--pools <list>", "pool sizes (max_workers) to try", parsePools, [1, 2, 4, 8])
        .option("--scale <ms>", "real milliseconds per simulated minute", parseScale, 10)
        .option(
            "--for-each-overhead <seconds>",
            "extra seconds per For each iteration (a task run of its own) over a worker's expected duration",
            parseOverhead,
            FOR_EACH_ITERATION_OVERHEAD_SECONDS,
        )
        .option("--chart <file>", "where to write the Gantt chart (.svg or .html)", path.join("build", "simulation.svg"))
        .option("--async", "model the asynchronous fan-out instead: insert-to-start and a 500-entry drain, schedule only vs table update trigger")
        .parse()
        .opts<{ stack: string; workload?: string; pools: number[]; scale: number; forEachOverhead: number; chart: string; async?: boolean }>();

    // Everything that can be checked is checked before the simulation spends its minutes.
    const workload = options.workload ? workloadFromFile(options.workload) : workloadFromStack(options.stack);
    if (options.async) {
        console.log(
            asyncSimulationText(
                workload.workers.map((w) => w.seconds),
                workload.source,
            ),
        );
        return;
    }
    checkChartFile(options.chart);
    const durations = workload.workers.map((w) => w.seconds);
    console.log(
        `Simulating ${workload.workers.length} workers (${workload.source}): total ${formatDuration(durations.reduce((a, b) => a + b, 0))}, ` +
            `longest ${formatDuration(Math.max(...durations))}; 1 simulated minute = ${options.scale} ms\n`,
    );
    const notebooks = new SimulationNotebooks(workload.workers);
    const results: SimulationResult[] = [];
    try {
        results.push(await simulate(notebooks, "sequential", 1, options.scale));
        for (const pool of options.pools) {
            results.push(await simulate(notebooks, "parallel", pool, options.scale));
        }
    } finally {
        notebooks.dispose();
    }
    for (const pool of options.pools) {
        results.push(forEachResult(workload.workers, pool, { iterationOverheadSeconds: options.forEachOverhead }));
    }
    console.log(simulationTable(results));
    console.log(
        `\nfor each: the For each job (forEachJob), modelled: concurrency = pool, iterations in list order, ` +
            `${options.forEachOverhead} s each on top of the worker (--for-each-overhead)`,
    );
    console.log(`\nSmallest pool within 2% of the shortest makespan: max_workers = ${smallestGoodPool(results)}`);

    const svg = await renderVegaLiteSvg(ganttSpec(results, `Simulated runs: ${workload.source}`));
    fs.writeFileSync(options.chart, chartFileContent(options.chart, svg, "Simulated orchestration runs"));
    console.log(`Gantt chart: ${options.chart}`);
}

if (require.main === module) {
    main().catch((error: unknown) => {
        console.error(`simulate: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
    });
}
