import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { StackConfigError } from "../components/config";
import { KEY_VAULT_SECRETS_OFFICER_ROLE, KEY_VAULT_SECRETS_USER_ROLE } from "../components/secrets";
import { WORKERS } from "../components/workers";
import { OfflineRun, runOffline } from "../tools/offline";
import { notebookSource, ofType, one, program, PROJECT, renderedValue, REQUIRED_CONFIG, runStack, TEAM_NOTEBOOKS, TYPES } from "./support/stack";

describe("the stack under Pulumi mocks", function () {
    this.timeout(30000);
    let dev: OfflineRun;

    before(async () => {
        dev = await runStack({ notificationEmails: '["data-platform@example.com"]' }, "dev");
    });

    it("declares one all-purpose cluster that both jobs run every task on", () => {
        const cluster = one(dev, TYPES.cluster);
        const jobs = ofType(dev, TYPES.job);
        expect(jobs).to.have.length(2);
        for (const job of jobs) {
            const tasks = job.inputs.tasks as Record<string, unknown>[];
            expect(tasks.map((t) => t.taskKey)).to.deep.equal(["orchestrate", "setup"]);
            for (const task of tasks) {
                expect(task.existingClusterId, `${job.name} ${task.taskKey}`).to.equal(`<id of ${cluster.name}>`);
            }
            expect(job.inputs.jobClusters ?? []).to.deep.equal([]);
        }
        expect(cluster.inputs.autoterminationMinutes).to.equal(30);
        expect(cluster.inputs.customTags).to.include({ environment: "dev", project: "notebook-orchestration" });
    });

    it("pins the runtime from config (never a lookup of the latest LTS) and resolves the smallest local-disk node type when unset", () => {
        const cluster = one(dev, TYPES.cluster);
        expect(cluster.inputs.sparkVersion).to.equal("17.3.x-scala2.13");
        expect(cluster.inputs.nodeTypeId).to.equal("<smallest node type with local disk>");
        expect(dev.invokes).to.include("databricks:index/getNodeType:getNodeType");
        expect(dev.invokes).not.to.include("databricks:index/getSparkVersion:getSparkVersion");
    });

    it("gives each job in perJob mode its own job cluster from the same spec, and no all-purpose cluster", async () => {
        const perJob = await runStack({ computeMode: "perJob", sparkVersion: "15.4.x-scala2.12", nodeType: "Standard_D4ds_v5", numWorkers: "3" });
        expect(ofType(perJob, TYPES.cluster)).to.have.length(0);
        const [first, second] = ofType(perJob, TYPES.job).map((job) => job.inputs.jobClusters as Record<string, unknown>[]);
        expect(first).to.deep.equal(second);
        expect(first).to.deep.equal([
            {
                jobClusterKey: "etl",
                newCluster: {
                    sparkVersion: "15.4.x-scala2.12",
                    nodeTypeId: "Standard_D4ds_v5",
                    numWorkers: 3,
                    dataSecurityMode: "USER_ISOLATION",
                    customTags: { environment: "dev", project: "notebook-orchestration", "managed-by": "pulumi" },
                },
            },
        ]);
        for (const job of ofType(perJob, TYPES.job)) {
            for (const task of job.inputs.tasks as Record<string, unknown>[]) {
                expect(task.jobClusterKey).to.equal("etl");
                expect(task.existingClusterId).to.equal(undefined);
            }
        }
    });

    it("builds a single-node cluster with standard access mode for cheap environments", async () => {
        const run = await runStack({ singleNode: "true", nodeType: "Standard_D4ds_v5" });
        const cluster = one(run, TYPES.cluster);
        expect(cluster.inputs.numWorkers).to.equal(0);
        expect(cluster.inputs.sparkConf).to.deep.equal({ "spark.databricks.cluster.profile": "singleNode", "spark.master": "local[*, 4]" });
        expect(cluster.inputs.customTags).to.include({ ResourceClass: "SingleNode", environment: "dev" });
        expect(cluster.inputs.dataSecurityMode).to.equal("USER_ISOLATION");
    });

    it("points the secret scope at the vault's id and URI, after Databricks may read the vault", () => {
        const vault = one(dev, TYPES.vault);
        const scope = one(dev, TYPES.scope);
        expect(scope.inputs.keyvaultMetadata).to.deep.equal({
            resourceId: `<id of ${vault.name}>`,
            dnsName: `https://${vault.inputs.vaultName}.vault.azure.net/`,
        });
        expect(scope.inputs.name).to.equal("notebook-orchestration-dev");
        const databricksRead = ofType(dev, TYPES.roleAssignment).find((r) => String(r.inputs.roleDefinitionId).endsWith(KEY_VAULT_SECRETS_USER_ROLE));
        expect(databricksRead?.inputs).to.include({
            scope: `<id of ${vault.name}>`,
            principalId: "11111111-2222-3333-4444-555555555555",
            principalType: "ServicePrincipal",
        });
    });

    it("assigns the deployer no role on the vault: its secrets go through ARM, and only Databricks reads the data plane", async () => {
        const run = await runStack({ keyVaultSecrets: '{"source-db-password": "s3cr3t-value-42"}' }, "dev", ["keyVaultSecrets"]);
        const assignments = ofType(run, TYPES.roleAssignment);
        expect(assignments.map((r) => [String(r.inputs.roleDefinitionId).split("/").pop(), r.inputs.principalId])).to.deep.equal([
            [KEY_VAULT_SECRETS_USER_ROLE, "11111111-2222-3333-4444-555555555555"],
        ]);
        expect(JSON.stringify(assignments)).not.to.contain(KEY_VAULT_SECRETS_OFFICER_ROLE);
        expect(JSON.stringify(assignments)).not.to.contain("<deployer object id>");
        // The secret is an ARM resource of the vault (Microsoft.KeyVault/vaults/secrets), written by the control plane.
        expect(one(run, TYPES.secret).inputs).to.deep.include({ vaultName: one(run, TYPES.vault).inputs.vaultName, resourceGroupName: "rg-dp" });
    });

    it("deletes its secrets with the vault, so destroying a stack never calls the vault's data plane", async () => {
        // azure-native deletes a keyvault.Secret through the data plane (ARM refuses DELETE on
        // vaults/secrets): behind the firewall, without a data plane role, that call would fail.
        const resources = new Map<pulumi.Resource, string>();
        const deletedWith: Record<string, pulumi.Resource | undefined> = {};
        const withOptions = () => {
            pulumi.runtime.registerStackTransformation((args) => {
                resources.set(args.resource, args.name);
                if (args.type === TYPES.secret) {
                    deletedWith[args.name] = args.opts.deletedWith;
                }
                return undefined;
            });
            return program()();
        };
        const run = await runOffline(withOptions, {
            project: PROJECT,
            stack: "dev",
            config: { ...REQUIRED_CONFIG, keyVaultSecrets: '{"source-db-password": "x", "api-token": "y"}' },
            secretKeys: ["keyVaultSecrets"],
        });
        const vault = one(run, TYPES.vault).name;
        const owners = Object.fromEntries(Object.entries(deletedWith).map(([secret, owner]) => [secret, owner && resources.get(owner)]));
        expect(owners).to.deep.equal(Object.fromEntries(ofType(run, TYPES.secret).map((secret) => [secret.name, vault])));
        expect(Object.keys(owners)).to.have.length(2);
    });

    it("closes the vault's firewall to every network but trusted Microsoft services and the configured allow-list", async () => {
        expect(one(dev, TYPES.vault).inputs.properties).to.deep.include({
            publicNetworkAccess: "Enabled",
            networkAcls: { bypass: "AzureServices", defaultAction: "Deny", ipRules: [], virtualNetworkRules: [] },
        });
        const subnet = "/subscriptions/sub-1/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-ci/subnets/runners";
        const allowListed = await runStack({
            keyVaultAllowedIpRanges: '["203.0.113.7", "198.51.100.0/28"]',
            keyVaultAllowedSubnetIds: JSON.stringify([subnet]),
        });
        expect((one(allowListed, TYPES.vault).inputs.properties as Record<string, unknown>).networkAcls).to.deep.equal({
            bypass: "AzureServices",
            defaultAction: "Deny",
            ipRules: [{ value: "203.0.113.7" }, { value: "198.51.100.0/28" }],
            virtualNetworkRules: [{ id: subnet }],
        });
        const open = await runStack({ keyVaultPublicNetworkAccess: "true" }, "pr-5");
        expect((one(open, TYPES.vault).inputs.properties as Record<string, any>).networkAcls.defaultAction).to.equal("Allow");
    });

    it("sends the vault's audit logs to Log Analytics when a workspace is configured, and declares no setting otherwise", async () => {
        expect(ofType(dev, TYPES.diagnosticSetting)).to.deep.equal([]);
        const workspaceId = "/subscriptions/sub-1/resourceGroups/rg-ops/providers/Microsoft.OperationalInsights/workspaces/law-platform";
        const run = await runStack({ keyVaultLogAnalyticsWorkspaceId: workspaceId });
        const setting = one(run, TYPES.diagnosticSetting);
        expect(setting.inputs).to.deep.equal({
            name: "audit-to-log-analytics",
            resourceUri: `<id of ${one(run, TYPES.vault).name}>`,
            workspaceId,
            logAnalyticsDestinationType: "Dedicated",
            logs: [{ categoryGroup: "audit", enabled: true }],
        });
    });

    it("creates the vault with RBAC, short retention and no purge protection outside production", async () => {
        expect(one(dev, TYPES.vault).inputs.properties).to.deep.include({ enableRbacAuthorization: true, softDeleteRetentionInDays: 7 });
        expect((one(dev, TYPES.vault).inputs.properties as Record<string, unknown>).enablePurgeProtection).to.equal(undefined);
        const prod = await runStack({ mode: "production" }, "prod");
        expect(one(prod, TYPES.vault).inputs.properties).to.deep.include({ enablePurgeProtection: true, softDeleteRetentionInDays: 90 });
    });

    it("derives every name from project and stack, so two stacks share nothing", async () => {
        const pr = await runStack({}, "pr-123");
        const names = (run: OfflineRun) => [
            ...ofType(run, TYPES.job).map((j) => j.inputs.name),
            one(run, TYPES.cluster).inputs.clusterName,
            one(run, TYPES.scope).inputs.name,
            one(run, TYPES.vault).inputs.vaultName,
            one(run, TYPES.directory).inputs.path,
            ...ofType(run, TYPES.notebook).map((n) => n.inputs.path),
            run.outputs.tables,
        ];
        for (const name of names(pr)) {
            expect(JSON.stringify(name)).to.match(/pr[-_]123/);
        }
        const devNames = new Set(names(dev).map((n) => JSON.stringify(n)));
        expect(names(pr).filter((n) => devNames.has(JSON.stringify(n)))).to.deep.equal([]);
        expect(ofType(pr, TYPES.job).map((j) => j.inputs.name)).to.have.members([
            "[pr-123] notebook-orchestration sequential",
            "[pr-123] notebook-orchestration parallel",
        ]);
        expect((pr.outputs.tables as Record<string, string>).runLog).to.equal("main.notebook_orchestration_pr_123.etl_run_log");
    });

    it("deletes the stack's workspace folder with everything in it on destroy", () => {
        expect(one(dev, TYPES.directory).inputs).to.deep.equal({ path: "/Shared/notebook-orchestration/dev", deleteRecursive: true });
    });

    it("pauses schedules off production and runs them in production", async () => {
        for (const job of ofType(dev, TYPES.job)) {
            expect((job.inputs.schedule as Record<string, unknown>).pauseStatus).to.equal("PAUSED");
        }
        const prod = await runStack({ mode: "production" }, "prod");
        for (const job of ofType(prod, TYPES.job)) {
            expect((job.inputs.schedule as Record<string, unknown>).pauseStatus).to.equal("UNPAUSED");
        }
    });

    it("schedules the two jobs so that the first one's timeout ends before the second starts", () => {
        const [sequential, parallel] = ["sequential-job", "parallel-job"].map((suffix) => one(dev, TYPES.job, suffix).inputs);
        const hour = (job: Record<string, any>) => Number(job.schedule.quartzCronExpression.split(" ")[2]);
        expect(hour(sequential) * 3600 + (sequential.timeoutSeconds as number)).to.be.at.most(hour(parallel) * 3600);
    });

    it("limits each job to one run at a time, with a timeout, failure e-mails and job parameters for the orchestrator", () => {
        const parallel = one(dev, TYPES.job, "parallel-job").inputs as Record<string, any>;
        expect(parallel).to.deep.include({ maxConcurrentRuns: 1, timeoutSeconds: 7200, queue: { enabled: true } });
        expect(parallel.emailNotifications.onFailures).to.deep.equal(["data-platform@example.com"]);
        expect(parallel.parameters).to.deep.equal([
            { name: "items", default: "" },
            { name: "max_retries", default: "1" },
            { name: "max_workers", default: "4" },
            { name: "retry_backoff_seconds", default: "30" },
            { name: "run_id", default: "{{job.run_id}}" },
            { name: "timeout_seconds", default: "3600" },
            { name: "workers", default: "" },
        ]);
        const sequential = one(dev, TYPES.job, "sequential-job").inputs as Record<string, any>;
        expect(sequential.parameters.map((p: { name: string }) => p.name)).to.deep.equal([
            "items",
            "max_retries",
            "retry_backoff_seconds",
            "run_id",
            "timeout_seconds",
            "workers",
        ]);
        const setup = sequential.tasks.find((t: { taskKey: string }) => t.taskKey === "setup");
        expect(setup.notebookTask.baseParameters).to.deep.equal({
            catalog: "main",
            schema: "notebook_orchestration_dev",
            input_table: "orders",
            run_log_table: "etl_run_log",
            sample_data: "true",
            sample_rows: "20000",
            secret_scope: "notebook-orchestration-dev",
        });
    });

    it("points each job's orchestrate task at its orchestrator, and renders the four ETL workers as the default items into both", () => {
        const workerPaths = WORKERS.map((w) =>
            String(ofType(dev, TYPES.notebook).find((n) => String(n.inputs.path).endsWith(`/workers/${w.name}`))?.inputs.path),
        );
        expect(workerPaths).to.deep.equal(WORKERS.map((w) => `/Shared/notebook-orchestration/dev/workers/${w.name}`));
        for (const kind of ["sequential", "parallel"]) {
            const job = one(dev, TYPES.job, `${kind}-job`).inputs as Record<string, any>;
            const orchestrate = job.tasks.find((t: { taskKey: string }) => t.taskKey === "orchestrate");
            expect(orchestrate.notebookTask.notebookPath).to.equal(`/Shared/notebook-orchestration/dev/orchestrators/${kind}`);
            expect(orchestrate.dependsOns).to.deep.equal([{ taskKey: "setup" }]);
            expect(job.description).to.contain("the four ETL workers");
            const source = notebookSource(dev, `orchestrators/${kind}`);
            expect(renderedValue(source, "ITEMS")).to.deep.equal(
                WORKERS.map((w) => ({
                    name: w.name,
                    notebook: `workers/${w.name}`,
                    path: workerPaths[WORKERS.indexOf(w)],
                    arguments: {},
                    expected_seconds: null,
                })),
            );
            expect(renderedValue(source, "COMMON_ARGUMENTS")).to.deep.equal({
                catalog: "main",
                schema: "notebook_orchestration_dev",
                input_table: "orders",
                run_log_table: "etl_run_log",
            });
            expect(renderedValue(source, "NOTEBOOK_FOLDER")).to.equal("/Shared/notebook-orchestration/dev");
            expect(renderedValue(source, "KNOWN_NOTEBOOKS")).to.have.members(WORKERS.map((w) => `workers/${w.name}`));
            expect(renderedValue(source, "WORK_ITEMS_QUERY")).to.equal(null);
        }
        expect(Object.keys(dev.outputs.tables as Record<string, unknown>)).to.include("outputs");
        expect(Object.keys((dev.outputs.tables as Record<string, Record<string, string>>).outputs)).to.deep.equal(WORKERS.map((w) => w.name));
    });

    it("keeps the identities the jobs and notebooks had before the components, so an update changes them in place", async () => {
        const aliases: Record<string, unknown[]> = {};
        const recording = () => {
            pulumi.runtime.registerStackTransformation((args) => {
                aliases[`${args.type}::${args.name}`] = (args.opts.aliases ?? []) as unknown[];
                return undefined;
            });
            return program()();
        };
        await runOffline(recording, { project: PROJECT, stack: "dev", config: REQUIRED_CONFIG });
        const prefix = "notebook-orchestration-dev";
        const formerParent = `urn:pulumi:dev::${PROJECT}::orchestration:notebooks:EtlNotebooks::${prefix}-notebooks`;
        const resolved = async (list: unknown[]) =>
            Promise.all(
                list.map(async (alias) => {
                    const { name, type, parent } = alias as { name?: string; type?: string; parent?: unknown };
                    return { name, type, parent: parent === undefined ? undefined : await new Promise((resolve) => pulumi.output(parent).apply(resolve)) };
                }),
            );
        expect(await resolved(aliases[`orchestration:notebooks:StackNotebooks::${prefix}-notebooks`])).to.deep.equal([
            { name: undefined, type: "orchestration:notebooks:EtlNotebooks", parent: undefined },
        ]);
        for (const kind of ["sequential", "parallel"]) {
            expect(
                await resolved(aliases[`orchestration:jobs:${kind === "parallel" ? "Parallel" : "Sequential"}NotebookJob::${prefix}-${kind}`]),
            ).to.deep.equal([{ name: undefined, type: "orchestration:jobs:NotebookJob", parent: undefined }]);
            expect(await resolved(aliases[`databricks:index/notebook:Notebook::${prefix}-${kind}-orchestrator`])).to.deep.equal([
                { name: `${prefix}-notebooks-orchestrators-${kind}`, type: undefined, parent: formerParent },
            ]);
        }
        expect(await resolved(aliases[`databricks:index/notebook:Notebook::${prefix}-orchestration-lib-orchestration`])).to.deep.equal([
            { name: `${prefix}-notebooks-lib-orchestration`, type: undefined, parent: formerParent },
        ]);
    });

    it("keeps Key Vault secret values secret: secret inputs, and nowhere in notebooks or outputs", async () => {
        const run = await runStack({ keyVaultSecrets: '{"source-db-password": "s3cr3t-value-42"}' }, "dev", ["keyVaultSecrets"]);
        const secret = one(run, TYPES.secret);
        expect(secret.inputs).to.deep.include({ secretName: "source-db-password" });
        const value = (secret.props.properties as { value: pulumi.Output<string> }).value;
        expect(await pulumi.isSecret(value)).to.equal(true);
        for (const notebook of ofType(run, TYPES.notebook)) {
            expect(Buffer.from(String(notebook.inputs.contentBase64), "base64").toString()).not.to.contain("s3cr3t-value-42");
        }
        for (const job of ofType(run, TYPES.job)) {
            expect(JSON.stringify(job.inputs)).not.to.contain("s3cr3t-value-42");
        }
        expect(JSON.stringify(run.outputs)).not.to.contain("s3cr3t-value-42");
    });

    it("creates the resource group and workspace itself when asked, and targets that workspace", async () => {
        const run = await runStack({ createWorkspace: "true", databricksHost: "", databricksWorkspaceResourceId: "", resourceGroupName: "" }, "ci-7");
        expect(one(run, TYPES.resourceGroup).inputs).to.include({ resourceGroupName: "rg-notebook-orchestration-ci-7" });
        const workspace = one(run, TYPES.workspace);
        expect(workspace.inputs).to.deep.include({ workspaceName: "dbw-notebook-orchestration-ci-7", sku: { name: "premium" } });
        expect(one(run, TYPES.provider).inputs).to.include({
            host: "https://adb-<workspace id>.azuredatabricks.net",
            azureWorkspaceResourceId: `<id of ${workspace.name}>`,
        });
        expect(one(run, TYPES.vault).inputs.resourceGroupName).to.equal("rg-notebook-orchestration-ci-7");
    });

    it("uses an existing workspace with Azure AD auth by default", () => {
        expect(one(dev, TYPES.provider).inputs).to.include({
            host: "https://adb-1234567890123456.7.azuredatabricks.net",
            azureWorkspaceResourceId: "/subscriptions/sub-1/resourceGroups/rg-dp/providers/Microsoft.Databricks/workspaces/dbw-dp",
            authType: "azure-cli",
        });
        expect(ofType(dev, TYPES.workspace)).to.have.length(0);
    });

    it("exports the ids, URLs, names and tables a user needs", () => {
        expect(dev.outputs).to.include({
            workspaceUrl: "https://adb-1234567890123456.7.azuredatabricks.net",
            sequentialJobId: "<id of notebook-orchestration-dev-sequential-job>",
            parallelJobId: "<id of notebook-orchestration-dev-parallel-job>",
            secretScope: "notebook-orchestration-dev",
            keyVaultName: "kv-nbo-dev-<random>",
            keyVaultUri: "https://kv-nbo-dev-<random>.vault.azure.net/",
        });
        expect(Object.keys(dev.outputs.notebookUrls as object)).to.have.length(9);
        expect(dev.outputs.clusterId).to.equal("<id of notebook-orchestration-dev-compute-cluster>");
    });

    it("fails on bad config before declaring any resource", async () => {
        let failure: unknown;
        const guarded = async () => {
            try {
                return await program()();
            } catch (error) {
                failure = error;
                return {};
            }
        };
        const run = await runOffline(guarded, { project: PROJECT, stack: "dev", config: { ...REQUIRED_CONFIG, maxWorkers: "0" } });
        expect(failure).to.be.instanceOf(StackConfigError);
        expect(String(failure)).to.contain("notebook-orchestration:maxWorkers");
        expect(run.resources.map((r) => r.type)).to.deep.equal(["pulumi:pulumi:Stack"]);
    });
});

