import { expect } from "chai";
import { ApiError, JobsClient, backoffDelay, parseRetryAfter, DEFAULT_RETRY, type RetryEvent } from "../cli/api";
import type { Credential } from "../cli/auth";
import { CliError } from "../cli/errors";
import { rejectionOf } from "./fixtures/jobs/harness";
import { GOOD_TOKEN, startFakeWorkspace, throttled, type FakeWorkspace, type FakeWorkspaceOptions } from "./fixtures/jobs/server";

function pat(token: string, description = "personal access token from DATABRICKS_TOKEN"): Credential {
    return { authType: "pat", description, hint: "check the token", getToken: async () => token, invalidate: () => undefined, secrets: () => [token] };
}

describe("jobs: API client (cli/api.ts) against a local Jobs API 2.2 server", () => {
    let ws: FakeWorkspace;
    let sleeps: number[];
    let retries: RetryEvent[];

    async function start(options: FakeWorkspaceOptions = {}): Promise<void> {
        ws = await startFakeWorkspace(options);
    }
    function client(token = GOOD_TOKEN, extra: Partial<ConstructorParameters<typeof JobsClient>[0]> = {}): JobsClient {
        return new JobsClient({
            host: ws.url,
            credential: pat(token),
            timeoutMs: 2000,
            sleep: async (ms) => {
                sleeps.push(ms);
            },
            random: () => 0,
            onRetry: (e) => retries.push(e),
            ...extra,
        });
    }

    beforeEach(() => {
        sleeps = [];
        retries = [];
    });
    afterEach(async () => {
        await ws?.close();
    });

    it("retries a 429 once, waiting what Retry-After says, then succeeds", async () => {
        await start({
            faults: [throttled("/api/2.2/jobs/get", "3")],
        });
        const job = await client().getJob(123);
        expect(job.settings?.name).to.equal("[dev] notebook-orchestration sequential");
        expect(ws.count("GET", "/get"), "one 429, one retry").to.equal(2);
        expect(sleeps, "slept the Retry-After, not the backoff").to.deep.equal([3000]);
        expect(retries[0].reason).to.match(/HTTP 429 \(Retry-After 3\)/);
    });

    it("honours Retry-After with a real (short) sleep", async () => {
        await start({ faults: [throttled("/api/2.2/jobs/get", "0.2")] });
        const c = new JobsClient({ host: ws.url, credential: pat(GOOD_TOKEN), timeoutMs: 2000 });
        const t0 = Date.now();
        await c.getJob(123);
        const took = Date.now() - t0;
        expect(took, `waited ${took} ms, at least the 200 ms asked for`).to.be.at.least(190);
        expect(ws.count("GET", "/get")).to.equal(2);
    });

    it("retries 5xx with exponential backoff and gives up after maxAttempts with a clear error", async () => {
        await start({
            faults: [
                {
                    path: "/api/2.2/jobs/runs/get",
                    status: 503,
                    times: 10,
                    body: { error_code: "TEMPORARILY_UNAVAILABLE", message: "The service is temporarily unavailable" },
                },
            ],
        });
        const err = await rejectionOf(client(GOOD_TOKEN, { retry: { maxAttempts: 4, baseDelayMs: 100 } }).getRun(11051));
        expect(err).to.be.instanceOf(ApiError);
        expect((err as ApiError).status).to.equal(503);
        expect(err.message).to.match(/GET \/api\/2\.2\/jobs\/runs\/get .* failed with HTTP 503 after 4 attempts: TEMPORARILY_UNAVAILABLE/);
        expect(ws.count("GET", "/runs/get")).to.equal(4);
        expect(sleeps).to.deep.equal([100, 200, 400]);
    });

    it("recovers from a 500 followed by success", async () => {
        await start({ faults: [{ path: "/api/2.2/jobs/runs/get-output", status: 500, times: 2 }] });
        const out = await client().getRunOutput(11052);
        expect(out.notebook_output?.result).to.be.a("string").that.is.not.empty;
        expect(ws.count("GET", "/runs/get-output")).to.equal(3);
        expect(sleeps, "default backoff 1 s then 2 s (no jitter with random()=0)").to.deep.equal([1000, 2000]);
    });

    it("retries run-now with the same idempotency token, so a retried POST cannot start two runs", async () => {
        await start({ faults: [throttled("/api/2.2/jobs/run-now", "1")] });
        const { run_id } = await client().runNow(123);
        expect(run_id).to.be.above(0);
        const posts = ws.calls.filter((c) => c.path === "/api/2.2/jobs/run-now");
        expect(posts.length).to.equal(2);
        expect(posts[0].body?.idempotency_token).to.be.a("string").that.is.not.empty;
        expect(posts[0].body?.idempotency_token).to.equal(posts[1].body?.idempotency_token);
        expect(posts[1].body?.job_id).to.equal(123);
    });

    it("does not retry a 403 and names the credential kind, never its value", async () => {
        await start();
        const wrong = "dapi-wrong-token-value";
        const err = await rejectionOf(client(wrong).getJob(123));
        expect(err).to.be.instanceOf(ApiError);
        expect((err as ApiError).status).to.equal(403);
        expect(err.message).to.match(/personal access token from DATABRICKS_TOKEN/);
        expect(err.message).to.match(/403 Forbidden, PERMISSION_DENIED: Invalid access token/);
        expect(err.message, "the token is not in the message").not.to.include(wrong);
        expect(ws.count("GET", "/get")).to.equal(1);
        expect(ws.calls[0].authorization).to.equal(`Bearer ${wrong}`);
    });

    it("reports a 401 as a credential the workspace did not accept", async () => {
        await start({ faults: [{ path: "/api/2.2/jobs/get", status: 401, body: { error_code: "UNAUTHENTICATED", message: "Token is expired." } }] });
        expect((await rejectionOf(client().getJob(123))).message).to.match(
            /did not accept the personal access token from DATABRICKS_TOKEN \(401 Unauthorized, UNAUTHENTICATED: Token is expired\.\): check the token/,
        );
        expect(ws.count("GET", "/get"), "not retried").to.equal(1);
    });

    it("follows runs/list paging (next_page_token) across two pages and stops at max", async () => {
        await start();
        const runs = await client().listRuns(123, { completedOnly: true, max: 4, pageSize: 3 });
        expect(runs.map((r) => r.run_id)).to.deep.equal([1105, 1104, 1103, 1102]);
        const lists = ws.calls.filter((c) => c.path === "/api/2.2/jobs/runs/list");
        expect(lists.length).to.equal(2);
        expect(lists[0].query.page_token).to.be.undefined;
        expect(lists[1].query.page_token, "second call passes the page token").to.be.a("string").that.is.not.empty;
        expect(lists[0].query.completed_only).to.equal("true");
        expect(lists[0].query.limit).to.equal("3");
    });

    it("lists jobs across pages (jobs/list next_page_token) and filters by exact name, case-insensitively", async () => {
        await start();
        const all = await client().listJobs({ pageSize: 3 });
        expect(all.map((j) => j.job_id)).to.deep.equal([123, 456, 611, 612, 705, 706, 789, 801, 802, 901, 902]);
        const lists = ws.calls.filter((c) => c.path === "/api/2.2/jobs/list");
        expect(lists.map((c) => c.query.limit)).to.deep.equal(["3", "3", "3", "3"]);
        expect(lists[1].query.page_token).to.be.a("string").that.is.not.empty;
        const named = await client().listJobs({ name: "[DEV] Notebook-Orchestration Parallel" });
        expect(named.map((j) => j.job_id)).to.deep.equal([456]);
    });

    it("stops paging when has_more is false", async () => {
        await start();
        const runs = await client().listRuns(456, { completedOnly: true, max: 50, pageSize: 25 });
        expect(runs.length).to.equal(5);
        expect(ws.count("GET", "/runs/list")).to.equal(1);
    });

    it("times out a request that gets no answer, retries, then says how long it waited", async () => {
        await start({ faults: [{ path: "/api/2.2/jobs/get", hang: true, times: 5 }] });
        const err = await rejectionOf(client(GOOD_TOKEN, { timeoutMs: 50, retry: { maxAttempts: 2 } }).getJob(123));
        expect(err).to.be.instanceOf(CliError);
        expect(err.message).to.match(/failed after 2 attempts: no answer within 0\.1s|failed after 2 attempts: no answer within 0\.05s/);
        expect(err.message).to.match(/--request-timeout/);
        expect(ws.count("GET", "/get")).to.equal(2);
    });

    it("fails fast with a clear error when the host is unreachable", async () => {
        await start();
        const port = new URL(ws.url).port;
        await ws.close();
        const c = new JobsClient({ host: `http://127.0.0.1:${port}`, credential: pat(GOOD_TOKEN), timeoutMs: 1000, sleep: async (ms) => void sleeps.push(ms) });
        expect((await rejectionOf(c.getJob(123))).message).to.match(/cannot reach the workspace at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
        expect(sleeps, "no retries for a refused connection").to.deep.equal([]);
    });

    it("parses Retry-After seconds and HTTP dates, and computes capped backoff", () => {
        expect(parseRetryAfter("7")).to.equal(7000);
        expect(parseRetryAfter("0.5")).to.equal(500);
        expect(parseRetryAfter(new Date(10_000 + 4000).toUTCString(), 10_000)).to.equal(4000);
        expect(parseRetryAfter("soon")).to.be.undefined;
        expect(parseRetryAfter(undefined)).to.be.undefined;
        expect(backoffDelay(1, DEFAULT_RETRY, () => 0)).to.equal(1000);
        expect(backoffDelay(3, DEFAULT_RETRY, () => 0)).to.equal(4000);
        expect(
            backoffDelay(3, DEFAULT_RETRY, () => 1),
            "up to 25% jitter",
        ).to.equal(5000);
        expect(backoffDelay(20, DEFAULT_RETRY, () => 0)).to.equal(DEFAULT_RETRY.maxDelayMs);
    });
});
