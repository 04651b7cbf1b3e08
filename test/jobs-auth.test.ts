/**
 * The jobs CLI's authentication matrix (docs/jobs-cli.md, "Authentication"), one test per row,
 * against the fake workspace and its fake identity providers (test/fixtures/jobs/identity.ts):
 * each credential is obtained with the real protocol and then accepted by the workspace, which
 * `jobs auth describe` shows by naming the caller (SCIM Me).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "chai";
import { azureAuthority, resolveCredential } from "../cli/auth";
import { GITHUB_ID_TOKEN_PATH, GITHUB_ISSUER, signJwt, type IdentityOptions } from "./fixtures/jobs/identity";
import { GOOD_TOKEN, startFakeWorkspace, type FakeWorkspace, type FakeWorkspaceOptions } from "./fixtures/jobs/server";
import { fakeClock, fakeCommand, isolatedEnv, runCli, tempDir } from "./fixtures/jobs/harness";

const DATABRICKS_SP = "6f1c2a9e-5d4b-4c3a-9b8e-7f6d5c4b3a21";
const DATABRICKS_SP_SECRET = "dose7a1b2c3d4e5f60718293a4b5c6d7e8f9";
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const AZURE_APP = "3b9a5c1e-8f2d-4e6a-b1c7-d9e0f1a2b3c4";
const AZURE_SECRET = "Xy8Q~azure-client-secret-value";
const SUBJECT = "repo:octo-org/notebook-orchestration:pull_request";
const REQUEST_TOKEN = "ghs_runnerIdTokenRequest0123456789";
const USER_MSI = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a";

const IDENTITY: IdentityOptions = {
    oauthClients: { [DATABRICKS_SP]: DATABRICKS_SP_SECRET },
    federationPolicies: [
        { clientId: DATABRICKS_SP, issuer: GITHUB_ISSUER, subject: SUBJECT },
        { clientId: DATABRICKS_SP, issuer: "https://issuer.example.com", subject: "system:serviceaccount:etl:runner" },
    ],
    azureApps: [{ tenantId: TENANT, clientId: AZURE_APP, secret: AZURE_SECRET, federatedSubject: SUBJECT }],
    managedIdentities: ["", USER_MSI],
    github: { requestToken: REQUEST_TOKEN, subject: SUBJECT },
};

/** An ID token from another OIDC issuer (a Kubernetes service account, say) for env-oidc / file-oidc. */
function externalIdToken(ws: FakeWorkspace): string {
    const iat = Math.floor(Date.now() / 1000);
    return signJwt({ iss: "https://issuer.example.com", sub: "system:serviceaccount:etl:runner", aud: `${ws.url}/oidc/v1/token`, iat, exp: iat + 600 });
}

function writeConfig(text: string): string {
    const file = path.join(tempDir(), ".databrickscfg");
    fs.writeFileSync(file, text);
    return file;
}

