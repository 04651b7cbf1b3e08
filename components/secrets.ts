import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import * as random from "@pulumi/random";
import * as authorization from "@pulumi/azure-native/authorization";
import * as keyvault from "@pulumi/azure-native/keyvault";
import * as monitor from "@pulumi/azure-native/monitor";
import type { input } from "@pulumi/azure-native/types";
import type { KeyVaultNetworkConfig } from "./config";
import { VAULT_SUFFIX_LENGTH } from "./naming";

// Built-in Azure role ids.
/** Data plane get/list of secrets: what the AzureDatabricks application needs for the secret scope. */
export const KEY_VAULT_SECRETS_USER_ROLE = "4633458b-17de-408a-b874-0445c86b69e6";
/**
 * Data plane management of secrets. The stack assigns it to no one: it writes its secrets through ARM
 * (Microsoft.KeyVault/vaults/secrets/write, a control-plane action), which needs no data plane role.
 * Kept for tools that name role assignments found in a subscription.
 */
export const KEY_VAULT_SECRETS_OFFICER_ROLE = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";

/** The vault's diagnostic setting: the `audit` category group (Key Vault's AuditEvent log). */
export const KEY_VAULT_AUDIT_CATEGORY_GROUP = "audit";

/**
 * The vault firewall's rules. Deny by default, trusted Microsoft services through (a Key Vault-backed
 * secret scope reads the vault as one), then the allow-lists; `publicNetworkAccess` opens it to all.
 * Public network access itself stays Enabled: Disabled would ignore these rules and so the allow-list
 * (https://learn.microsoft.com/azure/key-vault/general/network-security).
 */
export function vaultNetworkRules(network: KeyVaultNetworkConfig): input.keyvault.NetworkRuleSetArgs {
    return {
        bypass: "AzureServices",
        defaultAction: network.publicNetworkAccess ? "Allow" : "Deny",
        ipRules: network.allowedIpRanges.map((value) => ({ value })),
        virtualNetworkRules: network.allowedSubnetIds.map((id) => ({ id })),
    };
}

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
    /** The vault firewall: denies all networks but trusted Microsoft services and the allow-lists, unless opened. */
    readonly network: KeyVaultNetworkConfig;
    /** Log Analytics workspace receiving the vault's audit logs; none when undefined. */
    readonly logAnalyticsWorkspaceId?: pulumi.Input<string>;
    readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/**
 * An Azure Key Vault (RBAC authorization, firewall on) and a Databricks secret scope backed by it, so
 * notebooks read credentials with `dbutils.secrets.get(scope, key)` and none sits in code, job
 * settings or state in plain text. The vault name ends with a random suffix that is regenerated when
 * the stack is destroyed and created again, so a soft-deleted vault's reserved name is never reused.
 *
 * One role assignment: Key Vault Secrets User for the AzureDatabricks application. The deployer gets
 * none: its secrets go through ARM (keyvault.Secret, Microsoft.KeyVault/vaults/secrets/write), a
 * control-plane write that neither the data plane's RBAC roles nor the vault firewall govern, and the
 * deployer needs control-plane rights on the resource group to create the vault in the first place.
 * Only deleting one secret while the vault stays goes through the data plane (see docs/secrets.md).
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
                    publicNetworkAccess: "Enabled",
                    networkAcls: vaultNetworkRules(args.network),
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

        if (args.logAnalyticsWorkspaceId !== undefined) {
            new monitor.DiagnosticSetting(
                `${name}-vault-audit`,
                {
                    name: "audit-to-log-analytics",
                    resourceUri: this.vault.id,
                    workspaceId: args.logAnalyticsWorkspaceId,
                    // Resource-specific table (AZKVAuditLogs) rather than AzureDiagnostics.
                    logAnalyticsDestinationType: "Dedicated",
                    logs: [{ categoryGroup: KEY_VAULT_AUDIT_CATEGORY_GROUP, enabled: true }],
                },
                { parent: this },
            );
        }

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
                // The provider deletes a secret through the data plane (ARM refuses DELETE on
                // vaults/secrets), which the firewall and RBAC guard; deleting the vault takes its
                // secrets along, so destroying the stack never needs the data plane.
                { parent: this, deletedWith: this.vault },
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
