import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import type { TaskCompute } from "./compute";
import type { ScheduleConfig } from "./config";

export const SETUP_TASK_KEY = "setup";

export interface NotebookJobArgs {
    readonly jobName: pulumi.Input<string>;
    readonly description: pulumi.Input<string>;
    /** The setup notebook, run as task `setup` before the main task; omitted when another job's setup creates the tables. */
    readonly setup?: { readonly notebookPath: pulumi.Input<string>; readonly parameters: pulumi.Input<Record<string, pulumi.Input<string>>> };
    /** The job's main notebook task. */
    readonly task: { readonly key: string; readonly notebookPath: pulumi.Input<string> };
    /** Job parameters (name to default); they reach the notebooks' widgets and can be changed per run. */
    readonly parameters: Readonly<Record<string, string>>;
    readonly compute: TaskCompute;
    /** Quartz schedule; a job without one only runs when triggered. */
    readonly schedule?: ScheduleConfig;
    /** A trigger (file arrival, table update, ...) instead of a schedule: a job has one or the other. */
    readonly trigger?: pulumi.Input<databricks.types.input.JobTrigger>;
    readonly maxConcurrentRuns: number;
    readonly timeoutSeconds: number;
    readonly notificationEmails: readonly string[];
    readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** The job's parameters in the API's form, sorted by name for stable diffs. */
export function jobParameters(parameters: Readonly<Record<string, string>>): { name: string; default: string }[] {
    return Object.keys(parameters)
        .sort()
        .map((name) => ({ name, default: parameters[name] }));
}

/**
 * A job that runs one notebook, after the setup notebook when it has one (task `setup` creates the
 * tables and sample data). Runs beyond `maxConcurrentRuns` queue rather than being skipped; every run
 * has a timeout, a duration warning at 80% of it and failure e-mails.
 */
export class NotebookJob extends pulumi.ComponentResource {
    public readonly job: databricks.Job;
    public readonly jobId: pulumi.Output<string>;
    public readonly url: pulumi.Output<string>;

    constructor(name: string, args: NotebookJobArgs, opts?: pulumi.ComponentResourceOptions) {
        super("orchestration:jobs:NotebookJob", name, {}, opts);
        if (args.schedule && args.trigger) {
            throw new Error(`Job ${name}: a Databricks job has one schedule or one trigger, not both`);
        }

        const emails = args.notificationEmails.length > 0 ? [...args.notificationEmails] : undefined;
        const tasks: databricks.types.input.JobTask[] = [
            {
                taskKey: args.task.key,
                dependsOns: args.setup ? [{ taskKey: SETUP_TASK_KEY }] : undefined,
                notebookTask: { notebookPath: args.task.notebookPath, source: "WORKSPACE" },
                ...args.compute.task,
            },
        ];
        if (args.setup) {
            tasks.push({
                taskKey: SETUP_TASK_KEY,
                notebookTask: { notebookPath: args.setup.notebookPath, baseParameters: args.setup.parameters, source: "WORKSPACE" },
                ...args.compute.task,
            });
        }
        // Sorted by task key, as the API returns them, so previews show no spurious diffs.
        tasks.sort((a, b) => String(a.taskKey).localeCompare(String(b.taskKey)));

        this.job = new databricks.Job(
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
            { parent: this },
        );
        this.jobId = this.job.id;
        this.url = this.job.url;

        this.registerOutputs({ jobId: this.jobId, url: this.url });
    }
}
