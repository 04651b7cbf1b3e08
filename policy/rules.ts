/**
 * The policy pack's rules as small pure functions over a resource's properties (the resolved inputs
 * the engine hands a policy). Each returns the list of violations it finds, as messages; an empty
 * list means the resource passes. policies.ts wires them into Pulumi policies; the tests call both.
 *
 * Messages never repeat a secret-looking value, only where it is and what it looks like: they end up
 * in CI logs and pull-request comments.
 */
import { ASYNC_CAP_LIMIT_PER_JOB, MAX_AUTOTERMINATION_MINUTES, MAX_WORKERS_HARD_LIMIT, MIN_KEY_VAULT_IP_PREFIX_LENGTH } from "../components/config";
import { callArguments, closingBracket, Dialect, receiverText, stringConstants, stringExpression, Token, tokenize } from "./python";

/** Resource types the rules look at, as the engine names them. */
export const RESOURCE_TYPES = {
    cluster: "databricks:index/cluster:Cluster",
    job: "databricks:index/job:Job",
    notebook: "databricks:index/notebook:Notebook",
    secretScope: "databricks:index/secretScope:SecretScope",
    vault: "azure-native:keyvault:Vault",
} as const;

/** Stacks treated as production when the policy config does not say otherwise. */
export const DEFAULT_PRODUCTION_STACKS: readonly string[] = ["prod", "production"];
/** Longest idle time an all-purpose cluster may keep running, unless configured otherwise: the stack's own bound. */
export const DEFAULT_MAX_AUTOTERMINATION_MINUTES = MAX_AUTOTERMINATION_MINUTES;

export interface ConcurrencyLimits {
    /** A scheduled job: its runs must not overlap. */
    readonly scheduled: number;
    /** An on-demand job on an all-purpose cluster: each run holds one of its execution contexts. */
    readonly onSharedCluster: number;
    /** Any other job: well below the workspace's 1000 concurrent task runs. */
    readonly other: number;
}

export const DEFAULT_CONCURRENCY_LIMITS: ConcurrencyLimits = {
    scheduled: 1,
    onSharedCluster: MAX_WORKERS_HARD_LIMIT,
    other: ASYNC_CAP_LIMIT_PER_JOB,
};

/** What the policies know about the stack being previewed or updated. */
export interface StackContext {
    /** The stack's name; undefined when the pack runs outside a stack operation. */
    readonly stack?: string;
    /** The stack's `mode` config value (`development` or `production`), when known. */
    readonly mode?: string;
    /**
     * The stack's `keyVaultPublicNetworkAccess` config value: the explicit switch that opens its vault
     * to all networks, honoured outside production only.
     */
    readonly keyVaultPublicNetworkAccess?: boolean;
}

/** Production: the stack's config says `mode: production`, or the stack is named as a production stack. */
export function isProductionStack(context: StackContext, productionStacks: readonly string[] = DEFAULT_PRODUCTION_STACKS): boolean {
    return context.mode === "production" || (context.stack !== undefined && productionStacks.includes(context.stack));
}

// --- Values unknown during preview ---------------------------------------------------------------

/** Stands for a value the engine cannot know until the update runs (an id, a computed URL). */
export const UNKNOWN: unique symbol = Symbol("unknown until the update runs");

/**
 * The engine's placeholders for unknown values (the same constants in every Pulumi SDK). The policy
 * SDK wraps properties in a proxy that throws when one of them is read, which turns a mandatory
 * policy into an advisory "can't run during preview"; plainProps() reads around the proxy instead.
 */
const ENGINE_UNKNOWNS: ReadonlySet<string> = new Set([
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7", // boolean
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421", // number
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9", // string
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2", // array
    "030794c1-ac77-496b-92df-f27374a8bd58", // asset
    "e48ece36-62e2-4504-bad9-02848725956a", // archive
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff", // object
]);

export const ENGINE_UNKNOWN_VALUES: readonly string[] = [...ENGINE_UNKNOWNS];

/**
 * A deep plain copy of a resource's properties, with every value unknown during preview replaced by
 * UNKNOWN. Reads own property descriptors, which the policy SDK's proxy passes through untouched.
 */
export function plainProps(value: unknown): unknown {
    if (typeof value === "string") {
        return ENGINE_UNKNOWNS.has(value) ? UNKNOWN : value;
    }
    if (value === null || typeof value !== "object") {
        return value;
    }
    const raw = (key: string | number): unknown => Object.getOwnPropertyDescriptor(value, key)?.value;
    if (Array.isArray(value)) {
        const length = raw("length") as number;
        return Array.from({ length }, (_, index) => plainProps(raw(index)));
    }
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
        copy[key] = plainProps(raw(key));
    }
    return copy;
}

