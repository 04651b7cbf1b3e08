import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import * as YAML from "yaml";
import { CONFIG_DEFAULTS, ConfigSource, parseStackConfig, StackConfigError } from "../components/config";
import { closestName, declaredConfigKeys, editDistance, findUnknownConfigKeys, OBJECT_CONFIG_KEYS, PROVIDER_NAMESPACES } from "../components/configKeys";
import { runtimeSupportNotice } from "../components/compute";
import { quartzCronProblem } from "../components/quartz";
import { configSource, PROJECT, REQUIRED_CONFIG, runStack } from "./support/stack";

function problemsFor(values: Record<string, string>, stack = "dev", secretKeys: string[] = []): StackConfigError {
    try {
        parseStackConfig(configSource({ ...REQUIRED_CONFIG, ...values }, stack, secretKeys));
    } catch (error) {
        expect(error).to.be.instanceOf(StackConfigError);
        return error as StackConfigError;
    }
    throw new Error("expected the configuration to be rejected");
}

function unwrap<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => output.apply(resolve));
}

describe("stack configuration", () => {
    it("reads a minimal development stack with the documented defaults", () => {
        const config = parseStackConfig(configSource(REQUIRED_CONFIG));
        expect(config.mode).to.equal("development");
        expect(config.compute.mode).to.equal("shared");
        expect(config.orchestration.maxWorkers).to.equal(4);
        expect(config.jobs.sequentialSchedule).to.deep.equal({ quartzCronExpression: "0 0 2 * * ?", timezoneId: "UTC", pauseStatus: "PAUSED" });
        expect(config.jobs.parallelSchedule.pauseStatus).to.equal("PAUSED");
        expect(config.secrets.purgeProtection).to.equal(false);
        expect(config.secrets.softDeleteRetentionDays).to.equal(7);
        expect(config.data.schema).to.equal("notebook_orchestration_dev");
        expect(config.workspace).to.deep.include({ create: false, host: REQUIRED_CONFIG.databricksHost });
    });

    it("unpauses schedules and protects the vault in production", () => {
        const config = parseStackConfig(configSource({ ...REQUIRED_CONFIG, mode: "production" }, "prod"));
        expect(config.jobs.sequentialSchedule.pauseStatus).to.equal("UNPAUSED");
        expect(config.secrets.purgeProtection).to.equal(true);
        expect(config.secrets.softDeleteRetentionDays).to.equal(90);
    });

    it("lets an explicit schedulePaused win over the mode", () => {
        const config = parseStackConfig(configSource({ ...REQUIRED_CONFIG, mode: "production", schedulePaused: "true" }, "prod"));
        expect(config.jobs.parallelSchedule.pauseStatus).to.equal("PAUSED");
    });

    it("rejects maxWorkers 0, naming the key, the value and the range", () => {
        const error = problemsFor({ maxWorkers: "0" });
        expect(error.problems).to.have.length(1);
        expect(error.message).to.contain(`${PROJECT}:maxWorkers: got "0"; expected an integer from 1 to 16`);
    });

    it("rejects maxWorkers above the safe limit and says why", () => {
        const error = problemsFor({ maxWorkers: "17" });
        expect(error.message).to.contain(`${PROJECT}:maxWorkers: got "17"; expected an integer from 1 to 16`);
        expect(error.message).to.contain("execution context");
    });

    it("accepts a larger pool only with a larger maxWorkersLimit, never beyond the cluster's contexts", () => {
        expect(parseStackConfig(configSource({ ...REQUIRED_CONFIG, maxWorkers: "32", maxWorkersLimit: "32" })).orchestration.maxWorkers).to.equal(32);
        const error = problemsFor({ maxWorkersLimit: "145" });
        expect(error.message).to.contain(`${PROJECT}:maxWorkersLimit: got "145"; expected an integer from 1 to 144`);
        expect(error.message).to.contain("145 execution contexts");
    });

    it("rejects an unknown compute mode", () => {
        const error = problemsFor({ computeMode: "dedicated" });
        expect(error.message).to.contain(`${PROJECT}:computeMode: got "dedicated"; expected one of 'shared', 'perJob'`);
    });

    it("rejects an invalid quartz cron expression with the reason", () => {
        const fiveFields = problemsFor({ sequentialSchedule: "0 2 * * *" });
        expect(fiveFields.message).to.contain(`${PROJECT}:sequentialSchedule: got "0 2 * * *"; expected a Quartz cron expression (has 5 fields`);
        const bothDays = problemsFor({ parallelSchedule: "0 0 4 * * *" });
        expect(bothDays.message).to.contain("exactly one of day-of-month");
        const badHour = problemsFor({ parallelSchedule: "0 0 25 * * ?" });
        expect(badHour.message).to.contain("hours field '25'");
    });

    it("rejects a stack whose derived vault name would exceed 24 characters", () => {
        const error = problemsFor({}, "feature-long-branch");
        expect(error.message).to.contain(`${PROJECT}:vaultNamePrefix: got "kv-nbo"`);
        expect(error.message).to.contain("'kv-nbo-feature-long-branch-xxxx' is 31 characters");
    });

    it("rejects a missing required key, saying how to find its value", () => {
        const values: Record<string, string> = { ...REQUIRED_CONFIG };
        delete values.databricksServicePrincipalObjectId;
        expect(() => parseStackConfig(configSource(values))).to.throw(StackConfigError, `${PROJECT}:databricksServicePrincipalObjectId: not set`);
        expect(() => parseStackConfig(configSource(values))).to.throw(/az ad sp show --id 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/);
    });

    it("requires the workspace keys unless the stack creates the workspace", () => {
        const values: Record<string, string> = {
            databricksServicePrincipalObjectId: REQUIRED_CONFIG.databricksServicePrincipalObjectId,
            notificationEmails: REQUIRED_CONFIG.notificationEmails,
        };
        const error = (() => {
            try {
                parseStackConfig(configSource(values));
            } catch (e) {
                return e as StackConfigError;
            }
            throw new Error("expected a rejection");
        })();
        expect(error.problems.map((p) => p.key)).to.have.members([
            `${PROJECT}:databricksHost`,
            `${PROJECT}:databricksWorkspaceResourceId`,
            `${PROJECT}:resourceGroupName`,
        ]);
        expect(parseStackConfig(configSource({ ...values, createWorkspace: "true" })).workspace).to.deep.equal({ create: true, location: "westeurope" });
    });

    it("reports every problem at once", () => {
        const error = problemsFor({ maxWorkers: "abc", computeMode: "x", numWorkers: "-1", catalog: "bad-name", notificationEmails: '["not-an-address"]' });
        expect(error.problems.map((p) => p.key.split(":")[1])).to.have.members(["maxWorkers", "computeMode", "numWorkers", "catalog", "notificationEmails"]);
    });

    it("requires at least one address to tell about failed runs", () => {
        expect(problemsFor({ notificationEmails: "[]" }).message).to.contain(
            `${PROJECT}:notificationEmails: got "[]"; expected a JSON array of at least one e-mail address`,
        );
        const unset: Record<string, string> = { ...REQUIRED_CONFIG };
        delete unset.notificationEmails;
        expect(() => parseStackConfig(configSource(unset))).to.throw(
            `${PROJECT}:notificationEmails: not set; expected a JSON array of at least one e-mail address`,
        );
    });

    it("bounds the shared cluster's idle time as the policy pack does", () => {
        expect(problemsFor({ autoterminationMinutes: "121" }).message).to.contain("expected an integer from 10 to 120");
    });

    it("rejects expected seconds for an unknown item, and gives the others to their items", () => {
        const error = problemsFor({ workerExpectedSeconds: '{"daily_sales": 10, "nightly": 5}' });
        expect(error.message).to.contain(
            `${PROJECT}:workerExpectedSeconds: got "{\\"daily_sales\\": 10, \\"nightly\\": 5}"; expected item names among customer_totals, daily_sales, product_sales, order_status (unknown: nightly)`,
        );
        const items = parseStackConfig(configSource({ ...REQUIRED_CONFIG, workerExpectedSeconds: '{"daily_sales": 10}' })).workItems.items;
        expect(items.map((item) => [item.name, item.expectedSeconds])).to.deep.equal([
            ["customer_totals", undefined],
            ["daily_sales", 10],
            ["product_sales", undefined],
            ["order_status", undefined],
        ]);
    });

    it("requires Key Vault secrets to be Pulumi secrets, and never echoes their values", async () => {
        const plain = problemsFor({ keyVaultSecrets: '{"db-password": "hunter2"}' });
        expect(plain.message).to.contain("--secret");
        expect(plain.message).not.to.contain("hunter2");
        const config = parseStackConfig(configSource({ ...REQUIRED_CONFIG, keyVaultSecrets: '{"db-password": "hunter2"}' }, "dev", ["keyVaultSecrets"]));
        expect(config.secrets.secrets.map((s) => s.name)).to.deep.equal(["db-password"]);
        expect(await pulumi.isSecret(config.secrets.secrets[0].value)).to.equal(true);
        expect(await unwrap(config.secrets.secrets[0].value)).to.equal("hunter2");
    });

    it("closes the Key Vault to all networks by default and reads the allow-lists for the deployer's runners", () => {
        expect(parseStackConfig(configSource(REQUIRED_CONFIG)).secrets.network).to.deep.equal({
            publicNetworkAccess: false,
            allowedIpRanges: [],
            allowedSubnetIds: [],
        });
        const subnet = "/subscriptions/sub-1/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-ci/subnets/runners";
        const config = parseStackConfig(
            configSource({
                ...REQUIRED_CONFIG,
                keyVaultAllowedIpRanges: '["203.0.113.7", "198.51.100.0/28"]',
                keyVaultAllowedSubnetIds: JSON.stringify([subnet]),
            }),
        );
        expect(config.secrets.network).to.deep.equal({
            publicNetworkAccess: false,
            allowedIpRanges: ["203.0.113.7", "198.51.100.0/28"],
            allowedSubnetIds: [subnet],
        });
    });

    it("rejects IP rules Key Vault refuses or that come close to opening the vault, naming each", () => {
        const error = problemsFor({
            keyVaultAllowedIpRanges: '["203.0.113.300", "0.0.0.0/0", "198.51.100.7/24", "10.1.0.0/16", "192.0.2.1/33", "01.2.3.4"]',
        });
        expect(error.problems).to.have.length(1);
        expect(error.problems[0].key).to.equal(`${PROJECT}:keyVaultAllowedIpRanges`);
        for (const reason of [
            "'203.0.113.300' is not an IPv4 address or CIDR range",
            "'0.0.0.0/0' allows 4294967296 addresses; at most a /16 is allowed",
            "'198.51.100.7/24' has host bits set (the range starts at 198.51.100.0/24)",
            "'10.1.0.0/16' is a private (RFC 1918) range",
            "'192.0.2.1/33' has prefix length /33",
            "'01.2.3.4' is not an IPv4 address",
        ]) {
            expect(error.message).to.contain(reason);
        }
        expect(problemsFor({ keyVaultAllowedIpRanges: '"203.0.113.7"' }).message).to.contain("expected a JSON array of public IPv4 addresses or CIDR ranges");
        expect(
            problemsFor({ keyVaultAllowedSubnetIds: '["/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"]' }).message,
        ).to.contain("invalid: /subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v");
    });

    it("opens the Key Vault only on explicit request, never in production nor together with an allow-list", () => {
        expect(
            parseStackConfig(configSource({ ...REQUIRED_CONFIG, keyVaultPublicNetworkAccess: "true" }, "pr-5")).secrets.network.publicNetworkAccess,
        ).to.equal(true);
        expect(problemsFor({ mode: "production", keyVaultPublicNetworkAccess: "true" }, "prod").message).to.contain(
            `${PROJECT}:keyVaultPublicNetworkAccess: got "true"; expected false in production`,
        );
        expect(problemsFor({ keyVaultPublicNetworkAccess: "true", keyVaultAllowedIpRanges: '["203.0.113.7"]' }).message).to.contain(
            "an allow-list has no effect on a vault open to all networks",
        );
    });

    it("takes a Log Analytics workspace for the vault's audit logs, by resource id", () => {
        const workspaceId = "/subscriptions/sub-1/resourceGroups/rg-ops/providers/Microsoft.OperationalInsights/workspaces/law-platform";
        expect(parseStackConfig(configSource(REQUIRED_CONFIG)).secrets.logAnalyticsWorkspaceId).to.equal(undefined);
        expect(parseStackConfig(configSource({ ...REQUIRED_CONFIG, keyVaultLogAnalyticsWorkspaceId: workspaceId })).secrets.logAnalyticsWorkspaceId).to.equal(
            workspaceId,
        );
        expect(problemsFor({ keyVaultLogAnalyticsWorkspaceId: "law-platform" }).message).to.contain(
            `${PROJECT}:keyVaultLogAnalyticsWorkspaceId: got "law-platform"; expected a Log Analytics workspace resource id`,
        );
    });

    it("rejects autoscaling bounds given alone or inverted", () => {
        expect(problemsFor({ autoscaleMinWorkers: "2" }).message).to.contain("autoscaleMinWorkers and autoscaleMaxWorkers to be set together");
        expect(problemsFor({ autoscaleMinWorkers: "4", autoscaleMaxWorkers: "2" }).message).to.contain("at least autoscaleMinWorkers (4)");
    });

    it("keeps a notebook's timeout within the job's", () => {
        expect(problemsFor({ notebookTimeoutSeconds: "9000" }).message).to.contain("at most jobTimeoutSeconds (7200)");
    });

    it("declares every scalar key in Pulumi.yaml with the defaults the code uses", () => {
        const project = YAML.parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8")) as {
            config: Record<string, { type: string; default?: unknown; description?: string }>;
        };
        for (const [key, value] of Object.entries(CONFIG_DEFAULTS)) {
            expect(project.config, key).to.have.property(key);
            expect(project.config[key].default, key).to.deep.equal(value);
        }
        for (const [key, declaration] of Object.entries(project.config)) {
            expect(declaration.type, key).to.be.oneOf(["string", "integer", "boolean", "array"]);
            expect(declaration.description, key).to.be.a("string").and.not.be.empty;
        }
    });

    it("has a dev stack file that passes validation", () => {
        const file = YAML.parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> };
        const values = Object.fromEntries(
            Object.entries(file.config).map(([key, value]) => [key.replace(`${PROJECT}:`, ""), typeof value === "string" ? value : JSON.stringify(value)]),
        );
        const config = parseStackConfig(configSource(values));
        expect(config.compute.singleNode).to.equal(true);
        expect(config.jobs.sequentialSchedule.timezoneId).to.equal("Europe/Amsterdam");
    });
});

