/**
 * The stack's configuration, read once into a typed, validated object. Every problem is reported
 * together, each naming the key, the value and what is expected, before any resource is declared.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { declaredConfigKeys, findUnknownConfigKeys } from "./configKeys";
import {
    environmentNames,
    EnvironmentNames,
    nameSegmentProblem,
    RESERVED_TAGS,
    slug,
    vaultNameProblem,
    VAULT_NAME_MAX_LENGTH,
    VAULT_SUFFIX_LENGTH,
} from "./naming";
import { accessModeProblems, DEFAULT_SPARK_VERSION, runtimeSupportNotice, sparkVersionProblem } from "./compute";
import { firstScheduleOverlap, quartzCronProblem } from "./quartz";
import { WORKER_NOTEBOOKS_DIR, workerNotebookFiles } from "./render";
import {
    asyncWorkerNotebooks,
    DEFAULT_WORK_ITEMS,
    discoverNotebooks,
    ForEachShape,
    forEachShape,
    isWorkItemsQuery,
    NotebookFile,
    parseWorkItems,
    RESERVED_NOTEBOOK_FOLDERS,
    WORK_ITEMS_QUERY_EXPECTED,
    WorkItem,
} from "./workItems";

/** Each notebook run holds one of the cluster's 145 execution contexts; the orchestrator holds one. */
export const EXECUTION_CONTEXT_LIMIT = 145;
export const MAX_WORKERS_HARD_LIMIT = EXECUTION_CONTEXT_LIMIT - 1;
/**
 * Inclusive ranges of the orchestration settings: the stack's config keys and the orchestrator components'
 * Args (components/orchestratorJobs.ts) are checked against the same.
 */
export const SETTING_RANGES = {
    notebookTimeoutSeconds: [0, 7 * 24 * 3600],
    maxRetries: [0, 10],
    retryBackoffSeconds: [0, 3600],
    historyRuns: [1, 100],
    jobTimeoutSeconds: [60, 7 * 24 * 3600],
} as const;
/** Longest idle time before the shared cluster terminates; policy/rules.ts enforces the same. */
export const MAX_AUTOTERMINATION_MINUTES = 120;

export type DeploymentMode = "development" | "production";
export type ComputeMode = "shared" | "perJob";

/**
 * Auth types of the Databricks provider (components/workspace.ts, databricksProviderAuth). The GitHub
 * workflows set github-oidc-azure for their run, so the provider mints its own tokens from GitHub's
 * OIDC token for as long as `pulumi up` takes; azure-cli suits a developer after `az login`.
 */
export const DATABRICKS_AUTH_TYPES = ["azure-cli", "azure-client-secret", "azure-msi", "github-oidc-azure", "env-oidc", "databricks-cli"] as const;
export type DatabricksAuthType = (typeof DATABRICKS_AUTH_TYPES)[number];

export type WorkspaceConfig =
    | {
          readonly create: false;
          readonly host: string;
          readonly resourceId: string;
          readonly resourceGroupName: string;
          readonly location: string;
      }
    | {
          readonly create: true;
          readonly location: string;
      };

export interface ComputeConfig {
    readonly mode: ComputeMode;
    /** Spark runtime key, pinned: a new LTS never changes the cluster unless the configuration does. */
    readonly sparkVersion: string;
    /** VM size; the smallest with local disk when undefined. */
    readonly nodeType?: string;
    readonly singleNode: boolean;
    readonly numWorkers: number;
    readonly autoscale?: { readonly minWorkers: number; readonly maxWorkers: number };
    readonly autoterminationMinutes: number;
    readonly dataSecurityMode: string;
    readonly tags: Readonly<Record<string, string>>;
}

export interface DataConfig {
    readonly catalog: string;
    readonly schema: string;
    readonly inputTable: string;
    readonly runLogTable: string;
    readonly sampleData: boolean;
    readonly sampleRows: number;
}

export interface OrchestrationConfig {
    readonly maxWorkers: number;
    readonly maxWorkersLimit: number;
    readonly notebookTimeoutSeconds: number;
    readonly maxRetries: number;
    readonly retryBackoffSeconds: number;
    /** How many recent successful runs of each item the run-log median is taken over. */
    readonly historyRuns: number;
}

/** What the orchestrators fan out, and the notebooks items may name. */
export interface WorkItemsConfig {
    /** The stack's items (default: the four ETL workers), estimates from workerExpectedSeconds merged in. */
    readonly items: readonly WorkItem[];
    /** SQL over a control table whose rows are the items, run when an orchestrator starts (workItemsQuery). */
    readonly query?: string;
    /** Every notebook source under notebooks/workers/: the ETL workers and any a team adds there. */
    readonly workerNotebooks: readonly NotebookFile[];
    /** The notebooks of the folder notebookSourceFolder names, uploaded at their path relative to it. */
    readonly teamNotebooks: readonly NotebookFile[];
    /** Relative notebook paths an item may name: the two lists above. */
    readonly knownNotebooks: readonly string[];
}

export interface ScheduleConfig {
    readonly quartzCronExpression: string;
    readonly timezoneId: string;
    readonly pauseStatus: "PAUSED" | "UNPAUSED";
}

export interface JobsConfig {
    readonly sequentialSchedule: ScheduleConfig;
    readonly parallelSchedule: ScheduleConfig;
    /** The third, optional job: a For each task over the items (Databricks-native fan-out); undefined when forEachJob is false. */
    readonly forEach?: { readonly schedule: ScheduleConfig; readonly shape: Exclude<ForEachShape, { kind: "unsupported" }> };
    readonly timeoutSeconds: number;
    readonly notificationEmails: readonly string[];
}

export type ApiTokenSource = "context" | "secretScope";

/** The asynchronous fan-out: a state table, one worker job per notebook among the work items (`async-<key>`), a dispatcher and its safety net (off by default). */
export interface AsyncFanOutConfig {
    readonly enabled: boolean;
    /** State table name inside the stack's schema. */
    readonly stateTable: string;
    /** The dispatcher's lease table, beside the state table: `<stateTable>_lease`. */
    readonly leaseTable: string;
    /** Start the dispatcher when the state table or the run log changes (a table update trigger). */
    readonly tableTrigger: boolean;
    /** The safety-net schedule that runs the dispatcher even when no table changed. */
    readonly dispatcherSchedule: ScheduleConfig;
    /** Most worker-job runs active at once, whoever started them. */
    readonly concurrencyCap: number;
    /** Submissions per entry before it stays FAILED or TIMED_OUT. */
    readonly maxAttempts: number;
    /** Time from an entry's submission after which its run is cancelled and the entry TIMED_OUT. */
    readonly entryDeadlineSeconds: number;
    /** Where the dispatcher's Jobs API token comes from: the notebook's context or the secret scope. */
    readonly apiTokenSource: ApiTokenSource;
    /** Key Vault secret holding the token when apiTokenSource is secretScope. */
    readonly apiTokenSecret: string;
}

