import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "chai";
import { AZURE_DATABRICKS_SCOPE, explicitHost, normalizeHost, readConfigFile, resolveCredential, type AzureFactories, type Env } from "../cli/config";
import { UsageError } from "../cli/errors";
import { isolatedEnv, rejectionOf, tempDir } from "./fixtures/jobs/harness";

const AZ_HOST = "https://adb-1234567890123456.7.azuredatabricks.net";

function withConfig(text: string, extra: Env = {}): Env {
    const dir = tempDir();
    const file = path.join(dir, "databrickscfg");
    fs.writeFileSync(file, text);
    return isolatedEnv({ DATABRICKS_CONFIG_FILE: file, ...extra });
}

/** Fake Azure credentials that record what they were asked for. */
function fakeAzure(log: string[]): AzureFactories {
    return {
        azureCli: () => ({
            getToken: async (scope) => {
                log.push(`cli ${String(scope)}`);
                return { token: "aad-cli-token", expiresOnTimestamp: Date.now() + 3600_000 };
            },
        }),
        clientSecret: (tenant, clientId, secret) => ({
            getToken: async (scope) => {
                log.push(`sp ${tenant} ${clientId} ${secret.length} ${String(scope)}`);
                return { token: "aad-sp-token", expiresOnTimestamp: Date.now() + 3600_000 };
            },
        }),
    };
}

const CFG = `
[DEFAULT]
host = ${AZ_HOST}
token = dapi-default-token

[dev]
host = https://adb-999.9.azuredatabricks.net/
token = dapi-dev-token

[sp]
host = ${AZ_HOST}
azure_client_id = 00000000-0000-0000-0000-0000000000aa
azure_client_secret = sp-secret-value
azure_tenant_id = tenant-1

[cli]
host = ${AZ_HOST}
auth_type = azure-cli

[empty]
host = ${AZ_HOST}
`;

