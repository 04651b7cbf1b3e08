import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "chai";
import { parseWorkload } from "../cli/workload";
import { startFakeWorkspace, throttled, WAREHOUSE_ID, type FakeWorkspace, type FakeWorkspaceOptions } from "./fixtures/jobs/server";
import { patEnv, runCli, stackOutputs, tempDir } from "./fixtures/jobs/harness";

/*
 * Expected figures, computed by hand from test/fixtures/jobs/workspace.json with --last 4
 * (the oldest run of each job, 1101 and 2101, is left out).
 *
 * Sequential job 123, runs 1105 1104 1103 1102; 1104 FAILED -> success 3/4 = 0.75.
 *   run_duration of the successful runs: 421 s, 433 s, 411 s -> median 421, min 411, max 433.
 *   queue_duration: 1, 3, 0 -> median 1.   Task setup_duration sums: 2, 2.5, 2 -> median 2.
 *   Task execution_duration sums: 18+400=418, 19.5+410=429.5, 18+390=408 -> median 418.
 *   Other (run_duration - setup - execution): 1, 1, 1 -> 1.
 *   Workers (SUCCEEDED only, all four summaries incl. the failed run's "Summary:" line):
 *     customer_totals 95, 93, 99, 91 -> median 94 (91-99)
 *     daily_sales     120, 118, 125, 116 -> median 119 (116-125)
 *     product_sales   110, 112, 108 (FAILED in 1104) -> median 110 (108-112)
 *     order_status    70, 72, 69 (SKIPPED in 1104)   -> median 70 (69-72)
 *   Orchestrator duration_seconds of SUCCEEDED summaries: 398, 408, 384 -> median 398.
 *
 * Parallel job 456, runs 2105 2104 2103 2102, all SUCCESS -> 4/4 = 1.
 *   run_duration: 161, 170, 152, 166 -> median (161+166)/2 = 163.5, min 152, max 170.
 *   queue: 0, 2, 0, 1 -> median 0.5.   setup: 2, 2, 3, 2 -> 2.
 *   execution: 158, 167, 148, 163 -> median (158+163)/2 = 160.5.
 *   Workers: customer_totals 118, 121, 112, 119 -> 118.5; daily_sales 135, 145, 126, 140 -> 137.5;
 *            product_sales 130, 128, 122, 131 -> 129; order_status 85, 88, 80, 86 -> 85.5.
 *   Orchestrator: 138, 148, 128, 143 -> 140.5.
 *
 * Speedup: 421 / 163.5 = 2.5749; range 411/170 = 2.4176 to 433/152 = 2.8487; saved 257.5 s.
 *
 * For each job 789 (server.ts FOR_EACH_HISTORY), runs 3105 3104 3103 3102; 3102 FAILED -> 3/4.
 *   Iteration i starts 22+i s after the run, the For each task ends 1 s after the last iteration:
 *   3105 [112,131,126,82] -> last end 22+1+131 = 154 -> run 155 s; 3104 [115,138,124,84] -> 162;
 *   3103 [109,129,121,80] -> 153. Median 155, min 153, max 162.
 *   Workers (iterations, SUCCEEDED only): customer_totals 112,115,109,118 -> 113.5;
 *   daily_sales 131,138,129,140 -> 134.5; product_sales 126,124,121 (failed in 3102) -> 124;
 *   order_status 82,84,80,85 -> 83.  For each task (from 21 s): 134, 141, 132 -> 134.
 *   Speedup 421/155 = 2.7161; range 411/162 = 2.537 to 433/153 = 2.830; saved 266 s.
 *
 * Compute: every task runs on the shared cluster, 2 workers + driver = 3 nodes (clusters/get).
 *   Sequential runs span setup start to orchestrate end = run_duration: median 421 s ->
 *   3 x 421 / 3600 = 0.35083 node-hours; parallel 3 x 163.5 / 3600 = 0.13625; for-each
 *   3 x 155 / 3600 = 0.12917. At 0.75 DBU/node-hour and 0.55 per DBU: for-each 0.096875 DBU,
 *   0.05328 in money.
 */

