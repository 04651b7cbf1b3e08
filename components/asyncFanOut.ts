import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import type { TaskCompute } from "./compute";
import type { ApiTokenSource, ScheduleConfig } from "./config";
import { NotebookJob } from "./jobs";
import { uploadNotebook } from "./notebooks";
import { DISPATCH_LIBRARY, OrchestratedWorker, readNotebook, renderAsyncWorker, renderDispatcher } from "./render";

export interface AsyncFanOutArgs {
    /** The environment's workspace folder (from EtlNotebooks). */
    readonly folder: databricks.Directory;
    /** The deployed workers and their default arguments. */
    readonly workers: pulumi.Input<OrchestratedWorker[]>;
    readonly workerJobName: pulumi.Input<string>;
    readonly dispatcherJobName: pulumi.Input<string>;
    readonly setupNotebookPath: pulumi.Input<string>;
    /** Setup parameters, including the state table, so the dispatcher's first run creates it. */
    readonly setupParameters: pulumi.Input<Record<string, pulumi.Input<string>>>;
    readonly compute: TaskCompute;
    readonly dispatcherSchedule: ScheduleConfig;
    readonly concurrencyCap: number;
    readonly maxAttempts: number;
    /** Fully qualified, quoted state and run-log tables. */
    readonly stateTable: string;
    readonly runLogTable: string;
    readonly apiTokenSource: ApiTokenSource;
    readonly secretScope: pulumi.Input<string>;
    readonly apiTokenSecret: string;
    readonly workspaceUrl: pulumi.Input<string>;
    readonly notebookTimeoutSeconds: number;
    readonly jobTimeoutSeconds: number;
    readonly notificationEmails: readonly string[];
    readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/**
 * The asynchronous fan-out, for workloads too big for one driver: producers INSERT entries into a
 * state table; a scheduled dispatcher submits them as runs of a worker job through the Jobs API, up
 * to a concurrency cap, records their run ids and later reads their outcomes back. No run is held
 * open while workers run.
 */
export class AsyncFanOut extends pulumi.ComponentResource {
    public readonly workerJob: NotebookJob;
    public readonly dispatcherJob: NotebookJob;

    constructor(name: string, args: AsyncFanOutArgs, opts?: pulumi.ComponentResourceOptions) {
        super("orchestration:async:AsyncFanOut", name, {}, opts);

        const workerNames = pulumi.output(args.workers).apply((workers) => workers.map((w) => w.name));
        const router = uploadNotebook(
            name,
            args.folder,
            "async/run_worker",
            pulumi.output(args.workers).apply((workers) => renderAsyncWorker(workers, args.notebookTimeoutSeconds)),
            this,
        );
        this.workerJob = new NotebookJob(
            `${name}-worker`,
            {
                jobName: args.workerJobName,
                description: "One state-table entry: runs the worker named by the `worker` parameter. Submitted by the dispatcher.",
                task: { key: "worker", notebookPath: router.path },
                parameters: { worker: "", parameters: "{}", entry_key: "", run_id: "{{job.run_id}}" },
                compute: args.compute,
                maxConcurrentRuns: args.concurrencyCap,
                timeoutSeconds: args.jobTimeoutSeconds,
                notificationEmails: args.notificationEmails,
                tags: args.tags,
            },
            { parent: this },
        );

        const library = uploadNotebook(name, args.folder, DISPATCH_LIBRARY, readNotebook(DISPATCH_LIBRARY), this);
        const dispatcher = uploadNotebook(
            name,
            args.folder,
            "async/dispatcher",
            pulumi.all([this.workerJob.jobId, workerNames, args.secretScope, args.workspaceUrl]).apply(([workerJobId, names, secretScope, workspaceUrl]) =>
                renderDispatcher({
                    workerJobId,
                    stateTable: args.stateTable,
                    runLogTable: args.runLogTable,
                    workerNames: names,
                    concurrencyCap: args.concurrencyCap,
                    maxAttempts: args.maxAttempts,
                    apiTokenSource: args.apiTokenSource,
                    secretScope,
                    apiTokenSecret: args.apiTokenSecret,
                    workspaceUrl,
                }),
            ),
            this,
        );
        this.dispatcherJob = new NotebookJob(
            `${name}-dispatcher`,
            {
                jobName: args.dispatcherJobName,
                description: "One dispatcher pass over the state table: monitor running entries, submit pending ones up to the cap.",
                setup: { notebookPath: args.setupNotebookPath, parameters: args.setupParameters },
                task: { key: "dispatch", notebookPath: dispatcher.path },
                parameters: {},
                compute: args.compute,
                schedule: args.dispatcherSchedule,
                maxConcurrentRuns: 1,
                timeoutSeconds: Math.min(args.jobTimeoutSeconds, 3600),
                notificationEmails: args.notificationEmails,
                tags: args.tags,
            },
            { parent: this, dependsOn: [library] },
        );

        this.registerOutputs({ workerJobId: this.workerJob.jobId, dispatcherJobId: this.dispatcherJob.jobId });
    }
}
