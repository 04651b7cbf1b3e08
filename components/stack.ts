import * as pulumi from "@pulumi/pulumi";
import { AsyncFanOut } from "./asyncFanOut";
import { EtlCompute } from "./compute";
import type { StackConfig } from "./config";
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
    const notebooks = new EtlNotebooks(
        `${names.prefix}-notebooks`,
        {
            folder: names.workspaceFolder,
            workerArguments: {
                catalog: data.catalog,
                schema: data.schema,
                input_table: data.inputTable,
                run_log_table: data.runLogTable,
            },
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
        ...(fanOut.enabled ? { state_table: fanOut.stateTable } : {}),
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

    const asyncFanOut = fanOut.enabled
        ? new AsyncFanOut(
              `${names.prefix}-async`,
              {
                  folder: notebooks.folder,
                  workers: notebooks.workers,
                  workerJobName: names.jobName("async-worker"),
                  dispatcherJobName: names.jobName("async-dispatcher"),
                  setupNotebookPath: notebooks.setupPath,
                  setupParameters,
                  compute: compute.taskCompute,
                  dispatcherSchedule: fanOut.dispatcherSchedule,
                  concurrencyCap: fanOut.concurrencyCap,
                  maxAttempts: fanOut.maxAttempts,
                  stateTable: qualifiedTable(data.catalog, data.schema, fanOut.stateTable, true),
                  runLogTable: quotedRunLog,
                  apiTokenSource: fanOut.apiTokenSource,
                  secretScope: secrets.scopeName,
                  apiTokenSecret: fanOut.apiTokenSecret,
                  workspaceUrl: workspace.host,
                  notebookTimeoutSeconds: orchestration.notebookTimeoutSeconds,
                  jobTimeoutSeconds: jobs.timeoutSeconds,
                  notificationEmails: jobs.notificationEmails,
                  tags,
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
        ...(compute.cluster ? { clusterId: compute.cluster.id, clusterUrl: compute.cluster.url } : {}),
        computeMode: config.compute.mode,
        notebookUrls,
        secretScope: secrets.scopeName,
        keyVaultName: secrets.vaultName,
        keyVaultUri: secrets.vaultUri,
        ...(asyncFanOut
            ? {
                  asyncWorkerJobId: asyncFanOut.workerJob.jobId,
                  asyncDispatcherJobId: asyncFanOut.dispatcherJob.jobId,
                  asyncDispatcherJobUrl: asyncFanOut.dispatcherJob.url,
              }
            : {}),
        tables: {
            input: table(data.inputTable),
            runLog: table(data.runLogTable),
            ...(fanOut.enabled ? { asyncState: table(fanOut.stateTable) } : {}),
            outputs: Object.fromEntries(WORKERS.map((worker) => [worker.name, table(worker.outputTable)])),
        },
    };
}
