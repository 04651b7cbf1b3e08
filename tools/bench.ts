/**
 * `npm run bench [-- --scale 50]`: the parallel orchestrator against the plain `ThreadPool(n).map` in
 * declared order, on fixed workloads and pool sizes (the last one 200 items of one notebook), both run
 * locally as real notebooks against a sleeping dbutils stub. Prints makespan / lower bound for both, our makespan against the ideal
 * longest-first makespan computed exactly from the durations, and the orchestration overhead per task;
 * on a workload with a transient failure, our makespan against the no-failure makespan plus the failed
 * attempt and against a backoff held in its slot; then checks the targets and exits non-zero if one is
 * missed.
 */
import { Command, InvalidArgumentError } from "commander";
import { formatDuration, table } from "../cli/format";
import { RetrySettings, simulate, SimulatedItem, SimulationNotebooks, SimulationResult, SKEWED_WORKLOAD, skewedItems } from "./simulation";
import { seededRandom } from "./random";

export interface BenchWorkload {
    readonly name: string;
    readonly items: readonly SimulatedItem[];
    /** Set when some items fail transiently: how long the orchestrator waits before retrying. */
    readonly retries?: RetrySettings;
    /** Pool sizes it runs at (default 2, 4, 8). */
    readonly pools?: readonly number[];
    /** Real milliseconds per simulated minute it runs at, at least (see SCALE_WORKLOAD_MS_PER_MINUTE). */
    readonly minimumScale?: number;
}

const DEFAULT_POOLS = [2, 4, 8];

/** Items that are notebooks of their own, `<prefix>_01` and so on. */
const named = (prefix: string, seconds: readonly number[]): SimulatedItem[] =>
    seconds.map((s, i) => ({ name: `${prefix}_${String(i + 1).padStart(2, "0")}`, seconds: s }));

/** The workload at scale: the built-in skewed-200 (one notebook over 200 tables), as `npm run simulate` shows it. */
export const SCALE_WORKLOAD = `200 tables, one notebook (${SKEWED_WORKLOAD.name})`;

/**
 * The 200-item workload runs 25 items a slot at P = 8, each call a few tenths of a millisecond to a
 * millisecond longer than its sleep on a busy machine (thread wake-up, the GIL): at 50 ms a minute that
 * adds up to a percent or two of simulated time, the stub's cost rather than the dispatcher's. At 100 ms
 * it is half that, and the workload takes some 25 s with its pool.map baseline.
 */
export const SCALE_WORKLOAD_MS_PER_MINUTE = 100;

export function benchWorkloads(): BenchWorkload[] {
    const random = seededRandom(42);
    return [
        { name: "4 equal", items: named("equal", [600, 600, 600, 600]) },
        {
            // Fourteen short workers, then the two long ones declared last: the case list order handles worst.
            name: "16 skewed, longest last",
            items: named("skewed", [150, 140, 160, 130, 170, 150, 145, 155, 135, 165, 150, 150, 140, 160, 1150, 1250]),
        },
        {
            name: "32 random (seed 42)",
            items: named(
                "random",
                Array.from({ length: 32 }, () => Math.round(60 + random() * 840)),
            ),
        },
        {
            // The first worker dispatched fails once after 2 minutes; its retry waits a 20-minute backoff.
            // Re-queued, the retry costs the pool only the failed attempt; sleeping in its slot, it costs the backoff too.
            name: TRANSIENT_FAILURE_WORKLOAD,
            items: named("transient", [1800, 1800, 1800, 1800, 1800, 1800, 1800, 1800]).map((w, i) => (i === 0 ? { ...w, failedAttempts: [120] } : w)),
            retries: { backoffSeconds: 1200 },
        },
        { name: SCALE_WORKLOAD, items: skewedItems(), pools: [8, 16], minimumScale: SCALE_WORKLOAD_MS_PER_MINUTE },
    ];
}

export const TRANSIENT_FAILURE_WORKLOAD = "8 equal, 1 transient failure";

/** Simulated seconds of the workload's failed attempts: what a failure should cost the pool, and no more. */
export function failedAttemptSeconds(items: readonly SimulatedItem[]): number {
    return items.flatMap((w) => w.failedAttempts ?? []).reduce((sum, s) => sum + s, 0);
}

