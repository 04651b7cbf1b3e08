/**
 * The pack's policies: each wires one rule of rules.ts to the resource type it applies to. Built by a
 * function so that tests can give them a stack context; index.ts builds them for the stack the
 * Pulumi CLI runs the pack against. Constructing a PolicyPack starts a gRPC server, so only index.ts
 * does that.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { PolicyConfigSchema, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import {
    autoterminationViolations,
    clusterSecretViolations,
    concurrencyViolations,
    DEFAULT_MAX_AUTOTERMINATION_MINUTES,
    DEFAULT_CONCURRENCY_LIMITS,
    DEFAULT_PRODUCTION_STACKS,
    environmentTagViolations,
    failureNotificationViolations,
    isProductionStack,
    jobClusterSpecs,
    jobSecretViolations,
    jobTimeoutViolations,
    notebookSecretViolations,
    plainProps,
    purgeProtectionViolations,
    rbacAuthorizationViolations,
    ReadSourceFile,
    RESOURCE_TYPES,
    scheduleViolations,
    secretScopeViolations,
    StackContext,
    vaultNetworkViolations,
} from "./rules";
import { MIN_KEY_VAULT_IP_PREFIX_LENGTH } from "../components/config";

export const POLICY_PACK_NAME = "notebook-orchestration";

type ResourceType = (typeof RESOURCE_TYPES)[keyof typeof RESOURCE_TYPES];
type Props = Record<string, unknown>;

/** Policy config of the two production-aware policies (`--policy-pack-config`). */
export interface ProductionConfig {
    readonly productionStacks?: readonly string[];
}

const productionSchema: PolicyConfigSchema = {
    properties: {
        productionStacks: {
            type: "array",
            items: { type: "string" },
            default: [...DEFAULT_PRODUCTION_STACKS],
            description: "Stack names treated as production, besides any stack whose config sets mode: production.",
        },
    },
};

/**
 * A validation for the given resource types: the rule sees a plain copy of the properties, so values
 * unknown during preview never turn a mandatory policy into an advisory one.
 */
function validate(types: readonly ResourceType[], rule: (props: Props, args: ResourceValidationArgs) => string[]) {
    return (args: ResourceValidationArgs, reportViolation: ReportViolation): void => {
        if (!(types as readonly string[]).includes(args.type)) {
            args.notApplicable(`applies to ${types.join(", ")}`);
        }
        for (const message of rule(plainProps(args.props) as Props, args)) {
            reportViolation(message);
        }
    };
}

function production(context: () => StackContext, args: ResourceValidationArgs): boolean {
    const configured = args.getConfig<ProductionConfig>().productionStacks;
    return isProductionStack(context(), configured ?? DEFAULT_PRODUCTION_STACKS);
}

/**
 * Reads a notebook's local source file. A relative path is relative to the Pulumi program's directory,
 * which the CLI does not tell a policy pack (it starts the pack in the pack's own directory): it is
 * looked for in each of `roots` in turn.
 */
export function sourceFileReader(roots: readonly string[]): ReadSourceFile {
    return (file) => {
        if (path.isAbsolute(file)) {
            return fs.readFileSync(file, "utf8");
        }
        const found = roots.map((root) => path.resolve(root, file)).find((candidate) => fs.existsSync(candidate));
        if (!found) {
            throw new Error(`no such file in ${roots.join(" or ")}`);
        }
        return fs.readFileSync(found, "utf8");
    };
}

/**
 * Where a relative notebook source may be: the project holding the pack (the nearest directory above
 * it with a Pulumi.yaml, as in this repository), then the directory the CLI was started from (PWD).
 */
export function programRoots(env: NodeJS.ProcessEnv = process.env, packDirectory = __dirname): string[] {
    const roots: string[] = [];
    for (let dir = path.dirname(packDirectory); ; dir = path.dirname(dir)) {
        if (fs.existsSync(path.join(dir, "Pulumi.yaml"))) {
            roots.push(dir);
            break;
        }
        if (path.dirname(dir) === dir) {
            break;
        }
    }
    for (const dir of [env.PWD, process.cwd()]) {
        if (dir && !roots.includes(dir)) {
            roots.push(dir);
        }
    }
    return roots;
}

