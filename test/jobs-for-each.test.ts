import { expect } from "chai";
import { summaryFromIterations } from "../cli/forEach";
import type { JobRun, RunTask } from "../cli/types";

/** A For each task run as runs/get describes it, with its nested notebook task's base parameters. */
function forEachTask(baseParameters: Record<string, string>): RunTask {
    return {
        run_id: 1,
        task_key: "for_each_item",
        for_each_task: { concurrency: 8, task: { notebook_task: { notebook_path: "/Shared/x/ingest/ingest_table", base_parameters: baseParameters } } },
    } as unknown as RunTask;
}

function iterations(parameters: Record<string, string>[]): JobRun {
    return {
        iterations: parameters.map((base_parameters, i) => ({
            run_id: 10 + i,
            notebook_task: { base_parameters },
            state: { life_cycle_state: "TERMINATED", result_state: "SUCCESS" },
            start_time: 1_700_000_000_000,
            end_time: 1_700_000_060_000,
        })),
    } as unknown as JobRun;
}

describe("a For each run's iterations, as the jobs CLI reports them", () => {
    it("names each iteration by the worker its {{input}} parameter received", () => {
        const summary = summaryFromIterations(forEachTask({ worker: "{{input}}" }), iterations([{ worker: "daily_sales" }, { worker: "order_status" }]));
        expect(summary.workers.map((w) => w.name)).to.deep.equal(["daily_sales", "order_status"]);
    });

    it("names each iteration of one notebook over items by its {{input.work_item}}, not by its other arguments", () => {
        const task = forEachTask({ table: "{{input.table}}", work_item: "{{input.work_item}}", orchestration_mode: "for_each" });
        const summary = summaryFromIterations(
            task,
            iterations([
                { table: "erp.customers", work_item: "customers" },
                { table: "erp.orders", work_item: "orders" },
            ]),
        );
        expect(summary.workers.map((w) => w.name)).to.deep.equal(["customers", "orders"]);
        expect(summary.max_workers).to.equal(8);
    });
});
