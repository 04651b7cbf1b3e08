/**
 * Runs the Pulumi program under Pulumi's mock runtime: no CLI, credentials or network. Every resource
 * the program declares is recorded with its parent and its resolved inputs; every invoke is answered
 * here, and an invoke nobody expected fails the run. Used by `npm run plan` and by the tests.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";

export const PROJECT_ROOT = path.join(__dirname, "..");

export interface RecordedResource {
    readonly type: string;
    readonly name: string;
    readonly custom: boolean;
    /** `type::name` of the parent; undefined for the stack itself, the root. */
    readonly parent?: string;
    /** Inputs as the engine receives them (resolved, secrets unwrapped). */
    inputs: Record<string, unknown>;
    /** Inputs as the program passed them (Outputs and secrets intact). */
    readonly props: Record<string, unknown>;
}

export interface OfflineRun {
    readonly resources: RecordedResource[];
    readonly outputs: Record<string, unknown>;
    /** Invoke tokens called, in order. */
    readonly invokes: string[];
    /** What the program logged with pulumi.log.warn/error, which `pulumi up` shows under Diagnostics. */
    readonly diagnostics: Diagnostic[];
}

export interface Diagnostic {
    readonly severity: "info" | "warning" | "error";
    readonly message: string;
}

/**
 * Without an engine (as under mocks) pulumi.log writes `<severity>: [runtime] <message>` to the console
 * (@pulumi/pulumi log/index.js); `run` collects those lines instead, and passes every other line on.
 */
async function collectingDiagnostics<T>(run: () => Promise<T>): Promise<{ result: T; diagnostics: Diagnostic[] }> {
    const diagnostics: Diagnostic[] = [];
    const originals = { log: console.log, warn: console.warn, error: console.error };
    const collect =
        (original: (...args: unknown[]) => void) =>
        (...args: unknown[]) => {
            const match = args.length === 1 && typeof args[0] === "string" ? /^(info|warning|error): \[runtime\] ([\s\S]*)$/.exec(args[0]) : null;
            if (match) {
                diagnostics.push({ severity: match[1] as Diagnostic["severity"], message: match[2] });
            } else {
                original(...args);
            }
        };
    console.log = collect(originals.log);
    console.warn = collect(originals.warn);
    console.error = collect(originals.error);
    try {
        return { result: await run(), diagnostics };
    } finally {
        Object.assign(console, originals);
    }
}

export interface OfflineOptions {
    readonly project: string;
    readonly stack: string;
    /** Config keys without namespace (`maxWorkers`) are put in the project's namespace. */
    readonly config: Readonly<Record<string, string>>;
    /** Keys (as given in `config`) whose values are secrets. */
    readonly secretKeys?: readonly string[];
}

/** What the mocked invokes return: stand-ins for values only a real workspace and tenant know. */
export const MOCK_INVOKE_RESULTS: Readonly<Record<string, Record<string, unknown>>> = {
    "databricks:index/getNodeType:getNodeType": { id: "<smallest node type with local disk>" },
    "azure-native:authorization:getClientConfig": {
        clientId: "<deployer client id>",
        objectId: "<deployer object id>",
        subscriptionId: "<subscription id>",
        tenantId: "<tenant id>",
    },
};

export const MOCK_RANDOM = "<random>";

export function resourceKey(type: string, name: string): string {
    return `${type}::${name}`;
}

/** Outputs a real deployment computes, modelled on what the providers return. */
function computedState(type: string, inputs: Record<string, any>, id: string): Record<string, unknown> {
    const workspaceUrl = "<workspace url>";
    switch (type) {
        case "random:index/randomString:RandomString":
            return { result: MOCK_RANDOM };
        case "databricks:index/notebook:Notebook":
            return { url: `${workspaceUrl}/#workspace${inputs.path}`, workspacePath: `/Workspace${inputs.path}` };
        case "databricks:index/job:Job":
            return { url: `${workspaceUrl}/#job/${id}` };
        case "databricks:index/cluster:Cluster":
            return { clusterId: id, url: `${workspaceUrl}/#setting/clusters/${id}/configuration` };
        case "databricks:index/secretScope:SecretScope":
            return { name: inputs.name };
        case "azure-native:keyvault:Vault":
            return { name: inputs.vaultName, properties: { ...inputs.properties, vaultUri: `https://${inputs.vaultName}.vault.azure.net/` } };
        case "azure-native:resources:ResourceGroup":
            return { name: inputs.resourceGroupName };
        case "azure-native:databricks:Workspace":
            return { name: inputs.workspaceName, workspaceUrl: "adb-<workspace id>.azuredatabricks.net", workspaceId: "<workspace id>" };
        default:
            return {};
    }
}