describe("names the stack derives, used as given", () => {
    it("rejects a vaultNamePrefix it would otherwise have to rewrite, showing the value as set", () => {
        const error = problemsFor({ vaultNamePrefix: "KV_NBO" });
        expect(error.problems).to.have.length(1);
        expect(error.message).to.contain(
            `${PROJECT}:vaultNamePrefix: got "KV_NBO"; expected lower-case letters, digits and single hyphens, not at either end, e.g. 'kv-nbo'`,
        );
        expect(problemsFor({ vaultNamePrefix: "kv--nbo" }).message).to.contain('got "kv--nbo"');
        expect(problemsFor({ vaultNamePrefix: "kv-" }).message).to.contain('got "kv-"');
        expect(parseStackConfig(configSource({ ...REQUIRED_CONFIG, vaultNamePrefix: "kv-data2" })).names.vaultNameBase).to.equal("kv-data2-dev");
    });

    it("rejects a stack name that is not already lower-case words with hyphens, which names would otherwise share", () => {
        for (const stack of ["PR_7", "Dev", "pr.7", "pr--7"]) {
            const error = problemsFor({}, stack);
            expect(error.problems.map((p) => p.key)).to.deep.equal(["stack name"]);
            expect(error.message).to.contain(`stack name: got "${stack}"; expected lower-case letters, digits and single hyphens`);
        }
        expect(problemsFor({}, "PR_7").message).to.contain("e.g. 'pr-7'");
        expect(parseStackConfig(configSource(REQUIRED_CONFIG, "pr-7")).names.prefix).to.equal("notebook-orchestration-pr-7");
    });

    it("refuses tags the stack sets itself instead of overwriting them", () => {
        const error = problemsFor({ tags: '{"Environment": "staging", "team": "data"}' });
        expect(error.message).to.contain(
            `${PROJECT}:tags: got "{\\"Environment\\": \\"staging\\", \\"team\\": \\"data\\"}"; expected tags other than environment, project, managed-by, which the stack sets itself`,
        );
        expect(parseStackConfig(configSource({ ...REQUIRED_CONFIG, tags: '{"team": "data"}' })).names.tags).to.deep.equal({
            team: "data",
            environment: "dev",
            project: PROJECT,
            "managed-by": "pulumi",
        });
    });

    it("says when a key set to an empty value falls back to its default", () => {
        const config = parseStackConfig(configSource({ ...REQUIRED_CONFIG, maxWorkers: "", sparkVersion: "" }));
        expect(config.orchestration.maxWorkers).to.equal(CONFIG_DEFAULTS.maxWorkers);
        expect(config.notices).to.have.members([
            `config key '${PROJECT}:maxWorkers' is set to an empty value, which counts as not set: its default applies (pulumi config rm '${PROJECT}:maxWorkers' says so plainly)`,
            `config key '${PROJECT}:sparkVersion' is set to an empty value, which counts as not set: its default applies (pulumi config rm '${PROJECT}:sparkVersion' says so plainly)`,
        ]);
    });
});

