/**
 * Local simulation of the orchestrators: the real rendered notebooks run with python3, and each
 * `dbutils.notebook.run` is answered by a stub that sleeps for the worker's expected duration, scaled
 * down. Gives the makespan per mode and pool size, its lower bound, the ideal longest-first makespan
 * and the orchestration overhead per task, so a pool size can be chosen before spending cluster time.
 * The ideal comes from `dispatchMakespan`, a model of the orchestrators' dispatch loop (`run_workers` in
 * notebooks/lib/orchestration.py), transient failures and their re-queued retries included.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { MAX_WORKERS_HARD_LIMIT } from "../components/config";
import { allNotebooks, OrchestratorSettings, renderTemplate, writeNotebooks } from "../components/render";
import { ChildCall, NotebookResult, runNotebookLocally } from "./localRun";

export type SimulationMode = "sequential" | "parallel" | "pool.map" | "for each";

export interface SimulatedWorker {
    readonly name: string;
    /** Expected run time in (simulated) seconds. */
    readonly seconds: number;
    /** Simulated seconds of each attempt that fails (transiently) before the run that succeeds. */
    readonly failedAttempts?: readonly number[];
}

export interface RetrySettings {
    /** Backoff before the first retry, in simulated seconds; it doubles with every further retry. */
    readonly backoffSeconds: number;
}

export interface SimulationResult {
    readonly mode: SimulationMode;
    readonly pool: number;
    /** First dispatch to last completion, simulated seconds. */
    readonly makespan: number;
    /** max(longest worker, total / pool): no schedule can be shorter. */
    readonly lowerBound: number;
    /** Makespan of longest-first dispatch computed exactly from the durations (retries re-queued behind their backoff). */
    readonly idealLongestFirst: number;
    /** The same workload's ideal longest-first makespan had no attempt failed. */
    readonly noFailureMakespan: number;
    /** Ideal longest-first makespan if a retry held its slot while waiting for its backoff. */
    readonly backoffHoldingSlotMakespan: number;
    /** Real milliseconds per task spent between a slot freeing up and its next task starting. */
    readonly overheadMsPerTask: number;
    readonly calls: readonly ChildCall[];
    readonly dispatchOrder: readonly string[];
}

const WORKER_ROOT = "/simulation/workers";
const BASELINE_TEMPLATE = path.join(__dirname, "baselines", "pool_map.py");

export function lowerBound(durations: readonly number[], pool: number): number {
    const total = durations.reduce((sum, d) => sum + d, 0);
    return Math.max(Math.max(0, ...durations), total / pool);
}

/** Makespan when tasks are started in `order` on the earliest free of `pool` slots (list scheduling). */
export function listScheduleMakespan(durationsInOrder: readonly number[], pool: number): number {
    const slots = new Array<number>(Math.min(pool, Math.max(1, durationsInOrder.length))).fill(0);
    for (const duration of durationsInOrder) {
        let earliest = 0;
        for (let i = 1; i < slots.length; i++) {
            if (slots[i] < slots[earliest]) {
                earliest = i;
            }
        }
        slots[earliest] += duration;
    }
    return Math.max(0, ...slots);
}

/** Longest-processing-time-first: the order the parallel orchestrator dispatches in when durations are known. */
export function longestFirst(workers: readonly SimulatedWorker[]): SimulatedWorker[] {
    return workers
        .map((worker, index) => ({ worker, index }))
        .sort((a, b) => b.worker.seconds - a.worker.seconds || a.index - b.index)
        .map(({ worker }) => worker);
}

export function idealLongestFirstMakespan(workers: readonly SimulatedWorker[], pool: number): number {
    return listScheduleMakespan(
        longestFirst(workers).map((w) => w.seconds),
        pool,
    );
}

/** Every attempt of a worker in simulated seconds: the failed ones, then the one that succeeds. */
export function attemptSeconds(worker: SimulatedWorker): number[] {
    return [...(worker.failedAttempts ?? []), worker.seconds];
}

