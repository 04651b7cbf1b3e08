/**
 * Workspace host and credentials, the way Databricks users already have them (Databricks
 * unified authentication conventions):
 *
 *   host:        --host, else DATABRICKS_HOST, else the host of the profile named by --profile or
 *                DATABRICKS_CONFIG_PROFILE, else the stack output `workspaceUrl`, else the DEFAULT
 *                profile's host.
 *   credentials: DATABRICKS_AUTH_TYPE (pat | azure-cli | azure-client-secret) forces a kind;
 *                otherwise the first of: the explicitly named profile; DATABRICKS_TOKEN;
 *                ARM_CLIENT_ID + ARM_CLIENT_SECRET + ARM_TENANT_ID (service principal);
 *                a ~/.databrickscfg profile whose host is the workspace host; the Azure CLI
 *                (`az login`) for an Azure Databricks host.
 *
 * The config file is DATABRICKS_CONFIG_FILE or ~/.databrickscfg. Token values never leave this
 * module except as the Authorization header; credentials describe themselves by kind and origin.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as ini from "ini";
import type * as AzureIdentity from "@azure/identity";
import { CliError, UsageError } from "./errors";

/** Application id of the AzureDatabricks first-party app: the resource to get Azure AD tokens for. */
export const AZURE_DATABRICKS_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default";

export type CredentialKind = "pat" | "azure-cli" | "azure-client-secret";

export interface Credential {
    readonly kind: CredentialKind;
    /** Which credential, never its value: e.g. "personal access token from DATABRICKS_TOKEN". */
    readonly description: string;
    /** What to check when the workspace refuses it (401/403). */
    readonly hint: string;
    /** The bearer token for the Authorization header. */
    getToken(): Promise<string>;
    /** Secret values known so far, to scrub from any message as a last line of defence. */
    secrets(): string[];
}

/** The subset of @azure/identity's TokenCredential this tool uses (injectable in tests). */
export interface TokenSource {
    getToken(scopes: string | string[]): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

export interface AzureFactories {
    azureCli(): TokenSource;
    clientSecret(tenantId: string, clientId: string, clientSecret: string): TokenSource;
}

/** @azure/identity is loaded only when an Azure credential is used (it is slow to load). */
function identity(): typeof AzureIdentity {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("@azure/identity") as typeof AzureIdentity;
}

export const defaultAzureFactories: AzureFactories = {
    azureCli: () => new (identity().AzureCliCredential)(),
    clientSecret: (tenantId, clientId, clientSecret) => new (identity().ClientSecretCredential)(tenantId, clientId, clientSecret),
};

export type Env = Record<string, string | undefined>;

// ---------------------------------------------------------------------------------------------
// Host

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/**
 * Normalizes a workspace URL given by `source` (a flag or variable name, for messages) to its
 * origin, e.g. "https://adb-1234567890123456.7.azuredatabricks.net". A missing scheme means
 * https; plain http is only accepted for loopback addresses (local test servers). A query or
 * fragment (as in a copied "?o=123#job/1" URL) is dropped; a path is an error.
 */
export function normalizeHost(value: string, source: string): string {
    const expected = "expected the workspace URL, e.g. https://adb-1234567890123456.7.azuredatabricks.net";
    const raw = value.trim();
    if (raw === "") throw new UsageError(`${source} is empty: ${expected}`);
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
    let url: URL;
    try {
        url = new URL(withScheme);
    } catch {
        throw new UsageError(`${source} '${raw}' is not a valid URL: ${expected}`);
    }
    if (url.username || url.password) {
        throw new UsageError(`${source} must not contain credentials (user:password@): ${expected}`);
    }
    const host = url.hostname.toLowerCase();
    if (url.protocol === "http:") {
        if (!LOOPBACK.has(host) && !host.startsWith("127.")) {
            throw new UsageError(`${source} '${raw}' uses http: Databricks workspaces are served over https (${expected})`);
        }
    } else if (url.protocol !== "https:") {
        throw new UsageError(`${source} '${raw}' has scheme '${url.protocol.replace(/:$/, "")}': ${expected}`);
    }
    if (!host || !/^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)$/.test(host)) {
        throw new UsageError(`${source} '${raw}' has no valid host name: ${expected}`);
    }
    if (url.pathname !== "/" && url.pathname !== "") {
        throw new UsageError(`${source} '${raw}' has a path ('${url.pathname}'): ${expected}, without a path`);
    }
    return url.origin;
}

