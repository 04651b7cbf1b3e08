import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import * as YAML from "yaml";
import { CONFIG_DEFAULTS, parseStackConfig, StackConfigError } from "../components/config";
import { quartzCronProblem } from "../components/quartz";
import { configSource, PROJECT, REQUIRED_CONFIG } from "./support/stack";

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
        expect(error.message).to.contain(`${PROJECT}:vaultNamePrefix: got "kv-nbo-feature-long-branch"`);
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

    it("rejects expected seconds for an unknown worker", () => {
        const error = problemsFor({ workerExpectedSeconds: '{"daily_sales": 10, "nightly": 5}' });
        expect(error.message).to.contain("unknown: nightly");
        expect(
            parseStackConfig(configSource({ ...REQUIRED_CONFIG, workerExpectedSeconds: '{"daily_sales": 10}' })).orchestration.expectedSeconds,
        ).to.deep.equal({ daily_sales: 10 });
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
