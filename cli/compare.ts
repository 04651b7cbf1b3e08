/**
 * `jobs compare`: the last N completed runs of every orchestration job the stack declares
 * (runs/list with paging, runs/get, and runs/get-output of each run's orchestrate task, or runs/get
 * of the For each task's run for its iterations), reduced to durations, the queue / setup /
 * execution split, success rates, per-worker durations, node-hours (and DBUs and money at the
 * user's rates) and the speedup of each strategy over the sequential one. Collecting does the
 * I/O; building and formatting the report are pure.
 */
import type { JobsClient } from "./api";
import type { BilledUsage } from "./billing";
import {
    clusterUses,
    costCaveat,
    fetchClusterSizes,
    type ClusterSizes,
    formatNodes,
    formatRange,
    runCost,
    type ClusterUse,
    type ComputeType,
    type Nodes,
    type Rates,
    type RunCost,
} from "./cost";
import { CliError } from "./errors";
import { formatDuration, formatPercent, formatRatio, formatTimestamp, table } from "./format";
import { fetchSummary, getJobChecked, runPageUrl, type JobTarget } from "./run";
import {
    isSuccess,
    median,
    round,
    runResult,
    runTiming,
    speedup,
    spread,
    successRate,
    timingSpread,
    workerSpreads,
    type RunTiming,
    type Speedup,
    type Spread,
    type TimingSpread,
    type WorkerSpread,
} from "./stats";
import type { OrchestratorSummary } from "./summary";
import type { JobKind } from "./stack";
import type { JobRun } from "./types";
import type { Workload } from "./workload";

export interface CollectedRun {
    run: JobRun;
    url: string;
    /** The clusters the run's tasks used, and for how long. */
    clusters: ClusterUse[];
    summary?: OrchestratorSummary;
    summaryNote?: string;
}

export interface CollectedJob {
    kind: JobKind;
    jobId: number;
    name?: string;
    runs: CollectedRun[];
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
    const results: R[] = new Array(items.length);
    let next = 0;
    const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
        while (next < items.length) {
            const i = next++;
            results[i] = await fn(items[i]);
        }
    });
    await Promise.all(workers);
    return results;
}

/** Fetches the last `last` completed runs of a job with their summaries (and the sizes of the clusters they used). */
export async function collectJob(
    client: JobsClient,
    target: JobTarget & { kind: JobKind },
    last: number,
    opts: { pageSize?: number; concurrency?: number; sizes?: ClusterSizes } = {},
): Promise<CollectedJob> {
    const job = await getJobChecked(client, target);
    const listed = await client.listRuns(target.id, { completedOnly: true, max: last, pageSize: opts.pageSize });
    if (listed.length === 0) {
        throw new CliError(
            `${target.kind} job ${target.id}${job.settings?.name ? ` (${job.settings.name})` : ""} has no completed runs yet: ` +
                `start one with \`npm run jobs -- run --job ${target.kind}\` and compare when it has finished`,
        );
    }
    const runs = await mapLimit(listed, opts.concurrency ?? 4, async (listedRun) => {
        const run = await client.getRun(listedRun.run_id);
        const found = await fetchSummary(client, run);
        return { run, url: runPageUrl(client, target.id, run), clusters: clusterUses(run), summary: found.summary, summaryNote: found.note };
    });
    if (opts.sizes)
        await fetchClusterSizes(
            client,
            runs.flatMap((r) => r.clusters),
            opts.sizes,
        );
    return { kind: target.kind, jobId: target.id, name: job.settings?.name, runs };
}

export interface RunRow {
    runId: number;
    startTime?: number;
    result: string;
    timing: RunTiming;
    url: string;
    summaryStatus?: string;
    cost: RunCost;
    /** The node count of each cluster the run used, e.g. "3" or "2-5". */
    nodes: string;
    /** What Databricks billed for the run (system.billing.usage), when read and found. */
    billed?: BilledUsage;
}

