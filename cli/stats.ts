/**
 * Pure figures for `jobs compare`: medians and ranges, the queue / setup / execution split of a
 * run, success rates, per-worker durations and the speedup of one job over the other.
 * Everything here is in seconds and free of I/O, so tests check it against hand-computed values.
 */
import type { JobRun } from "./types";
import type { OrchestratorSummary } from "./summary";

export interface Spread {
    count: number;
    median: number;
    min: number;
    max: number;
}

/** The median of a non-empty list (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
    if (values.length === 0) throw new Error("median of an empty list");
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Count, median, min and max of a list; undefined for an empty list. */
export function spread(values: readonly number[]): Spread | undefined {
    if (values.length === 0) return undefined;
    return { count: values.length, median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** Where a run's time went, in seconds. `duration` excludes `queue` (time waiting before start). */
export interface RunTiming {
    queue: number;
    /** Cluster/environment setup (`setup_duration`), summed over the run's tasks. Not the `setup` task. */
    setup: number;
    /** Running the tasks' code (`execution_duration`), summed over the tasks. */
    execution: number;
    /** Cleanup (`cleanup_duration`); 0 for multitask runs. */
    cleanup: number;
    /** The rest of the duration: scheduling gaps between dependent tasks. */
    other: number;
    /** Wall time of the run: `run_duration` for multitask runs. */
    duration: number;
}

const ms = (v: number | undefined): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0);

/**
 * The queue / setup / execution split of a finished run.
 *
 * Multitask runs (every run of our jobs) report `setup_duration`, `execution_duration` and
 * `cleanup_duration` as 0 at run level: the split is then the sum over `tasks[]` and the wall
 * time is `run_duration`. Single-task runs report the three at run level, and their sum is the
 * duration. When `run_duration` is missing the wall time falls back to `end_time - start_time`.
 */
export function runTiming(run: JobRun): RunTiming {
    const tasks = run.tasks ?? [];
    const runLevel = ms(run.setup_duration) + ms(run.execution_duration) + ms(run.cleanup_duration);
    let setup: number;
    let execution: number;
    let cleanup: number;
    let duration: number;
    if (runLevel > 0) {
        setup = ms(run.setup_duration);
        execution = ms(run.execution_duration);
        cleanup = ms(run.cleanup_duration);
        duration = ms(run.run_duration) || runLevel;
    } else {
        setup = tasks.reduce((s, t) => s + ms(t.setup_duration), 0);
        execution = tasks.reduce((s, t) => s + ms(t.execution_duration), 0);
        cleanup = tasks.reduce((s, t) => s + ms(t.cleanup_duration), 0);
        duration = ms(run.run_duration) || Math.max(0, ms(run.end_time) - ms(run.start_time));
    }
    const other = Math.max(0, duration - setup - execution - cleanup);
    return {
        queue: ms(run.queue_duration) / 1000,
        setup: setup / 1000,
        execution: execution / 1000,
        cleanup: cleanup / 1000,
        other: other / 1000,
        duration: duration / 1000,
    };
}

/** The result of a finished run: `state.result_state`, else the 2.2 `status.termination_details.code`. */
export function runResult(run: JobRun): string {
    return run.state?.result_state ?? run.status?.termination_details?.code ?? run.state?.life_cycle_state ?? "UNKNOWN";
}

export function isSuccess(run: JobRun): boolean {
    return runResult(run) === "SUCCESS";
}

/** Share of successful runs, 0..1; undefined when there are no runs. */
export function successRate(runs: readonly JobRun[]): number | undefined {
    if (runs.length === 0) return undefined;
    return runs.filter(isSuccess).length / runs.length;
}

export interface TimingSpread {
    duration: Spread;
    queue: Spread;
    setup: Spread;
    execution: Spread;
    other: Spread;
}

/** Median/min/max of each part of the split over a set of runs; undefined for no runs. */
export function timingSpread(timings: readonly RunTiming[]): TimingSpread | undefined {
    if (timings.length === 0) return undefined;
    const of = (pick: (t: RunTiming) => number): Spread => spread(timings.map(pick)) as Spread;
    return {
        duration: of((t) => t.duration),
        queue: of((t) => t.queue),
        setup: of((t) => t.setup),
        execution: of((t) => t.execution),
        other: of((t) => t.other),
    };
}

export interface WorkerSpread extends Spread {
    name: string;
    /** The item's notebook and arguments, from the newest summary that has them (older summaries do not). */
    notebook?: string;
    arguments?: Record<string, string>;
    /** Seconds of each successful attempt found, newest run first. */
    samples: number[];
}

/**
 * Per-worker durations over a set of orchestrator summaries (newest first). Only workers that
 * SUCCEEDED count: a failed or timed-out worker's time says nothing about its normal length.
 * Workers come out in the order they are listed in the summaries (their declared order), the
 * newest summary first; workers never seen succeeding are listed with count 0.
 */
export function workerSpreads(summaries: readonly OrchestratorSummary[]): WorkerSpread[] {
    const order: string[] = [];
    const samples = new Map<string, number[]>();
    const items = new Map<string, { notebook: string; arguments?: Record<string, string> }>();
    for (const summary of summaries) {
        for (const w of summary.workers) {
            if (!samples.has(w.name)) {
                samples.set(w.name, []);
                order.push(w.name);
            }
            if (typeof w.notebook === "string" && !items.has(w.name)) {
                items.set(w.name, { notebook: w.notebook, ...(w.arguments && typeof w.arguments === "object" ? { arguments: w.arguments } : {}) });
            }
            if (w.status === "SUCCEEDED" && typeof w.duration_seconds === "number") {
                samples.get(w.name)!.push(w.duration_seconds);
            }
        }
    }
    return order.map((name) => {
        const values = samples.get(name)!;
        const s = spread(values) ?? { count: 0, median: NaN, min: NaN, max: NaN };
        return { name, ...items.get(name), samples: values, ...s };
    });
}

export interface Speedup {
    /** median(sequential) / median(parallel): how many times faster the parallel job is. */
    median: number;
    /** min(sequential) / max(parallel): the least favourable pairing of runs. */
    low: number;
    /** max(sequential) / min(parallel): the most favourable pairing of runs. */
    high: number;
    /** median(sequential) - median(parallel), in seconds. */
    savedSeconds: number;
}

/** Speedup of `fast` (parallel) over `base` (sequential) from their duration spreads. */
export function speedup(base: Spread, fast: Spread): Speedup {
    return {
        median: base.median / fast.median,
        low: base.min / fast.max,
        high: base.max / fast.min,
        savedSeconds: base.median - fast.median,
    };
}

/** Rounds for reports and JSON: 0.1 s for durations, 3 decimals for ratios. */
export function round(value: number, decimals = 1): number {
    if (!Number.isFinite(value)) return value;
    const f = 10 ** decimals;
    return Math.round(value * f) / f;
}
