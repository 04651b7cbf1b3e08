/**
 * `npm run plan [-- --stack NAME] [--config key=value ...] [--out DIR]`: the offline plan. Runs the program under Pulumi's mock
 * runtime with Pulumi.<stack>.yaml, prints what `pulumi up` would create as a tree laid out like
 * `pulumi preview`, with each resource's key settings and the work items the orchestrators are rendered
 * with, and writes every notebook exactly as it would be uploaded to DIR (default build/notebooks/), e.g.
 * `npm run plan -- --config workItems='[{"notebook": "workers/daily_sales"}]' --out build/items`. DIR holds only what the plan wrote: the next plan replaces
 * those files and refuses a directory with anything else in it (tools/outputDirectory.ts). No Pulumi
 * CLI, credentials or network needed.
 */
import * as path from "path";
import { Command, InvalidArgumentError } from "commander";
import { parseStackConfig, WorkItemsConfig } from "../components/config";
import { KEY_VAULT_SECRETS_OFFICER_ROLE, KEY_VAULT_SECRETS_USER_ROLE } from "../components/secrets";
import { isDefaultWorkItems } from "../components/stack";
import { checkGeneratedDirectory, replaceGeneratedFiles } from "./outputDirectory";
import { OfflineRun, PROJECT_ROOT, projectName, readStackConfigFile, RecordedResource, resourceKey, runOffline } from "./offline";

/** `databricks:index/cluster:Cluster` is shown the way the Pulumi CLI shows it: `databricks:index:Cluster`. */
export function displayType(type: string): string {
    return type.replace(/^([^:]+):([^/:]+)\/[^:]+:([^:]+)$/, "$1:$2:$3");
}

const ROLE_NAMES: Record<string, string> = {
    [KEY_VAULT_SECRETS_USER_ROLE]: "Key Vault Secrets User",
    [KEY_VAULT_SECRETS_OFFICER_ROLE]: "Key Vault Secrets Officer",
};

function workersText(spec: Record<string, any>): string {
    if (spec.autoscale) {
        return `autoscale ${spec.autoscale.minWorkers}-${spec.autoscale.maxWorkers} workers`;
    }
    return spec.numWorkers === 0 ? "single node" : `${spec.numWorkers} workers`;
}

/**
 * A For each task in a line: "for each of 4 workers, 4 at a time, 1 retry per worker" over worker names,
 * "for each of 40 items, ..." over work items (object inputs).
 */
function forEachText(forEach: Record<string, any>): string {
    let count = "?";
    let unit = "worker";
    try {
        const inputs = JSON.parse(String(forEach.inputs)) as unknown[];
        count = String(inputs.length);
        unit = inputs.some((input) => typeof input === "object") ? "item" : "worker";
    } catch {
        count = String(forEach.inputs); // a reference such as {{job.parameters.items}}
    }
    const retries = forEach.task?.maxRetries ?? 0;
    return `for each of ${count} ${unit}s, ${forEach.concurrency ?? 1} at a time, ${retries} ${retries === 1 ? "retry" : "retries"} per ${unit}`;
}

/** The few settings a reviewer looks for first, per resource type. */
export function keySettings(resource: RecordedResource): string {
    const i = resource.inputs as Record<string, any>;
    switch (resource.type) {
        case "pulumi:providers:databricks":
            return `host=${i.host} auth=${i.authType}`;
        case "databricks:index/cluster:Cluster":
            return `${i.clusterName}: ${i.sparkVersion}, ${i.nodeTypeId}, ${workersText(i)}, ${i.dataSecurityMode}, auto-terminate ${i.autoterminationMinutes}m`;
        case "databricks:index/job:Job": {
            const tableUpdate = i.trigger?.tableUpdate;
            const schedule = i.schedule
                ? `${i.schedule.quartzCronExpression} ${i.schedule.timezoneId} ${i.schedule.pauseStatus}`
                : tableUpdate
                  ? `on update of ${tableUpdate.tableNames.join(", ")} (at most every ${tableUpdate.minTimeBetweenTriggersSeconds ?? 0}s) ${i.trigger.pauseStatus ?? "UNPAUSED"}`
                  : "on demand";
            const tasks = [...(i.tasks ?? [])]
                .sort((a: Record<string, any>, b: Record<string, any>) => (a.dependsOns?.length ?? 0) - (b.dependsOns?.length ?? 0))
                .map((t: Record<string, any>) => (t.forEachTask ? `${t.taskKey} (${forEachText(t.forEachTask)})` : t.taskKey))
                .join(" -> ");
            // A For each task's compute is its nested task's.
            const firstTask = ((i.tasks ?? [])[0] ?? {}).forEachTask?.task ?? (i.tasks ?? [])[0] ?? {};
            const compute = firstTask.runJobTask
                ? `runs job ${firstTask.runJobTask.jobId}`
                : `on ${firstTask.existingClusterId ? `cluster ${firstTask.existingClusterId}` : `job cluster '${firstTask.jobClusterKey}'`}`;
            return `"${i.name}": ${schedule}; ${tasks} ${compute}; timeout ${i.timeoutSeconds}s, max ${i.maxConcurrentRuns} run${i.maxConcurrentRuns === 1 ? "" : "s"}`;
        }
        case "databricks:index/dashboard:Dashboard": {
            const pages = (JSON.parse(String(i.serializedDashboard)) as { pages: { displayName: string }[] }).pages.map((page) => page.displayName);
            return `"${i.displayName}" on SQL warehouse ${i.warehouseId}: ${pages.join("; ")}`;
        }
        case "databricks:index/notebook:Notebook":
        case "databricks:index/directory:Directory":
            return i.path;
        case "databricks:index/secretScope:SecretScope":
            return `${i.name} -> ${i.keyvaultMetadata?.dnsName}`;
        case "azure-native:keyvault:Vault": {
            const p = i.properties ?? {};
            return `${i.vaultName}: RBAC ${p.enableRbacAuthorization ? "on" : "off"}, soft delete ${p.softDeleteRetentionInDays}d, purge protection ${p.enablePurgeProtection ? "on" : "off"}`;
        }
        case "azure-native:keyvault:Secret":
            return `${i.secretName} = [secret]`;
        case "azure-native:authorization:RoleAssignment":
            return `${ROLE_NAMES[String(i.roleDefinitionId).split("/").pop() ?? ""] ?? i.roleDefinitionId} for ${i.principalId}`;
        case "azure-native:resources:ResourceGroup":
            return `${i.resourceGroupName} in ${i.location}`;
        case "azure-native:databricks:Workspace":
            return `${i.workspaceName} (${i.sku?.name})`;
        case "random:index/randomString:RandomString":
            return `${i.length} characters`;
        default:
            return "";
    }
}

