/**
 * The orchestrator's JSON summary: what the `orchestrate` notebook passes to
 * `dbutils.notebook.exit(json)` (read back with runs/get-output as `notebook_output.result`), or,
 * when a worker failed and the notebook raised, the line `Summary: {json}` in the task's error.
 */
import type { JobRun, RunOutput, RunTask } from "./types";

export type WorkerStatus = "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "SKIPPED" | string;

export interface WorkerSummary {
    /** The work item's name (an ETL worker's name for the default items). */
    name: string;
    /** The item's notebook (relative to the stack's folder, or absolute) and its own arguments. */
    notebook?: string;
    arguments?: Record<string, string>;
    path?: string;
    status: WorkerStatus;
    attempts?: number;
    started_at?: string | null;
    finished_at?: string | null;
    duration_seconds: number | null;
    exit_value?: unknown;
    error?: string | null;
}

export interface OrchestratorSummary {
    mode?: "sequential" | "parallel" | string;
    status: "SUCCEEDED" | "FAILED" | string;
    run_id?: string;
    started_at?: string;
    finished_at?: string;
    duration_seconds?: number;
    max_workers?: number;
    order_source?: string;
    dispatch_order?: string[];
    workers: WorkerSummary[];
}

/** The task key of the orchestration task in both jobs (contract with the Pulumi stack). */
export const ORCHESTRATE_TASK_KEY = "orchestrate";

/**
 * Validates a parsed summary just enough to rely on it: an object with a `workers` array whose
 * entries have a string `name` and a numeric or null `duration_seconds`. Returns undefined when
 * the value is not a summary (a notebook may exit with something else).
 */
export function asSummary(value: unknown): OrchestratorSummary | undefined {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
    const obj = value as Record<string, unknown>;
    if (!Array.isArray(obj.workers)) return undefined;
    const workers: WorkerSummary[] = [];
    for (const entry of obj.workers) {
        if (entry === null || typeof entry !== "object") return undefined;
        const w = entry as Record<string, unknown>;
        if (typeof w.name !== "string") return undefined;
        const d = w.duration_seconds;
        workers.push({
            ...(w as object),
            name: w.name,
            status: typeof w.status === "string" ? w.status : "UNKNOWN",
            duration_seconds: typeof d === "number" && Number.isFinite(d) ? d : null,
        } as WorkerSummary);
    }
    return {
        ...(obj as object),
        status: typeof obj.status === "string" ? obj.status : "UNKNOWN",
        workers,
    } as OrchestratorSummary;
}

/** Parses summary JSON text; undefined when it is not JSON or not shaped like a summary. */
export function parseSummaryText(text: string | undefined | null): OrchestratorSummary | undefined {
    if (!text) return undefined;
    try {
        return asSummary(JSON.parse(text));
    } catch {
        return undefined;
    }
}

/** Finds a `Summary: {...}` line in an error text (the notebook raises with it when a worker failed). */
export function summaryFromErrorText(text: string | undefined | null): OrchestratorSummary | undefined {
    if (!text) return undefined;
    for (const line of text.split(/\r?\n/)) {
        const at = line.indexOf("Summary: ");
        if (at === -1) continue;
        // The line starts with "Summary: " in the notebook's message; an exception class name
        // ("Exception: Summary: ...") may precede it in error_trace, so search within the line.
        const found = parseSummaryText(line.slice(at + "Summary: ".length).trim());
        if (found) return found;
    }
    return undefined;
}

/** The summary in a runs/get-output response: the notebook's exit value, else the error's Summary line. */
export function summaryFromOutput(output: RunOutput): OrchestratorSummary | undefined {
    return parseSummaryText(output.notebook_output?.result) ?? summaryFromErrorText(output.error) ?? summaryFromErrorText(output.error_trace);
}

/**
 * The orchestrate task of a job run: the task with key `orchestrate`, or, for a job laid out
 * differently, its only notebook task. Undefined when there is none.
 */
export function orchestrateTask(run: JobRun): RunTask | undefined {
    const tasks = run.tasks ?? [];
    const byKey = tasks.find((t) => t.task_key === ORCHESTRATE_TASK_KEY);
    if (byKey) return byKey;
    return tasks.length === 1 ? tasks[0] : undefined;
}