type Props = Record<string, unknown>;

function asRecord(value: unknown): Props | undefined {
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Props) : undefined;
}

function asArray(value: unknown): unknown[] {
    return Array.isArray(value) ? value : [];
}

/** Set: present and not empty (an unknown value will be set by the time the update runs). */
function isSet(value: unknown): boolean {
    return value === UNKNOWN || (value !== undefined && value !== null && value !== "");
}

/** A name from the properties, or the fallback when it is missing or not a string. */
function nameOr(value: unknown, fallback: string | number): string {
    return typeof value === "string" ? value : String(fallback);
}

function describe(value: unknown): string {
    return value === undefined ? "not set" : JSON.stringify(value);
}

// --- Clusters ------------------------------------------------------------------------------------

/** An all-purpose cluster must terminate when idle, within `maxMinutes`. Job clusters end with their run. */
export function autoterminationViolations(cluster: Props, maxMinutes = DEFAULT_MAX_AUTOTERMINATION_MINUTES): string[] {
    const minutes = cluster.autoterminationMinutes;
    if (minutes === UNKNOWN) {
        return [];
    }
    if (typeof minutes !== "number" || !Number.isFinite(minutes) || minutes <= 0) {
        return [`autoterminationMinutes is ${describe(minutes)}: an all-purpose cluster must terminate when idle (set 10 to ${maxMinutes} minutes)`];
    }
    if (minutes > maxMinutes) {
        return [`autoterminationMinutes is ${minutes}: at most ${maxMinutes} minutes of idle time is allowed`];
    }
    return [];
}

/**
 * A job's tasks with the tasks nested in For each tasks (`forEachTask.task`), which run on their own
 * compute with their own parameters; a nested task's key is shown as `<for each task>/<nested task>`.
 */
export function jobTasks(job: Props): { key: string; task: Props }[] {
    const tasks: { key: string; task: Props }[] = [];
    asArray(job.tasks).forEach((task, index) => {
        const record = asRecord(task);
        if (!record) {
            return;
        }
        const key = nameOr(record.taskKey, index);
        tasks.push({ key, task: record });
        const nested = asRecord(asRecord(record.forEachTask)?.task);
        if (nested) {
            tasks.push({ key: `${key}/${nameOr(nested.taskKey, 0)}`, task: nested });
        }
    });
    return tasks;
}

/** The cluster specs a job declares: its job clusters and any task's new cluster, with where they are. */
export function jobClusterSpecs(job: Props): { where: string; spec: Props }[] {
    const specs: { where: string; spec: Props }[] = [];
    asArray(job.jobClusters).forEach((jobCluster, index) => {
        const record = asRecord(jobCluster);
        const spec = asRecord(record?.newCluster);
        if (spec) {
            specs.push({ where: `job cluster '${nameOr(record?.jobClusterKey, index)}'`, spec });
        }
    });
    for (const { key, task } of jobTasks(job)) {
        const spec = asRecord(task.newCluster);
        if (spec) {
            specs.push({ where: `new cluster of task '${key}'`, spec });
        }
    }
    return specs;
}

/** A cluster spec's custom tags must include `environment`, equal to the stack's name when it is known. */
export function environmentTagViolations(clusterSpec: Props, context: StackContext, where = "cluster"): string[] {
    const tags = clusterSpec.customTags;
    if (tags === UNKNOWN) {
        return [];
    }
    const environment = asRecord(tags)?.environment;
    if (environment === UNKNOWN) {
        return [];
    }
    if (typeof environment !== "string" || environment === "") {
        return [`${where} has no 'environment' custom tag: every cluster carries the stack's name for cost reports and clean-up`];
    }
    if (context.stack !== undefined && environment !== context.stack) {
        return [
            `${where} is tagged environment=${JSON.stringify(environment)} in stack ${JSON.stringify(context.stack)}: the tag must name the stack that owns the cluster`,
        ];
    }
    return [];
}

// --- Jobs ----------------------------------------------------------------------------------------

export function jobTimeoutViolations(job: Props): string[] {
    const timeout = job.timeoutSeconds;
    if (timeout === UNKNOWN || (typeof timeout === "number" && Number.isFinite(timeout) && timeout > 0)) {
        return [];
    }
    return [`timeoutSeconds is ${describe(timeout)}: a job needs a timeout (0 or unset means a hung run holds the cluster forever)`];
}

