import * as pulumi from "@pulumi/pulumi";
import { AsyncFanOut, asyncWorkerNotebooks } from "./asyncFanOut";
import { EtlCompute } from "./compute";
import type { StackConfig } from "./config";
import { RunLogDashboard } from "./dashboard";
import { ForEachTaskSpec, NotebookJob } from "./jobs";
import { movedNotebook, notebookResourceName, ORCHESTRATION_LIBRARY, StackNotebooks } from "./notebooks";
import { OrchestrationLibrary, ORCHESTRATORS_FOLDER, ParallelNotebookJob, SequentialNotebookJob } from "./orchestratorJobs";
import { KeyVaultSecretScope } from "./secrets";
import { DEFAULT_WORK_ITEMS, ForEachShape, notebookPath, WorkItem } from "./workItems";
import { DatabricksWorkspace } from "./workspace";
import { WORKERS } from "./workers";

/** The jobs' descriptions with the default items, the four ETL workers. */
const ETL_WORKERS_DESCRIPTIONS = {
    sequential: "Runs the four ETL workers one after another (dbutils.notebook.run).",
    parallel: "Runs the four ETL workers concurrently with a bounded, longest-first ThreadPoolExecutor.",
} as const;

/** The four ETL workers in their order, without arguments or names of their own: the shipped example. */
export function isDefaultWorkItems(items: readonly WorkItem[]): boolean {
    return (
        items.length === DEFAULT_WORK_ITEMS.length &&
        items.every((item, index) => {
            const expected = DEFAULT_WORK_ITEMS[index];
            return item.notebook === expected.notebook && item.name === expected.name && Object.keys(item.arguments).length === 0;
        })
    );
}

export interface ForEachTaskSettings {
    /** The workspace path of an item's notebook: the uploaded notebook's path (so the job depends on it), else notebookPath. */
    readonly pathOf: (notebook: string) => pulumi.Input<string>;
    /** The entry notebook that runs the ETL worker named by its `worker` parameter (uploaded for the etl-workers shape). */
    readonly entryNotebookPath?: pulumi.Input<string>;
    readonly commonArguments: Readonly<Record<string, string>>;
    readonly concurrency: number;
    readonly maxRetries: number;
    readonly retryIntervalSeconds: number;
    readonly timeoutSeconds: number;
}

/**
 * The For each job's task for the items' shape: the ETL workers through the entry notebook
 * (`{{input}}` names the worker), or one notebook run directly with each input's arguments as
 * `{{input.<argument>}}` and the item's name as `work_item`.
 */
export function forEachTask(shape: Exclude<ForEachShape, { kind: "unsupported" }>, settings: ForEachTaskSettings): ForEachTaskSpec {
    const loop = {
        concurrency: settings.concurrency,
        maxRetries: settings.maxRetries,
        retryIntervalSeconds: settings.retryIntervalSeconds,
        timeoutSeconds: settings.timeoutSeconds,
    };
    if (shape.kind === "etl-workers") {
        if (settings.entryNotebookPath === undefined) {
            throw new Error("The For each job over the ETL workers needs the entry notebook (for_each/worker) uploaded");
        }
        return {
            key: "for_each_worker",
            forEach: {
                ...loop,
                inputs: shape.inputs,
                nestedTaskKey: "worker",
                notebookPath: settings.entryNotebookPath,
                baseParameters: { ...settings.commonArguments, worker: "{{input}}", orchestration_mode: "for_each" },
            },
        };
    }
    return {
        key: "for_each_item",
        forEach: {
            ...loop,
            inputs: shape.inputs,
            nestedTaskKey: "item",
            notebookPath: settings.pathOf(shape.notebook),
            baseParameters: {
                ...settings.commonArguments,
                ...Object.fromEntries(shape.argumentNames.map((argument) => [argument, `{{input.${argument}}}`])),
                work_item: "{{input.work_item}}",
                orchestration_mode: "for_each",
            },
        },
    };
}

