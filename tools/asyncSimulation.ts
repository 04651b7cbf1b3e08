/**
 * A model of the asynchronous fan-out's timing (`npm run simulate -- --async`): how long an entry INSERTed
 * into the state table waits for its run to start, and how long a batch of entries takes to drain, when
 * the dispatcher only runs on its schedule and when a table update trigger starts it as well.
 *
 * A discrete-event simulation in simulated seconds, deterministic for a seed. It follows the platform's
 * rules as documented, and states the timings the documentation does not give as assumptions:
 * - a job has one trigger or one schedule: with the trigger, the scheduled safety net starts the
 *   dispatcher job through a Run Job task; both queue in the one dispatcher job (maxConcurrentRuns 1);
 * - the table update trigger watches the state table and the run log: a producer's INSERT, a pass that
 *   changed something, and a worker logging its end each make an update; it starts a run at its next
 *   check after an update, no sooner than min_time_between_triggers_seconds (60, the smallest allowed)
 *   after the previous run ended, and not while a run is active or queued;
 * - a pass reads the table when it starts: runs that ended before then are marked DONE, and entries
 *   are submitted into the slots the cap leaves free, one after another.
 */
import { CONFIG_DEFAULTS } from "../components/config";
import { MIN_SECONDS_BETWEEN_TRIGGERS } from "../components/asyncFanOut";
import { formatDuration, table } from "../cli/format";
import { seededRandom } from "./random";

/** Timings of one pass and one run that the documentation does not state: assumptions, printed with the figures. */
export interface PassTimings {
    /** Job run start on the running shared cluster, the setup task, reading the state table and runs/list. */
    readonly passOverheadSeconds: number;
    /** One batched write: a pass makes up to four (ended entries, their run-log rows, claims, records). */
    readonly perWriteSeconds: number;
    /** Per submission: its run-now call. */
    readonly perSubmissionSeconds: number;
    /** Per running entry whose run ended: its runs/get call. */
    readonly perCompletionSeconds: number;
    /** From run-now to the worker notebook running on the (running) shared cluster. */
    readonly runStartSeconds: number;
    /** From a safety-net run's start to the dispatcher run its Run Job task starts. */
    readonly runJobTaskSeconds: number;
    /** How often the table update trigger looks for updates (not documented; about a minute assumed). */
    readonly triggerCheckSeconds: number;
}

export const DEFAULT_PASS_TIMINGS: PassTimings = {
    passOverheadSeconds: 20,
    perWriteSeconds: 2,
    perSubmissionSeconds: 0.5,
    perCompletionSeconds: 0.3,
    runStartSeconds: 10,
    runJobTaskSeconds: 5,
    triggerCheckSeconds: 60,
};

export type Triggering = "schedule" | "trigger";

export interface AsyncModel {
    readonly triggering: Triggering;
    readonly cap: number;
    /** The dispatcher's schedule (schedule only) or the safety net's (with the trigger). */
    readonly scheduleSeconds: number;
    readonly minSecondsBetweenTriggers: number;
    /** Worker run times, used in turn for the entries. */
    readonly workerSeconds: readonly number[];
    readonly timings: PassTimings;
}

export interface EntryTimes {
    readonly insertedAt: number;
    startedAt?: number;
    endedAt?: number;
    /** When a pass marked it DONE in the state table. */
    doneAt?: number;
    submitted: boolean;
}

export interface ModelPass {
    readonly start: number;
    readonly end: number;
    /** What started it: the schedule (or the safety net), or the table update trigger. */
    readonly cause: "schedule" | "trigger";
}

export interface ModelRun {
    readonly entries: readonly EntryTimes[];
    readonly passes: number;
    readonly passLog: readonly ModelPass[];
    /** Largest number of worker runs active at once: never above the cap. */
    readonly maxActive: number;
}

/**
 * Runs the model until every entry is DONE. `insertTimes` are when producers INSERT the entries;
 * `schedulePhase` and `checkPhase` place the schedule's and the trigger's first instants (0..interval).
 */
