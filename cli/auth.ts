/**
 * Credentials for the workspace, chosen and obtained the way the official Databricks CLI and SDKs
 * do it (databricks-sdk-go config/auth_default.go and the auth_*.go strategies):
 *
 *   - DATABRICKS_AUTH_TYPE (or a profile's `auth_type`) forces one auth type; an auth type this tool
 *     does not implement is named as such, and a forced type whose attributes are missing says
 *     which ones.
 *   - Otherwise the first auth type whose attributes are present wins, in the SDK's order:
 *     pat, oauth-m2m, databricks-cli, github-oidc, env-oidc, file-oidc, github-oidc-azure,
 *     azure-msi, azure-client-secret, azure-cli.
 *
 * Each token exchange follows the real protocol:
 *   oauth-m2m            client credentials (HTTP Basic client auth, scope all-apis) at the workspace's
 *                        token endpoint, found at <host>/oidc/.well-known/oauth-authorization-server
 *                        (normally <host>/oidc/v1/token).
 *   github-oidc,         an ID token (GitHub: from ACTIONS_ID_TOKEN_REQUEST_URL&audience=..., with the
 *   env-oidc, file-oidc  bearer ACTIONS_ID_TOKEN_REQUEST_TOKEN; or a variable's / file's content) is
 *                        exchanged at the token endpoint (RFC 8693 token exchange, scope all-apis):
 *                        Databricks workload identity federation.
 *   github-oidc-azure    a GitHub ID token for audience api://AzureADTokenExchange is the client
 *                        assertion of an Azure AD client-credentials request for the AzureDatabricks
 *                        resource (federated credential on the app registration ARM_CLIENT_ID).
 *   azure-client-secret  Azure AD client credentials with ARM_CLIENT_SECRET.
 *   azure-msi            the Azure Instance Metadata Service (IMDS) token endpoint.
 *   azure-cli            `az account get-access-token --resource <AzureDatabricks app id>`.
 *   databricks-cli       `databricks auth token --host <host>` (the CLI's U2M login cache).
 *
 * Tokens are cached and fetched again shortly before they expire, so a run waited on for hours
 * keeps working; a fresh GitHub ID token is requested for every exchange (they live minutes).
 *
 * Endpoints follow the SDKs and Azure Identity: the Azure AD authority comes from ARM_ENVIRONMENT
 * (or the host's cloud) and AZURE_AUTHORITY_HOST overrides it; IMDS is 169.254.169.254 unless
 * AZURE_POD_IDENTITY_AUTHORITY_HOST says otherwise. Tests point both at a local fake.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { request, type Dispatcher } from "undici";
import { CliError, UsageError } from "./errors";
import { isAzureDatabricksHost, type AttributeName, type Attributes, type Env } from "./config";

/** The auth types this tool implements, in the order the SDKs try them. */
export const AUTH_TYPES = [
    "pat",
    "oauth-m2m",
    "databricks-cli",
    "github-oidc",
    "env-oidc",
    "file-oidc",
    "github-oidc-azure",
    "azure-msi",
    "azure-client-secret",
    "azure-cli",
] as const;
export type AuthType = (typeof AUTH_TYPES)[number];

/** Auth types of the Databricks SDKs that this tool does not implement (named as such when asked for). */
export const OTHER_SDK_AUTH_TYPES = ["basic", "metadata-service", "azure-devops-oidc", "external-browser", "runtime", "google-credentials", "google-id"];

/** Application id of the AzureDatabricks first-party app: the resource of Azure AD tokens for a workspace. */
export const AZURE_DATABRICKS_APP_ID = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";
/** The audience Azure AD expects in a federated (GitHub) client assertion. */
export const AZURE_TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange";
export const JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
export const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
export const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";

/** Azure AD authority per ARM_ENVIRONMENT (databricks-sdk-go config/azure.go environments). */
const AZURE_AUTHORITIES: Record<string, string> = {
    public: "https://login.microsoftonline.com/",
    usgovernment: "https://login.microsoftonline.us/",
    china: "https://login.chinacloudapi.cn/",
};
const IMDS_HOST = "http://169.254.169.254";

/** Tokens are fetched again when they have less than this left (or half their lifetime, if shorter). */
export const REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;