/** Medians over the successful runs' costs. */
export interface CostSpread {
    nodeHours: Nodes;
    dbus?: Nodes;
    price?: Nodes;
    nodes: string;
    compute: ComputeType[];
}

export interface JobReport {
    kind: JobKind;
    jobId: number;
    name?: string;
    /** Completed runs considered, newest first. */
    runs: RunRow[];
    succeeded: number;
    successRate: number;
    /** Over successful runs only; undefined when none succeeded. */
    duration?: Spread;
    split?: TimingSpread;
    /** The orchestrator's own wall time (`duration_seconds` of SUCCEEDED summaries). */
    orchestrator?: Spread;
    /** Successful worker attempts in all considered runs' summaries, in declared order. */
    workers: WorkerSpread[];
    /** How many runs had a summary (for the For each job: iterations). */
    summaries: number;
    /** Undefined when no successful run's cluster size is known. */
    cost?: CostSpread;
    /** Why some runs' cost is unknown. */
    costNotes: string[];
    /** Billed DBUs (median over the successful runs that have usage records), when read. */
    billed?: { dbus?: number; found: number; of: number };
}

const medianOf = (values: Nodes[]): Nodes => ({ min: median(values.map((v) => v.min)), max: median(values.map((v) => v.max)) });

function costSpread(rows: readonly RunRow[]): CostSpread | undefined {
    const known = rows.filter((r) => r.result === "SUCCESS" && r.cost.unknown.length === 0 && r.cost.compute.length > 0);
    if (known.length === 0) return undefined;
    const all = <K extends "dbus" | "price">(key: K): Nodes[] | undefined => (known.every((r) => r.cost[key]) ? known.map((r) => r.cost[key]!) : undefined);
    const dbus = all("dbus");
    const price = all("price");
    return {
        nodeHours: medianOf(known.map((r) => r.cost.nodeHours)),
        dbus: dbus && medianOf(dbus),
        price: price && medianOf(price),
        nodes: [...new Set(known.map((r) => r.nodes))].join(", "),
        compute: [...new Set(known.flatMap((r) => r.cost.compute))].sort(),
    };
}

/** The billed usage read from system.billing.usage, by job run id, and the warehouse it came from. */
export interface Billing {
    warehouseId: string;
    usage: ReadonlyMap<number, BilledUsage>;
}

export function buildJobReport(job: CollectedJob, sizes: ClusterSizes = new Map(), rates: Rates = {}, billing?: Billing): JobReport {
    const runs = job.runs.map((c) => c.run);
    const ok = runs.filter(isSuccess);
    const timings = ok.map(runTiming);
    const summaries = job.runs.map((c) => c.summary).filter((s): s is OrchestratorSummary => s !== undefined);
    const rows: RunRow[] = job.runs.map((c) => ({
        runId: c.run.run_id,
        startTime: c.run.start_time,
        result: runResult(c.run),
        timing: runTiming(c.run),
        url: c.url,
        summaryStatus: c.summary?.status,
        cost: runCost(c.clusters, sizes, rates),
        nodes: formatNodes(c.clusters, sizes),
        billed: billing?.usage.get(c.run.run_id),
    }));
    const okRows = rows.filter((r) => r.result === "SUCCESS");
    const billedOk = okRows.flatMap((r) => (r.billed ? [r.billed.dbus] : []));
    return {
        kind: job.kind,
        jobId: job.jobId,
        name: job.name,
        runs: rows,
        succeeded: ok.length,
        successRate: successRate(runs) ?? 0,
        duration: spread(timings.map((t) => t.duration)),
        split: timingSpread(timings),
        orchestrator: spread(
            summaries.filter((s) => s.status === "SUCCEEDED" && typeof s.duration_seconds === "number").map((s) => s.duration_seconds as number),
        ),
        workers: workerSpreads(summaries),
        summaries: summaries.length,
        cost: costSpread(rows),
        costNotes: [...new Set(rows.flatMap((r) => r.cost.unknown))],
        billed: billing ? { dbus: billedOk.length ? median(billedOk) : undefined, found: billedOk.length, of: okRows.length } : undefined,
    };
}