export function runModel(model: AsyncModel, insertTimes: readonly number[], schedulePhase = 0, checkPhase = 0): ModelRun {
    const t = model.timings;
    const entries: EntryTimes[] = insertTimes.map((insertedAt) => ({ insertedAt, submitted: false })).sort((a, b) => a.insertedAt - b.insertedAt);
    // Updates of the watched tables: INSERTs, passes that changed something (worker ends are read off the entries).
    const updates: number[] = [...insertTimes];
    let lastFire = -Infinity;
    let lastPassEnd = -Infinity;
    let passEnd: number | undefined;
    let queuedSafetyNet = false;
    let passes = 0;
    const passLog: ModelPass[] = [];
    let maxActive = 0;
    let nextTick = schedulePhase;
    let nextCheck = checkPhase;
    const horizon = Math.max(0, ...insertTimes) + 30 * 24 * 3600;

    const pass = (start: number, cause: ModelPass["cause"]): number => {
        passes += 1;
        const finished = entries.filter((e) => e.submitted && e.doneAt === undefined && (e.endedAt as number) <= start);
        const active = entries.filter((e) => e.submitted && (e.endedAt as number) > start).length;
        const waiting = entries.filter((e) => !e.submitted && e.insertedAt <= start);
        const submit = waiting.slice(0, Math.max(0, model.cap - active));
        const claimed =
            start + t.passOverheadSeconds + finished.length * t.perCompletionSeconds + (finished.length > 0 ? 2 : 0) * t.perWriteSeconds + t.perWriteSeconds;
        const end = submit.length > 0 ? claimed + submit.length * t.perSubmissionSeconds + t.perWriteSeconds : claimed - t.perWriteSeconds;
        for (const entry of finished) {
            entry.doneAt = end;
        }
        submit.forEach((entry, index) => {
            entry.submitted = true;
            entry.startedAt = claimed + (index + 1) * t.perSubmissionSeconds + t.runStartSeconds;
            entry.endedAt = entry.startedAt + model.workerSeconds[entries.indexOf(entry) % model.workerSeconds.length];
        });
        maxActive = Math.max(maxActive, active + submit.length);
        if (finished.length + submit.length > 0) {
            updates.push(end);
        }
        passLog.push({ start, end, cause });
        return end;
    };

    for (;;) {
        if (entries.every((e) => e.doneAt !== undefined)) {
            return { entries, passes, passLog, maxActive };
        }
        const candidates = [nextTick, passEnd ?? Infinity, model.triggering === "trigger" ? nextCheck : Infinity];
        const now = Math.min(...candidates);
        if (now > horizon) {
            throw new Error(`the model did not drain within 30 days (cap ${model.cap}): check its timings`);
        }
        if (passEnd !== undefined && now === passEnd) {
            lastPassEnd = passEnd;
            passEnd = undefined;
            if (queuedSafetyNet) {
                queuedSafetyNet = false;
                passEnd = pass(now, "schedule");
            }
        } else if (now === nextTick) {
            nextTick += model.scheduleSeconds;
            const start = now + (model.triggering === "trigger" ? t.runJobTaskSeconds : 0);
            if (passEnd === undefined) {
                passEnd = pass(start, "schedule");
            } else if (!queuedSafetyNet) {
                queuedSafetyNet = true; // waits in the dispatcher job's queue; a later tick is skipped meanwhile
            }
        } else {
            nextCheck += t.triggerCheckSeconds;
            const idle = passEnd === undefined && !queuedSafetyNet;
            const updated = (at: number | undefined) => at !== undefined && at > lastFire && at <= now;
            if (idle && now >= lastPassEnd + model.minSecondsBetweenTriggers && (updates.some(updated) || entries.some((e) => updated(e.endedAt)))) {
                lastFire = now;
                passEnd = pass(now, "trigger");
            }
        }
    }
}

