/**
 * Local simulation of the orchestrators: the real rendered notebooks run with python3, and each
 * `dbutils.notebook.run` is answered by a stub that sleeps for the work item's expected duration, scaled
 * down (items of one notebook with different arguments each get their own). Gives the makespan per mode and pool size, its lower bound, the ideal longest-first makespan
 * and the orchestration overhead per task, so a pool size can be chosen before spending cluster time.
 * The ideal comes from `dispatchMakespan`, a model of the orchestrators' dispatch loop (`run_items` in
 * notebooks/lib/orchestration.py), transient failures and their re-queued retries included.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { MAX_WORKERS_HARD_LIMIT } from "../components/config";
import { allNotebooks, OrchestratorSettings, renderTemplate, writeNotebooks } from "../components/render";
import { canonicalArguments, defaultItemName, notebookPath } from "../components/workItems";
import { ChildCall, NotebookResult, runNotebookLocally } from "./localRun";
import { seededRandom } from "./random";

export type SimulationMode = "sequential" | "parallel" | "pool.map" | "for each";

/** A work item as the simulation runs it: who it is, what it is called with and how long it takes. */
export interface SimulatedItem {
    /** Unique in a workload: the orchestrators key dispatch, retries and outcomes by it. */
    readonly name: string;
    /** The item's notebook, relative to the simulated workspace folder or absolute (default `workers/<name>`, a notebook of its own). */
    readonly notebook?: string;
    /** The item's own widget values (default none). */
    readonly arguments?: Readonly<Record<string, string>>;
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
    /** max(longest item, total / pool): no schedule can be shorter. */
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

/** The workspace folder the simulated items' relative notebooks are "deployed" in. */
export const SIMULATION_FOLDER = "/simulation";
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
export function longestFirst<T extends Pick<SimulatedItem, "seconds">>(items: readonly T[]): T[] {
    return items
        .map((item, index) => ({ item, index }))
        .sort((a, b) => b.item.seconds - a.item.seconds || a.index - b.index)
        .map(({ item }) => item);
}

export function idealLongestFirstMakespan(items: readonly SimulatedItem[], pool: number): number {
    return listScheduleMakespan(
        longestFirst(items).map((w) => w.seconds),
        pool,
    );
}

/** Every attempt of an item in simulated seconds: the failed ones, then the one that succeeds. */
export function attemptSeconds(item: SimulatedItem): number[] {
    return [...(item.failedAttempts ?? []), item.seconds];
}

/** The wait before retry number `retry` (1 for the first), doubling like backoff_seconds in notebooks/lib/orchestration.py. */
export function backoffBefore(retry: number, retries: RetrySettings | undefined): number {
    return retries ? retries.backoffSeconds * 2 ** (retry - 1) : 0;
}

/**
 * Makespan of the orchestrators' dispatch loop (`run_items` in notebooks/lib/orchestration.py), computed
 * exactly from the durations: at most `pool` attempts in flight; whenever a slot is free, the ready attempt
 * of the item earliest in `itemsInOrder` starts; a failed attempt is re-queued, ready again once its
 * backoff has passed, and holds no slot meanwhile. With `backoffHoldsSlot`, a retry sleeps in its slot
 * instead (a retry loop inside the pool's task): the yardstick the re-queueing is measured against, and
 * what the sequential orchestrator does, since nothing may run before the item it retries.
 */
export function dispatchMakespan(itemsInOrder: readonly SimulatedItem[], pool: number, retries?: RetrySettings, backoffHoldsSlot = false): number {
    if (backoffHoldsSlot) {
        const blocks = itemsInOrder.map((item) =>
            attemptSeconds(item).reduce((sum, seconds, attempt) => sum + seconds + (attempt > 0 ? backoffBefore(attempt, retries) : 0), 0),
        );
        return listScheduleMakespan(blocks, pool);
    }
    const queued = itemsInOrder.map((_, position) => ({ position, attempt: 0, readyAt: 0 }));
    const running: { position: number; attempt: number; end: number }[] = [];
    let now = 0;
    let makespan = 0;
    while (queued.length > 0 || running.length > 0) {
        const ready = queued.filter((q) => q.readyAt <= now).sort((a, b) => a.position - b.position);
        for (const next of ready.slice(0, Math.max(0, pool - running.length))) {
            queued.splice(queued.indexOf(next), 1);
            running.push({ position: next.position, attempt: next.attempt, end: now + attemptSeconds(itemsInOrder[next.position])[next.attempt] });
        }
        now = Math.min(...running.map((r) => r.end), ...queued.filter((q) => q.readyAt > now).map((q) => q.readyAt));
        for (const done of running.filter((r) => r.end <= now)) {
            running.splice(running.indexOf(done), 1);
            makespan = Math.max(makespan, done.end);
            if (done.attempt + 1 < attemptSeconds(itemsInOrder[done.position]).length) {
                queued.push({ position: done.position, attempt: done.attempt + 1, readyAt: done.end + backoffBefore(done.attempt + 1, retries) });
            }
        }
    }
    return makespan;
}

/**
 * Default extra seconds of each For each iteration over an item's expected duration. The expected
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
export function forEachSchedule(itemsInListOrder: readonly SimulatedItem[], concurrency: number, settings: ForEachSettings): ForEachIteration[] {
    const slots = new Array<number>(Math.min(concurrency, Math.max(1, itemsInListOrder.length))).fill(0);
    return itemsInListOrder.map((item) => {
        let slot = 0;
        for (let i = 1; i < slots.length; i++) {
            if (slots[i] < slots[slot]) {
                slot = i;
            }
        }
        const attempts = attemptSeconds(item);
        const busy =
            attempts.reduce((sum, seconds) => sum + seconds + settings.iterationOverheadSeconds, 0) +
            (attempts.length - 1) * (settings.retryIntervalSeconds ?? 0);
        const start = slots[slot];
        slots[slot] += busy;
        return { name: item.name, slot, start, end: slots[slot] };
    });
}

/** The For each task's makespan from its schedule, modelled (the Jobs service runs it, not a notebook). */
export function forEachResult(items: readonly SimulatedItem[], concurrency: number, settings: ForEachSettings): SimulationResult {
    const iterations = forEachSchedule(items, concurrency, settings);
    const durations = items.map((w) => attemptSeconds(w).reduce((a, b) => a + b, 0));
    const pool = Math.min(concurrency, Math.max(1, items.length));
    return {
        mode: "for each",
        pool: concurrency,
        makespan: Math.max(0, ...iterations.map((i) => i.end)),
        lowerBound: lowerBound(durations, pool),
        idealLongestFirst: idealLongestFirstMakespan(items, pool),
        noFailureMakespan: listScheduleMakespan(
            items.map((w) => w.seconds + settings.iterationOverheadSeconds),
            pool,
        ),
        backoffHoldingSlotMakespan: Math.max(0, ...iterations.map((i) => i.end)),
        overheadMsPerTask: 0, // modelled, not run: no real dispatch gap to measure
        calls: iterations.map((i, index) => ({
            path: itemPath(items[index]),
            name: i.name,
            timeout_seconds: 0,
            arguments: { work_item: i.name },
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

/** The item's notebook: as given, or a notebook of its own named after it. */
export function itemNotebook(item: SimulatedItem): string {
    return item.notebook ?? `workers/${item.name}`;
}

/** The workspace path the orchestrators call the item's notebook at. */
export function itemPath(item: SimulatedItem): string {
    return notebookPath(itemNotebook(item), SIMULATION_FOLDER);
}

/** Names used twice, or notebook and arguments used twice: the orchestrators would refuse such a list. */
export function workloadProblems(items: readonly SimulatedItem[]): string[] {
    const problems: string[] = [];
    const byName = new Map<string, number>();
    const byIdentity = new Map<string, number>();
    items.forEach((item, index) => {
        const identity = `${itemNotebook(item)} ${canonicalArguments(item.arguments ?? {})}`;
        const sameName = byName.get(item.name);
        const sameIdentity = byIdentity.get(identity);
        if (sameName !== undefined) {
            problems.push(`item ${index + 1}: name "${item.name}" is also item ${sameName + 1}'s; expected unique names`);
        } else if (sameIdentity !== undefined) {
            problems.push(`item ${index + 1} ("${item.name}"): same notebook and arguments as item ${sameIdentity + 1}; expected each item once`);
        }
        byName.set(item.name, index);
        byIdentity.set(identity, index);
    });
    return problems;
}

/** Notebooks rendered for a workload, in a temporary folder laid out like the workspace. */
export class SimulationNotebooks {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "simulation-"));

    constructor(readonly items: readonly SimulatedItem[]) {
        const problems = workloadProblems(items);
        if (items.length === 0 || problems.length > 0) {
            this.dispose();
            throw new Error(`Cannot simulate this workload: ${items.length === 0 ? "it has no items" : problems.join("; ")}`);
        }
        const settings: OrchestratorSettings = {
            items: items.map((item) => ({
                name: item.name,
                notebook: itemNotebook(item),
                path: itemPath(item),
                arguments: item.arguments ?? {},
                expectedSeconds: item.seconds,
            })),
            commonArguments: {},
            notebookFolder: SIMULATION_FOLDER,
            knownNotebooks: [...new Set(items.map(itemNotebook).filter((notebook) => !notebook.startsWith("/")))],
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

    orchestrator(kind: "sequential" | "parallel"): string {
        return path.join(this.dir, "orchestrators", `${kind}.py`);
    }

    /** The plain `ThreadPool(n).map` baseline, rendered for one pool size; like the orchestrators, it passes each item's name as `work_item`. */
    baseline(pool: number): string {
        const file = path.join(this.dir, "baselines", `pool_map_${pool}.py`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const workers = this.items.map((item) => ({ name: item.name, path: itemPath(item), arguments: { ...item.arguments, work_item: item.name } }));
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

/** A call named by the item it ran (its `work_item` argument) rather than by its notebook, which items may share. */
function itemCall(call: ChildCall): ChildCall {
    const item = call.arguments.work_item;
    return item === undefined ? call : { ...call, name: item };
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
    const items = notebooks.items;
    const retriesNeeded = Math.max(0, ...items.map((item) => item.failedAttempts?.length ?? 0));
    if (mode === "pool.map" && retriesNeeded > 0) {
        throw new Error("The pool.map baseline does not retry: simulate it on a workload without failed attempts");
    }
    if (mode === "for each") {
        throw new Error("The For each job is modelled, not run: use forEachResult");
    }
    const notebook = mode === "pool.map" ? notebooks.baseline(pool) : notebooks.orchestrator(mode);
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
            // The fake dbutils finds a call's script by its work_item argument first: each item has its own.
            items.map((item) => [
                item.name,
                { attempts: [...(item.failedAttempts ?? []).map((seconds) => ({ seconds, outcome: "fail" as const })), { seconds: item.seconds }] },
            ]),
        ),
    });
    if (result.status === "raised") {
        throw new Error(`The ${mode} simulation with pool ${pool} failed: ${result.error}`);
    }
    const calls = result.calls.map(itemCall);
    const notOnce = items.filter((item) => calls.filter((call) => call.name === item.name && call.outcome === "success").length !== 1);
    if (notOnce.length > 0) {
        throw new Error(
            `The ${mode} simulation with pool ${pool} did not run each item to success exactly once: ${notOnce.map((item) => item.name).join(", ")}`,
        );
    }
    const effectivePool = mode === "sequential" ? 1 : pool;
    const durations = items.map((item) => attemptSeconds(item).reduce((a, b) => a + b, 0));
    const ordered = longestFirst(items);
    const makespan = calls.length > 0 ? Math.max(...calls.map((c) => c.end)) - Math.min(...calls.map((c) => c.start)) : 0;
    return {
        mode,
        pool: effectivePool,
        makespan,
        lowerBound: lowerBound(durations, effectivePool),
        idealLongestFirst: dispatchMakespan(ordered, effectivePool, retries, mode === "sequential"),
        noFailureMakespan: idealLongestFirstMakespan(items, effectivePool),
        backoffHoldingSlotMakespan: dispatchMakespan(ordered, effectivePool, retries, true),
        overheadMsPerTask: calls.length > 0 ? (dispatchGaps(calls) * scale * 1000) / calls.length : 0,
        calls,
        dispatchOrder: [...calls].sort((a, b) => a.start - b.start).map((c) => c.name),
    };
}

/** The built-in workload at scale: one notebook over 200 tables with skewed durations (`--workload skewed-200`). */
export const SKEWED_WORKLOAD = {
    name: "skewed-200",
    count: 200,
    notebook: "ingest/ingest_table",
    seed: 7,
    /** Pareto durations: at least `minimumSeconds`, tail index `alpha`, capped at `capSeconds`. */
    minimumSeconds: 30,
    alpha: 1.2,
    capSeconds: 3600,
} as const;

/**
 * One notebook (`ingest/ingest_table`) over `count` tables, `{"table": "table_001"}` and so on, named as
 * the stack names items by default. Durations are Pareto-distributed and seeded, the shape of a real
 * table list: most tables take a minute or two, a few from ten minutes to most of an hour. They are
 * drawn in list order, so the long tables sit anywhere in the list.
 */
export function skewedItems(count: number = SKEWED_WORKLOAD.count, seed: number = SKEWED_WORKLOAD.seed): SimulatedItem[] {
    const random = seededRandom(seed);
    const { notebook, minimumSeconds, alpha, capSeconds } = SKEWED_WORKLOAD;
    const width = Math.max(3, String(count).length);
    return Array.from({ length: count }, (_, index) => {
        const args = { table: `table_${String(index + 1).padStart(width, "0")}` };
        const seconds = Math.min(capSeconds, Math.round(minimumSeconds / Math.pow(1 - random(), 1 / alpha)));
        return { name: defaultItemName(notebook, args), notebook, arguments: args, seconds };
    });
}