/** The workspace's limit of concurrently running task runs (429 beyond it). */
export const WORKSPACE_CONCURRENT_RUN_LIMIT = 1000;
export const ASYNC_CAP_LIMIT_PER_JOB = 900;

/** Who holds the shared cluster's execution contexts when everything runs at once (each notebook run holds one). */
export interface SharedClusterContexts {
    /** The dispatcher job's run: its setup task, then its dispatch task. */
    readonly dispatcher: number;
    /** The sequential orchestrator and the one worker it runs at a time. */
    readonly sequential: number;
    /** The parallel orchestrator and up to maxWorkersLimit workers (its max_workers parameter is clamped to that). */
    readonly parallel: number;
    /** The fan-out's worker runs: one context each, the worker notebook being the job's task. */
    readonly fanOut: number;
    readonly total: number;
    readonly limit: number;
}

export function sharedClusterContexts(maxWorkersLimit: number, concurrencyCap: number): SharedClusterContexts {
    const reserved = { dispatcher: 1, sequential: 2, parallel: 1 + maxWorkersLimit };
    const total = reserved.dispatcher + reserved.sequential + reserved.parallel + concurrencyCap;
    return { ...reserved, fanOut: concurrencyCap, total, limit: EXECUTION_CONTEXT_LIMIT };
}

/** The largest asyncConcurrencyCap that fits the shared cluster beside the dispatcher and both orchestrators. */
export function largestSharedClusterCap(maxWorkersLimit: number): number {
    return EXECUTION_CONTEXT_LIMIT - sharedClusterContexts(maxWorkersLimit, 0).total;
}

export interface KeyVaultSecretConfig {
    readonly name: string;
    readonly value: pulumi.Output<string>;
}

/**
 * Who may reach the vault's data plane (https://<vault>.vault.azure.net). The firewall denies every
 * network by default and lets trusted Microsoft services through, which the Key Vault-backed scope
 * needs; ARM writes of secrets (the stack's own) do not pass the firewall at all.
 */
export interface KeyVaultNetworkConfig {
    /** Open to all networks, firewall off: only on explicit request, never in production. */
    readonly publicNetworkAccess: boolean;
    /** Public IPv4 addresses or CIDR ranges allowed through the firewall, e.g. the deployer's runners. */
    readonly allowedIpRanges: readonly string[];
    /** Subnet resource ids (with the Microsoft.KeyVault service endpoint) allowed through the firewall. */
    readonly allowedSubnetIds: readonly string[];
}

export interface SecretsConfig {
    readonly databricksServicePrincipalObjectId: string;
    readonly softDeleteRetentionDays: number;
    readonly purgeProtection: boolean;
    readonly secrets: readonly KeyVaultSecretConfig[];
    readonly network: KeyVaultNetworkConfig;
    /** Log Analytics workspace that receives the vault's audit logs, when set. */
    readonly logAnalyticsWorkspaceId?: string;
}

export interface StackConfig {
    readonly names: EnvironmentNames;
    readonly mode: DeploymentMode;
    readonly workspace: WorkspaceConfig;
    readonly databricksAuthType: DatabricksAuthType;
    readonly compute: ComputeConfig;
    readonly data: DataConfig;
    readonly orchestration: OrchestrationConfig;
    readonly workItems: WorkItemsConfig;
    readonly jobs: JobsConfig;
    readonly secrets: SecretsConfig;
    readonly asyncFanOut: AsyncFanOutConfig;
    /** The SQL warehouse that runs the run-log dashboard's queries; no dashboard when undefined. */
    readonly sqlWarehouseId: string | undefined;
    /** Warnings that do not stop the deployment (config keys nothing here reads); `pulumi up` shows them under Diagnostics. */
    readonly notices: readonly string[];
}

/** Where raw configuration strings come from: Pulumi's config in a program, a plain map in tests. */
export interface ConfigSource {
    readonly project: string;
    readonly stack: string;
    get(key: string): string | undefined;
    isSecret(key: string): boolean;
    /**
     * Every key the stack sets, `<namespace>:<key>`, with its value (secret values masked), and the project
     * keys Pulumi.yaml declares. When given, keys nothing reads are reported (components/configKeys.ts).
     */
    readonly keys?: { readonly set: Readonly<Record<string, string>>; readonly declared: readonly string[] };
}

export interface ConfigProblem {
    readonly key: string;
    readonly value: string | undefined;
    readonly expected: string;
}

