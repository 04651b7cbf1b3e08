import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import type { TaskCompute } from "./compute";
import type { ScheduleConfig } from "./config";

export const SETUP_TASK_KEY = "setup";
export const ORCHESTRATE_TASK_KEY = "orchestrate";

export interface OrchestrationJobArgs {
    readonly jobName: pulumi.Input<string>;
    readonly description: pulumi.Input<string>;
    readonly setupNotebookPath: pulumi.Input<string>;
    readonly setupParameters: pulumi.Input<Record<string, pulumi.Input<string>>>;
    readonly orchestratorNotebookPath: pulumi.Input<string>;
    /** Job parameters (name to default); they reach the orchestrator's widgets and can be changed per run. */
    readonly parameters: Readonly<Record<string, string>>;
    readonly compute: TaskCompute;
    readonly schedule: ScheduleConfig;
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
 * A scheduled job that runs one orchestration notebook: task `setup` creates the tables (and sample
 * data), then task `orchestrate` runs the workers. One run at a time, queued rather than skipped when
 * the previous run is still going, with a timeout, a duration warning and failure e-mails.
 */
export class OrchestrationJob extends pulumi.ComponentResource {
    public readonly job: databricks.Job;
    public readonly jobId: pulumi.Output<string>;
    public readonly url: pulumi.Output<string>;

    constructor(name: string, args: OrchestrationJobArgs, opts?: pulumi.ComponentResourceOptions) {
        super("orchestration:jobs:OrchestrationJob", name, {}, opts);

        const emails = args.notificationEmails.length > 0 ? [...args.notificationEmails] : undefined;
        // Kept sorted by task key, as the API returns them, so previews show no spurious diffs.
        const tasks: databricks.types.input.JobTask[] = [
            {
                taskKey: ORCHESTRATE_TASK_KEY,
                dependsOns: [{ taskKey: SETUP_TASK_KEY }],
                notebookTask: { notebookPath: args.orchestratorNotebookPath, source: "WORKSPACE" },
                ...args.compute.task,
            },
            {
                taskKey: SETUP_TASK_KEY,
                notebookTask: { notebookPath: args.setupNotebookPath, baseParameters: args.setupParameters, source: "WORKSPACE" },
                ...args.compute.task,
            },
        ];

        this.job = new databricks.Job(
            `${name}-job`,
            {
                name: args.jobName,
                description: args.description,
                tasks,
                jobClusters: args.compute.jobClusters,
                parameters: jobParameters(args.parameters),
                schedule: {
                    quartzCronExpression: args.schedule.quartzCronExpression,
                    timezoneId: args.schedule.timezoneId,
                    pauseStatus: args.schedule.pauseStatus,
                },
                maxConcurrentRuns: 1,
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
