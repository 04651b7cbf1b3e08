import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "chai";
import { explicitHost, normalizeHost, readConfigFile, resolveAuthAttributes, sensitiveEnvValues, type Env } from "../cli/config";
import { UsageError } from "../cli/errors";
import { isolatedEnv, tempDir } from "./fixtures/jobs/harness";

const AZ_HOST = "https://adb-1234567890123456.7.azuredatabricks.net";

function withConfig(text: string, extra: Env = {}): Env {
    const dir = tempDir();
    const file = path.join(dir, "databrickscfg");
    fs.writeFileSync(file, text);
    return isolatedEnv({ DATABRICKS_CONFIG_FILE: file, ...extra });
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

[m2m]
host = ${AZ_HOST}
client_id = 11111111-2222-3333-4444-555555555555
client_secret = dose0123456789
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
        it("prefers --host, then the named profile's host (as the Databricks CLI), then DATABRICKS_HOST", () => {
            const env = withConfig(CFG, { DATABRICKS_HOST: "https://adb-555.5.azuredatabricks.net" });
            const cfg = readConfigFile(env);
            expect(explicitHost("https://adb-777.7.azuredatabricks.net", "dev", env, cfg)).to.deep.equal({
                host: "https://adb-777.7.azuredatabricks.net",
                source: "--host",
            });
            expect(explicitHost(undefined, "dev", env, cfg)).to.deep.equal({
                host: "https://adb-999.9.azuredatabricks.net",
                source: "profile dev",
            });
            expect(explicitHost(undefined, "cli", env, cfg)!.host, "profile cli has the same host").to.equal(AZ_HOST);
            expect(explicitHost(undefined, undefined, env, cfg)!.source).to.equal("DATABRICKS_HOST");
            const noEnvHost = withConfig(CFG);
            expect(explicitHost(undefined, undefined, noEnvHost, readConfigFile(noEnvHost)), "the stack decides, not DEFAULT").to.be.undefined;
        });

        it("names a malformed DATABRICKS_HOST", () => {
            const env = isolatedEnv({ DATABRICKS_HOST: "https://exa mple.com" });
            expect(() => explicitHost(undefined, undefined, env, readConfigFile(env))).to.throw(/DATABRICKS_HOST 'https:\/\/exa mple\.com' is not a valid URL/);
        });

        it("names an unknown profile and lists the known ones", () => {
            const env = withConfig(CFG);
            expect(() => explicitHost(undefined, "prod", env, readConfigFile(env))).to.throw(
                /--profile names profile 'prod', which is not in .* \(profiles there: DEFAULT, dev, sp, cli, empty, m2m\)/,
            );
            const none = isolatedEnv({ DATABRICKS_CONFIG_PROFILE: "x" });
            expect(() => explicitHost(undefined, undefined, none, readConfigFile(none))).to.throw(
                /DATABRICKS_CONFIG_PROFILE names profile 'x', but the Databricks config file .* does not exist/,
            );
        });
    });

    describe("authentication attributes (Databricks CLI/SDK loading rules)", () => {
        it("reads the SDK's variables from the environment and leaves the config file alone when any auth variable is set", () => {
            const env = withConfig(CFG, { DATABRICKS_TOKEN: "dapi-env", ARM_ENVIRONMENT: "usgovernment" });
            const { attrs, profile } = resolveAuthAttributes(AZ_HOST, undefined, env, readConfigFile(env));
            expect(profile, "DEFAULT has the same host, but DATABRICKS_TOKEN is set").to.be.undefined;
            expect(attrs.token).to.deep.equal({ value: "dapi-env", source: "DATABRICKS_TOKEN" });
            expect(attrs.azure_environment).to.deep.equal({ value: "usgovernment", source: "ARM_ENVIRONMENT" });
        });

        it("--profile: the profile's auth attributes and auth_type win, the environment fills only what it leaves empty", () => {
            const env = withConfig(CFG, {
                DATABRICKS_TOKEN: "dapi-env",
                DATABRICKS_AUTH_TYPE: "azure-cli",
                ARM_TENANT_ID: "tenant-env",
                ARM_ENVIRONMENT: "china",
            });
            const { attrs, profile } = resolveAuthAttributes(AZ_HOST, "cli", env, readConfigFile(env));
            expect(profile).to.deep.equal({ name: "cli", source: "--profile" });
            expect(attrs.auth_type?.value).to.equal("azure-cli");
            expect(attrs.auth_type?.source).to.match(/^profile cli in .*databrickscfg$/);
            expect(attrs.azure_tenant_id, "a gap the environment fills").to.deep.equal({ value: "tenant-env", source: "ARM_TENANT_ID" });
            expect(attrs.azure_environment?.source, "a non-auth variable still wins").to.equal("ARM_ENVIRONMENT");
            const dev = resolveAuthAttributes(AZ_HOST, "dev", env, readConfigFile(env));
            expect(dev.attrs.token?.value).to.equal("dapi-dev-token");
            expect(dev.attrs.auth_type, "dev has no auth_type: DATABRICKS_AUTH_TYPE fills it").to.deep.equal({
                value: "azure-cli",
                source: "DATABRICKS_AUTH_TYPE",
            });
        });

        it("DATABRICKS_CONFIG_PROFILE: the environment first, the profile filling the gaps (the SDK's order)", () => {
            const env = withConfig(CFG, {
                DATABRICKS_CONFIG_PROFILE: "sp",
                ARM_CLIENT_SECRET: "env-secret",
                ACTIONS_ID_TOKEN_REQUEST_URL: "https://gh.example/x",
            });
            const { attrs, profile } = resolveAuthAttributes(AZ_HOST, undefined, env, readConfigFile(env));
            expect(profile).to.deep.equal({ name: "sp", source: "DATABRICKS_CONFIG_PROFILE" });
            expect(attrs.azure_client_secret).to.deep.equal({ value: "env-secret", source: "ARM_CLIENT_SECRET" });
            expect(attrs.azure_client_id?.value).to.equal("00000000-0000-0000-0000-0000000000aa");
            expect(attrs.actions_id_token_request_url?.source, "GitHub's variables only exist in the environment").to.equal("ACTIONS_ID_TOKEN_REQUEST_URL");
        });

        it("a host from --profile wins over DATABRICKS_HOST; one from DATABRICKS_CONFIG_PROFILE does not", () => {
            const env = withConfig(CFG, { DATABRICKS_HOST: "https://adb-555.5.azuredatabricks.net", DATABRICKS_CONFIG_PROFILE: "dev" });
            expect(explicitHost(undefined, undefined, env, readConfigFile(env))!.source).to.equal("DATABRICKS_HOST");
            expect(explicitHost(undefined, "dev", env, readConfigFile(env))!.source).to.equal("profile dev");
        });

        it("uses the one profile whose host is the workspace when the environment has no auth variable", () => {
            const env = withConfig(CFG);
            const dev = resolveAuthAttributes("https://adb-999.9.azuredatabricks.net", undefined, env, readConfigFile(env));
            expect(dev.profile).to.deep.equal({ name: "dev", source: "the workspace host" });
            expect(dev.attrs.token?.value).to.equal("dapi-dev-token");
            const none = resolveAuthAttributes("https://adb-555.5.azuredatabricks.net", undefined, env, readConfigFile(env));
            expect(none.profile).to.be.undefined;
            expect(none.attrs).to.deep.equal({});
        });

        it("does not look for a profile by host when DATABRICKS_AUTH_TYPE is set (forcing azure-cli needs only host and auth type)", () => {
            const env = withConfig(CFG, { DATABRICKS_AUTH_TYPE: "azure-cli" });
            const { attrs, profile } = resolveAuthAttributes("https://adb-999.9.azuredatabricks.net", undefined, env, readConfigFile(env));
            expect(profile).to.be.undefined;
            expect(attrs.token).to.be.undefined;
        });

        it("refuses to guess between several profiles with the workspace's host", () => {
            const env = withConfig(CFG);
            expect(() => resolveAuthAttributes(AZ_HOST, undefined, env, readConfigFile(env))).to.throw(
                UsageError,
                /5 profiles in .* have the host https:\/\/adb-1234567890123456\.7\.azuredatabricks\.net \(DEFAULT, sp, cli, empty, m2m\): choose one with --profile/,
            );
        });

        it("does not read auth from a profile's GitHub request URL (those are the environment's)", () => {
            const env = withConfig(`[gh]\nhost = ${AZ_HOST}\nactions_id_token_request_token = x\n`);
            const { attrs } = resolveAuthAttributes(AZ_HOST, "gh", env, readConfigFile(env));
            expect(attrs.actions_id_token_request_token).to.be.undefined;
        });

        it("knows the secret values of the environment to scrub them from messages", () => {
            expect(sensitiveEnvValues({ DATABRICKS_TOKEN: "a1b2", ARM_CLIENT_SECRET: "c3d4", ARM_CLIENT_ID: "id" }).sort()).to.deep.equal(["a1b2", "c3d4"]);
        });
    });
});