export interface Credential {
    readonly authType: AuthType;
    /** Which credential, never its value: e.g. "personal access token from DATABRICKS_TOKEN". */
    readonly description: string;
    /** What to check when the workspace refuses it (401/403). */
    readonly hint: string;
    /** The bearer token for the Authorization header, fetched again before it expires. */
    getToken(): Promise<string>;
    /** Forgets the cached token (after a 401), so that the next getToken fetches a new one. */
    invalidate(): void;
    /** Secret values known so far, to scrub from any message as a last line of defence. */
    secrets(): string[];
}

export interface AuthContext {
    /** The workspace URL (origin). */
    host: string;
    attrs: Attributes;
    /** For PATH, AZURE_AUTHORITY_HOST, AZURE_POD_IDENTITY_AUTHORITY_HOST and the env-oidc variable. */
    env: Env;
    now: () => number;
    sleep: (ms: number) => Promise<void>;
    /** Per-request timeout (token requests wait at most 10 s, as in the SDKs). */
    timeoutMs: number;
    dispatcher?: Dispatcher;
}

interface IssuedToken {
    token: string;
    /** Epoch milliseconds. */
    expiresAt: number;
}

/** Why an auth type cannot be configured from the attributes at hand. */
interface NotConfigured {
    why: string;
    /** Some of its attributes are set (worth mentioning when nothing else works). */
    partial: boolean;
}

interface Strategy {
    name: AuthType;
    configure(ctx: AuthContext, forced: boolean): Credential | NotConfigured;
}

// ---------------------------------------------------------------------------------------------
// Attributes

function attr(ctx: AuthContext, name: AttributeName): string | undefined {
    return ctx.attrs[name]?.value;
}

/** "DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET", or the profile they came from. */
function sources(ctx: AuthContext, ...names: AttributeName[]): string {
    const list = [...new Set(names.map((n) => ctx.attrs[n]?.source).filter((s): s is string => !!s))];
    const envNames = list.filter((s) => /^[A-Z_]+$/.test(s));
    const others = list.filter((s) => !/^[A-Z_]+$/.test(s));
    return [...(envNames.length ? [envNames.join("/")] : []), ...others].join(" and ");
}

function missing(ctx: AuthContext, needed: [AttributeName, string][]): string[] {
    return needed.filter(([name]) => !attr(ctx, name)).map(([, label]) => label);
}

function notConfigured(type: AuthType, needs: string[], ctx: AuthContext, all: AttributeName[], extra = ""): NotConfigured {
    const partial = all.some((n) => attr(ctx, n));
    return { why: `${type} needs ${needs.join(", ")}${extra}`, partial };
}

/** A boolean attribute (ARM_USE_MSI): true/false, 1/0; anything else is an error naming it. */
function flag(ctx: AuthContext, name: AttributeName): boolean {
    const a = ctx.attrs[name];
    if (!a) return false;
    if (/^(1|true)$/i.test(a.value)) return true;
    if (/^(0|false)$/i.test(a.value)) return false;
    throw new UsageError(`${a.source} is '${a.value}': expected true or false`);
}

function isLoopback(host: string): boolean {
    const name = new URL(host).hostname;
    return name === "localhost" || name.startsWith("127.") || name === "[::1]";
}

/**
 * Whether Azure auth types apply: an Azure Databricks host, or a workspace resource id given. A
 * local test server (loopback http host) counts when the auth type is forced.
 */
function isAzure(ctx: AuthContext, forced: boolean): boolean {
    return isAzureDatabricksHost(ctx.host) || !!attr(ctx, "azure_workspace_resource_id") || (forced && isLoopback(ctx.host));
}

/** The Azure AD authority, ending in "/". */
export function azureAuthority(ctx: Pick<AuthContext, "attrs" | "env" | "host">): string {
    const override = ctx.env.AZURE_AUTHORITY_HOST?.trim();
    if (override) return override.endsWith("/") ? override : `${override}/`;
    const configured = ctx.attrs.azure_environment;
    if (configured) {
        const authority = AZURE_AUTHORITIES[configured.value.toLowerCase()];
        if (!authority) {
            throw new UsageError(
                `${configured.source} '${configured.value}' is not an Azure environment: expected one of ${Object.keys(AZURE_AUTHORITIES).join(", ")}`,
            );
        }
        return authority;
    }
    const name = new URL(ctx.host).hostname;
    if (name.endsWith(".azuredatabricks.us")) return AZURE_AUTHORITIES.usgovernment;
    if (name.endsWith(".databricks.azure.cn")) return AZURE_AUTHORITIES.china;
    return AZURE_AUTHORITIES.public;
}