export function failureNotificationViolations(job: Props): string[] {
    const onFailures = (notifications: unknown): unknown => (notifications === UNKNOWN ? UNKNOWN : asRecord(notifications)?.onFailures);
    const recipients = (notifications: unknown): unknown[] => asArray(onFailures(notifications)).filter(isSet);
    if (onFailures(job.emailNotifications) === UNKNOWN || onFailures(job.webhookNotifications) === UNKNOWN) {
        return [];
    }
    if (recipients(job.emailNotifications).length > 0 || recipients(job.webhookNotifications).length > 0) {
        return [];
    }
    return ["no one is notified when a run fails: set emailNotifications.onFailures (config notificationEmails) or webhookNotifications.onFailures"];
}

export function concurrencyViolations(job: Props, limits: ConcurrencyLimits = DEFAULT_CONCURRENCY_LIMITS): string[] {
    const runs = job.maxConcurrentRuns;
    if (runs === UNKNOWN) {
        return [];
    }
    const startsByItself = [job.schedule, job.trigger, job.continuous].some((start) => start !== undefined && start !== null);
    const [limit, why] = startsByItself
        ? [limits.scheduled, "a scheduled, triggered or continuous job's runs must not overlap"]
        : jobTasks(job).some(({ task }) => task.existingClusterId !== undefined)
          ? [limits.onSharedCluster, "each run holds one of the all-purpose cluster's execution contexts"]
          : [limits.other, "the workspace runs at most 1000 task runs at once"];
    if (typeof runs !== "number" || !Number.isInteger(runs) || runs < 1 || runs > limit) {
        return [`maxConcurrentRuns is ${describe(runs)}: set it explicitly, from 1 to ${limit} (${why})`];
    }
    return [];
}

/** Outside production, every schedule and trigger of a job is paused (a bundle's development mode does the same). */
export function scheduleViolations(job: Props, production: boolean): string[] {
    if (production) {
        return [];
    }
    const violations: string[] = [];
    for (const field of ["schedule", "continuous", "trigger"] as const) {
        const value = job[field];
        if (value === undefined || value === null || value === UNKNOWN) {
            continue;
        }
        const status = asRecord(value)?.pauseStatus;
        if (status !== "PAUSED" && status !== UNKNOWN) {
            violations.push(`${field}.pauseStatus is ${describe(status)} (UNPAUSED when unset): outside production every schedule must be PAUSED`);
        }
    }
    return violations;
}

// --- Secret scopes and Key Vaults ----------------------------------------------------------------

export function secretScopeViolations(scope: Props): string[] {
    const backend = scope.backendType;
    if (isSet(backend) && backend !== UNKNOWN && backend !== "AZURE_KEYVAULT") {
        return [`backendType is ${describe(backend)}: secret scopes must be Azure Key Vault-backed`];
    }
    const metadata = scope.keyvaultMetadata;
    if (metadata === UNKNOWN) {
        return [];
    }
    const record = asRecord(metadata);
    const missing = ["resourceId", "dnsName"].filter((key) => !isSet(record?.[key]));
    if (!record || missing.length > 0) {
        return [
            `keyvaultMetadata${record ? ` lacks ${missing.join(" and ")}` : " is not set"}: secret scopes must be Azure Key Vault-backed, so secrets live in Key Vault and nowhere else`,
        ];
    }
    return [];
}

export function purgeProtectionViolations(vault: Props, production: boolean): string[] {
    if (!production) {
        return [];
    }
    const enabled = asRecord(vault.properties)?.enablePurgeProtection;
    if (enabled === true || enabled === UNKNOWN || vault.properties === UNKNOWN) {
        return [];
    }
    return [`properties.enablePurgeProtection is ${describe(enabled)}: a production Key Vault must have purge protection on (config keyVaultPurgeProtection)`];
}

/** The vault authorizes data plane access with Azure RBAC, not with access policies. */
export function rbacAuthorizationViolations(vault: Props): string[] {
    const properties = vault.properties;
    const enabled = asRecord(properties)?.enableRbacAuthorization;
    if (properties === UNKNOWN || enabled === UNKNOWN || enabled === true) {
        return [];
    }
    return [
        `properties.enableRbacAuthorization is ${describe(enabled)}: a Key Vault must authorize with Azure RBAC (access policies are a second, ` +
            "unaudited permission system that anyone with Key Vault Contributor can rewrite)",
    ];
}

/** Prefix length of an IP rule's value (32 for a single address), or undefined when it is not IPv4. */
function ipRulePrefixLength(value: string): number | undefined {
    const match = /^\d{1,3}(?:\.\d{1,3}){3}(?:\/(\d{1,2}))?$/.exec(value.trim());
    return match ? Number(match[1] ?? 32) : undefined;
}