describe("configuration keys nothing reads", () => {
    const declared = declaredConfigKeys(path.join(__dirname, "..", "Pulumi.yaml"));
    /** REQUIRED_CONFIG plus `extra`, with every key the stack sets listed as the engine lists them. */
    function sourceWith(extra: Record<string, string>, secretKeys: string[] = []): ConfigSource {
        const set: Record<string, string> = {};
        for (const [key, value] of Object.entries({ ...REQUIRED_CONFIG, ...extra })) {
            const full = key.includes(":") ? key : `${PROJECT}:${key}`;
            set[full] = secretKeys.includes(key) ? "[secret]" : value;
        }
        return { ...configSource({ ...REQUIRED_CONFIG, ...extra }, "dev", secretKeys), keys: { set, declared } };
    }
    function rejected(extra: Record<string, string>, secretKeys: string[] = []): StackConfigError {
        try {
            parseStackConfig(sourceWith(extra, secretKeys));
        } catch (error) {
            expect(error).to.be.instanceOf(StackConfigError);
            return error as StackConfigError;
        }
        throw new Error("expected the configuration to be rejected");
    }

    it("knows every key Pulumi.yaml declares and the object keys its comments document", () => {
        const project = YAML.parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8")) as { config: Record<string, unknown> };
        expect(declared).to.include.members(Object.keys(project.config));
        expect(declared).to.include.members([...OBJECT_CONFIG_KEYS]);
        const comments = fs.readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8");
        for (const key of OBJECT_CONFIG_KEYS) {
            expect(project.config, `${key} is an object key, documented in comments`).not.to.have.property(key);
            expect(comments, `Pulumi.yaml's comments document ${key}`).to.match(new RegExp(`^#\\s+${key}\\b`, "m"));
        }
        expect(
            parseStackConfig(sourceWith({ tags: '{"team": "data"}', workerExpectedSeconds: '{"daily_sales": 240}', maxWorkers: "8" })).notices,
        ).to.deep.equal([]);
    });

    it("lists exactly the providers the program depends on, besides pulumi itself", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8")) as { dependencies: Record<string, string> };
        const providers = Object.keys(pkg.dependencies)
            .filter((name) => name.startsWith("@pulumi/") && name !== "@pulumi/pulumi")
            .map((name) => name.slice("@pulumi/".length));
        expect([...PROVIDER_NAMESPACES].sort()).to.deep.equal(["pulumi", ...providers].sort());
    });

    it("rejects an unknown key of the project, suggesting the closest declared one and showing the value set", () => {
        const error = rejected({ maxworkers: "8", schedulePause: "false" });
        expect(error.problems).to.have.length(2);
        expect(error.message).to.contain(`${PROJECT}:maxworkers: got "8"; expected a key Pulumi.yaml declares: did you mean maxWorkers?`);
        expect(error.message).to.contain(`${PROJECT}:schedulePause: got "false"; expected a key Pulumi.yaml declares: did you mean schedulePaused?`);
        expect(error.message).to.contain(`pulumi config rm '${PROJECT}:maxworkers'`);
        const far = rejected({ colour: "blue" });
        expect(far.message).to.contain(`${PROJECT}:colour: got "blue"; expected a key Pulumi.yaml declares (docs/configuration.md lists them)`);
    });

    it("never shows a secret's value", () => {
        const error = rejected({ keyVaultSecret: "hunter2" }, ["keyVaultSecret"]);
        expect(error.message).to.contain(`${PROJECT}:keyVaultSecret: got "[secret]"; expected a key Pulumi.yaml declares: did you mean keyVaultSecrets?`);
        expect(error.message).not.to.contain("hunter2");
    });

    it("rejects a misspelt namespace, the project's or a provider's, naming the key meant", () => {
        const error = rejected({ "notebook-orchestraton:maxWorkers": "8", "databrick:host": "https://x" });
        expect(error.message).to.contain(
            'notebook-orchestraton:maxWorkers: got "8"; expected a key in this project\'s namespace: did you mean notebook-orchestration:maxWorkers?',
        );
        expect(error.message).to.contain('databrick:host: got "https://x"; expected a key of a provider this stack uses: did you mean databricks:host?');
        expect(rejected({ "Notebook-Orchestration:maxworkers": "8" }).message).to.contain("did you mean notebook-orchestration:maxWorkers?");
    });

    it("accepts providers' and Pulumi's own keys, and warns about a namespace nothing here reads", () => {
        const config = parseStackConfig(sourceWith({ "azure-native:location": "westeurope", "pulumi:tags": '{"a":"b"}', "finops:owner": "data" }));
        expect(config.notices).to.deep.equal([
            "config key 'finops:owner' has no effect on this stack: neither this project (notebook-orchestration) nor its providers (pulumi, azure-native, databricks, random) read namespace 'finops'",
        ]);
    });

    it("stops the program under the Pulumi runtime, where the keys come from pulumi.runtime.allConfig()", async () => {
        let failure: unknown;
        await runStack({ maxworkers: "8" }).catch((error: unknown) => (failure = error));
        expect(String(failure)).to.contain(`${PROJECT}:maxworkers: got "8"; expected a key Pulumi.yaml declares: did you mean maxWorkers?`);
        const run = await runStack({ "finops:owner": "data" });
        expect(run.diagnostics).to.deep.equal([
            {
                severity: "warning",
                message:
                    "config key 'finops:owner' has no effect on this stack: neither this project (notebook-orchestration) nor its providers (pulumi, azure-native, databricks, random) read namespace 'finops'",
            },
        ]);
    });

    it("matches names the way the suggestions need", () => {
        expect(editDistance("kitten", "sitting")).to.equal(3);
        expect(editDistance("", "abc")).to.equal(3);
        expect(closestName("maxworkers", ["maxWorkersLimit", "maxWorkers"])).to.equal("maxWorkers");
        expect(closestName("sparkVersoin", declared)).to.equal("sparkVersion");
        expect(closestName("colour", declared)).to.equal(undefined);
        expect(findUnknownConfigKeys(["x:y"], PROJECT, declared).errors).to.deep.equal([]);
    });
});