/** The wait before retry number `retry` (1 for the first), doubling like backoff_seconds in notebooks/lib/orchestration.py. */
export function backoffBefore(retry: number, retries: RetrySettings | undefined): number {
    return retries ? retries.backoffSeconds * 2 ** (retry - 1) : 0;
}

/**
 * Makespan of the orchestrators' dispatch loop (`run_workers` in notebooks/lib/orchestration.py), computed
 * exactly from the durations: at most `pool` attempts in flight; whenever a slot is free, the ready attempt
 * of the worker earliest in `workersInOrder` starts; a failed attempt is re-queued, ready again once its
 * backoff has passed, and holds no slot meanwhile. With `backoffHoldsSlot`, a retry sleeps in its slot
 * instead (a retry loop inside the pool's task): the yardstick the re-queueing is measured against, and
 * what the sequential orchestrator does, since nothing may run before the worker it retries.
 */
export function dispatchMakespan(workersInOrder: readonly SimulatedWorker[], pool: number, retries?: RetrySettings, backoffHoldsSlot = false): number {
    if (backoffHoldsSlot) {
        const blocks = workersInOrder.map((worker) =>
            attemptSeconds(worker).reduce((sum, seconds, attempt) => sum + seconds + (attempt > 0 ? backoffBefore(attempt, retries) : 0), 0),
        );
        return listScheduleMakespan(blocks, pool);
    }
    const queued = workersInOrder.map((_, position) => ({ position, attempt: 0, readyAt: 0 }));
    const running: { position: number; attempt: number; end: number }[] = [];
    let now = 0;
    let makespan = 0;
    while (queued.length > 0 || running.length > 0) {
        const ready = queued.filter((q) => q.readyAt <= now).sort((a, b) => a.position - b.position);
        for (const next of ready.slice(0, Math.max(0, pool - running.length))) {
            queued.splice(queued.indexOf(next), 1);
            running.push({ position: next.position, attempt: next.attempt, end: now + attemptSeconds(workersInOrder[next.position])[next.attempt] });
        }
        now = Math.min(...running.map((r) => r.end), ...queued.filter((q) => q.readyAt > now).map((q) => q.readyAt));
        for (const done of running.filter((r) => r.end <= now)) {
            running.splice(running.indexOf(done), 1);
            makespan = Math.max(makespan, done.end);
            if (done.attempt + 1 < attemptSeconds(workersInOrder[done.position]).length) {
                queued.push({ position: done.position, attempt: done.attempt + 1, readyAt: done.end + backoffBefore(done.attempt + 1, retries) });
            }
        }
    }
    return makespan;
}

/**
 * Default extra seconds of each For each iteration over a worker's expected duration. The expected
 * durations are wall times of `dbutils.notebook.run` (a new execution context on the running cluster
 * included); an iteration is a task run of its own, which the Jobs service also has to schedule (PENDING,
 * then RUNNING) and whose notebook output it records before the next iteration may take the slot. No
 * public figure for that was found (the For each and Jobs docs give none), so this is an assumption: a
 * parameter (`npm run simulate -- --for-each-overhead <s>`); measure it with `npm run jobs -- compare`.
 */
export const FOR_EACH_ITERATION_OVERHEAD_SECONDS = 10;

export interface ForEachSettings {
    /** Extra simulated seconds per iteration (and per retry, a task run of its own). */
    readonly iterationOverheadSeconds: number;
    /** Wait before an iteration's retry (the nested task's min_retry_interval_millis); the iteration keeps its slot. */
    readonly retryIntervalSeconds?: number;
}

/** One iteration in a For each schedule: which slot, when, in simulated seconds from the task's start. */
export interface ForEachIteration {
    readonly name: string;
    readonly slot: number;
    readonly start: number;
    readonly end: number;
}

