/**
 * The policy pack (policy/): every rule passes on the resources the stack itself declares (dev, a
 * production stack, a perJob stack, as recorded under Pulumi's mocks) and fails on a copy changed to
 * violate it. The policies are called the way the policy SDK's server calls them (properties behind
 * its unknown-checking proxy, config through getConfig, notApplicable throwing); the last block runs
 * the pack as the Pulumi CLI does and talks to it over the Analyzer gRPC protocol.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import * as proxyModule from "@pulumi/policy/proxy";
import { expect } from "chai";
import * as YAML from "yaml";
import { createPolicies, engineStackContext, memoize, programRoots, sourceFileReader } from "../policy/policies";
import {
    ENGINE_UNKNOWN_VALUES,
    isProductionStack,
    isSensitiveSettingName,
    literalSecretSettings,
    plainProps,
    ReadSourceFile,
    RESOURCE_TYPES,
    secretLikeValues,
    StackContext,
    UNKNOWN,
} from "../policy/rules";
import { tokenize } from "../policy/python";
import { OfflineRun, readStackConfigFile, RecordedResource } from "../tools/offline";
import { POLICY_DIR, RunningPack, startPolicyPack } from "./support/policyPack";
import { ofType, one, runStack, TYPES } from "./support/stack";

/** The policy SDK's internals the engine-facing server uses; not in its type declarations. */
const proxy = proxyModule as unknown as {
    unknownCheckingProxy<T extends object>(value: T): T;
    UnknownValueError: new (...args: never[]) => Error;
    unknownBooleanValue: string;
    unknownNumberValue: string;
    unknownStringValue: string;
    unknownArrayValue: string;
    unknownAssetValue: string;
    unknownArchiveValue: string;
    unknownObjectValue: string;
};

class NotApplicable extends Error {}

interface Outcome {
    readonly applicable: boolean;
    readonly violations: string[];
}

type Inputs = Record<string, any>;

function copy<T>(value: T): T {
    return JSON.parse(JSON.stringify(value)) as T;
}

/** Calls one policy of the pack on a resource, as the policy SDK's Analyze handler does. */
function evaluate(
    policyName: string,
    resource: { type: string; name: string; inputs: Inputs },
    context: StackContext,
    config: Record<string, unknown> = {},
    readSourceFile?: ReadSourceFile,
): Outcome {
    const policy = createPolicies(() => context, readSourceFile).find((p) => p.name === policyName) as ResourceValidationPolicy | undefined;
    if (!policy) {
        throw new Error(`no policy ${policyName}`);
    }
    const violations: string[] = [];
    const props = proxy.unknownCheckingProxy(copy(resource.inputs));
    const args: ResourceValidationArgs = {
        type: resource.type,
        props,
        urn: `urn:pulumi:${context.stack}::notebook-orchestration::${resource.type}::${resource.name}`,
        name: resource.name,
        opts: {
            protect: false,
            ignoreChanges: [],
            aliases: [],
            customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
            additionalSecretOutputs: [],
        },
        stackTags: new Map(),
        isType: () => false,
        asType: () => undefined,
        getConfig: <T extends object>() => config as T,
        notApplicable: (reason?: string): never => {
            throw new NotApplicable(reason);
        },
    };
    const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
    try {
        for (const validation of validations) {
            void validation?.(args, (message) => violations.push(message));
        }
    } catch (error) {
        if (error instanceof NotApplicable) {
            return { applicable: false, violations };
        }
        throw error;
    }
    return { applicable: true, violations };
}

/** A resource of a run with its inputs changed by `change` (on a copy). */
function changed(
    resource: Pick<RecordedResource, "type" | "name" | "inputs">,
    change: (inputs: Inputs) => void,
): { type: string; name: string; inputs: Inputs } {
    const inputs = copy(resource.inputs) as Inputs;
    change(inputs);
    return { type: resource.type, name: resource.name, inputs };
}

/** The violations a policy finds on a resource of a run once `change` is applied to a copy of its inputs. */
function violationsAfter(
    policyName: string,
    resource: Pick<RecordedResource, "type" | "name" | "inputs">,
    change: (inputs: Inputs) => void,
    context: StackContext,
): string[] {
    return evaluate(policyName, changed(resource, change), context).violations;
}

function encode(source: string): string {
    return Buffer.from(source, "utf8").toString("base64");
}

const DEV: StackContext = { stack: "dev", mode: "development" };
const PROD: StackContext = { stack: "prod", mode: "production" };
const PR: StackContext = { stack: "pr-42", mode: "development" };

/** Expects the policy to judge every resource of the given types in the run, and pass them all. */
function expectPassesOnStack(policyName: string, run: OfflineRun, types: string[], context: StackContext): void {
    const resources = run.resources.filter((r) => types.includes(r.type));
    expect(resources, `the stack declares ${types.join(", ")}`).to.not.be.empty;
    for (const resource of resources) {
        const outcome = evaluate(policyName, resource, context);
        expect(outcome, `${policyName} on ${resource.name}`).to.deep.equal({ applicable: true, violations: [] });
    }
}

