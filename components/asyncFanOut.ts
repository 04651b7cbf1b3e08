import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import type { TaskCompute } from "./compute";
import { AsyncFanOutConfig, EXECUTION_CONTEXT_LIMIT, WORKSPACE_CONCURRENT_RUN_LIMIT } from "./config";
import { NotebookJob } from "./jobs";
import type { JobKind } from "./naming";
import { uploadNotebook } from "./notebooks";
import { DISPATCH_LIBRARY, readNotebook, renderDispatcher } from "./render";
import { DISPATCHER_PARAMETERS, normaliseNotebook, RESERVED_JOB_KEYS } from "./workItems";

/** A table as the fan-out needs it: `catalog.schema.table` for triggers, backquoted for SQL. */
export interface TableName {
    readonly name: string;
    readonly quoted: string;
}

export interface AsyncFanOutArgs {
    /** The environment's workspace folder (from StackNotebooks). */
    readonly folder: databricks.Directory;
    /**
     * One worker job per job key (see `asyncWorkerNotebooks`): the workspace path of the notebook that is
     * the job's one task, and the argument names an entry's `parameters` may set besides `workerArguments`.
     */
    readonly workerNotebooks: Readonly<Record<string, AsyncWorkerNotebookArgs>>;
    /** The common arguments every worker job has as parameters, with their defaults; an entry may override them. */
    readonly workerArguments: Readonly<Record<string, string>>;
    readonly jobName: (kind: JobKind) => string;
    readonly setupNotebookPath: pulumi.Input<string>;
    /** Setup parameters, including the state and lease tables, so the dispatcher's first run creates them. */
    readonly setupParameters: pulumi.Input<Record<string, pulumi.Input<string>>>;
    readonly compute: TaskCompute;
    /** The shared cluster, whose execution contexts the dispatcher counts; undefined with job clusters. */
    readonly clusterId?: pulumi.Input<string>;
    readonly config: AsyncFanOutConfig;
    readonly stateTable: TableName;
    readonly leaseTable: TableName;
    readonly runLogTable: TableName;
    readonly secretScope: pulumi.Input<string>;
    readonly workspaceUrl: pulumi.Input<string>;
    readonly jobTimeoutSeconds: number;
    readonly notificationEmails: readonly string[];
    readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export interface AsyncWorkerNotebookArgs {
    /** Absolute workspace path of the notebook (inside `folder` for the stack's own notebooks). */
    readonly path: pulumi.Input<string>;
    readonly argumentNames: readonly string[];
}

// Derived from the work items without Pulumi, so the configuration can check it too (components/workItems.ts).
export { AsyncWorkerNotebook, asyncWorkerJobKey, asyncWorkerNotebooks, DISPATCHER_PARAMETERS } from "./workItems";

/** A dispatcher pass takes seconds; its job's timeout is also how long a crashed pass can hold the lease. */
export const DISPATCHER_TIMEOUT_SECONDS = 1800;
/** The smallest gap the table update trigger allows between two runs it starts (Jobs API: at least 60). */
export const MIN_SECONDS_BETWEEN_TRIGGERS = 60;

/**
 * Job parameters of a worker job: the common arguments with their defaults, the notebook's other item
 * arguments (empty unless an entry sets them: a job parameter always has a value), and what the
 * dispatcher sets per entry.
 */
export function workerJobParameters(workerArguments: Readonly<Record<string, string>>, argumentNames: readonly string[] = []): Record<string, string> {
    return {
        ...Object.fromEntries(argumentNames.map((name) => [name, ""])),
        ...workerArguments,
        orchestration_mode: "async_task",
        run_id: "{{job.run_id}}",
        attempt: "1",
        entry_key: "",
        work_item: "",
    };
}

/** The parameters an entry of a worker job may set: the common arguments and the notebook's item arguments. */
export function entryParameterNames(workerArguments: Readonly<Record<string, string>>, argumentNames: readonly string[]): string[] {
    return [...new Set([...Object.keys(workerArguments), ...argumentNames])];
}

/** A task key may hold letters, digits, `_` and `-` only (Jobs API), at most 100 characters. */
export function workerTaskKey(jobKey: string): string {
    return jobKey.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 100);
}