export function isAzureDatabricksHost(host: string): boolean {
    try {
        return /\.azuredatabricks\.net$/i.test(new URL(host).hostname);
    } catch {
        return false;
    }
}

// ---------------------------------------------------------------------------------------------
// ~/.databrickscfg

export type Profile = Record<string, string>;

export interface ConfigFile {
    path: string;
    /** The file was found and read. */
    exists: boolean;
    profiles: Map<string, Profile>;
}

export function configFilePath(env: Env): string {
    const home = env.HOME || env.USERPROFILE || os.homedir();
    const configured = env.DATABRICKS_CONFIG_FILE;
    if (configured) return configured.startsWith("~") ? path.join(home, configured.slice(1)) : configured;
    return path.join(home, ".databrickscfg");
}

/** Flattens ini's nesting of dotted section names ("[a.b]") back into profile names. */
function collectProfiles(node: Record<string, unknown>, prefix: string, out: Map<string, Profile>): void {
    const fields: Profile = {};
    let hasFields = false;
    for (const [key, value] of Object.entries(node)) {
        if (value !== null && typeof value === "object" && !Array.isArray(value)) {
            collectProfiles(value as Record<string, unknown>, prefix ? `${prefix}.${key}` : key, out);
        } else if (prefix) {
            fields[key] = String(value);
            hasFields = true;
        }
    }
    if (prefix && (hasFields || !out.has(prefix))) out.set(prefix, fields);
}

/** Reads the Databricks config file; a missing file yields no profiles. */
export function readConfigFile(env: Env): ConfigFile {
    const file = configFilePath(env);
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return { path: file, exists: false, profiles: new Map() };
        throw new CliError(`cannot read the Databricks config file ${file}: ${(err as Error).message}`);
    }
    const profiles = new Map<string, Profile>();
    collectProfiles(ini.parse(text) as Record<string, unknown>, "", profiles);
    return { path: file, exists: true, profiles };
}

/** The profile named explicitly: --profile, else DATABRICKS_CONFIG_PROFILE. */
export function explicitProfileName(profileFlag: string | undefined, env: Env): { name: string; source: string } | undefined {
    if (profileFlag) return { name: profileFlag, source: "--profile" };
    if (env.DATABRICKS_CONFIG_PROFILE) return { name: env.DATABRICKS_CONFIG_PROFILE, source: "DATABRICKS_CONFIG_PROFILE" };
    return undefined;
}

export function getProfile(cfg: ConfigFile, name: string, source: string): Profile {
    const profile = cfg.profiles.get(name);
    if (profile) return profile;
    if (!cfg.exists) {
        throw new UsageError(`${source} names profile '${name}', but the Databricks config file ${cfg.path} does not exist`);
    }
    const known = [...cfg.profiles.keys()];
    throw new UsageError(
        `${source} names profile '${name}', which is not in ${cfg.path}` + (known.length ? ` (profiles there: ${known.join(", ")})` : " (it has no profiles)"),
    );
}

// ---------------------------------------------------------------------------------------------
// Host resolution

export interface HostChoice {
    host: string;
    /** Where it came from, for messages: "--host", "DATABRICKS_HOST", "profile DEV", ... */
    source: string;
}

/** The host given explicitly (flag, variable or named profile), before falling back to the stack. */
export function explicitHost(hostFlag: string | undefined, profileFlag: string | undefined, env: Env, cfg: ConfigFile): HostChoice | undefined {
    if (hostFlag !== undefined) return { host: normalizeHost(hostFlag, "--host"), source: "--host" };
    if (env.DATABRICKS_HOST !== undefined && env.DATABRICKS_HOST !== "") {
        return { host: normalizeHost(env.DATABRICKS_HOST, "DATABRICKS_HOST"), source: "DATABRICKS_HOST" };
    }
    const named = explicitProfileName(profileFlag, env);
    if (named) {
        const profile = getProfile(cfg, named.name, named.source);
        if (profile.host) {
            return { host: normalizeHost(profile.host, `host of profile ${named.name} in ${cfg.path}`), source: `profile ${named.name}` };
        }
    }
    return undefined;
}

