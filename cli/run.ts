/**
 * `jobs run`: triggers the jobs one after the other (never two at once on the shared cluster),
 * with job parameter overrides when given, follows each run until it ends or the wait limit
 * (--timeout, 20m as in `databricks jobs run-now`) passes, and prints its URL, its life-cycle state
 * transitions, the elapsed time and the orchestrator's summary. A run that does not succeed ends
 * with an `Error:` line on stderr naming job, run, state and the termination message.
 */
import { ApiError, type JobsClient } from "./api";
import { CliError, EXIT_OK, EXIT_RUN_FAILED, UsageError } from "./errors";
import { formatDuration, formatElapsed, formatGoDuration, formatRatio, table } from "./format";
import type { Progress, Writer } from "./progress";
import { clusterUses, fetchClusterSizes, formatNodes, formatRange, runCost, type ClusterSizes, type RunCost } from "./cost";
import { forEachTask, iterationCounts, summaryFromIterations } from "./forEach";
import { runResult, runTiming } from "./stats";
import { orchestrateTask, summaryFromOutput, type OrchestratorSummary } from "./summary";
import type { JobKind } from "./stack";
import type { Job, JobRun } from "./types";

export interface JobTarget {
    /** "sequential", "parallel", or undefined for a job given with --job-id. */
    kind?: JobKind;
    id: number;
    /** How the id was found, for errors: "--job-id", "stack 'dev' output 'parallelJobId'". */
    source: string;
}

export interface RunContext {
    client: JobsClient;
    out: Writer;
    /** Warnings and notes. */
    err: Writer;
    progress: () => Progress;
    sleep: (ms: number) => Promise<void>;
    now: () => number;
    pollIntervalMs: number;
    /** How long to wait for one run to end (--timeout). */
    waitTimeoutMs: number;
    /** Called with the run page URL while a run is being waited on (for the Ctrl-C message). */
    onWaiting?: (url: string | undefined) => void;
    /** clusters/get answers, fetched once per cluster for the runs' node-hours. */
    clusterSizes?: ClusterSizes;
}

export const TERMINAL_STATES = new Set(["TERMINATED", "SKIPPED", "INTERNAL_ERROR"]);

export function lifeCycle(run: { state?: { life_cycle_state?: string }; status?: { state?: string } }): string {
    return run.state?.life_cycle_state ?? run.status?.state ?? "UNKNOWN";
}

export function isTerminal(run: JobRun): boolean {
    return TERMINAL_STATES.has(lifeCycle(run));
}

type StateFields = { state?: { life_cycle_state?: string; result_state?: string }; status?: { state?: string; termination_details?: { code?: string } } };

/**
 * "TERMINATED SUCCESS" for a finished run or task, else its life-cycle state. Without the
 * deprecated `state`, the result is the termination code of `status` ("TERMINATED RUN_EXECUTION_ERROR").
 */
export function stateLabel(run: StateFields): string {
    const life = lifeCycle(run);
    const result = run.state ? run.state.result_state : run.status?.termination_details?.code;
    return result && (TERMINAL_STATES.has(life) || life === "TERMINATING") ? `${life} ${result}` : life;
}

/** Why a run ended as it did: `state.state_message`, else `status.termination_details.message`. */
export function terminationMessage(run: JobRun): string | undefined {
    return run.state?.state_message?.trim() || run.status?.termination_details?.message?.trim() || undefined;
}

/**
 * Parses --param key=value overrides into job parameters; names the flag value at fault. Job
 * parameter names are letters, digits, '_', '-' and '.'.
 */
export function parseJobParams(values: readonly string[]): Record<string, string> {
    const params: Record<string, string> = {};
    for (const value of values) {
        const eq = value.indexOf("=");
        const key = eq < 0 ? "" : value.slice(0, eq).trim();
        if (eq < 0 || key === "") throw new UsageError(`--param '${value}' is not KEY=VALUE (e.g. --param max_workers=8)`);
        if (!/^[A-Za-z0-9_.-]+$/.test(key)) throw new UsageError(`--param '${value}': job parameter names are letters, digits, '_', '-' and '.', got '${key}'`);
        if (key in params) throw new UsageError(`--param ${key} is given twice ('${key}=${params[key]}' and '${value}')`);
        params[key] = value.slice(eq + 1);
    }
    return params;
}

/**
 * The overrides each job takes: a parameter goes to the jobs that define it; one that no job
 * defines is an error naming the jobs' parameters.
 */
