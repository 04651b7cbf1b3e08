import * as pulumi from "@pulumi/pulumi";
import { AsyncFanOut } from "./asyncFanOut";
import { EtlCompute } from "./compute";
import type { StackConfig } from "./config";
import { RunLogDashboard } from "./dashboard";
import { NotebookJob } from "./jobs";
import { EtlNotebooks } from "./notebooks";
import { KeyVaultSecretScope } from "./secrets";
import { DatabricksWorkspace } from "./workspace";
import { WORKERS } from "./workers";

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
    const workerArguments = {
        catalog: data.catalog,
        schema: data.schema,
        input_table: data.inputTable,
        run_log_table: data.runLogTable,
    };
    const notebooks = new EtlNotebooks(
        `${names.prefix}-notebooks`,
        {
            folder: names.workspaceFolder,
            workerArguments,
            orchestration: {
                maxWorkers: orchestration.maxWorkers,
                maxWorkersLimit: orchestration.maxWorkersLimit,
                timeoutSeconds: orchestration.notebookTimeoutSeconds,
                maxRetries: orchestration.maxRetries,
                retryBackoffSeconds: orchestration.retryBackoffSeconds,
                runLogTable: quotedRunLog,
                historyRuns: orchestration.historyRuns,
            },
            expectedSeconds: orchestration.expectedSeconds,
            forEachEntry: jobs.forEach !== undefined,
        },
        inWorkspace,
    );

    const fanOut = config.asyncFanOut;
    const setupParameters = {
        catalog: data.catalog,
        schema: data.schema,
        input_table: data.inputTable,
        run_log_table: data.runLogTable,
        sample_data: String(data.sampleData),
        sample_rows: String(data.sampleRows),
        secret_scope: secrets.scopeName,
        ...(fanOut.enabled ? { state_table: fanOut.stateTable, lease_table: fanOut.leaseTable } : {}),
    };
    const runParameters = {
        run_id: "{{job.run_id}}",
        timeout_seconds: String(orchestration.notebookTimeoutSeconds),
        max_retries: String(orchestration.maxRetries),
        retry_backoff_seconds: String(orchestration.retryBackoffSeconds),
        workers: "",
    };
    const job = (kind: "sequential" | "parallel", description: string, parameters: Record<string, string>) =>
        new NotebookJob(
            `${names.prefix}-${kind}`,
            {
                jobName: names.jobName(kind),
                description,
                setup: { notebookPath: notebooks.setupPath, parameters: setupParameters },
                task: { key: "orchestrate", notebookPath: notebooks.orchestratorPaths[kind] },
                parameters,
                compute: compute.taskCompute,
                schedule: kind === "sequential" ? jobs.sequentialSchedule : jobs.parallelSchedule,
                maxConcurrentRuns: 1,
                timeoutSeconds: jobs.timeoutSeconds,
                notificationEmails: jobs.notificationEmails,
                tags,
            },
            inWorkspace,
        );
    const sequential = job("sequential", "Runs the four ETL workers one after another (dbutils.notebook.run).", runParameters);
    const parallel = job("parallel", "Runs the four ETL workers concurrently with a bounded, longest-first ThreadPoolExecutor.", {
        ...runParameters,
        max_workers: String(orchestration.maxWorkers),
    });

    // The Databricks-native strategy beside the two orchestrators: a For each task over the workers,
    // maxWorkers at a time, each iteration one task run of the entry notebook on the same compute.
    const forEach =
        jobs.forEach && notebooks.forEachEntryPath
            ? new NotebookJob(
                  `${names.prefix}-for-each`,
                  {
                      jobName: names.jobName("for-each"),
                      description: "Runs the four ETL workers as the iterations of a For each task, maxWorkers at a time, each retried by the job.",
                      setup: { notebookPath: notebooks.setupPath, parameters: setupParameters },
                      task: {
                          key: "for_each_worker",
                          forEach: {
                              inputs: WORKERS.map((worker) => worker.name),
                              concurrency: orchestration.maxWorkers,
                              nestedTaskKey: "worker",
                              notebookPath: notebooks.forEachEntryPath,
                              baseParameters: { ...workerArguments, worker: "{{input}}", orchestration_mode: "for_each" },
                              maxRetries: orchestration.maxRetries,
                              retryIntervalSeconds: orchestration.retryBackoffSeconds,
                              timeoutSeconds: orchestration.notebookTimeoutSeconds,
                          },
                      },
                      parameters: { run_id: runParameters.run_id },
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
                  workerNotebookPaths: Object.fromEntries(WORKERS.map((w) => [w.name, notebooks.notebooks[w.source.replace(/\.py$/, "")].path])),
                  workerArguments,
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

    const notebookUrls: Record<string, pulumi.Output<string>> = {};
    for (const [relativePath, notebook] of Object.entries(notebooks.notebooks)) {
        notebookUrls[relativePath] = notebook.url;
    }

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
            outputs: Object.fromEntries(WORKERS.map((worker) => [worker.name, table(worker.outputTable)])),
        },
    };
}