/**
 * A For each task's schedule: iterations start in the order of its inputs (no longest-first: the task
 * knows nothing of durations) as slots free up, at most `concurrency` at a time; an iteration's retries
 * run in its slot after the retry interval. Every attempt pays the iteration overhead.
 */
export function forEachSchedule(workersInListOrder: readonly SimulatedWorker[], concurrency: number, settings: ForEachSettings): ForEachIteration[] {
    const slots = new Array<number>(Math.min(concurrency, Math.max(1, workersInListOrder.length))).fill(0);
    return workersInListOrder.map((worker) => {
        let slot = 0;
        for (let i = 1; i < slots.length; i++) {
            if (slots[i] < slots[slot]) {
                slot = i;
            }
        }
        const attempts = attemptSeconds(worker);
        const busy =
            attempts.reduce((sum, seconds) => sum + seconds + settings.iterationOverheadSeconds, 0) +
            (attempts.length - 1) * (settings.retryIntervalSeconds ?? 0);
        const start = slots[slot];
        slots[slot] += busy;
        return { name: worker.name, slot, start, end: slots[slot] };
    });
}

/** The For each task's makespan from its schedule, modelled (the Jobs service runs it, not a notebook). */
export function forEachResult(workers: readonly SimulatedWorker[], concurrency: number, settings: ForEachSettings): SimulationResult {
    const iterations = forEachSchedule(workers, concurrency, settings);
    const durations = workers.map((w) => attemptSeconds(w).reduce((a, b) => a + b, 0));
    const pool = Math.min(concurrency, Math.max(1, workers.length));
    return {
        mode: "for each",
        pool: concurrency,
        makespan: Math.max(0, ...iterations.map((i) => i.end)),
        lowerBound: lowerBound(durations, pool),
        idealLongestFirst: idealLongestFirstMakespan(workers, pool),
        noFailureMakespan: listScheduleMakespan(
            workers.map((w) => w.seconds + settings.iterationOverheadSeconds),
            pool,
        ),
        backoffHoldingSlotMakespan: Math.max(0, ...iterations.map((i) => i.end)),
        overheadMsPerTask: 0, // modelled, not run: no real dispatch gap to measure
        calls: iterations.map((i) => ({
            path: `for_each/worker`,
            name: i.name,
            timeout_seconds: 0,
            arguments: { worker: i.name },
            attempt: 1,
            outcome: "success" as const,
            start: i.start,
            end: i.end,
            thread: `iteration slot ${i.slot + 1}`,
        })),
        dispatchOrder: iterations.map((i) => i.name),
    };
}

/** Real seconds slept per simulated second, for `msPerMinute` real milliseconds per simulated minute. */
export function timeScale(msPerMinute: number): number {
    return msPerMinute / 1000 / 60;
}

/** Gaps on each thread between a task ending (or the first dispatch) and its next task starting. */
function dispatchGaps(calls: readonly ChildCall[]): number {
    const first = Math.min(...calls.map((c) => c.start));
    const byThread = new Map<string, ChildCall[]>();
    for (const call of calls) {
        byThread.set(call.thread, [...(byThread.get(call.thread) ?? []), call]);
    }
    let gaps = 0;
    for (const threadCalls of byThread.values()) {
        threadCalls.sort((a, b) => a.start - b.start);
        let free = first;
        for (const call of threadCalls) {
            gaps += Math.max(0, call.start - free);
            free = call.end;
        }
    }
    return gaps;
}