/**
 * A job id as a Run Job task takes it: a number. Job ids are numeric strings; a placeholder id (Pulumi's
 * mock runtime in the offline plan and tests) is passed through unchanged so the plan stays readable.
 */
export function runJobTaskJobId(jobId: string): number {
    return (/^\d+$/.test(jobId) ? Number(jobId) : jobId) as number;
}

/**
 * The dispatcher job's trigger: a run when the state table (a producer's INSERT, a pass's own writes) or
 * the run log (a worker logging its end) changes, at most one a minute. No wait-after-last-change, which
 * would hold the first run back by at least 60 s more and keep postponing it under a steady trickle.
 * `condition` is set although the Jobs API does not return it on read (databricks/cli#6442, which may
 * show as a change in previews): its default is not documented, and ALL_UPDATED would wait for a
 * worker's end before an INSERT could start a run.
 */
export function dispatcherTrigger(tables: readonly string[], pauseStatus: string): databricks.types.input.JobTrigger {
    return {
        pauseStatus,
        tableUpdate: { tableNames: [...tables], condition: "ANY_UPDATED", minTimeBetweenTriggersSeconds: MIN_SECONDS_BETWEEN_TRIGGERS },
    };
}

/**
 * The asynchronous fan-out, for workloads too big for one driver: producers INSERT entries into a
 * state table; a dispatcher submits them as runs of their worker's job through the Jobs API, up to a
 * cap, records their run ids and later reads their outcomes back. No run is held open while workers run.
 *
 * Each notebook among the work items has its own worker job whose one task is that notebook, so a run holds exactly one
 * execution context (a router task calling dbutils.notebook.run would hold two). The dispatcher job
 * starts on updates of the state table and the run log; a job has one trigger or one schedule, so a
 * separate safety-net job runs it on a schedule through a Run Job task (which needs no compute), and
 * both kinds of run queue behind each other in the one dispatcher job.
 */
export class AsyncFanOut extends pulumi.ComponentResource {
    public readonly workerJobs: Record<string, NotebookJob> = {};
    public readonly dispatcherJob: NotebookJob;
    public readonly safetyNetJob: databricks.Job;