describe("quartz cron validation", () => {
    for (const valid of [
        "0 0 2 * * ?",
        "0 15 10 ? * MON-FRI",
        "0 0/30 8-18 ? * 2-6",
        "0 0 12 L * ?",
        "0 0 12 ? * 6#3",
        "0 0 0 1 JAN ? 2030",
        "0 0 3 15W * ?",
    ]) {
        it(`accepts ${valid}`, () => expect(quartzCronProblem(valid)).to.equal(undefined));
    }
    for (const [invalid, reason] of [
        ["0 2 * * *", "has 5 fields"],
        ["0 0 2 * * * ", "exactly one of day-of-month"],
        ["0 0 2 ? * ?", "exactly one of day-of-month"],
        ["60 0 2 * * ?", "seconds field '60'"],
        ["0 0 2 * 13 ?", "month field '13'"],
        ["0 0 2 ? * FUN", "day-of-week field 'FUN'"],
        ["0 0 2/x * * ?", "invalid step"],
    ]) {
        it(`rejects ${JSON.stringify(invalid)}: ${reason}`, () => expect(quartzCronProblem(invalid)).to.contain(reason));
    }
});

describe("the runtime, the access mode and the schedules, checked together", () => {
    it("pins the runtime, so that a new LTS changes nothing until the configuration does", () => {
        expect(parseStackConfig(configSource(REQUIRED_CONFIG)).compute.sparkVersion).to.equal("17.3.x-scala2.13");
        expect(parseStackConfig(configSource({ ...REQUIRED_CONFIG, sparkVersion: "15.4.x-photon-scala2.12" })).compute.sparkVersion).to.equal(
            "15.4.x-photon-scala2.12",
        );
    });

    it("refuses a runtime older than the notebooks need, saying which feature it lacks", () => {
        const error = problemsFor({ sparkVersion: "12.2.x-scala2.12" });
        expect(error.message).to.contain(`${PROJECT}:sparkVersion: got "12.2.x-scala2.12"; expected Databricks Runtime 13.3 LTS or later`);
        expect(error.message).to.contain("named parameter markers in spark.sql(query, args=...)");
        expect(error.message).not.to.contain("WHEN NOT MATCHED BY SOURCE");
        expect(problemsFor({ sparkVersion: "11.3.x-scala2.12" }).message).to.contain("WHEN NOT MATCHED BY SOURCE");
        expect(problemsFor({ sparkVersion: "latest" }).message).to.contain("expected a Databricks runtime key such as 17.3.x-scala2.13");
        expect(parseStackConfig(configSource({ ...REQUIRED_CONFIG, sparkVersion: "13.3.x-scala2.12" })).compute.sparkVersion).to.equal("13.3.x-scala2.12");
    });

    it("warns when the pinned runtime is an LTS past its end of support", () => {
        expect(runtimeSupportNotice("13.3.x-scala2.12", "2026-08-22")).to.equal(undefined);
        expect(runtimeSupportNotice("13.3.x-photon-scala2.12", "2026-08-23")).to.equal(
            "sparkVersion 13.3.x-photon-scala2.12: Databricks Runtime 13.3 LTS reached its end of support on 2026-08-22; pin a newer LTS (the default is 17.3.x-scala2.13)",
        );
        expect(runtimeSupportNotice("17.3.x-scala2.13", "2028-05-09")).to.equal(undefined);
        expect(runtimeSupportNotice("15.1.x-scala2.12", "2030-01-01"), "not an LTS: no table entry").to.equal(undefined);
    });

    it("accepts a single node with standard access mode (USER_ISOLATION), which Databricks supports", () => {
        const config = parseStackConfig(configSource({ ...REQUIRED_CONFIG, singleNode: "true" }));
        expect(config.compute).to.include({ singleNode: true, dataSecurityMode: "USER_ISOLATION", numWorkers: 0 });
    });

    it("refuses access modes Databricks refuses or the notebooks cannot run on, naming the way out", () => {
        expect(problemsFor({ dataSecurityMode: "SINGLE_USER" }).message).to.contain(
            "a SINGLE_USER (dedicated) all-purpose cluster must be assigned to one user",
        );
        expect(
            parseStackConfig(configSource({ ...REQUIRED_CONFIG, dataSecurityMode: "SINGLE_USER", computeMode: "perJob" })).compute.dataSecurityMode,
        ).to.equal("SINGLE_USER");
        expect(problemsFor({ dataSecurityMode: "NONE" }).message).to.contain(
            "catalog 'main' is a Unity Catalog catalog, which a no-isolation (NONE) cluster cannot read",
        );
        expect(parseStackConfig(configSource({ ...REQUIRED_CONFIG, dataSecurityMode: "NONE", catalog: "hive_metastore" })).compute.dataSecurityMode).to.equal(
            "NONE",
        );
        expect(problemsFor({ sparkVersion: "16.4.x-cpu-ml-scala2.12" }).message).to.contain("standard access mode supports neither");
    });

    it("refuses schedules that let the two jobs share the cluster, showing when", () => {
        const error = problemsFor({ sequentialSchedule: "0 0 2 * * ?", parallelSchedule: "0 30 3 * * ?" });
        expect(error.problems).to.have.length(1);
        expect(error.message).to.match(
            /notebook-orchestration:parallelSchedule: got "0 30 3 \* \* \?"; expected fire times at least jobTimeoutSeconds \(7200 s\) away from every fire time of sequentialSchedule \("0 0 2 \* \* \?"\), so that the two jobs never share the cluster; runs could start at \d{4}-01-01 02:00 and \d{4}-01-01 03:30 \(UTC\), 90 minutes apart/,
        );
        // A shorter job timeout makes the same schedules fine; so do job clusters of their own.
        expect(() =>
            parseStackConfig(configSource({ ...REQUIRED_CONFIG, parallelSchedule: "0 30 3 * * ?", jobTimeoutSeconds: "5400", notebookTimeoutSeconds: "3600" })),
        ).not.to.throw();
        expect(() => parseStackConfig(configSource({ ...REQUIRED_CONFIG, parallelSchedule: "0 30 3 * * ?", computeMode: "perJob" }))).not.to.throw();
    });

    it("compares the schedules' fire times across daylight-saving switches and weekdays", () => {
        // Europe/Amsterdam: 01:30 and 03:30 are two hours apart, except the night the clocks go forward.
        const dst = problemsFor({ scheduleTimezone: "Europe/Amsterdam", sequentialSchedule: "0 30 1 * * ?", parallelSchedule: "0 30 3 * * ?" });
        expect(dst.message).to.match(/runs could start at \d{4}-03-\d\d 01:30 and \d{4}-03-\d\d 03:30 \(Europe\/Amsterdam\), 60 minutes apart/);
        // The defaults stay apart there: 02:00 does not exist that night and Quartz skips it.
        expect(() => parseStackConfig(configSource({ ...REQUIRED_CONFIG, scheduleTimezone: "Europe/Amsterdam" }))).not.to.throw();
        // Weekdays against weekends never meet; Friday 23:00 against Saturday 00:30 does.
        expect(() =>
            parseStackConfig(configSource({ ...REQUIRED_CONFIG, sequentialSchedule: "0 0 2 ? * MON-FRI", parallelSchedule: "0 0 2 ? * SAT,SUN" })),
        ).not.to.throw();
        expect(problemsFor({ sequentialSchedule: "0 0 23 ? * FRI", parallelSchedule: "0 30 0 ? * SAT" }).message).to.contain("90 minutes apart");
    });
});
