import { execFileSync } from "child_process";
import * as path from "path";
import { ConfigSource } from "../../components/config";
import { OfflineRun, PROJECT_ROOT, RecordedResource, runOffline } from "../../tools/offline";

export const PROJECT = "notebook-orchestration";

/** The least configuration a stack needs: an existing workspace and the AzureDatabricks principal. */
export const REQUIRED_CONFIG: Readonly<Record<string, string>> = {
    databricksHost: "https://adb-1234567890123456.7.azuredatabricks.net",
    databricksWorkspaceResourceId: "/subscriptions/sub-1/resourceGroups/rg-dp/providers/Microsoft.Databricks/workspaces/dbw-dp",
    resourceGroupName: "rg-dp",
    databricksServicePrincipalObjectId: "11111111-2222-3333-4444-555555555555",
    notificationEmails: '["data-platform@example.com"]',
};

/** A config source as Pulumi would give it to the program, for parseStackConfig. */
export function configSource(values: Readonly<Record<string, string>>, stack = "dev", secretKeys: readonly string[] = []): ConfigSource {
    return {
        project: PROJECT,
        stack,
        get: (key) => values[key],
        isSecret: (key) => secretKeys.includes(key),
    };
}

/** The Pulumi program, index.ts, as the Pulumi CLI loads it. */
export function program(): () => Promise<Record<string, unknown>> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(path.join(PROJECT_ROOT, "index.ts")) as () => Promise<Record<string, unknown>>;
}

/** Runs index.ts under Pulumi's mocks with REQUIRED_CONFIG plus `config`. */
export function runStack(config: Readonly<Record<string, string>> = {}, stack = "dev", secretKeys: readonly string[] = []): Promise<OfflineRun> {
    return runOffline(program(), { project: PROJECT, stack, config: { ...REQUIRED_CONFIG, ...config }, secretKeys });
}

export function ofType(run: OfflineRun, type: string): RecordedResource[] {
    return run.resources.filter((r) => r.type === type);
}

export function one(run: OfflineRun, type: string, nameSuffix = ""): RecordedResource {
    const matches = ofType(run, type).filter((r) => r.name.endsWith(nameSuffix));
    if (matches.length !== 1) {
        throw new Error(`expected one ${type} named *${nameSuffix}, found ${matches.map((m) => m.name).join(", ") || "none"}`);
    }
    return matches[0];
}

export const TYPES = {
    cluster: "databricks:index/cluster:Cluster",
    job: "databricks:index/job:Job",
    notebook: "databricks:index/notebook:Notebook",
    directory: "databricks:index/directory:Directory",
    scope: "databricks:index/secretScope:SecretScope",
    provider: "pulumi:providers:databricks",
    vault: "azure-native:keyvault:Vault",
    secret: "azure-native:keyvault:Secret",
    roleAssignment: "azure-native:authorization:RoleAssignment",
    diagnosticSetting: "azure-native:monitor:DiagnosticSetting",
    resourceGroup: "azure-native:resources:ResourceGroup",
    workspace: "azure-native:databricks:Workspace",
} as const;

/** The decoded source of the notebook uploaded at `<folder>/<relativePath>`. */
export function notebookSource(run: OfflineRun, relativePath: string): string {
    const notebook = ofType(run, TYPES.notebook).find((n) => String(n.inputs.path).endsWith(`/${relativePath}`));
    if (!notebook) {
        throw new Error(`no notebook ${relativePath}`);
    }
    return Buffer.from(String(notebook.inputs.contentBase64), "base64").toString("utf8");
}

/** The fixture folder of a team's own notebooks: ingest/ingest_table, reports/refresh_report and a plain module. */
export const TEAM_NOTEBOOKS = path.join(PROJECT_ROOT, "test", "fixtures", "team-notebooks");

/**
 * The value of a rendered placeholder, `<variable> = <Python literal>` at the start of a line, read back
 * with Python's own parser. A list or dict spans lines up to its closing bracket at column 0
 * (components/render.ts lays them out so); anything else is one line.
 */
export function renderedValue(source: string, variable: string): any {
    const start = source.search(new RegExp(`^${variable} = `, "m"));
    if (start < 0) {
        throw new Error(`no ${variable} in the rendered notebook`);
    }
    const from = start + variable.length + 3;
    const closing = { "[": "]", "{": "}" }[source[from]];
    const empty = closing !== undefined && source[from + 1] === closing;
    const end = closing === undefined ? source.indexOf("\n", from) : empty ? from + 2 : source.indexOf(`\n${closing}`, from) + 2;
    return JSON.parse(
        execFileSync("python3", ["-c", "import ast, json, sys; print(json.dumps(ast.literal_eval(sys.stdin.read())))"], {
            input: source.slice(from, end),
        }).toString(),
    );
}
