import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import type { ComputeMode } from "./config";

/**
 * The oldest Databricks runtime the notebooks run on, and why: each entry is a feature they use and the
 * runtime that brought it (Databricks Runtime release notes and SQL reference).
 */
export const RUNTIME_REQUIREMENTS: readonly { readonly since: readonly [number, number]; readonly feature: string }[] = [
    { since: [13, 3], feature: "named parameter markers in spark.sql(query, args=...) (PySpark 3.4: Databricks Runtime 13.3 LTS)" },
    { since: [12, 2], feature: "MERGE ... WHEN NOT MATCHED BY SOURCE THEN DELETE (Databricks Runtime 12.2 LTS)" },
    { since: [11, 3], feature: "Unity Catalog three-part table names (Databricks Runtime 11.3 LTS)" },
];

/** The runtime the stack pins when sparkVersion is not set: the newest LTS (Spark 4.0), supported until October 2028. */
export const DEFAULT_SPARK_VERSION = "17.3.x-scala2.13";

/**
 * End of support of the LTS runtimes the notebooks run on (https://learn.microsoft.com/azure/databricks/release-notes/runtime/,
 * "Supported Databricks Runtime LTS releases"), for a notice when the pinned runtime passes it.
 */
export const LTS_END_OF_SUPPORT: Readonly<Record<string, string>> = {
    "13.3": "2026-08-22",
    "14.3": "2027-02-01",
    "15.4": "2027-08-19",
    "16.4": "2028-05-09",
    "17.3": "2028-10-22",
};

/** A notice when the runtime is an LTS past its end of support on `today` (YYYY-MM-DD), else undefined. */
export function runtimeSupportNotice(key: string, today: string): string | undefined {
    const runtime = parseSparkVersion(key);
    const end = runtime && LTS_END_OF_SUPPORT[`${runtime.major}.${runtime.minor}`];
    if (!end || today <= end) {
        return undefined;
    }
    return `sparkVersion ${key}: Databricks Runtime ${runtime.major}.${runtime.minor} LTS reached its end of support on ${end}; pin a newer LTS (the default is ${DEFAULT_SPARK_VERSION})`;
}

export interface SparkRuntime {
    readonly major: number;
    readonly minor: number;
    /** Machine learning runtime (`-cpu-ml-`, `-gpu-ml-`). */
    readonly ml: boolean;
    readonly gpu: boolean;
}

/** A runtime key as the Clusters API lists them, e.g. 17.3.x-scala2.13, 15.4.x-photon-scala2.12, 15.4.x-cpu-ml-scala2.12. */
export function parseSparkVersion(key: string): SparkRuntime | undefined {
    const match = /^(\d+)\.(\d+)\.x-((?:[a-z0-9]+-)*)scala2\.1[23]$/.exec(key);
    if (!match) {
        return undefined;
    }
    const variant = match[3];
    return { major: Number(match[1]), minor: Number(match[2]), ml: /(^|-)ml-$/.test(variant), gpu: /(^|-)gpu-/.test(variant) };
}

/** What is wrong with a sparkVersion key for these notebooks, or undefined when it suits them. */
export function sparkVersionProblem(key: string): string | undefined {
    const runtime = parseSparkVersion(key);
    if (!runtime) {
        return `a Databricks runtime key such as ${DEFAULT_SPARK_VERSION} (<major>.<minor>.x[-<variant>]-scala<2.12|2.13>, as the Clusters API's spark-versions lists)`;
    }
    const older = RUNTIME_REQUIREMENTS.filter(({ since: [major, minor] }) => runtime.major < major || (runtime.major === major && runtime.minor < minor));
    if (older.length > 0) {
        const [major, minor] = RUNTIME_REQUIREMENTS[0].since;
        return `Databricks Runtime ${major}.${minor} LTS or later: runtime ${runtime.major}.${runtime.minor} lacks ${older.map((r) => r.feature).join("; ")}`;
    }
    return undefined;
}

export interface AccessModeInput {
    readonly mode: ComputeMode;
    readonly dataSecurityMode: string;
    readonly sparkVersion: string;
    readonly catalog: string;
}

/**
 * Combinations of access mode, runtime, compute mode and catalog that Databricks refuses or that
 * cannot run these notebooks, as [config key, what is expected] pairs. A single node adds no rule:
 * Databricks accepts single-node clusters with standard access mode (USER_ISOLATION, the default)
 * since May 2025 (terraform-provider-databricks#4778), and with dedicated access mode.
 */
export function accessModeProblems(compute: AccessModeInput): [key: string, expected: string][] {
    const problems: [string, string][] = [];
    const runtime = parseSparkVersion(compute.sparkVersion);
    if (compute.dataSecurityMode === "USER_ISOLATION" && (runtime?.ml || runtime?.gpu)) {
        // https://learn.microsoft.com/azure/databricks/compute/standard-limitations
        problems.push([
            "sparkVersion",
            "a runtime without the machine learning or GPU variant with dataSecurityMode USER_ISOLATION (standard access mode supports neither); use SINGLE_USER with computeMode perJob for one",
        ]);
    }
    if (compute.dataSecurityMode === "SINGLE_USER" && compute.mode === "shared") {
        problems.push([
            "dataSecurityMode",
            "USER_ISOLATION with computeMode shared: a SINGLE_USER (dedicated) all-purpose cluster must be assigned to one user (single_user_name) and every job run on it " +
                "would have to run as that user; use computeMode perJob for dedicated job clusters",
        ]);
    }
    if (compute.dataSecurityMode === "NONE" && compute.catalog !== "hive_metastore") {
        // https://learn.microsoft.com/azure/databricks/compute/access-mode-limitations: no-isolation shared does not support Unity Catalog.
        problems.push([
            "dataSecurityMode",
            `USER_ISOLATION or SINGLE_USER: catalog '${compute.catalog}' is a Unity Catalog catalog, which a no-isolation (NONE) cluster cannot read; NONE works only with catalog hive_metastore`,
        ]);
    }
    return problems;
}

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
    /** Spark runtime key, pinned in the stack's configuration (DEFAULT_SPARK_VERSION unless set). */
    readonly sparkVersion: pulumi.Input<string>;
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

        // Pinned, never looked up as "the latest LTS": that lookup changes when Databricks publishes a new
        // LTS, and the next `pulumi up` would then restart the shared cluster on an untested runtime.
        const sparkVersion = pulumi.output(args.sparkVersion);
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