/** The DEFAULT profile's host, the last fallback. */
export function defaultProfileHost(cfg: ConfigFile): HostChoice | undefined {
    const profile = cfg.profiles.get("DEFAULT");
    if (!profile?.host) return undefined;
    return { host: normalizeHost(profile.host, `host of profile DEFAULT in ${cfg.path}`), source: "profile DEFAULT" };
}

// ---------------------------------------------------------------------------------------------
// Credentials

const PAT_HINT = "check that the token is valid and not expired, that it belongs to this workspace, and that its user can view and run the jobs";
const AZ_CLI_HINT =
    "check `az account show` (right tenant and subscription) and that your Azure AD user is a member of the workspace with permission on the jobs";
const SP_HINT = "check that the service principal is added to the workspace and has CAN MANAGE RUN (or CAN VIEW for compare) on the jobs";

function patCredential(token: string, description: string): Credential {
    return {
        kind: "pat",
        description,
        hint: PAT_HINT,
        getToken: async () => token,
        secrets: () => [token],
    };
}

function azureCredential(kind: CredentialKind, description: string, hint: string, source: TokenSource, extraSecrets: string[]): Credential {
    let cached: { token: string; expiresOnTimestamp: number } | undefined;
    return {
        kind,
        description,
        hint,
        async getToken() {
            // Refresh two minutes before expiry; runs may be waited on for longer than a token lives.
            if (cached && cached.expiresOnTimestamp - Date.now() > 120_000) return cached.token;
            let result: { token: string; expiresOnTimestamp: number } | null;
            try {
                result = await source.getToken(AZURE_DATABRICKS_SCOPE);
            } catch (err) {
                const first = String((err as Error).message ?? err).split("\n")[0];
                const fix =
                    kind === "azure-cli"
                        ? "run `az login` (and `az account set` to the workspace's tenant), or set DATABRICKS_TOKEN / use --profile"
                        : "check ARM_TENANT_ID, ARM_CLIENT_ID and ARM_CLIENT_SECRET (or the profile's azure_* fields)";
                throw new CliError(`could not get an Azure AD token with the ${description}: ${first}. To fix: ${fix}`);
            }
            if (!result?.token) throw new CliError(`the ${description} returned no Azure AD token for Azure Databricks`);
            cached = result;
            return result.token;
        },
        secrets: () => [...extraSecrets, ...(cached ? [cached.token] : [])],
    };
}

function servicePrincipal(tenantId: string, clientId: string, secret: string, origin: string, azure: AzureFactories): Credential {
    return azureCredential(
        "azure-client-secret",
        `Azure service principal ${clientId} from ${origin}`,
        SP_HINT,
        azure.clientSecret(tenantId, clientId, secret),
        [secret],
    );
}

function azureCli(azure: AzureFactories): Credential {
    return azureCredential("azure-cli", "Azure CLI login (az login)", AZ_CLI_HINT, azure.azureCli(), []);
}

const ARM_VARS = ["ARM_CLIENT_ID", "ARM_CLIENT_SECRET", "ARM_TENANT_ID"] as const;

function armServicePrincipal(env: Env, azure: AzureFactories, required: boolean): Credential | undefined {
    const set = ARM_VARS.filter((v) => env[v]);
    if (set.length === 0 && !required) return undefined;
    if (set.length < ARM_VARS.length) {
        const missing = ARM_VARS.filter((v) => !env[v]);
        throw new UsageError(`an Azure service principal needs ${ARM_VARS.join(", ")}; ${missing.join(", ")} ${missing.length > 1 ? "are" : "is"} not set`);
    }
    return servicePrincipal(env.ARM_TENANT_ID!, env.ARM_CLIENT_ID!, env.ARM_CLIENT_SECRET!, "ARM_CLIENT_ID/ARM_CLIENT_SECRET/ARM_TENANT_ID", azure);
}