/**
 * The vault is not open to all networks: public network access disabled (private endpoints only), or
 * a firewall that denies by default and allows no range wider than `minPrefixLength`. `openAllowed`
 * is the stack's explicit switch (keyVaultPublicNetworkAccess), which production never gets.
 */
export function vaultNetworkViolations(vault: Props, openAllowed: boolean, minPrefixLength = MIN_KEY_VAULT_IP_PREFIX_LENGTH): string[] {
    const properties = vault.properties;
    if (properties === UNKNOWN || openAllowed) {
        return [];
    }
    const record = asRecord(properties);
    const access = record?.publicNetworkAccess;
    if (access === UNKNOWN || (typeof access === "string" && access.toLowerCase() === "disabled")) {
        return [];
    }
    const acls = record?.networkAcls;
    const defaultAction = acls === UNKNOWN ? UNKNOWN : asRecord(acls)?.defaultAction;
    if (defaultAction === UNKNOWN) {
        return [];
    }
    if (typeof defaultAction !== "string" || defaultAction.toLowerCase() !== "deny") {
        return [
            `properties.networkAcls.defaultAction is ${describe(defaultAction)} (Allow when unset): the vault is open to all networks. ` +
                "Deny by default with bypass AzureServices, and allow-list the networks that need its data plane " +
                "(config keyVaultAllowedIpRanges, keyVaultAllowedSubnetIds); outside production, keyVaultPublicNetworkAccess: true opens it on purpose",
        ];
    }
    const violations: string[] = [];
    asArray(asRecord(acls)?.ipRules).forEach((rule, index) => {
        const value = asRecord(rule)?.value;
        const prefix = typeof value === "string" ? ipRulePrefixLength(value) : undefined;
        if (prefix !== undefined && prefix < minPrefixLength) {
            violations.push(
                `properties.networkAcls.ipRules[${index}] ${JSON.stringify(value)} allows ${2 ** (32 - prefix)} addresses: ` +
                    `at most a /${minPrefixLength} may pass the firewall, or the vault is as good as open to all networks`,
            );
        }
    });
    return violations;
}

// --- Secret-looking values -----------------------------------------------------------------------

/** What a secret-looking value looks like and where it is; never the value itself. */
export interface SecretFinding {
    readonly kind: string;
    /** 1-based line of the text where it was found. */
    readonly line: number;
}

const SECRET_REFERENCE = /^\{\{secrets\/[^/}]+\/[^}]+\}\}$/;

/** `{{secrets/<scope>/<key>}}`: how Databricks settings refer to a secret without containing it. */
export function isSecretReference(value: string): boolean {
    return SECRET_REFERENCE.test(value.trim());
}