export function paramsByJob(params: Record<string, string>, jobs: readonly { target: JobTarget; job: Job }[]): Record<string, string>[] {
    const defined = jobs.map(({ job }) => new Set((job.settings?.parameters ?? []).map((p) => p.name)));
    for (const key of Object.keys(params)) {
        if (!defined.some((names) => names.has(key))) {
            const known = [...new Set(defined.flatMap((names) => [...names]))].sort();
            const which = jobs.map(({ target, job }) => jobLabel(target, job)).join(" and ");
            throw new UsageError(
                `--param ${key}: ${which} ${jobs.length > 1 ? "have" : "has"} no job parameter '${key}'` +
                    (known.length ? ` (job parameters: ${known.join(", ")})` : " (no job parameters)"),
            );
        }
    }
    return defined.map((names) => Object.fromEntries(Object.entries(params).filter(([key]) => names.has(key))));
}

/** "setup TERMINATED SUCCESS, orchestrate RUNNING". */
export function taskStates(run: JobRun): string {
    return (run.tasks ?? []).map((t) => `${t.task_key ?? t.run_id} ${stateLabel(t)}`).join(", ");
}

export function jobLabel(target: JobTarget, job?: Job): string {
    const name = job?.settings?.name;
    const kind = target.kind ? `${target.kind} job` : "job";
    return `${kind} ${target.id}${name ? ` (${name})` : ""}`;
}

/** jobs/get, turning "does not exist" into an error that names the id and where it came from. */
export async function getJobChecked(client: JobsClient, target: JobTarget): Promise<Job> {
    try {
        return await client.getJob(target.id);
    } catch (err) {
        if (err instanceof ApiError && err.isNotFound) {
            throw new CliError(
                `job ${target.id} (from ${target.source}) does not exist in the workspace ${client.host}` +
                    (err.apiMessage ? ` (${err.apiMessage})` : "") +
                    `: check the id, the workspace host, or redeploy the stack`,
            );
        }
        throw err;
    }
}

export function runPageUrl(client: JobsClient, jobId: number, run: JobRun): string {
    return run.run_page_url ?? `${client.host}/#job/${jobId}/run/${run.run_id}`;
}

export interface SummaryResult {
    summary?: OrchestratorSummary;
    /** Why there is no summary. */
    note?: string;
    /** The orchestrate task's error text, when it failed. */
    error?: string;
    taskRunId?: number;
    /** Where the summary came from: "runs/get-output of task orchestrate" or "iterations of For each task workers". */
    source?: string;
    /** The For each task's iteration counts (task_run_stats). */
    counts?: string;
    /** The task the summary or the error comes from. */
    taskKey?: string;
}

/** For a For each job: runs/get of the For each task's run, its iterations as a summary. */
async function fetchIterations(client: JobsClient, task: NonNullable<ReturnType<typeof forEachTask>>): Promise<SummaryResult> {
    const where = `For each task ${task.task_key ?? ""}`.trim();
    if (task.run_id === undefined) return { note: `the ${where} has no run id` };
    if (!task.start_time || task.state?.life_cycle_state === "SKIPPED") {
        return { note: `the ${where} did not run (${stateLabel(task)})`, taskRunId: task.run_id };
    }
    let taskRun: JobRun;
    try {
        taskRun = await client.getRun(task.run_id);
    } catch (err) {
        if (err instanceof ApiError && err.status !== 401 && err.status !== 403) {
            return { note: `runs/get of task run ${task.run_id} failed: ${err.message}`, taskRunId: task.run_id };
        }
        throw err;
    }
    if (!taskRun.iterations?.length) return { note: `runs/get of the ${where} (run ${task.run_id}) lists no iterations`, taskRunId: task.run_id };
    return {
        summary: summaryFromIterations(task, taskRun),
        taskRunId: task.run_id,
        source: `iterations of the ${where}`,
        taskKey: task.task_key,
        counts: iterationCounts(task),
        error: task.state?.result_state !== "SUCCESS" ? task.state?.state_message || undefined : undefined,
    };
}

