import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import * as random from "@pulumi/random";
import * as authorization from "@pulumi/azure-native/authorization";
import * as keyvault from "@pulumi/azure-native/keyvault";
import { VAULT_SUFFIX_LENGTH } from "./naming";

/** Built-in Azure role ids. */
export const KEY_VAULT_SECRETS_USER_ROLE = "4633458b-17de-408a-b874-0445c86b69e6";
export const KEY_VAULT_SECRETS_OFFICER_ROLE = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";

export interface KeyVaultSecretScopeArgs {
    readonly resourceGroupName: pulumi.Input<string>;
    readonly location: pulumi.Input<string>;
    /** Vault name before its random per-incarnation suffix, e.g. `kv-nbo-dev`. */
    readonly vaultNameBase: string;
    readonly scopeName: pulumi.Input<string>;
    /** Object id of the AzureDatabricks application's service principal in this tenant. */
    readonly databricksServicePrincipalObjectId: pulumi.Input<string>;
    readonly softDeleteRetentionDays: pulumi.Input<number>;
    /** Irreversible once on: keep it off outside production so an environment's vault can be purged. */
    readonly purgeProtection: boolean;
    /** Secrets to store in the vault; values should be Pulumi secrets. */
    readonly secrets: readonly { readonly name: string; readonly value: pulumi.Input<string> }[];
    readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/**
 * An Azure Key Vault (RBAC authorization) and a Databricks secret scope backed by it, so notebooks
 * read credentials with `dbutils.secrets.get(scope, key)` and none sits in code, job settings or state
 * in plain text. The vault name ends with a random suffix that is regenerated when the stack is
 * destroyed and created again, so a soft-deleted vault's reserved name is never reused.
 */
export class KeyVaultSecretScope extends pulumi.ComponentResource {
    public readonly vault: keyvault.Vault;
    public readonly scope: databricks.SecretScope;
    public readonly vaultName: pulumi.Output<string>;
    public readonly vaultUri: pulumi.Output<string>;
    public readonly scopeName: pulumi.Output<string>;

    constructor(name: string, args: KeyVaultSecretScopeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("orchestration:secrets:KeyVaultSecretScope", name, {}, opts);

        const client = authorization.getClientConfigOutput({ parent: this });
        const suffix = new random.RandomString(`${name}-vault-suffix`, { length: VAULT_SUFFIX_LENGTH, special: false, upper: false }, { parent: this });
        this.vault = new keyvault.Vault(
            `${name}-vault`,
            {
                vaultName: pulumi.interpolate`${args.vaultNameBase}-${suffix.result}`,
                resourceGroupName: args.resourceGroupName,
                location: args.location,
                properties: {
                    tenantId: client.tenantId,
                    sku: { family: "A", name: "standard" },
                    enableRbacAuthorization: true,
                    enableSoftDelete: true,
                    softDeleteRetentionInDays: args.softDeleteRetentionDays,
                    // The API accepts only true; leaving it unset is how it stays off.
                    enablePurgeProtection: args.purgeProtection ? true : undefined,
                },
                tags: args.tags,
            },
            { parent: this },
        );
        this.vaultName = this.vault.name;
        this.vaultUri = this.vault.properties.apply((properties) => properties.vaultUri ?? "");

        const roleDefinition = (role: string) =>
            pulumi.interpolate`/subscriptions/${client.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${role}`;
        const databricksCanRead = new authorization.RoleAssignment(
            `${name}-databricks-secrets-user`,
            {
                scope: this.vault.id,
                roleDefinitionId: roleDefinition(KEY_VAULT_SECRETS_USER_ROLE),
                principalId: args.databricksServicePrincipalObjectId,
                principalType: "ServicePrincipal",
                description: "AzureDatabricks reads this vault for the Key Vault-backed secret scope",
            },
            { parent: this },
        );
        const deployerCanWrite = new authorization.RoleAssignment(
            `${name}-deployer-secrets-officer`,
            {
                scope: this.vault.id,
                roleDefinitionId: roleDefinition(KEY_VAULT_SECRETS_OFFICER_ROLE),
                principalId: client.objectId,
                description: "The identity that deploys this stack writes and rotates its secrets",
            },
            { parent: this },
        );

        for (const secret of args.secrets) {
            new keyvault.Secret(
                `${name}-secret-${secret.name}`,
                {
                    vaultName: this.vault.name,
                    resourceGroupName: args.resourceGroupName,
                    secretName: secret.name,
                    properties: { value: pulumi.secret(secret.value) },
                    tags: args.tags,
                },
                { parent: this, dependsOn: [deployerCanWrite] },
            );
        }

        this.scope = new databricks.SecretScope(
            `${name}-scope`,
            {
                name: args.scopeName,
                keyvaultMetadata: { resourceId: this.vault.id, dnsName: this.vaultUri },
            },
            { parent: this, dependsOn: [databricksCanRead] },
        );
        this.scopeName = this.scope.name;

        this.registerOutputs({ vaultName: this.vaultName, vaultUri: this.vaultUri, scopeName: this.scopeName });
    }
}