describe("policy pack", function () {
    let devConfig: Record<string, string>;
    let secretKeys: string[];
    let dev: OfflineRun;
    let prod: OfflineRun;
    let perJob: OfflineRun;

    before(async () => {
        ({ config: devConfig, secretKeys } = readStackConfigFile("dev"));
        dev = await runStack(devConfig, "dev", secretKeys);
        prod = await runStack({ ...devConfig, mode: "production" }, "prod", secretKeys);
        perJob = await runStack({ ...devConfig, computeMode: "perJob" }, "pr-42", secretKeys);
    });

    describe("cluster-auto-termination", () => {
        it("passes on the stack's shared cluster in dev and production", () => {
            expectPassesOnStack("cluster-auto-termination", dev, [TYPES.cluster], DEV);
            expectPassesOnStack("cluster-auto-termination", prod, [TYPES.cluster], PROD);
        });

        it("fails a cluster that never terminates or idles longer than allowed", () => {
            const cluster = one(dev, TYPES.cluster);
            const unset = evaluate(
                "cluster-auto-termination",
                changed(cluster, (i) => delete i.autoterminationMinutes),
                DEV,
            );
            expect(unset.violations).to.have.length(1);
            expect(unset.violations[0]).to.contain("autoterminationMinutes is not set");
            expect(violationsAfter("cluster-auto-termination", cluster, (i) => (i.autoterminationMinutes = 0), DEV)[0]).to.contain(
                "autoterminationMinutes is 0",
            );
            const long = changed(cluster, (i) => (i.autoterminationMinutes = 600));
            expect(evaluate("cluster-auto-termination", long, DEV).violations[0]).to.contain("at most 120 minutes");
            expect(evaluate("cluster-auto-termination", long, DEV, { maxAutoterminationMinutes: 720 }).violations).to.deep.equal([]);
        });

        it("leaves jobs to the other rules: their job clusters end with the run", () => {
            expect(evaluate("cluster-auto-termination", one(perJob, TYPES.job, "sequential-job"), PR).applicable).to.equal(false);
        });
    });

    describe("cluster-environment-tag", () => {
        it("passes on the shared cluster and on the job clusters of perJob mode", () => {
            expectPassesOnStack("cluster-environment-tag", dev, [TYPES.cluster], DEV);
            expectPassesOnStack("cluster-environment-tag", prod, [TYPES.cluster], PROD);
            expectPassesOnStack("cluster-environment-tag", perJob, [TYPES.job], PR);
            expect(one(perJob, TYPES.job, "parallel-job").inputs.jobClusters).to.have.length(1);
        });

        it("fails a cluster without the tag, or tagged with another stack's name", () => {
            const cluster = one(dev, TYPES.cluster);
            const untagged = evaluate(
                "cluster-environment-tag",
                changed(cluster, (i) => delete i.customTags.environment),
                DEV,
            );
            expect(untagged.violations).to.have.length(1);
            expect(untagged.violations[0]).to.contain("no 'environment' custom tag");
            // A per-PR stack deploying a cluster that still says dev: cost reports and clean-up would miss it.
            const copied = evaluate("cluster-environment-tag", cluster, PR);
            expect(copied.violations).to.deep.equal([
                `cluster is tagged environment="dev" in stack "pr-42": the tag must name the stack that owns the cluster`,
            ]);
        });

        it("fails a job whose job cluster lacks the tag", () => {
            const job = changed(one(perJob, TYPES.job, "parallel-job"), (i) => delete i.jobClusters[0].newCluster.customTags.environment);
            expect(evaluate("cluster-environment-tag", job, PR).violations).to.deep.equal([
                "job cluster 'etl' has no 'environment' custom tag: every cluster carries the stack's name for cost reports and clean-up",
            ]);
        });
    });

    describe("job-timeout", () => {
        it("passes on both jobs", () => {
            expectPassesOnStack("job-timeout", dev, [TYPES.job], DEV);
            expectPassesOnStack("job-timeout", perJob, [TYPES.job], PR);
        });

        it("fails a job without a timeout, or with 0 (no timeout)", () => {
            const job = one(dev, TYPES.job, "sequential-job");
            expect(violationsAfter("job-timeout", job, (i) => delete i.timeoutSeconds, DEV)[0]).to.contain("timeoutSeconds is not set");
            expect(violationsAfter("job-timeout", job, (i) => (i.timeoutSeconds = 0), DEV)[0]).to.contain("timeoutSeconds is 0");
        });
    });

    describe("job-failure-notifications", () => {
        it("passes on both jobs of a stack with notificationEmails", () => {
            expectPassesOnStack("job-failure-notifications", dev, [TYPES.job], DEV);
            expectPassesOnStack("job-failure-notifications", prod, [TYPES.job], PROD);
        });

        it("fails a job that tells no one", () => {
            for (const job of ofType(dev, TYPES.job)) {
                const silent = changed(job, (i) => delete i.emailNotifications);
                expect(evaluate("job-failure-notifications", silent, DEV).violations[0]).to.contain("no one is notified when a run fails");
            }
        });

        it("accepts a webhook instead of e-mail", () => {
            const job = changed(one(dev, TYPES.job, "parallel-job"), (i) => {
                delete i.emailNotifications;
                i.webhookNotifications = { onFailures: [{ id: "teams-alerts" }] };
            });
            expect(evaluate("job-failure-notifications", job, DEV).violations).to.deep.equal([]);
        });
    });

    describe("job-bounded-concurrency", () => {
        it("passes on both jobs (one run at a time)", () => {
            expectPassesOnStack("job-bounded-concurrency", dev, [TYPES.job], DEV);
            expectPassesOnStack("job-bounded-concurrency", prod, [TYPES.job], PROD);
        });

        it("fails a job without an explicit bound, with 0 or above the bound", () => {
            const job = one(dev, TYPES.job, "sequential-job");
            expect(violationsAfter("job-bounded-concurrency", job, (i) => delete i.maxConcurrentRuns, DEV)[0]).to.contain("maxConcurrentRuns is not set");
            expect(violationsAfter("job-bounded-concurrency", job, (i) => (i.maxConcurrentRuns = 0), DEV)[0]).to.contain("from 1 to 1");
            const five = changed(job, (i) => (i.maxConcurrentRuns = 5));
            expect(evaluate("job-bounded-concurrency", five, DEV).violations[0]).to.contain("maxConcurrentRuns is 5");
            expect(evaluate("job-bounded-concurrency", five, DEV).violations[0]).to.contain(
                "from 1 to 1 (a scheduled, triggered or continuous job's runs must not overlap)",
            );
            expect(evaluate("job-bounded-concurrency", five, DEV, { maxConcurrentScheduledRuns: 5 }).violations).to.deep.equal([]);
        });

        it("bounds a job started by a table-update trigger or running continuously like a scheduled one", async () => {
            const fanOut = await runStack({ ...devConfig, asyncFanOut: "true", asyncTableTrigger: "true" }, "dev", secretKeys);
            const dispatcher = one(fanOut, TYPES.job, "async-dispatcher-job");
            expect(evaluate("job-bounded-concurrency", dispatcher, DEV).violations).to.deep.equal([]);
            expect(violationsAfter("job-bounded-concurrency", dispatcher, (i) => (i.maxConcurrentRuns = 2), DEV)[0]).to.contain(
                "from 1 to 1 (a scheduled, triggered or continuous job's runs must not overlap)",
            );
            const worker = one(fanOut, TYPES.job, "async-daily_sales-job");
            const continuous = changed(worker, (i) => (i.continuous = { pauseStatus: "PAUSED" }));
            expect(evaluate("job-bounded-concurrency", continuous, DEV).violations[0]).to.contain("from 1 to 1");
        });

        it("lets the asynchronous worker job run up to the cluster's execution contexts, or more on job clusters", async () => {
            const fanOut = await runStack({ ...devConfig, asyncFanOut: "true" }, "dev", secretKeys);
            expectPassesOnStack("job-bounded-concurrency", fanOut, [TYPES.job], DEV);
            const worker = one(fanOut, TYPES.job, "async-daily_sales-job");
            const tooMany = changed(worker, (i) => (i.maxConcurrentRuns = 145));
            expect(evaluate("job-bounded-concurrency", tooMany, DEV).violations[0]).to.contain(
                "from 1 to 144 (each run holds one of the all-purpose cluster's execution contexts)",
            );
            const onJobClusters = changed(worker, (i) => {
                i.maxConcurrentRuns = 500;
                i.tasks = i.tasks.map((task: Inputs) => ({ ...task, existingClusterId: undefined, jobClusterKey: "etl" }));
            });
            expect(evaluate("job-bounded-concurrency", onJobClusters, DEV).violations).to.deep.equal([]);
            expect(violationsAfter("job-bounded-concurrency", onJobClusters, (i) => (i.maxConcurrentRuns = 901), DEV)[0]).to.contain("from 1 to 900");
        });
    });

    describe("schedules-paused-outside-production", () => {
        it("passes on dev's paused schedules and on production's running ones", () => {
            expectPassesOnStack("schedules-paused-outside-production", dev, [TYPES.job], DEV);
            expectPassesOnStack("schedules-paused-outside-production", prod, [TYPES.job], PROD);
            expect((one(prod, TYPES.job, "parallel-job").inputs as Inputs).schedule.pauseStatus).to.equal("UNPAUSED");
        });

        it("fails a per-PR stack configured with schedulePaused: false", async () => {
            const unpaused = await runStack({ ...devConfig, schedulePaused: "false" }, "pr-44", secretKeys);
            for (const job of ofType(unpaused, TYPES.job)) {
                expect(evaluate("schedules-paused-outside-production", job, { stack: "pr-44", mode: "development" }).violations).to.deep.equal([
                    'schedule.pauseStatus is "UNPAUSED" (UNPAUSED when unset): outside production every schedule must be PAUSED',
                ]);
            }
        });

        it("fails a schedule or trigger without a pause status, which Databricks runs", () => {
            const job = changed(one(dev, TYPES.job, "sequential-job"), (i) => {
                delete i.schedule.pauseStatus;
                i.trigger = { periodic: { interval: 1, unit: "HOURS" } };
            });
            const violations = evaluate("schedules-paused-outside-production", job, DEV).violations;
            expect(violations).to.have.length(2);
            expect(violations[0]).to.match(/^schedule\.pauseStatus is not set/);
            expect(violations[1]).to.match(/^trigger\.pauseStatus is not set/);
        });

        it("treats a stack named as production as production, whatever its mode", () => {
            const unpaused = changed(one(dev, TYPES.job, "sequential-job"), (i) => (i.schedule.pauseStatus = "UNPAUSED"));
            expect(evaluate("schedules-paused-outside-production", unpaused, { stack: "prod" }).violations).to.deep.equal([]);
            expect(evaluate("schedules-paused-outside-production", unpaused, { stack: "live" }).violations).to.have.length(1);
            expect(evaluate("schedules-paused-outside-production", unpaused, { stack: "live" }, { productionStacks: ["live"] }).violations).to.deep.equal([]);
        });
    });

    describe("secret-scope-key-vault-backed", () => {
        it("passes on the stack's Key Vault-backed scope", () => {
            expectPassesOnStack("secret-scope-key-vault-backed", dev, [TYPES.scope], DEV);
            expectPassesOnStack("secret-scope-key-vault-backed", prod, [TYPES.scope], PROD);
        });

        it("fails a Databricks-backed scope", () => {
            const scope = one(dev, TYPES.scope);
            expect(violationsAfter("secret-scope-key-vault-backed", scope, (i) => delete i.keyvaultMetadata, DEV)[0]).to.contain(
                "keyvaultMetadata is not set: secret scopes must be Azure Key Vault-backed",
            );
            const databricksBacked = changed(scope, (i) => {
                delete i.keyvaultMetadata;
                i.backendType = "DATABRICKS";
            });
            expect(evaluate("secret-scope-key-vault-backed", databricksBacked, DEV).violations[0]).to.contain('backendType is "DATABRICKS"');
            expect(violationsAfter("secret-scope-key-vault-backed", scope, (i) => (i.keyvaultMetadata.dnsName = ""), DEV)[0]).to.contain("lacks dnsName");
        });

        it("judges a new stack's preview, where the vault's id and URI are not known yet, without giving up", () => {
            // Read through the SDK's proxy, an unknown value throws UnknownValueError, which the engine
            // reports as an advisory "can't run during preview" instead of enforcing the policy.
            const preview = changed(one(dev, TYPES.scope), (i) => {
                i.keyvaultMetadata = { resourceId: proxy.unknownStringValue, dnsName: proxy.unknownStringValue };
            });
            expect(() => proxy.unknownCheckingProxy(copy(preview.inputs)).keyvaultMetadata.resourceId).to.throw(proxy.UnknownValueError);
            expect(evaluate("secret-scope-key-vault-backed", preview, DEV)).to.deep.equal({ applicable: true, violations: [] });
            const withoutVault = changed(one(dev, TYPES.scope), (i) => (i.keyvaultMetadata = { resourceId: proxy.unknownStringValue }));
            expect(evaluate("secret-scope-key-vault-backed", withoutVault, DEV).violations[0]).to.contain("lacks dnsName");
        });
    });

    describe("key-vault-purge-protection-in-production", () => {
        it("passes on the production stack's vault", () => {
            expectPassesOnStack("key-vault-purge-protection-in-production", prod, [TYPES.vault], PROD);
        });

        it("does not apply to dev, whose vault stays purgeable", () => {
            const vault = one(dev, TYPES.vault);
            expect((vault.inputs as Inputs).properties.enablePurgeProtection).to.equal(undefined);
            expect(evaluate("key-vault-purge-protection-in-production", vault, DEV)).to.deep.equal({ applicable: false, violations: [] });
        });

        it("fails a production vault without purge protection, including a stack named prod left in development mode", async () => {
            const off = changed(one(prod, TYPES.vault), (i) => delete i.properties.enablePurgeProtection);
            expect(evaluate("key-vault-purge-protection-in-production", off, PROD).violations).to.deep.equal([
                "properties.enablePurgeProtection is not set: a production Key Vault must have purge protection on (config keyVaultPurgeProtection)",
            ]);
            const misconfigured = await runStack(devConfig, "prod", secretKeys);
            expect(
                evaluate("key-vault-purge-protection-in-production", one(misconfigured, TYPES.vault), { stack: "prod", mode: "development" }).violations,
            ).to.have.length(1);
        });
    });

    describe("key-vault-rbac-authorization", () => {
        it("passes on the stack's vaults", () => {
            expectPassesOnStack("key-vault-rbac-authorization", dev, [TYPES.vault], DEV);
            expectPassesOnStack("key-vault-rbac-authorization", prod, [TYPES.vault], PROD);
        });

        it("fails a vault that authorizes with access policies, or leaves the choice to the API's default (access policies)", () => {
            const vault = one(dev, TYPES.vault);
            expect(violationsAfter("key-vault-rbac-authorization", vault, (i) => (i.properties.enableRbacAuthorization = false), DEV)).to.deep.equal([
                "properties.enableRbacAuthorization is false: a Key Vault must authorize with Azure RBAC (access policies are a second, " +
                    "unaudited permission system that anyone with Key Vault Contributor can rewrite)",
            ]);
            expect(violationsAfter("key-vault-rbac-authorization", vault, (i) => delete i.properties.enableRbacAuthorization, DEV)[0]).to.contain(
                "properties.enableRbacAuthorization is not set",
            );
            const unknown = violationsAfter(
                "key-vault-rbac-authorization",
                vault,
                (i) => (i.properties.enableRbacAuthorization = proxy.unknownBooleanValue),
                DEV,
            );
            expect(unknown).to.deep.equal([]);
        });
    });

    describe("key-vault-network-restricted", () => {
        const policy = "key-vault-network-restricted";
        const OPEN_PR: StackContext = { stack: "pr-5", mode: "development", keyVaultPublicNetworkAccess: true };

        it("passes on the stack's vaults: firewall denying all but trusted services, with or without an allow-list", async () => {
            expectPassesOnStack(policy, dev, [TYPES.vault], DEV);
            expectPassesOnStack(policy, prod, [TYPES.vault], PROD);
            const allowListed = await runStack({ ...devConfig, keyVaultAllowedIpRanges: '["203.0.113.7", "198.51.100.0/28"]' }, "dev", secretKeys);
            expectPassesOnStack(policy, allowListed, [TYPES.vault], DEV);
        });

        it("fails a vault open to all networks, whether the firewall allows by default or is not configured", () => {
            const vault = one(dev, TYPES.vault);
            const open = violationsAfter(policy, vault, (i) => (i.properties.networkAcls.defaultAction = "Allow"), DEV);
            expect(open).to.have.length(1);
            expect(open[0]).to.match(/^properties\.networkAcls\.defaultAction is "Allow" \(Allow when unset\): the vault is open to all networks\./);
            expect(open[0]).to.contain("keyVaultAllowedIpRanges");
            expect(violationsAfter(policy, vault, (i) => delete i.properties.networkAcls, DEV)[0]).to.contain("defaultAction is not set (Allow when unset)");
            // Public network access disabled: private endpoints (and trusted services) only, whatever the firewall says.
            const privateOnly = changed(vault, (i) => {
                i.properties.publicNetworkAccess = "Disabled";
                i.properties.networkAcls.defaultAction = "Allow";
            });
            expect(evaluate(policy, privateOnly, DEV).violations).to.deep.equal([]);
        });

        it("fails an allow-list rule so wide that the vault is as good as open, within the configured bound", () => {
            const wide = changed(
                one(dev, TYPES.vault),
                (i) => (i.properties.networkAcls.ipRules = [{ value: "203.0.113.7" }, { value: "0.0.0.0/1" }, { value: "198.18.0.0/15" }]),
            );
            const bound = "at most a /16 may pass the firewall, or the vault is as good as open to all networks";
            expect(evaluate(policy, wide, DEV).violations).to.deep.equal([
                `properties.networkAcls.ipRules[1] "0.0.0.0/1" allows 2147483648 addresses: ${bound}`,
                `properties.networkAcls.ipRules[2] "198.18.0.0/15" allows 131072 addresses: ${bound}`,
            ]);
            expect(evaluate(policy, wide, DEV, { minIpRulePrefixLength: 1 }).violations).to.deep.equal([]);
        });

        it("honours the stack's keyVaultPublicNetworkAccess switch outside production only", async () => {
            const openRun = await runStack({ ...devConfig, keyVaultPublicNetworkAccess: "true" }, "pr-5", secretKeys);
            const vault = one(openRun, TYPES.vault);
            expect((vault.inputs as Inputs).properties.networkAcls.defaultAction).to.equal("Allow");
            expect(evaluate(policy, vault, OPEN_PR)).to.deep.equal({ applicable: true, violations: [] });
            // The same vault without the switch, or in a production stack with it: refused.
            expect(evaluate(policy, vault, { stack: "pr-5", mode: "development" }).violations).to.have.length(1);
            expect(evaluate(policy, vault, { ...OPEN_PR, mode: "production" }).violations).to.have.length(1);
            expect(evaluate(policy, vault, { ...OPEN_PR, stack: "live" }, { productionStacks: ["live"] }).violations).to.have.length(1);
        });

        it("judges a new stack's preview without giving up on unknown values", () => {
            const unknownAcls = changed(one(dev, TYPES.vault), (i) => (i.properties.networkAcls = proxy.unknownObjectValue));
            expect(evaluate(policy, unknownAcls, DEV)).to.deep.equal({ applicable: true, violations: [] });
        });
    });

    describe("no-plaintext-secrets", () => {
        const policy = "no-plaintext-secrets";

        it("passes on every notebook, job and cluster the stack declares", () => {
            const types = [TYPES.notebook, TYPES.job, TYPES.cluster];
            expectPassesOnStack(policy, dev, types, DEV);
            expectPassesOnStack(policy, prod, types, PROD);
            expectPassesOnStack(policy, perJob, [TYPES.notebook, TYPES.job], PR);
            expect(ofType(dev, TYPES.notebook).length).to.be.greaterThan(6);
        });

        it("fails a notebook with a hard-coded password, naming the line but never the value", () => {
            const notebook = one(dev, TYPES.notebook, "workers-daily_sales");
            const leaky = changed(notebook, (i) => {
                const lines = Buffer.from(i.contentBase64, "base64").toString("utf8").split("\n");
                lines.splice(3, 0, 'jdbc_password = "Tr0ub4dor&3"');
                i.contentBase64 = encode(lines.join("\n"));
            });
            const violations = evaluate(policy, leaky, DEV).violations;
            expect(violations).to.deep.equal([
                `notebook ${String(notebook.inputs.path)} line 4 contains what looks like a hard-coded credential: read it with dbutils.secrets.get from the Key Vault-backed scope`,
            ]);
            expect(violations.join("\n")).to.not.contain("Tr0ub4dor");
        });

        it("fails a job parameter holding a connection string or a token", () => {
            const job = one(dev, TYPES.job, "sequential-job");
            const accountKey = `${"k".repeat(86)}==`;
            const added = (job.inputs.parameters as unknown[]).length;
            const withConnectionString = changed(job, (i) =>
                i.parameters.push({
                    name: "storage",
                    default: `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${accountKey};EndpointSuffix=core.windows.net`,
                }),
            );
            const violations = evaluate(policy, withConnectionString, DEV).violations;
            expect(violations).to.deep.equal([
                `job parameters[${added}].default contains what looks like an account key in a connection string: keep it in the Key Vault-backed secret scope`,
            ]);
            expect(violations.join()).to.not.contain(accountKey);
            const setup = (job.inputs.tasks as { taskKey: string }[]).findIndex((t) => t.taskKey === "setup");
            const withToken = changed(job, (i) => (i.tasks[setup].notebookTask.baseParameters.api = `dapi${"0123456789abcdef".repeat(2)}`));
            expect(evaluate(policy, withToken, DEV).violations[0]).to.contain(
                `tasks[${setup}].notebookTask.baseParameters.api contains what looks like a Databricks personal access token`,
            );
        });

        it("fails a parameter named like a credential with a literal default, and accepts a secret reference", () => {
            const job = one(dev, TYPES.job, "parallel-job");
            const literal = changed(job, (i) => i.parameters.push({ name: "db_password", default: "hunter2" }));
            expect(evaluate(policy, literal, DEV).violations).to.deep.equal([
                "job parameter 'db_password' has a literal default: pass secrets with dbutils.secrets.get in the notebook, not as parameters",
            ]);
            const reference = changed(job, (i) => i.parameters.push({ name: "db_password", default: "{{secrets/notebook-orchestration-dev/db-password}}" }));
            expect(evaluate(policy, reference, DEV).violations).to.deep.equal([]);
        });

        it("fails a storage account key in Spark config, on a cluster or a job cluster, unless it is a secret reference", () => {
            const key = "fs.azure.account.key.acct.dfs.core.windows.net";
            const cluster = changed(one(dev, TYPES.cluster), (i) => (i.sparkConf = { ...i.sparkConf, [key]: "c2VjcmV0LWtleS12YWx1ZQ==" }));
            expect(evaluate(policy, cluster, DEV).violations).to.deep.equal([
                `cluster Spark conf '${key}' holds a literal value: refer to a secret instead, {{secrets/<scope>/<key>}}`,
            ]);
            const referenced = changed(
                one(dev, TYPES.cluster),
                (i) => (i.sparkConf = { ...i.sparkConf, [key]: "{{secrets/notebook-orchestration-dev/storage-key}}" }),
            );
            expect(evaluate(policy, referenced, DEV).violations).to.deep.equal([]);
            const job = changed(one(perJob, TYPES.job, "parallel-job"), (i) => (i.jobClusters[0].newCluster.sparkEnvVars = { SOURCE_DB_PASSWORD: "hunter2" }));
            expect(evaluate(policy, job, PR).violations).to.deep.equal([
                "job cluster 'etl' environment variable 'SOURCE_DB_PASSWORD' holds a literal value: refer to a secret instead, {{secrets/<scope>/<key>}}",
            ]);
        });

        it("recognises common secret formats and leaves ordinary notebook code alone", () => {
            const kinds = (text: string) => secretLikeValues(text).map((f) => f.kind);
            expect(kinds("token = 'ghp_" + "a".repeat(36) + "'")).to.include("a GitHub token");
            expect(kinds("jdbc:sqlserver://db:1433;database=sales;user=etl;password=S3cret!")).to.deep.equal(["a password in a connection string"]);
            expect(kinds("postgresql://etl:S3cret@db.example.com/sales")).to.deep.equal(["credentials in a URL"]);
            expect(kinds("https://acct.blob.core.windows.net/c?sv=2022-11-02&se=2030&sp=r&sig=" + "A".repeat(43) + "%3D")).to.deep.equal([
                "a shared access signature (SAS) token",
            ]);
            expect(kinds("-----BEGIN RSA PRIVATE KEY-----")).to.deep.equal(["a private key"]);
            expect(kinds("aws_key = AKIAIOSFODNN7EXAMPLE")).to.deep.equal(["an AWS access key id"]);
            const ordinary = [
                'password = dbutils.secrets.get(scope, "source-db-password")',
                'df = spark.read.jdbc(url, table, properties={"user": user, "password": password})',
                "connect(user=user, password=pwd, token=token)",
                'path = "abfss://raw@acct.dfs.core.windows.net/orders"',
                'scope = widget("secret_scope")',
                "run_id = '{{job.run_id}}'",
                'spark.conf.set("fs.azure.sas.token.provider.type", "org.example.SasProvider")',
            ].join("\n");
            expect(secretLikeValues(ordinary)).to.deep.equal([]);
            expect(isSensitiveSettingName("fs.azure.sas.token.provider.type")).to.equal(false);
            expect(isSensitiveSettingName("kafka.sasl.mechanism")).to.equal(false);
            expect(isSensitiveSettingName("fs.azure.account.oauth2.client.secret.acct.dfs.core.windows.net")).to.equal(true);
        });
    });

    describe("no-plaintext-secrets: credential-bearing Spark settings set in notebook code", () => {
        const policy = "no-plaintext-secrets";
        const key = `${"Zm9v".repeat(10)}YmFy==`;
        const advice =
            "read the credential with dbutils.secrets.get from the Key Vault-backed scope, or refer to it in the cluster's Spark conf as {{secrets/<scope>/<key>}}";
        const notebookWith = (lines: string[]) => ({
            type: RESOURCE_TYPES.notebook,
            name: "scratch",
            inputs: {
                path: "/Shared/notebook-orchestration/dev/scratch",
                language: "PYTHON",
                contentBase64: encode(["# Databricks notebook source", ...lines].join("\n")),
            },
        });

        it("fails a storage account key, SAS token or OAuth client secret set to a literal, in every form users write it", () => {
            const lines = [
                'account = "acct"',
                `storage_key = "${key}"`,
                `spark.conf.set("fs.azure.account.key.acct.dfs.core.windows.net", "${key}")`,
                `spark.conf.set('fs.azure.account.key.acct.blob.core.windows.net', '${key}')`,
                `spark.conf.set("""fs.azure.sas.raw.acct.blob.core.windows.net""", '''sv=2022-11-02&sr=c&sig=abc''')`,
                'spark.conf.set(f"fs.azure.account.key.{account}.dfs.core.windows.net", storage_key)',
                'spark.conf.set(f"fs.azure.account.oauth2.client.secret.{account}.dfs.core.windows.net", f"s3cr3t~client~value")',
                'spark.conf.set(key="fs.azure.account.oauth2.client.secret", value=r"s3cr3t~client~value")',
                "spark.conf.set(",
                '    "fs.azure.account.key." + account + ".dfs.core.windows.net",  # split over lines',
                `    "${key.slice(0, 20)}" "${key.slice(20)}",`,
                ")",
                `spark.sparkContext._jsc.hadoopConfiguration().set("fs.azure.account.key.acct.dfs.core.windows.net", "${key}")`,
                'spark._jsc.hadoopConfiguration().set("fs.azure.sas.fixed.token.acct.dfs.core.windows.net", "sv=2022-11-02&sig=abc")',
                'SparkSession.builder.config("spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net", storage_key)',
            ];
            const violations = evaluate(policy, notebookWith(lines), DEV).violations;
            const at = (line: number, setting: string, call: string, constant = "") =>
                `notebook /Shared/notebook-orchestration/dev/scratch line ${line} sets '${setting}' to a literal${constant} with ${call}: ${advice}`;
            expect(violations).to.deep.equal([
                at(4, "fs.azure.account.key.acct.dfs.core.windows.net", "spark.conf.set"),
                at(5, "fs.azure.account.key.acct.blob.core.windows.net", "spark.conf.set"),
                at(6, "fs.azure.sas.raw.acct.blob.core.windows.net", "spark.conf.set"),
                at(7, "fs.azure.account.key.*.dfs.core.windows.net", "spark.conf.set", " (storage_key)"),
                at(8, "fs.azure.account.oauth2.client.secret.*.dfs.core.windows.net", "spark.conf.set"),
                at(9, "fs.azure.account.oauth2.client.secret", "spark.conf.set"),
                at(10, "fs.azure.account.key.acct.dfs.core.windows.net", "spark.conf.set"),
                at(14, "fs.azure.account.key.acct.dfs.core.windows.net", "spark.sparkContext._jsc.hadoopConfiguration().set"),
                at(15, "fs.azure.sas.fixed.token.acct.dfs.core.windows.net", "spark._jsc.hadoopConfiguration().set"),
                at(16, "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net", "SparkSession.builder.config", " (storage_key)"),
            ]);
            expect(violations.join("\n")).to.not.contain(key.slice(0, 20));
            expect(violations.join("\n")).to.not.contain("s3cr3t");
        });

        it("finds the SQL form too: SET in spark.sql or in a %sql cell, but not a variable or a secret reference", () => {
            const lines = [
                `spark.sql("SET fs.azure.account.key.acct.dfs.core.windows.net=${key}")`,
                'spark.sql(f"SET fs.azure.account.key.acct.dfs.core.windows.net={storage_key}")',
                "",
                "# COMMAND ----------",
                "",
                "# MAGIC %sql",
                "# MAGIC SET spark.sql.shuffle.partitions = 64;",
                `# MAGIC SET fs.azure.sas.raw.acct.blob.core.windows.net = sv=2022-11-02&sig=abc;`,
                "# MAGIC SET fs.azure.account.key.acct.dfs.core.windows.net = ${storage_key};",
                "",
                "# COMMAND ----------",
                "",
                "# MAGIC %md",
                `# MAGIC SET fs.azure.account.key.acct.dfs.core.windows.net = example`,
            ];
            expect(evaluate(policy, notebookWith(lines), DEV).violations).to.deep.equal([
                `notebook /Shared/notebook-orchestration/dev/scratch line 2 sets 'fs.azure.account.key.acct.dfs.core.windows.net' to a literal with spark.sql("SET ..."): ${advice}`,
                `notebook /Shared/notebook-orchestration/dev/scratch line 9 sets 'fs.azure.sas.raw.acct.blob.core.windows.net' to a literal with %sql SET: ${advice}`,
            ]);
        });

        it("reads Python's strings as the interpreter does: prefixes, escapes, triple quotes over lines, f-string fields, comments", () => {
            const source = [
                'a = "say \\"hi\\"" # "not a string"',
                "b = r'C:\\temp' b'x' u'y'",
                'c = """one',
                'two"""',
                'd = f"{{literal}} {value!r:>{width}} {d["k"]}"',
                "e = 'unterminated",
                "f = 1",
            ].join("\n");
            const strings = tokenize(source)
                .filter((token) => token.kind === "string")
                .map((token) => [token.line, token.value]);
            expect(strings).to.deep.equal([
                [1, { text: 'say "hi"', dynamic: false }],
                [2, { text: "C:\\temp", dynamic: false }],
                [2, { text: "x", dynamic: false }],
                [2, { text: "y", dynamic: false }],
                [3, { text: "one\ntwo", dynamic: false }],
                [5, { text: "{literal} * *", dynamic: true }],
                [6, { text: "unterminated", dynamic: false }],
            ]);
            expect(tokenize(source).find((token) => token.text === "f")?.line).to.equal(7);
        });

        it("reads Scala the same way, in a Scala notebook or a %scala cell, and SQL in a %sql Jupyter cell", () => {
            const scala = [
                "// Databricks notebook source",
                'val account = "acct"',
                `val storageKey: String = "${key}"`,
                `spark.conf.set(s"fs.azure.account.key.$account.dfs.core.windows.net", storageKey)`,
                `spark.sparkContext.hadoopConfiguration.set("fs.azure.account.key.acct.blob.core.windows.net", """${key}""")`,
                'spark.conf.set("fs.azure.account.key.acct.dfs.core.windows.net", dbutils.secrets.get("scope", "storage-key"))',
                'spark.conf.set("fs.azure.account.oauth2.client.secret", s"${clientSecret}") // read at run time',
                'spark.conf.set("fs.azure.account.oauth2.client.secret", s"$clientSecret")',
                'val configs = Map("fs.azure.account.auth.type" -> "OAuth", "fs.azure.account.oauth2.client.secret" -> "s3cr3t~client~value")',
                `/* spark.conf.set("fs.azure.account.key.acct.dfs.core.windows.net", "${key}") */`,
            ].join("\n");
            const scalaNotebook = {
                type: RESOURCE_TYPES.notebook,
                name: "ingest",
                inputs: { path: "/Shared/ingest", language: "SCALA", contentBase64: encode(scala) },
            };
            const at = (line: number, setting: string, call: string, constant = "") =>
                `notebook /Shared/ingest line ${line} sets '${setting}' to a literal${constant} with ${call}: ${advice}`;
            expect(evaluate(policy, scalaNotebook, DEV).violations).to.deep.equal([
                at(4, "fs.azure.account.key.*.dfs.core.windows.net", "spark.conf.set", " (storageKey)"),
                at(5, "fs.azure.account.key.acct.blob.core.windows.net", "spark.sparkContext.hadoopConfiguration.set"),
                at(9, "fs.azure.account.oauth2.client.secret", "a Map entry"),
            ]);
            const pythonWithScalaCell = notebookWith([
                "x = 1",
                "",
                "# COMMAND ----------",
                "",
                "# MAGIC %scala",
                `# MAGIC spark.conf.set("fs.azure.account.key.acct.dfs.core.windows.net", "${key}")`,
            ]);
            expect(evaluate(policy, pythonWithScalaCell, DEV).violations).to.deep.equal([
                `notebook /Shared/notebook-orchestration/dev/scratch line 7 sets 'fs.azure.account.key.acct.dfs.core.windows.net' to a literal with spark.conf.set: ${advice}`,
            ]);
            const cells = [{ cell_type: "code", source: ["%sql\n", "SET fs.azure.account.key.acct.dfs.core.windows.net = c2VjcmV0LWtleQ==\n"] }];
            const jupyter = {
                type: RESOURCE_TYPES.notebook,
                name: "ingest",
                inputs: { path: "/Shared/ingest", language: "PYTHON", format: "JUPYTER", contentBase64: encode(JSON.stringify({ cells })) },
            };
            expect(evaluate(policy, jupyter, DEV).violations).to.deep.equal([
                `notebook /Shared/ingest cell 1 line 2 sets 'fs.azure.account.key.acct.dfs.core.windows.net' to a literal with %sql SET: ${advice}`,
            ]);
        });

        it("finds a credential in the configs of a mount or a reader, given as a dictionary", () => {
            const lines = [
                "configs = {",
                '    "fs.azure.account.auth.type": "OAuth",',
                '    "fs.azure.account.oauth.provider.type": "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider",',
                '    "fs.azure.account.oauth2.client.id": "00000000-1111-2222-3333-444444444444",',
                '    "fs.azure.account.oauth2.client.secret": "s3cr3t~client~value",',
                '    f"fs.azure.account.key.{account}.dfs.core.windows.net": dbutils.secrets.get("scope", "storage-key"),',
                "}",
                'dbutils.fs.mount(source="abfss://raw@acct.dfs.core.windows.net/", mount_point="/mnt/raw", extra_configs=configs)',
                'options = {"password": password, "user": "etl"}',
            ];
            expect(evaluate(policy, notebookWith(lines), DEV).violations).to.deep.equal([
                `notebook /Shared/notebook-orchestration/dev/scratch line 6 sets 'fs.azure.account.oauth2.client.secret' to a literal with a dictionary entry: ${advice}`,
            ]);
        });

        it("accepts values read at run time, settings that name no credential, and code that only mentions a call", () => {
            const lines = [
                'account = dbutils.widgets.get("storage_account")',
                'storage_key = dbutils.secrets.get(scope=SCOPE, key="storage-key")',
                'spark.conf.set(f"fs.azure.account.key.{account}.dfs.core.windows.net", storage_key)',
                'spark.conf.set("fs.azure.account.key.acct.dfs.core.windows.net", dbutils.secrets.get("notebook-orchestration-dev", "storage-key"))',
                'spark.conf.set("fs.azure.account.oauth2.client.secret.acct.dfs.core.windows.net", f"{client_secret}")',
                'spark.conf.set("fs.azure.account.auth.type.acct.dfs.core.windows.net", "OAuth")',
                'spark.conf.set("fs.azure.account.oauth.provider.type.acct.dfs.core.windows.net", "org.apache.hadoop.fs.azurebfs.oauth2.ClientCredsTokenProvider")',
                'spark.conf.set("fs.azure.sas.token.provider.type.acct.dfs.core.windows.net", "org.apache.hadoop.fs.azurebfs.sas.FixedSASTokenProvider")',
                'spark.conf.set("fs.azure.account.oauth2.client.id.acct.dfs.core.windows.net", "00000000-1111-2222-3333-444444444444")',
                'spark.conf.set("fs.azure.account.key.acct.dfs.core.windows.net", "")',
                'spark.conf.set("spark.sql.shuffle.partitions", "64")',
                `example = "spark.conf.set('fs.azure.account.key.acct.dfs.core.windows.net', 'not-a-call')"`,
                "# spark.conf.set('fs.azure.account.key.acct.dfs.core.windows.net', 'commented out')",
                'rotating = "first"',
                'rotating = dbutils.secrets.get("s", "k")',
                '_ = holder.constructor("fs.azure.account.key.acct.dfs.core.windows.net", "not a setting call").toString()',
                'spark.conf.set("fs.azure.account.key.acct.dfs.core.windows.net", rotating)',
            ];
            expect(evaluate(policy, notebookWith(lines), DEV).violations).to.deep.equal([]);
        });

        it("also finds a literal JDBC password passed as a reader option", () => {
            expect(literalSecretSettings('df = spark.read.format("jdbc").option("url", url).option("password", "hunter2").load()')).to.deep.equal([
                { line: 1, call: "spark.read.format().option().option", setting: "password", constant: undefined },
            ]);
        });

        it("scans a notebook declared from a local file (source) instead of contentBase64, Python or Jupyter", () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-notebooks-"));
            try {
                fs.mkdirSync(path.join(dir, "notebooks"));
                fs.writeFileSync(
                    path.join(dir, "notebooks", "ingest.py"),
                    ["# Databricks notebook source", `spark.conf.set("fs.azure.account.key.acct.dfs.core.windows.net", "${key}")`].join("\n"),
                );
                const cells = [
                    { cell_type: "markdown", source: ["# Ingest\n"] },
                    { cell_type: "code", source: ["x = 1\n", `spark.conf.set('fs.azure.account.key.acct.dfs.core.windows.net', '${key}')\n`] },
                ];
                fs.writeFileSync(path.join(dir, "notebooks", "ingest.ipynb"), JSON.stringify({ cells, nbformat: 4, nbformat_minor: 5, metadata: {} }));
                const fromFile = (source: string, extra: Inputs = {}) => ({
                    type: RESOURCE_TYPES.notebook,
                    name: "ingest",
                    inputs: { path: "/Shared/ingest", source, ...extra },
                });
                const readFromProject = sourceFileReader([dir]);
                const message = (where: string) =>
                    `notebook /Shared/ingest${where} sets 'fs.azure.account.key.acct.dfs.core.windows.net' to a literal with spark.conf.set: ${advice}`;
                // Relative to the program's directory, as the Databricks provider reads it; or absolute.
                expect(evaluate(policy, fromFile("notebooks/ingest.py"), DEV, {}, readFromProject).violations).to.deep.equal([message(" line 2")]);
                expect(evaluate(policy, fromFile(path.join(dir, "notebooks", "ingest.py")), DEV).violations).to.deep.equal([message(" line 2")]);
                expect(evaluate(policy, fromFile("notebooks/ingest.ipynb", { format: "JUPYTER" }), DEV, {}, readFromProject).violations).to.deep.equal([
                    message(" cell 2 line 2"),
                ]);
                // A Scala file, by its extension.
                fs.writeFileSync(path.join(dir, "notebooks", "ingest.scala"), `spark.conf.set("fs.azure.account.key.acct.dfs.core.windows.net", "${key}")`);
                expect(evaluate(policy, fromFile("notebooks/ingest.scala"), DEV, {}, readFromProject).violations).to.deep.equal([message(" line 1")]);
                // A file the policy cannot read is not waved through.
                expect(evaluate(policy, fromFile("notebooks/missing.py"), DEV, {}, readFromProject).violations).to.deep.equal([
                    `notebook /Shared/ingest comes from source file "notebooks/missing.py", which cannot be read to check it for credentials: no such file in ${dir}`,
                ]);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("looks for a relative source in the project holding the pack, then where the CLI was started", () => {
            const roots = programRoots({ PWD: "/somewhere/else" });
            expect(roots[0]).to.equal(path.dirname(POLICY_DIR));
            expect(roots).to.include("/somewhere/else");
        });
    });

    describe("the For each job", () => {
        let forEach: OfflineRun;
        before(async () => {
            forEach = await runStack({ ...devConfig, forEachJob: "true" }, "dev", secretKeys);
        });

        it("passes every policy, on the shared cluster and on job clusters", async () => {
            const job = one(forEach, TYPES.job, "for-each-job");
            for (const policy of createPolicies(() => DEV)) {
                expect(evaluate(policy.name, job, DEV).violations, policy.name).to.deep.equal([]);
            }
            const onJobClusters = await runStack({ ...devConfig, forEachJob: "true", computeMode: "perJob" }, "pr-42", secretKeys);
            for (const policy of createPolicies(() => PR)) {
                expect(evaluate(policy.name, one(onJobClusters, TYPES.job, "for-each-job"), PR).violations, policy.name).to.deep.equal([]);
            }
        });

        it("judges the nested task's compute and parameters like any task's", () => {
            const job = one(forEach, TYPES.job, "for-each-job");
            const nested = (change: (task: Inputs) => void) => (i: Inputs) => {
                i.tasks = i.tasks.map((task: Inputs) =>
                    task.forEachTask ? { ...task, forEachTask: { ...task.forEachTask, task: copy(task.forEachTask.task) } } : task,
                );
                change(i.tasks.find((task: Inputs) => task.forEachTask).forEachTask.task);
            };
            // Unscheduled, the run count is bounded by the shared cluster that only the nested task names.
            const unscheduled = changed(job, (i) => {
                i.schedule = undefined;
                i.tasks = i.tasks.filter((task: Inputs) => task.forEachTask).map((task: Inputs) => ({ ...task, dependsOns: undefined }));
                i.maxConcurrentRuns = 145;
            });
            expect(evaluate("job-bounded-concurrency", unscheduled, DEV).violations[0]).to.contain(
                "each run holds one of the all-purpose cluster's execution contexts",
            );
            const secret = violationsAfter(
                "no-plaintext-secrets",
                job,
                nested((task) => (task.notebookTask.baseParameters.api_token = "dapi123")),
                DEV,
            );
            expect(secret.join("\n")).to.contain("task 'for_each_worker/worker' parameter 'api_token' has a literal value");
            const untagged = violationsAfter(
                "cluster-environment-tag",
                job,
                nested((task) => {
                    delete task.existingClusterId;
                    task.newCluster = { sparkVersion: "17.3.x-scala2.13", customTags: {} };
                }),
                DEV,
            );
            expect(untagged.join("\n")).to.contain("new cluster of task 'for_each_worker/worker' has no 'environment' custom tag");
        });
    });

    describe("the pack", () => {
        it("makes every policy mandatory and names each once", () => {
            const policies = createPolicies(() => DEV);
            expect(policies.map((p) => p.name)).to.have.members([
                "cluster-auto-termination",
                "cluster-environment-tag",
                "job-timeout",
                "job-failure-notifications",
                "job-bounded-concurrency",
                "schedules-paused-outside-production",
                "secret-scope-key-vault-backed",
                "key-vault-purge-protection-in-production",
                "key-vault-rbac-authorization",
                "key-vault-network-restricted",
                "no-plaintext-secrets",
            ]);
            expect(policies.every((p) => p.enforcementLevel === "mandatory")).to.equal(true);
        });

        it("passes every resource of the dev stack, judging none it cannot", () => {
            for (const resource of dev.resources.filter((r) => r.custom)) {
                for (const policy of createPolicies(() => DEV)) {
                    expect(evaluate(policy.name, resource, DEV).violations, `${policy.name} on ${resource.name}`).to.deep.equal([]);
                }
            }
        });

        it("knows the engine's placeholders for values unknown during preview", () => {
            const sdk = [
                proxy.unknownBooleanValue,
                proxy.unknownNumberValue,
                proxy.unknownStringValue,
                proxy.unknownArrayValue,
                proxy.unknownAssetValue,
                proxy.unknownArchiveValue,
                proxy.unknownObjectValue,
            ];
            expect([...ENGINE_UNKNOWN_VALUES].sort()).to.deep.equal([...sdk].sort());
            const props = proxy.unknownCheckingProxy({ a: { b: [proxy.unknownStringValue, "x"] }, n: proxy.unknownNumberValue });
            expect(plainProps(props)).to.deep.equal({ a: { b: [UNKNOWN, "x"] }, n: UNKNOWN });
        });

        it("decides production from the stack's mode or its name", () => {
            expect(isProductionStack({ stack: "prod" })).to.equal(true);
            expect(isProductionStack({ stack: "pr-12", mode: "production" })).to.equal(true);
            expect(isProductionStack({ stack: "pr-12", mode: "development" })).to.equal(false);
            expect(isProductionStack({})).to.equal(false);
            expect(isProductionStack({ stack: "live" }, ["live"])).to.equal(true);
        });

        it("reads the stack's name and mode the way the CLI hands them to the pack, nothing outside a stack operation, and once", async () => {
            // Under the CLI, the pack's process has the stack's name and config, as a program does;
            // here Pulumi's mock runtime of the last run holds them.
            await runStack({ ...devConfig, mode: "production" }, "prod-eu", secretKeys);
            expect(engineStackContext({ PULUMI_NODEJS_STACK: "prod-eu" })).to.deep.equal({
                stack: "prod-eu",
                mode: "production",
                keyVaultPublicNetworkAccess: false,
            });
            await runStack({ ...devConfig, keyVaultPublicNetworkAccess: "true" }, "pr-5", secretKeys);
            expect(engineStackContext({ PULUMI_NODEJS_STACK: "pr-5" })).to.deep.equal({
                stack: "pr-5",
                mode: "development",
                keyVaultPublicNetworkAccess: true,
            });
            expect(engineStackContext({})).to.deep.equal({});
            let reads = 0;
            const context = memoize(() => ({ stack: `s${++reads}` }));
            expect([context(), context()]).to.deep.equal([{ stack: "s1" }, { stack: "s1" }]);
        });

        it("is a policy pack the CLI can load from a fresh clone: PulumiPolicy.yaml, a versioned package.json, dependencies from the root", () => {
            const project = YAML.parse(fs.readFileSync(path.join(POLICY_DIR, "PulumiPolicy.yaml"), "utf8")) as { runtime: string };
            expect(project.runtime).to.equal("nodejs");
            const pkg = JSON.parse(fs.readFileSync(path.join(POLICY_DIR, "package.json"), "utf8")) as { version: string; main: string; dependencies?: object };
            expect(pkg.version).to.match(/^\d+\.\d+\.\d+$/);
            expect(fs.existsSync(path.join(POLICY_DIR, pkg.main))).to.equal(true);
            // Nothing to install in policy/: npm ci at the root provides what the CLI loads from there.
            expect(pkg.dependencies ?? {}).to.deep.equal({});
            for (const module of ["@pulumi/policy", "@pulumi/pulumi", "@pulumi/pulumi/cmd/run-policy-pack", "typescript", "ts-node"]) {
                expect(require.resolve(module, { paths: [POLICY_DIR] })).to.match(
                    new RegExp(`^${path.join(path.dirname(POLICY_DIR), "node_modules").replace(/[\\^$.*+?()[\]{}|]/g, "\\$&")}`),
                );
            }
            const rootPkg = JSON.parse(fs.readFileSync(path.join(POLICY_DIR, "..", "package.json"), "utf8")) as { devDependencies: Record<string, string> };
            expect(rootPkg.devDependencies).to.include.keys("@pulumi/policy");
        });
    });

    describe("run as the Pulumi CLI runs it", function () {
        this.timeout(60_000);
        let pack: RunningPack | undefined;

        before(async () => {
            pack = await startPolicyPack("pr-7", { "notebook-orchestration:mode": "development" });
        });

        after(() => pack?.stop());

        it("serves the eleven mandatory policies with their config", async () => {
            const info = await pack!.info();
            expect(info.name).to.equal("notebook-orchestration");
            expect(info.policies).to.have.length(11);
            expect(info.policies.find((p) => p.name === "key-vault-network-restricted")?.configKeys).to.have.members([
                "productionStacks",
                "minIpRulePrefixLength",
            ]);
            expect(info.policies.every((p) => p.mandatory)).to.equal(true);
            expect(info.policies.find((p) => p.name === "schedules-paused-outside-production")?.configKeys).to.deep.equal(["productionStacks"]);
        });

        it("takes the stack's name and mode from the CLI, and passes a correct per-PR stack", async () => {
            const pr = await runStack(devConfig, "pr-7", secretKeys);
            for (const resource of pr.resources.filter((r) => r.custom)) {
                expect(await pack!.analyze(resource), resource.name).to.deep.equal([]);
            }
            // The same resources were declared for dev: wrong tag for this stack.
            const diagnostics = await pack!.analyze(one(dev, TYPES.cluster));
            expect(diagnostics.map((d) => d.policy)).to.deep.equal(["cluster-environment-tag"]);
            expect(diagnostics[0].mandatory).to.equal(true);
            expect(diagnostics[0].message).to.contain('tagged environment="dev" in stack "pr-7"');
        });

        it("reports each violation of a bad job, and honours the policy config", async () => {
            const job = changed(one(dev, TYPES.job, "sequential-job"), (i) => {
                i.timeoutSeconds = 0;
                i.maxConcurrentRuns = 3;
                i.schedule.pauseStatus = "UNPAUSED";
                delete i.emailNotifications;
            });
            const diagnostics = await pack!.analyze(job);
            expect(diagnostics.map((d) => d.policy).sort()).to.deep.equal([
                "job-bounded-concurrency",
                "job-failure-notifications",
                "job-timeout",
                "schedules-paused-outside-production",
            ]);
            await pack!.configure({
                "job-bounded-concurrency": { maxConcurrentScheduledRuns: 3 },
                "schedules-paused-outside-production": { productionStacks: ["pr-7"] },
            });
            const configured = await pack!.analyze(job);
            expect(configured.map((d) => d.policy).sort()).to.deep.equal(["job-failure-notifications", "job-timeout"]);
        });

        it("refuses an open or access-policy vault and a notebook file that sets a storage key to a literal", async () => {
            const vault = changed(one(dev, TYPES.vault), (i) => {
                i.properties.networkAcls.defaultAction = "Allow";
                i.properties.enableRbacAuthorization = false;
            });
            const vaultDiagnostics = await pack!.analyze(vault);
            expect(vaultDiagnostics.map((d) => d.policy).sort()).to.deep.equal(["key-vault-network-restricted", "key-vault-rbac-authorization"]);
            expect(vaultDiagnostics.every((d) => d.mandatory)).to.equal(true);
            // A notebook file relative to the program's directory, as a program declares it: the pack,
            // started in policy/, finds it in the project above. The test removes what it writes.
            const dir = fs.mkdtempSync(path.join(path.dirname(POLICY_DIR), ".policy-test-notebooks-"));
            try {
                fs.writeFileSync(
                    path.join(dir, "ingest.py"),
                    ["# Databricks notebook source", 'spark.conf.set("fs.azure.account.key.acct.dfs.core.windows.net", "c2VjcmV0LWtleQ==")'].join("\n"),
                );
                const source = path.join(path.basename(dir), "ingest.py");
                const notebook = { type: RESOURCE_TYPES.notebook, name: "ingest", inputs: { path: "/Shared/ingest", source, language: "PYTHON" } };
                const diagnostics = await pack!.analyze(notebook);
                // The engine's message is the policy's description, then the violation.
                expect(diagnostics.map((d) => [d.policy, d.message.split("\n").pop()])).to.deep.equal([
                    [
                        "no-plaintext-secrets",
                        "notebook /Shared/ingest line 2 sets 'fs.azure.account.key.acct.dfs.core.windows.net' to a literal with spark.conf.set: " +
                            "read the credential with dbutils.secrets.get from the Key Vault-backed scope, or refer to it in the cluster's Spark conf as {{secrets/<scope>/<key>}}",
                    ],
                ]);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("lets a non-production stack open its vault with keyVaultPublicNetworkAccess, read from the stack's config", async () => {
            const open = await runStack({ ...devConfig, keyVaultPublicNetworkAccess: "true" }, "pr-8", secretKeys);
            const vault = one(open, TYPES.vault);
            const opened = await startPolicyPack("pr-8", {
                "notebook-orchestration:mode": "development",
                "notebook-orchestration:keyVaultPublicNetworkAccess": "true",
            });
            try {
                expect(await opened.analyze(vault)).to.deep.equal([]);
            } finally {
                opened.stop();
            }
            // The pack of a stack without the switch refuses the same vault.
            expect((await pack!.analyze(vault)).map((d) => d.policy)).to.deep.equal(["key-vault-network-restricted"]);
        });

        it("enforces rather than skips a new stack's preview, where ids are unknown", async () => {
            const scope = changed(
                one(dev, TYPES.scope),
                (i) => (i.keyvaultMetadata = { resourceId: proxy.unknownStringValue, dnsName: proxy.unknownStringValue }),
            );
            expect(await pack!.analyze(scope)).to.deep.equal([]);
            const cluster = changed(one(dev, TYPES.cluster), (i) => {
                i.autoterminationMinutes = 0;
                i.sparkVersion = proxy.unknownStringValue;
            });
            const diagnostics = await pack!.analyze({ ...cluster, type: RESOURCE_TYPES.cluster });
            expect(diagnostics.filter((d) => d.policy === "cluster-auto-termination").map((d) => d.mandatory)).to.deep.equal([true]);
            // No policy fell back to an advisory "can't run during preview".
            expect(diagnostics.filter((d) => !d.mandatory)).to.deep.equal([]);
        });
    });
});