/** runs/get-output of the orchestrate task, and the summary in it. Never throws for a missing summary. */
export async function fetchSummary(client: JobsClient, run: JobRun): Promise<SummaryResult> {
    const loop = forEachTask(run);
    if (loop) return fetchIterations(client, loop);
    const task = orchestrateTask(run);
    if (!task) return { note: "the run has no task 'orchestrate'" };
    if (task.run_id === undefined) return { note: "the orchestrate task has no run id" };
    const result = task.state?.result_state;
    if (!task.start_time || task.state?.life_cycle_state === "SKIPPED" || result === "UPSTREAM_FAILED" || result === "UPSTREAM_CANCELED") {
        return { note: `the orchestrate task did not run (${stateLabel(task)})`, taskRunId: task.run_id };
    }
    let output;
    try {
        output = await client.getRunOutput(task.run_id);
    } catch (err) {
        if (err instanceof ApiError && err.status !== 401 && err.status !== 403) {
            return { note: `runs/get-output of task run ${task.run_id} failed: ${err.message}`, taskRunId: task.run_id };
        }
        throw err;
    }
    const summary = summaryFromOutput(output);
    const error = output.error?.trim() || undefined;
    if (summary) return { summary, error, taskRunId: task.run_id, source: "runs/get-output of task orchestrate", taskKey: task.task_key };
    return {
        note: error ? "the orchestrate task failed without a summary" : "the orchestrate notebook's exit value is not a summary",
        error,
        taskRunId: task.run_id,
    };
}

/**
 * The summary as pretty JSON, one line per field and one line per worker, so that the workers
 * can be read at a glance before the table. JSON.parse gives back the same object.
 */
export function prettySummary(summary: OrchestratorSummary): string {
    const lines = Object.entries(summary).map(([key, value]) => {
        if (key === "workers" && Array.isArray(value)) {
            const workers = value.map((w) => `    ${JSON.stringify(w)}`).join(",\n");
            return `  ${JSON.stringify(key)}: [\n${workers}\n  ]`;
        }
        return `  ${JSON.stringify(key)}: ${JSON.stringify(value)}`;
    });
    return `{\n${lines.join(",\n")}\n}`;
}

/** The per-worker table of a summary. */
export function workerTable(summary: OrchestratorSummary): string {
    return table(
        ["Worker", "Status", "Attempts", "Duration", "Error"],
        summary.workers.map((w) => [
            w.name,
            w.status,
            w.attempts ?? "-",
            formatDuration(w.duration_seconds),
            w.error ? String(w.error).split("\n")[0].slice(0, 100) : "",
        ]),
        ["left", "left", "right", "right", "left"],
    );
}

/** The error text without the Summary line (already shown as JSON), first few lines. */
function errorExcerpt(error: string): string {
    return error
        .split(/\r?\n/)
        .filter((l) => !l.includes("Summary: "))
        .slice(0, 5)
        .join("\n");
}

/** Waits until the run ends or the wait limit passes, logging each change of the run's or its tasks' states. */
export async function waitForRun(
    ctx: RunContext,
    label: string,
    first: JobRun,
): Promise<{ run: JobRun; states: string[]; elapsedMs: number; timedOut: boolean }> {
    const started = ctx.now();
    const progress = ctx.progress();
    const states: string[] = [];
    let lastKey = "";
    let lastLine = started;
    let run = first;
    let timedOut = false;
    try {
        for (;;) {
            const life = lifeCycle(run);
            if (states[states.length - 1] !== life) states.push(life);
            const state = stateLabel(run);
            const tasks = taskStates(run);
            const elapsed = formatElapsed(ctx.now() - started);
            const key = `${state}|${tasks}`;
            if (key !== lastKey) {
                progress.log(`  ${elapsed.padStart(7)}  ${state.padEnd(18)}${tasks ? `  tasks: ${tasks}` : ""}`);
                lastKey = key;
                lastLine = ctx.now();
            } else if (progress.wantsHeartbeat && ctx.now() - lastLine >= 60_000) {
                progress.log(`  ${elapsed.padStart(7)}  still ${state}`);
                lastLine = ctx.now();
            }
            progress.update(() => `${label}: ${state}  ${formatElapsed(ctx.now() - started)}${tasks ? `  (${tasks})` : ""}`);
            if (isTerminal(run)) break;
            if (ctx.now() - started >= ctx.waitTimeoutMs) {
                timedOut = true;
                break;
            }
            await ctx.sleep(Math.min(ctx.pollIntervalMs, Math.max(1, ctx.waitTimeoutMs - (ctx.now() - started))));
            run = await ctx.client.getRun(run.run_id);
        }
    } finally {
        progress.stop();
    }
    return { run, states, elapsedMs: ctx.now() - started, timedOut };
}

export interface RunOutcome {
    target: JobTarget;
    job: Job;
    run: JobRun;
    url: string;
    waited: boolean;
    /** The wait limit passed before the run ended. */
    timedOut: boolean;
    succeeded: boolean;
    /** The job parameter overrides sent with run-now. */
    params: Record<string, string>;
    summary?: OrchestratorSummary;
    /** Node-hours of the compute the run used (an estimate from the cluster sizes). */
    cost?: RunCost;
}