describe("jobs: authentication matrix (cli/auth.ts) against the fake workspace and identity providers", () => {
    let ws: FakeWorkspace;
    const start = async (options: FakeWorkspaceOptions = {}): Promise<void> => {
        ws = await startFakeWorkspace({ identity: IDENTITY, ...options });
    };
    afterEach(async () => {
        await ws?.close();
    });
    /** The environment of a test: the workspace host and the identity endpoints pointed at the fake. */
    const env = (extra: Record<string, string | undefined>) => isolatedEnv({ DATABRICKS_HOST: ws.url, ...ws.identity.env(), ...extra });
    const withoutGithub = (extra: Record<string, string | undefined>) =>
        env({ ACTIONS_ID_TOKEN_REQUEST_URL: undefined, ACTIONS_ID_TOKEN_REQUEST_TOKEN: undefined, ...extra });
    const tokenCalls = (p: string) => ws.calls.filter((c) => c.path === p);

    describe("one row per auth type", () => {
        it("pat: DATABRICKS_TOKEN", async () => {
            await start();
            const res = await runCli(["auth", "describe"], { env: withoutGithub({ DATABRICKS_TOKEN: GOOD_TOKEN }) });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stdout).to.include("User: deployer@example.com");
            expect(res.stdout).to.include("Authenticated with: pat (personal access token from DATABRICKS_TOKEN)");
            expect(res.stdout).to.include("✓ token: ******** (from DATABRICKS_TOKEN)");
            expect(res.stdout).not.to.include(GOOD_TOKEN);
        });

        it("pat: `token` of the profile named with --profile", async () => {
            await start();
            const cfg = writeConfig(`[ci]\nhost = ${ws.url}\ntoken = ${GOOD_TOKEN}\n`);
            const res = await runCli(["auth", "describe", "--profile", "ci"], { env: isolatedEnv({ DATABRICKS_CONFIG_FILE: cfg }) });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stdout).to.match(
                /Host: http:\/\/127\.0\.0\.1:\d+\nUser: deployer@example\.com\nAuthenticated with: pat \(personal access token from profile ci in /,
            );
            expect(res.stdout).to.include("✓ profile: ci (from --profile)");
        });

        it("oauth-m2m: DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET, client credentials at the discovered token endpoint", async () => {
            await start();
            const res = await runCli(["auth", "describe"], {
                env: withoutGithub({ DATABRICKS_CLIENT_ID: DATABRICKS_SP, DATABRICKS_CLIENT_SECRET: DATABRICKS_SP_SECRET }),
            });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stdout).to.include(`User: ${DATABRICKS_SP}`);
            expect(res.stdout).to.include(
                `Authenticated with: oauth-m2m (OAuth service principal ${DATABRICKS_SP} from DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET)`,
            );
            expect(tokenCalls("/oidc/.well-known/oauth-authorization-server").length).to.equal(1);
            const [token] = tokenCalls("/oidc/v1/token");
            expect(token.body).to.deep.equal({ grant_type: "client_credentials", scope: "all-apis" });
            expect(token.authorization, "client secret by HTTP Basic, as the SDKs send it").to.equal(
                `Basic ${Buffer.from(`${DATABRICKS_SP}:${DATABRICKS_SP_SECRET}`).toString("base64")}`,
            );
            expect(res.stdout + res.stderr).not.to.include(DATABRICKS_SP_SECRET);
        });

        it("oauth-m2m: client_id/client_secret of a profile with auth_type = oauth-m2m", async () => {
            await start();
            const cfg = writeConfig(`[sp]\nhost = ${ws.url}\nauth_type = oauth-m2m\nclient_id = ${DATABRICKS_SP}\nclient_secret = ${DATABRICKS_SP_SECRET}\n`);
            const res = await runCli(["auth", "describe", "--profile", "sp"], { env: isolatedEnv({ DATABRICKS_CONFIG_FILE: cfg }) });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stdout).to.match(/Authenticated with: oauth-m2m \(OAuth service principal .* from profile sp in /);
        });

        it("databricks-cli: `databricks auth token --host` after a `databricks auth login`", async () => {
            await start();
            const argsFile = path.join(tempDir(), "args");
            const bin = fakeCommand(
                "databricks",
                `echo "$@" > "${argsFile}"\necho '{"access_token": "${GOOD_TOKEN}", "token_type": "Bearer", "expiry": "2099-01-01T00:00:00Z"}'`,
            );
            const e = withoutGithub({ PATH: `${bin}:/usr/bin:/bin` });
            fs.mkdirSync(path.join(e.HOME!, ".databricks"));
            fs.writeFileSync(path.join(e.HOME!, ".databricks", "token-cache.json"), JSON.stringify({ version: 1, tokens: { [ws.url]: {} } }));
            const res = await runCli(["auth", "describe"], { env: e });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stdout).to.include("Authenticated with: databricks-cli");
            expect(fs.readFileSync(argsFile, "utf8").trim()).to.equal(`auth token --host ${ws.url}`);
        });

        it("github-oidc: a GitHub ID token exchanged at the workspace (federation policy of DATABRICKS_CLIENT_ID)", async () => {
            await start();
            const res = await runCli(["auth", "describe"], { env: env({ DATABRICKS_CLIENT_ID: DATABRICKS_SP }) });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stdout).to.include("Authenticated with: github-oidc");
            expect(
                ws.identity.idTokens.map((t) => t.audience),
                "audience: the token endpoint, the SDKs' default",
            ).to.deep.equal([`${ws.url}/oidc/v1/token`]);
            const [exchange] = tokenCalls("/oidc/v1/token");
            expect(exchange.body).to.include({
                grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
                subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
                scope: "all-apis",
                client_id: DATABRICKS_SP,
            });
            const github = tokenCalls(GITHUB_ID_TOKEN_PATH)[0];
            expect(github.authorization).to.equal(`Bearer ${REQUEST_TOKEN}`);
            expect(github.query["api-version"], "the runner's URL keeps its query").to.equal("2.0");
        });

        it("env-oidc: an ID token in DATABRICKS_OIDC_TOKEN (or the variable DATABRICKS_OIDC_TOKEN_ENV names)", async () => {
            await start();
            const res = await runCli(["auth", "describe"], {
                env: withoutGithub({ DATABRICKS_CLIENT_ID: DATABRICKS_SP, DATABRICKS_OIDC_TOKEN: externalIdToken(ws) }),
            });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stdout).to.include("Authenticated with: env-oidc (OIDC token from DATABRICKS_OIDC_TOKEN");
            const named = await runCli(["auth", "describe"], {
                env: withoutGithub({ DATABRICKS_CLIENT_ID: DATABRICKS_SP, DATABRICKS_OIDC_TOKEN_ENV: "K8S_TOKEN", K8S_TOKEN: externalIdToken(ws) }),
            });
            expect(named.code, named.stderr).to.equal(0);
            expect(named.stdout).to.include("OIDC token from K8S_TOKEN");
        });

        it("file-oidc: an ID token in the file DATABRICKS_OIDC_TOKEN_FILEPATH", async () => {
            await start();
            const file = path.join(tempDir(), "token");
            fs.writeFileSync(file, `${externalIdToken(ws)}\n`);
            const res = await runCli(["auth", "describe"], {
                env: withoutGithub({ DATABRICKS_CLIENT_ID: DATABRICKS_SP, DATABRICKS_OIDC_TOKEN_FILEPATH: file }),
            });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stdout).to.include(`Authenticated with: file-oidc (OIDC token from the file ${file}`);
        });

        it("github-oidc-azure: the pull-request workflow's environment (OIDC federated Azure app, no secret) runs a job", async () => {
            await start();
            const stepEnv = env({
                DATABRICKS_AUTH_TYPE: "github-oidc-azure",
                ARM_USE_OIDC: "true",
                ARM_CLIENT_ID: AZURE_APP,
                ARM_TENANT_ID: TENANT,
                ARM_SUBSCRIPTION_ID: "00000000-0000-0000-0000-000000000001",
            });
            const res = await runCli(["run", "--job-id", "123"], { env: stepEnv });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stderr).to.include(
                `authenticating with the GitHub Actions OIDC token federated with Azure app ${AZURE_APP} (tenant from ARM_TENANT_ID) (auth type github-oidc-azure)`,
            );
            expect(res.stdout).to.match(/Run 9001: PENDING -> RUNNING -> TERMINATED SUCCESS/);
            expect(ws.identity.idTokens.map((t) => t.audience)).to.deep.equal(["api://AzureADTokenExchange"]);
            const [aad] = tokenCalls(`/${TENANT}/oauth2/token`);
            expect(aad.body).to.include({
                grant_type: "client_credentials",
                client_id: AZURE_APP,
                resource: "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d",
                client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            });
            expect(aad.body?.client_secret).to.be.undefined;
            const apiTokens = new Set(ws.calls.filter((c) => c.path.startsWith("/api/")).map((c) => c.authorization));
            expect([...apiTokens]).to.deep.equal([`Bearer ${ws.identity.issued[0].token}`]);
        });

        it("github-oidc-azure: chosen without DATABRICKS_AUTH_TYPE when ARM_CLIENT_ID/ARM_TENANT_ID and GitHub's variables are set (no 'ARM_CLIENT_SECRET is not set')", async () => {
            await start();
            const res = await runCli(["auth", "describe"], {
                env: env({
                    ARM_CLIENT_ID: AZURE_APP,
                    ARM_TENANT_ID: TENANT,
                    DATABRICKS_AZURE_RESOURCE_ID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w",
                }),
            });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stdout).to.include(`User: ${AZURE_APP}`);
            expect(res.stdout).to.include("Authenticated with: github-oidc-azure");
        });

        it("azure-msi: ARM_USE_MSI, the system-assigned identity or the user-assigned one in ARM_CLIENT_ID, from IMDS", async () => {
            await start();
            const system = await runCli(["auth", "describe"], { env: withoutGithub({ DATABRICKS_AUTH_TYPE: "azure-msi", ARM_USE_MSI: "true" }) });
            expect(system.code, system.stderr).to.equal(0);
            expect(system.stdout).to.include("Authenticated with: azure-msi (Azure managed identity of this machine (ARM_USE_MSI))");
            const user = await runCli(["auth", "describe"], {
                env: withoutGithub({
                    ARM_USE_MSI: "true",
                    ARM_CLIENT_ID: USER_MSI,
                    DATABRICKS_AZURE_RESOURCE_ID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w",
                }),
            });
            expect(user.code, user.stderr).to.equal(0);
            expect(user.stdout).to.include(`User: ${USER_MSI}`);
            const imds = tokenCalls("/metadata/identity/oauth2/token");
            expect(imds.map((c) => c.query)).to.deep.equal([
                { "api-version": "2018-02-01", resource: "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d" },
                { "api-version": "2018-02-01", resource: "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", client_id: USER_MSI },
            ]);
        });

        it("azure-client-secret: ARM_CLIENT_ID/ARM_CLIENT_SECRET/ARM_TENANT_ID, Azure AD client credentials", async () => {
            await start();
            const res = await runCli(["auth", "describe"], {
                env: withoutGithub({
                    ARM_CLIENT_ID: AZURE_APP,
                    ARM_CLIENT_SECRET: AZURE_SECRET,
                    ARM_TENANT_ID: TENANT,
                    DATABRICKS_AZURE_RESOURCE_ID: "/subscriptions/s/rg/w",
                }),
            });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stdout).to.include(
                `Authenticated with: azure-client-secret (Azure service principal ${AZURE_APP} from ARM_CLIENT_ID/ARM_CLIENT_SECRET/ARM_TENANT_ID)`,
            );
            expect(tokenCalls(`/${TENANT}/oauth2/token`)[0].body).to.include({
                client_id: AZURE_APP,
                client_secret: AZURE_SECRET,
                resource: "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d",
            });
            expect(res.stdout + res.stderr).not.to.include(AZURE_SECRET);
        });

        it("azure-client-secret: azure_client_id/azure_client_secret/azure_tenant_id of a profile with its auth_type", async () => {
            await start();
            const cfg = writeConfig(
                `[azure-sp]\nhost = ${ws.url}\nauth_type = azure-client-secret\nazure_client_id = ${AZURE_APP}\nazure_client_secret = ${AZURE_SECRET}\nazure_tenant_id = ${TENANT}\n`,
            );
            const res = await runCli(["auth", "describe"], {
                env: isolatedEnv({ ...ws.identity.env(), DATABRICKS_CONFIG_FILE: cfg, DATABRICKS_CONFIG_PROFILE: "azure-sp" }),
            });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stdout).to.match(/Authenticated with: azure-client-secret \(Azure service principal .* from profile azure-sp in /);
            expect(res.stdout).to.include("✓ profile: azure-sp (from DATABRICKS_CONFIG_PROFILE)");
        });

        it("azure-cli: `az account get-access-token` for the AzureDatabricks resource (and ARM_TENANT_ID's tenant)", async () => {
            await start();
            const argsFile = path.join(tempDir(), "args");
            const bin = fakeCommand(
                "az",
                `echo "$@" > "${argsFile}"\necho '{"accessToken": "${GOOD_TOKEN}", "expiresOn": "2099-01-01 00:00:00.000000", "expires_on": 4070908800, "tenant": "${TENANT}", "tokenType": "Bearer"}'`,
            );
            const res = await runCli(["auth", "describe"], {
                env: withoutGithub({ DATABRICKS_AUTH_TYPE: "azure-cli", ARM_TENANT_ID: TENANT, PATH: `${bin}:/usr/bin:/bin` }),
            });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stdout).to.include("Authenticated with: azure-cli (Azure CLI login (az login))");
            expect(fs.readFileSync(argsFile, "utf8").trim()).to.equal(
                `account get-access-token --resource 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d --output json --tenant ${TENANT}`,
            );
        });
    });

    describe("Azure AD authority", () => {
        const ctx = (env: Record<string, string>, host = "https://adb-1.1.azuredatabricks.net", environment?: string) => ({
            host,
            env,
            attrs: environment ? { azure_environment: { value: environment, source: "ARM_ENVIRONMENT" } } : {},
        });
        it("follows ARM_ENVIRONMENT or the host's cloud, and AZURE_AUTHORITY_HOST overrides both (as Azure Identity)", () => {
            expect(azureAuthority(ctx({}))).to.equal("https://login.microsoftonline.com/");
            expect(azureAuthority(ctx({}, "https://adb-1.1.azuredatabricks.net", "USGovernment"))).to.equal("https://login.microsoftonline.us/");
            expect(azureAuthority(ctx({}, "https://adb-2.2.databricks.azure.cn"))).to.equal("https://login.chinacloudapi.cn/");
            expect(azureAuthority(ctx({ AZURE_AUTHORITY_HOST: "http://127.0.0.1:8080" }, undefined, "china"))).to.equal("http://127.0.0.1:8080/");
        });
    });

    describe("precedence (the SDKs' order)", () => {
        it("a personal access token wins over OAuth and Azure variables set at the same time", async () => {
            await start();
            const res = await runCli(["auth", "describe", "-o", "json"], {
                env: env({
                    DATABRICKS_TOKEN: GOOD_TOKEN,
                    DATABRICKS_CLIENT_ID: DATABRICKS_SP,
                    DATABRICKS_CLIENT_SECRET: DATABRICKS_SP_SECRET,
                    ARM_CLIENT_ID: AZURE_APP,
                    ARM_TENANT_ID: TENANT,
                }),
            });
            expect(res.code, res.stderr).to.equal(0);
            const doc = JSON.parse(res.stdout) as { auth_type: string; user: string; settings: { name: string; value: string; source: string }[] };
            expect(doc.auth_type).to.equal("pat");
            expect(doc.settings.find((s) => s.name === "client_secret")).to.deep.equal({
                name: "client_secret",
                value: "********",
                source: "DATABRICKS_CLIENT_SECRET",
            });
        });

        it("OAuth M2M wins over Azure; GitHub OIDC for Azure wins over an Azure client secret", async () => {
            await start();
            const resourceId = "/subscriptions/s/rg/w";
            const m2m = await runCli(["auth", "describe"], {
                env: env({
                    DATABRICKS_CLIENT_ID: DATABRICKS_SP,
                    DATABRICKS_CLIENT_SECRET: DATABRICKS_SP_SECRET,
                    ARM_CLIENT_ID: AZURE_APP,
                    ARM_CLIENT_SECRET: AZURE_SECRET,
                    ARM_TENANT_ID: TENANT,
                }),
            });
            expect(m2m.stdout).to.include("Authenticated with: oauth-m2m");
            const oidc = await runCli(["auth", "describe"], {
                env: env({ ARM_CLIENT_ID: AZURE_APP, ARM_CLIENT_SECRET: AZURE_SECRET, ARM_TENANT_ID: TENANT, DATABRICKS_AZURE_RESOURCE_ID: resourceId }),
            });
            expect(oidc.stdout).to.include("Authenticated with: github-oidc-azure");
        });
    });

    describe("long runs: tokens are cached and fetched again before they expire", () => {
        it("github-oidc-azure over a 40-minute wait with 10-minute tokens: a fresh GitHub ID token for each exchange, never an expired token", async () => {
            const clock = fakeClock();
            await start({
                now: clock.now,
                identity: { ...IDENTITY, accessTokenSeconds: 600, idTokenSeconds: 300 },
                outcomes: { "123": { result: "SUCCESS", steps: 40 } },
            });
            const res = await runCli(["run", "--job-id", "123", "--poll-interval", "60", "--timeout", "1h"], {
                env: env({ DATABRICKS_AUTH_TYPE: "github-oidc-azure", ARM_CLIENT_ID: AZURE_APP, ARM_TENANT_ID: TENANT }),
                now: clock.now,
                sleep: clock.sleep,
                pollIntervalMs: undefined,
            });
            expect(res.code, res.stderr).to.equal(0);
            const issued = ws.identity.issued;
            expect(issued.length, `${issued.length} tokens`).to.be.within(6, 10);
            expect(ws.identity.idTokens.length, "one GitHub ID token per exchange").to.equal(issued.length);
            for (let i = 1; i < issued.length; i++) {
                expect(issued[i].issuedAt, "refreshed before the previous one expired").to.be.below(issued[i - 1].expiresAt);
            }
            expect(ws.calls.filter((c) => c.path.startsWith("/api/")).every((c) => c.authorization !== undefined)).to.equal(true);
            // Word boundaries: the fake listens on a random port, which may well contain "401".
            expect(res.stderr).not.to.match(/expired|\b401\b/);
        });

        it("concurrent callers share one token request; a 503 from the token endpoint is retried", async () => {
            await start({ faults: [{ path: "/oidc/v1/token", status: 503, body: { error: "temporarily_unavailable" } }] });
            const sleeps: number[] = [];
            const credential = resolveCredential({
                host: ws.url,
                attrs: {
                    client_id: { value: DATABRICKS_SP, source: "DATABRICKS_CLIENT_ID" },
                    client_secret: { value: DATABRICKS_SP_SECRET, source: "DATABRICKS_CLIENT_SECRET" },
                },
                env: {},
                now: Date.now,
                sleep: async (ms) => void sleeps.push(ms),
                timeoutMs: 2000,
            });
            const tokens = await Promise.all([credential.getToken(), credential.getToken(), credential.getToken()]);
            expect(new Set(tokens).size).to.equal(1);
            expect(tokenCalls("/oidc/v1/token").length, "one 503, one retry").to.equal(2);
            expect(sleeps).to.deep.equal([1000]);
            expect(credential.secrets()).to.include.members([DATABRICKS_SP_SECRET, tokens[0]]);
        });

        it("a token refused with 401 before its time is fetched again, once", async () => {
            await start({ faults: [{ path: "/api/2.2/jobs/get", status: 401, body: { error_code: "UNAUTHENTICATED", message: "Token is expired." } }] });
            const res = await runCli(["run", "--job-id", "123", "--no-wait"], {
                env: withoutGithub({ DATABRICKS_CLIENT_ID: DATABRICKS_SP, DATABRICKS_CLIENT_SECRET: DATABRICKS_SP_SECRET }),
            });
            expect(res.code, res.stderr).to.equal(0);
            expect(tokenCalls("/oidc/v1/token").length).to.equal(2);
        });
    });

    describe("bad input and refused credentials", () => {
        it("names an auth type of the SDKs this tool does not support, and one that does not exist", async () => {
            await start();
            const basic = await runCli(["auth", "describe"], { env: env({ DATABRICKS_AUTH_TYPE: "basic" }) });
            expect(basic.code).to.equal(2);
            expect(basic.stderr).to.match(
                /Error: DATABRICKS_AUTH_TYPE is auth type 'basic', which this tool does not support: use one of pat, oauth-m2m, databricks-cli, github-oidc, env-oidc, file-oidc, github-oidc-azure, azure-msi, azure-client-secret, azure-cli/,
            );
            const typo = await runCli(["auth", "describe"], { env: env({ DATABRICKS_AUTH_TYPE: "github-oidc-azur" }) });
            expect(typo.stderr).to.match(/DATABRICKS_AUTH_TYPE is auth type 'github-oidc-azur', which is not a Databricks auth type/);
            const cfg = writeConfig(`[old]\nhost = ${ws.url}\nauth_type = google-id\n`);
            const fromProfile = await runCli(["auth", "describe", "--profile", "old"], { env: isolatedEnv({ DATABRICKS_CONFIG_FILE: cfg }) });
            expect(fromProfile.stderr).to.match(/Error: profile old in .*\.databrickscfg is auth type 'google-id', which this tool does not support/);
        });

        it("a forced github-oidc-azure without GitHub's variables says the job needs id-token: write", async () => {
            await start();
            const res = await runCli(["auth", "describe"], {
                env: withoutGithub({ DATABRICKS_AUTH_TYPE: "github-oidc-azure", ARM_CLIENT_ID: AZURE_APP, ARM_TENANT_ID: TENANT }),
            });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.include(
                "Error: DATABRICKS_AUTH_TYPE is auth type 'github-oidc-azure', but github-oidc-azure needs ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN (GitHub sets ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN in a job with `permissions: id-token: write`)",
            );
        });

        it("ARM_CLIENT_ID/ARM_TENANT_ID alone (no secret, no GitHub token, no az) list what each Azure auth type lacks", async () => {
            await start();
            const res = await runCli(["auth", "describe"], {
                env: withoutGithub({ ARM_CLIENT_ID: AZURE_APP, ARM_TENANT_ID: TENANT, DATABRICKS_AZURE_RESOURCE_ID: "/subscriptions/s/rg/w" }),
            });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(
                /Error: no credentials for http:\/\/127\.0\.0\.1:\d+: github-oidc-azure needs ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN .*; azure-client-secret needs ARM_CLIENT_SECRET/,
            );
        });

        it("a wrong ARM_CLIENT_SECRET: Azure AD's AADSTS error, what to check, and never the secret", async () => {
            await start();
            const wrong = "Zz9~not-the-secret-at-all";
            const res = await runCli(["auth", "describe"], {
                env: withoutGithub({ DATABRICKS_AUTH_TYPE: "azure-client-secret", ARM_CLIENT_ID: AZURE_APP, ARM_CLIENT_SECRET: wrong, ARM_TENANT_ID: TENANT }),
            });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(
                /Error: could not get a token with the Azure service principal .* \(auth type azure-client-secret\): Azure AD token request \(client secret\) to http:\/\/127\.0\.0\.1:\d+\/72f988bf-86f1-41af-91ab-2d7cd011db47\/oauth2\/token was refused \(HTTP 401, invalid_client: AADSTS7000215: Invalid client secret provided.*To fix: check ARM_TENANT_ID, ARM_CLIENT_ID and ARM_CLIENT_SECRET/,
            );
            expect(res.stderr).not.to.include(wrong);
        });

        it("a repository without a federated credential on the app: AADSTS70021", async () => {
            await start({ identity: { ...IDENTITY, github: { requestToken: REQUEST_TOKEN, subject: "repo:someone-else/fork:pull_request" } } });
            const res = await runCli(["auth", "describe"], {
                env: env({ DATABRICKS_AUTH_TYPE: "github-oidc-azure", ARM_CLIENT_ID: AZURE_APP, ARM_TENANT_ID: TENANT }),
            });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(
                /AADSTS70021: No matching federated identity record found for presented assertion.*Assertion Subject: 'repo:someone-else\/fork:pull_request'/,
            );
            expect(res.stderr).to.match(/To fix: check ARM_CLIENT_ID\/ARM_TENANT_ID and the app registration's federated credential/);
            expect(res.stderr).not.to.include(REQUEST_TOKEN);
        });

        it("an unknown ARM_TENANT_ID and a wrong GitHub request token are named", async () => {
            await start();
            const tenant = await runCli(["auth", "describe"], {
                env: env({ DATABRICKS_AUTH_TYPE: "github-oidc-azure", ARM_CLIENT_ID: AZURE_APP, ARM_TENANT_ID: "contoso.onmicrosoft.com" }),
            });
            expect(tenant.stderr).to.match(/AADSTS90002: Tenant 'contoso\.onmicrosoft\.com' not found/);
            const github = await runCli(["auth", "describe"], {
                env: env({
                    DATABRICKS_AUTH_TYPE: "github-oidc-azure",
                    ARM_CLIENT_ID: AZURE_APP,
                    ARM_TENANT_ID: TENANT,
                    ACTIONS_ID_TOKEN_REQUEST_TOKEN: "ghs_expired",
                }),
            });
            expect(github.stderr).to.match(
                /GitHub Actions ID token request to http:\/\/127\.0\.0\.1:\d+\/_apis\/.*\/idtoken was refused \(HTTP 401, Unauthorized/,
            );
            expect(github.stderr).not.to.include("ghs_expired");
        });

        it("a wrong OAuth secret and an unknown managed identity are refused with the provider's words", async () => {
            await start();
            const m2m = await runCli(["auth", "describe"], {
                env: withoutGithub({ DATABRICKS_CLIENT_ID: DATABRICKS_SP, DATABRICKS_CLIENT_SECRET: "dose-wrong-secret" }),
            });
            expect(m2m.stderr).to.match(/OAuth client-credentials request .* was refused \(HTTP 401, invalid_client: Client authentication failed\)/);
            const msi = await runCli(["auth", "describe"], {
                env: withoutGithub({ DATABRICKS_AUTH_TYPE: "azure-msi", ARM_USE_MSI: "true", ARM_CLIENT_ID: "no-such-identity" }),
            });
            expect(msi.stderr).to.match(/Azure managed identity token request \(IMDS\) .* was refused \(HTTP 400, invalid_request: Identity not found\)/);
        });

        it("a token endpoint that does not answer is tried three times, then named", async () => {
            await start({ faults: [{ path: "/oidc/v1/token", hang: true, times: 3 }] });
            const res = await runCli(["auth", "describe"], {
                env: withoutGithub({ DATABRICKS_CLIENT_ID: DATABRICKS_SP, DATABRICKS_CLIENT_SECRET: DATABRICKS_SP_SECRET }),
                timeoutMs: 100,
            });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(/OAuth client-credentials request to http:\/\/127\.0\.0\.1:\d+\/oidc\/v1\/token failed: no answer within 0\.1s/);
            expect(tokenCalls("/oidc/v1/token").length).to.equal(3);
            expect(res.sleeps).to.deep.equal([1000, 2000]);
        });

        it("an unknown ARM_ENVIRONMENT names the variable and the clouds", async () => {
            await start();
            const res = await runCli(["auth", "describe"], {
                env: withoutGithub({
                    DATABRICKS_AUTH_TYPE: "azure-client-secret",
                    ARM_CLIENT_ID: AZURE_APP,
                    ARM_CLIENT_SECRET: AZURE_SECRET,
                    ARM_TENANT_ID: TENANT,
                    AZURE_AUTHORITY_HOST: undefined,
                    ARM_ENVIRONMENT: "mars",
                }),
            });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(/ARM_ENVIRONMENT 'mars' is not an Azure environment: expected one of public, usgovernment, china/);
        });

        it("a malformed ARM_USE_MSI and a missing OIDC token file are named", async () => {
            await start();
            const msi = await runCli(["auth", "describe"], {
                env: withoutGithub({ ARM_USE_MSI: "ture", DATABRICKS_AZURE_RESOURCE_ID: "/subscriptions/s/rg/w" }),
            });
            expect(msi.code).to.equal(2);
            expect(msi.stderr).to.include("Error: ARM_USE_MSI is 'ture': expected true or false");
            const file = path.join(tempDir(), "missing-token");
            const oidc = await runCli(["auth", "describe"], { env: withoutGithub({ DATABRICKS_OIDC_TOKEN_FILEPATH: file }) });
            expect(oidc.code).to.equal(2);
            expect(oidc.stderr).to.include(
                `could not get a token with the OIDC token from the file ${file} (workload identity federation) (auth type file-oidc): ENOENT`,
            );
        });

        it("a failing `az` says to log in", async () => {
            await start();
            const bin = fakeCommand("az", `echo "ERROR: Please run 'az login' to setup account." >&2\nexit 1`);
            const res = await runCli(["auth", "describe"], { env: withoutGithub({ DATABRICKS_AUTH_TYPE: "azure-cli", PATH: `${bin}:/usr/bin:/bin` }) });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(/`az account get-access-token` failed: ERROR: Please run 'az login' to setup account\..*To fix: run `az login`/);
        });

        it("no credentials at all for a workspace that is not Azure", async () => {
            await start();
            const res = await runCli(["auth", "describe"], { env: withoutGithub({}) });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(
                /Error: no credentials for http:\/\/127\.0\.0\.1:\d+: Set DATABRICKS_TOKEN, or DATABRICKS_CLIENT_ID\/DATABRICKS_CLIENT_SECRET/,
            );
        });
    });
});
