/**
 * A small Databricks Jobs API 2.2 client on undici's `request`, with its own retry loop:
 * 429 and 5xx (and dropped connections / timeouts) are retried with exponential backoff,
 * honouring `Retry-After`; every request has a timeout. The loop is written out here rather than
 * using undici's RetryAgent so that the sleep, the backoff and the attempt count are injectable
 * (tests run in milliseconds and assert the delays asked for) and so that the final error can say
 * how many attempts were made and which credential was refused.
 */
import { randomUUID } from "node:crypto";
import { request, type Dispatcher } from "undici";
import { CliError } from "./errors";
import type { Credential } from "./auth";
import type { ClusterSpec, Job, JobRun, JobsListResponse, RunNowResponse, RunOutput, RunsListResponse } from "./types";

export const API_PREFIX = "/api/2.2/jobs";

export interface RetryOptions {
    /** Total attempts per call, the first included. */
    maxAttempts: number;
    /** Backoff before retry n (1-based) is baseDelayMs * 2^(n-1), capped at maxDelayMs, plus up to 25% jitter. */
    baseDelayMs: number;
    maxDelayMs: number;
    /** Longest Retry-After honoured; a longer one is cut to this. */
    maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { maxAttempts: 6, baseDelayMs: 1000, maxDelayMs: 30_000, maxRetryAfterMs: 120_000 };
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface RetryEvent {
    method: string;
    path: string;
    attempt: number;
    delayMs: number;
    reason: string;
}

export interface ClientOptions {
    host: string;
    credential: Credential;
    timeoutMs?: number;
    retry?: Partial<RetryOptions>;
    sleep?: (ms: number) => Promise<void>;
    /** 0..1, for jitter; tests pass () => 0. */
    random?: () => number;
    dispatcher?: Dispatcher;
    onRetry?: (event: RetryEvent) => void;
}

/** An HTTP error answer from the API. */
export class ApiError extends CliError {
    constructor(
        message: string,
        readonly status: number,
        readonly errorCode: string | undefined,
        readonly apiMessage: string | undefined,
    ) {
        super(message);
        this.name = "ApiError";
    }

    /** The API's way of saying that a job or run id does not exist. */
    get isNotFound(): boolean {
        return (
            this.status === 404 ||
            this.errorCode === "RESOURCE_DOES_NOT_EXIST" ||
            (this.status === 400 && /does not exist|not found/i.test(this.apiMessage ?? ""))
        );
    }
}

const sleepReal = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Parses Retry-After (delay-seconds or an HTTP date) into milliseconds; undefined when absent/invalid. */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
    const v = Array.isArray(value) ? value[0] : value;
    if (v === undefined || v.trim() === "") return undefined;
    if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v.trim()) * 1000);
    const date = Date.parse(v);
    if (Number.isNaN(date)) return undefined;
    return Math.max(0, date - now);
}

/** Backoff before retry `attempt` (1-based): exponential, capped, with up to 25% jitter. */
export function backoffDelay(attempt: number, retry: RetryOptions, random: () => number = Math.random): number {
    const base = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(base * (1 + 0.25 * random()));
}

const UNREACHABLE = new Set(["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ERR_INVALID_URL"]);
const TRANSIENT = new Set([
    "ECONNRESET",
    "EPIPE",
    "ETIMEDOUT",
    "UND_ERR_SOCKET",
    "UND_ERR_CLOSED",
    "UND_ERR_HEADERS_TIMEOUT",
    "UND_ERR_BODY_TIMEOUT",
    "UND_ERR_CONNECT_TIMEOUT",
]);

function errorCode(err: unknown): string | undefined {
    const e = err as { code?: string; name?: string; cause?: { code?: string } };
    if (e?.name === "TimeoutError") return "TIMEOUT";
    return e?.code ?? e?.cause?.code;
}