export interface WorkerComparison {
    name: string;
    /** The worker's durations in each job that ran it successfully. */
    byJob: Partial<Record<JobKind, WorkerSpread>>;
    /** median(job) / median(sequential): above 1 when a worker is slower alongside others. */
    overSequential: Partial<Record<JobKind, number>>;
}

export interface CompareReport {
    host: string;
    last: number;
    /** The sequential job first, then the others in the order given. */
    jobs: JobReport[];
    /** The speedup of each other job over the sequential one (undefined without successful runs of both). */
    speedups: { kind: JobKind; speedup?: Speedup }[];
    workers: WorkerComparison[];
    rates: Rates;
    /** The warehouse system.billing.usage was read on, when it was. */
    billingWarehouse?: string;
}

/** The report over the collected jobs; one of them must be the sequential job, the baseline of the speedups. */
export function buildCompareReport(
    host: string,
    last: number,
    collected: readonly CollectedJob[],
    sizes: ClusterSizes = new Map(),
    rates: Rates = {},
    billing?: Billing,
): CompareReport {
    const jobs = [...collected]
        .sort((a, b) => (a.kind === "sequential" ? -1 : b.kind === "sequential" ? 1 : 0))
        .map((j) => buildJobReport(j, sizes, rates, billing));
    const base = jobs.find((j) => j.kind === "sequential");
    if (!base) throw new CliError("compare needs the sequential job: it is the baseline of the speedups");
    const names: string[] = [];
    for (const j of jobs) for (const w of j.workers) if (!names.includes(w.name)) names.push(w.name);
    const workers = names.map((name) => {
        const byJob: WorkerComparison["byJob"] = {};
        for (const j of jobs) {
            const w = j.workers.find((x) => x.name === name && x.count > 0);
            if (w) byJob[j.kind] = w;
        }
        const overSequential: WorkerComparison["overSequential"] = {};
        for (const j of jobs.slice(1)) if (byJob[j.kind] && byJob.sequential) overSequential[j.kind] = byJob[j.kind]!.median / byJob.sequential.median;
        return { name, byJob, overSequential };
    });
    return {
        host,
        last,
        jobs,
        speedups: jobs
            .filter((j) => j !== base)
            .map((j) => ({ kind: j.kind, speedup: base.duration && j.duration ? speedup(base.duration, j.duration) : undefined })),
        workers,
        rates,
        billingWarehouse: billing?.warehouseId,
    };
}

// ---------------------------------------------------------------------------------------------
// Text

function spreadText(s: Spread | undefined): string {
    return s ? `${formatDuration(s.median)} (${formatDuration(s.min)}-${formatDuration(s.max)})` : "-";
}

function secs(v: number | undefined): string {
    return v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(1);
}

/** "parallel" -> "par", "for-each" -> "for-each": the short name in ratio column headings. */
function shortKind(kind: JobKind): string {
    return kind === "sequential" ? "seq" : kind === "parallel" ? "par" : kind;
}

