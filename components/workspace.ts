import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import * as authorization from "@pulumi/azure-native/authorization";
import * as azureDatabricks from "@pulumi/azure-native/databricks";
import * as resources from "@pulumi/azure-native/resources";
import type { DatabricksAuthType } from "./config";

export interface DatabricksWorkspaceArgs {
    /** Create a resource group and an Azure Databricks workspace instead of using an existing one. */
    readonly create: boolean;
    /** URL of an existing workspace (when create is false). */
    readonly host?: pulumi.Input<string>;
    /** Azure resource id of an existing workspace (when create is false). */
    readonly workspaceResourceId?: pulumi.Input<string>;
    /** Resource group of the stack's Azure resources: existing, or the name to create. */
    readonly resourceGroupName: pulumi.Input<string>;
    /** Name of the workspace to create. */
    readonly workspaceName: pulumi.Input<string>;
    readonly location: pulumi.Input<string>;
    /** How the Databricks provider authenticates: an Azure AD method, which Key Vault-backed scopes require. */
    readonly authType: DatabricksAuthType;
    readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/**
 * The Databricks provider's authentication arguments for an auth type (the Databricks unified client
 * authentication of the Go SDK the provider is built on). Identifiers and credentials are left to the
 * environment, which the provider reads at every run, so none is stored in the stack's state:
 * - github-oidc-azure: ARM_CLIENT_ID and ARM_TENANT_ID name the app registration, and GitHub's
 *   ACTIONS_ID_TOKEN_REQUEST_URL/ACTIONS_ID_TOKEN_REQUEST_TOKEN (a job with `permissions: id-token: write`)
 *   give the OIDC token the provider exchanges for its own Azure AD tokens (audience
 *   api://AzureADTokenExchange), so a long `pulumi up` never depends on the Azure CLI's session;
 *   see databricks-sdk-go config/auth_azure_github_oidc.go.
 * - azure-msi: the SDK only tries a managed identity when azure_use_msi is set (auth_azure_msi.go),
 *   so the auth type alone is not enough.
 * - azure-client-secret: ARM_CLIENT_ID, ARM_CLIENT_SECRET, ARM_TENANT_ID.
 */
export function databricksProviderAuth(authType: DatabricksAuthType): Pick<databricks.ProviderArgs, "authType" | "azureUseMsi"> {
    return authType === "azure-msi" ? { authType, azureUseMsi: true } : { authType };
}

/**
 * The Azure Databricks workspace the stack deploys into, and a Databricks provider for it that
 * authenticates with Azure AD. Either an existing workspace, or (for fully ephemeral environments) a
 * resource group and a premium workspace created and destroyed with the stack.
 */
export class DatabricksWorkspace extends pulumi.ComponentResource {
    public readonly provider: databricks.Provider;
    /** Workspace URL, `https://adb-<id>.<n>.azuredatabricks.net`. */
    public readonly host: pulumi.Output<string>;
    public readonly workspaceResourceId: pulumi.Output<string>;
    public readonly resourceGroupName: pulumi.Output<string>;

    constructor(name: string, args: DatabricksWorkspaceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("orchestration:workspace:DatabricksWorkspace", name, {}, opts);

        if (args.create) {
            const group = new resources.ResourceGroup(
                `${name}-rg`,
                { resourceGroupName: args.resourceGroupName, location: args.location, tags: args.tags },
                { parent: this },
            );
            const client = authorization.getClientConfigOutput({ parent: this });
            const workspace = new azureDatabricks.Workspace(
                `${name}-workspace`,
                {
                    workspaceName: args.workspaceName,
                    resourceGroupName: group.name,
                    location: group.location,
                    sku: { name: "premium" },
                    managedResourceGroupId: pulumi.interpolate`/subscriptions/${client.subscriptionId}/resourceGroups/${group.name}-managed`,
                    tags: args.tags,
                },
                { parent: this },
            );
            this.host = pulumi.interpolate`https://${workspace.workspaceUrl}`;
            this.workspaceResourceId = workspace.id;
            this.resourceGroupName = group.name;
        } else {
            if (!args.host || !args.workspaceResourceId) {
                throw new Error(`${name}: host and workspaceResourceId are required when create is false`);
            }
            this.host = pulumi.output(args.host);
            this.workspaceResourceId = pulumi.output(args.workspaceResourceId);
            this.resourceGroupName = pulumi.output(args.resourceGroupName);
        }

        this.provider = new databricks.Provider(
            `${name}-provider`,
            { host: this.host, azureWorkspaceResourceId: this.workspaceResourceId, ...databricksProviderAuth(args.authType) },
            { parent: this },
        );

        this.registerOutputs({
            host: this.host,
            workspaceResourceId: this.workspaceResourceId,
            resourceGroupName: this.resourceGroupName,
        });
    }
}