function seconds(ms: number): string {
    return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

export class JobsClient {
    readonly host: string;
    readonly credential: Credential;
    private readonly timeoutMs: number;
    private readonly retry: RetryOptions;
    private readonly sleep: (ms: number) => Promise<void>;
    private readonly random: () => number;
    private readonly dispatcher?: Dispatcher;
    private readonly onRetry?: (event: RetryEvent) => void;

    constructor(opts: ClientOptions) {
        this.host = opts.host.replace(/\/+$/, "");
        this.credential = opts.credential;
        this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
        this.retry = { ...DEFAULT_RETRY, ...(opts.retry ?? {}) };
        this.sleep = opts.sleep ?? sleepReal;
        this.random = opts.random ?? Math.random;
        this.dispatcher = opts.dispatcher;
        this.onRetry = opts.onRetry;
    }

    /** One API call with retries. `path` is relative to /api/2.2/jobs, e.g. "/runs/get", unless it starts with /api/. */
    async call<T>(method: "GET" | "POST", path: string, params: Record<string, unknown> = {}): Promise<T> {
        const endpoint = path.startsWith("/api/") ? path : `${API_PREFIX}${path}`;
        const url = new URL(endpoint, this.host);
        let body: string | undefined;
        if (method === "GET") {
            for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, String(v));
        } else {
            body = JSON.stringify(params);
        }
        const what = `${method} ${endpoint}`;
        const max = Math.max(1, this.retry.maxAttempts);
        let refreshedAfter401 = false;

        for (let attempt = 1; ; attempt++) {
            const token = await this.credential.getToken();
            let status: number;
            let headers: Record<string, string | string[] | undefined>;
            let text: string;
            try {
                const res = await request(url, {
                    method,
                    headers: {
                        authorization: `Bearer ${token}`,
                        accept: "application/json",
                        // As the SDKs do, the user agent names the auth type (auth/pat, auth/github-oidc-azure, ...).
                        "user-agent": `notebook-orchestration-jobs-cli/0.1 auth/${this.credential.authType}`,
                        ...(body !== undefined ? { "content-type": "application/json" } : {}),
                    },
                    body,
                    signal: AbortSignal.timeout(this.timeoutMs),
                    dispatcher: this.dispatcher,
                });
                status = res.statusCode;
                headers = res.headers;
                text = await res.body.text();
            } catch (err) {
                const code = errorCode(err) ?? "ERROR";
                if (UNREACHABLE.has(code)) {
                    throw new CliError(
                        `cannot reach the workspace at ${this.host} (${code}): check the host (--host, DATABRICKS_HOST, the profile's host or the stack's workspaceUrl) and your network`,
                    );
                }
                const reason = code === "TIMEOUT" ? `no answer within ${seconds(this.timeoutMs)}` : `${code}: ${(err as Error).message}`;
                if ((code === "TIMEOUT" || TRANSIENT.has(code)) && attempt < max) {
                    await this.pause(what, attempt, backoffDelay(attempt, this.retry, this.random), reason);
                    continue;
                }
                throw new CliError(
                    `${what} to ${this.host} failed after ${attempt} attempt${attempt > 1 ? "s" : ""}: ${reason}` +
                        (code === "TIMEOUT" ? " (raise the limit with --request-timeout SECONDS)" : ""),
                );
            }

            if (status >= 200 && status < 300) {
                if (text.trim() === "") return {} as T;
                try {
                    return JSON.parse(text) as T;
                } catch {
                    throw new CliError(
                        `${what}: the answer from ${this.host} is not JSON (${headers["content-type"] ?? "no content type"}); is ${this.host} a Databricks workspace URL?`,
                    );
                }
            }

            // A token refused before its time (revoked, clock skew): fetch a new one, once.
            if (status === 401 && !refreshedAfter401 && this.credential.authType !== "pat") {
                refreshedAfter401 = true;
                this.credential.invalidate();
                attempt--;
                continue;
            }
            if ((status === 429 || status >= 500) && attempt < max) {
                const retryAfter = parseRetryAfter(headers["retry-after"]);
                const delay = retryAfter !== undefined ? Math.min(retryAfter, this.retry.maxRetryAfterMs) : backoffDelay(attempt, this.retry, this.random);
                await this.pause(what, attempt, delay, `HTTP ${status}${retryAfter !== undefined ? ` (Retry-After ${headers["retry-after"]})` : ""}`);
                continue;
            }
            throw this.httpError(what, status, text, attempt);
        }
    }

    private async pause(what: string, attempt: number, delayMs: number, reason: string): Promise<void> {
        const [method, path] = what.split(" ");
        this.onRetry?.({ method, path, attempt, delayMs, reason });
        await this.sleep(delayMs);
    }

    private httpError(what: string, status: number, text: string, attempts: number): ApiError {
        let code: string | undefined;
        let message: string | undefined;
        try {
            const parsed = JSON.parse(text) as { error_code?: string; message?: string; error?: string };
            code = parsed.error_code;
            message = parsed.message ?? parsed.error;
        } catch {
            message = text.trim().split("\n")[0]?.slice(0, 200) || undefined;
        }
        const detail = [code, message].filter(Boolean).join(": ");
        const cred = this.credential;
        if (status === 401) {
            return new ApiError(
                `the workspace ${this.host} did not accept the ${cred.description} (401 Unauthorized${detail ? `, ${detail}` : ""}): ${cred.hint}`,
                status,
                code,
                message,
            );
        }
        if (status === 403) {
            return new ApiError(
                `the ${cred.description} is not allowed to call ${what} on ${this.host} (403 Forbidden${detail ? `, ${detail}` : ""}): ${cred.hint}`,
                status,
                code,
                message,
            );
        }
        const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
        return new ApiError(`${what} on ${this.host} failed with HTTP ${status}${tries}${detail ? `: ${detail}` : ""}`, status, code, message);
    }

    // -------------------------------------------------------------------------------------------
    // Endpoints

    getJob(jobId: number): Promise<Job> {
        return this.call<Job>("GET", "/get", { job_id: jobId });
    }

    /**
     * Triggers a run, with job parameter overrides when given; the idempotency token makes the
     * retries of this POST safe.
     */
    runNow(jobId: number, jobParameters: Record<string, string> = {}, idempotencyToken: string = randomUUID()): Promise<RunNowResponse> {
        return this.call<RunNowResponse>("POST", "/run-now", {
            job_id: jobId,
            idempotency_token: idempotencyToken,
            ...(Object.keys(jobParameters).length ? { job_parameters: jobParameters } : {}),
        });
    }

    /** jobs/list, following `next_page_token`: every job, or those named `name` (exact, case-insensitive). */
    async listJobs(opts: { name?: string; pageSize?: number } = {}): Promise<Job[]> {
        const jobs: Job[] = [];
        let pageToken: string | undefined;
        do {
            const page = await this.call<JobsListResponse>("GET", "/list", { name: opts.name, limit: opts.pageSize ?? 100, page_token: pageToken });
            jobs.push(...(page.jobs ?? []));
            pageToken = page.has_more === false ? undefined : page.next_page_token || undefined;
        } while (pageToken);
        return jobs;
    }

    /** The caller's identity (SCIM Me), as `databricks auth describe` checks it. */
    currentUser(): Promise<{ userName?: string; displayName?: string }> {
        return this.call("GET", "/api/2.0/preview/scim/v2/Me");
    }

    /** runs/get, following 2.2's paging of `tasks` (and of a For each task run's `iterations`), over 100 of them, to return them all. */
    async getRun(runId: number): Promise<JobRun> {
        const run = await this.call<JobRun>("GET", "/runs/get", { run_id: runId });
        let token = run.next_page_token;
        const tasks = [...(run.tasks ?? [])];
        const iterations = [...(run.iterations ?? [])];
        while (token) {
            const page = await this.call<JobRun>("GET", "/runs/get", { run_id: runId, page_token: token });
            tasks.push(...(page.tasks ?? []));
            iterations.push(...(page.iterations ?? []));
            token = page.next_page_token;
        }
        const result: JobRun = { ...run, tasks, ...(iterations.length ? { iterations } : {}) };
        delete result.next_page_token;
        return result;
    }

    /** clusters/get (Clusters API 2.1): the size of an existing (all-purpose) cluster. */
    getCluster(clusterId: string): Promise<ClusterSpec> {
        return this.call<ClusterSpec>("GET", "/api/2.1/clusters/get", { cluster_id: clusterId });
    }

    getRunOutput(taskRunId: number): Promise<RunOutput> {
        return this.call<RunOutput>("GET", "/runs/get-output", { run_id: taskRunId });
    }

    /**
     * runs/list for one job, newest first, following `next_page_token` until `max` runs are
     * collected or there are no more pages.
     */
    async listRuns(jobId: number, opts: { completedOnly?: boolean; activeOnly?: boolean; max: number; pageSize?: number }): Promise<JobRun[]> {
        const pageSize = Math.max(1, Math.min(25, opts.pageSize ?? opts.max));
        const runs: JobRun[] = [];
        let pageToken: string | undefined;
        do {
            const page = await this.call<RunsListResponse>("GET", "/runs/list", {
                job_id: jobId,
                completed_only: opts.completedOnly ? true : undefined,
                active_only: opts.activeOnly ? true : undefined,
                limit: pageSize,
                page_token: pageToken,
            });
            runs.push(...(page.runs ?? []));
            pageToken = page.has_more === false ? undefined : page.next_page_token || undefined;
        } while (pageToken && runs.length < opts.max);
        return runs.slice(0, opts.max);
    }
}