/** Every policy of the pack, all mandatory: a violation fails `pulumi preview` and blocks `pulumi up`. */
export function createPolicies(context: () => StackContext, readSourceFile: ReadSourceFile = sourceFileReader(programRoots())): ResourceValidationPolicy[] {
    return [
        {
            name: "cluster-auto-termination",
            description: "All-purpose clusters terminate when idle, within maxAutoterminationMinutes.",
            enforcementLevel: "mandatory",
            configSchema: {
                properties: {
                    maxAutoterminationMinutes: { type: "integer", minimum: 10, default: DEFAULT_MAX_AUTOTERMINATION_MINUTES },
                },
            },
            validateResource: validate([RESOURCE_TYPES.cluster], (cluster, args) =>
                autoterminationViolations(
                    cluster,
                    args.getConfig<{ maxAutoterminationMinutes?: number }>().maxAutoterminationMinutes ?? DEFAULT_MAX_AUTOTERMINATION_MINUTES,
                ),
            ),
        },
        {
            name: "cluster-environment-tag",
            description: "Every cluster, all-purpose or job cluster, carries the custom tag environment=<stack>.",
            enforcementLevel: "mandatory",
            validateResource: validate([RESOURCE_TYPES.cluster, RESOURCE_TYPES.job], (props, args) =>
                args.type === RESOURCE_TYPES.cluster
                    ? environmentTagViolations(props, context())
                    : jobClusterSpecs(props).flatMap(({ where, spec }) => environmentTagViolations(spec, context(), where)),
            ),
        },
        {
            name: "job-timeout",
            description: "Jobs have a timeout.",
            enforcementLevel: "mandatory",
            validateResource: validate([RESOURCE_TYPES.job], jobTimeoutViolations),
        },
        {
            name: "job-failure-notifications",
            description: "Jobs notify someone when a run fails.",
            enforcementLevel: "mandatory",
            validateResource: validate([RESOURCE_TYPES.job], failureNotificationViolations),
        },
        {
            name: "job-bounded-concurrency",
            description:
                "Jobs set maxConcurrentRuns explicitly: at most maxConcurrentScheduledRuns for a scheduled, triggered or continuous job, maxConcurrentRunsOnSharedCluster " +
                "for an on-demand job on an all-purpose cluster, maxConcurrentRuns otherwise.",
            enforcementLevel: "mandatory",
            configSchema: {
                properties: {
                    maxConcurrentScheduledRuns: { type: "integer", minimum: 1, default: DEFAULT_CONCURRENCY_LIMITS.scheduled },
                    maxConcurrentRunsOnSharedCluster: { type: "integer", minimum: 1, default: DEFAULT_CONCURRENCY_LIMITS.onSharedCluster },
                    maxConcurrentRuns: { type: "integer", minimum: 1, default: DEFAULT_CONCURRENCY_LIMITS.other },
                },
            },
            validateResource: validate([RESOURCE_TYPES.job], (job, args) => {
                const config = args.getConfig<{ maxConcurrentScheduledRuns?: number; maxConcurrentRunsOnSharedCluster?: number; maxConcurrentRuns?: number }>();
                return concurrencyViolations(job, {
                    scheduled: config.maxConcurrentScheduledRuns ?? DEFAULT_CONCURRENCY_LIMITS.scheduled,
                    onSharedCluster: config.maxConcurrentRunsOnSharedCluster ?? DEFAULT_CONCURRENCY_LIMITS.onSharedCluster,
                    other: config.maxConcurrentRuns ?? DEFAULT_CONCURRENCY_LIMITS.other,
                });
            }),
        },
        {
            name: "schedules-paused-outside-production",
            description: "Outside production stacks, job schedules and triggers are paused.",
            enforcementLevel: "mandatory",
            configSchema: productionSchema,
            validateResource: validate([RESOURCE_TYPES.job], (job, args) => scheduleViolations(job, production(context, args))),
        },
        {
            name: "secret-scope-key-vault-backed",
            description: "Databricks secret scopes are backed by Azure Key Vault.",
            enforcementLevel: "mandatory",
            validateResource: validate([RESOURCE_TYPES.secretScope], secretScopeViolations),
        },
        {
            name: "key-vault-purge-protection-in-production",
            description: "Key Vaults of production stacks have purge protection on.",
            enforcementLevel: "mandatory",
            configSchema: productionSchema,
            validateResource: validate([RESOURCE_TYPES.vault], (vault, args) => {
                if (!production(context, args)) {
                    args.notApplicable("not a production stack: purge protection stays off so the vault can be purged with the environment");
                }
                return purgeProtectionViolations(vault, true);
            }),
        },
        {
            name: "key-vault-rbac-authorization",
            description: "Key Vaults authorize data plane access with Azure RBAC, not access policies.",
            enforcementLevel: "mandatory",
            validateResource: validate([RESOURCE_TYPES.vault], rbacAuthorizationViolations),
        },
        {
            name: "key-vault-network-restricted",
            description:
                "Key Vaults are not open to all networks: the firewall denies by default (or public access is off) and allows no range wider than " +
                "minIpRulePrefixLength; outside production, the stack's keyVaultPublicNetworkAccess: true opens a vault on purpose.",
            enforcementLevel: "mandatory",
            configSchema: {
                properties: {
                    ...productionSchema.properties,
                    minIpRulePrefixLength: {
                        type: "integer",
                        minimum: 0,
                        maximum: 32,
                        default: MIN_KEY_VAULT_IP_PREFIX_LENGTH,
                        description: "Shortest prefix an IP rule may have: a /16 allows 65,536 addresses.",
                    },
                },
            },
            validateResource: validate([RESOURCE_TYPES.vault], (vault, args) => {
                const openAllowed = context().keyVaultPublicNetworkAccess === true && !production(context, args);
                const minPrefix = args.getConfig<{ minIpRulePrefixLength?: number }>().minIpRulePrefixLength ?? MIN_KEY_VAULT_IP_PREFIX_LENGTH;
                return vaultNetworkViolations(vault, openAllowed, minPrefix);
            }),
        },
        {
            name: "no-plaintext-secrets",
            description:
                "No token, password, key or connection string in notebook sources (inline or from a local file), job settings or Spark config; " +
                "no credential-bearing Spark setting set to a literal in notebook code (spark.conf.set, hadoopConfiguration().set, builder config, reader options).",
            enforcementLevel: "mandatory",
            validateResource: validate([RESOURCE_TYPES.notebook, RESOURCE_TYPES.job, RESOURCE_TYPES.cluster], (props, args) => {
                switch (args.type) {
                    case RESOURCE_TYPES.notebook:
                        return notebookSecretViolations(props, readSourceFile);
                    case RESOURCE_TYPES.job:
                        return jobSecretViolations(props);
                    default:
                        return clusterSecretViolations(props);
                }
            }),
        },
    ];
}

/**
 * The stack the Pulumi CLI runs the pack against. The CLI starts the pack with the stack's name and
 * config in the environment (PULUMI_NODEJS_STACK, PULUMI_CONFIG), so pulumi.getStack() and
 * pulumi.Config work here as in the program; outside a stack operation neither is known.
 */
export function engineStackContext(env: NodeJS.ProcessEnv = process.env): StackContext {
    if (!env.PULUMI_NODEJS_STACK) {
        return {};
    }
    let mode: string | undefined;
    let keyVaultPublicNetworkAccess: boolean | undefined;
    try {
        const config = new pulumi.Config(pulumi.getProject());
        mode = config.get("mode");
        keyVaultPublicNetworkAccess = config.get("keyVaultPublicNetworkAccess") === "true";
    } catch {
        mode = undefined;
    }
    return { stack: pulumi.getStack(), mode, keyVaultPublicNetworkAccess };
}

/** The context, read once: it does not change while the pack runs. */
export function memoize<T>(read: () => T): () => T {
    let value: { readonly current: T } | undefined;
    return () => (value ??= { current: read() }).current;
}