function percentile(sorted: readonly number[], p: number): number {
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export interface LatencySummary {
    readonly mean: number;
    readonly p95: number;
    readonly max: number;
}

/** Insert-to-start of one entry INSERTed at a random moment into an idle fan-out, over `trials` draws. */
export function insertToStartLatency(model: AsyncModel, trials: number, seed: number): LatencySummary {
    const random = seededRandom(seed);
    const latencies: number[] = [];
    for (let trial = 0; trial < trials; trial++) {
        const insertAt = 3600 + random() * 3600;
        const run = runModel(model, [insertAt], random() * model.scheduleSeconds, random() * model.timings.triggerCheckSeconds);
        latencies.push((run.entries[0].startedAt as number) - insertAt);
    }
    latencies.sort((a, b) => a - b);
    return { mean: latencies.reduce((a, b) => a + b, 0) / latencies.length, p95: percentile(latencies, 95), max: latencies[latencies.length - 1] };
}

export interface DrainSummary {
    /** From the INSERT of every entry to the last one DONE in the state table. */
    readonly drainSeconds: number;
    /** The same for the first run to start. */
    readonly firstStartSeconds: number;
    /** No dispatcher can beat the work itself spread over the cap. */
    readonly lowerBoundSeconds: number;
    readonly passes: number;
    readonly maxActive: number;
}

/** `entries` INSERTed at once into an idle fan-out; averaged over a few schedule and trigger phases. */
export function drain(model: AsyncModel, entries: number, seed: number, phases = 8): DrainSummary {
    const random = seededRandom(seed);
    const runs = Array.from({ length: phases }, () =>
        runModel(model, new Array(entries).fill(0), random() * model.scheduleSeconds, random() * model.timings.triggerCheckSeconds),
    );
    const mean = (f: (run: ModelRun) => number) => runs.reduce((sum, run) => sum + f(run), 0) / runs.length;
    const work = Array.from({ length: entries }, (_, i) => model.workerSeconds[i % model.workerSeconds.length]).reduce((a, b) => a + b, 0);
    return {
        drainSeconds: mean((run) => Math.max(...run.entries.map((e) => e.doneAt as number))),
        firstStartSeconds: mean((run) => Math.min(...run.entries.map((e) => e.startedAt as number))),
        lowerBoundSeconds: Math.max(work / model.cap, ...model.workerSeconds),
        passes: mean((run) => run.passes),
        maxActive: Math.max(...runs.map((run) => run.maxActive)),
    };
}

export interface AsyncComparison {
    readonly entries: number;
    readonly cap: number;
    readonly scheduleSeconds: number;
    readonly rows: readonly { readonly label: string; readonly model: AsyncModel; readonly latency: LatencySummary; readonly drain: DrainSummary }[];
}

/** Schedule only against trigger plus safety net, at the stack's defaults unless told otherwise. */
export function compareTriggering(
    workerSeconds: readonly number[],
    options: { entries?: number; cap?: number; scheduleMinutes?: number; timings?: PassTimings; trials?: number; seed?: number } = {},
): AsyncComparison {
    const entries = options.entries ?? 500;
    const cap = options.cap ?? CONFIG_DEFAULTS.asyncConcurrencyCap;
    const scheduleSeconds = 60 * (options.scheduleMinutes ?? CONFIG_DEFAULTS.asyncDispatchIntervalMinutes);
    const seed = options.seed ?? 42;
    const base = {
        cap,
        scheduleSeconds,
        minSecondsBetweenTriggers: MIN_SECONDS_BETWEEN_TRIGGERS,
        workerSeconds,
        timings: options.timings ?? DEFAULT_PASS_TIMINGS,
    };
    const minutes = scheduleSeconds / 60;
    const rows = (
        [
            ["schedule", `schedule only, every ${minutes} min`],
            ["trigger", `table update trigger + ${minutes} min safety net`],
        ] as const
    ).map(([triggering, label]) => {
        const model: AsyncModel = { ...base, triggering };
        return { label, model, latency: insertToStartLatency(model, options.trials ?? 400, seed), drain: drain(model, entries, seed) };
    });
    return { entries, cap, scheduleSeconds, rows };
}

export function asyncComparisonText(comparison: AsyncComparison, source: string): string {
    const timings = comparison.rows[0].model.timings;
    return [
        `Asynchronous fan-out, modelled: ${comparison.entries} entries at cap ${comparison.cap}, worker run times from ${source}`,
        "",
        table(
            ["dispatcher started by", "insert->start mean", "p95", "max", `drain ${comparison.entries}`, "first start", "passes", "max active", "lower bound"],
            comparison.rows.map(({ label, latency, drain: d }) => [
                label,
                formatDuration(latency.mean),
                formatDuration(latency.p95),
                formatDuration(latency.max),
                formatDuration(d.drainSeconds),
                formatDuration(d.firstStartSeconds),
                Math.round(d.passes),
                d.maxActive,
                formatDuration(d.lowerBoundSeconds),
            ]),
            ["left", "right", "right", "right", "right", "right", "right", "right", "right"],
        ),
        "",
        "insert->start: one entry INSERTed at a random moment into an idle fan-out (its run's start on the running shared cluster).",
        `drain: ${comparison.entries} entries INSERTed at once, until the last is DONE in the state table; lower bound: the work spread over the cap.`,
        `Assumed (not documented): pass overhead ${timings.passOverheadSeconds}s, ${timings.perWriteSeconds}s per batched write, ` +
            `${timings.perSubmissionSeconds}s per run-now, ${timings.perCompletionSeconds}s per runs/get, run start ${timings.runStartSeconds}s, Run Job task ${timings.runJobTaskSeconds}s, ` +
            `trigger checks every ${timings.triggerCheckSeconds}s; min time between triggers ${MIN_SECONDS_BETWEEN_TRIGGERS}s (the API's minimum).`,
    ].join("\n");
}

/** What `npm run simulate -- --async` prints: both ways of starting the dispatcher, at the stack's defaults. */
export function asyncSimulationText(workerSeconds: readonly number[], source: string): string {
    return asyncComparisonText(compareTriggering(workerSeconds), source);
}
