/**
 * Every name the stack gives to something it creates is derived here from the project and the stack,
 * so that stacks such as `dev`, `pr-123` and `ci-7` live side by side in one workspace and one
 * subscription, and `pulumi destroy` of one never touches another.
 */

/** Length of the random suffix that makes each incarnation of a stack's Key Vault name unique. */
export const VAULT_SUFFIX_LENGTH = 4;
export const VAULT_NAME_MAX_LENGTH = 24;

export type JobKind = "sequential" | "parallel" | "async-worker" | "async-dispatcher";

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

/** Lower-case, hyphen-separated form of a name: `PR_123` becomes `pr-123`. */
export function slug(value: string): string {
    return value
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "-")
        .replace(/^-+|-+$/g, "");
}

/** A valid Unity Catalog identifier: lower-case letters, digits and underscores. */
export function sqlIdentifier(value: string): string {
    return value
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "_")
        .replace(/^_+|_+$/g, "");
}

export interface NamingInput {
    readonly project: string;
    readonly stack: string;
    readonly workspaceRoot: string;
    readonly vaultNamePrefix: string;
    /** Explicit schema name; derived from project and stack when absent. */
    readonly schema?: string;
    readonly extraTags?: Readonly<Record<string, string>>;
}

export function environmentNames(input: NamingInput): EnvironmentNames {
    const projectSlug = slug(input.project);
    const stackSlug = slug(input.stack);
    const prefix = `${projectSlug}-${stackSlug}`;
    const vaultNameBase = `${slug(input.vaultNamePrefix)}-${stackSlug}`;
    return {
        project: input.project,
        stack: input.stack,
        prefix,
        workspaceFolder: `${input.workspaceRoot.replace(/\/+$/, "")}/${stackSlug}`,
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