    constructor(name: string, args: AsyncFanOutArgs, opts?: pulumi.ComponentResourceOptions) {
        super("orchestration:async:AsyncFanOut", name, {}, opts);
        const { config } = args;

        for (const [key, notebook] of Object.entries(args.workerNotebooks)) {
            if (RESERVED_JOB_KEYS.includes(key) || (DISPATCHER_PARAMETERS as readonly string[]).some((p) => notebook.argumentNames.includes(p))) {
                throw new Error(
                    `AsyncFanOut ${name}: worker job "${key}" (argument names ${notebook.argumentNames.join(", ")}); expected a key other than ` +
                        `${RESERVED_JOB_KEYS.join(", ")} and argument names other than ${DISPATCHER_PARAMETERS.join(", ")}`,
                );
            }
            this.workerJobs[key] = new NotebookJob(
                `${name}-${key}`,
                {
                    jobName: args.jobName(`async-${key}`),
                    description: `Runs notebook ${key} for one state-table entry; submitted by the asynchronous fan-out's dispatcher.`,
                    task: { key: workerTaskKey(key), notebookPath: notebook.path },
                    parameters: workerJobParameters(args.workerArguments, notebook.argumentNames),
                    compute: args.compute,
                    maxConcurrentRuns: config.concurrencyCap,
                    timeoutSeconds: args.jobTimeoutSeconds,
                    notificationEmails: args.notificationEmails,
                    tags: args.tags,
                },
                { parent: this },
            );
        }

        const library = uploadNotebook(name, args.folder, DISPATCH_LIBRARY, readNotebook(DISPATCH_LIBRARY), this);
        const workerJobIds = pulumi.all(Object.fromEntries(Object.entries(this.workerJobs).map(([key, job]) => [key, job.jobId])));
        const workerPaths = pulumi.all(Object.fromEntries(Object.entries(args.workerNotebooks).map(([key, notebook]) => [key, notebook.path])));
        const dispatcher = uploadNotebook(
            name,
            args.folder,
            "async/dispatcher",
            pulumi
                .all([workerJobIds, workerPaths, args.folder.path, args.clusterId, args.secretScope, args.workspaceUrl])
                .apply(([jobIds, paths, folderPath, clusterId, secretScope, workspaceUrl]) =>
                    renderDispatcher({
                        workerJobs: Object.fromEntries(
                            Object.entries(jobIds).map(([key, jobId]) => [
                                key,
                                {
                                    jobId,
                                    // The run log names the stack's own notebooks relative to its folder, as the orchestrators do.
                                    notebook: normaliseNotebook(paths[key], folderPath),
                                    parameters: entryParameterNames(args.workerArguments, args.workerNotebooks[key].argumentNames),
                                },
                            ]),
                        ),
                        clusterId,
                        contextLimit: EXECUTION_CONTEXT_LIMIT,
                        workspaceTaskRunLimit: WORKSPACE_CONCURRENT_RUN_LIMIT,
                        stateTable: args.stateTable.quoted,
                        leaseTable: args.leaseTable.quoted,
                        runLogTable: args.runLogTable.quoted,
                        concurrencyCap: config.concurrencyCap,
                        maxAttempts: config.maxAttempts,
                        deadlineSeconds: config.entryDeadlineSeconds,
                        leaseSeconds: DISPATCHER_TIMEOUT_SECONDS,
                        apiTokenSource: config.apiTokenSource,
                        secretScope,
                        apiTokenSecret: config.apiTokenSecret,
                        workspaceUrl,
                    }),
                ),
            this,
        );
        const schedule = config.dispatcherSchedule;
        this.dispatcherJob = new NotebookJob(
            `${name}-dispatcher`,
            {
                jobName: args.jobName("async-dispatcher"),
                description:
                    "One dispatcher pass over the state table: monitor running entries, submit waiting ones up to the cap. " +
                    "Started by updates of the state table and the run log, and by the safety-net job.",
                setup: { notebookPath: args.setupNotebookPath, parameters: args.setupParameters },
                task: { key: "dispatch", notebookPath: dispatcher.path },
                parameters: { run_id: "{{job.run_id}}" },
                compute: args.compute,
                trigger: config.tableTrigger ? dispatcherTrigger([args.stateTable.name, args.runLogTable.name], schedule.pauseStatus) : undefined,
                maxConcurrentRuns: 1,
                timeoutSeconds: DISPATCHER_TIMEOUT_SECONDS,
                notificationEmails: args.notificationEmails,
                tags: args.tags,
            },
            { parent: this, dependsOn: [library] },
        );

        const emails = args.notificationEmails.length > 0 ? [...args.notificationEmails] : undefined;
        this.safetyNetJob = new databricks.Job(
            `${name}-safety-net-job`,
            {
                name: args.jobName("async-safety-net"),
                description:
                    "Runs the dispatcher job on a schedule, so entries move even when no table update started it (a job has one trigger or one schedule).",
                tasks: [{ taskKey: "dispatch", runJobTask: { jobId: this.dispatcherJob.jobId.apply(runJobTaskJobId) } }],
                schedule: { quartzCronExpression: schedule.quartzCronExpression, timezoneId: schedule.timezoneId, pauseStatus: schedule.pauseStatus },
                maxConcurrentRuns: 1,
                // A scheduled run while the last one still waits for its dispatcher run would only add another pass.
                queue: { enabled: false },
                // Waiting in the dispatcher job's queue behind a triggered pass, then its own pass.
                timeoutSeconds: 2 * DISPATCHER_TIMEOUT_SECONDS,
                emailNotifications: emails ? { onFailures: emails, noAlertForSkippedRuns: true } : undefined,
                tags: args.tags,
            },
            { parent: this },
        );

        this.registerOutputs({
            workerJobIds: workerJobIds,
            dispatcherJobId: this.dispatcherJob.jobId,
            safetyNetJobId: this.safetyNetJob.id,
        });
    }
}