/** A table's fully qualified name, `catalog.schema.table`, or its quoted SQL form. */
export function qualifiedTable(catalog: string, schema: string, table: string, quoted = false): string {
    return [catalog, schema, table].map((part) => (quoted ? `\`${part}\`` : part)).join(".");
}

/** Declares the whole ETL for one environment (one stack) and returns the stack outputs. */
export function orchestrationStack(config: StackConfig) {
    const { names, data, orchestration, jobs } = config;
    const tags = names.tags;

    const workspace = new DatabricksWorkspace(`${names.prefix}-workspace`, {
        create: config.workspace.create,
        host: config.workspace.create ? undefined : config.workspace.host,
        workspaceResourceId: config.workspace.create ? undefined : config.workspace.resourceId,
        resourceGroupName: config.workspace.create ? names.resourceGroupName : config.workspace.resourceGroupName,
        workspaceName: names.workspaceName,
        location: config.workspace.location,
        authType: config.databricksAuthType,
        tags,
    });
    const inWorkspace: pulumi.ComponentResourceOptions = { providers: [workspace.provider] };

    const secrets = new KeyVaultSecretScope(
        `${names.prefix}-secrets`,
        {
            resourceGroupName: workspace.resourceGroupName,
            location: config.workspace.location,
            vaultNameBase: names.vaultNameBase,
            scopeName: names.secretScope,
            databricksServicePrincipalObjectId: config.secrets.databricksServicePrincipalObjectId,
            softDeleteRetentionDays: config.secrets.softDeleteRetentionDays,
            purgeProtection: config.secrets.purgeProtection,
            secrets: config.secrets.secrets,
            network: config.secrets.network,
            logAnalyticsWorkspaceId: config.secrets.logAnalyticsWorkspaceId,
            tags,
        },
        inWorkspace,
    );

    const compute = new EtlCompute(
        `${names.prefix}-compute`,
        {
            mode: config.compute.mode,
            clusterName: names.clusterName,
            sparkVersion: config.compute.sparkVersion,
            nodeType: config.compute.nodeType,
            singleNode: config.compute.singleNode,
            numWorkers: config.compute.numWorkers,
            autoscale: config.compute.autoscale,
            autoterminationMinutes: config.compute.autoterminationMinutes,
            dataSecurityMode: config.compute.dataSecurityMode,
            tags: config.compute.tags,
        },
        inWorkspace,
    );

    const table = (name: string) => qualifiedTable(data.catalog, data.schema, name);
    const quotedRunLog = qualifiedTable(data.catalog, data.schema, data.runLogTable, true);
    const commonArguments = {
        catalog: data.catalog,
        schema: data.schema,
        input_table: data.inputTable,
        run_log_table: data.runLogTable,
    };
    const items = config.workItems.items;
    const forEachShape = jobs.forEach?.shape;
    const notebooksName = `${names.prefix}-notebooks`;
    const notebooks = new StackNotebooks(
        notebooksName,
        {
            folder: names.workspaceFolder,
            workerNotebooks: config.workItems.workerNotebooks,
            teamNotebooks: config.workItems.teamNotebooks,
            forEachEntry: forEachShape?.kind === "etl-workers",
        },
        inWorkspace,
    );
    // The library and the orchestrators were EtlNotebooks' children before the components existed.
    const formerNotebooksUrn = pulumi.createUrn(notebooksName, "orchestration:notebooks:EtlNotebooks");
    const movedFromNotebooks = (name: string, relativePath: string) =>
        movedNotebook(name, notebookResourceName(notebooksName, relativePath), formerNotebooksUrn);
    const libraryName = `${names.prefix}-orchestration`;
    const library = new OrchestrationLibrary(
        libraryName,
        { folder: notebooks.folder.path },
        { ...inWorkspace, transformations: [movedFromNotebooks(`${libraryName}-lib-orchestration`, ORCHESTRATION_LIBRARY)] },
    );

    const fanOut = config.asyncFanOut;
    const setupParameters = {
        ...commonArguments,
        sample_data: String(data.sampleData),
        sample_rows: String(data.sampleRows),
        secret_scope: secrets.scopeName,
        ...(fanOut.enabled ? { state_table: fanOut.stateTable, lease_table: fanOut.leaseTable } : {}),
    };
    const defaultItems = isDefaultWorkItems(items);
    const pathOf = (notebook: string) => notebooks.notebooks[notebook]?.path ?? notebookPath(notebook, names.workspaceFolder);
    const orchestratorArgs = (kind: "sequential" | "parallel") => ({
        library,
        items,
        knownNotebooks: config.workItems.knownNotebooks,
        commonArguments,
        workItemsQuery: config.workItems.query,
        runLogTable: quotedRunLog,
        timeoutSeconds: orchestration.notebookTimeoutSeconds,
        maxRetries: orchestration.maxRetries,
        retryBackoffSeconds: orchestration.retryBackoffSeconds,
        compute: compute.taskCompute,
        setup: { notebookPath: notebooks.setupPath, parameters: setupParameters },
        schedule: kind === "sequential" ? jobs.sequentialSchedule : jobs.parallelSchedule,
        notificationEmails: jobs.notificationEmails,
        tags,
        jobName: names.jobName(kind),
        description: defaultItems && !config.workItems.query ? ETL_WORKERS_DESCRIPTIONS[kind] : undefined,
        notebookName: kind,
        jobTimeoutSeconds: jobs.timeoutSeconds,
    });
    // Formerly NotebookJobs with the orchestrators among EtlNotebooks' notebooks: the aliases keep the jobs' ids and the notebooks.
    const orchestratorOptions = (kind: "sequential" | "parallel"): pulumi.ComponentResourceOptions => ({
        ...inWorkspace,
        aliases: [{ type: "orchestration:jobs:NotebookJob" }],
        transformations: [movedFromNotebooks(`${names.prefix}-${kind}-orchestrator`, `orchestrators/${kind}`)],
    });
    const sequential = new SequentialNotebookJob(`${names.prefix}-sequential`, orchestratorArgs("sequential"), orchestratorOptions("sequential"));
    const parallel = new ParallelNotebookJob(
        `${names.prefix}-parallel`,
        {
            ...orchestratorArgs("parallel"),
            maxWorkers: orchestration.maxWorkers,
            maxWorkersLimit: orchestration.maxWorkersLimit,
            historyRuns: orchestration.historyRuns,
        },
        orchestratorOptions("parallel"),
    );

    // The Databricks-native strategy beside the two orchestrators: a For each task over the items,
    // maxWorkers at a time, each iteration one task run on the same compute.
    const forEach =
        jobs.forEach && forEachShape
            ? new NotebookJob(
                  `${names.prefix}-for-each`,
                  {
                      jobName: names.jobName("for-each"),
                      description:
                          forEachShape.kind === "etl-workers" && defaultItems
                              ? "Runs the four ETL workers as the iterations of a For each task, maxWorkers at a time, each retried by the job."
                              : `Runs ${items.length} work items (${forEachShape.kind === "one-notebook" ? `notebook ${forEachShape.notebook}` : "ETL workers"}) as the iterations of a For each task, maxWorkers at a time, each retried by the job.`,
                      setup: { notebookPath: notebooks.setupPath, parameters: setupParameters },
                      task: forEachTask(forEachShape, {
                          pathOf,
                          entryNotebookPath: notebooks.forEachEntryPath,
                          commonArguments,
                          concurrency: orchestration.maxWorkers,
                          maxRetries: orchestration.maxRetries,
                          retryIntervalSeconds: orchestration.retryBackoffSeconds,
                          timeoutSeconds: orchestration.notebookTimeoutSeconds,
                      }),
                      parameters: { run_id: "{{job.run_id}}" },
                      compute: compute.taskCompute,
                      schedule: jobs.forEach.schedule,
                      maxConcurrentRuns: 1,
                      timeoutSeconds: jobs.timeoutSeconds,
                      notificationEmails: jobs.notificationEmails,
                      tags,
                  },
                  inWorkspace,
              )
            : undefined;

    const tableName = (name: string) => ({ name: table(name), quoted: qualifiedTable(data.catalog, data.schema, name, true) });
    const asyncFanOut = fanOut.enabled
        ? new AsyncFanOut(
              `${names.prefix}-async`,
              {
                  folder: notebooks.folder,
                  workerNotebooks: Object.fromEntries(
                      Object.entries(asyncWorkerNotebooks(items, Object.keys(commonArguments))).map(([key, worker]) => [
                          key,
                          {
                              path: notebooks.notebooks[worker.notebook]?.path ?? notebookPath(worker.notebook, names.workspaceFolder),
                              argumentNames: worker.argumentNames,
                          },
                      ]),
                  ),
                  workerArguments: commonArguments,
                  jobName: names.jobName,
                  setupNotebookPath: notebooks.setupPath,
                  setupParameters,
                  compute: compute.taskCompute,
                  clusterId: compute.cluster?.id,
                  config: fanOut,
                  stateTable: tableName(fanOut.stateTable),
                  leaseTable: tableName(fanOut.leaseTable),
                  runLogTable: tableName(data.runLogTable),
                  secretScope: secrets.scopeName,
                  workspaceUrl: workspace.host,
                  jobTimeoutSeconds: jobs.timeoutSeconds,
                  notificationEmails: jobs.notificationEmails,
                  tags,
              },
              inWorkspace,
          )
        : undefined;

    // The comparison in the workspace: an AI/BI dashboard over the run log, when a SQL warehouse runs it.
    const dashboard = config.sqlWarehouseId
        ? new RunLogDashboard(
              `${names.prefix}-dashboard`,
              {
                  displayName: `${names.prefix} run log`,
                  parentPath: notebooks.folder.path,
                  warehouseId: config.sqlWarehouseId,
                  runLogTable: quotedRunLog,
                  workspaceUrl: workspace.host,
              },
              inWorkspace,
          )
        : undefined;

    const notebookUrls: Record<string, pulumi.Output<string>> = {
        ...Object.fromEntries(Object.entries(notebooks.notebooks).map(([relativePath, notebook]) => [relativePath, notebook.url])),
        [ORCHESTRATION_LIBRARY]: library.notebook.url,
        [`${ORCHESTRATORS_FOLDER}/sequential`]: sequential.orchestrator.url,
        [`${ORCHESTRATORS_FOLDER}/parallel`]: parallel.orchestrator.url,
    };
    const itemNotebooks = new Set(items.map((item) => item.notebook));

    return {
        workspaceUrl: workspace.host,
        workspaceFolder: notebooks.folder.path,
        sequentialJobId: sequential.jobId,
        sequentialJobUrl: sequential.url,
        parallelJobId: parallel.jobId,
        parallelJobUrl: parallel.url,
        ...(forEach ? { forEachJobId: forEach.jobId, forEachJobUrl: forEach.url } : {}),
        ...(compute.cluster ? { clusterId: compute.cluster.id, clusterUrl: compute.cluster.url } : {}),
        computeMode: config.compute.mode,
        notebookUrls,
        secretScope: secrets.scopeName,
        keyVaultName: secrets.vaultName,
        keyVaultUri: secrets.vaultUri,
        ...(asyncFanOut
            ? {
                  asyncWorkerJobIds: Object.fromEntries(Object.entries(asyncFanOut.workerJobs).map(([worker, job]) => [worker, job.jobId])),
                  asyncDispatcherJobId: asyncFanOut.dispatcherJob.jobId,
                  asyncDispatcherJobUrl: asyncFanOut.dispatcherJob.url,
                  asyncSafetyNetJobId: asyncFanOut.safetyNetJob.id,
              }
            : {}),
        ...(dashboard ? { dashboardId: dashboard.dashboardId, dashboardUrl: dashboard.url } : {}),
        tables: {
            input: table(data.inputTable),
            runLog: table(data.runLogTable),
            ...(fanOut.enabled ? { asyncState: table(fanOut.stateTable) } : {}),
            outputs: Object.fromEntries(
                WORKERS.filter((worker) => itemNotebooks.has(worker.source.replace(/\.py$/, ""))).map((worker) => [worker.name, table(worker.outputTable)]),
            ),
        },
    };
}