export interface BenchRow {
    readonly workload: string;
    readonly pool: number;
    readonly ours: SimulationResult;
    /** The pool.map baseline; absent for a workload with failures, which it does not retry. */
    readonly poolMap?: SimulationResult;
    /** Simulated seconds of failed attempts in the workload (0 without failures). */
    readonly failedAttemptSeconds: number;
}

export interface TargetCheck {
    readonly target: string;
    readonly met: boolean;
    readonly detail: string;
}

/** The targets, checked against measured rows. */
export function checkTargets(rows: readonly BenchRow[]): TargetCheck[] {
    const checks: TargetCheck[] = [];
    const worstIdeal = rows.reduce(
        (worst, row) => {
            const gap = Math.abs(row.ours.makespan / row.ours.idealLongestFirst - 1);
            return gap > worst.gap ? { gap, row } : worst;
        },
        { gap: 0, row: rows[0] },
    );
    checks.push({
        target: "makespan within 2% of the ideal longest-first makespan, every workload and pool",
        met: worstIdeal.gap <= 0.02,
        detail: `worst ${(worstIdeal.gap * 100).toFixed(2)}% (${worstIdeal.row.workload}, P=${worstIdeal.row.pool})`,
    });
    const atScale = rows.filter((r) => r.workload === SCALE_WORKLOAD);
    if (atScale.length > 0) {
        const gaps = atScale.map(
            (r) =>
                `P=${r.pool}: ${formatDuration(r.ours.makespan)} against ${formatDuration(r.ours.idealLongestFirst)}, ${signedPercent(r.ours.makespan / r.ours.idealLongestFirst)}`,
        );
        checks.push({
            target: `the same on 200 items of one notebook with skewed durations (${SKEWED_WORKLOAD.name}), at P = ${atScale.map((r) => r.pool).join(" and ")}`,
            met: atScale.every((r) => Math.abs(r.ours.makespan / r.ours.idealLongestFirst - 1) <= 0.02),
            detail: gaps.join("; "),
        });
    }
    const withoutFailures = rows.filter((r) => r.failedAttemptSeconds === 0);
    const boundRows = withoutFailures.filter((r) => !r.workload.startsWith("4 ") && (r.pool === 2 || r.pool === 4));
    const worstBound = Math.max(...boundRows.map((r) => r.ours.makespan / r.ours.lowerBound));
    checks.push({
        target: "makespan / lower bound <= 1.10 on the 16- and 32-worker workloads at P = 2 and 4",
        met: worstBound <= 1.1,
        detail: `worst ${worstBound.toFixed(3)}`,
    });
    const skewed = rows.find((r) => r.workload.startsWith("16") && r.pool === 4);
    const shorter = skewed?.poolMap ? 1 - skewed.ours.makespan / skewed.poolMap.makespan : 0;
    checks.push({
        target: "at least 25% shorter than pool.map on the skewed workload at P = 4",
        met: shorter >= 0.25,
        detail: `${(shorter * 100).toFixed(1)}% shorter`,
    });
    const overhead = Math.max(...withoutFailures.map((r) => r.ours.overheadMsPerTask));
    checks.push({ target: "orchestration overhead per task under 20 ms", met: overhead < 20, detail: `worst ${overhead.toFixed(2)} ms` });
    const transient = rows.filter((r) => r.failedAttemptSeconds > 0 && (r.pool === 2 || r.pool === 4));
    if (transient.length > 0) {
        const worst = transient.reduce(
            (acc, row) => {
                const gap = Math.abs(row.ours.makespan / (row.ours.noFailureMakespan + row.failedAttemptSeconds) - 1);
                return gap > acc.gap ? { gap, row } : acc;
            },
            { gap: 0, row: transient[0] },
        );
        checks.push({
            target: "a retry waiting for its backoff holds no slot: makespan within 2% of the no-failure makespan plus the failed attempt, at P = 2 and 4",
            met: worst.gap <= 0.02,
            detail: `worst ${(worst.gap * 100).toFixed(2)}% (P=${worst.row.pool}: ${formatDuration(worst.row.ours.makespan)} against ${formatDuration(worst.row.ours.noFailureMakespan)} + ${formatDuration(worst.row.failedAttemptSeconds)}; the backoff held in a slot would make it ${formatDuration(worst.row.ours.backoffHoldingSlotMakespan)})`,
        });
    }
    return checks;
}

/** A ratio as a signed percentage: 1.0123 is "+1.23%". */
export function signedPercent(ratio: number): string {
    return `${ratio >= 1 ? "+" : ""}${((ratio - 1) * 100).toFixed(2)}%`;
}

