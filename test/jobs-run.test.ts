import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "chai";
import { editDistance, nearMatches, projectName, stackJobName } from "../cli/lookup";
import { pulumiStackReader } from "../cli/stack";
import { GOOD_TOKEN, startFakeWorkspace, throttled, type FakeWorkspace, type FakeWorkspaceOptions } from "./fixtures/jobs/server";
import { fakeClock, isolatedEnv, patEnv, runCli, stackOutputs, tempDir } from "./fixtures/jobs/harness";

describe("jobs run (against a local Jobs API 2.2 server)", () => {
    let ws: FakeWorkspace;
    const start = async (options: FakeWorkspaceOptions = {}): Promise<void> => {
        ws = await startFakeWorkspace(options);
    };
    const fromStack = () => ({ readStack: async () => stackOutputs(ws) });
    afterEach(async () => {
        await ws?.close();
    });

    it("runs sequential then parallel, following PENDING -> RUNNING -> TERMINATED, and exits 0 on SUCCESS", async () => {
        await start();
        const res = await runCli(["run", "--stack", "dev"], { env: patEnv(ws), ...fromStack() });
        expect(res.code, res.stderr).to.equal(0);
        const out = res.stdout;
        expect(out, out).to.include(`Run URL: ${ws.url}/?o=1234567890123456#job/123/run/9001`);
        expect(out, out).to.include(`Run URL: ${ws.url}/?o=1234567890123456#job/456/run/9003`);
        expect(out.match(/Run \d+: PENDING -> RUNNING -> TERMINATED SUCCESS in /g)?.length).to.equal(2);
        expect(out).to.match(/PENDING\s+tasks: setup PENDING, orchestrate BLOCKED/);
        expect(out).to.match(/RUNNING\s+tasks: setup TERMINATED SUCCESS, orchestrate RUNNING/);
        // The orchestrator's summary: JSON, then the per-worker table with the names it lists.
        expect(out).to.match(/Orchestrator summary \(runs\/get-output of task orchestrate, run 90012\):\n\{\n  "mode": "sequential"/);
        expect(out).to.match(/customer_totals\s+SUCCEEDED\s+1\s+1m 35s/);
        expect(out, "parallel run's worker").to.match(/order_status\s+SUCCEEDED\s+1\s+1m 25s/);
        expect(out, "(20+1+410 s) / (20+1+150 s)").to.match(/Parallel\/sequential speedup on this pair of runs: 2\.52x/);
        expect(res.stderr).to.match(/authenticating with the personal access token from DATABRICKS_TOKEN/);
        expect(res.stdout, "token never printed").not.to.include(GOOD_TOKEN);
        expect(res.stderr, "token never printed").not.to.include(GOOD_TOKEN);

        // One after the other: the parallel job is triggered only once the sequential run has ended.
        const paths = ws.calls.map((c) => `${c.method} ${c.path.replace("/api/2.2/jobs", "")} ${c.query.run_id ?? c.body?.job_id ?? ""}`.trim());
        const secondRunNow = paths.indexOf("POST /run-now 456");
        const lastSeqGet = paths.lastIndexOf("GET /runs/get 9001");
        expect(lastSeqGet, paths.join("\n")).to.be.at.least(0);
        expect(secondRunNow, paths.join("\n")).to.be.above(lastSeqGet);
        expect(paths.filter((p) => p === "GET /runs/get 9001").length, "URL, then polls until TERMINATED").to.equal(4);
        expect(res.sleeps, "the injected poll interval, three polls per run").to.deep.equal([1, 1, 1, 1, 1, 1]);
    });

    it("exits non-zero when a run fails, shows the failed worker from the error's Summary line, and still runs the other job", async () => {
        await start({ outcomes: { "123": { result: "FAILED" } } });
        const res = await runCli(["run"], { env: patEnv(ws), ...fromStack() });
        expect(res.code).to.equal(1);
        expect(res.stdout).to.match(/Run 9001: PENDING -> RUNNING -> TERMINATED FAILED in /);
        expect(res.stdout).to.match(/"status": "FAILED"/);
        expect(res.stdout).to.match(
            /product_sales\s+FAILED\s+1\s+1m 50s\s+com\.databricks\.WorkflowException: com\.databricks\.NotebookExecutionException: FAILED/,
        );
        expect(res.stdout).to.match(/Error of task orchestrate:\nRuntimeError: 1 of 4 items did not succeed: product_sales \(FAILED\)/);
        expect(res.stdout, "the parallel job still ran").to.match(/Run 9003: PENDING -> RUNNING -> TERMINATED SUCCESS/);
        expect(res.stdout).to.match(/State message: Task orchestrate failed with message: Workload failed, see run output for details\./);
        expect(res.stderr).to.include(
            "Error: sequential job 123 ([dev] notebook-orchestration sequential) run 9001 ended TERMINATED FAILED: " +
                "Task orchestrate failed with message: Workload failed, see run output for details. This caused all downstream tasks to get skipped.\n",
        );
        expect(res.stderr.match(/^Error: /gm)?.length, "one Error line, for the failed run only").to.equal(1);
    });

    it("reads the outcome from `status` when the run has no `state` (Jobs API 2.2)", async () => {
        await start({ outcomes: { "456": { result: "FAILED", statusOnly: true } } });
        const res = await runCli(["run", "--job", "parallel"], { env: patEnv(ws), ...fromStack() });
        expect(res.code).to.equal(1);
        expect(res.stdout).to.match(/Run 9001: PENDING -> RUNNING -> TERMINATED RUN_EXECUTION_ERROR in /);
        expect(res.stderr).to.match(
            /Error: parallel job 456 \(\[dev\] notebook-orchestration parallel\) run 9001 ended TERMINATED RUN_EXECUTION_ERROR: Task orchestrate failed with message: Workload failed/,
        );
    });

    describe("the stack's optional For each job", () => {
        const withForEach = () => ({ readStack: async () => stackOutputs(ws, { forEach: true }) });

        it("runs all three jobs one after the other, shows the iterations as per-worker times and a speedup per strategy", async () => {
            await start();
            const res = await runCli(["run"], { env: patEnv(ws), ...withForEach() });
            expect(res.code, res.stderr).to.equal(0);
            const out = res.stdout;
            expect(out).to.match(/Triggered for-each job 789 \(\[dev\] notebook-orchestration for-each\): run 9005/);
            expect(out).to.match(/RUNNING\s+tasks: setup TERMINATED SUCCESS, for_each_worker RUNNING/);
            // No orchestrator: the iterations (runs/get of the For each task's run 90052) and task_run_stats' counts.
            expect(out).to.include("For each (iterations of the For each task for_each_worker, run 90052; 4 iterations: 4 succeeded, 0 failed):");
            expect(out).to.match(/customer_totals\s+SUCCEEDED\s+1\s+1m 56s/);
            expect(out).to.match(/daily_sales\s+SUCCEEDED\s+1\s+2m 13s/);
            // Node-hours: 3 nodes (clusters/get of the shared cluster) x the span of the run's tasks, 431 s and 157 s.
            expect(out).to.match(/sequential\s+123\s+9001\s+SUCCESS\s+7m 11s\s+0\.359\s+4\/4 succeeded/);
            expect(out).to.match(/for-each\s+789\s+9005\s+SUCCESS\s+2m 37s\s+0\.131\s+4\/4 succeeded/);
            expect(out).to.include("Compute: 3 nodes (all-purpose compute), 0.131 node-hours (an estimate; `npm run jobs -- compare` adds DBUs and cost)");
            expect(ws.calls.filter((c) => c.path === "/api/2.1/clusters/get").length, "one clusters/get for the three runs").to.equal(1);
            expect(out, "(21+410) / (22+1+133+1)").to.match(/For-each\/sequential speedup on this pair of runs: 2\.75x/);
            expect(out).to.match(/Parallel\/sequential speedup on this pair of runs: 2\.52x/);
            expect(ws.calls.filter((c) => c.path.endsWith("/runs/get-output") && c.query.run_id === "90052").length, "no summary to look for").to.equal(0);
        });

        it("--job for-each runs only it; a failed iteration fails the run, with the For each task's message", async () => {
            await start({ outcomes: { "789": { result: "FAILED" } } });
            const res = await runCli(["run", "--job", "for-each", "-o", "json"], { env: patEnv(ws), ...withForEach() });
            expect(res.code).to.equal(1);
            expect(res.stderr).to.include("4 iterations: 3 succeeded, 1 failed");
            expect(res.stderr).to.match(/product_sales\s+FAILED\s+1\s+.*Workload failed, see run output for details/);
            expect(res.stderr).to.match(/Error: for-each job 789 .* ended TERMINATED FAILED: Task for_each_worker failed with message/);
            const doc = JSON.parse(res.stdout) as { runs: { job: string; summary: { mode: string; workers: { name: string; status: string }[] } }[] };
            expect(doc.runs.map((r) => r.job)).to.deep.equal(["for-each"]);
            expect(doc.runs[0].summary.mode).to.equal("for-each");
            expect(doc.runs[0].summary.workers.map((w) => w.status)).to.deep.equal(["SUCCEEDED", "SUCCEEDED", "FAILED", "SUCCEEDED"]);
        });

        it("leaves the For each job out when the stack's outputs have no forEachJobId", async () => {
            await start();
            const res = await runCli(["run"], { env: patEnv(ws), ...fromStack() });
            expect(res.code, res.stderr).to.equal(0);
            expect(ws.calls.some((c) => c.body?.job_id === 789)).to.equal(false);
        });

        it("--for-each-job-id must be a numeric job id", async () => {
            const res = await runCli(["run", "--job", "for-each", "--for-each-job-id", "x1", "--host", "https://adb-1.1.azuredatabricks.net"], {
                env: isolatedEnv({ DATABRICKS_TOKEN: "x" }),
            });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(/--for-each-job-id must be a numeric Databricks job id \(e\.g\. 123\), got 'x1'/);
        });
    });

    it("runs one job with --job and exits 1 when it fails", async () => {
        await start({ outcomes: { "456": { result: "FAILED", steps: 5 } } });
        const res = await runCli(["run", "--job", "parallel"], { env: patEnv(ws), ...fromStack() });
        expect(res.code).to.equal(1);
        expect(ws.count("POST", "/run-now")).to.equal(1);
        expect(ws.calls.find((c) => c.path.endsWith("/run-now"))!.body!.job_id).to.equal(456);
        expect(res.stdout).to.match(/TERMINATED FAILED/);
    });

    it("--no-wait triggers, prints the run URL and returns without polling", async () => {
        await start();
        const res = await runCli(["run", "--job", "sequential", "--no-wait"], { env: patEnv(ws), ...fromStack() });
        expect(res.code, res.stderr).to.equal(0);
        expect(res.stdout).to.include(`Run URL: ${ws.url}/?o=1234567890123456#job/123/run/9001`);
        expect(ws.count("GET", "/runs/get")).to.equal(1);
        expect(res.sleeps).to.deep.equal([]);
    });

    it("--job-id runs that job without reading the stack", async () => {
        await start();
        const res = await runCli(["run", "--job-id", "456"], {
            env: patEnv(ws),
            readStack: async () => {
                throw new Error("the stack must not be read");
            },
        });
        expect(res.code, res.stderr).to.equal(0);
        expect(res.stdout).to.match(/Triggered job 456 \(\[dev\] notebook-orchestration parallel\): run 9001/);
    });

    it("retries a 429 with Retry-After while polling and still completes", async () => {
        await start({
            faults: [throttled("/api/2.2/jobs/runs/get", "2")],
        });
        const res = await runCli(["run", "--job", "sequential"], { env: patEnv(ws), ...fromStack() });
        expect(res.code, res.stderr).to.equal(0);
        expect(res.sleeps, `slept ${res.sleeps.join(",")}`).to.include(2000);
        expect(res.stderr).to.match(/Note: GET \/api\/2\.2\/jobs\/runs\/get: HTTP 429 \(Retry-After 2\); retrying in 2\.0s/);
    });

    describe("wait limit (--timeout, as `databricks jobs run-now`)", () => {
        it("stops waiting after --timeout, says the run goes on, does not start the next job, and exits 1", async () => {
            const clock = fakeClock();
            await start({ now: clock.now, outcomes: { "123": { result: "SUCCESS", steps: 100 } } });
            const res = await runCli(["run", "--timeout", "10m", "--poll-interval", "60"], {
                env: patEnv(ws),
                ...fromStack(),
                now: clock.now,
                sleep: clock.sleep,
                pollIntervalMs: undefined,
            });
            expect(res.code).to.equal(1);
            expect(
                res.sleeps.reduce((a, b) => a + b, 0),
                "waited exactly the limit",
            ).to.equal(600_000);
            expect(res.stdout).to.match(/Stopped waiting after 10m0s \(--timeout\); run 9001 is RUNNING and goes on in the workspace: http/);
            expect(res.stderr).to.match(/Not starting parallel job 456 \(\[dev\] notebook-orchestration parallel\): run 9001 is still going/);
            expect(res.stderr).to.match(
                /Error: timed out after 10m0s waiting for sequential job 123 \(\[dev\] notebook-orchestration sequential\) run 9001: it is RUNNING and goes on in the workspace \(http:\/\/127\.0\.0\.1:\d+\/\?o=1234567890123456#job\/123\/run\/9001\)/,
            );
            expect(ws.count("POST", "/run-now")).to.equal(1);
        });

        it("defaults to 20m, separately from the per-request --request-timeout", async () => {
            const clock = fakeClock();
            await start({ now: clock.now, outcomes: { "123": { result: "SUCCESS", steps: 100 } } });
            const res = await runCli(["run", "--job", "sequential", "--poll-interval", "30", "--request-timeout", "5"], {
                env: patEnv(ws),
                ...fromStack(),
                now: clock.now,
                sleep: clock.sleep,
                pollIntervalMs: undefined,
                timeoutMs: undefined,
            });
            expect(res.code).to.equal(1);
            expect(res.stderr).to.match(/timed out after 20m0s/);
        });

        for (const [value, why] of [
            ["30", "a number without a unit"],
            ["0s", "zero"],
            ["ten minutes", "words"],
        ]) {
            it(`refuses --timeout '${value}' (${why})`, async () => {
                const res = await runCli(["run", "--timeout", value], { env: isolatedEnv() });
                expect(res.code).to.equal(2);
                expect(res.stderr).to.include(`--timeout must be a duration such as 20m, 1h30m or 90s (as the Databricks CLI takes it), got '${value}'.`);
            });
        }
    });

    it("with runs that take their real time, shows each change at its elapsed time and a line each minute in logs", async () => {
        const clock = fakeClock();
        await start({ now: clock.now, realtime: true });
        const res = await runCli(["run", "--job", "parallel", "--poll-interval", "5"], {
            env: patEnv(ws),
            ...fromStack(),
            now: clock.now,
            sleep: clock.sleep,
            pollIntervalMs: undefined,
        });
        expect(res.code, res.stderr).to.equal(0);
        const lines = res.stdout
            .split("\n")
            .filter((l) => /^\s+\d+:\d\d  /.test(l))
            .map((l) =>
                l
                    .trim()
                    .replace(/\s+tasks:.*$/, "")
                    .replace(/\s+/g, " "),
            );
        expect(lines).to.deep.equal(["0:00 PENDING", "0:05 RUNNING", "0:25 RUNNING", "1:25 still RUNNING", "2:25 still RUNNING", "2:55 TERMINATED SUCCESS"]);
        expect(res.stdout).to.match(/Run 9001: PENDING -> RUNNING -> TERMINATED SUCCESS in 2m 51s/);
    });

    describe("-o json", () => {
        it("prints only JSON on stdout: each run with its result, duration, parameters, summary and runs/get answer", async () => {
            await start();
            const res = await runCli(["run", "-o", "json"], { env: patEnv(ws), ...fromStack() });
            expect(res.code, res.stderr).to.equal(0);
            const doc = JSON.parse(res.stdout) as {
                runs: {
                    job: string;
                    job_id: number;
                    run_id: number;
                    result_state: string;
                    duration_seconds: number;
                    summary: { mode: string };
                    run: { run_id: number };
                }[];
                speedups: { parallel: number };
            };
            expect(doc.runs.map((r) => [r.job, r.job_id, r.run_id, r.result_state, r.duration_seconds, r.summary.mode, r.run.run_id])).to.deep.equal([
                ["sequential", 123, 9001, "SUCCESS", 431, "sequential", 9001],
                ["parallel", 456, 9003, "SUCCESS", 171, "parallel", 9003],
            ]);
            expect(doc.speedups.parallel).to.be.closeTo(431 / 171, 1e-9);
            expect(res.stderr, "the human-readable lines went to stderr").to.match(/Run URL: .*\n[\s\S]*Orchestrator summary/);
        });

        it("refuses another output type naming the choices", async () => {
            const res = await runCli(["run", "-o", "yaml"], { env: isolatedEnv() });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(/option '-o, --output <type>' argument 'yaml' is invalid\. Allowed choices are text, json\./);
        });
    });

    describe("--param (job parameters for run-now)", () => {
        it("sends the overrides as job_parameters to the jobs that define them", async () => {
            await start();
            const res = await runCli(["run", "--param", "max_workers=8", "--param", "workers=daily_sales,order_status", "-o", "json"], {
                env: patEnv(ws),
                ...fromStack(),
            });
            expect(res.code, res.stderr).to.equal(0);
            const bodies = ws.calls.filter((c) => c.path.endsWith("/run-now")).map((c) => [c.body?.job_id, c.body?.job_parameters]);
            expect(bodies).to.deep.equal([
                [123, { workers: "daily_sales,order_status" }],
                [456, { max_workers: "8", workers: "daily_sales,order_status" }],
            ]);
            expect(res.stderr).to.match(/Triggered parallel job 456 .*: run 9003 with job parameters max_workers=8, workers=daily_sales,order_status/);
            const doc = JSON.parse(res.stdout) as { runs: { run: { job_parameters: { name: string; value: string }[] } }[] };
            expect(doc.runs[1].run.job_parameters.find((p) => p.name === "max_workers")?.value, "runs/get shows the value used").to.equal("8");
        });

        it("refuses a parameter no job defines, before triggering anything, listing the job's parameters", async () => {
            await start();
            const res = await runCli(["run", "--job", "sequential", "--param", "max_workerz=8"], { env: patEnv(ws), ...fromStack() });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.include(
                "Error: --param max_workerz: sequential job 123 ([dev] notebook-orchestration sequential) has no job parameter 'max_workerz' (job parameters: items, max_retries, retry_backoff_seconds, run_id, timeout_seconds, workers)",
            );
            expect(ws.count("POST", "/run-now")).to.equal(0);
        });

        const bad: [string[], string][] = [
            [["--param", "max_workers"], "--param 'max_workers' is not KEY=VALUE (e.g. --param max_workers=8)"],
            [["--param", "=8"], "--param '=8' is not KEY=VALUE"],
            [["--param", "max workers=8"], "--param 'max workers=8': job parameter names are letters, digits, '_', '-' and '.', got 'max workers'"],
            [["--param", "workers=a", "--param", "workers=b"], "--param workers is given twice ('workers=a' and 'workers=b')"],
        ];
        for (const [args, message] of bad) {
            it(`refuses ${args.join(" ")}`, async () => {
                const res = await runCli(["run", ...args], { env: isolatedEnv() });
                expect(res.code).to.equal(2);
                expect(res.stderr).to.include(`Error: ${message}`);
            });
        }
    });

    describe("jobs found by name when no stack outputs are at hand", () => {
        it("finds the stack's jobs by the names it gives them ([stack] project kind) with jobs/list", async () => {
            await start();
            const res = await runCli(["run", "--stack", "pr-42", "--job", "parallel", "--no-wait"], { env: patEnv(ws), readStack: undefined });
            expect(res.code, res.stderr).to.equal(0);
            expect(res.stderr).to.match(
                /Found parallel job 612 by its name '\[pr-42\] notebook-orchestration parallel' \(cannot read the outputs of stack 'pr-42': the pulumi CLI is not installed/,
            );
            expect(res.stdout).to.match(/Triggered parallel job 612 \(\[pr-42\] notebook-orchestration parallel\): run 9001/);
            const list = ws.calls.find((c) => c.path.endsWith("/jobs/list"))!;
            expect(list.query).to.deep.equal({ name: "[pr-42] notebook-orchestration parallel", limit: "100" });
        });

        it("names the nearest job names when none has the name", async () => {
            await start();
            const res = await runCli(["run", "--stack", "pr-24", "--job", "sequential"], { env: patEnv(ws), readStack: async () => ({}) });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(
                /Error: no job named '\[pr-24\] notebook-orchestration sequential' in http:\/\/127\.0\.0\.1:\d+; the nearest names there: '\[pr-42\] notebook-orchestration sequential' \(id 611\), '\[dev\] notebook-orchestration sequential' \(id 123\), .*Check --stack, deploy the stack, or pass --sequential-job-id \(the stack's outputs could not be used: stack 'pr-24' has no outputs/,
            );
            expect(res.stderr).not.to.match(/orders_backfill|Nightly billing/);
        });

        it("ranks near matches by edit distance, within 40% of the name's length", () => {
            expect(editDistance("[pr-24] x", "[pr-42] x")).to.equal(2);
            const jobs = ["[pr-42] notebook-orchestration sequential", "[dev] notebook-orchestration parallel", "orders_backfill"].map((name, i) => ({
                job_id: i + 1,
                settings: { name },
            }));
            expect(nearMatches("[pr-24] notebook-orchestration sequential", jobs).map((j) => j.job_id)).to.deep.equal([1, 2]);
            expect(nearMatches("nightly", jobs)).to.deep.equal([]);
        });

        it("names the jobs as the stack does: the project of Pulumi.yaml and the stack", () => {
            expect(projectName()).to.equal("notebook-orchestration");
            expect(stackJobName(projectName(), "pr-42", "sequential")).to.equal("[pr-42] notebook-orchestration sequential");
        });

        it("refuses to pick between two jobs with the name", async () => {
            await start();
            const res = await runCli(["run", "--stack", "staging", "--job", "sequential"], { env: patEnv(ws), readStack: undefined });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(
                /Error: 2 jobs in http:\/\/127\.0\.0\.1:\d+ are named '\[staging\] notebook-orchestration sequential' \(ids 901, 902\): pass the one to run with --sequential-job-id/,
            );
        });
    });

    it("--help points to docs/jobs-cli.md", async () => {
        const res = await runCli(["--help"], { env: isolatedEnv() });
        expect(res.code).to.equal(0);
        expect(res.stdout).to.include("See docs/jobs-cli.md.");
        expect(fs.existsSync(path.join(__dirname, "..", "docs", "jobs-cli.md"))).to.equal(true);
    });

    it("warns when the job already has an active run", async () => {
        await start();
        await runCli(["run", "--job", "sequential", "--no-wait"], { env: patEnv(ws), ...fromStack() });
        const res = await runCli(["run", "--job", "sequential", "--no-wait"], { env: patEnv(ws), ...fromStack() });
        expect(res.stderr).to.match(/Warning: sequential job 123 \(\[dev\] notebook-orchestration sequential\) already has 1 active run \(9001 PENDING\)/);
    });

    describe("errors", () => {
        it("a 403 names the credential kind, not the token, and exits 2", async () => {
            await start();
            const res = await runCli(["run"], { env: patEnv(ws, { DATABRICKS_TOKEN: "dapi-revoked-0000" }), ...fromStack() });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(
                /Error: the personal access token from DATABRICKS_TOKEN is not allowed to call GET \/api\/2\.2\/jobs\/get .*403 Forbidden, PERMISSION_DENIED/,
            );
            expect(res.stderr).not.to.include("dapi-revoked-0000");
            expect(res.stdout).not.to.include("dapi-revoked-0000");
            expect(ws.count("POST", "/run-now")).to.equal(0);
        });

        it("a 403 with a profile's token names the profile", async () => {
            await start();
            const home = tempDir();
            const cfg = path.join(home, ".databrickscfg");
            fs.writeFileSync(cfg, `[staging]\nhost = ${ws.url}\ntoken = dapi-profile-secret\n`);
            const res = await runCli(["run", "--profile", "staging"], { env: isolatedEnv({ DATABRICKS_CONFIG_FILE: cfg }), ...fromStack() });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(/the personal access token from profile staging in .*\.databrickscfg is not allowed/);
            expect(res.stderr).not.to.include("dapi-profile-secret");
        });

        it("an unknown job id is reported with where the id came from", async () => {
            await start();
            const res = await runCli(["run", "--job-id", "999"], { env: patEnv(ws) });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(
                /Error: job 999 \(from --job-id\) does not exist in the workspace http:\/\/127\.0\.0\.1:\d+ \(Job 999 does not exist\.\)/,
            );
        });

        for (const [flag, value] of [
            ["--request-timeout", "0"],
            ["--poll-interval", "soon"],
        ]) {
            it(`a bad ${flag} names the flag and what it expects`, async () => {
                const res = await runCli(["run", flag, value], { env: isolatedEnv() });
                expect(res.code).to.equal(2);
                expect(res.stderr).to.include(`${flag} must be a number of seconds above 0, got '${value}'.`);
            });
        }

        it("an unknown --job value names the flag and the allowed values", async () => {
            const res = await runCli(["run", "--job", "fastest"], { env: isolatedEnv() });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(
                /option '--job <which>' argument 'fastest' is invalid\. Allowed choices are all, sequential, parallel, for-each, both\./,
            );
        });

        it("a non-numeric --job-id is rejected", async () => {
            const res = await runCli(["run", "--job-id", "abc", "--host", "https://adb-1.1.azuredatabricks.net"], {
                env: isolatedEnv({ DATABRICKS_TOKEN: "x" }),
            });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(/--job-id must be a numeric Databricks job id \(e\.g\. 123\), got 'abc'/);
        });

        for (const job of ["all", "both"]) {
            it(`--no-wait with --job ${job} is refused (the jobs would share the cluster)`, async () => {
                const res = await runCli(["run", "--no-wait", ...(job === "all" ? [] : ["--job", job])], { env: isolatedEnv() });
                expect(res.code).to.equal(2);
                expect(res.stderr).to.match(new RegExp(`--no-wait with --job ${job} would start the jobs at once on the shared cluster`));
            });
        }

        it("a malformed --host names the flag", async () => {
            const res = await runCli(["run", "--host", "https://adb 1.azuredatabricks.net", "--sequential-job-id", "1", "--parallel-job-id", "2"], {
                env: isolatedEnv({ DATABRICKS_TOKEN: "x" }),
            });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(/Error: --host 'https:\/\/adb 1\.azuredatabricks\.net' is not a valid URL/);
        });

        it("an unreachable host fails fast with a clear message", async () => {
            await start();
            const url = ws.url;
            await ws.close();
            const res = await runCli(["run", "--job-id", "123", "--host", url], { env: isolatedEnv({ DATABRICKS_TOKEN: "x" }) });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(/cannot reach the workspace at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
        });

        it("a stack with no outputs says to deploy or pass the ids and host", async () => {
            const res = await runCli(["run", "--stack", "empty"], { env: isolatedEnv({ DATABRICKS_TOKEN: "x" }), readStack: async () => ({}) });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(
                /stack 'empty' has no outputs; deploy it first \(`pulumi up --stack empty`\).*--sequential-job-id\/--parallel-job-id\/--for-each-job-id \(or --job-id for run\).*--host/,
            );
        });

        it("a missing pulumi CLI says to pass --job-id and --host", async () => {
            const res = await runCli(["run"], { env: isolatedEnv({ DATABRICKS_TOKEN: "x" }), readStack: undefined });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(/the pulumi CLI is not installed or not on PATH; pass the job ids .*--job-id.*--host/);
        });
    });

    it("reads the ids and the workspace URL from `pulumi stack output --json` (a stand-in pulumi on PATH)", async () => {
        await start();
        const bin = tempDir();
        const argsFile = path.join(bin, "args");
        fs.writeFileSync(path.join(bin, "pulumi"), `#!/bin/sh\necho "$@" > "${argsFile}"\ncat <<'EOF'\n${JSON.stringify(stackOutputs(ws), null, 2)}\nEOF\n`, {
            mode: 0o755,
        });
        const env = isolatedEnv({ PATH: `${bin}:/usr/bin:/bin`, DATABRICKS_TOKEN: GOOD_TOKEN });
        const outputs = await pulumiStackReader(env)("ci");
        expect((outputs as Record<string, string>).parallelJobId).to.equal("456");
        expect(fs.readFileSync(argsFile, "utf8").trim()).to.equal("stack output --json --stack ci");

        const res = await runCli(["run", "--stack", "ci", "--job", "sequential"], { env, readStack: undefined });
        expect(res.code, res.stderr).to.equal(0);
        expect(res.stderr).to.match(/Workspace http:\/\/127\.0\.0\.1:\d+ \(from stack 'ci'\)/);
        expect(res.stdout).to.match(/Run 9001: PENDING -> RUNNING -> TERMINATED SUCCESS/);
    });

    it("a failing pulumi command shows its error", async () => {
        const bin = tempDir();
        fs.writeFileSync(path.join(bin, "pulumi"), `#!/bin/sh\necho "error: no stack named 'nope' found" >&2\nexit 255\n`, { mode: 0o755 });
        const res = await runCli(["run", "--stack", "nope"], {
            env: isolatedEnv({ PATH: `${bin}:/usr/bin:/bin`, DATABRICKS_TOKEN: "x" }),
            readStack: undefined,
        });
        expect(res.code).to.equal(2);
        expect(res.stderr).to.match(/`pulumi stack output --json --stack nope` failed: error: no stack named 'nope' found/);
    });
});