describe("jobs: host and authentication (cli/config.ts)", () => {
    describe("normalizeHost", () => {
        it("keeps the origin of a workspace URL, adding https and dropping ?o= and fragments", () => {
            expect(normalizeHost(`${AZ_HOST}/`, "--host")).to.equal(AZ_HOST);
            expect(normalizeHost("adb-1234567890123456.7.azuredatabricks.net", "--host")).to.equal(AZ_HOST);
            expect(normalizeHost(`${AZ_HOST}/?o=1234567890123456#job/1/run/2`, "--host")).to.equal(AZ_HOST);
            expect(normalizeHost("http://127.0.0.1:8080", "--host")).to.equal("http://127.0.0.1:8080");
        });

        const bad: [string, RegExp][] = [
            ["not a host", /--host 'not a host' is not a valid URL: expected the workspace URL/],
            ["ftp://adb-1.azuredatabricks.net", /has scheme 'ftp'/],
            ["http://adb-1.azuredatabricks.net", /uses http/],
            [`${AZ_HOST}/api/2.2`, /has a path \('\/api\/2\.2'\)/],
            ["https://user:pw@adb-1.azuredatabricks.net", /must not contain credentials/],
            ["https://-bad-.example", /no valid host name/],
            ["   ", /--host is empty/],
        ];
        for (const [value, message] of bad) {
            it(`rejects '${value}' naming the flag`, () => {
                expect(() => normalizeHost(value, "--host")).to.throw(UsageError, message);
            });
        }
        it("does not echo credentials embedded in a URL", () => {
            expect(() => normalizeHost("https://user:pw@x.example", "DATABRICKS_HOST"))
                .to.throw()
                .with.property("message")
                .that.does.not.include("pw");
        });
    });

    describe("host resolution", () => {
        it("prefers --host, then DATABRICKS_HOST, then the named profile's host", () => {
            const env = withConfig(CFG, { DATABRICKS_HOST: "https://adb-555.5.azuredatabricks.net" });
            const cfg = readConfigFile(env);
            expect(explicitHost("https://adb-777.7.azuredatabricks.net", "dev", env, cfg)).to.deep.equal({
                host: "https://adb-777.7.azuredatabricks.net",
                source: "--host",
            });
            expect(explicitHost(undefined, "dev", env, cfg)!.source).to.equal("DATABRICKS_HOST");
            const noEnvHost = withConfig(CFG);
            expect(explicitHost(undefined, "dev", noEnvHost, readConfigFile(noEnvHost))).to.deep.equal({
                host: "https://adb-999.9.azuredatabricks.net",
                source: "profile dev",
            });
            expect(explicitHost(undefined, undefined, noEnvHost, readConfigFile(noEnvHost)), "the stack decides, not DEFAULT").to.be.undefined;
        });

        it("names a malformed DATABRICKS_HOST", () => {
            const env = isolatedEnv({ DATABRICKS_HOST: "https://exa mple.com" });
            expect(() => explicitHost(undefined, undefined, env, readConfigFile(env))).to.throw(/DATABRICKS_HOST 'https:\/\/exa mple\.com' is not a valid URL/);
        });

        it("names an unknown profile and lists the known ones", () => {
            const env = withConfig(CFG);
            expect(() => explicitHost(undefined, "prod", env, readConfigFile(env))).to.throw(
                /--profile names profile 'prod', which is not in .* \(profiles there: DEFAULT, dev, sp, cli, empty\)/,
            );
            const none = isolatedEnv({ DATABRICKS_CONFIG_PROFILE: "x" });
            expect(() => explicitHost(undefined, undefined, none, readConfigFile(none))).to.throw(
                /DATABRICKS_CONFIG_PROFILE names profile 'x', but the Databricks config file .* does not exist/,
            );
        });
    });

    describe("credentials", () => {
        it("uses DATABRICKS_TOKEN as a personal access token", async () => {
            const cred = resolveCredential({ host: AZ_HOST, env: isolatedEnv({ DATABRICKS_TOKEN: "dapi-env" }), cfg: readConfigFile(isolatedEnv()) });
            expect(cred.kind).to.equal("pat");
            expect(cred.description).to.equal("personal access token from DATABRICKS_TOKEN");
            expect(await cred.getToken()).to.equal("dapi-env");
        });

        it("uses the token of the profile given with --profile, over DATABRICKS_TOKEN", async () => {
            const env = withConfig(CFG, { DATABRICKS_TOKEN: "dapi-env" });
            const cred = resolveCredential({ host: AZ_HOST, profileFlag: "dev", env, cfg: readConfigFile(env) });
            expect(cred.description).to.match(/^personal access token from profile dev in .*databrickscfg$/);
            expect(await cred.getToken()).to.equal("dapi-dev-token");
        });

        it("picks the profile whose host is the workspace when nothing else is set", async () => {
            const env = withConfig(CFG);
            const cred = resolveCredential({ host: "https://adb-999.9.azuredatabricks.net", env, cfg: readConfigFile(env) });
            expect(await cred.getToken()).to.equal("dapi-dev-token");
            const def = resolveCredential({ host: AZ_HOST, env, cfg: readConfigFile(env) });
            expect(def.description).to.match(/profile DEFAULT/);
        });

        it("uses a service principal from ARM_* variables with the Azure Databricks scope", async () => {
            const log: string[] = [];
            const env = isolatedEnv({ ARM_CLIENT_ID: "app-1", ARM_CLIENT_SECRET: "s3cret", ARM_TENANT_ID: "tenant-9" });
            const cred = resolveCredential({ host: AZ_HOST, env, cfg: readConfigFile(env), azure: fakeAzure(log) });
            expect(cred.kind).to.equal("azure-client-secret");
            expect(cred.description).to.equal("Azure service principal app-1 from ARM_CLIENT_ID/ARM_CLIENT_SECRET/ARM_TENANT_ID");
            expect(await cred.getToken()).to.equal("aad-sp-token");
            expect(await cred.getToken()).to.equal("aad-sp-token");
            expect(log, "token cached until near expiry").to.deep.equal([`sp tenant-9 app-1 6 ${AZURE_DATABRICKS_SCOPE}`]);
            expect(cred.secrets()).to.include("s3cret");
        });

        it("names the missing ARM_* variable of an incomplete service principal", () => {
            const env = isolatedEnv({ ARM_CLIENT_ID: "app-1", ARM_TENANT_ID: "t" });
            expect(() => resolveCredential({ host: AZ_HOST, env, cfg: readConfigFile(env) })).to.throw(/ARM_CLIENT_SECRET is not set/);
        });

        it("uses a profile's service principal and a profile's auth_type = azure-cli", async () => {
            const log: string[] = [];
            const env = withConfig(CFG);
            const sp = resolveCredential({ host: AZ_HOST, profileFlag: "sp", env, cfg: readConfigFile(env), azure: fakeAzure(log) });
            expect(sp.description).to.match(/^Azure service principal 00000000-0000-0000-0000-0000000000aa from profile sp in /);
            const cli = resolveCredential({ host: AZ_HOST, profileFlag: "cli", env, cfg: readConfigFile(env), azure: fakeAzure(log) });
            expect(cli.description).to.equal("Azure CLI login (az login)");
            expect(await cli.getToken()).to.equal("aad-cli-token");
            expect(() => resolveCredential({ host: AZ_HOST, profileFlag: "empty", env, cfg: readConfigFile(env) })).to.throw(/profile empty .* has no token/);
        });

        it("falls back to the Azure CLI for an Azure Databricks host, and says how to log in when it fails", async () => {
            const env = isolatedEnv();
            const failing: AzureFactories = {
                azureCli: () => ({
                    getToken: async () => {
                        throw new Error("Azure CLI could not be found. Please visit https://aka.ms/azure-cli for installation instructions");
                    },
                }),
                clientSecret: () => {
                    throw new Error("unused");
                },
            };
            const cred = resolveCredential({ host: AZ_HOST, env, cfg: readConfigFile(env), azure: failing });
            expect(cred.kind).to.equal("azure-cli");
            expect((await rejectionOf(cred.getToken())).message).to.match(
                /could not get an Azure AD token with the Azure CLI login \(az login\): Azure CLI could not be found.*run `az login`/,
            );
        });

        it("honours DATABRICKS_AUTH_TYPE and rejects kinds this tool does not support", () => {
            const env = isolatedEnv({ DATABRICKS_TOKEN: "dapi-env", DATABRICKS_AUTH_TYPE: "azure-cli" });
            expect(resolveCredential({ host: AZ_HOST, env, cfg: readConfigFile(env), azure: fakeAzure([]) }).kind).to.equal("azure-cli");
            const m2m = isolatedEnv({ DATABRICKS_AUTH_TYPE: "oauth-m2m" });
            expect(() => resolveCredential({ host: AZ_HOST, env: m2m, cfg: readConfigFile(m2m) })).to.throw(
                /DATABRICKS_AUTH_TYPE 'oauth-m2m' is not supported/,
            );
        });

        it("says what to set when there are no credentials for a non-Azure host", () => {
            const env = isolatedEnv();
            expect(() => resolveCredential({ host: "http://127.0.0.1:9", env, cfg: readConfigFile(env) })).to.throw(
                /no credentials for http:\/\/127\.0\.0\.1:9: set DATABRICKS_TOKEN, or use --profile/,
            );
        });
    });
});