export function formatCompare(report: CompareReport): string {
    const jobs = report.jobs;
    const lines: string[] = [];
    lines.push(`Workspace ${report.host}: last ${report.last} completed run${report.last > 1 ? "s" : ""} of each job`);
    lines.push("");
    lines.push(
        table(
            ["Job", "Job id", "Name", "Runs", "Succeeded", "Median", "Min", "Max"],
            jobs.map((j) => [
                j.kind,
                j.jobId,
                j.name ?? "-",
                j.runs.length,
                `${j.succeeded}/${j.runs.length} (${formatPercent(j.successRate)})`,
                formatDuration(j.duration?.median),
                formatDuration(j.duration?.min),
                formatDuration(j.duration?.max),
            ]),
            ["left", "right", "left", "right", "right", "right", "right", "right"],
        ),
    );
    lines.push("");
    lines.push("Where the time goes: median seconds over successful runs (setup = cluster setup of the tasks, other = gaps between tasks)");
    lines.push(
        table(
            ["Job", "Queue", "Setup", "Execution", "Other", "Run duration"],
            jobs.map((j) => [
                j.kind,
                secs(j.split?.queue.median),
                secs(j.split?.setup.median),
                secs(j.split?.execution.median),
                secs(j.split?.other.median),
                secs(j.split?.duration.median),
            ]),
            ["left", "right", "right", "right", "right", "right"],
        ),
    );
    lines.push("");
    const forEach = jobs.some((j) => j.kind === "for-each");
    lines.push(
        `Per-worker duration: median (min-max) over successful worker runs, from the orchestrator summaries${forEach ? " (for-each: from the For each task's iterations)" : ""}`,
    );
    const sumMedians = (j: JobReport): number | undefined =>
        j.workers.length && j.workers.every((w) => w.count > 0) ? j.workers.reduce((s, w) => s + w.median, 0) : undefined;
    const others = jobs.slice(1);
    const workerRows: string[][] = report.workers.map((w) => [
        w.name,
        ...jobs.map((j) => spreadText(w.byJob[j.kind])),
        ...others.map((j) => formatRatio(w.overSequential[j.kind])),
    ]);
    workerRows.push(["sum of worker medians", ...jobs.map((j) => formatDuration(sumMedians(j))), ...others.map(() => "")]);
    workerRows.push([
        "orchestrator (wall)",
        ...jobs.map((j) => (j.kind === "for-each" ? `${spreadText(j.orchestrator)} (task)` : spreadText(j.orchestrator))),
        ...others.map(() => ""),
    ]);
    lines.push(
        table(["Worker", ...jobs.map((j) => j.kind), ...others.map((j) => `${shortKind(j.kind)}/seq`)], workerRows, [
            "left",
            ...jobs.map(() => "right" as const),
            ...others.map(() => "right" as const),
        ]),
    );
    for (const j of jobs.filter((x) => x.summaries < x.runs.length)) {
        const what = j.kind === "for-each" ? "no iterations" : "no orchestrator summary";
        lines.push(`(${j.kind}: ${j.runs.length - j.summaries} of ${j.runs.length} runs had ${what})`);
    }
    lines.push("");
    lines.push(...costLines(report));
    const failed = jobs.flatMap((j) =>
        j.runs.filter((r) => r.result !== "SUCCESS").map((r) => `${j.kind} run ${r.runId} ${formatTimestamp(r.startTime)} ${r.result}`),
    );
    if (failed.length) {
        lines.push(`Not successful (left out of the timings): ${failed.join("; ")}`);
        lines.push("");
    }
    for (const { kind, speedup: s } of report.speedups) {
        if (s) {
            lines.push(
                `Speedup of ${kind} over sequential: ${formatRatio(s.median)} (median/median; range ${formatRatio(s.low)}-${formatRatio(s.high)} ` +
                    `from min sequential/max ${kind} to max sequential/min ${kind}), saving ${formatDuration(s.savedSeconds)} per run`,
            );
        } else {
            const missing = jobs.filter((j) => (j.kind === kind || j.kind === "sequential") && !j.duration).map((j) => j.kind);
            lines.push(`No speedup of ${kind}: no successful ${missing.join(" or ")} run among the last ${report.last}`);
        }
    }
    return `${lines.join("\n")}\n`;
}

