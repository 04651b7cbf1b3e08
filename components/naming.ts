/**
 * Every name the stack gives to something it creates is derived here from the project and the stack,
 * so that stacks such as `dev`, `pr-123` and `ci-7` live side by side in one workspace and one
 * subscription, and `pulumi destroy` of one never touches another.
 */

/** Length of the random suffix that makes each incarnation of a stack's Key Vault name unique. */
export const VAULT_SUFFIX_LENGTH = 4;
export const VAULT_NAME_MAX_LENGTH = 24;

/** The orchestration jobs, and the asynchronous fan-out's dispatcher, its safety net and one worker job per notebook among the work items (`async-<key>`). */
export type JobKind = "sequential" | "parallel" | "for-each" | "async-dispatcher" | "async-safety-net" | `async-${string}`;

export interface EnvironmentNames {
    readonly project: string;
    readonly stack: string;
    /** Prefix of every Pulumi resource name: `<project>-<stack>`. */
    readonly prefix: string;
    /** Workspace folder that holds all of this stack's notebooks. */
    readonly workspaceFolder: string;
    readonly clusterName: string;
    readonly secretScope: string;
    /** Unity Catalog schema (or Hive database) for the stack's tables. */
    readonly schema: string;
    /** Key Vault name without its random suffix: `<vaultPrefix>-<stack>`. */
    readonly vaultNameBase: string;
    /** Length of the full vault name once the random suffix is appended. */
    readonly vaultNameLength: number;
    readonly resourceGroupName: string;
    readonly workspaceName: string;
    /** Tags put on every cluster, job and Azure resource. */
    readonly tags: Readonly<Record<string, string>>;
    jobName(kind: JobKind): string;
}

/** Lower-case, hyphen-separated form of a name: `PR_123` becomes `pr-123`. Suggests a valid name; never applied silently. */
export function slug(value: string): string {
    return value
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "-")
        .replace(/^-+|-+$/g, "");
}

/**
 * What is wrong with `value` as a part of the names the stack derives (the stack's name, the vault name
 * prefix), or undefined: they are used as given, so they must already be lower-case letters and digits in
 * hyphen-separated words. (Rewriting them would hide a mistake and could give two stacks one name.)
 */
export function nameSegmentProblem(value: string): string | undefined {
    return /^[a-z0-9]+(-[a-z0-9]+)*$/.test(value) ? undefined : "lower-case letters, digits and single hyphens, not at either end";
}

/** A valid Unity Catalog identifier: lower-case letters, digits and underscores. */
export function sqlIdentifier(value: string): string {
    return value
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "_")
        .replace(/^_+|_+$/g, "");
}

/** Tags the stack puts on everything it creates; `tags` in config may not set them. */
export const RESERVED_TAGS = ["environment", "project", "managed-by"] as const;

export interface NamingInput {
    readonly project: string;
    readonly stack: string;
    readonly workspaceRoot: string;
    readonly vaultNamePrefix: string;
    /** Explicit schema name; derived from project and stack when absent. */
    readonly schema?: string;
    readonly extraTags?: Readonly<Record<string, string>>;
}

/**
 * Every name of the environment. The stack's name and the vault name prefix are used as given (check them
 * with nameSegmentProblem); the project's name, fixed in Pulumi.yaml, is written in lower case with hyphens.
 */
export function environmentNames(input: NamingInput): EnvironmentNames {
    const projectSlug = slug(input.project);
    const prefix = `${projectSlug}-${input.stack}`;
    const vaultNameBase = `${input.vaultNamePrefix}-${input.stack}`;
    return {
        project: input.project,
        stack: input.stack,
        prefix,
        workspaceFolder: `${input.workspaceRoot.replace(/\/+$/, "")}/${input.stack}`,
        clusterName: prefix,
        secretScope: prefix,
        schema: input.schema ?? sqlIdentifier(`${input.project}_${input.stack}`),
        vaultNameBase,
        vaultNameLength: vaultNameBase.length + 1 + VAULT_SUFFIX_LENGTH,
        resourceGroupName: `rg-${prefix}`,
        workspaceName: `dbw-${prefix}`,
        tags: {
            ...input.extraTags,
            environment: input.stack,
            project: input.project,
            "managed-by": "pulumi",
        },
        // Databricks Asset Bundles' development mode prefixes names the same way: `[dev] name`.
        jobName: (kind) => `[${input.stack}] ${projectSlug} ${kind}`,
    };
}

/**
 * Key Vault names: 3-24 characters, letters, digits and hyphens, starting with a letter, ending with a
 * letter or digit, no consecutive hyphens. Returns what is wrong, or undefined when the name is valid.
 */
export function vaultNameProblem(name: string): string | undefined {
    if (name.length < 3 || name.length > VAULT_NAME_MAX_LENGTH) {
        return `is ${name.length} characters; Key Vault names are 3 to ${VAULT_NAME_MAX_LENGTH}`;
    }
    if (!/^[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]$/.test(name) || name.includes("--")) {
        return "must start with a letter, end with a letter or digit and contain only letters, digits and single hyphens";
    }
    return undefined;
}
