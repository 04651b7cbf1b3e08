import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import * as authorization from "@pulumi/azure-native/authorization";
import * as azureDatabricks from "@pulumi/azure-native/databricks";
import * as resources from "@pulumi/azure-native/resources";

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
    readonly authType: pulumi.Input<string>;
    readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
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
            { host: this.host, azureWorkspaceResourceId: this.workspaceResourceId, authType: args.authType },
            { parent: this },
        );

        this.registerOutputs({
            host: this.host,
            workspaceResourceId: this.workspaceResourceId,
            resourceGroupName: this.resourceGroupName,
        });
    }
}
