/**
 * The stack's configuration, read once into a typed, validated object. Every problem is reported
 * together, each naming the key, the value and what is expected, before any resource is declared.
 */
import * as pulumi from "@pulumi/pulumi";
import { environmentNames, EnvironmentNames, vaultNameProblem, VAULT_NAME_MAX_LENGTH, VAULT_SUFFIX_LENGTH } from "./naming";
import { quartzCronProblem } from "./quartz";
import { WORKER_NAMES } from "./workers";

/** Each notebook run holds one of the cluster's 145 execution contexts; the orchestrator holds one. */
export const EXECUTION_CONTEXT_LIMIT = 145;
export const MAX_WORKERS_HARD_LIMIT = EXECUTION_CONTEXT_LIMIT - 1;
/** Longest idle time before the shared cluster terminates; policy/rules.ts enforces the same. */
export const MAX_AUTOTERMINATION_MINUTES = 120;

export type DeploymentMode = "development" | "production";
export type ComputeMode = "shared" | "perJob";

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
    /** Spark runtime; the latest LTS of the workspace when undefined. */
    readonly sparkVersion?: string;
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
    /** Expected run time per worker, used for longest-first dispatch when the run log has no history. */
    readonly expectedSeconds: Readonly<Record<string, number>>;
    /** How many recent successful runs of each worker the run-log median is taken over. */
    readonly historyRuns: number;
}

export interface ScheduleConfig {
    readonly quartzCronExpression: string;
    readonly timezoneId: string;
    readonly pauseStatus: "PAUSED" | "UNPAUSED";
}

export interface JobsConfig {
    readonly sequentialSchedule: ScheduleConfig;
    readonly parallelSchedule: ScheduleConfig;
    readonly timeoutSeconds: number;
    readonly notificationEmails: readonly string[];
}

export type ApiTokenSource = "context" | "secretScope";

/** The asynchronous fan-out: a state table, a worker job and a scheduled dispatcher (off by default). */
export interface AsyncFanOutConfig {
    readonly enabled: boolean;
    /** State table name inside the stack's schema. */
    readonly stateTable: string;
    readonly dispatcherSchedule: ScheduleConfig;
    /** Most job runs active in the workspace after a dispatcher pass. */
    readonly concurrencyCap: number;
    /** Submissions per entry before it stays FAILED. */
    readonly maxAttempts: number;
    /** Where the dispatcher's Jobs API token comes from: the notebook's context or the secret scope. */
    readonly apiTokenSource: ApiTokenSource;
    /** Key Vault secret holding the token when apiTokenSource is secretScope. */
    readonly apiTokenSecret: string;
}

/** The workspace's limit of concurrently running task runs (429 beyond it). */
export const WORKSPACE_CONCURRENT_RUN_LIMIT = 1000;
export const ASYNC_CAP_LIMIT_PER_JOB = 900;

export interface KeyVaultSecretConfig {
    readonly name: string;
    readonly value: pulumi.Output<string>;
}

export interface SecretsConfig {
    readonly databricksServicePrincipalObjectId: string;
    readonly softDeleteRetentionDays: number;
    readonly purgeProtection: boolean;
    readonly secrets: readonly KeyVaultSecretConfig[];
}

export interface StackConfig {
    readonly names: EnvironmentNames;
    readonly mode: DeploymentMode;
    readonly workspace: WorkspaceConfig;
    readonly databricksAuthType: DatabricksAuthType;
    readonly compute: ComputeConfig;
    readonly data: DataConfig;
    readonly orchestration: OrchestrationConfig;
    readonly jobs: JobsConfig;
    readonly secrets: SecretsConfig;
    readonly asyncFanOut: AsyncFanOutConfig;
}

/** Where raw configuration strings come from: Pulumi's config in a program, a plain map in tests. */
export interface ConfigSource {
    readonly project: string;
    readonly stack: string;
    get(key: string): string | undefined;
    isSecret(key: string): boolean;
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
    scheduleTimezone: "UTC",
    jobTimeoutSeconds: 7200,
    vaultNamePrefix: "kv-nbo",
    asyncFanOut: false,
    asyncStateTable: "etl_work_queue",
    asyncDispatchIntervalMinutes: 5,
    asyncConcurrencyCap: 50,
    asyncMaxAttempts: 3,
    asyncApiTokenSource: "context",
    asyncApiTokenSecret: "databricks-jobs-token",
} as const;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const KEY_VAULT_SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const TABLE_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const WORKSPACE_RESOURCE_ID = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Databricks\/workspaces\/[^/]+$/i;
const OBJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Reads raw strings and records every problem; parsing goes on so that all problems are reported at once. */
class Reader {
    readonly problems: ConfigProblem[] = [];