/** The cost table (medians over successful runs) and its caveat. */
function costLines(report: CompareReport): string[] {
    const { rates } = report;
    const money = rates.pricePerDbu !== undefined;
    const dbus = rates.dbuPerNodeHour !== undefined;
    const billed = report.billingWarehouse !== undefined;
    const billedText = (j: JobReport): string =>
        j.billed?.dbus !== undefined ? `${j.billed.dbus.toFixed(2)} (${j.billed.found}/${j.billed.of} runs)` : `- (0/${j.billed?.of ?? 0} runs)`;
    const billedCost = (j: JobReport): string =>
        j.billed?.dbus !== undefined && rates.pricePerDbu !== undefined ? (j.billed.dbus * rates.pricePerDbu).toFixed(2) : "-";
    const right = (on: boolean): "right"[] => (on ? ["right"] : []);
    const lines = [
        `Compute per successful run (median): nodes = workers + driver of each cluster the run used, node-hours = nodes x the time from its first task's start to its last task's end` +
            (dbus ? `, DBUs = node-hours x ${rates.dbuPerNodeHour}` : "") +
            (money ? `, cost = DBUs x ${rates.pricePerDbu}` : ""),
        table(
            [
                "Job",
                "Compute",
                "Nodes",
                "Node-hours",
                ...(dbus ? ["DBUs"] : []),
                ...(money ? ["Cost"] : []),
                ...(billed ? ["Billed DBUs"] : []),
                ...(billed && money ? ["Billed cost"] : []),
            ],
            report.jobs.map((j) => [
                j.kind,
                j.cost?.compute.join(", ") ?? "-",
                j.cost?.nodes ?? "-",
                formatRange(j.cost?.nodeHours, 3),
                ...(dbus ? [formatRange(j.cost?.dbus, 2)] : []),
                ...(money ? [formatRange(j.cost?.price, 2)] : []),
                ...(billed ? [billedText(j)] : []),
                ...(billed && money ? [billedCost(j)] : []),
            ]),
            ["left", "left", "right", "right", ...right(dbus), ...right(money), ...right(billed), ...right(billed && money)],
        ),
    ];
    for (const j of report.jobs) for (const note of j.costNotes) lines.push(`(${j.kind}: cost unknown for cluster ${note})`);
    lines.push(costCaveat([...new Set(report.jobs.flatMap((j) => j.cost?.compute ?? []))].sort(), rates));
    if (billed) {
        lines.push(
            `Billed DBUs are measured: system.billing.usage read on SQL warehouse ${report.billingWarehouse}, by usage_metadata.job_run_id (median over the successful runs with records). ` +
                "Only runs on jobs compute have records of their own: an all-purpose cluster's usage is the cluster's, so those runs keep the estimates; records arrive within hours of a run.",
        );
    }
    lines.push("");
    return lines;
}

// ---------------------------------------------------------------------------------------------
// JSON

function spreadJson(s: Spread | undefined): Record<string, number> | null {
    return s ? { count: s.count, median: round(s.median), min: round(s.min), max: round(s.max) } : null;
}

function rangeJson(n: Nodes | undefined, decimals: number): { min: number; max: number } | null {
    return n ? { min: round(n.min, decimals), max: round(n.max, decimals) } : null;
}

function costJson(c: { nodeHours: Nodes; dbus?: Nodes; price?: Nodes; compute: readonly string[] } | undefined): Record<string, unknown> | null {
    return c ? { compute: c.compute, node_hours: rangeJson(c.nodeHours, 4), dbus: rangeJson(c.dbus, 3), price: rangeJson(c.price, 3), measured: false } : null;
}

function jobJson(j: JobReport): Record<string, unknown> {
    return {
        job_id: j.jobId,
        name: j.name ?? null,
        runs: j.runs.length,
        succeeded: j.succeeded,
        success_rate: round(j.successRate, 3),
        duration_seconds: spreadJson(j.duration),
        split_seconds: j.split
            ? {
                  queue: spreadJson(j.split.queue),
                  setup: spreadJson(j.split.setup),
                  execution: spreadJson(j.split.execution),
                  other: spreadJson(j.split.other),
              }
            : null,
        orchestrator_seconds: spreadJson(j.orchestrator),
        workers: j.workers.map((w) => ({ name: w.name, ...(spreadJson(w.count ? w : undefined) ?? { count: 0, median: null, min: null, max: null }) })),
        /** Medians over the successful runs; estimates from the cluster size (measured: false). */
        cost: j.cost ? { nodes: j.cost.nodes, ...costJson(j.cost) } : null,
        /** Measured: DBUs billed (system.billing.usage), median over the successful runs found; null when not read. */
        billed: j.billed
            ? { dbus: j.billed.dbus !== undefined ? round(j.billed.dbus, 3) : null, runs_found: j.billed.found, runs: j.billed.of, measured: true }
            : null,
        run_list: j.runs.map((r) => ({
            run_id: r.runId,
            start_time: r.startTime ? new Date(r.startTime).toISOString() : null,
            result: r.result,
            duration_seconds: round(r.timing.duration),
            queue_seconds: round(r.timing.queue),
            setup_seconds: round(r.timing.setup),
            execution_seconds: round(r.timing.execution),
            other_seconds: round(r.timing.other),
            summary_status: r.summaryStatus ?? null,
            nodes: r.nodes,
            cost: r.cost.compute.length && r.cost.unknown.length === 0 ? costJson(r.cost) : null,
            billed_dbus: r.billed ? round(r.billed.dbus, 3) : null,
            url: r.url,
        })),
    };
}

