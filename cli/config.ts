/**
 * Where the workspace host and the authentication attributes come from, following the Databricks
 * unified authentication conventions of the official CLI and SDKs (databricks-sdk-go
 * config/config.go, config/config_file.go; the CLI's profile-from-host loader):
 *
 *   attributes:  read from their environment variables (ATTRIBUTES below: the SDK's names) and
 *                from a profile: see resolveAuthAttributes (--profile wins over the environment,
 *                DATABRICKS_CONFIG_PROFILE does not; with neither, the profile whose `host` is the
 *                workspace, as the CLI does for bundles).
 *   host:        --host, else the host of a --profile, else DATABRICKS_HOST, else the host of the
 *                DATABRICKS_CONFIG_PROFILE profile, else the stack output `workspaceUrl`, else the
 *                DEFAULT profile's host.
 *
 * The config file is DATABRICKS_CONFIG_FILE or ~/.databrickscfg. Which credential the attributes
 * make is decided in auth.ts.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as ini from "ini";
import { CliError, UsageError } from "./errors";

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

/** Azure Databricks host names in the public, US Government and China clouds. */
export function isAzureDatabricksHost(host: string): boolean {
    try {
        return /\.(azuredatabricks\.net|azuredatabricks\.us|databricks\.azure\.cn)$/i.test(new URL(host).hostname);
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

/** The host given explicitly (flag, named profile or variable), before falling back to the stack. */
export function explicitHost(hostFlag: string | undefined, profileFlag: string | undefined, env: Env, cfg: ConfigFile): HostChoice | undefined {
    if (hostFlag !== undefined) return { host: normalizeHost(hostFlag, "--host"), source: "--host" };
    const named = explicitProfileName(profileFlag, env);
    const fromProfile = (): HostChoice | undefined => {
        const profile = named && getProfile(cfg, named.name, named.source);
        if (!profile?.host) return undefined;
        return { host: normalizeHost(profile.host, `host of profile ${named!.name} in ${cfg.path}`), source: `profile ${named!.name}` };
    };
    const fromEnv = (): HostChoice | undefined =>
        env.DATABRICKS_HOST ? { host: normalizeHost(env.DATABRICKS_HOST, "DATABRICKS_HOST"), source: "DATABRICKS_HOST" } : undefined;
    // --profile: the profile's host wins; DATABRICKS_CONFIG_PROFILE keeps the environment first.
    return named?.source === "--profile" ? (fromProfile() ?? fromEnv()) : (fromEnv() ?? fromProfile());
}

/** The DEFAULT profile's host, the last fallback. */
export function defaultProfileHost(cfg: ConfigFile): HostChoice | undefined {
    const profile = cfg.profiles.get("DEFAULT");
    if (!profile?.host) return undefined;
    return { host: normalizeHost(profile.host, `host of profile DEFAULT in ${cfg.path}`), source: "profile DEFAULT" };
}

// ---------------------------------------------------------------------------------------------
// Authentication attributes

/**
 * The attributes of the Databricks unified authentication this tool reads: profile key and
 * environment variable, as in databricks-sdk-go config/config.go. `auth` marks the attributes whose
 * presence in the environment means "authentication is configured here" (the SDK then skips the
 * config file); `envOnly` ones are never read from a profile (GitHub sets them per job).
 */
export const ATTRIBUTES = [
    { name: "host", env: "DATABRICKS_HOST", auth: false },
    { name: "auth_type", env: "DATABRICKS_AUTH_TYPE", auth: false },
    { name: "token", env: "DATABRICKS_TOKEN", auth: true, sensitive: true },
    { name: "client_id", env: "DATABRICKS_CLIENT_ID", auth: true },
    { name: "client_secret", env: "DATABRICKS_CLIENT_SECRET", auth: true, sensitive: true },
    { name: "token_audience", env: "DATABRICKS_TOKEN_AUDIENCE", auth: true },
    { name: "oidc_token_env", env: "DATABRICKS_OIDC_TOKEN_ENV", auth: true },
    { name: "oidc_token_filepath", env: "DATABRICKS_OIDC_TOKEN_FILEPATH", auth: true },
    { name: "databricks_cli_path", env: "DATABRICKS_CLI_PATH", auth: true },
    { name: "azure_workspace_resource_id", env: "DATABRICKS_AZURE_RESOURCE_ID", auth: true },
    { name: "azure_use_msi", env: "ARM_USE_MSI", auth: true },
    { name: "azure_client_id", env: "ARM_CLIENT_ID", auth: true },
    { name: "azure_client_secret", env: "ARM_CLIENT_SECRET", auth: true, sensitive: true },
    { name: "azure_tenant_id", env: "ARM_TENANT_ID", auth: true },
    { name: "azure_environment", env: "ARM_ENVIRONMENT", auth: false },
    { name: "azure_login_app_id", env: "DATABRICKS_AZURE_LOGIN_APP_ID", auth: true },
    { name: "actions_id_token_request_url", env: "ACTIONS_ID_TOKEN_REQUEST_URL", auth: true, envOnly: true },
    { name: "actions_id_token_request_token", env: "ACTIONS_ID_TOKEN_REQUEST_TOKEN", auth: true, envOnly: true, sensitive: true },
] as const satisfies readonly { name: string; env: string; auth: boolean; envOnly?: boolean; sensitive?: boolean }[];

export type AttributeName = (typeof ATTRIBUTES)[number]["name"];

export interface AttributeValue {
    value: string;
    /** Where it was read, for messages: "DATABRICKS_TOKEN" or "profile dev in /home/me/.databrickscfg". */
    source: string;
}

export type Attributes = Partial<Record<AttributeName, AttributeValue>>;

export interface ProfileChoice {
    name: string;
    /** "--profile", "DATABRICKS_CONFIG_PROFILE" or "the workspace host". */
    source: string;
}

export interface AuthAttributes {
    attrs: Attributes;
    /** The profile the auth attributes came from, if any. */
    profile?: ProfileChoice;
    configPath: string;
}

function envAttributes(env: Env, filter: (a: (typeof ATTRIBUTES)[number]) => boolean): Attributes {
    const attrs: Attributes = {};
    for (const a of ATTRIBUTES) {
        const value = env[a.env];
        if (filter(a) && value !== undefined && value.trim() !== "") attrs[a.name] = { value: value.trim(), source: a.env };
    }
    return attrs;
}

function profileAttributes(cfg: ConfigFile, name: string, profile: Profile): Attributes {
    const attrs: Attributes = {};
    for (const a of ATTRIBUTES) {
        const value = profile[a.name];
        if (!("envOnly" in a) && value !== undefined && value.trim() !== "") attrs[a.name] = { value: value.trim(), source: `profile ${name} in ${cfg.path}` };
    }
    return attrs;
}

/** Whether an auth attribute is set in the environment (the SDK then leaves the config file alone). */
export function authConfiguredInEnv(env: Env): boolean {
    return Object.keys(envAttributes(env, (a) => a.auth)).length > 0;
}

/** Secret values in the environment (to scrub from messages), whatever credential is chosen. */
export function sensitiveEnvValues(env: Env): string[] {
    return ATTRIBUTES.filter((a) => "sensitive" in a && a.sensitive && env[a.env]).map((a) => env[a.env]!);
}

/**
 * The authentication attributes for `host`, loaded as the Databricks CLI loads them:
 *   --profile NAME               the profile's host, auth attributes and auth_type win over the
 *                                environment, which only fills what the profile leaves empty;
 *   DATABRICKS_CONFIG_PROFILE    the environment first, the profile filling the gaps (SDK order);
 *   neither                      the environment; when it sets no auth attribute and no
 *                                DATABRICKS_AUTH_TYPE, the one profile whose host is `host` fills
 *                                the gaps (several such profiles are an error).
 */
export function resolveAuthAttributes(host: string, profileFlag: string | undefined, env: Env, cfg: ConfigFile): AuthAttributes {
    const named = explicitProfileName(profileFlag, env);
    const fromEnv = envAttributes(env, () => true);
    if (named) {
        const fromProfile = profileAttributes(cfg, named.name, getProfile(cfg, named.name, named.source));
        if (named.source === "--profile") {
            const nonAuth = envAttributes(env, (a) => !a.auth && a.name !== "host" && a.name !== "auth_type");
            return { attrs: { ...fromEnv, ...fromProfile, ...nonAuth }, profile: named, configPath: cfg.path };
        }
        return { attrs: { ...fromProfile, ...fromEnv }, profile: named, configPath: cfg.path };
    }
    if (!authConfiguredInEnv(env) && !fromEnv.auth_type) {
        const matching = [...cfg.profiles.entries()].filter(([, p]) => sameHost(p.host, host));
        if (matching.length > 1) {
            throw new UsageError(
                `${matching.length} profiles in ${cfg.path} have the host ${host} (${matching.map(([n]) => n).join(", ")}): choose one with --profile or DATABRICKS_CONFIG_PROFILE`,
            );
        }
        if (matching.length === 1) {
            const [name, profile] = matching[0];
            const fromProfile = profileAttributes(cfg, name, profile);
            return { attrs: { ...fromProfile, ...fromEnv }, profile: { name, source: "the workspace host" }, configPath: cfg.path };
        }
    }
    return { attrs: fromEnv, configPath: cfg.path };
}

function sameHost(a: string | undefined, host: string): boolean {
    if (!a) return false;
    try {
        return normalizeHost(a, "host") === host;
    } catch {
        return false;
    }
}