function azureLoginAppId(ctx: AuthContext): string {
    return attr(ctx, "azure_login_app_id") ?? AZURE_DATABRICKS_APP_ID;
}

/** An executable on PATH (or a given path), or undefined. */
export function findExecutable(name: string, env: Env): string | undefined {
    const candidates = name.includes("/")
        ? [name]
        : (env.PATH ?? "")
              .split(path.delimiter)
              .filter(Boolean)
              .map((dir) => path.join(dir, name));
    for (const file of candidates) {
        try {
            fs.accessSync(file, fs.constants.X_OK);
            if (fs.statSync(file).isFile()) return file;
        } catch {
            // not there
        }
    }
    return undefined;
}

// ---------------------------------------------------------------------------------------------
// HTTP for token endpoints

const TRANSIENT_CODES = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "UND_ERR_SOCKET", "UND_ERR_CLOSED", "TIMEOUT"]);

interface TokenRequest {
    /** What is asked, for messages: "Azure AD token request". */
    what: string;
    method: "GET" | "POST";
    url: string;
    headers?: Record<string, string>;
    form?: Record<string, string | undefined>;
}

/** Reads the OAuth / Azure AD / GitHub error fields of a refused request. */
function errorDetail(text: string): string {
    try {
        const body = JSON.parse(text) as { error?: unknown; error_description?: string; message?: string; error_code?: string };
        const error = typeof body.error === "string" ? body.error : undefined;
        const description = (body.error_description ?? body.message ?? "").split(/\r?\n/)[0];
        return [error ?? body.error_code, description].filter(Boolean).join(": ");
    } catch {
        return text.trim().split("\n")[0]?.slice(0, 200) ?? "";
    }
}

/** Token requests wait at most this long (the SDKs' timeout for Azure AD, OIDC and IMDS requests). */
const TOKEN_REQUEST_TIMEOUT_MS = 10_000;

/** One request to a token endpoint, with three attempts on 429/5xx/dropped connections. */
async function tokenRequest(ctx: AuthContext, req: TokenRequest): Promise<Record<string, unknown>> {
    const timeoutMs = Math.min(ctx.timeoutMs, TOKEN_REQUEST_TIMEOUT_MS);
    const body = req.form ? new URLSearchParams(Object.entries(req.form).filter((e): e is [string, string] => e[1] !== undefined)).toString() : undefined;
    const where = new URL(req.url);
    const shown = `${where.origin}${where.pathname}`;
    for (let attempt = 1; ; attempt++) {
        let status: number;
        let text: string;
        try {
            const res = await request(req.url, {
                method: req.method,
                headers: {
                    accept: "application/json",
                    ...(body !== undefined ? { "content-type": "application/x-www-form-urlencoded" } : {}),
                    ...req.headers,
                },
                body,
                signal: AbortSignal.timeout(timeoutMs),
                dispatcher: ctx.dispatcher,
            });
            status = res.statusCode;
            text = await res.body.text();
        } catch (err) {
            const e = err as { code?: string; name?: string; cause?: { code?: string } };
            const code = e.name === "TimeoutError" ? "TIMEOUT" : (e.code ?? e.cause?.code ?? "ERROR");
            if (TRANSIENT_CODES.has(code) && attempt < 3) {
                await ctx.sleep(1000 * attempt);
                continue;
            }
            throw new CliError(`${req.what} to ${shown} failed: ${code === "TIMEOUT" ? `no answer within ${timeoutMs / 1000}s` : code}`);
        }
        if (status >= 200 && status < 300) {
            try {
                return JSON.parse(text) as Record<string, unknown>;
            } catch {
                throw new CliError(`${req.what} to ${shown}: the answer is not JSON`);
            }
        }
        if ((status === 429 || status >= 500) && attempt < 3) {
            await ctx.sleep(1000 * attempt);
            continue;
        }
        const detail = errorDetail(text);
        throw new CliError(`${req.what} to ${shown} was refused (HTTP ${status}${detail ? `, ${detail}` : ""})`);
    }
}

function num(value: unknown): number | undefined {
    const n = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
    return Number.isFinite(n) ? n : undefined;
}