/** The resources as the tree `pulumi preview` prints: type, name, plan, info. */
export function formatPlanTree(resources: readonly RecordedResource[]): string[] {
    const children = new Map<string | undefined, RecordedResource[]>();
    for (const resource of resources) {
        const list = children.get(resource.parent) ?? [];
        list.push(resource);
        children.set(resource.parent, list);
    }
    const rows: [string, string, string, string][] = [];
    const walk = (resource: RecordedResource, prefix: string, connector: string) => {
        rows.push([`${prefix}${connector}${displayType(resource.type)}`, resource.name, "create", keySettings(resource)]);
        const kids = children.get(resourceKey(resource.type, resource.name)) ?? [];
        const childPrefix = connector === "" ? "" : prefix + (connector.startsWith("└") ? "   " : "│  ");
        kids.forEach((kid, index) => walk(kid, childPrefix, index === kids.length - 1 ? "└─ " : "├─ "));
    };
    for (const root of children.get(undefined) ?? []) {
        walk(root, "", "");
    }
    const typeWidth = Math.max(4, ...rows.map((r) => r[0].length));
    const nameWidth = Math.max(4, ...rows.map((r) => r[1].length));
    const line = (sign: string, cells: [string, string, string, string]) =>
        ` ${sign}   ${cells[0].padEnd(typeWidth)}  ${cells[1].padEnd(nameWidth)}  ${cells[2].padEnd(6)}  ${cells[3]}`.trimEnd();
    return [line(" ", ["Type", "Name", "Plan", "Info"]), ...rows.map((row) => line("+", row))];
}

function formatValue(value: unknown, indent: string): string[] {
    if (value === undefined) {
        return [];
    }
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        const entries = Object.entries(value).filter(([, v]) => v !== undefined);
        const width = Math.max(...entries.map(([k]) => k.length));
        return entries.flatMap(([key, v]) =>
            v !== null && typeof v === "object" && !Array.isArray(v)
                ? [`${indent}${key}: {`, ...formatValue(v, indent + "    "), `${indent}}`]
                : [`${indent}${key.padEnd(width)}: ${JSON.stringify(v)}`],
        );
    }
    return [`${indent}${JSON.stringify(value)}`];
}

/** What the program logged, laid out like pulumi preview's Diagnostics section; nothing when it logged nothing. */
export function formatDiagnostics(run: OfflineRun): string[] {
    if (run.diagnostics.length === 0) {
        return [];
    }
    const stack = run.resources.find((r) => r.type === "pulumi:pulumi:Stack");
    return [
        "Diagnostics:",
        `  pulumi:pulumi:Stack (${stack?.name ?? "stack"}):`,
        ...run.diagnostics.map((d) => `    ${d.severity}: ${d.message.replace(/\n/g, "\n    ")}`),
        "",
    ];
}

/** The plan of a stack: what the program declared, and the items its orchestrators were rendered with. */
export interface PlanRun extends OfflineRun {
    readonly workItems?: WorkItemsConfig;
}

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;