/** The machine-readable report printed by `compare --json`. */
export function compareToJson(report: CompareReport): Record<string, unknown> {
    return {
        workspace: report.host,
        last: report.last,
        jobs: Object.fromEntries(report.jobs.map((j) => [j.kind, jobJson(j)])),
        speedups: Object.fromEntries(
            report.speedups.map(({ kind, speedup: s }) => [
                kind,
                s ? { median: round(s.median, 3), low: round(s.low, 3), high: round(s.high, 3), saved_seconds: round(s.savedSeconds) } : null,
            ]),
        ),
        rates: { dbu_per_node_hour: report.rates.dbuPerNodeHour ?? null, price_per_dbu: report.rates.pricePerDbu ?? null },
        billing_warehouse: report.billingWarehouse ?? null,
        workers: report.workers.map((w) => ({
            name: w.name,
            median_seconds: Object.fromEntries(report.jobs.map((j) => [j.kind, w.byJob[j.kind] ? round(w.byJob[j.kind]!.median) : null])),
            over_sequential: Object.fromEntries(
                report.jobs.slice(1).map((j) => [j.kind, w.overSequential[j.kind] !== undefined ? round(w.overSequential[j.kind]!, 3) : null]),
            ),
        })),
    };
}

// ---------------------------------------------------------------------------------------------
// Workload file

/** The median per-worker durations of one job's runs as a workload for `npm run simulate`. */
export function workloadFromReport(report: CompareReport, kind: JobKind): Workload {
    const job = report.jobs.find((j) => j.kind === kind);
    if (!job) throw new CliError(`no ${kind} job in this comparison: choose another with --workload-from`);
    const missing = job.workers.filter((w) => w.count === 0).map((w) => w.name);
    if (job.workers.length === 0) {
        throw new CliError(`no per-worker durations in the ${kind} job's runs (no orchestrator summary found): cannot write a workload file`);
    }
    if (missing.length) {
        throw new CliError(
            `no successful run of worker${missing.length > 1 ? "s" : ""} ${missing.join(", ")} in the ${kind} job's last ${report.last} runs: cannot write a workload file`,
        );
    }
    const counts = [...new Set(job.workers.map((w) => w.count))];
    const samples = counts.length === 1 ? `${counts[0]}` : `${Math.min(...counts)}-${Math.max(...counts)}`;
    return {
        source: `median of ${samples} successful ${kind} run${samples === "1" ? "" : "s"} of job ${job.jobId}${job.name ? ` (${job.name})` : ""} on ${report.host}, ${new Date().toISOString().slice(0, 10)}`,
        // With its notebook and arguments an entry is an item of its own, so the file can be simulated without the stack's config.
        workers: job.workers.map((w) => ({
            name: w.name,
            expected_seconds: round(w.median),
            ...(w.notebook !== undefined
                ? { notebook: w.notebook, ...(w.arguments && Object.keys(w.arguments).length > 0 ? { arguments: w.arguments } : {}) }
                : {}),
        })),
    };
}
