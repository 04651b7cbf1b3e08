/**
 * The pack's policies: each wires one rule of rules.ts to the resource type it applies to. Built by a
 * function so that tests can give them a stack context; index.ts builds them for the stack the
 * Pulumi CLI runs the pack against. Constructing a PolicyPack starts a gRPC server, so only index.ts
 * does that.
 */
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
    RESOURCE_TYPES,
    scheduleViolations,
    secretScopeViolations,
    StackContext,
} from "./rules";

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

/** Every policy of the pack, all mandatory: a violation fails `pulumi preview` and blocks `pulumi up`. */
export function createPolicies(context: () => StackContext): ResourceValidationPolicy[] {
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
                "Jobs set maxConcurrentRuns explicitly: at most maxConcurrentScheduledRuns for a scheduled job, maxConcurrentRunsOnSharedCluster " +
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
            name: "no-plaintext-secrets",
            description: "No token, password, key or connection string in notebook sources, job settings or Spark config.",
            enforcementLevel: "mandatory",
            validateResource: validate([RESOURCE_TYPES.notebook, RESOURCE_TYPES.job, RESOURCE_TYPES.cluster], (props, args) => {
                switch (args.type) {
                    case RESOURCE_TYPES.notebook:
                        return notebookSecretViolations(props);
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
    try {
        mode = new pulumi.Config(pulumi.getProject()).get("mode");
    } catch {
        mode = undefined;
    }
    return { stack: pulumi.getStack(), mode };
}

/** The context, read once: it does not change while the pack runs. */
export function memoize<T>(read: () => T): () => T {
    let value: { readonly current: T } | undefined;
    return () => (value ??= { current: read() }).current;
}
