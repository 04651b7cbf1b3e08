import { expect } from "chai";
import { clusterNodes, clusterUses, costCaveat, formatRange, runCost } from "../cli/cost";
import type { JobRun } from "../cli/types";

const T0 = Date.UTC(2026, 11, 1, 2, 0, 0);

describe("jobs compare: compute per run (cli/cost.ts)", () => {
    it("counts the driver with the workers: fixed size, single node, autoscale range", () => {
        expect(clusterNodes({ num_workers: 2 })).to.deep.equal({ min: 3, max: 3 });
        expect(clusterNodes({ num_workers: 0 })).to.deep.equal({ min: 1, max: 1 });
        expect(clusterNodes({ cluster_id: "c1", spark_version: "15.4.x-scala2.12" }), "clusters/get without num_workers: single node").to.deep.equal({
            min: 1,
            max: 1,
        });
        expect(clusterNodes({ autoscale: { min_workers: 1, max_workers: 4 } })).to.deep.equal({ min: 2, max: 5 });
        expect(clusterNodes({}), "a spec that says nothing").to.equal(undefined);
    });

    it("charges each cluster from its first task's start to its last task's end; job clusters and a For each task's nested task are jobs compute", () => {
        const run: JobRun = {
            run_id: 1,
            job_clusters: [{ job_cluster_key: "etl", new_cluster: { autoscale: { min_workers: 1, max_workers: 3 } } }],
            tasks: [
                { task_key: "setup", job_cluster_key: "etl", start_time: T0, end_time: T0 + 20_000 },
                {
                    task_key: "for_each_worker",
                    start_time: T0 + 21_000,
                    end_time: T0 + 180_000,
                    for_each_task: { task: { task_key: "worker", notebook_task: {} } },
                },
                { task_key: "report", new_cluster: { num_workers: 1 }, start_time: T0 + 200_000, end_time: T0 + 236_000 },
                { task_key: "skipped", existing_cluster_id: "c1", start_time: 0 },
            ],
        };
        (run.tasks![1].for_each_task!.task as { job_cluster_key?: string }).job_cluster_key = "etl";
        const uses = clusterUses(run);
        expect(uses.map((u) => [u.key, u.compute, u.seconds])).to.deep.equal([
            ["job_cluster:etl", "jobs", 180],
            ["new_cluster:report", "jobs", 36],
        ]);
        const cost = runCost(uses, new Map(), { dbuPerNodeHour: 1.5, pricePerDbu: 0.3 });
        // etl: 2-4 nodes x 180 s = 0.1-0.2 node-hours; report: 2 nodes x 36 s = 0.02.
        expect(cost.nodeHours.min).to.be.closeTo(0.12, 1e-9);
        expect(cost.nodeHours.max).to.be.closeTo(0.22, 1e-9);
        expect(cost.dbus!.max).to.be.closeTo(0.33, 1e-9);
        expect(cost.price!.min).to.be.closeTo(0.054, 1e-9);
        expect(cost.compute).to.deep.equal(["jobs"]);
        expect(formatRange(cost.nodeHours, 3)).to.equal("0.120-0.220");
    });

    it("an existing cluster's size comes from clusters/get; when that failed the run's cost is unknown, saying why", () => {
        const run: JobRun = { run_id: 2, tasks: [{ task_key: "orchestrate", existing_cluster_id: "c1", start_time: T0, end_time: T0 + 3_600_000 }] };
        const uses = clusterUses(run);
        expect(runCost(uses, new Map([["c1", { cluster_id: "c1", num_workers: 4 }]]), {}).nodeHours).to.deep.equal({ min: 5, max: 5 });
        const failed = runCost(uses, new Map([["c1", new Error("clusters/get failed: Cluster c1 does not exist")]]), {});
        expect(failed.unknown).to.deep.equal(["c1: clusters/get failed: Cluster c1 does not exist"]);
        expect(failed.compute).to.deep.equal([]);
    });

    it("the caveat names the billing difference, and the rates when given", () => {
        expect(costCaveat(["all-purpose"], {})).to.match(
            /all-purpose compute \(the shared cluster\) and jobs compute .* at different DBU prices: give the rates/,
        );
        expect(costCaveat(["all-purpose", "jobs"], { dbuPerNodeHour: 0.75 })).to.include("one rate for both (0.75 DBU per node-hour)");
    });
});