const SECRET_PATTERNS: readonly { kind: string; pattern: RegExp }[] = [
    { kind: "a Databricks personal access token", pattern: /\bdapi[0-9a-f]{32}(?:-\d+)?\b/ },
    { kind: "an account key in a connection string", pattern: /\bAccountKey\s*=\s*[A-Za-z0-9+/]{20,}/i },
    { kind: "a shared access key in a connection string", pattern: /\bSharedAccessKey\s*=\s*[A-Za-z0-9+/]{20,}/i },
    { kind: "a shared access signature (SAS) token", pattern: /(?:^|[?&;])sig=[A-Za-z0-9%+/]{20,}/i },
    { kind: "a password in a connection string", pattern: /[;?&]\s*(?:password|pwd)\s*=\s*(?!\{\{secrets\/)[^;&\s"'{}]{3,}/i },
    { kind: "credentials in a URL", pattern: /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@"'{}]+:[^\s/@"'{}]+@/i },
    { kind: "a private key", pattern: /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/ },
    { kind: "a JSON web token", pattern: /\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/ },
    { kind: "an AWS access key id", pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
    { kind: "a GitHub token", pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})/ },
    { kind: "a Slack token", pattern: /\bxox[abprs]-[A-Za-z0-9-]{10,}/ },
    {
        kind: "a hard-coded credential",
        pattern:
            /\b(?:[a-z0-9]+[_-])*(?:password|passwd|pwd|secret|token|api[_-]?key|client[_-]?secret|access[_-]?key|auth[_-]?token)["']?\s*[:=]\s*[rbuf]?["'](?!\{\{secrets\/)[^"'\s]{6,}["']/i,
    },
];

/** Secret-looking values in a text (a notebook's source, a parameter's value), line by line. */
export function secretLikeValues(text: string): SecretFinding[] {
    const findings: SecretFinding[] = [];
    text.split(/\r?\n/).forEach((line, index) => {
        for (const { kind, pattern } of SECRET_PATTERNS) {
            if (pattern.test(line)) {
                findings.push({ kind, line: index + 1 });
            }
        }
    });
    return findings;
}

/**
 * Setting names whose value is a credential: Spark conf keys such as fs.azure.account.key.<account>...
 * or ...oauth2.client.secret, environment variables such as DB_PASSWORD. Names of types, classes and
 * providers (fs.azure.sas.token.provider.type) are not.
 */
export function isSensitiveSettingName(name: string): boolean {
    // A per-account setting ends with the account's host (fs.azure.account.key.<account>.dfs.core.windows.net):
    // what the setting is, and so whether it names a type or a class, comes before it.
    const lower = name.toLowerCase().replace(/\.[^.]+\.(?:dfs|blob)\.core\.[a-z0-9.]+$/, "");
    if (/[._-](type|class|provider|endpoint|enabled|id|name|scope|mechanism)$/.test(lower)) {
        return false;
    }
    return /password|passwd|secret|token|account\.key|access[._-]?key|private[._-]?key|client-provided-key|credential|connection[._-]?string|(?:^|[._-])sas(?:[._-]|$)/.test(
        lower,
    );
}

/** Job parameter names that announce a credential: `db_password`, `api_token`, `client_secret`... */
export function isSensitiveParameterName(name: string): boolean {
    return /(?:^|[_.-])(?:password|passwd|pwd|token|secret|api[_-]?key|client[_-]?secret|access[_-]?key|private[_-]?key|connection[_-]?string|sas)$/i.test(
        name,
    );
}

function settingViolations(settings: unknown, where: string, check: (name: string) => boolean): string[] {
    const record = asRecord(settings);
    if (!record) {
        return [];
    }
    const violations: string[] = [];
    for (const [name, value] of Object.entries(record)) {
        if (check(name) && typeof value === "string" && value !== "" && !isSecretReference(value)) {
            violations.push(`${where} '${name}' holds a literal value: refer to a secret instead, {{secrets/<scope>/<key>}}`);
        }
    }
    return violations;
}

/** Every string in a value with its path, e.g. `tasks[1].notebookTask.baseParameters.catalog`. */
export function stringsIn(value: unknown, path = ""): { path: string; text: string }[] {
    if (typeof value === "string") {
        return [{ path, text: value }];
    }
    if (Array.isArray(value)) {
        return value.flatMap((item, index) => stringsIn(item, `${path}[${index}]`));
    }
    const record = asRecord(value);
    if (!record) {
        return [];
    }
    return Object.entries(record).flatMap(([key, item]) => stringsIn(item, path ? `${path}.${key}` : key));
}

function valueViolations(value: unknown, where: string): string[] {
    return stringsIn(value).flatMap(({ path, text }) =>
        secretLikeValues(text).map(
            (f) =>
                `${where}${path ? ` ${path}` : ""}${text.includes("\n") ? ` line ${f.line}` : ""} contains what looks like ${f.kind}: keep it in the Key Vault-backed secret scope`,
        ),
    );
}

/** Spark conf and environment variables of a cluster spec: credentials only as secret references. */
export function sparkSettingViolations(clusterSpec: Props, where = "cluster"): string[] {
    return [
        ...settingViolations(clusterSpec.sparkConf, `${where} Spark conf`, isSensitiveSettingName),
        ...settingViolations(clusterSpec.sparkEnvVars, `${where} environment variable`, isSensitiveSettingName),
    ];
}

export function clusterSecretViolations(cluster: Props): string[] {
    return [...sparkSettingViolations(cluster), ...valueViolations(cluster, "cluster")];
}

/** A job's parameters, task parameters, cluster specs and every other string it carries. */
export function jobSecretViolations(job: Props): string[] {
    const parameterViolations: string[] = [];
    for (const parameter of asArray(job.parameters)) {
        const record = asRecord(parameter);
        const name = record?.name;
        const value = record?.default;
        if (typeof name === "string" && isSensitiveParameterName(name) && typeof value === "string" && value !== "" && !isSecretReference(value)) {
            parameterViolations.push(`job parameter '${name}' has a literal default: pass secrets with dbutils.secrets.get in the notebook, not as parameters`);
        }
    }
    for (const { key, task } of jobTasks(job)) {
        const base = asRecord(asRecord(task.notebookTask)?.baseParameters);
        for (const [name, value] of Object.entries(base ?? {})) {
            if (isSensitiveParameterName(name) && typeof value === "string" && value !== "" && !isSecretReference(value)) {
                parameterViolations.push(
                    `task '${key}' parameter '${name}' has a literal value: pass secrets with dbutils.secrets.get in the notebook, not as parameters`,
                );
            }
        }
    }
    return [...parameterViolations, ...jobClusterSpecs(job).flatMap(({ where, spec }) => sparkSettingViolations(spec, where)), ...valueViolations(job, "job")];
}

// --- Spark settings set in notebook code ------------------------------------------------------------

/**
 * Calls that set a Spark or Hadoop setting, with the names of their key and value parameters:
 * pyspark RuntimeConfig.set(key, value) (`spark.conf.set`), SparkConf.set/setIfMissing(key, value),
 * Hadoop Configuration.set/setIfUnset(name, value) (`spark._jsc.hadoopConfiguration().set`, through
 * Py4J), SparkSession.Builder.config(key, value), DataFrameReader/Writer.option(key, value).
 */
const SETTING_CALLS: ReadonlyMap<string, { readonly key: readonly string[]; readonly value: readonly string[] }> = new Map([
    ["set", { key: ["key", "name"], value: ["value"] }],
    ["setIfMissing", { key: ["key"], value: ["value"] }],
    ["setIfUnset", { key: ["name"], value: ["value"] }],
    ["config", { key: ["key"], value: ["value"] }],
    ["option", { key: ["key"], value: ["value"] }],
]);

/**
 * The setting a SQL `SET <key> = <value>` statement gives a literal credential, or undefined. SET
 * takes its value as raw text, never as an expression, so only a variable reference (`${var}`) or a
 * secret reference is not a literal. https://spark.apache.org/docs/latest/sql-ref-syntax-aux-conf-mgmt-set.html
 */
export function literalSqlSet(statement: string): string | undefined {
    const match = /^\s*SET\s+`?([^\s=`]+)`?\s*=\s*(.*?)\s*;?\s*$/is.exec(statement);
    if (!match || match[2] === "" || match[2].includes("${") || isSecretReference(match[2]) || !isSensitiveSettingName(match[1])) {
        return undefined;
    }
    return match[1];
}

/** SET statements with literal credentials in SQL text, one statement a line. */
export function literalSqlSettings(sql: string, call = "SET"): LiteralSettingFinding[] {
    return sql.split(/\r?\n/).flatMap((line, index) => {
        const setting = literalSqlSet(line);
        return setting ? [{ line: index + 1, call, setting }] : [];
    });
}

export type NotebookLanguage = "python" | "scala" | "sql";

/** How a source-format notebook of each language marks its lines: `# MAGIC`, `// MAGIC`, `-- MAGIC`. */
const COMMENT_PREFIX: Readonly<Record<NotebookLanguage, string>> = { python: "#", scala: "//", sql: "--" };

/**
 * The cells of a source-format notebook written in another language (`# MAGIC %sql` in a Python
 * notebook), without the `MAGIC` prefix and the magic command; every other line is left blank, so
 * line numbers are those of the file.
 */
export function magicCellText(source: string, notebookLanguage: NotebookLanguage, cellLanguage: NotebookLanguage): string {
    const prefix = COMMENT_PREFIX[notebookLanguage];
    const magic = new RegExp(`^${prefix.replace(/[/]/g, "\\/")} MAGIC ?(.*)$`);
    let inCell = false;
    return source
        .split(/\r?\n/)
        .map((line) => {
            if (line.startsWith(`${prefix} COMMAND ---`)) {
                inCell = false;
                return "";
            }
            const body = magic.exec(line)?.[1];
            if (body === undefined) {
                return "";
            }
            const command = /^\s*%(\w+)\b/.exec(body);
            if (command) {
                inCell = command[1] === cellLanguage;
            }
            return inCell ? body.replace(/^\s*%\w+\b/, "") : "";
        })
        .join("\n");
}

/** Credential-bearing settings given literal values in a text written in `language`. */
function literalSettingsIn(text: string, language: NotebookLanguage, call?: string): LiteralSettingFinding[] {
    return language === "sql" ? literalSqlSettings(text, call) : literalSecretSettings(text, language);
}

/** A credential-bearing setting given a literal value in code. */
export interface LiteralSettingFinding {
    /** 1-based line of the call. */
    readonly line: number;
    /** The call as written, e.g. `spark.conf.set`. */
    readonly call: string;
    /** The setting's name, with the parts known only at run time (an f-string field) as `*`. */
    readonly setting: string;
    /** The constant the value came from, when it was passed by name. */
    readonly constant?: string;
}

function argument(args: ReturnType<typeof callArguments>, position: number, names: readonly string[]): Token[] | undefined {
    return args.positional[position] ?? names.map((name) => args.keyword.get(name)).find((tokens) => tokens !== undefined);
}

/**
 * Calls in a Python (or Scala) source that set a credential-bearing setting (isSensitiveSettingName:
 * a storage account key, a SAS token, an OAuth client secret, a password...) to a literal: a string,
 * an f-string without fields, or a name bound only to one; and `spark.sql("SET <key>=<value>")`, the
 * SQL form of spark.conf.set. A value read at run time, such as dbutils.secrets.get(scope, key), is
 * what the setting should get.
 */
export function literalSecretSettings(source: string, dialect: Dialect = "python"): LiteralSettingFinding[] {
    const tokens = tokenize(source, dialect);
    const constants = stringConstants(tokens);
    const findings: LiteralSettingFinding[] = [];
    for (let i = 1; i + 1 < tokens.length; i++) {
        const method = tokens[i];
        const call = SETTING_CALLS.get(method.text);
        const sql = method.text === "sql";
        if (method.kind !== "name" || (!call && !sql) || tokens[i - 1].text !== "." || tokens[i + 1].text !== "(") {
            continue;
        }
        const args = callArguments(tokens.slice(i + 2, closingBracket(tokens, i + 1)));
        if (sql) {
            const statement = args.positional[0] && stringExpression(args.positional[0], constants);
            const set = statement && !statement.dynamic ? literalSqlSet(statement.text) : undefined;
            if (set) {
                findings.push({ line: method.line, call: `${receiverText(tokens, i - 1)}.sql("SET ...")`, setting: set });
            }
            continue;
        }
        const keyTokens = argument(args, 0, call!.key);
        const valueTokens = argument(args, 1, call!.value);
        const key = keyTokens && stringExpression(keyTokens, constants);
        const value = valueTokens && stringExpression(valueTokens, constants);
        if (!key || !value || value.dynamic || value.text === "" || isSecretReference(value.text) || !isSensitiveSettingName(key.text)) {
            continue;
        }
        const constant = valueTokens.length === 1 && valueTokens[0].kind === "name" ? valueTokens[0].text : undefined;
        findings.push({ line: method.line, call: `${receiverText(tokens, i - 1)}.${method.text}`, setting: key.text, constant });
    }
    return [...findings, ...literalDictionarySettings(tokens, constants, dialect)].sort((a, b) => a.line - b.line);
}

/**
 * Dictionary entries `"<setting>": <literal>` (a Scala Map's `"<setting>" -> <literal>`) whose key
 * is a credential-bearing Spark or Hadoop setting name (dotted, like fs.azure.account.oauth2.client.secret):
 * the configs handed to dbutils.fs.mount(extra_configs=...), spark.conf.setAll or a reader's options(**...).
 */
function literalDictionarySettings(tokens: readonly Token[], constants: ReturnType<typeof stringConstants>, dialect: Dialect): LiteralSettingFinding[] {
    const findings: LiteralSettingFinding[] = [];
    const arrow = dialect === "python" ? ":" : "->";
    for (let i = 0; i + 2 < tokens.length; i++) {
        const key = tokens[i];
        // A string then a colon is a dictionary entry in Python (annotations and slices start otherwise).
        if (key.kind !== "string" || tokens[i + 1].text !== arrow || tokens[i - 1]?.kind === "string") {
            continue;
        }
        const setting = key.value!.text;
        let end = i + 2;
        for (let depth = 0; end < tokens.length; end++) {
            const text = tokens[end].text;
            if (depth === 0 && (text === "," || text === "}" || text === ")")) break;
            if ("([{".includes(text)) depth++;
            else if (")]}".includes(text)) depth--;
        }
        const valueTokens = tokens.slice(i + 2, end).filter((token) => token.kind !== "newline");
        const value = stringExpression(valueTokens, constants);
        if (!setting.includes(".") || !isSensitiveSettingName(setting) || !value || value.dynamic || value.text === "" || isSecretReference(value.text)) {
            continue;
        }
        const constant = valueTokens.length === 1 && valueTokens[0].kind === "name" ? valueTokens[0].text : undefined;
        findings.push({ line: key.line, call: dialect === "python" ? "a dictionary entry" : "a Map entry", setting, constant });
    }
    return findings;
}

// --- Notebooks -------------------------------------------------------------------------------------

/** The notebook's language from its `language` (PYTHON, SCALA, SQL, R) or its file's extension; Python when neither says. */
function notebookLanguage(language: unknown, extension: string | undefined): NotebookLanguage | undefined {
    const name =
        typeof language === "string"
            ? language.toLowerCase()
            : ({ ".py": "python", ".ipynb": "python", ".scala": "scala", ".sql": "sql" } as Record<string, string>)[extension ?? ".py"];
    return name === "python" || name === "scala" || name === "sql" ? name : undefined;
}

/**
 * Credential-bearing settings given literal values anywhere in a notebook: its own language, and its
 * cells in another (a source file's MAGIC cells, a Jupyter cell starting with %sql or %scala).
 */
function literalSettingsInNotebook(text: string, language: NotebookLanguage, jupyter: boolean): LiteralSettingFinding[] {
    if (jupyter) {
        const magic = /^\s*%(python|scala|sql)\b/.exec(text)?.[1] as NotebookLanguage | undefined;
        return magic ? literalSettingsIn(text.replace(/^\s*%\w+/, ""), magic, `%${magic} SET`) : literalSettingsIn(text, language);
    }
    const others = (["python", "scala", "sql"] as const).filter((other) => other !== language);
    return [
        ...literalSettingsIn(text, language),
        ...others.flatMap((other) => literalSettingsIn(magicCellText(text, language, other), other, `%${other} SET`)),
    ].sort((a, b) => a.line - b.line);
}

/** Reads a notebook's local source file (a Notebook declared with `source`); throws when it cannot. */
export type ReadSourceFile = (file: string) => string;

interface NotebookText {
    /** Where the text is in the notebook: "" for a source file, "cell <n>" for a Jupyter notebook's cell. */
    readonly where: string;
    readonly text: string;
}

/** The notebook's text in parts: a source-format notebook is one, a Jupyter notebook (.ipynb) one per cell. */
function notebookParts(content: string, jupyter: boolean): NotebookText[] {
    if (!jupyter) {
        return [{ where: "", text: content }];
    }
    try {
        const cells = asArray(asRecord(JSON.parse(content))?.cells);
        return cells.map((cell, index) => {
            const source = asRecord(cell)?.source;
            return { where: ` cell ${index + 1}`, text: Array.isArray(source) ? source.join("") : String(source ?? "") };
        });
    } catch {
        return [{ where: "", text: content }];
    }
}

/**
 * A notebook's source, from `contentBase64` or from the local file named by `source` (read with
 * `readSourceFile`): secret-looking values anywhere, and credential-bearing Spark settings set to
 * literals in its Python, Scala or SQL code.
 */
export function notebookSecretViolations(notebook: Props, readSourceFile?: ReadSourceFile): string[] {
    const name = `notebook ${typeof notebook.path === "string" ? notebook.path : "(path not known yet)"}`;
    const file = typeof notebook.source === "string" ? notebook.source : undefined;
    let content: string;
    if (typeof notebook.contentBase64 === "string") {
        content = Buffer.from(notebook.contentBase64, "base64").toString("utf8");
    } else if (file !== undefined && readSourceFile) {
        try {
            content = readSourceFile(file);
        } catch (error) {
            return [`${name} comes from source file ${JSON.stringify(file)}, which cannot be read to check it for credentials: ${(error as Error).message}`];
        }
    } else {
        return [];
    }
    const extension = file?.toLowerCase().match(/\.[a-z]+$/)?.[0];
    const jupyter = notebook.format === "JUPYTER" || extension === ".ipynb";
    const language = notebookLanguage(notebook.language, extension);
    return notebookParts(content, jupyter).flatMap(({ where, text }) => {
        const settings = language ? literalSettingsInNotebook(text, language, jupyter) : [];
        // A line that sets a named setting says so; what it looks like besides adds nothing.
        const settingLines = new Set(settings.map((f) => f.line));
        return [
            ...secretLikeValues(text)
                .filter((f) => !settingLines.has(f.line))
                .map(
                    (f) =>
                        `${name}${where} line ${f.line} contains what looks like ${f.kind}: read it with dbutils.secrets.get from the Key Vault-backed scope`,
                ),
            ...settings.map(
                (f) =>
                    `${name}${where} line ${f.line} sets '${f.setting}' to a literal${f.constant ? ` (${f.constant})` : ""} with ${f.call}: ` +
                    "read the credential with dbutils.secrets.get from the Key Vault-backed scope, or refer to it in the cluster's Spark conf as {{secrets/<scope>/<key>}}",
            ),
        ];
    });
}