/** access_token and its expiry (expires_on epoch seconds, else expires_in seconds) of an OAuth answer. */
function oauthToken(ctx: AuthContext, what: string, body: Record<string, unknown>): IssuedToken {
    const token = body.access_token;
    if (typeof token !== "string" || token === "") throw new CliError(`${what}: the answer has no access_token`);
    const expiresOn = num(body.expires_on);
    const expiresIn = num(body.expires_in);
    const expiresAt = expiresOn !== undefined ? expiresOn * 1000 : expiresIn !== undefined ? ctx.now() + expiresIn * 1000 : ctx.now() + 3600_000;
    return { token, expiresAt };
}

// ---------------------------------------------------------------------------------------------
// Token caching

/** A credential whose token is fetched by `fetch` and cached until shortly before it expires. */
function refreshing(
    ctx: AuthContext,
    authType: AuthType,
    description: string,
    hint: string,
    fixedSecrets: string[],
    fetch: () => Promise<IssuedToken>,
    fix: string,
): Credential {
    let cached: (IssuedToken & { issuedAt: number }) | undefined;
    /** A fetch under way, shared by concurrent callers (compare fetches run outputs in parallel). */
    let inflight: Promise<string> | undefined;
    const issued: string[] = [];
    const fresh = (t: IssuedToken & { issuedAt: number }) => t.expiresAt - ctx.now() > Math.min(REFRESH_BEFORE_EXPIRY_MS, (t.expiresAt - t.issuedAt) / 2);
    return {
        authType,
        description,
        hint,
        async getToken() {
            if (cached && fresh(cached)) return cached.token;
            inflight ??= fetchAndCache().finally(() => (inflight = undefined));
            return inflight;
        },
        invalidate() {
            cached = undefined;
        },
        secrets: () => [...fixedSecrets, ...issued],
    };

    async function fetchAndCache(): Promise<string> {
        let token: IssuedToken;
        try {
            token = await fetch();
        } catch (err) {
            // A refresh that fails while the current token is still valid is tried again at the next call.
            if (cached && cached.expiresAt - ctx.now() > 30_000) return cached.token;
            const message = err instanceof Error ? err.message : String(err);
            throw new CliError(`could not get a token with the ${description} (auth type ${authType}): ${message}. To fix: ${fix}`);
        }
        cached = { ...token, issuedAt: ctx.now() };
        issued.push(token.token);
        return token.token;
    }
}

// ---------------------------------------------------------------------------------------------
// Workspace OAuth (oauth-m2m and the OIDC token exchanges)

/** The workspace's token endpoint, from its OAuth authorization server metadata. */
async function workspaceTokenEndpoint(ctx: AuthContext): Promise<string> {
    const metadata = await tokenRequest(ctx, {
        what: "OAuth endpoint discovery",
        method: "GET",
        url: `${ctx.host}/oidc/.well-known/oauth-authorization-server`,
    });
    const endpoint = metadata.token_endpoint;
    if (typeof endpoint !== "string" || endpoint === "") throw new CliError(`${ctx.host}/oidc/.well-known/oauth-authorization-server has no token_endpoint`);
    return endpoint;
}

/** An ID token from GitHub Actions for `audience`. */
async function githubIdToken(ctx: AuthContext, audience: string): Promise<string> {
    const url = attr(ctx, "actions_id_token_request_url")!;
    const body = await tokenRequest(ctx, {
        what: "GitHub Actions ID token request",
        method: "GET",
        // The URL GitHub gives already has a query (api-version), hence "&".
        url: `${url}${url.includes("?") ? "&" : "?"}audience=${encodeURIComponent(audience)}`,
        headers: { authorization: `Bearer ${attr(ctx, "actions_id_token_request_token")}` },
    });
    if (typeof body.value !== "string" || body.value === "") throw new CliError("the GitHub Actions ID token answer has no value");
    return body.value;
}

/** Databricks workload identity federation: an ID token exchanged at the workspace's token endpoint. */
function oidcExchange(ctx: AuthContext, idToken: (audience: string) => Promise<string>): () => Promise<IssuedToken> {
    let endpoint: string | undefined;
    return async () => {
        endpoint ??= await workspaceTokenEndpoint(ctx);
        const subject = await idToken(attr(ctx, "token_audience") ?? endpoint);
        const body = await tokenRequest(ctx, {
            what: "Databricks OIDC token exchange",
            method: "POST",
            url: endpoint,
            form: {
                grant_type: TOKEN_EXCHANGE_GRANT,
                subject_token: subject,
                subject_token_type: JWT_TOKEN_TYPE,
                scope: "all-apis",
                client_id: attr(ctx, "client_id"),
            },
        });
        return oauthToken(ctx, "Databricks OIDC token exchange", body);
    };
}

