import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import type { ComputeMode } from "./config";

/** Single-node Spark settings, as the Databricks UI sets them for "Single node" compute. */
export const SINGLE_NODE_SPARK_CONF: Readonly<Record<string, string>> = {
    "spark.databricks.cluster.profile": "singleNode",
    "spark.master": "local[*, 4]",
};

export interface ClusterShape {
    readonly singleNode: boolean;
    readonly numWorkers: number;
    readonly autoscale?: { readonly minWorkers: number; readonly maxWorkers: number };
    readonly dataSecurityMode: string;
    readonly tags: Readonly<Record<string, string>>;
}

/** The fields an all-purpose cluster and a job cluster share: the one cluster spec both modes use. */
export interface ClusterSpec {
    readonly sparkVersion: string;
    readonly nodeTypeId: string;
    readonly numWorkers?: number;
    readonly autoscale?: { readonly minWorkers: number; readonly maxWorkers: number };
    readonly dataSecurityMode: string;
    readonly sparkConf?: Record<string, string>;
    readonly customTags: Record<string, string>;
}

export function clusterSpec(shape: ClusterShape, sparkVersion: string, nodeTypeId: string): ClusterSpec {
    if (shape.singleNode) {
        return {
            sparkVersion,
            nodeTypeId,
            numWorkers: 0,
            dataSecurityMode: shape.dataSecurityMode,
            sparkConf: { ...SINGLE_NODE_SPARK_CONF },
            customTags: { ...shape.tags, ResourceClass: "SingleNode" },
        };
    }
    return {
        sparkVersion,
        nodeTypeId,
        ...(shape.autoscale ? { autoscale: { ...shape.autoscale } } : { numWorkers: shape.numWorkers }),
        dataSecurityMode: shape.dataSecurityMode,
        customTags: { ...shape.tags },
    };
}

/** Key of the job cluster in `perJob` mode. */
export const JOB_CLUSTER_KEY = "etl";

/** How a job's tasks get their compute. */
export interface TaskCompute {
    /** Set on every task: the shared cluster's id, or the job cluster's key. */
    readonly task: { existingClusterId: pulumi.Output<string> } | { jobClusterKey: string };
    /** The job's `jobClusters` (perJob mode only). */
    readonly jobClusters?: pulumi.Output<databricks.types.input.JobJobCluster[]>;
}

export interface EtlComputeArgs extends ClusterShape {
    /** `shared`: one all-purpose cluster both jobs run on; `perJob`: identical job clusters per job. */
    readonly mode: ComputeMode;
    readonly clusterName: string;
    /** Spark runtime; the workspace's latest LTS when unset. */
    readonly sparkVersion?: pulumi.Input<string>;
    /** VM size; the smallest with local disk when unset. */
    readonly nodeType?: pulumi.Input<string>;
    readonly autoterminationMinutes: number;
}

/**
 * The ETL's compute, declared once. In `shared` mode one all-purpose cluster is created and both jobs
 * reuse it, so no job waits for a cluster of its own; in `perJob` mode each job gets a job cluster
 * built from the same spec, so the two jobs' runtimes are compared on equal compute.
 */
export class EtlCompute extends pulumi.ComponentResource {
    public readonly spec: pulumi.Output<ClusterSpec>;
    public readonly cluster?: databricks.Cluster;
    public readonly taskCompute: TaskCompute;

    constructor(name: string, args: EtlComputeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("orchestration:compute:EtlCompute", name, {}, opts);

        const sparkVersion = args.sparkVersion
            ? pulumi.output(args.sparkVersion)
            : databricks.getSparkVersionOutput({ longTermSupport: true, latest: true }, { parent: this }).id;
        const nodeType = args.nodeType ? pulumi.output(args.nodeType) : databricks.getNodeTypeOutput({ localDisk: true }, { parent: this }).id;
        this.spec = pulumi.all([sparkVersion, nodeType]).apply(([version, node]) => clusterSpec(args, version, node));

        if (args.mode === "shared") {
            this.cluster = new databricks.Cluster(
                `${name}-cluster`,
                {
                    clusterName: args.clusterName,
                    sparkVersion: this.spec.sparkVersion,
                    nodeTypeId: this.spec.nodeTypeId,
                    numWorkers: this.spec.numWorkers,
                    autoscale: this.spec.autoscale,
                    dataSecurityMode: this.spec.dataSecurityMode,
                    sparkConf: this.spec.sparkConf,
                    customTags: this.spec.customTags,
                    autoterminationMinutes: args.autoterminationMinutes,
                },
                { parent: this },
            );
            this.taskCompute = { task: { existingClusterId: this.cluster.id } };
        } else {
            this.taskCompute = {
                task: { jobClusterKey: JOB_CLUSTER_KEY },
                jobClusters: this.spec.apply((spec) => [{ jobClusterKey: JOB_CLUSTER_KEY, newCluster: { ...spec } }]),
            };
        }

        this.registerOutputs({ spec: this.spec, clusterId: this.cluster?.id });
    }
}