/** Triggers one job and, when `wait`, follows it to the end (or the wait limit) and prints its summary. */
export async function runOne(ctx: RunContext, target: JobTarget, job: Job, wait: boolean, params: Record<string, string> = {}): Promise<RunOutcome> {
    const { client, out } = ctx;
    const label = jobLabel(target, job);

    const active = await client.listRuns(target.id, { activeOnly: true, max: 5 });
    if (active.length > 0) {
        const list = active.map((r) => `${r.run_id} ${lifeCycle(r)}`).join(", ");
        ctx.err.write(
            `Warning: ${label} already has ${active.length} active run${active.length > 1 ? "s" : ""} (${list}); ` +
                `the new run may queue behind it or share the cluster with it, which skews its timing.\n`,
        );
    }

    const { run_id: runId } = await client.runNow(target.id, params);
    const overrides = Object.entries(params).map(([k, v]) => `${k}=${v}`);
    out.write(`Triggered ${label}: run ${runId}${overrides.length ? ` with job parameters ${overrides.join(", ")}` : ""}\n`);
    let run = await client.getRun(runId);
    const url = runPageUrl(client, target.id, run);
    out.write(`Run URL: ${url}\n`);
    if (!wait) {
        out.write(`Not waiting (--no-wait); the run goes on in the workspace.\n\n`);
        return { target, job, run, url, waited: false, timedOut: false, succeeded: true, params };
    }

    out.write("\n");
    ctx.onWaiting?.(url);
    const waited = await waitForRun(ctx, label, run);
    ctx.onWaiting?.(undefined);
    run = waited.run;
    if (waited.timedOut) {
        out.write(
            `\nStopped waiting after ${formatGoDuration(ctx.waitTimeoutMs)} (--timeout); run ${run.run_id} is ${stateLabel(run)} and goes on in the workspace: ${url}\n\n`,
        );
        return { target, job, run, url, waited: true, timedOut: true, succeeded: false, params };
    }
    const result = runResult(run);
    const timing = runTiming(run);
    const duration = timing.duration > 0 ? timing.duration : waited.elapsedMs / 1000;
    const transitions = [...waited.states.slice(0, -1), stateLabel(run)].join(" -> ");
    out.write(`\nRun ${run.run_id}: ${transitions} in ${formatDuration(duration)}\n`);
    const message = terminationMessage(run);
    if (result !== "SUCCESS" && message) out.write(`State message: ${message}\n`);
    const sizes = ctx.clusterSizes ?? new Map();
    const uses = clusterUses(run);
    await fetchClusterSizes(client, uses, sizes);
    const cost = runCost(uses, sizes, {});
    if (cost.compute.length && cost.unknown.length === 0) {
        out.write(
            `Compute: ${formatNodes(uses, sizes)} nodes (${cost.compute.join(" and ")} compute), ${formatRange(cost.nodeHours, 3)} node-hours ` +
                "(an estimate; `npm run jobs -- compare` adds DBUs and cost)\n",
        );
    }

    const found = await fetchSummary(client, run);
    if (found.summary) {
        if (found.summary.mode === "for-each") {
            // No orchestrator here: the iterations are the per-worker figures.
            out.write(`\nFor each (${found.source}, run ${found.taskRunId}${found.counts ? `; ${found.counts}` : ""}):\n`);
        } else {
            out.write(`\nOrchestrator summary (${found.source}, run ${found.taskRunId}):\n`);
            out.write(`${prettySummary(found.summary)}\n\n`);
        }
        out.write(`${workerTable(found.summary)}\n`);
    } else {
        out.write(`\nNo orchestrator summary: ${found.note}.\n`);
    }
    if (found.error && result !== "SUCCESS") {
        out.write(`\nError of task ${found.taskKey ?? "orchestrate"}:\n${errorExcerpt(found.error)}\n`);
    }
    out.write("\n");
    return { target, job, run, url, waited: true, timedOut: false, succeeded: result === "SUCCESS", params, summary: found.summary, cost };
}

/** The `Error:` line for a run that did not succeed: job, run, state and the termination message. */
export function failureLine(o: RunOutcome, waitTimeoutMs: number): string {
    const where = `${jobLabel(o.target, o.job)} run ${o.run.run_id}`;
    if (o.timedOut) {
        return `Error: timed out after ${formatGoDuration(waitTimeoutMs)} waiting for ${where}: it is ${stateLabel(o.run)} and goes on in the workspace (${o.url})`;
    }
    const message = terminationMessage(o.run);
    return `Error: ${where} ended ${stateLabel(o.run)}${message ? `: ${message}` : ""}`;
}

export interface RunJobsResult {
    exitCode: number;
    outcomes: RunOutcome[];
}