export function benchTable(rows: readonly BenchRow[]): string {
    const pct = signedPercent;
    return table(
        ["workload", "P", "lower bound", "ideal LPT", "ours", "ours/LB", "vs ideal", "pool.map", "map/LB", "ours vs map", "overhead/task"],
        rows
            .filter((r) => r.poolMap !== undefined)
            .map((r) => [
                r.workload,
                r.pool,
                formatDuration(r.ours.lowerBound),
                formatDuration(r.ours.idealLongestFirst),
                formatDuration(r.ours.makespan),
                (r.ours.makespan / r.ours.lowerBound).toFixed(3),
                pct(r.ours.makespan / r.ours.idealLongestFirst),
                formatDuration(r.poolMap!.makespan),
                (r.poolMap!.makespan / r.poolMap!.lowerBound).toFixed(3),
                pct(r.ours.makespan / r.poolMap!.makespan),
                `${r.ours.overheadMsPerTask.toFixed(2)} ms`,
            ]),
        ["left", "right", "right", "right", "right", "right", "right", "right", "right", "right", "right"],
    );
}

/** The workloads with failed attempts: our makespan against no failure, no failure plus the failed attempts, and a backoff held in its slot. */
export function retryTable(rows: readonly BenchRow[]): string {
    const pct = signedPercent;
    return table(
        ["workload", "P", "no failure", "+ failed attempt", "backoff held in slot", "ideal", "ours", "vs ideal"],
        rows
            .filter((r) => r.failedAttemptSeconds > 0)
            .map((r) => [
                r.workload,
                r.pool,
                formatDuration(r.ours.noFailureMakespan),
                formatDuration(r.ours.noFailureMakespan + r.failedAttemptSeconds),
                formatDuration(r.ours.backoffHoldingSlotMakespan),
                formatDuration(r.ours.idealLongestFirst),
                formatDuration(r.ours.makespan),
                pct(r.ours.makespan / r.ours.idealLongestFirst),
            ]),
        ["left", "right", "right", "right", "right", "right", "right", "right"],
    );
}

async function main(): Promise<void> {
    const options = new Command("bench")
        .description("Benchmark the parallel orchestrator against ThreadPool.map on fixed workloads")
        .option(
            "--scale <ms>",
            "real milliseconds per simulated minute",
            (value: string) => {
                const scale = Number(value);
                if (!Number.isFinite(scale) || scale <= 0) {
                    throw new InvalidArgumentError("expected a positive number of milliseconds, e.g. 50");
                }
                return scale;
            },
            50,
        )
        .parse()
        .opts<{ scale: number }>();

    const scaled = benchWorkloads().filter((w) => (w.minimumScale ?? 0) > options.scale);
    console.log(
        `Benchmark: 1 simulated minute = ${options.scale} ms` +
            scaled.map((w) => ` (${w.minimumScale} ms for the ${w.items.length}-item workload)`).join("") +
            "; durations and makespans in simulated time, overhead in real time.\n",
    );
    const rows: BenchRow[] = [];
    for (const workload of benchWorkloads()) {
        const notebooks = new SimulationNotebooks(workload.items);
        try {
            const failed = failedAttemptSeconds(workload.items);
            const scale = Math.max(options.scale, workload.minimumScale ?? 0);
            for (const pool of workload.pools ?? DEFAULT_POOLS) {
                const ours = await simulate(notebooks, "parallel", pool, scale, workload.retries);
                const poolMap = failed > 0 ? undefined : await simulate(notebooks, "pool.map", pool, scale);
                rows.push({ workload: workload.name, pool, ours, poolMap, failedAttemptSeconds: failed });
            }
        } finally {
            notebooks.dispose();
        }
    }
    console.log(benchTable(rows));
    console.log(
        `\nWith a transient failure (retried after a ${formatDuration(benchWorkloads().find((w) => w.retries)?.retries?.backoffSeconds ?? 0)} backoff):`,
    );
    console.log(retryTable(rows));
    console.log("\nTargets:");
    const checks = checkTargets(rows);
    for (const check of checks) {
        console.log(`  ${check.met ? "met    " : "MISSED "} ${check.target}: ${check.detail}`);
    }
    if (checks.some((c) => !c.met)) {
        process.exitCode = 1;
    }
}

if (require.main === module) {
    main().catch((error: unknown) => {
        console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
    });
}