const ACTIONS_NEEDS: [AttributeName, string][] = [
    ["actions_id_token_request_url", "ACTIONS_ID_TOKEN_REQUEST_URL"],
    ["actions_id_token_request_token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"],
];
const ACTIONS_NOTE = " (GitHub sets ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN in a job with `permissions: id-token: write`)";

const WORKSPACE_HINT = "check that the identity is a user or service principal of this workspace with CAN MANAGE RUN (or CAN VIEW for compare) on the jobs";

// ---------------------------------------------------------------------------------------------
// Commands (az, databricks)

function runCommand(file: string, args: string[], env: Env, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile(file, args, { env: env as NodeJS.ProcessEnv, timeout: Math.max(timeoutMs, 30_000), windowsHide: true }, (err, stdout, stderr) => {
            if (err) {
                const first = String(stderr || err.message)
                    .trim()
                    .split("\n")
                    .find((l) => l.trim() !== "");
                reject(new Error(`\`${path.basename(file)} ${args.slice(0, 2).join(" ")}\` failed: ${first ?? `exit ${String(err.code)}`}`));
                return;
            }
            resolve(String(stdout));
        });
    });
}

function parseJsonOutput(text: string, what: string): Record<string, unknown> {
    try {
        return JSON.parse(text) as Record<string, unknown>;
    } catch {
        throw new Error(`${what} did not print JSON`);
    }
}

