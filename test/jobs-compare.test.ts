import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "chai";
import { parseWorkload } from "../cli/workload";
import { startFakeWorkspace, throttled, type FakeWorkspace, type FakeWorkspaceOptions } from "./fixtures/jobs/server";
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

        expect(report.speedup).to.deep.equal({ median: 2.575, low: 2.418, high: 2.849, saved_seconds: 257.5 });
        expect(report.workers[0]).to.deep.equal({
            name: "customer_totals",
            sequential_median_seconds: 94,
            parallel_median_seconds: 118.5,
            parallel_over_sequential: 1.261,
        });

        // runs/list: one 429 + two pages for the sequential job, two pages for the parallel job.
        const lists = ws.calls.filter((c) => c.path === "/api/2.2/jobs/runs/list");
        expect(lists.length).to.equal(5);
        expect(lists.filter((c) => c.query.page_token).length).to.equal(2);
        expect(res.sleeps, "waited the Retry-After of the 429").to.include(1000);
        expect(ws.count("GET", "/runs/get")).to.equal(8);
        expect(ws.count("GET", "/runs/get-output")).to.equal(8);
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
        expect(svg).to.match(/^<svg /);
        expect(svg, "job names in the chart").to.include("[dev] notebook-orchestration sequential").and.include("[dev] notebook-orchestration parallel");
        expect(svg, "worker names in the chart").to.include("customer_totals").and.include("order_status");
        expect(res.stdout).to.match(/Chart written to .*compare\.svg/);

        const htmlFile = path.join(dir, "compare.html");
        const res2 = await runCli(["compare", "--last", "4", "--json", "--chart", htmlFile], deps());
        expect(res2.code, res2.stderr).to.equal(0);
        expect(() => JSON.parse(res2.stdout), "stdout stays pure JSON with --chart").not.to.throw();
        const html = fs.readFileSync(htmlFile, "utf8");
        expect(html).to.match(/^<!doctype html>/);
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
        expect(res.stderr).to.match(/--chart 'out\.png': the file name must end in \.svg or \.html/);
        expect(ws.calls.length).to.equal(0);
    });
});