/** How many items the orchestrators were rendered with, over which notebooks, and where a run takes its items from instead. */
export function formatWorkItems(workItems: WorkItemsConfig): string[] {
    const { items } = workItems;
    const byNotebook = new Map<string, string[]>();
    for (const item of items) {
        byNotebook.set(item.notebook, [...(byNotebook.get(item.notebook) ?? []), item.name]);
    }
    const width = Math.max(...[...byNotebook.keys()].map((notebook) => notebook.length));
    const names = (list: string[]) => (list.length <= 3 ? list.join(", ") : `${list.slice(0, 3).join(", ")} and ${list.length - 3} more`);
    return [
        `Work items: ${plural(items.length, "item")} ${isDefaultWorkItems(items) ? "(the default: the four ETL workers)" : "from workItems"} ` +
            `over ${plural(byNotebook.size, "notebook")}, rendered into both orchestrators:`,
        ...[...byNotebook].map(([notebook, list]) => `    ${notebook.padEnd(width)}  ${plural(list.length, "item")}: ${names(list)}`),
        ...(workItems.query ? [`    A run takes its items from workItemsQuery instead: ${workItems.query}`] : []),
        "    A run's job parameter items (a JSON array of items) replaces them for that run.",
        "",
    ];
}

export function formatPlan(stack: string, run: PlanRun): string {
    const creates = run.resources.length;
    return [
        `Previewing update (${stack}), offline under Pulumi's mock runtime:`,
        "",
        ...formatPlanTree(run.resources),
        "",
        ...(run.workItems ? formatWorkItems(run.workItems) : []),
        ...(run.outputs.dashboardId === undefined ? ["Dashboard: not declared (set sqlWarehouseId to declare the run-log dashboard)", ""] : []),
        ...formatDiagnostics(run),
        "Outputs:",
        ...formatValue(run.outputs, "    "),
        "",
        "Resources:",
        `    + ${creates} to create`,
    ].join("\n");
}

/** Notebooks the plan would upload, decoded from the Notebook resources' inputs, relative to the stack's folder. */
export function plannedNotebooks(run: OfflineRun): { relativePath: string; source: string }[] {
    const folder = String(run.outputs.workspaceFolder ?? "");
    return run.resources
        .filter((r) => r.type === "databricks:index/notebook:Notebook")
        .map((r) => ({
            relativePath: String(r.inputs.path).slice(folder.length + 1),
            source: Buffer.from(String(r.inputs.contentBase64), "base64").toString("utf8"),
        }));
}

/** `key=value` of `--config`, as `pulumi preview --config` takes it. */
export function parseConfigOverride(value: string, previous: Record<string, string> = {}): Record<string, string> {
    const match = /^([A-Za-z][\w.:-]*)=(.*)$/s.exec(value);
    if (!match) {
        throw new InvalidArgumentError(`expected key=value, e.g. asyncFanOut=true; got '${value}'`);
    }
    return { ...previous, [match[1]]: match[2] };
}

export async function planStack(stack: string, overrides: Readonly<Record<string, string>> = {}): Promise<PlanRun> {
    const file = readStackConfigFile(stack);
    const project = projectName();
    const config = { ...file.config };
    for (const [key, value] of Object.entries(overrides)) {
        config[key.includes(":") ? key : `${project}:${key}`] = value;
    }
    const secretKeys = file.secretKeys;
    // Load the program the way the Pulumi CLI does: index.ts's exported function is the program.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require(path.join(PROJECT_ROOT, "index.ts")) as () => Promise<Record<string, unknown>>;
    const run = await runOffline(program, { project, stack, config, secretKeys });
    // The program read the same configuration and declared its resources from it, so it parses here too.
    const { workItems } = parseStackConfig({
        project,
        stack,
        get: (key) => config[`${project}:${key}`],
        isSecret: (key) => secretKeys.includes(`${project}:${key}`),
    });
    return { ...run, workItems };
}

async function main(): Promise<void> {
    const options = new Command("plan")
        .description("Offline plan: what `pulumi up` would create for a stack, and the notebooks it would upload")
        .option("--stack <name>", "stack whose Pulumi.<name>.yaml is used", "dev")
        .option("--out <dir>", "where to write the rendered notebooks: a new or empty directory, or one an earlier plan wrote", path.join("build", "notebooks"))
        .option("-c, --config <key=value>", "override a config value for this plan (repeatable), like pulumi preview --config", parseConfigOverride, {})
        .parse()
        .opts<{ stack: string; out: string; config: Record<string, string> }>();
    const out = path.resolve(options.out);
    const shown = path.relative(process.cwd(), out) || ".";
    checkGeneratedDirectory(out, "npm run plan", shown);
    const run = await planStack(options.stack, options.config);
    console.log(formatPlan(options.stack, run));
    const notebooks = plannedNotebooks(run).map((n) => ({ relativePath: `${n.relativePath}.py`, content: n.source }));
    const files = replaceGeneratedFiles(out, notebooks, "npm run plan", shown);
    console.log(`\nNotebooks as they would be uploaded (${files.length}), written to ${shown}/:`);
    for (const file of files) {
        console.log(`    ${path.relative(out, file)}`);
    }
}

if (require.main === module) {
    main().catch((error: unknown) => {
        console.error(`plan: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
    });
}