    constructor(private readonly source: ConfigSource) {}

    fullKey(key: string): string {
        return `${this.source.project}:${key}`;
    }

    raw(key: string): string | undefined {
        const value = this.source.get(key);
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

function readCompute(r: Reader, tags: Readonly<Record<string, string>>): ComputeConfig {
    const singleNode = r.boolean("singleNode", CONFIG_DEFAULTS.singleNode);
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
    return {
        mode: r.oneOf<ComputeMode>("computeMode", ["shared", "perJob"], CONFIG_DEFAULTS.computeMode),
        sparkVersion: r.optionalString("sparkVersion"),
        nodeType: r.optionalString("nodeType"),
        singleNode,
        numWorkers: singleNode ? 0 : r.integer("numWorkers", CONFIG_DEFAULTS.numWorkers, 1, 1000),
        autoscale,
        autoterminationMinutes,
        dataSecurityMode: r.oneOf("dataSecurityMode", ["USER_ISOLATION", "SINGLE_USER", "NONE"], CONFIG_DEFAULTS.dataSecurityMode),
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
    const expectedSeconds =
        r.json(
            "workerExpectedSeconds",
            `a JSON object of worker name to seconds (>= 0), workers: ${WORKER_NAMES.join(", ")}`,
            isRecordOf(isNonNegativeNumber),
        ) ?? {};
    const unknown = Object.keys(expectedSeconds).filter((name) => !WORKER_NAMES.includes(name));
    if (unknown.length > 0) {
        r.problem("workerExpectedSeconds", `worker names among ${WORKER_NAMES.join(", ")} (unknown: ${unknown.join(", ")})`);
    }
    return {
        maxWorkers,
        maxWorkersLimit,
        notebookTimeoutSeconds: r.integer("notebookTimeoutSeconds", CONFIG_DEFAULTS.notebookTimeoutSeconds, 0, 7 * 24 * 3600, " (0 means no timeout)"),
        maxRetries: r.integer("maxRetries", CONFIG_DEFAULTS.maxRetries, 0, 10),
        retryBackoffSeconds: r.integer("retryBackoffSeconds", CONFIG_DEFAULTS.retryBackoffSeconds, 0, 3600),
        expectedSeconds: unknown.length > 0 ? {} : expectedSeconds,
        historyRuns: r.integer("historyRuns", CONFIG_DEFAULTS.historyRuns, 1, 100),
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

function readJobs(r: Reader, production: boolean, notebookTimeoutSeconds: number): JobsConfig {
    const timezoneId = r.string("scheduleTimezone", CONFIG_DEFAULTS.scheduleTimezone);
    if (!isKnownTimezone(timezoneId)) {
        r.problem("scheduleTimezone", "a Java/IANA time zone id such as UTC or Europe/Amsterdam");
    }
    // Like Databricks Asset Bundles' development mode: schedules only fire in production unless asked.
    const paused = r.boolean("schedulePaused", !production);
    const timeoutSeconds = r.integer("jobTimeoutSeconds", CONFIG_DEFAULTS.jobTimeoutSeconds, 60, 7 * 24 * 3600);
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
    return {
        sequentialSchedule: readSchedule(r, "sequentialSchedule", CONFIG_DEFAULTS.sequentialSchedule, timezoneId, paused),
        parallelSchedule: readSchedule(r, "parallelSchedule", CONFIG_DEFAULTS.parallelSchedule, timezoneId, paused),
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
    };
}

function readAsyncFanOut(r: Reader, computeMode: ComputeMode, timezoneId: string, paused: boolean): AsyncFanOutConfig {
    const interval = r.integer("asyncDispatchIntervalMinutes", CONFIG_DEFAULTS.asyncDispatchIntervalMinutes, 1, 59);
    const capLimit = computeMode === "shared" ? MAX_WORKERS_HARD_LIMIT : ASYNC_CAP_LIMIT_PER_JOB;
    const capWhy =
        computeMode === "shared"
            ? ` (the worker job runs on the shared cluster, whose ${EXECUTION_CONTEXT_LIMIT} execution contexts every run needs one of; use computeMode perJob for more)`
            : ` (well below the workspace's ${WORKSPACE_CONCURRENT_RUN_LIMIT} concurrent task runs, leaving room for other jobs)`;
    const stateTable = r.string("asyncStateTable", CONFIG_DEFAULTS.asyncStateTable);
    if (!TABLE_NAME.test(stateTable)) {
        r.problem("asyncStateTable", "letters, digits and underscores, not starting with a digit");
    }
    const apiTokenSecret = r.string("asyncApiTokenSecret", CONFIG_DEFAULTS.asyncApiTokenSecret);
    if (!KEY_VAULT_SECRET_NAME.test(apiTokenSecret)) {
        r.problem("asyncApiTokenSecret", "a Key Vault secret name: 1-127 letters, digits and hyphens");
    }
    return {
        enabled: r.boolean("asyncFanOut", CONFIG_DEFAULTS.asyncFanOut),
        stateTable,
        dispatcherSchedule: { quartzCronExpression: `0 0/${interval} * * * ?`, timezoneId, pauseStatus: paused ? "PAUSED" : "UNPAUSED" },
        concurrencyCap: r.integer("asyncConcurrencyCap", CONFIG_DEFAULTS.asyncConcurrencyCap, 1, capLimit, capWhy),
        maxAttempts: r.integer("asyncMaxAttempts", CONFIG_DEFAULTS.asyncMaxAttempts, 1, 10),
        apiTokenSource: r.oneOf<ApiTokenSource>("asyncApiTokenSource", ["context", "secretScope"], CONFIG_DEFAULTS.asyncApiTokenSource),
        apiTokenSecret,
    };
}

/** Parses and validates the whole configuration; throws StackConfigError listing every problem. */
export function parseStackConfig(source: ConfigSource): StackConfig {
    const r = new Reader(source);
    const mode = r.oneOf<DeploymentMode>("mode", ["development", "production"], CONFIG_DEFAULTS.mode);
    const production = mode === "production";
    const extraTags = r.json("tags", "a JSON object of tag name to string value", isRecordOf(isString)) ?? {};

    const workspaceRoot = r.string("workspaceRoot", CONFIG_DEFAULTS.workspaceRoot);
    if (!/^\/[^\s]*[^/]$/.test(workspaceRoot) || workspaceRoot.includes("//")) {
        r.problem("workspaceRoot", "an absolute workspace folder such as /Shared/notebook-orchestration");
    }
    const schemaOverride = r.optionalString("schema");
    if (schemaOverride !== undefined && !TABLE_NAME.test(schemaOverride)) {
        r.problem("schema", "letters, digits and underscores, not starting with a digit");
    }
    const names = environmentNames({
        project: source.project,
        stack: source.stack,
        workspaceRoot,
        vaultNamePrefix: r.string("vaultNamePrefix", CONFIG_DEFAULTS.vaultNamePrefix),
        schema: schemaOverride,
        extraTags,
    });
    const sampleVaultName = `${names.vaultNameBase}-${"x".repeat(VAULT_SUFFIX_LENGTH)}`;
    const vaultProblem = vaultNameProblem(sampleVaultName);
    if (vaultProblem) {
        r.problem(
            "vaultNamePrefix",
            `a prefix for which '<prefix>-<stack>-<${VAULT_SUFFIX_LENGTH} random characters>' is a valid Key Vault name of at most ${VAULT_NAME_MAX_LENGTH} characters; ` +
                `for stack '${source.stack}' the derived name '${sampleVaultName}' ${vaultProblem} (use a shorter stack name or vaultNamePrefix)`,
            names.vaultNameBase,
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
    const compute = readCompute(r, names.tags);
    const jobs = readJobs(r, production, orchestration.notebookTimeoutSeconds);
    const config: StackConfig = {
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
        jobs,
        secrets: readSecrets(r, source, production),
        asyncFanOut: readAsyncFanOut(r, compute.mode, jobs.sequentialSchedule.timezoneId, jobs.sequentialSchedule.pauseStatus === "PAUSED"),
    };
    if (r.problems.length > 0) {
        throw new StackConfigError(source.stack, r.problems);
    }
    return config;
}

/** The stack's configuration as the running Pulumi program sees it. */
export function pulumiConfigSource(): ConfigSource {
    const config = new pulumi.Config();
    const project = pulumi.getProject();
    const runtime = pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean };
    return {
        project,
        stack: pulumi.getStack(),
        get: (key) => config.get(key),
        isSecret: (key) => runtime.isConfigSecret?.(`${project}:${key}`) ?? false,
    };
}

export function loadStackConfig(): StackConfig {
    return parseStackConfig(pulumiConfigSource());
}