export class StackConfigError extends Error {
    constructor(
        readonly stack: string,
        readonly problems: readonly ConfigProblem[],
    ) {
        super(
            `Invalid configuration for stack '${stack}' (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
                problems.map((p) => `  - ${p.key}: ${p.value === undefined ? "not set" : `got ${JSON.stringify(p.value)}`}; expected ${p.expected}`).join("\n"),
        );
        this.name = "StackConfigError";
    }
}

/** Defaults of the keys Pulumi.yaml declares; a test keeps the two in step. */
export const CONFIG_DEFAULTS = {
    mode: "development",
    createWorkspace: false,
    location: "westeurope",
    databricksAuthType: "azure-cli",
    workspaceRoot: "/Shared/notebook-orchestration",
    computeMode: "shared",
    sparkVersion: DEFAULT_SPARK_VERSION,
    singleNode: false,
    numWorkers: 2,
    autoterminationMinutes: 30,
    dataSecurityMode: "USER_ISOLATION",
    catalog: "main",
    inputTable: "orders",
    runLogTable: "etl_run_log",
    sampleData: true,
    sampleRows: 20000,
    maxWorkers: 4,
    maxWorkersLimit: 16,
    notebookTimeoutSeconds: 3600,
    maxRetries: 1,
    retryBackoffSeconds: 30,
    historyRuns: 5,
    sequentialSchedule: "0 0 2 * * ?",
    parallelSchedule: "0 0 4 * * ?",
    forEachJob: false,
    forEachSchedule: "0 0 6 * * ?",
    scheduleTimezone: "UTC",
    jobTimeoutSeconds: 7200,
    vaultNamePrefix: "kv-nbo",
    keyVaultPublicNetworkAccess: false,
    asyncFanOut: false,
    asyncStateTable: "etl_work_queue",
    asyncDispatchIntervalMinutes: 5,
    asyncTableTrigger: false,
    asyncConcurrencyCap: 50,
    asyncMaxAttempts: 3,
    asyncEntryDeadlineMinutes: 180,
    asyncApiTokenSource: "context",
    asyncApiTokenSecret: "databricks-jobs-token",
} as const;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const KEY_VAULT_SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const TABLE_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const WORKSPACE_RESOURCE_ID = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Databricks\/workspaces\/[^/]+$/i;
const OBJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SUBNET_ID = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Network\/virtualNetworks\/[^/]+\/subnets\/[^/]+$/i;
/** A SQL warehouse id as the SQL Warehouses API returns it (e.g. 47bb1c472649e711). */
const SQL_WAREHOUSE_ID = /^[0-9a-f]{16}$/;
const LOG_ANALYTICS_WORKSPACE_ID = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.OperationalInsights\/workspaces\/[^/]+$/i;

/**
 * The widest range a Key Vault firewall rule may allow: a /16 (65,536 addresses). Wider ones come
 * close to opening the vault to all networks; policy/rules.ts enforces the same bound.
 */
export const MIN_KEY_VAULT_IP_PREFIX_LENGTH = 16;

/** Private ranges (RFC 1918), which Key Vault refuses in IP rules: reach the vault from a VNet with a subnet rule instead. */
const PRIVATE_IPV4_RANGES: readonly (readonly [number, number])[] = [
    [0x0a000000, 8],
    [0xac100000, 12],
    [0xc0a80000, 16],
];

/**
 * Why `value` is not a usable Key Vault IP rule, or undefined: a public IPv4 address (`203.0.113.7`)
 * or CIDR range (`203.0.113.0/24`) no wider than MIN_KEY_VAULT_IP_PREFIX_LENGTH, with no host bits set.
 */
export function keyVaultIpRuleProblem(value: string): string | undefined {
    const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(value);
    const octets = match ? match.slice(1, 5).map(Number) : [];
    if (!match || octets.some((octet, index) => octet > 255 || (match[index + 1].length > 1 && match[index + 1].startsWith("0")))) {
        return "is not an IPv4 address or CIDR range";
    }
    const prefix = match[5] === undefined ? 32 : Number(match[5]);
    if (prefix > 32) {
        return `has prefix length /${prefix} (at most /32)`;
    }
    if (prefix < MIN_KEY_VAULT_IP_PREFIX_LENGTH) {
        return `allows ${2 ** (32 - prefix)} addresses; at most a /${MIN_KEY_VAULT_IP_PREFIX_LENGTH} is allowed (opening the vault to everyone is keyVaultPublicNetworkAccess)`;
    }
    const address = octets.reduce((sum, octet) => sum * 256 + octet, 0);
    const size = 2 ** (32 - prefix);
    if (address % size !== 0) {
        const network = address - (address % size);
        return `has host bits set (the range starts at ${[24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join(".")}/${prefix})`;
    }
    if (PRIVATE_IPV4_RANGES.some(([start, bits]) => Math.floor(address / 2 ** (32 - bits)) === Math.floor(start / 2 ** (32 - bits)))) {
        return "is a private (RFC 1918) range, which Key Vault does not accept in IP rules; allow the subnet with keyVaultAllowedSubnetIds";
    }
    return undefined;
}

/** Reads raw strings and records every problem; parsing goes on so that all problems are reported at once. */
class Reader {
    readonly problems: ConfigProblem[] = [];

    constructor(private readonly source: ConfigSource) {}

    fullKey(key: string): string {
        return `${this.source.project}:${key}`;
    }

    /** Keys set to an empty value, which counts as not set; reported as notices so the fallback is visible. */
    readonly emptyKeys = new Set<string>();

    raw(key: string): string | undefined {
        const value = this.source.get(key);
        if (value === "") {
            this.emptyKeys.add(key);
        }
        return value === undefined || value === "" ? undefined : value;
    }

    problem(key: string, expected: string, value: string | undefined = this.raw(key)): void {
        this.problems.push({ key: this.fullKey(key), value, expected });
    }

    string(key: string, fallback: string): string {
        return this.raw(key) ?? fallback;
    }

    optionalString(key: string): string | undefined {
        return this.raw(key);
    }

    requiredString(key: string, expected: string, pattern?: RegExp): string {
        const value = this.raw(key);
        if (value === undefined || (pattern && !pattern.test(value))) {
            this.problem(key, expected);
            return "";
        }
        return value;
    }

    oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
        const value = this.raw(key) ?? fallback;
        if (!(allowed as readonly string[]).includes(value)) {
            this.problem(key, `one of ${allowed.map((a) => `'${a}'`).join(", ")}`);
            return fallback;
        }
        return value as T;
    }

    boolean(key: string, fallback: boolean): boolean {
        const value = this.raw(key);
        if (value === undefined) {
            return fallback;
        }
        if (value !== "true" && value !== "false") {
            this.problem(key, "true or false");
            return fallback;
        }
        return value === "true";
    }

    optionalInteger(key: string, min: number, max: number, why = ""): number | undefined {
        const value = this.raw(key);
        if (value === undefined) {
            return undefined;
        }
        const parsed = /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
        if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
            this.problem(key, `an integer from ${min} to ${max}${why}`);
            return undefined;
        }
        return parsed;
    }

    integer(key: string, fallback: number, min: number, max: number, why = ""): number {
        return this.optionalInteger(key, min, max, why) ?? fallback;
    }

    json<T>(key: string, expected: string, check: (value: unknown) => value is T): T | undefined {
        const value = this.raw(key);
        if (value === undefined) {
            return undefined;
        }
        let parsed: unknown;
        try {
            parsed = JSON.parse(value);
        } catch {
            this.problem(key, expected);
            return undefined;
        }
        if (!check(parsed)) {
            this.problem(key, expected);
            return undefined;
        }
        return parsed;
    }
}

function isStringArray(value: unknown): value is string[] {
    return Array.isArray(value) && value.every((v) => typeof v === "string");
}

function isRecordOf<T>(itemCheck: (v: unknown) => v is T) {
    return (value: unknown): value is Record<string, T> =>
        typeof value === "object" && value !== null && !Array.isArray(value) && Object.values(value).every(itemCheck);
}

const isString = (v: unknown): v is string => typeof v === "string";
const isNonNegativeNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

function readWorkspace(r: Reader, create: boolean, location: string): WorkspaceConfig {
    if (create) {
        return { create: true, location };
    }
    const needed = "(required unless createWorkspace is true)";
    return {
        create: false,
        location,
        host: r
            .requiredString("databricksHost", `the workspace URL, e.g. https://adb-1234567890123456.7.azuredatabricks.net ${needed}`, /^https:\/\/[^/\s]+\/?$/)
            .replace(/\/$/, ""),
        resourceId: r.requiredString(
            "databricksWorkspaceResourceId",
            `the workspace's Azure resource id, /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Databricks/workspaces/<name> ${needed}`,
            WORKSPACE_RESOURCE_ID,
        ),
        resourceGroupName: r.requiredString("resourceGroupName", `the resource group the Key Vault goes into ${needed}`),
    };
}

function readCompute(r: Reader, tags: Readonly<Record<string, string>>, catalog: string): ComputeConfig {
    const singleNode = r.boolean("singleNode", CONFIG_DEFAULTS.singleNode);
    const sparkVersion = r.string("sparkVersion", CONFIG_DEFAULTS.sparkVersion);
    const versionProblem = sparkVersionProblem(sparkVersion);
    if (versionProblem) {
        r.problem("sparkVersion", versionProblem, sparkVersion);
    }
    const minWorkers = r.optionalInteger("autoscaleMinWorkers", 1, 1000);
    const maxWorkers = r.optionalInteger("autoscaleMaxWorkers", 1, 1000);
    let autoscale: ComputeConfig["autoscale"];
    if ((minWorkers === undefined) !== (maxWorkers === undefined)) {
        r.problem(minWorkers === undefined ? "autoscaleMinWorkers" : "autoscaleMaxWorkers", "autoscaleMinWorkers and autoscaleMaxWorkers to be set together");
    } else if (minWorkers !== undefined && maxWorkers !== undefined) {
        if (minWorkers > maxWorkers) {
            r.problem("autoscaleMaxWorkers", `a value at least autoscaleMinWorkers (${minWorkers})`);
        } else if (singleNode) {
            r.problem("singleNode", "false when autoscaling is configured (a single-node cluster has no workers)");
        } else {
            autoscale = { minWorkers, maxWorkers };
        }
    }
    const autoterminationMinutes = r.integer(
        "autoterminationMinutes",
        CONFIG_DEFAULTS.autoterminationMinutes,
        10,
        MAX_AUTOTERMINATION_MINUTES,
        " (an idle shared cluster costs money; the policy pack enforces the same bound)",
    );
    const mode = r.oneOf<ComputeMode>("computeMode", ["shared", "perJob"], CONFIG_DEFAULTS.computeMode);
    const dataSecurityMode = r.oneOf("dataSecurityMode", ["USER_ISOLATION", "SINGLE_USER", "NONE"], CONFIG_DEFAULTS.dataSecurityMode);
    for (const [key, expected] of accessModeProblems({ mode, dataSecurityMode, sparkVersion, catalog })) {
        r.problem(key, expected);
    }
    return {
        mode,
        sparkVersion,
        nodeType: r.optionalString("nodeType"),
        singleNode,
        numWorkers: singleNode ? 0 : r.integer("numWorkers", CONFIG_DEFAULTS.numWorkers, 1, 1000),
        autoscale,
        autoterminationMinutes,
        dataSecurityMode,
        tags,
    };
}

function readOrchestration(r: Reader): OrchestrationConfig {
    const maxWorkersLimit = r.integer(
        "maxWorkersLimit",
        CONFIG_DEFAULTS.maxWorkersLimit,
        1,
        MAX_WORKERS_HARD_LIMIT,
        ` (a cluster has ${EXECUTION_CONTEXT_LIMIT} execution contexts and the orchestrator holds one)`,
    );
    const maxWorkers = r.integer(
        "maxWorkers",
        CONFIG_DEFAULTS.maxWorkers,
        1,
        maxWorkersLimit,
        ` (maxWorkersLimit: every in-flight notebook holds an execution context and driver memory; raise maxWorkersLimit, at most ${MAX_WORKERS_HARD_LIMIT}, only for a larger driver)`,
    );
    return {
        maxWorkers,
        maxWorkersLimit,
        notebookTimeoutSeconds: r.integer(
            "notebookTimeoutSeconds",
            CONFIG_DEFAULTS.notebookTimeoutSeconds,
            ...SETTING_RANGES.notebookTimeoutSeconds,
            " (0 means no timeout)",
        ),
        maxRetries: r.integer("maxRetries", CONFIG_DEFAULTS.maxRetries, ...SETTING_RANGES.maxRetries),
        retryBackoffSeconds: r.integer("retryBackoffSeconds", CONFIG_DEFAULTS.retryBackoffSeconds, ...SETTING_RANGES.retryBackoffSeconds),
        historyRuns: r.integer("historyRuns", CONFIG_DEFAULTS.historyRuns, ...SETTING_RANGES.historyRuns),
    };
}

/** The project directory (Pulumi.yaml's), which a relative notebookSourceFolder is resolved against. */
export const PROJECT_DIR = path.join(__dirname, "..");

/** The team's own notebooks: every notebook source under notebookSourceFolder, at its path relative to it. */
function readTeamNotebooks(r: Reader, workerNotebooks: readonly NotebookFile[]): { notebooks: NotebookFile[]; skipped: string[] } {
    const folder = r.optionalString("notebookSourceFolder");
    if (folder === undefined) {
        return { notebooks: [], skipped: [] };
    }
    const dir = path.resolve(PROJECT_DIR, folder);
    const expected =
        "a folder (relative to the project directory, or absolute) holding Databricks notebook sources (*.py starting with '# Databricks notebook source')";
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
        r.problem("notebookSourceFolder", `${expected}; ${dir} ${fs.existsSync(dir) ? "is not a folder" : "does not exist"}`);
        return { notebooks: [], skipped: [] };
    }
    if (path.relative(WORKER_NOTEBOOKS_DIR, dir) === "") {
        return { notebooks: [], skipped: [] };
    }
    const found = discoverNotebooks(dir, "");
    if (found.notebooks.length === 0) {
        r.problem("notebookSourceFolder", `${expected}; ${dir} has none`);
    }
    const workerPaths = new Set(workerNotebooks.map((n) => n.relativePath));
    for (const notebook of found.notebooks) {
        const top = notebook.relativePath.split("/")[0];
        if ((RESERVED_NOTEBOOK_FOLDERS as readonly string[]).includes(top)) {
            r.problem(
                "notebookSourceFolder",
                `no notebook at ${RESERVED_NOTEBOOK_FOLDERS.map((f) => `'${f}'`).join(", ")} (the stack's own notebooks are uploaded there): ` +
                    `${notebook.file} would be uploaded as '${notebook.relativePath}'; move it into a subfolder`,
            );
        } else if (workerPaths.has(notebook.relativePath)) {
            r.problem(
                "notebookSourceFolder",
                `notebooks whose paths differ from those under notebooks/workers/: ${notebook.file} would be uploaded as '${notebook.relativePath}', which notebooks/workers/ already has`,
            );
        }
    }
    return found;
}

/**
 * The items the orchestrators run: `workItems` (default the four ETL workers), checked against the
 * notebooks that are uploaded, with `workerExpectedSeconds` (keyed by item name) merged in.
 */
function readWorkItems(r: Reader, folder: string): WorkItemsConfig & { skipped: string[]; notices: string[] } {
    const notices: string[] = [];
    const workerNotebooks = workerNotebookFiles();
    const team = readTeamNotebooks(r, workerNotebooks);
    const knownNotebooks = [...workerNotebooks, ...team.notebooks].map((n) => n.relativePath);
    const raw = r.raw("workItems");
    let items: readonly WorkItem[] = DEFAULT_WORK_ITEMS;
    if (raw !== undefined) {
        let parsed: unknown;
        let problems: string[];
        try {
            parsed = JSON.parse(raw);
            const result = parseWorkItems(parsed, { knownNotebooks, folder });
            problems = result.problems;
            items = result.items;
        } catch (error) {
            problems = [`JSON (${(error as Error).message})`];
        }
        if (problems.length > 0) {
            // A long list is not echoed whole: each problem names its item.
            const shown = raw.length > 200 ? `${raw.slice(0, 200)}... (${raw.length} characters)` : raw;
            r.problem(
                "workItems",
                `a JSON array of work items ({"notebook", "arguments", "name", "expected_seconds"}; see docs/work-items.md):\n      ${problems.join("\n      ")}`,
                shown,
            );
            items = DEFAULT_WORK_ITEMS;
        }
    }
    const names = items.map((item) => item.name);
    const expected =
        r.json("workerExpectedSeconds", `a JSON object of item name to seconds (>= 0), items: ${names.join(", ")}`, isRecordOf(isNonNegativeNumber)) ?? {};
    // Estimates of the shipped ETL workers outlive a switch to other items (Pulumi.dev.yaml has them, and
    // stacks copy it): those are ignored with a notice; any other unknown name is a mistake.
    const etlNames = DEFAULT_WORK_ITEMS.map((item) => item.name);
    const notItems = Object.keys(expected).filter((name) => !names.includes(name));
    const ignored = notItems.filter((name) => etlNames.includes(name));
    const unknown = notItems.filter((name) => !etlNames.includes(name));
    const twice = items.filter((item) => item.expectedSeconds !== undefined && expected[item.name] !== undefined).map((item) => item.name);
    if (ignored.length > 0) {
        notices.push(
            `workerExpectedSeconds has estimates for ${ignored.join(", ")}, which are not among the work items: they are ignored ` +
                `(pulumi config rm --path 'workerExpectedSeconds.${ignored[0]}' removes one)`,
        );
    }
    if (unknown.length > 0) {
        r.problem("workerExpectedSeconds", `item names among ${names.join(", ")} (unknown: ${unknown.join(", ")})`);
    } else if (twice.length > 0) {
        r.problem("workerExpectedSeconds", `no estimate for items whose workItems entry has expected_seconds (both set for: ${twice.join(", ")})`);
    } else {
        items = items.map((item) => (expected[item.name] !== undefined ? { ...item, expectedSeconds: expected[item.name] } : item));
    }
    const query = r.optionalString("workItemsQuery");
    if (query !== undefined && !isWorkItemsQuery(query)) {
        r.problem("workItemsQuery", WORK_ITEMS_QUERY_EXPECTED);
    }
    return {
        items,
        ...(query !== undefined ? { query: query.trim() } : {}),
        workerNotebooks,
        teamNotebooks: team.notebooks,
        knownNotebooks,
        skipped: team.skipped,
        notices,
    };
}

function readSchedule(r: Reader, key: string, fallback: string, timezoneId: string, paused: boolean): ScheduleConfig {
    const expression = r.string(key, fallback);
    const problem = quartzCronProblem(expression);
    if (problem) {
        r.problem(key, `a Quartz cron expression (${problem})`);
    }
    return { quartzCronExpression: expression, timezoneId, pauseStatus: paused ? "PAUSED" : "UNPAUSED" };
}

/** Years of fire times compared for overlaps: leap years, weekday/date combinations and DST switches included. */
const SCHEDULE_CHECK_YEARS = 4;

/**
 * On the shared cluster the two jobs must never run at once (each run of one may last jobTimeoutSeconds):
 * every fire time of one schedule must be at least that far from every fire time of the other, over the
 * next SCHEDULE_CHECK_YEARS calendar years in the schedules' time zone. The asynchronous dispatcher is
 * left out: it runs every few minutes by design and holds one execution context for seconds.
 */
function checkSchedulesApart(r: Reader, firstKey: string, first: ScheduleConfig, secondKey: string, second: ScheduleConfig, timeoutSeconds: number): void {
    const year = new Date().getUTCFullYear();
    const overlap = firstScheduleOverlap(
        { expression: first.quartzCronExpression, timeZone: first.timezoneId },
        { expression: second.quartzCronExpression, timeZone: second.timezoneId },
        timeoutSeconds,
        Date.UTC(year, 0, 1),
        Date.UTC(year + SCHEDULE_CHECK_YEARS, 0, 1),
    );
    if (overlap) {
        const local = (instant: number) =>
            new Intl.DateTimeFormat("sv-SE", { timeZone: second.timezoneId, dateStyle: "short", timeStyle: "short" }).format(instant);
        const minutes = Math.round((overlap.second - overlap.first) / 60_000);
        r.problem(
            secondKey,
            `fire times at least jobTimeoutSeconds (${timeoutSeconds} s) away from every fire time of ${firstKey} ` +
                `(${JSON.stringify(first.quartzCronExpression)}), so that the two jobs never share the cluster; ` +
                `runs could start at ${local(overlap.first)} and ${local(overlap.second)} (${second.timezoneId}), ${minutes} minutes apart`,
            second.quartzCronExpression,
        );
    }
}

/** A For each task's largest `concurrency` (Jobs API: "maximum allowed is 100"). */
export const FOR_EACH_CONCURRENCY_LIMIT = 100;

function readJobs(
    r: Reader,
    production: boolean,
    notebookTimeoutSeconds: number,
    maxWorkers: number,
    computeMode: ComputeMode,
    workItems: WorkItemsConfig,
): JobsConfig {
    const timezoneId = r.string("scheduleTimezone", CONFIG_DEFAULTS.scheduleTimezone);
    if (!isKnownTimezone(timezoneId)) {
        r.problem("scheduleTimezone", "a Java/IANA time zone id such as UTC or Europe/Amsterdam");
    }
    // Like Databricks Asset Bundles' development mode: schedules only fire in production unless asked.
    const paused = r.boolean("schedulePaused", !production);
    const timeoutSeconds = r.integer("jobTimeoutSeconds", CONFIG_DEFAULTS.jobTimeoutSeconds, ...SETTING_RANGES.jobTimeoutSeconds);
    if (notebookTimeoutSeconds > timeoutSeconds) {
        r.problem(
            "notebookTimeoutSeconds",
            `at most jobTimeoutSeconds (${timeoutSeconds}), or the job times out before its notebooks`,
            String(notebookTimeoutSeconds),
        );
    }
    const emailsExpected = "a JSON array of at least one e-mail address, told when a job run fails or runs long (the policy pack requires it)";
    const emails = r.json("notificationEmails", emailsExpected, isStringArray) ?? [];
    const invalid = emails.filter((e) => !EMAIL.test(e));
    if (invalid.length > 0) {
        r.problem("notificationEmails", `e-mail addresses (invalid: ${invalid.join(", ")})`);
    } else if (emails.length === 0 && !r.problems.some((p) => p.key.endsWith(":notificationEmails"))) {
        r.problem("notificationEmails", emailsExpected);
    }
    const sequentialSchedule = readSchedule(r, "sequentialSchedule", CONFIG_DEFAULTS.sequentialSchedule, timezoneId, paused);
    const parallelSchedule = readSchedule(r, "parallelSchedule", CONFIG_DEFAULTS.parallelSchedule, timezoneId, paused);
    const forEachEnabled = r.boolean("forEachJob", CONFIG_DEFAULTS.forEachJob);
    const forEachShapeOrProblem = forEachShape(workItems.items);
    const schedules: [string, ScheduleConfig][] = [
        ["sequentialSchedule", sequentialSchedule],
        ["parallelSchedule", parallelSchedule],
    ];
    if (forEachEnabled) {
        schedules.push(["forEachSchedule", readSchedule(r, "forEachSchedule", CONFIG_DEFAULTS.forEachSchedule, timezoneId, paused)]);
        if (workItems.query !== undefined) {
            r.problem(
                "forEachJob",
                "false when workItemsQuery is set (a For each task's inputs are fixed when the job is deployed; the sequential and parallel jobs run the query's items)",
                "true",
            );
        }
        if (forEachShapeOrProblem.kind === "unsupported") {
            r.problem("forEachJob", `false for these workItems: ${forEachShapeOrProblem.reason}`, "true");
        }
        if (maxWorkers > FOR_EACH_CONCURRENCY_LIMIT) {
            r.problem(
                "maxWorkers",
                `at most ${FOR_EACH_CONCURRENCY_LIMIT} when forEachJob is true (a For each task runs at most ${FOR_EACH_CONCURRENCY_LIMIT} iterations at a time)`,
                String(maxWorkers),
            );
        }
    }
    const schedulesValid = [...schedules.map(([key]) => key), "scheduleTimezone"].every((key) => !r.problems.some((p) => p.key === r.fullKey(key)));
    if (computeMode === "shared" && schedulesValid) {
        // Every pair: on the shared cluster no two jobs may run at once.
        for (let second = 1; second < schedules.length; second++) {
            for (let first = 0; first < second; first++) {
                checkSchedulesApart(r, schedules[first][0], schedules[first][1], schedules[second][0], schedules[second][1], timeoutSeconds);
            }
        }
    }
    return {
        sequentialSchedule,
        parallelSchedule,
        ...(forEachEnabled && forEachShapeOrProblem.kind !== "unsupported" ? { forEach: { schedule: schedules[2][1], shape: forEachShapeOrProblem } } : {}),
        timeoutSeconds,
        notificationEmails: emails,
    };
}

function isKnownTimezone(zone: string): boolean {
    try {
        new Intl.DateTimeFormat("en", { timeZone: zone });
        return true;
    } catch {
        return false;
    }
}

function readSecrets(r: Reader, source: ConfigSource, production: boolean): SecretsConfig {
    const key = "keyVaultSecrets";
    const values = r.json(key, "a JSON object of Key Vault secret name to string value", isRecordOf(isString)) ?? {};
    if (Object.keys(values).length > 0 && !source.isSecret(key)) {
        // Report the problem without echoing the plain-text values.
        r.problem(key, "a secret: set it with `pulumi config set --secret --path 'keyVaultSecrets.<name>' <value>`", "<plain text>");
    }
    const badNames = Object.keys(values).filter((name) => !KEY_VAULT_SECRET_NAME.test(name));
    if (badNames.length > 0) {
        r.problem(key, `secret names of 1-127 letters, digits and hyphens (invalid: ${badNames.join(", ")})`, "<secret>");
    }
    const purgeProtection = r.boolean("keyVaultPurgeProtection", production);
    const logAnalyticsWorkspaceId = r.optionalString("keyVaultLogAnalyticsWorkspaceId");
    if (logAnalyticsWorkspaceId !== undefined && !LOG_ANALYTICS_WORKSPACE_ID.test(logAnalyticsWorkspaceId)) {
        r.problem(
            "keyVaultLogAnalyticsWorkspaceId",
            "a Log Analytics workspace resource id, /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>",
        );
    }
    return {
        databricksServicePrincipalObjectId: r.requiredString(
            "databricksServicePrincipalObjectId",
            "the object id (a GUID) of the AzureDatabricks application's service principal in your tenant: " +
                "az ad sp show --id 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d --query id -o tsv",
            OBJECT_ID,
        ),
        softDeleteRetentionDays: r.integer("keyVaultSoftDeleteRetentionDays", production ? 90 : 7, 7, 90),
        purgeProtection,
        secrets: Object.entries(values).map(([name, value]) => ({ name, value: pulumi.secret(value) })),
        network: readKeyVaultNetwork(r, production),
        logAnalyticsWorkspaceId,
    };
}

function readKeyVaultNetwork(r: Reader, production: boolean): KeyVaultNetworkConfig {
    const publicNetworkAccess = r.boolean("keyVaultPublicNetworkAccess", CONFIG_DEFAULTS.keyVaultPublicNetworkAccess);
    if (publicNetworkAccess && production) {
        r.problem(
            "keyVaultPublicNetworkAccess",
            "false in production: a production vault is never open to all networks (the policy pack enforces it); allow-list networks with keyVaultAllowedIpRanges or keyVaultAllowedSubnetIds",
        );
    }
    const rangesExpected = 'a JSON array of public IPv4 addresses or CIDR ranges, e.g. ["203.0.113.7", "198.51.100.0/28"]';
    const allowedIpRanges = r.json("keyVaultAllowedIpRanges", rangesExpected, isStringArray) ?? [];
    const badRanges = allowedIpRanges.flatMap((range) => {
        const problem = keyVaultIpRuleProblem(range);
        return problem ? [`'${range}' ${problem}`] : [];
    });
    if (badRanges.length > 0) {
        r.problem("keyVaultAllowedIpRanges", `${rangesExpected} (${badRanges.join("; ")})`);
    }
    const subnetsExpected =
        "a JSON array of subnet resource ids, /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>";
    const allowedSubnetIds = r.json("keyVaultAllowedSubnetIds", subnetsExpected, isStringArray) ?? [];
    const badSubnets = allowedSubnetIds.filter((id) => !SUBNET_ID.test(id));
    if (badSubnets.length > 0) {
        r.problem("keyVaultAllowedSubnetIds", `${subnetsExpected} (invalid: ${badSubnets.join(", ")})`);
    }
    if (publicNetworkAccess && allowedIpRanges.length + allowedSubnetIds.length > 0) {
        r.problem(
            "keyVaultPublicNetworkAccess",
            "false when keyVaultAllowedIpRanges or keyVaultAllowedSubnetIds is set: an allow-list has no effect on a vault open to all networks",
        );
    }
    return { publicNetworkAccess, allowedIpRanges, allowedSubnetIds };
}

function readAsyncFanOut(
    r: Reader,
    computeMode: ComputeMode,
    maxWorkersLimit: number,
    catalog: string,
    timezoneId: string,
    paused: boolean,
): AsyncFanOutConfig {
    const interval = r.integer(
        "asyncDispatchIntervalMinutes",
        CONFIG_DEFAULTS.asyncDispatchIntervalMinutes,
        1,
        59,
        " (the safety-net schedule of the dispatcher, beside its table update trigger)",
    );
    const largest = largestSharedClusterCap(maxWorkersLimit);
    const [capLimit, capWhy] =
        computeMode === "shared"
            ? [
                  largest,
                  ` (the worker jobs run on the shared cluster, whose ${EXECUTION_CONTEXT_LIMIT} execution contexts also hold the dispatcher's run (1), ` +
                      `the sequential orchestrator (2) and the parallel one at maxWorkersLimit ${maxWorkersLimit} (${1 + maxWorkersLimit}); ` +
                      `lower maxWorkersLimit or use computeMode perJob for more)`,
              ]
            : [ASYNC_CAP_LIMIT_PER_JOB, ` (well below the workspace's ${WORKSPACE_CONCURRENT_RUN_LIMIT} concurrent task runs, leaving room for other jobs)`];
    const stateTable = r.string("asyncStateTable", CONFIG_DEFAULTS.asyncStateTable);
    if (!TABLE_NAME.test(stateTable)) {
        r.problem("asyncStateTable", "letters, digits and underscores, not starting with a digit");
    }
    const apiTokenSecret = r.string("asyncApiTokenSecret", CONFIG_DEFAULTS.asyncApiTokenSecret);
    if (!KEY_VAULT_SECRET_NAME.test(apiTokenSecret)) {
        r.problem("asyncApiTokenSecret", "a Key Vault secret name: 1-127 letters, digits and hyphens");
    }
    const enabled = r.boolean("asyncFanOut", CONFIG_DEFAULTS.asyncFanOut);
    const tableTrigger = r.boolean("asyncTableTrigger", CONFIG_DEFAULTS.asyncTableTrigger);
    if (enabled && tableTrigger && catalog.toLowerCase() === "hive_metastore") {
        r.problem(
            "asyncTableTrigger",
            "false when catalog is hive_metastore: table update triggers watch Unity Catalog tables only (the safety-net schedule then starts the dispatcher)",
            "true",
        );
    }
    let concurrencyCap: number = CONFIG_DEFAULTS.asyncConcurrencyCap;
    if (enabled && capLimit < 1) {
        r.problem("asyncConcurrencyCap", `a cap that fits, but none does${capWhy}`, String(r.raw("asyncConcurrencyCap") ?? concurrencyCap));
    } else {
        concurrencyCap = r.integer(
            "asyncConcurrencyCap",
            Math.min(CONFIG_DEFAULTS.asyncConcurrencyCap, Math.max(1, capLimit)),
            1,
            Math.max(1, capLimit),
            capWhy,
        );
    }
    return {
        enabled,
        stateTable,
        leaseTable: `${stateTable}_lease`,
        tableTrigger,
        dispatcherSchedule: { quartzCronExpression: `0 0/${interval} * * * ?`, timezoneId, pauseStatus: paused ? "PAUSED" : "UNPAUSED" },
        concurrencyCap,
        maxAttempts: r.integer("asyncMaxAttempts", CONFIG_DEFAULTS.asyncMaxAttempts, 1, 10),
        entryDeadlineSeconds: 60 * r.integer("asyncEntryDeadlineMinutes", CONFIG_DEFAULTS.asyncEntryDeadlineMinutes, 5, 7 * 24 * 60),
        apiTokenSource: r.oneOf<ApiTokenSource>("asyncApiTokenSource", ["context", "secretScope"], CONFIG_DEFAULTS.asyncApiTokenSource),
        apiTokenSecret,
    };
}

function readSqlWarehouseId(r: Reader): string | undefined {
    const warehouseId = r.optionalString("sqlWarehouseId");
    if (warehouseId !== undefined && !SQL_WAREHOUSE_ID.test(warehouseId)) {
        r.problem(
            "sqlWarehouseId",
            "a SQL warehouse id, 16 lowercase hex characters (SQL Warehouses > the warehouse > Connection details, or the end of its HTTP path /sql/1.0/warehouses/<id>)",
        );
        return undefined;
    }
    return warehouseId;
}

/** Parses and validates the whole configuration; throws StackConfigError listing every problem. */
export function parseStackConfig(source: ConfigSource): StackConfig {
    const r = new Reader(source);
    const unknownKeys = source.keys ? findUnknownConfigKeys(Object.keys(source.keys.set), source.project, source.keys.declared) : { errors: [], warnings: [] };
    for (const { key, expected } of unknownKeys.errors) {
        r.problems.push({ key, value: source.keys?.set[key], expected });
    }
    const stackProblem = nameSegmentProblem(source.stack);
    if (stackProblem) {
        r.problems.push({
            key: "stack name",
            value: source.stack,
            expected: `${stackProblem}, e.g. '${slug(source.stack) || "dev"}': every name the stack gives what it creates contains it, as given`,
        });
    }
    const mode = r.oneOf<DeploymentMode>("mode", ["development", "production"], CONFIG_DEFAULTS.mode);
    const production = mode === "production";
    const extraTags = r.json("tags", "a JSON object of tag name to string value", isRecordOf(isString)) ?? {};
    const reservedTags = Object.keys(extraTags).filter((tag) => (RESERVED_TAGS as readonly string[]).includes(tag.toLowerCase()));
    if (reservedTags.length > 0) {
        r.problem(
            "tags",
            `tags other than ${RESERVED_TAGS.join(", ")}, which the stack sets itself (environment is the stack's name, which the policy pack checks); remove ${reservedTags.join(", ")}`,
        );
    }

    const workspaceRoot = r.string("workspaceRoot", CONFIG_DEFAULTS.workspaceRoot);
    if (!/^\/[^\s]*[^/]$/.test(workspaceRoot) || workspaceRoot.includes("//")) {
        r.problem("workspaceRoot", "an absolute workspace folder such as /Shared/notebook-orchestration");
    }
    const schemaOverride = r.optionalString("schema");
    if (schemaOverride !== undefined && !TABLE_NAME.test(schemaOverride)) {
        r.problem("schema", "letters, digits and underscores, not starting with a digit");
    }
    const vaultNamePrefix = r.string("vaultNamePrefix", CONFIG_DEFAULTS.vaultNamePrefix);
    const prefixProblem = nameSegmentProblem(vaultNamePrefix);
    if (prefixProblem) {
        r.problem(
            "vaultNamePrefix",
            `${prefixProblem}, e.g. '${slug(vaultNamePrefix) || CONFIG_DEFAULTS.vaultNamePrefix}': the Key Vault's name starts with it, as given`,
            vaultNamePrefix,
        );
    }
    const names = environmentNames({
        project: source.project,
        stack: source.stack,
        workspaceRoot,
        vaultNamePrefix,
        schema: schemaOverride,
        extraTags,
    });
    const sampleVaultName = `${names.vaultNameBase}-${"x".repeat(VAULT_SUFFIX_LENGTH)}`;
    const vaultProblem = prefixProblem || stackProblem ? undefined : vaultNameProblem(sampleVaultName);
    if (vaultProblem) {
        r.problem(
            "vaultNamePrefix",
            `a prefix for which '<prefix>-<stack>-<${VAULT_SUFFIX_LENGTH} random characters>' is a valid Key Vault name of at most ${VAULT_NAME_MAX_LENGTH} characters; ` +
                `for stack '${source.stack}' the derived name '${sampleVaultName}' ${vaultProblem} (use a shorter stack name or vaultNamePrefix)`,
            vaultNamePrefix,
        );
    }

    const catalog = r.string("catalog", CONFIG_DEFAULTS.catalog);
    const inputTable = r.string("inputTable", CONFIG_DEFAULTS.inputTable);
    const runLogTable = r.string("runLogTable", CONFIG_DEFAULTS.runLogTable);
    for (const [key, value] of [
        ["catalog", catalog],
        ["inputTable", inputTable],
        ["runLogTable", runLogTable],
    ] as const) {
        if (!TABLE_NAME.test(value)) {
            r.problem(key, "letters, digits and underscores, not starting with a digit");
        }
    }

    const createWorkspace = r.boolean("createWorkspace", CONFIG_DEFAULTS.createWorkspace);
    const location = r.string("location", CONFIG_DEFAULTS.location);
    const orchestration = readOrchestration(r);
    const { skipped, notices: workItemNotices, ...workItems } = readWorkItems(r, names.workspaceFolder);
    const compute = readCompute(r, names.tags, catalog);
    const jobs = readJobs(r, production, orchestration.notebookTimeoutSeconds, orchestration.maxWorkers, compute.mode, workItems);
    const config: Omit<StackConfig, "notices"> = {
        names,
        mode,
        workspace: readWorkspace(r, createWorkspace, location),
        databricksAuthType: r.oneOf("databricksAuthType", DATABRICKS_AUTH_TYPES, CONFIG_DEFAULTS.databricksAuthType),
        compute,
        data: {
            catalog,
            schema: names.schema,
            inputTable,
            runLogTable,
            sampleData: r.boolean("sampleData", CONFIG_DEFAULTS.sampleData),
            sampleRows: r.integer("sampleRows", CONFIG_DEFAULTS.sampleRows, 1, 100_000_000),
        },
        orchestration,
        workItems,
        jobs,
        secrets: readSecrets(r, source, production),
        asyncFanOut: readAsyncFanOut(
            r,
            compute.mode,
            orchestration.maxWorkersLimit,
            catalog,
            jobs.sequentialSchedule.timezoneId,
            jobs.sequentialSchedule.pauseStatus === "PAUSED",
        ),
        sqlWarehouseId: readSqlWarehouseId(r),
    };
    if (config.asyncFanOut.enabled) {
        try {
            asyncWorkerNotebooks(workItems.items, []);
        } catch (error) {
            r.problem("workItems", `items the asynchronous fan-out can give a job each (asyncFanOut is true): ${(error as Error).message}`);
        }
    }
    if (r.problems.length > 0) {
        throw new StackConfigError(source.stack, r.problems);
    }
    const emptyNotices = [...r.emptyKeys].map(
        (key) =>
            `config key '${r.fullKey(key)}' is set to an empty value, which counts as not set: its default applies (pulumi config rm '${r.fullKey(key)}' says so plainly)`,
    );
    const runtimeNotice = runtimeSupportNotice(config.compute.sparkVersion, new Date().toISOString().slice(0, 10));
    const skippedNotices = skipped.map(
        (file) => `${file} is not uploaded: it is not a Databricks notebook source (its first line is not '# Databricks notebook source')`,
    );
    return { ...config, notices: [...unknownKeys.warnings, ...emptyNotices, ...skippedNotices, ...workItemNotices, ...(runtimeNotice ? [runtimeNotice] : [])] };
}

/** The stack's configuration as the running Pulumi program sees it. */
export function pulumiConfigSource(): ConfigSource {
    const config = new pulumi.Config();
    const project = pulumi.getProject();
    const runtime = pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean };
    // Every key the engine passed (pulumi.runtime.allConfig(), the same under mocks), secrets masked.
    const set = Object.fromEntries(Object.entries(pulumi.runtime.allConfig()).map(([key, value]) => [key, runtime.isConfigSecret?.(key) ? "[secret]" : value]));
    return {
        project,
        stack: pulumi.getStack(),
        get: (key) => config.get(key),
        isSecret: (key) => runtime.isConfigSecret?.(`${project}:${key}`) ?? false,
        keys: { set, declared: declaredConfigKeys(path.join(__dirname, "..", "Pulumi.yaml")) },
    };
}

/**
 * The configuration of the running program. Mistakes stop it before any resource is declared;
 * notices are logged as warnings, which `pulumi up` (and the offline plan) show under Diagnostics.
 */
export function loadStackConfig(): StackConfig {
    const config = parseStackConfig(pulumiConfigSource());
    for (const notice of config.notices) {
        void pulumi.log.warn(notice);
    }
    return config;
}