/** The Databricks CLI's U2M token cache (~/.databricks/token-cache.json) has an entry for the host. */
function databricksCliLoggedIn(ctx: AuthContext): boolean {
    const home = ctx.env.HOME || ctx.env.USERPROFILE;
    if (!home) return false;
    try {
        const cache = JSON.parse(fs.readFileSync(path.join(home, ".databricks", "token-cache.json"), "utf8")) as { tokens?: Record<string, unknown> };
        return Object.keys(cache.tokens ?? {}).some((key) => key.replace(/\/+$/, "") === ctx.host);
    } catch {
        return false;
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies, in the SDKs' order

const pat: Strategy = {
    name: "pat",
    configure(ctx) {
        const token = attr(ctx, "token");
        if (!token) return notConfigured("pat", ["DATABRICKS_TOKEN (or `token` in the profile)"], ctx, ["token"]);
        return {
            authType: "pat",
            description: `personal access token from ${sources(ctx, "token")}`,
            hint: "check that the token is valid and not expired, that it belongs to this workspace, and that its user can view and run the jobs",
            getToken: async () => token,
            invalidate: () => undefined,
            secrets: () => [token],
        };
    },
};

const oauthM2m: Strategy = {
    name: "oauth-m2m",
    configure(ctx) {
        const needs = missing(ctx, [
            ["client_id", "DATABRICKS_CLIENT_ID"],
            ["client_secret", "DATABRICKS_CLIENT_SECRET"],
        ]);
        if (needs.length) return notConfigured("oauth-m2m", needs, ctx, ["client_id", "client_secret"], " (or client_id/client_secret in the profile)");
        const clientId = attr(ctx, "client_id")!;
        const secret = attr(ctx, "client_secret")!;
        let endpoint: string | undefined;
        return refreshing(
            ctx,
            "oauth-m2m",
            `OAuth service principal ${clientId} from ${sources(ctx, "client_id", "client_secret")}`,
            `${WORKSPACE_HINT}; the OAuth secret must belong to that service principal`,
            [secret],
            async () => {
                endpoint ??= await workspaceTokenEndpoint(ctx);
                const body = await tokenRequest(ctx, {
                    what: "OAuth client-credentials request",
                    method: "POST",
                    url: endpoint,
                    headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString("base64")}` },
                    form: { grant_type: "client_credentials", scope: "all-apis" },
                });
                return oauthToken(ctx, "OAuth client-credentials request", body);
            },
            "check DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET (an OAuth secret of the service principal, from the account console or the workspace admin settings)",
        );
    },
};

const databricksCli: Strategy = {
    name: "databricks-cli",
    configure(ctx, forced) {
        const cli = findExecutable(attr(ctx, "databricks_cli_path") ?? "databricks", ctx.env);
        if (!cli) return notConfigured("databricks-cli", ["the Databricks CLI on PATH (or DATABRICKS_CLI_PATH)"], ctx, ["databricks_cli_path"]);
        if (!forced && !databricksCliLoggedIn(ctx)) {
            return { why: `databricks-cli needs a \`databricks auth login --host ${ctx.host}\` first`, partial: false };
        }
        return refreshing(
            ctx,
            "databricks-cli",
            `Databricks CLI login (databricks auth login) for ${ctx.host}`,
            "check that your user can view and run the jobs",
            [],
            async () => {
                const out = parseJsonOutput(await runCommand(cli, ["auth", "token", "--host", ctx.host], ctx.env, ctx.timeoutMs), "`databricks auth token`");
                const token = out.access_token;
                if (typeof token !== "string" || !token) throw new Error("`databricks auth token` printed no access_token");
                const expiry = typeof out.expiry === "string" ? Date.parse(out.expiry) : NaN;
                return { token, expiresAt: Number.isNaN(expiry) ? ctx.now() + 3600_000 : expiry };
            },
            `run \`databricks auth login --host ${ctx.host}\``,
        );
    },
};

const githubOidc: Strategy = {
    name: "github-oidc",
    configure(ctx, forced) {
        const needs = missing(ctx, ACTIONS_NEEDS);
        // Unforced, it needs the federated service principal's client id: without one (account-wide
        // federation) it is only chosen with DATABRICKS_AUTH_TYPE=github-oidc, so that a job that
        // logs in to Azure with OIDC is not taken for a Databricks federation.
        if (!forced && !attr(ctx, "client_id")) needs.push("DATABRICKS_CLIENT_ID (or DATABRICKS_AUTH_TYPE=github-oidc for account-wide federation)");
        if (needs.length) return notConfigured("github-oidc", needs, ctx, [], ACTIONS_NOTE);
        const clientId = attr(ctx, "client_id");
        return refreshing(
            ctx,
            "github-oidc",
            `GitHub Actions OIDC token federated with ${clientId ? `service principal ${clientId}` : "the Databricks account"} (workload identity federation)`,
            `${WORKSPACE_HINT}; the federation policy must accept this repository's token subject and audience`,
            [attr(ctx, "actions_id_token_request_token")!],
            oidcExchange(ctx, (audience) => githubIdToken(ctx, audience)),
            "check the service principal's federation policy (issuer https://token.actions.githubusercontent.com, subject and audience) and DATABRICKS_CLIENT_ID",
        );
    },
};

const envOidc: Strategy = {
    name: "env-oidc",
    configure(ctx) {
        const variable = attr(ctx, "oidc_token_env") ?? "DATABRICKS_OIDC_TOKEN";
        if (!ctx.env[variable]) return notConfigured("env-oidc", [variable], ctx, ["oidc_token_env"]);
        return refreshing(
            ctx,
            "env-oidc",
            `OIDC token from ${variable} (workload identity federation${attr(ctx, "client_id") ? ` with service principal ${attr(ctx, "client_id")}` : ""})`,
            `${WORKSPACE_HINT}; the federation policy must accept the token's issuer, subject and audience`,
            [ctx.env[variable]!],
            oidcExchange(ctx, async () => {
                const token = ctx.env[variable]?.trim();
                if (!token) throw new Error(`${variable} is empty`);
                return token;
            }),
            `check ${variable} and the federation policy`,
        );
    },
};

const fileOidc: Strategy = {
    name: "file-oidc",
    configure(ctx) {
        const file = attr(ctx, "oidc_token_filepath");
        if (!file) return notConfigured("file-oidc", ["DATABRICKS_OIDC_TOKEN_FILEPATH"], ctx, []);
        return refreshing(
            ctx,
            "file-oidc",
            `OIDC token from the file ${file} (workload identity federation)`,
            `${WORKSPACE_HINT}; the federation policy must accept the token's issuer, subject and audience`,
            [],
            oidcExchange(ctx, async () => {
                const token = fs.readFileSync(file, "utf8").trim();
                if (!token) throw new Error(`${file} is empty`);
                return token;
            }),
            `check ${file} and the federation policy`,
        );
    },
};

/** Azure AD v1 client-credentials request for the AzureDatabricks resource (as the Go SDK makes it). */
async function azureAdToken(ctx: AuthContext, what: string, form: Record<string, string>): Promise<IssuedToken> {
    const tenant = attr(ctx, "azure_tenant_id")!;
    const body = await tokenRequest(ctx, {
        what,
        method: "POST",
        url: `${azureAuthority(ctx)}${encodeURIComponent(tenant)}/oauth2/token`,
        form: { grant_type: "client_credentials", resource: azureLoginAppId(ctx), client_id: attr(ctx, "azure_client_id")!, ...form },
    });
    return oauthToken(ctx, what, body);
}

const AZURE_NOT_AZURE = " for an Azure Databricks host (*.azuredatabricks.net) or DATABRICKS_AZURE_RESOURCE_ID";
const AZURE_SP_HINT = "check that the service principal is added to the workspace and has CAN MANAGE RUN (or CAN VIEW for compare) on the jobs";

const githubOidcAzure: Strategy = {
    name: "github-oidc-azure",
    configure(ctx, forced) {
        const needs = missing(ctx, [["azure_client_id", "ARM_CLIENT_ID"], ["azure_tenant_id", "ARM_TENANT_ID"], ...ACTIONS_NEEDS]);
        if (needs.length) return notConfigured("github-oidc-azure", needs, ctx, ["azure_client_id", "azure_tenant_id"], ACTIONS_NOTE);
        if (!isAzure(ctx, forced)) return { why: `github-oidc-azure works only${AZURE_NOT_AZURE}`, partial: true };
        const clientId = attr(ctx, "azure_client_id")!;
        return refreshing(
            ctx,
            "github-oidc-azure",
            `GitHub Actions OIDC token federated with Azure app ${clientId} (tenant from ${sources(ctx, "azure_tenant_id")})`,
            AZURE_SP_HINT,
            [attr(ctx, "actions_id_token_request_token")!],
            async () => {
                // A new GitHub ID token for every exchange: they expire within minutes.
                const assertion = await githubIdToken(ctx, AZURE_TOKEN_EXCHANGE_AUDIENCE);
                return azureAdToken(ctx, "Azure AD token request (federated GitHub assertion)", {
                    client_assertion_type: JWT_BEARER_ASSERTION,
                    client_assertion: assertion,
                });
            },
            "check ARM_CLIENT_ID/ARM_TENANT_ID and the app registration's federated credential (issuer https://token.actions.githubusercontent.com, this repository's subject, audience api://AzureADTokenExchange)",
        );
    },
};

const azureMsi: Strategy = {
    name: "azure-msi",
    configure(ctx, forced) {
        if (!flag(ctx, "azure_use_msi")) return notConfigured("azure-msi", ["ARM_USE_MSI=true (or azure_use_msi in the profile)"], ctx, ["azure_use_msi"]);
        if (!isAzure(ctx, forced)) return { why: `azure-msi works only${AZURE_NOT_AZURE}`, partial: true };
        const clientId = attr(ctx, "azure_client_id");
        const imds = (ctx.env.AZURE_POD_IDENTITY_AUTHORITY_HOST?.trim() || IMDS_HOST).replace(/\/+$/, "");
        return refreshing(
            ctx,
            "azure-msi",
            clientId ? `Azure managed identity ${clientId} (ARM_USE_MSI)` : "Azure managed identity of this machine (ARM_USE_MSI)",
            "check that the managed identity is added to the workspace and has CAN MANAGE RUN (or CAN VIEW for compare) on the jobs",
            [],
            async () => {
                const url = new URL(`${imds}/metadata/identity/oauth2/token`);
                url.searchParams.set("api-version", "2018-02-01");
                url.searchParams.set("resource", azureLoginAppId(ctx));
                if (clientId) url.searchParams.set("client_id", clientId);
                const body = await tokenRequest(ctx, {
                    what: "Azure managed identity token request (IMDS)",
                    method: "GET",
                    url: url.toString(),
                    headers: { Metadata: "true" },
                });
                return oauthToken(ctx, "IMDS token request", body);
            },
            "run on an Azure VM or container with a managed identity (set ARM_CLIENT_ID for a user-assigned one)",
        );
    },
};

const azureClientSecret: Strategy = {
    name: "azure-client-secret",
    configure(ctx, forced) {
        const needs = missing(ctx, [
            ["azure_client_id", "ARM_CLIENT_ID"],
            ["azure_client_secret", "ARM_CLIENT_SECRET"],
            ["azure_tenant_id", "ARM_TENANT_ID"],
        ]);
        if (needs.length)
            return notConfigured(
                "azure-client-secret",
                needs,
                ctx,
                ["azure_client_id", "azure_client_secret"],
                " (or azure_client_id/azure_client_secret/azure_tenant_id in the profile)",
            );
        if (!isAzure(ctx, forced)) return { why: `azure-client-secret works only${AZURE_NOT_AZURE}`, partial: true };
        const secret = attr(ctx, "azure_client_secret")!;
        return refreshing(
            ctx,
            "azure-client-secret",
            `Azure service principal ${attr(ctx, "azure_client_id")} from ${sources(ctx, "azure_client_id", "azure_client_secret", "azure_tenant_id")}`,
            AZURE_SP_HINT,
            [secret],
            () => azureAdToken(ctx, "Azure AD token request (client secret)", { client_secret: secret }),
            "check ARM_TENANT_ID, ARM_CLIENT_ID and ARM_CLIENT_SECRET (or the profile's azure_* fields)",
        );
    },
};

const azureCli: Strategy = {
    name: "azure-cli",
    configure(ctx, forced) {
        if (!isAzure(ctx, forced)) return { why: `azure-cli works only${AZURE_NOT_AZURE}`, partial: false };
        const az = findExecutable("az", ctx.env);
        if (!az) return { why: "azure-cli needs the Azure CLI (az) on PATH", partial: false };
        const tenant = attr(ctx, "azure_tenant_id");
        return refreshing(
            ctx,
            "azure-cli",
            "Azure CLI login (az login)",
            "check `az account show` (right tenant and subscription) and that your Azure AD identity is a member of the workspace with permission on the jobs",
            [],
            async () => {
                const args = ["account", "get-access-token", "--resource", azureLoginAppId(ctx), "--output", "json", ...(tenant ? ["--tenant", tenant] : [])];
                const out = parseJsonOutput(await runCommand(az, args, ctx.env, ctx.timeoutMs), "`az account get-access-token`");
                const token = out.accessToken;
                if (typeof token !== "string" || !token) throw new Error("`az account get-access-token` printed no accessToken");
                const epoch = num(out.expires_on);
                const local = typeof out.expiresOn === "string" ? Date.parse(out.expiresOn.replace(" ", "T")) : NaN;
                return { token, expiresAt: epoch !== undefined ? epoch * 1000 : Number.isNaN(local) ? ctx.now() + 600_000 : local };
            },
            "run `az login` (and `az account set` to the workspace's tenant), or set DATABRICKS_TOKEN / use --profile",
        );
    },
};

const STRATEGIES: readonly Strategy[] = [pat, oauthM2m, databricksCli, githubOidc, envOidc, fileOidc, githubOidcAzure, azureMsi, azureClientSecret, azureCli];

// ---------------------------------------------------------------------------------------------
// Choosing

function isCredential(x: Credential | NotConfigured): x is Credential {
    return "getToken" in x;
}

/** The credential the attributes make, following the header's rules. */
export function resolveCredential(ctx: AuthContext): Credential {
    const forced = ctx.attrs.auth_type;
    if (forced) {
        const strategy = STRATEGIES.find((s) => s.name === forced.value);
        if (!strategy) {
            const known = OTHER_SDK_AUTH_TYPES.includes(forced.value);
            throw new UsageError(
                `${forced.source} is auth type '${forced.value}', which ${known ? "this tool does not support" : "is not a Databricks auth type"}: ` +
                    `use one of ${AUTH_TYPES.join(", ")} (or unset it to pick the first that is configured)`,
            );
        }
        const result = strategy.configure(ctx, true);
        if (isCredential(result)) return result;
        throw new UsageError(`${forced.source} is auth type '${forced.value}', but ${result.why}`);
    }
    const partial: string[] = [];
    for (const strategy of STRATEGIES) {
        const result = strategy.configure(ctx, false);
        if (isCredential(result)) return result;
        if (result.partial) partial.push(result.why);
    }
    throw new UsageError(
        `no credentials for ${ctx.host}: ` +
            (partial.length ? `${partial.join("; ")}. ` : "") +
            `Set DATABRICKS_TOKEN, or DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET (OAuth service principal), or use --profile with a profile in ` +
            `the Databricks config file, or ARM_CLIENT_ID/ARM_TENANT_ID with ARM_CLIENT_SECRET or GitHub OIDC, or \`az login\` for an Azure Databricks host; ` +
            `DATABRICKS_AUTH_TYPE picks one (see docs/jobs-cli.md)`,
    );
}