/**
 * Checks that every job exists and takes the parameters, then runs the targets one after the
 * other: 0 when every run ended in SUCCESS (or was not waited for), 1 otherwise. A failed run
 * does not stop the next job; a run still going at the wait limit does (the next would share the
 * cluster with it).
 */
export async function runJobs(ctx: RunContext, targets: readonly JobTarget[], wait: boolean, params: Record<string, string> = {}): Promise<RunJobsResult> {
    const jobs: { target: JobTarget; job: Job }[] = [];
    for (const target of targets) jobs.push({ target, job: await getJobChecked(ctx.client, target) });
    const overrides = paramsByJob(params, jobs);
    const outcomes: RunOutcome[] = [];
    for (const [i, { target, job }] of jobs.entries()) {
        const outcome = await runOne(ctx, target, job, wait, overrides[i]);
        outcomes.push(outcome);
        if (outcome.timedOut && i < jobs.length - 1) {
            const rest = jobs.slice(i + 1).map((j) => jobLabel(j.target, j.job));
            ctx.err.write(`Not starting ${rest.join(", ")}: run ${outcome.run.run_id} is still going and they would share the cluster.\n`);
            break;
        }
    }
    if (!wait) return { exitCode: EXIT_OK, outcomes };

    if (outcomes.length > 1) {
        ctx.out.write(
            `${table(
                ["Job", "Job id", "Run", "Result", "Duration", "Node-hours", "Workers"],
                outcomes.map((o) => [
                    o.target.kind ?? "job",
                    o.target.id,
                    o.run.run_id,
                    o.timedOut ? `${lifeCycle(o.run)} (timed out)` : runResult(o.run),
                    formatDuration(runTiming(o.run).duration),
                    o.cost?.compute.length && !o.cost.unknown.length ? formatRange(o.cost.nodeHours, 3) : "-",
                    o.summary ? `${o.summary.workers.filter((w) => w.status === "SUCCEEDED").length}/${o.summary.workers.length} succeeded` : "-",
                ]),
                ["left", "right", "right", "left", "right", "right", "left"],
            )}\n`,
        );
        for (const [kind, ratio] of Object.entries(speedups(outcomes))) {
            ctx.out.write(
                `\n${kind[0].toUpperCase()}${kind.slice(1)}/sequential speedup on this pair of runs: ${formatRatio(ratio)} ` +
                    `(\`npm run jobs -- compare\` gives the spread over several runs).`,
            );
        }
        if (Object.keys(speedups(outcomes)).length) ctx.out.write("\n");
    }
    const failed = outcomes.filter((o) => !o.succeeded);
    for (const o of failed) ctx.err.write(`${failureLine(o, ctx.waitTimeoutMs)}\n`);
    return { exitCode: failed.length > 0 || outcomes.length < jobs.length ? EXIT_RUN_FAILED : EXIT_OK, outcomes };
}

/** Sequential duration over each other strategy's, for those that ran and succeeded alongside a successful sequential run. */
export function speedups(outcomes: readonly RunOutcome[]): Partial<Record<JobKind, number>> {
    const seq = outcomes.find((o) => o.target.kind === "sequential");
    const result: Partial<Record<JobKind, number>> = {};
    if (!seq?.succeeded) return result;
    for (const o of outcomes) {
        if (o.target.kind && o.target.kind !== "sequential" && o.succeeded) result[o.target.kind] = runTiming(seq.run).duration / runTiming(o.run).duration;
    }
    return result;
}

/** The `run -o json` document: one entry per triggered run, the full runs/get answer included. */
export function runsToJson(outcomes: readonly RunOutcome[]): unknown {
    return {
        runs: outcomes.map((o) => ({
            job: o.target.kind ?? null,
            job_id: o.target.id,
            job_name: o.job.settings?.name ?? null,
            run_id: o.run.run_id,
            run_page_url: o.url,
            waited: o.waited,
            timed_out: o.timedOut,
            life_cycle_state: lifeCycle(o.run),
            result_state: o.waited && !o.timedOut ? runResult(o.run) : null,
            termination_message: terminationMessage(o.run) ?? null,
            duration_seconds: o.waited && !o.timedOut ? runTiming(o.run).duration : null,
            node_hours: o.cost?.compute.length && !o.cost.unknown.length ? { min: o.cost.nodeHours.min, max: o.cost.nodeHours.max } : null,
            job_parameters: o.params,
            summary: o.summary ?? null,
            run: o.run,
        })),
        /** Sequential over each other job's duration. */
        speedups: speedups(outcomes),
    };
}