describe("the stack over a team's own notebooks (notebookSourceFolder, workItems)", function () {
    this.timeout(30000);
    const tables = ["sales.orders", "sales.customers", "sales.products"];
    const workItems = JSON.stringify([
        ...tables.map((table) => ({ notebook: "ingest/ingest_table", arguments: { table } })),
        { notebook: "workers/daily_sales", expected_seconds: 240 },
    ]);
    let team: OfflineRun;

    before(async () => {
        team = await runStack({ notebookSourceFolder: TEAM_NOTEBOOKS, workItems });
    });

    it("uploads the folder's notebooks at their relative paths beside the stack's own, and skips a plain module", () => {
        const paths = ofType(team, TYPES.notebook).map((n) => String(n.inputs.path));
        expect(paths).to.include.members([
            "/Shared/notebook-orchestration/dev/ingest/ingest_table",
            "/Shared/notebook-orchestration/dev/reports/refresh_report",
            ...WORKERS.map((w) => `/Shared/notebook-orchestration/dev/workers/${w.name}`),
        ]);
        expect(paths.filter((p) => p.includes("table_names"))).to.deep.equal([]);
        expect(notebookSource(team, "ingest/ingest_table")).to.contain("dbutils.widgets.text(_name, _default)");
        expect(Object.keys(team.outputs.notebookUrls as object)).to.include.members([
            "ingest/ingest_table",
            "reports/refresh_report",
            "orchestrators/parallel",
        ]);
        expect(team.diagnostics.map((d) => d.message).join("\n")).to.contain("table_names.py is not uploaded: it is not a Databricks notebook source");
    });

    it("renders the items, their arguments and the known notebooks into both orchestrators, and describes the jobs by them", () => {
        for (const kind of ["sequential", "parallel"]) {
            const source = notebookSource(team, `orchestrators/${kind}`);
            expect(renderedValue(source, "ITEMS")).to.deep.equal([
                ...tables.map((table) => ({
                    name: `ingest_table(table=${table})`,
                    notebook: "ingest/ingest_table",
                    path: "/Shared/notebook-orchestration/dev/ingest/ingest_table",
                    arguments: { table },
                    expected_seconds: null,
                })),
                {
                    name: "daily_sales",
                    notebook: "workers/daily_sales",
                    path: "/Shared/notebook-orchestration/dev/workers/daily_sales",
                    arguments: {},
                    expected_seconds: 240,
                },
            ]);
            expect(renderedValue(source, "KNOWN_NOTEBOOKS")).to.include.members(["ingest/ingest_table", "reports/refresh_report", "workers/daily_sales"]);
            const job = one(team, TYPES.job, `${kind}-job`).inputs as Record<string, any>;
            expect(job.description).to.match(new RegExp(`^Runs 4 work items \\(notebooks ingest/ingest_table, workers/daily_sales\\) `));
        }
    });

    it("exports the output tables of the ETL workers among the items only", () => {
        expect((team.outputs.tables as Record<string, unknown>).outputs).to.deep.equal({ daily_sales: "main.notebook_orchestration_dev.daily_sales" });
    });

    it("runs one notebook over its arguments directly in the For each job (one-notebook shape)", async () => {
        const run = await runStack({
            notebookSourceFolder: TEAM_NOTEBOOKS,
            forEachJob: "true",
            workItems: JSON.stringify(tables.map((table, index) => ({ notebook: "ingest/ingest_table", arguments: { table }, name: `t${index}` }))),
        });
        const job = one(run, TYPES.job, "for-each-job").inputs as Record<string, any>;
        const loop = (job.tasks as Record<string, any>[]).find((t) => t.forEachTask);
        expect(loop?.taskKey).to.equal("for_each_item");
        expect(JSON.parse(loop?.forEachTask.inputs)).to.deep.equal(tables.map((table, index) => ({ table, work_item: `t${index}` })));
        expect(loop?.forEachTask.task.notebookTask).to.deep.equal({
            notebookPath: "/Shared/notebook-orchestration/dev/ingest/ingest_table",
            source: "WORKSPACE",
            baseParameters: {
                catalog: "main",
                schema: "notebook_orchestration_dev",
                input_table: "orders",
                run_log_table: "etl_run_log",
                table: "{{input.table}}",
                work_item: "{{input.work_item}}",
                orchestration_mode: "for_each",
            },
        });
        expect(ofType(run, TYPES.notebook).map((n) => String(n.inputs.path))).not.to.include("/Shared/notebook-orchestration/dev/for_each/worker");
        expect(job.description).to.contain("3 work items (notebook ingest/ingest_table)");
    });

    it("describes the jobs by the query when workItemsQuery is set, and renders it", async () => {
        const query = "SELECT notebook, arguments FROM main.ops.ingest_control WHERE enabled";
        const run = await runStack({ notebookSourceFolder: TEAM_NOTEBOOKS, workItems, workItemsQuery: query });
        expect(renderedValue(notebookSource(run, "orchestrators/parallel"), "WORK_ITEMS_QUERY")).to.equal(query);
        expect((one(run, TYPES.job, "parallel-job").inputs as Record<string, any>).description).to.contain(
            "the work items workItemsQuery returns when a run starts",
        );
    });
});
