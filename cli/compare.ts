/**
 * `jobs compare`: the last N completed runs of both jobs (runs/list with paging, runs/get, and
 * runs/get-output of each run's orchestrate task), reduced to durations, the queue / setup /
 * execution split, success rates, per-worker durations and the speedup of parallel over
 * sequential. Collecting does the I/O; building and formatting the report are pure.
 */
import type { JobsClient } from "./api";
import { CliError } from "./errors";
import { formatDuration, formatPercent, formatRatio, formatTimestamp, table } from "./format";
import { fetchSummary, getJobChecked, runPageUrl, type JobTarget } from "./run";
import {
    isSuccess,
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

/** Fetches the last `last` completed runs of a job with their summaries. */
export async function collectJob(
    client: JobsClient,
    target: JobTarget & { kind: JobKind },
    last: number,
    opts: { pageSize?: number; concurrency?: number } = {},
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
        return { run, url: runPageUrl(client, target.id, run), summary: found.summary, summaryNote: found.note };
    });
    return { kind: target.kind, jobId: target.id, name: job.settings?.name, runs };
}

export interface RunRow {
    runId: number;
    startTime?: number;
    result: string;
    timing: RunTiming;
    url: string;
    summaryStatus?: string;
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
    /** How many runs had a summary. */
    summaries: number;
}

export function buildJobReport(job: CollectedJob): JobReport {
    const runs = job.runs.map((c) => c.run);
    const ok = runs.filter(isSuccess);
    const timings = ok.map(runTiming);
    const summaries = job.runs.map((c) => c.summary).filter((s): s is OrchestratorSummary => s !== undefined);
    return {
        kind: job.kind,
        jobId: job.jobId,
        name: job.name,
        runs: job.runs.map((c) => ({
            runId: c.run.run_id,
            startTime: c.run.start_time,
            result: runResult(c.run),
            timing: runTiming(c.run),
            url: c.url,
            summaryStatus: c.summary?.status,
        })),
        succeeded: ok.length,
        successRate: successRate(runs) ?? 0,
        duration: spread(timings.map((t) => t.duration)),
        split: timingSpread(timings),
        orchestrator: spread(
            summaries.filter((s) => s.status === "SUCCEEDED" && typeof s.duration_seconds === "number").map((s) => s.duration_seconds as number),
        ),
        workers: workerSpreads(summaries),
        summaries: summaries.length,
    };
}

export interface WorkerComparison {
    name: string;
    sequential?: WorkerSpread;
    parallel?: WorkerSpread;
    /** median(parallel) / median(sequential): above 1 when a worker is slower alongside others. */
    ratio?: number;
}

export interface CompareReport {
    host: string;
    last: number;
    sequential: JobReport;
    parallel: JobReport;
    speedup?: Speedup;
    workers: WorkerComparison[];
}

export function buildCompareReport(host: string, last: number, seq: CollectedJob, par: CollectedJob): CompareReport {
    const sequential = buildJobReport(seq);
    const parallel = buildJobReport(par);
    const names = [...sequential.workers.map((w) => w.name)];
    for (const w of parallel.workers) if (!names.includes(w.name)) names.push(w.name);
    const workers = names.map((name) => {
        const s = sequential.workers.find((w) => w.name === name && w.count > 0);
        const p = parallel.workers.find((w) => w.name === name && w.count > 0);
        return { name, sequential: s, parallel: p, ratio: s && p ? p.median / s.median : undefined };
    });
    return {
        host,
        last,
        sequential,
        parallel,
        speedup: sequential.duration && parallel.duration ? speedup(sequential.duration, parallel.duration) : undefined,
        workers,
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

export function formatCompare(report: CompareReport): string {
    const jobs = [report.sequential, report.parallel];
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
    lines.push("Per-worker duration: median (min-max) over successful worker runs, from the orchestrator summaries");
    const sumMedians = (j: JobReport): number | undefined =>
        j.workers.length && j.workers.every((w) => w.count > 0) ? j.workers.reduce((s, w) => s + w.median, 0) : undefined;
    const seqSum = sumMedians(report.sequential);
    const parSum = sumMedians(report.parallel);
    const workerRows: string[][] = report.workers.map((w) => [w.name, spreadText(w.sequential), spreadText(w.parallel), formatRatio(w.ratio)]);
    workerRows.push(["sum of worker medians", formatDuration(seqSum), formatDuration(parSum), ""]);
    workerRows.push(["orchestrator (wall)", spreadText(report.sequential.orchestrator), spreadText(report.parallel.orchestrator), ""]);
    lines.push(table(["Worker", "sequential", "parallel", "par/seq"], workerRows, ["left", "right", "right", "right"]));
    const noSummary = jobs.filter((j) => j.summaries < j.runs.length);
    for (const j of noSummary) {
        lines.push(`(${j.kind}: ${j.runs.length - j.summaries} of ${j.runs.length} runs had no orchestrator summary)`);
    }
    lines.push("");
    const failed = jobs.flatMap((j) =>
        j.runs.filter((r) => r.result !== "SUCCESS").map((r) => `${j.kind} run ${r.runId} ${formatTimestamp(r.startTime)} ${r.result}`),
    );
    if (failed.length) {
        lines.push(`Not successful (left out of the timings): ${failed.join("; ")}`);
        lines.push("");
    }
    if (report.speedup) {
        const s = report.speedup;
        lines.push(
            `Speedup of parallel over sequential: ${formatRatio(s.median)} (median/median; range ${formatRatio(s.low)}-${formatRatio(s.high)} ` +
                `from min sequential/max parallel to max sequential/min parallel), saving ${formatDuration(s.savedSeconds)} per run`,
        );
    } else {
        const missing = jobs.filter((j) => !j.duration).map((j) => j.kind);
        lines.push(`No speedup: no successful ${missing.join(" or ")} run among the last ${report.last}`);
    }
    return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------
// JSON

function spreadJson(s: Spread | undefined): Record<string, number> | null {
    return s ? { count: s.count, median: round(s.median), min: round(s.min), max: round(s.max) } : null;
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
            url: r.url,
        })),
    };
}

/** The machine-readable report printed by `compare --json`. */
export function compareToJson(report: CompareReport): Record<string, unknown> {
    return {
        workspace: report.host,
        last: report.last,
        jobs: { sequential: jobJson(report.sequential), parallel: jobJson(report.parallel) },
        speedup: report.speedup
            ? {
                  median: round(report.speedup.median, 3),
                  low: round(report.speedup.low, 3),
                  high: round(report.speedup.high, 3),
                  saved_seconds: round(report.speedup.savedSeconds),
              }
            : null,
        workers: report.workers.map((w) => ({
            name: w.name,
            sequential_median_seconds: w.sequential ? round(w.sequential.median) : null,
            parallel_median_seconds: w.parallel ? round(w.parallel.median) : null,
            parallel_over_sequential: w.ratio !== undefined ? round(w.ratio, 3) : null,
        })),
    };
}

// ---------------------------------------------------------------------------------------------
// Workload file

/** The median per-worker durations of one job's runs as a workload for `npm run simulate`. */
export function workloadFromReport(report: CompareReport, kind: JobKind): Workload {
    const job = report[kind];
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
        workers: job.workers.map((w) => ({ name: w.name, expected_seconds: round(w.median) })),
    };
}
