/**
 * What a run cost: node-hours of the compute it used, and DBUs and money when the user gives the
 * rates. A cluster of N workers has N+1 nodes (the driver), a single-node cluster (num_workers 0)
 * one, an autoscaling cluster between min_workers+1 and max_workers+1 (the figures are then a
 * range). A run is charged each cluster its tasks used for the time from the first of those tasks'
 * start to the last one's end. The shared cluster (existing_cluster_id) is all-purpose compute,
 * a job cluster or a task's new_cluster is jobs compute: Databricks bills the two at different
 * DBU prices, so one rate for both is an approximation the report says it is.
 */
import { ApiError, type JobsClient } from "./api";
import type { ClusterSpec, JobRun, RunTask } from "./types";

/** clusters/get answers (or why there is none) by cluster id. */
export type ClusterSizes = Map<string, ClusterSpec | Error>;

/** Fetches the size of every existing cluster in `uses` that `sizes` does not hold yet. */
export async function fetchClusterSizes(client: JobsClient, uses: readonly ClusterUse[], sizes: ClusterSizes): Promise<void> {
    const ids = [...new Set(uses.flatMap((u) => (u.existingClusterId ? [u.existingClusterId] : [])))];
    for (const id of ids.filter((i) => !sizes.has(i))) {
        try {
            sizes.set(id, await client.getCluster(id));
        } catch (err) {
            // A deleted cluster, or no permission to see it: the cost is unknown, the rest of the report stands.
            if (err instanceof ApiError && err.status !== 401) sizes.set(id, new Error(`clusters/get failed: ${err.message}`));
            else throw err;
        }
    }
}

export type ComputeType = "all-purpose" | "jobs";

export interface Nodes {
    min: number;
    max: number;
}

/** The node count of a cluster spec; undefined when it says neither num_workers nor autoscale. */
export function clusterNodes(spec: ClusterSpec): Nodes | undefined {
    if (spec.autoscale && (spec.autoscale.min_workers !== undefined || spec.autoscale.max_workers !== undefined)) {
        const min = spec.autoscale.min_workers ?? spec.autoscale.max_workers!;
        const max = spec.autoscale.max_workers ?? min;
        return { min: min + 1, max: max + 1 };
    }
    if (typeof spec.num_workers === "number") return { min: spec.num_workers + 1, max: spec.num_workers + 1 };
    // num_workers defaults to 0 (a single-node cluster, the driver alone) when clusters/get leaves it out.
    if (spec.cluster_id !== undefined) return { min: 1, max: 1 };
    return undefined;
}

/** One cluster a run used and for how long (seconds, first task start to last task end). */
export interface ClusterUse {
    /** existing cluster id, or "job_cluster:<key>", or "new_cluster:<task>". */
    key: string;
    compute: ComputeType;
    existingClusterId?: string;
    spec?: ClusterSpec;
    seconds: number;
}

/** The cluster reference of a task (a For each task runs its nested task's cluster). */
function taskCluster(run: JobRun, task: RunTask): Omit<ClusterUse, "seconds"> | undefined {
    const nested = task.for_each_task?.task as RunTask | undefined;
    const t = task.existing_cluster_id || task.job_cluster_key || task.new_cluster ? task : nested;
    if (!t) return undefined;
    if (t.existing_cluster_id) return { key: t.existing_cluster_id, compute: "all-purpose", existingClusterId: t.existing_cluster_id };
    if (t.job_cluster_key) {
        const spec = run.job_clusters?.find((c) => c.job_cluster_key === t.job_cluster_key)?.new_cluster;
        return { key: `job_cluster:${t.job_cluster_key}`, compute: "jobs", spec };
    }
    if (t.new_cluster) return { key: `new_cluster:${task.task_key ?? ""}`, compute: "jobs", spec: t.new_cluster };
    return undefined;
}

