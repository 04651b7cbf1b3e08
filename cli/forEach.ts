/**
 * The Databricks-native strategy: a job whose For each task runs one nested notebook task per
 * worker (Jobs API 2.2 `for_each_task`). It has no orchestrator summary; its per-worker figures
 * are the iterations, which runs/get lists as `iterations` when called with the For each task's
 * run id, while the job run's task carries the counts in `for_each_task.stats.task_run_stats`
 * (RunForEachTask / ForEachTaskTaskRunStats in the Jobs API 2.2 reference and databricks-sdk-py
 * service/jobs.py). The iterations are turned into the summary shape the other jobs' orchestrator
 * writes, so that run, compare and the chart treat the three strategies alike.
 */
import type { OrchestratorSummary, WorkerSummary } from "./summary";
import type { JobRun, RunTask } from "./types";

/** The run's For each task, if it has one. */
export function forEachTask(run: JobRun): RunTask | undefined {
    return (run.tasks ?? []).find((t) => t.for_each_task !== undefined);
}

/**
 * The nested task's parameter whose value in each iteration names the item: the one that receives the
 * whole input (`{{input}}`, the ETL workers' names), else the one that receives the input's
 * `work_item` (`{{input.work_item}}`, one notebook over items); undefined when neither is there.
 */
export function inputParameter(task: RunTask): string | undefined {
    const params = task.for_each_task?.task?.notebook_task?.base_parameters ?? {};
    return (
        Object.keys(params).find((k) => /\{\{\s*input\s*\}\}/.test(params[k])) ??
        Object.keys(params).find((k) => /\{\{\s*input\.work_item\s*\}\}/.test(params[k]))
    );
}

/** Wall seconds of a task run: run_duration, else end - start, else the sum of its phases. */
export function taskSeconds(task: RunTask): number | null {
    if (typeof task.run_duration === "number" && task.run_duration > 0) return task.run_duration / 1000;
    if (task.start_time && task.end_time && task.end_time >= task.start_time) return (task.end_time - task.start_time) / 1000;
    const sum = (task.setup_duration ?? 0) + (task.execution_duration ?? 0) + (task.cleanup_duration ?? 0);
    return sum > 0 ? sum / 1000 : null;
}

/** SUCCEEDED / FAILED / TIMED_OUT ..., as the orchestrators name a worker's outcome. */
function iterationStatus(task: RunTask): string {
    const result = task.state?.result_state ?? task.status?.termination_details?.code;
    if (result === "SUCCESS") return "SUCCEEDED";
    if (result === "FAILED" || result === "RUN_EXECUTION_ERROR") return "FAILED";
    if (result === "TIMEDOUT") return "TIMED_OUT";
    return result ?? lifeCycle(task);
}

const lifeCycle = (task: RunTask): string => task.state?.life_cycle_state ?? task.status?.state ?? "UNKNOWN";

const iso = (ms: number | undefined): string | null => (ms ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z") : null);

/**
 * The iterations of a For each task run as an orchestrator summary: one worker per iteration
 * (named by the input parameter's value, else "iteration N"), the For each task's wall time as
 * the orchestrator's, its concurrency as max_workers. `taskRun` is runs/get of the task's run id.
 */
export function summaryFromIterations(task: RunTask, taskRun: JobRun): OrchestratorSummary {
    const key = inputParameter(task);
    const workers: WorkerSummary[] = (taskRun.iterations ?? []).map((it, i) => ({
        name: (key && it.notebook_task?.base_parameters?.[key]) || `iteration ${i + 1}`,
        status: iterationStatus(it),
        attempts: (it.attempt_number ?? 0) + 1,
        started_at: iso(it.start_time),
        finished_at: iso(it.end_time),
        duration_seconds: taskSeconds(it),
        run_id: it.run_id,
        error: it.state?.state_message || null,
    }));
    const result = task.state?.result_state ?? task.status?.termination_details?.code;
    return {
        mode: "for-each",
        status: result === "SUCCESS" ? "SUCCEEDED" : (result ?? lifeCycle(task)),
        started_at: iso(task.start_time) ?? undefined,
        finished_at: iso(task.end_time) ?? undefined,
        duration_seconds: taskSeconds(task) ?? undefined,
        ...(task.for_each_task?.concurrency !== undefined ? { max_workers: task.for_each_task.concurrency } : {}),
        workers,
    };
}

/** "4 iterations: 4 succeeded, 0 failed" from the For each task's task_run_stats. */
export function iterationCounts(task: RunTask): string | undefined {
    const s = task.for_each_task?.stats?.task_run_stats;
    if (!s || s.total_iterations === undefined) return undefined;
    const active = s.active_iterations ? `, ${s.active_iterations} active` : "";
    return `${s.total_iterations} iterations: ${s.succeeded_iterations ?? 0} succeeded, ${s.failed_iterations ?? 0} failed${active}`;
}
