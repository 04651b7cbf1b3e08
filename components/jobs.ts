import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import type { TaskCompute } from "./compute";
import type { ScheduleConfig } from "./config";

export const SETUP_TASK_KEY = "setup";

export interface NotebookJobArgs {
    /** The job's name in the workspace. */
    readonly jobName: pulumi.Input<string>;
    /** What the job does, shown in the Jobs UI. */
    readonly description: pulumi.Input<string>;
    /** The setup notebook, run as task `setup` before the main task; omitted when another job's setup creates the tables. */
    readonly setup?: { readonly notebookPath: pulumi.Input<string>; readonly parameters: pulumi.Input<Record<string, pulumi.Input<string>>> };
    /** The job's main task: one notebook, or a For each task running a notebook once per input. */
    readonly task: NotebookTaskSpec | ForEachTaskSpec;
    /** Job parameters (name to default); they reach the notebooks' widgets and can be changed per run. */
    readonly parameters: Readonly<Record<string, string>>;
    /** Where every task runs: an existing cluster, or the job cluster in `compute.jobClusters`. */
    readonly compute: TaskCompute;
    /** Quartz schedule; a job without one only runs when triggered. */
    readonly schedule?: ScheduleConfig;
    /** A trigger (file arrival, table update, ...) instead of a schedule: a job has one or the other. */
    readonly trigger?: pulumi.Input<databricks.types.input.JobTrigger>;
    /** Runs at once; later runs queue. */
    readonly maxConcurrentRuns: number;
    /** Timeout of a whole run; a duration warning is raised at 80% of it. */
    readonly timeoutSeconds: number;
    /** Told when a run fails or runs long; none when empty. */
    readonly notificationEmails: readonly string[];
    readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export interface NotebookTaskSpec {
    readonly key: string;
    readonly notebookPath: pulumi.Input<string>;
}

/**
 * A For each task: the nested notebook task runs once per element of `inputs`, at most `concurrency`
 * at a time; each iteration is a task run of its own with its own retries. Only the nested task's
 * parameters can take the element (`{{input}}`, or `{{input.<key>}}` of an object element), not its
 * notebook path.
 */
export interface ForEachTaskSpec {
    readonly key: string;
    readonly forEach: {
        /** The iterations' inputs, sent as one JSON array: strings, or objects of string values. */
        readonly inputs: readonly (string | Readonly<Record<string, string>>)[];
        readonly concurrency: number;
        readonly nestedTaskKey: string;
        readonly notebookPath: pulumi.Input<string>;
        readonly baseParameters: Readonly<Record<string, pulumi.Input<string>>>;
        readonly maxRetries: number;
        readonly retryIntervalSeconds: number;
        readonly timeoutSeconds: number;
    };
}

/** The job's main task in the API's form; a For each task's compute is its nested task's. */
export function mainTask(spec: NotebookTaskSpec | ForEachTaskSpec, compute: TaskCompute, dependsOnSetup: boolean): databricks.types.input.JobTask {
    const dependsOns = dependsOnSetup ? [{ taskKey: SETUP_TASK_KEY }] : undefined;
    if ("notebookPath" in spec) {
        return { taskKey: spec.key, dependsOns, notebookTask: { notebookPath: spec.notebookPath, source: "WORKSPACE" }, ...compute.task };
    }
    const each = spec.forEach;
    return {
        taskKey: spec.key,
        dependsOns,
        forEachTask: {
            inputs: JSON.stringify(each.inputs),
            concurrency: each.concurrency,
            task: {
                taskKey: each.nestedTaskKey,
                notebookTask: { notebookPath: each.notebookPath, baseParameters: { ...each.baseParameters }, source: "WORKSPACE" },
                maxRetries: each.maxRetries,
                minRetryIntervalMillis: each.retryIntervalSeconds * 1000,
                retryOnTimeout: each.maxRetries > 0,
                timeoutSeconds: each.timeoutSeconds,
                ...compute.task,
            },
        },
    };
}

/** The job's parameters in the API's form, sorted by name for stable diffs. */
export function jobParameters(parameters: Readonly<Record<string, string>>): { name: string; default: string }[] {
    return Object.keys(parameters)
        .sort()
        .map((name) => ({ name, default: parameters[name] }));
}

/**
 * The job itself, named `<name>-job` and parented to `parent`: the main task after the setup task when
 * there is one (task `setup` creates the tables and sample data). Runs beyond `maxConcurrentRuns` queue
 * rather than being skipped; every run has a timeout, a duration warning at 80% of it and failure e-mails.
 * Shared by NotebookJob and the orchestrator job components, which own their job directly.
 */
export function declareNotebookJob(name: string, args: NotebookJobArgs, parent: pulumi.Resource): databricks.Job {
    if (args.schedule && args.trigger) {
        throw new Error(`Job ${name}: a Databricks job has one schedule or one trigger, not both`);
    }
    const emails = args.notificationEmails.length > 0 ? [...args.notificationEmails] : undefined;
    const tasks: databricks.types.input.JobTask[] = [mainTask(args.task, args.compute, args.setup !== undefined)];
    if (args.setup) {
        tasks.push({
            taskKey: SETUP_TASK_KEY,
            notebookTask: { notebookPath: args.setup.notebookPath, baseParameters: args.setup.parameters, source: "WORKSPACE" },
            ...args.compute.task,
        });
    }
    // Sorted by task key, as the API returns them, so previews show no spurious diffs.
    tasks.sort((a, b) => String(a.taskKey).localeCompare(String(b.taskKey)));

    return new databricks.Job(
        `${name}-job`,
        {
            name: args.jobName,
            description: args.description,
            tasks,
            jobClusters: args.compute.jobClusters,
            parameters: jobParameters(args.parameters),
            schedule: args.schedule && {
                quartzCronExpression: args.schedule.quartzCronExpression,
                timezoneId: args.schedule.timezoneId,
                pauseStatus: args.schedule.pauseStatus,
            },
            trigger: args.trigger,
            maxConcurrentRuns: args.maxConcurrentRuns,
            queue: { enabled: true },
            timeoutSeconds: args.timeoutSeconds,
            health: { rules: [{ metric: "RUN_DURATION_SECONDS", op: "GREATER_THAN", value: Math.round(args.timeoutSeconds * 0.8) }] },
            emailNotifications: emails ? { onFailures: emails, onDurationWarningThresholdExceededs: emails, noAlertForSkippedRuns: true } : undefined,
            tags: args.tags,
        },
        { parent },
    );
}

/**
 * A job that runs one notebook (or one notebook per input of a For each task), after the setup
 * notebook when it has one (declareNotebookJob).
 */
export class NotebookJob extends pulumi.ComponentResource {
    public readonly job: databricks.Job;
    public readonly jobId: pulumi.Output<string>;
    public readonly url: pulumi.Output<string>;

    constructor(name: string, args: NotebookJobArgs, opts?: pulumi.ComponentResourceOptions) {
        super("orchestration:jobs:NotebookJob", name, {}, opts);
        this.job = declareNotebookJob(name, args, this);
        this.jobId = this.job.id;
        this.url = this.job.url;

        this.registerOutputs({ jobId: this.jobId, url: this.url });
    }
}