/** Runs `program` as the stack's program under mocks with the given config. Runs must not overlap. */
export async function runOffline(program: () => Promise<Record<string, unknown>> | Record<string, unknown>, options: OfflineOptions): Promise<OfflineRun> {
    const namespaced = (key: string) => (key.includes(":") ? key : `${options.project}:${key}`);
    const config: Record<string, string> = {};
    for (const [key, value] of Object.entries(options.config)) {
        config[namespaced(key)] = value;
    }
    pulumi.runtime.setAllConfig(config, (options.secretKeys ?? []).map(namespaced));

    const resources: RecordedResource[] = [];
    const byKey = new Map<string, RecordedResource>();
    const keyOf = new Map<pulumi.Resource, string>();
    const invokes: string[] = [];
    const stackName = `${options.project}-${options.stack}`;
    const stackKey = resourceKey("pulumi:pulumi:Stack", stackName);

    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                const id = `<id of ${args.name}>`;
                const recorded = byKey.get(resourceKey(args.type, args.name));
                if (recorded) {
                    recorded.inputs = args.inputs;
                }
                return { id, state: { ...args.inputs, ...computedState(args.type, args.inputs, id) } };
            },
            call(args) {
                invokes.push(args.token);
                const result = MOCK_INVOKE_RESULTS[args.token];
                if (!result) {
                    throw new Error(`Unexpected invoke ${args.token}: mock it in tools/offline.ts`);
                }
                return result;
            },
        },
        options.project,
        options.stack,
        false,
    );

    resources.push({ type: "pulumi:pulumi:Stack", name: stackName, custom: false, inputs: {}, props: {} });
    const { result: outputs, diagnostics } = await collectingDiagnostics(async () => {
        const stackOutputs = (await pulumi.runtime.runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation((args) => {
                const key = resourceKey(args.type, args.name);
                const parent = args.opts.parent ? keyOf.get(args.opts.parent) : stackKey;
                const record: RecordedResource = {
                    type: args.type,
                    name: args.name,
                    custom: args.resource instanceof pulumi.CustomResource,
                    parent,
                    inputs: {},
                    props: args.props,
                };
                keyOf.set(args.resource, key);
                byKey.set(key, record);
                resources.push(record);
                return undefined;
            });
            return program();
        })) as Record<string, unknown> | undefined;
        // Registrations nothing in the outputs depends on may still be in flight.
        await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
        return stackOutputs;
    });

    return { resources, outputs: outputs ?? {}, invokes, diagnostics };
}

/** How a YAML value is named in messages: what it is, and its text when short. */
function describeYaml(value: unknown): string {
    if (Array.isArray(value)) {
        return `a list (${JSON.stringify(value).slice(0, 60)})`;
    }
    return typeof value === "string" ? `the text ${JSON.stringify(value.slice(0, 60))}` : `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * A stack's config file flattened to the raw strings Pulumi hands a program; `secure:` values become a
 * placeholder. Refuses, naming the file, what `pulumi up` would refuse too: YAML that does not parse, a
 * file or a `config` that is not a mapping, keys not of the form `<namespace>:<key>`.
 */
export function readStackConfigFile(stack: string, root = PROJECT_ROOT): { config: Record<string, string>; secretKeys: string[] } {
    const file = path.join(root, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(file)) {
        const known = fs
            .readdirSync(root)
            .filter((f) => /^Pulumi\..+\.yaml$/.test(f))
            .map((f) => f.slice("Pulumi.".length, -".yaml".length));
        throw new Error(`No config file for stack '${stack}': ${file} does not exist (stacks with a config file: ${known.join(", ") || "none"})`);
    }
    const name = path.basename(file);
    let parsed: unknown;
    try {
        parsed = YAML.parse(fs.readFileSync(file, "utf8")) ?? {};
    } catch (error) {
        throw new Error(`${name} is not valid YAML: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new Error(`${name} must be a mapping with a 'config' key (and encryptionsalt, secretsprovider, ...); got ${describeYaml(parsed)}`);
    }
    const section = (parsed as { config?: unknown }).config ?? {};
    if (typeof section !== "object" || section === null || Array.isArray(section)) {
        throw new Error(
            `${name}: 'config' must be a mapping of '<namespace>:<key>' to values, e.g. '${projectName(root)}:maxWorkers: 4'; got ${describeYaml(section)}`,
        );
    }
    const badKeys = Object.keys(section).filter((key) => !/^[^:\s]+:[^:\s]+$/.test(key));
    if (badKeys.length > 0) {
        throw new Error(
            `${name}: config keys must be '<namespace>:<key>', as pulumi config set writes them (e.g. '${projectName(root)}:maxWorkers'); ` +
                `got ${badKeys.map((key) => `'${key}'`).join(", ")}`,
        );
    }
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    let hasSecret = false;
    const unwrap = (value: unknown): unknown => {
        if (value && typeof value === "object" && !Array.isArray(value)) {
            if ("secure" in value) {
                hasSecret = true;
                return "<secret>";
            }
            return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrap(v)]));
        }
        return Array.isArray(value) ? value.map(unwrap) : value;
    };
    for (const [key, value] of Object.entries(section)) {
        hasSecret = false;
        const plain = unwrap(value);
        config[key] = typeof plain === "string" ? plain : JSON.stringify(plain);
        if (hasSecret) {
            secretKeys.push(key);
        }
    }
    return { config, secretKeys };
}

export function projectName(root = PROJECT_ROOT): string {
    const project = YAML.parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as { name: string };
    return project.name;
}