/** The credential a profile holds, or undefined when it holds none this tool can use. */
function profileCredential(name: string, profile: Profile, cfg: ConfigFile, azure: AzureFactories, authType?: string): Credential | undefined {
    const where = `profile ${name} in ${cfg.path}`;
    const type = authType ?? profile.auth_type;
    if ((type === undefined || type === "pat") && profile.token) {
        return patCredential(profile.token, `personal access token from ${where}`);
    }
    const { azure_client_id: id, azure_client_secret: secret, azure_tenant_id: tenant } = profile;
    if ((type === undefined || type === "azure-client-secret") && id && secret) {
        if (!tenant) throw new UsageError(`${where} has azure_client_id and azure_client_secret but no azure_tenant_id`);
        return servicePrincipal(tenant, id, secret, where, azure);
    }
    if (type === "azure-cli") return azureCli(azure);
    return undefined;
}

const SUPPORTED_AUTH_TYPES = ["pat", "azure-cli", "azure-client-secret"];

export interface CredentialOptions {
    host: string;
    profileFlag?: string;
    env: Env;
    cfg: ConfigFile;
    azure?: AzureFactories;
}

function sameHost(a: string | undefined, host: string): boolean {
    if (!a) return false;
    try {
        return normalizeHost(a, "host") === host;
    } catch {
        return false;
    }
}

/** Picks the credential for `host` following the order in this module's header. */
export function resolveCredential(opts: CredentialOptions): Credential {
    const { host, env, cfg } = opts;
    const azure = opts.azure ?? defaultAzureFactories;
    const named = explicitProfileName(opts.profileFlag, env);
    const forced = env.DATABRICKS_AUTH_TYPE || undefined;

    if (forced !== undefined && !SUPPORTED_AUTH_TYPES.includes(forced)) {
        throw new UsageError(`DATABRICKS_AUTH_TYPE '${forced}' is not supported by this tool: use ${SUPPORTED_AUTH_TYPES.join(", ")} (or unset it)`);
    }

    if (named) {
        const profile = getProfile(cfg, named.name, named.source);
        const cred = profileCredential(named.name, profile, cfg, azure, forced);
        if (cred) return cred;
        if (!forced) {
            throw new UsageError(
                `profile ${named.name} in ${cfg.path} (from ${named.source}) has no token, no azure_client_id/azure_client_secret/azure_tenant_id and no auth_type = azure-cli`,
            );
        }
    }

    if (forced === "pat") {
        if (env.DATABRICKS_TOKEN) return patCredential(env.DATABRICKS_TOKEN, "personal access token from DATABRICKS_TOKEN");
        throw new UsageError("DATABRICKS_AUTH_TYPE is pat, but DATABRICKS_TOKEN is not set (nor a token in the profile given)");
    }
    if (forced === "azure-cli") return azureCli(azure);
    if (forced === "azure-client-secret") return armServicePrincipal(env, azure, true)!;

    if (env.DATABRICKS_TOKEN) return patCredential(env.DATABRICKS_TOKEN, "personal access token from DATABRICKS_TOKEN");
    const sp = armServicePrincipal(env, azure, false);
    if (sp) return sp;

    // A profile for this workspace, DEFAULT first (what the Databricks CLI does for bundles).
    const candidates = [...cfg.profiles.entries()].sort(([a], [b]) => (a === "DEFAULT" ? -1 : b === "DEFAULT" ? 1 : 0));
    for (const [name, profile] of candidates) {
        if (!sameHost(profile.host, host)) continue;
        const cred = profileCredential(name, profile, cfg, azure);
        if (cred) return cred;
    }

    if (isAzureDatabricksHost(host)) return azureCli(azure);

    throw new UsageError(
        `no credentials for ${host}: set DATABRICKS_TOKEN, or use --profile with a profile in ${cfg.path}, ` +
            `or set ARM_CLIENT_ID/ARM_CLIENT_SECRET/ARM_TENANT_ID for a service principal, or DATABRICKS_AUTH_TYPE=azure-cli after az login`,
    );
}
