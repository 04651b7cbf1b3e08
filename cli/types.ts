/**
 * The parts of the Databricks Jobs API 2.2 responses this tool reads. Field names follow the
 * public API reference; every field is optional because the API omits what does not apply.
 * Times are epoch milliseconds, durations milliseconds.
 */

export type LifeCycleState =
    "QUEUED" | "PENDING" | "RUNNING" | "TERMINATING" | "TERMINATED" | "SKIPPED" | "INTERNAL_ERROR" | "BLOCKED" | "WAITING_FOR_RETRY" | string;

export interface RunState {
    life_cycle_state?: LifeCycleState;
    result_state?: string;
    state_message?: string;
    user_cancelled_or_timedout?: boolean;
    queue_reason?: string;
}

export interface RunStatus {
    state?: string;
    termination_details?: { code?: string; type?: string; message?: string };
    queue_details?: { code?: string; message?: string };
}

/** Timing and state fields that a job run and each of its task runs both have. */
export interface RunTimes {
    state?: RunState;
    status?: RunStatus;
    start_time?: number;
    end_time?: number;
    setup_duration?: number;
    execution_duration?: number;
    cleanup_duration?: number;
    queue_duration?: number;
    run_duration?: number;
}

export interface RunTask extends RunTimes {
    run_id?: number;
    task_key?: string;
    attempt_number?: number;
    run_page_url?: string;
    depends_on?: { task_key: string }[];
    notebook_task?: { notebook_path?: string; base_parameters?: Record<string, string> };
    existing_cluster_id?: string;
    job_cluster_key?: string;
    /** A cluster created for this task alone (jobs compute). */
    new_cluster?: ClusterSpec;
    /** A For each task: its nested task and, in runs/get and runs/list, its iteration counts (RunForEachTask). */
    for_each_task?: RunForEachTask;
}

/**
 * Jobs API 2.2 RunForEachTask: `stats.task_run_stats` counts the iterations
 * (ForEachTaskTaskRunStats, databricks-sdk jobs.py); the iterations themselves are the
 * `iterations` of runs/get called with the For each task's run id.
 */
export interface RunForEachTask {
    inputs?: string;
    concurrency?: number;
    task?: { task_key?: string; notebook_task?: { notebook_path?: string; base_parameters?: Record<string, string> } };
    stats?: {
        task_run_stats?: {
            total_iterations?: number;
            scheduled_iterations?: number;
            active_iterations?: number;
            completed_iterations?: number;
            succeeded_iterations?: number;
            failed_iterations?: number;
        };
        error_message_stats?: { error_message?: string; count?: number; termination_category?: string }[];
    };
}

/** The size of a cluster (Clusters API 2.1 ClusterSpec / clusters/get): a fixed size or an autoscale range. */
export interface ClusterSpec {
    cluster_id?: string;
    cluster_name?: string;
    num_workers?: number;
    autoscale?: { min_workers?: number; max_workers?: number };
    node_type_id?: string;
    spark_version?: string;
    state?: string;
}

export interface JobRun extends RunTimes {
    job_id?: number;
    run_id: number;
    number_in_job?: number;
    run_name?: string;
    run_page_url?: string;
    run_type?: string;
    trigger?: string;
    tasks?: RunTask[];
    /** runs/get of a For each task's run id: one entry per iteration, in input order. */
    iterations?: RunTask[];
    /** The job clusters the run's tasks used (job_cluster_key), with their new_cluster spec. */
    job_clusters?: { job_cluster_key: string; new_cluster?: ClusterSpec }[];
    /** The job parameters the run used: [{name, default, value}]. */
    job_parameters?: (JobParameter & { value?: string })[];
    next_page_token?: string;
}

export interface RunsListResponse {
    runs?: JobRun[];
    has_more?: boolean;
    next_page_token?: string;
    prev_page_token?: string;
}

export interface RunOutput {
    metadata?: JobRun;
    notebook_output?: { result?: string; truncated?: boolean };
    error?: string;
    error_trace?: string;
    logs?: string;
}

export interface JobParameter {
    name: string;
    default?: string;
}

export interface Job {
    job_id: number;
    created_time?: number;
    settings?: { name?: string; tasks?: { task_key: string }[]; parameters?: JobParameter[] };
}

export interface JobsListResponse {
    jobs?: Job[];
    has_more?: boolean;
    next_page_token?: string;
}

export interface RunNowResponse {
    run_id: number;
    number_in_job?: number;
}
