import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "chai";
import { pulumiStackReader } from "../cli/stack";
import { GOOD_TOKEN, startFakeWorkspace, throttled, type FakeWorkspace, type FakeWorkspaceOptions } from "./fixtures/jobs/server";
import { isolatedEnv, patEnv, runCli, stackOutputs, tempDir } from "./fixtures/jobs/harness";

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
        expect(res.stdout).to.match(/product_sales\s+FAILED\s+1\s+1m 50s\s+AnalysisException: \[TABLE_OR_VIEW_NOT_FOUND\]/);
        expect(res.stdout).to.match(/Error of task orchestrate:\nRuntimeError: 1 of 4 workers did not succeed: product_sales \(FAILED\)/);
        expect(res.stdout, "the parallel job still ran").to.match(/Run 9003: PENDING -> RUNNING -> TERMINATED SUCCESS/);
        expect(res.stdout).to.match(/sequential job 123 \(\[dev\] notebook-orchestration sequential\) run 9001 ended TERMINATED FAILED/);
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

        it("an unknown --job value names the flag and the allowed values", async () => {
            const res = await runCli(["run", "--job", "fastest"], { env: isolatedEnv() });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(/option '--job <which>' argument 'fastest' is invalid\. Allowed choices are sequential, parallel, both\./);
        });

        it("a non-numeric --job-id is rejected", async () => {
            const res = await runCli(["run", "--job-id", "abc", "--host", "https://adb-1.1.azuredatabricks.net"], {
                env: isolatedEnv({ DATABRICKS_TOKEN: "x" }),
            });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(/--job-id must be a numeric Databricks job id \(e\.g\. 123\), got 'abc'/);
        });

        it("--no-wait with both jobs is refused (they would share the cluster)", async () => {
            const res = await runCli(["run", "--no-wait"], { env: isolatedEnv() });
            expect(res.code).to.equal(2);
            expect(res.stderr).to.match(/--no-wait with --job both would start both jobs at once/);
        });

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
                /stack 'empty' has no outputs: deploy it first \(`pulumi up --stack empty`\).*--sequential-job-id\/--parallel-job-id \(or --job-id for run\).*--host/,
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