describe("jobs compare (against a local Jobs API 2.2 server)", () => {
    let ws: FakeWorkspace;
    const start = async (options: FakeWorkspaceOptions = {}): Promise<void> => {
        ws = await startFakeWorkspace(options);
    };
    const deps = () => ({ env: patEnv(ws), readStack: async () => stackOutputs(ws), pageSize: 3 });
    afterEach(async () => {
        await ws?.close();
    });

    it("-o json gives the hand-computed figures, paging runs/list over two pages and retrying a 429", async () => {
        await start({
            faults: [throttled("/api/2.2/jobs/runs/list", "1")],
        });
        const res = await runCli(["compare", "--last", "4", "-o", "json"], deps());
        expect(res.code, res.stderr).to.equal(0);
        const report = JSON.parse(res.stdout);

        const seq = report.jobs.sequential;
        expect(seq.job_id).to.equal(123);
        expect(seq.name).to.equal("[dev] notebook-orchestration sequential");
        expect(seq.runs).to.equal(4);
        expect(seq.succeeded).to.equal(3);
        expect(seq.success_rate).to.equal(0.75);
        expect(seq.duration_seconds).to.deep.equal({ count: 3, median: 421, min: 411, max: 433 });
        expect(seq.split_seconds).to.deep.equal({
            queue: { count: 3, median: 1, min: 0, max: 3 },
            setup: { count: 3, median: 2, min: 2, max: 2.5 },
            execution: { count: 3, median: 418, min: 408, max: 429.5 },
            other: { count: 3, median: 1, min: 1, max: 1 },
        });
        expect(seq.orchestrator_seconds).to.deep.equal({ count: 3, median: 398, min: 384, max: 408 });
        expect(seq.workers).to.deep.equal([
            { name: "customer_totals", count: 4, median: 94, min: 91, max: 99 },
            { name: "daily_sales", count: 4, median: 119, min: 116, max: 125 },
            { name: "product_sales", count: 3, median: 110, min: 108, max: 112 },
            { name: "order_status", count: 3, median: 70, min: 69, max: 72 },
        ]);
        expect(seq.run_list.map((r: { run_id: number; result: string }) => [r.run_id, r.result])).to.deep.equal([
            [1105, "SUCCESS"],
            [1104, "FAILED"],
            [1103, "SUCCESS"],
            [1102, "SUCCESS"],
        ]);
        expect(seq.run_list[1].summary_status).to.equal("FAILED");

        const par = report.jobs.parallel;
        expect(par.success_rate).to.equal(1);
        expect(par.duration_seconds).to.deep.equal({ count: 4, median: 163.5, min: 152, max: 170 });
        expect(par.split_seconds.queue).to.deep.equal({ count: 4, median: 0.5, min: 0, max: 2 });
        expect(par.split_seconds.execution).to.deep.equal({ count: 4, median: 160.5, min: 148, max: 167 });
        expect(par.orchestrator_seconds).to.deep.equal({ count: 4, median: 140.5, min: 128, max: 148 });
        expect(par.workers.map((w: { name: string; median: number }) => [w.name, w.median])).to.deep.equal([
            ["customer_totals", 118.5],
            ["daily_sales", 137.5],
            ["product_sales", 129],
            ["order_status", 85.5],
        ]);

        expect(report.speedups, "no forEachJobId output: the stack has no For each job").to.deep.equal({
            parallel: { median: 2.575, low: 2.418, high: 2.849, saved_seconds: 257.5 },
        });
        expect(Object.keys(report.jobs)).to.deep.equal(["sequential", "parallel"]);
        expect(report.workers[0]).to.deep.equal({
            name: "customer_totals",
            median_seconds: { sequential: 94, parallel: 118.5 },
            over_sequential: { parallel: 1.261 },
        });

        // runs/list: one 429 + two pages for the sequential job, two pages for the parallel job.
        const lists = ws.calls.filter((c) => c.path === "/api/2.2/jobs/runs/list");
        expect(lists.length).to.equal(5);
        expect(lists.filter((c) => c.query.page_token).length).to.equal(2);
        expect(res.sleeps, "waited the Retry-After of the 429").to.include(1000);
        expect(ws.count("GET", "/runs/get")).to.equal(8);
        expect(ws.count("GET", "/runs/get-output")).to.equal(8);
    });

    describe("with the stack's optional For each job", () => {
        const withForEach = () => ({ env: patEnv(ws), readStack: async () => stackOutputs(ws, { forEach: true }), pageSize: 3 });

        it("-o json adds the for-each job, its iterations as workers, its speedup and every job's compute at the given rates", async () => {
            await start();
            const res = await runCli(["compare", "--last", "4", "-o", "json", "--dbu-per-node-hour", "0.75", "--price-per-dbu", "0.55"], withForEach());
            expect(res.code, res.stderr).to.equal(0);
            const report = JSON.parse(res.stdout);
            expect(Object.keys(report.jobs)).to.deep.equal(["sequential", "parallel", "for-each"]);
            const fe = report.jobs["for-each"];
            expect(fe.job_id).to.equal(789);
            expect(fe.succeeded).to.equal(3);
            expect(fe.duration_seconds).to.deep.equal({ count: 3, median: 155, min: 153, max: 162 });
            expect(fe.orchestrator_seconds).to.deep.equal({ count: 3, median: 134, min: 132, max: 141 });
            expect(fe.workers).to.deep.equal([
                { name: "customer_totals", count: 4, median: 113.5, min: 109, max: 118 },
                { name: "daily_sales", count: 4, median: 134.5, min: 129, max: 140 },
                { name: "product_sales", count: 3, median: 124, min: 121, max: 126 },
                { name: "order_status", count: 4, median: 83, min: 80, max: 85 },
            ]);
            expect(report.speedups["for-each"]).to.deep.equal({ median: 2.716, low: 2.537, high: 2.83, saved_seconds: 266 });
            expect(report.workers[0].over_sequential).to.deep.equal({ parallel: 1.261, "for-each": 1.207 });
            expect(report.rates).to.deep.equal({ dbu_per_node_hour: 0.75, price_per_dbu: 0.55 });
            expect(report.jobs.sequential.cost).to.deep.include({ nodes: "3", compute: ["all-purpose"], measured: false });
            expect(report.jobs.sequential.cost.node_hours).to.deep.equal({ min: 0.3508, max: 0.3508 });
            // 3 x 163.5 / 3600 = 0.13625, which is 0.136249... in binary floating point.
            expect(report.jobs.parallel.cost.node_hours).to.deep.equal({ min: 0.1362, max: 0.1362 });
            expect(fe.cost).to.deep.equal({
                nodes: "3",
                compute: ["all-purpose"],
                node_hours: { min: 0.1292, max: 0.1292 },
                dbus: { min: 0.097, max: 0.097 },
                price: { min: 0.053, max: 0.053 },
                measured: false,
            });
            expect(fe.run_list[0].cost.node_hours).to.deep.equal({ min: 0.1292, max: 0.1292 });
            // The iterations come from runs/get of each For each task run (id = run id x 10 + 2); the size from clusters/get, once.
            expect(ws.calls.filter((c) => c.path === "/api/2.2/jobs/runs/get" && c.query.run_id === "31052").length).to.equal(1);
            expect(ws.calls.filter((c) => c.path === "/api/2.1/clusters/get").map((c) => c.query.cluster_id)).to.deep.equal(["1121-020000-abcd1234"]);
        });

        it("prints the three jobs, a column per strategy, the compute table with its caveat and a speedup per strategy", async () => {
            await start();
            const res = await runCli(["compare", "--last", "4", "--dbu-per-node-hour", "0.75", "--price-per-dbu", "0.55"], withForEach());
            expect(res.code, res.stderr).to.equal(0);
            const out = res.stdout;
            expect(out).to.match(/for-each\s+789\s+\[dev\] notebook-orchestration for-each\s+4\s+3\/4 \(75%\)\s+2m 35s\s+2m 33s\s+2m 42s/);
            expect(out).to.match(/Worker\s+sequential\s+parallel\s+for-each\s+par\/seq\s+for-each\/seq/);
            expect(out).to.match(/customer_totals\s+1m 34s \(1m 31s-1m 39s\)\s+1m 59s \(1m 52s-2m 01s\)\s+1m 54s \(1m 49s-1m 58s\)\s+1\.26x\s+1\.21x/);
            expect(out).to.match(/Job\s+Compute\s+Nodes\s+Node-hours\s+DBUs\s+Cost/);
            expect(out).to.match(/sequential\s+all-purpose\s+3\s+0\.351\s+0\.26\s+0\.14/);
            expect(out).to.match(/for-each\s+all-purpose\s+3\s+0\.129\s+0\.10\s+0\.05/);
            expect(out).to.include(
                "Databricks bills all-purpose compute (the shared cluster) and jobs compute (job clusters, perJob mode) at different DBU prices",
            );
            expect(out).to.include("these figures use one rate for both (0.75 DBU per node-hour, 0.55 per DBU)");
            expect(out).to.match(/Speedup of for-each over sequential: 2\.72x \(median\/median; range 2\.54x-2\.83x .*saving 4m 26s per run/);
            expect(out).to.match(/Not successful .*for-each run 3102 .* FAILED/);
        });

        it("without rates shows node-hours only and says which flags give DBUs and cost", async () => {
            await start();
            const res = await runCli(["compare", "--last", "4"], withForEach());
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stdout).to.match(/Job\s+Compute\s+Nodes\s+Node-hours\n/);
            expect(res.stdout).to.include("give the rates of your VM size, compute type and pricing tier with --dbu-per-node-hour and --price-per-dbu");
        });

        it("--chart draws every strategy, and --workload-from for-each takes the iterations' medians", async () => {
            await start();
            const dir = tempDir();
            const svgFile = path.join(dir, "compare.svg");
            const file = path.join(dir, "workload.json");
            const res = await runCli(["compare", "--last", "4", "--chart", svgFile, "--save-workload", file, "--workload-from", "for-each"], withForEach());
            expect(res.code, res.stderr).to.equal(0);
            expect(fs.readFileSync(svgFile, "utf8")).to.include("[dev] notebook-orchestration for-each").and.include("[dev] notebook-orchestration parallel");
            expect(parseWorkload(fs.readFileSync(file, "utf8"), file).workers.map((w) => w.expected_seconds)).to.deep.equal([113.5, 134.5, 124, 83]);
        });

        it("finds the For each job by name when the stack's outputs cannot be read, and leaves it out when there is none", async () => {
            await start();
            const res = await runCli(["compare", "--stack", "dev", "--last", "4"], {
                env: patEnv(ws),
                readStack: undefined,
                project: "notebook-orchestration",
            });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stderr).to.match(/Found for-each job 789 by its name '\[dev\] notebook-orchestration for-each'/);
            expect(res.stdout).to.match(/Speedup of for-each over sequential/);

            const res2 = await runCli(["compare", "--stack", "pr-42"], { env: patEnv(ws), readStack: undefined, project: "notebook-orchestration" });
            expect(res2.stderr).to.match(/No for-each job named '\[pr-42\] notebook-orchestration for-each': comparing without it/);
        });

        it("--warehouse-id reads the billed DBUs of job-compute runs from system.billing.usage, and says which figures are measured", async () => {
            // The For each job on a job cluster (perJob mode): billed 3 nodes x (run + 300 s start) / 3600 x 0.75 DBU:
            // 3105 155 s -> 0.284375, 3104 162 s -> 0.28875, 3103 153 s -> 0.283125, 3102 (failed) 164 s -> 0.29; median of the successful: 0.284375.
            await start({ forEachJobCluster: true });
            const args = ["compare", "--last", "4", "--dbu-per-node-hour", "0.75", "--price-per-dbu", "0.55", "--warehouse-id", WAREHOUSE_ID];
            const res = await runCli([...args, "-o", "json"], withForEach());
            expect(res.code, res.stderr).to.equal(0);
            const report = JSON.parse(res.stdout);
            expect(report.billing_warehouse).to.equal(WAREHOUSE_ID);
            expect(report.jobs["for-each"].billed).to.deep.equal({ dbus: 0.284, runs_found: 3, runs: 3, measured: true });
            expect(report.jobs["for-each"].cost.compute, "a job cluster is jobs compute").to.deep.equal(["jobs"]);
            expect(report.jobs.sequential.billed, "the shared cluster's usage is not the run's").to.deep.equal({
                dbus: null,
                runs_found: 0,
                runs: 3,
                measured: true,
            });
            expect(report.jobs["for-each"].run_list.map((r: { billed_dbus: number | null }) => r.billed_dbus)).to.deep.equal([0.284, 0.289, 0.283, 0.29]);

            const post = ws.calls.find((c) => c.method === "POST" && c.path === "/api/2.0/sql/statements")!;
            expect(post.body).to.include({
                warehouse_id: WAREHOUSE_ID,
                wait_timeout: "30s",
                on_wait_timeout: "CONTINUE",
                format: "JSON_ARRAY",
                disposition: "INLINE",
            });
            expect(post.body!.statement).to.match(/FROM system\.billing\.usage\nWHERE usage_metadata\.job_id IN \(:job_id_0, :job_id_1, :job_id_2\)/);
            const params = post.body!.parameters as { name: string; value: string; type: string }[];
            expect(params.slice(0, 3)).to.deep.equal([
                { name: "job_id_0", value: "123", type: "STRING" },
                { name: "job_id_1", value: "456", type: "STRING" },
                { name: "job_id_2", value: "789", type: "STRING" },
            ]);
            expect(params[3]).to.deep.include({ name: "since", type: "DATE" });
            expect(
                ws.calls.some((c) => c.method === "GET" && c.path.startsWith("/api/2.0/sql/statements/")),
                "polled the RUNNING statement",
            ).to.equal(true);

            const text = await runCli(args, withForEach());
            expect(text.stdout).to.match(/for-each\s+jobs\s+3\s+0\.129\s+0\.10\s+0\.05\s+0\.28 \(3\/3 runs\)\s+0\.16/);
            expect(text.stdout).to.match(/sequential\s+all-purpose\s+3\s+0\.351\s+0\.26\s+0\.14\s+- \(0\/3 runs\)\s+-/);
            expect(text.stdout).to.include("Billed DBUs are measured: system.billing.usage read on SQL warehouse 9d3c5f0e1a2b4c6d");
            expect(text.stdout).to.include("Estimates from the cluster sizes and the runs' times (all-purpose and jobs compute)");
        });

        it("--warehouse-id: a statement that fails (no SELECT on system.billing) is an error saying what is needed", async () => {
            await start({ forEachJobCluster: true, billingDenied: true });
            const res = await runCli(["compare", "--last", "4", "--warehouse-id", WAREHOUSE_ID], withForEach());
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(
                /Error: reading system\.billing\.usage on SQL warehouse 9d3c5f0e1a2b4c6d failed: \[INSUFFICIENT_PERMISSIONS\].*you need SELECT on system\.billing\.usage; leave out --warehouse-id to estimate only/,
            );
        });

        it("--warehouse-id must be a warehouse id", async () => {
            for (const bad of ["my-warehouse", "9d3c5f0e1a2b4c6", "/sql/1.0/warehouses/9d3c5f0e1a2b4c6d"]) {
                const res = await runCli(["compare", "--warehouse-id", bad], {});
                expect(res.code, bad).to.equal(2);
                expect(res.stderr).to.include(
                    `--warehouse-id must be a SQL warehouse id, 16 hexadecimal characters as in its HTTP path /sql/1.0/warehouses/<id>, got '${bad}'.`,
                );
            }
        });

        it("--workload-from for-each without a For each job says the stack has none", async () => {
            await start();
            const res = await runCli(["compare", "--last", "4", "--save-workload", path.join(tempDir(), "w.json"), "--workload-from", "for-each"], deps());
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(/--workload-from for-each: the stack has no for-each job/);
        });
    });

    it("rejects a --price-per-dbu without --dbu-per-node-hour, and rates that are not numbers of 0 or more", async () => {
        const res = await runCli(["compare", "--price-per-dbu", "0.55"], {});
        expect(res.code).to.equal(2);
        expect(res.stderr).to.match(/--price-per-dbu needs --dbu-per-node-hour/);
        for (const [flag, bad] of [
            ["--dbu-per-node-hour", "-1"],
            ["--dbu-per-node-hour", "abc"],
            ["--price-per-dbu", ""],
        ]) {
            const r = await runCli(["compare", flag, bad], {});
            expect(r.code, `${flag} ${bad}`).to.equal(2);
            expect(r.stderr).to.match(new RegExp(`${flag} must be .*a number of 0 or more \\(e\\.g\\. 0\\.75\\), got '${bad.replace(".", "\\.")}'`));
        }
    });

    it("--json is kept as the same as -o json", async () => {
        await start();
        const json = await runCli(["compare", "--last", "2", "-o", "json"], deps());
        const legacy = await runCli(["compare", "--last", "2", "--json"], deps());
        expect(legacy.code, legacy.stderr).to.equal(0);
        expect(JSON.parse(legacy.stdout)).to.deep.equal(JSON.parse(json.stdout));
    });

    it("prints tables with the same figures", async () => {
        await start();
        const res = await runCli(["compare", "--last", "4"], deps());
        expect(res.code, res.stderr).to.equal(0);
        const out = res.stdout;
        expect(out).to.match(/sequential\s+123\s+\[dev\] notebook-orchestration sequential\s+4\s+3\/4 \(75%\)\s+7m 01s\s+6m 51s\s+7m 13s/);
        expect(out).to.match(/parallel\s+456\s+\[dev\] notebook-orchestration parallel\s+4\s+4\/4 \(100%\)\s+2m 44s\s+2m 32s\s+2m 50s/);
        expect(out).to.match(/sequential\s+1\.0\s+2\.0\s+418\.0\s+1\.0\s+421\.0/);
        expect(out).to.match(/parallel\s+0\.5\s+2\.0\s+160\.5\s+1\.0\s+163\.5/);
        expect(out).to.match(/customer_totals\s+1m 34s \(1m 31s-1m 39s\)\s+1m 59s \(1m 52s-2m 01s\)\s+1\.26x/);
        expect(out).to.match(/Not successful \(left out of the timings\): sequential run 1104 2026-11-24 02:00Z FAILED/);
        expect(out).to.match(/Speedup of parallel over sequential: 2\.57x \(median\/median; range 2\.42x-2\.85x .*saving 4m 18s per run/);
    });

    it("--chart writes an SVG naming both jobs, and .html wraps it in a page", async () => {
        await start();
        const dir = tempDir();
        const svgFile = path.join(dir, "compare.svg");
        const res = await runCli(["compare", "--last", "4", "--chart", svgFile], deps());
        expect(res.code, res.stderr).to.equal(0);
        const svg = fs.readFileSync(svgFile, "utf8");
        expect(svg).to.match(/^<!-- notebook-orchestration generated this file \(npm run jobs -- compare --chart\); the next run replaces it -->\n<svg /);
        expect(svg, "job names in the chart").to.include("[dev] notebook-orchestration sequential").and.include("[dev] notebook-orchestration parallel");
        expect(svg, "worker names in the chart").to.include("customer_totals").and.include("order_status");
        expect(res.stdout).to.match(/Chart written to .*compare\.svg/);

        const htmlFile = path.join(dir, "compare.html");
        const res2 = await runCli(["compare", "--last", "4", "--json", "--chart", htmlFile], deps());
        expect(res2.code, res2.stderr).to.equal(0);
        expect(() => JSON.parse(res2.stdout), "stdout stays pure JSON with --chart").not.to.throw();
        const html = fs.readFileSync(htmlFile, "utf8");
        expect(html).to.match(/^<!doctype html>\n<!-- notebook-orchestration generated this file/);
        expect(html).to.include("<svg").and.include("[dev] notebook-orchestration parallel");
    });

    it("--save-workload writes the sequential per-worker medians as a workload file parseWorkload reads", async () => {
        await start();
        const file = path.join(tempDir(), "workload.json");
        const res = await runCli(["compare", "--last", "4", "--save-workload", file], deps());
        expect(res.code, res.stderr).to.equal(0);
        const workload = parseWorkload(fs.readFileSync(file, "utf8"), file);
        expect(workload.workers).to.deep.equal([
            { name: "customer_totals", expected_seconds: 94 },
            { name: "daily_sales", expected_seconds: 119 },
            { name: "product_sales", expected_seconds: 110 },
            { name: "order_status", expected_seconds: 70 },
        ]);
        expect(workload.source).to.match(/^median of 3-4 successful sequential runs of job 123 \(\[dev\] notebook-orchestration sequential\)/);

        const res2 = await runCli(["compare", "--last", "4", "--save-workload", file, "--workload-from", "parallel"], deps());
        expect(res2.code, res2.stderr).to.equal(0);
        expect(parseWorkload(fs.readFileSync(file, "utf8"), file).workers.map((w) => w.expected_seconds)).to.deep.equal([118.5, 137.5, 129, 85.5]);
    });

    it("never replaces a --chart or --save-workload file it did not write, and says so before calling the API", async () => {
        await start();
        const dir = tempDir();
        const mine = path.join(dir, "notes.json");
        fs.writeFileSync(mine, '{"my": "notes"}');
        const res = await runCli(["compare", "--last", "4", "--save-workload", mine], deps());
        expect(res.code).to.equal(2);
        expect(res.stderr).to.contain(`--save-workload '${mine}': the file exists and no run of these tools wrote it`);
        const chart = path.join(dir, "figure.svg");
        fs.writeFileSync(chart, "<svg/>");
        const res2 = await runCli(["compare", "--last", "4", "--chart", chart], deps());
        expect(res2.code).to.equal(2);
        expect(res2.stderr).to.contain(`--chart '${chart}': the file exists and no run of these tools wrote it`);
        expect(fs.readFileSync(mine, "utf8")).to.equal('{"my": "notes"}');
        expect(fs.readFileSync(chart, "utf8")).to.equal("<svg/>");
        expect(ws.calls, "no request before the files are checked").to.have.length(0);
    });

    it("says so when a job has no completed runs yet", async () => {
        await start({ noRuns: true });
        const res = await runCli(["compare"], deps());
        expect(res.code).to.equal(2);
        expect(res.stderr).to.match(
            /Error: sequential job 123 \(\[dev\] notebook-orchestration sequential\) has no completed runs yet: start one with `npm run jobs -- run --job sequential`/,
        );
    });

    it("finds both jobs by name when the stack's outputs cannot be read", async () => {
        await start();
        const res = await runCli(["compare", "--stack", "pr-42"], { env: patEnv(ws), readStack: undefined });
        expect(res.stderr).to.match(/Found sequential job 611 by its name '\[pr-42\] notebook-orchestration sequential'/);
        expect(res.stderr).to.match(/Found parallel job 612 by its name '\[pr-42\] notebook-orchestration parallel'/);
        expect(res.code).to.equal(2);
        expect(res.stderr).to.match(/Error: sequential job 611 \(\[pr-42\] notebook-orchestration sequential\) has no completed runs yet/);
    });

    it("reports an unknown job id given with --parallel-job-id", async () => {
        await start();
        const res = await runCli(["compare", "--parallel-job-id", "777"], deps());
        expect(res.code).to.equal(2);
        expect(res.stderr).to.match(/job 777 \(from --parallel-job-id\) does not exist/);
    });

    it("rejects a bad --last, naming the flag and what it expects", async () => {
        for (const bad of ["abc", "0", "-2", "2.5"]) {
            const res = await runCli(["compare", "--last", bad], {});
            expect(res.code, bad).to.equal(2);
            expect(res.stderr, res.stderr).to.include(`--last must be a whole number from 1 to 500, got '${bad}'`);
        }
    });

    it("rejects a --chart file that is neither .svg nor .html before calling the API", async () => {
        await start();
        const res = await runCli(["compare", "--chart", "out.png"], deps());
        expect(res.code).to.equal(2);
        expect(res.stderr).to.match(/--chart 'out\.png': the name must end in \.svg or \.html/);
        expect(ws.calls.length).to.equal(0);
    });
});