/** The clusters a finished run's tasks used, each with the span of the tasks on it. */
export function clusterUses(run: JobRun): ClusterUse[] {
    const spans = new Map<string, { ref: Omit<ClusterUse, "seconds">; start: number; end: number }>();
    for (const task of run.tasks ?? []) {
        const ref = taskCluster(run, task);
        if (!ref || !task.start_time || !task.end_time || task.end_time < task.start_time) continue;
        const span = spans.get(ref.key);
        if (span) {
            span.start = Math.min(span.start, task.start_time);
            span.end = Math.max(span.end, task.end_time);
        } else spans.set(ref.key, { ref, start: task.start_time, end: task.end_time });
    }
    return [...spans.values()].map((s) => ({ ...s.ref, seconds: (s.end - s.start) / 1000 }));
}

export interface Rates {
    /** DBUs one node consumes per hour (depends on the VM size and the compute type). */
    dbuPerNodeHour?: number;
    /** Price of one DBU in the user's currency. */
    pricePerDbu?: number;
}

export interface RunCost {
    nodeHours: Nodes;
    dbus?: Nodes;
    price?: Nodes;
    compute: ComputeType[];
    /** Clusters whose size could not be had (why). */
    unknown: string[];
}

/**
 * The cost of one run from its cluster uses; `sizes` holds the clusters/get answers of the
 * existing clusters, by id. Node-hours are exact for fixed-size clusters, a range for autoscaling.
 */
export function runCost(uses: readonly ClusterUse[], sizes: ReadonlyMap<string, ClusterSpec | Error>, rates: Rates): RunCost {
    const nodeHours = { min: 0, max: 0 };
    const compute = new Set<ComputeType>();
    const unknown: string[] = [];
    for (const use of uses) {
        const spec = use.existingClusterId ? sizes.get(use.existingClusterId) : use.spec;
        const nodes = spec && !(spec instanceof Error) ? clusterNodes(spec) : undefined;
        if (!nodes) {
            unknown.push(spec instanceof Error ? `${use.key}: ${spec.message}` : `${use.key}: no cluster size in the run`);
            continue;
        }
        compute.add(use.compute);
        nodeHours.min += (nodes.min * use.seconds) / 3600;
        nodeHours.max += (nodes.max * use.seconds) / 3600;
    }
    const scale = (n: Nodes, by: number | undefined): Nodes | undefined => (by === undefined ? undefined : { min: n.min * by, max: n.max * by });
    const dbus = scale(nodeHours, rates.dbuPerNodeHour);
    return { nodeHours, dbus, price: dbus ? scale(dbus, rates.pricePerDbu) : undefined, compute: [...compute].sort(), unknown };
}

/** "1.23" or "1.10-2.05" for a range. */
export function formatRange(n: Nodes | undefined, decimals = 2): string {
    if (!n) return "-";
    const a = n.min.toFixed(decimals);
    const b = n.max.toFixed(decimals);
    return a === b ? a : `${a}-${b}`;
}

/** The nodes of the clusters a run used, e.g. "3" or "2-5". */
export function formatNodes(uses: readonly ClusterUse[], sizes: ReadonlyMap<string, ClusterSpec | Error>): string {
    const parts = uses.map((use) => {
        const spec = use.existingClusterId ? sizes.get(use.existingClusterId) : use.spec;
        const nodes = spec && !(spec instanceof Error) ? clusterNodes(spec) : undefined;
        return nodes ? (nodes.min === nodes.max ? `${nodes.min}` : `${nodes.min}-${nodes.max}`) : "?";
    });
    return parts.length ? parts.join("+") : "-";
}

/** The caveat printed under every cost figure. */
export function costCaveat(compute: readonly ComputeType[], rates: Rates): string {
    const kinds = compute.length ? compute.join(" and ") : "no known";
    return (
        `Estimates from the cluster sizes and the runs' times (${kinds} compute). ` +
        "Databricks bills all-purpose compute (the shared cluster) and jobs compute (job clusters, perJob mode) at different DBU prices" +
        (rates.dbuPerNodeHour !== undefined
            ? `; these figures use one rate for both (${rates.dbuPerNodeHour} DBU per node-hour${rates.pricePerDbu !== undefined ? `, ${rates.pricePerDbu} per DBU` : ""}).`
            : ": give the rates of your VM size, compute type and pricing tier with --dbu-per-node-hour and --price-per-dbu for DBUs and cost.")
    );
}
