import { strict as assert } from "node:assert";
import { ApiError, JobsClient, backoffDelay, parseRetryAfter, DEFAULT_RETRY, type RetryEvent } from "../cli/api";
import type { Credential } from "../cli/config";
import { CliError } from "../cli/errors";
import { GOOD_TOKEN, startFakeWorkspace, type FakeWorkspace, type FakeWorkspaceOptions } from "./fixtures/jobs/server";

function pat(token: string, description = "personal access token from DATABRICKS_TOKEN"): Credential {
  return { kind: "pat", description, hint: "check the token", getToken: async () => token, secrets: () => [token] };
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
      faults: [{ path: "/api/2.2/jobs/get", status: 429, headers: { "retry-after": "3" }, body: { error_code: "REQUEST_LIMIT_EXCEEDED", message: "Too many requests" } }],
    });
    const job = await client().getJob(123);
    assert.equal(job.settings?.name, "nbo-dev-sequential");
    assert.equal(ws.count("GET", "/get"), 2, "one 429, one retry");
    assert.deepEqual(sleeps, [3000], "slept the Retry-After, not the backoff");
    assert.match(retries[0].reason, /HTTP 429 \(Retry-After 3\)/);
  });

  it("honours Retry-After with a real (short) sleep", async () => {
    await start({ faults: [{ path: "/api/2.2/jobs/get", status: 429, headers: { "retry-after": "0.2" } }] });
    const c = new JobsClient({ host: ws.url, credential: pat(GOOD_TOKEN), timeoutMs: 2000 });
    const t0 = Date.now();
    await c.getJob(123);
    const took = Date.now() - t0;
    assert.ok(took >= 190, `waited ${took} ms, at least the 200 ms asked for`);
    assert.equal(ws.count("GET", "/get"), 2);
  });

  it("retries 5xx with exponential backoff and gives up after maxAttempts with a clear error", async () => {
    await start({ faults: [{ path: "/api/2.2/jobs/runs/get", status: 503, times: 10, body: { error_code: "TEMPORARILY_UNAVAILABLE", message: "The service is temporarily unavailable" } }] });
    await assert.rejects(
      client(GOOD_TOKEN, { retry: { maxAttempts: 4, baseDelayMs: 100 } }).getRun(11051),
      (err: unknown) => {
        assert.ok(err instanceof ApiError);
        assert.equal(err.status, 503);
        assert.match(err.message, /GET \/api\/2\.2\/jobs\/runs\/get .* failed with HTTP 503 after 4 attempts: TEMPORARILY_UNAVAILABLE/);
        return true;
      },
    );
    assert.equal(ws.count("GET", "/runs/get"), 4);
    assert.deepEqual(sleeps, [100, 200, 400]);
  });

  it("recovers from a 500 followed by success", async () => {
    await start({ faults: [{ path: "/api/2.2/jobs/runs/get-output", status: 500, times: 2 }] });
    const out = await client().getRunOutput(11052);
    assert.ok(out.notebook_output?.result);
    assert.equal(ws.count("GET", "/runs/get-output"), 3);
    assert.deepEqual(sleeps, [1000, 2000], "default backoff 1 s then 2 s (no jitter with random()=0)");
  });

  it("retries run-now with the same idempotency token, so a retried POST cannot start two runs", async () => {
    await start({ faults: [{ path: "/api/2.2/jobs/run-now", status: 429, headers: { "retry-after": "1" } }] });
    const { run_id } = await client().runNow(123);
    assert.ok(run_id > 0);
    const posts = ws.calls.filter((c) => c.path === "/api/2.2/jobs/run-now");
    assert.equal(posts.length, 2);
    assert.ok(posts[0].body?.idempotency_token);
    assert.equal(posts[0].body?.idempotency_token, posts[1].body?.idempotency_token);
    assert.equal(posts[1].body?.job_id, 123);
  });

  it("does not retry a 403 and names the credential kind, never its value", async () => {
    await start();
    const wrong = "dapi-wrong-token-value";
    await assert.rejects(client(wrong).getJob(123), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 403);
      assert.match(err.message, /personal access token from DATABRICKS_TOKEN/);
      assert.match(err.message, /403 Forbidden, PERMISSION_DENIED: Invalid access token/);
      assert.ok(!err.message.includes(wrong), "the token is not in the message");
      return true;
    });
    assert.equal(ws.count("GET", "/get"), 1);
    assert.equal(ws.calls[0].authorization, `Bearer ${wrong}`);
  });

  it("reports a 401 as a credential the workspace did not accept", async () => {
    await start({ faults: [{ path: "/api/2.2/jobs/get", status: 401, body: { error_code: "UNAUTHENTICATED", message: "Token is expired." } }] });
    await assert.rejects(
      client().getJob(123),
      /did not accept the personal access token from DATABRICKS_TOKEN \(401 Unauthorized, UNAUTHENTICATED: Token is expired\.\): check the token/,
    );
    assert.equal(ws.count("GET", "/get"), 1, "not retried");
  });

  it("follows runs/list paging (next_page_token) across two pages and stops at max", async () => {
    await start();
    const runs = await client().listRuns(123, { completedOnly: true, max: 4, pageSize: 3 });
    assert.deepEqual(runs.map((r) => r.run_id), [1105, 1104, 1103, 1102]);
    const lists = ws.calls.filter((c) => c.path === "/api/2.2/jobs/runs/list");
    assert.equal(lists.length, 2);
    assert.equal(lists[0].query.page_token, undefined);
    assert.ok(lists[1].query.page_token, "second call passes the page token");
    assert.equal(lists[0].query.completed_only, "true");
    assert.equal(lists[0].query.limit, "3");
  });

  it("stops paging when has_more is false", async () => {
    await start();
    const runs = await client().listRuns(456, { completedOnly: true, max: 50, pageSize: 25 });
    assert.equal(runs.length, 5);
    assert.equal(ws.count("GET", "/runs/list"), 1);
  });

  it("times out a request that gets no answer, retries, then says how long it waited", async () => {
    await start({ faults: [{ path: "/api/2.2/jobs/get", hang: true, times: 5 }] });
    await assert.rejects(
      client(GOOD_TOKEN, { timeoutMs: 50, retry: { maxAttempts: 2 } }).getJob(123),
      (err: unknown) => {
        assert.ok(err instanceof CliError);
        assert.match(err.message, /failed after 2 attempts: no answer within 0\.1s|failed after 2 attempts: no answer within 0\.05s/);
        assert.match(err.message, /--timeout/);
        return true;
      },
    );
    assert.equal(ws.count("GET", "/get"), 2);
  });

  it("fails fast with a clear error when the host is unreachable", async () => {
    await start();
    const port = new URL(ws.url).port;
    await ws.close();
    const c = new JobsClient({ host: `http://127.0.0.1:${port}`, credential: pat(GOOD_TOKEN), timeoutMs: 1000, sleep: async (ms) => void sleeps.push(ms) });
    await assert.rejects(c.getJob(123), /cannot reach the workspace at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    assert.deepEqual(sleeps, [], "no retries for a refused connection");
  });

  it("parses Retry-After seconds and HTTP dates, and computes capped backoff", () => {
    assert.equal(parseRetryAfter("7"), 7000);
    assert.equal(parseRetryAfter("0.5"), 500);
    assert.equal(parseRetryAfter(new Date(10_000 + 4000).toUTCString(), 10_000), 4000);
    assert.equal(parseRetryAfter("soon"), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
    assert.equal(backoffDelay(1, DEFAULT_RETRY, () => 0), 1000);
    assert.equal(backoffDelay(3, DEFAULT_RETRY, () => 0), 4000);
    assert.equal(backoffDelay(3, DEFAULT_RETRY, () => 1), 5000, "up to 25% jitter");
    assert.equal(backoffDelay(20, DEFAULT_RETRY, () => 0), DEFAULT_RETRY.maxDelayMs);
  });
});