/** Notebooks rendered for a workload, in a temporary folder laid out like the workspace. */
export class SimulationNotebooks {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "simulation-"));

    constructor(readonly workers: readonly SimulatedWorker[]) {
        const settings: OrchestratorSettings = {
            workers: workers.map((w) => ({ name: w.name, path: `${WORKER_ROOT}/${w.name}`, arguments: {}, expectedSeconds: w.seconds })),
            maxWorkers: 1,
            maxWorkersLimit: MAX_WORKERS_HARD_LIMIT,
            timeoutSeconds: 0,
            maxRetries: 0,
            retryBackoffSeconds: 0,
            runLogTable: "`simulation`.`simulation`.`run_log`",
            historyRuns: 5,
        };
        writeNotebooks(this.dir, allNotebooks(settings));
    }

    /** The plain `ThreadPool(n).map` baseline, rendered for one pool size. */
    baseline(pool: number): string {
        const file = path.join(this.dir, "baselines", `pool_map_${pool}.py`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const workers = this.workers.map((w) => ({ name: w.name, path: `${WORKER_ROOT}/${w.name}`, arguments: {} }));
        fs.writeFileSync(file, renderTemplate(fs.readFileSync(BASELINE_TEMPLATE, "utf8"), { workers, max_workers: pool }, "baselines/pool_map"));
        return file;
    }

    dispose(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

/** Real seconds as a job parameter value, to the millisecond. */
function realSecondsParameter(seconds: number): string {
    return String(Math.round(seconds * 1000) / 1000);
}

/**
 * Runs one orchestrator (or the pool.map baseline) locally on the workload. Failed attempts are scripted
 * into the fake dbutils; the orchestrator waits out its backoff itself, in real time, so the backoff is
 * passed scaled down like the durations.
 */
export async function simulate(
    notebooks: SimulationNotebooks,
    mode: SimulationMode,
    pool: number,
    msPerMinute: number,
    retries?: RetrySettings,
): Promise<SimulationResult> {
    const retriesNeeded = Math.max(0, ...notebooks.workers.map((w) => w.failedAttempts?.length ?? 0));
    if (mode === "pool.map" && retriesNeeded > 0) {
        throw new Error("The pool.map baseline does not retry: simulate it on a workload without failed attempts");
    }
    const notebook =
        mode === "pool.map" ? notebooks.baseline(pool) : path.join(notebooks.dir, "orchestrators", `${mode === "sequential" ? "sequential" : "parallel"}.py`);
    const scale = timeScale(msPerMinute);
    const widgets: Record<string, string> = {
        ...(mode === "parallel" ? { max_workers: String(pool) } : {}),
        ...(retriesNeeded > 0 && mode !== "pool.map"
            ? { max_retries: String(retriesNeeded), retry_backoff_seconds: realSecondsParameter((retries?.backoffSeconds ?? 0) * scale) }
            : {}),
    };
    const result: NotebookResult = await runNotebookLocally({
        notebook,
        time_scale: scale,
        widgets,
        workers: Object.fromEntries(
            notebooks.workers.map((w) => [
                w.name,
                { attempts: [...(w.failedAttempts ?? []).map((seconds) => ({ seconds, outcome: "fail" as const })), { seconds: w.seconds }] },
            ]),
        ),
    });
    if (result.status === "raised") {
        throw new Error(`The ${mode} simulation with pool ${pool} failed: ${result.error}`);
    }
    const calls = result.calls;
    const effectivePool = mode === "sequential" ? 1 : pool;
    const durations = notebooks.workers.map((w) => attemptSeconds(w).reduce((a, b) => a + b, 0));
    const ordered = longestFirst(notebooks.workers);
    const makespan = calls.length > 0 ? Math.max(...calls.map((c) => c.end)) - Math.min(...calls.map((c) => c.start)) : 0;
    return {
        mode,
        pool: effectivePool,
        makespan,
        lowerBound: lowerBound(durations, effectivePool),
        idealLongestFirst: dispatchMakespan(ordered, effectivePool, retries, mode === "sequential"),
        noFailureMakespan: idealLongestFirstMakespan(notebooks.workers, effectivePool),
        backoffHoldingSlotMakespan: dispatchMakespan(ordered, effectivePool, retries, true),
        overheadMsPerTask: calls.length > 0 ? (dispatchGaps(calls) * scale * 1000) / calls.length : 0,
        calls,
        dispatchOrder: [...calls].sort((a, b) => a.start - b.start).map((c) => c.name),
    };
}
