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
    notebook_task?: { notebook_path?: string };
    existing_cluster_id?: string;
    job_cluster_key?: string;
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
