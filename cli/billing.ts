/**
 * `compare --warehouse-id ID`: the DBUs Databricks billed for each job run, read from the billable
 * usage system table `system.billing.usage` through the SQL Statement Execution API on a SQL
 * warehouse, instead of estimating them from the cluster size.
 *
 * - POST /api/2.0/sql/statements with `warehouse_id`, `statement`, named `parameters`
 *   ([{name, value, type}], markers `:name`), `wait_timeout` (0s or 5s-50s) and
 *   `on_wait_timeout: CONTINUE`; the answer's `status.state` is PENDING, RUNNING, SUCCEEDED, FAILED,
 *   CANCELED or CLOSED. Until it is final, GET /api/2.0/sql/statements/{statement_id} polls it.
 *   A SUCCEEDED answer has `manifest.schema.columns` and `result.data_array` (JSON_ARRAY format: every
 *   value a string), more rows in chunks at GET .../result/chunks/{next_chunk_index}.
 * - system.billing.usage: one row per usage record, `usage_quantity` in `usage_unit` (DBU) of a
 *   `sku_name`, on `usage_date`; `usage_metadata.job_id` and `usage_metadata.job_run_id` are set for
 *   usage of jobs compute (and serverless) run by a job; usage of an all-purpose cluster is the
 *   cluster's, not a job run's. Records arrive within hours (typically 12), so recent runs may have
 *   none yet. (Azure Databricks: "Billable usage system table reference".)
 */
import type { JobsClient } from "./api";
import { CliError } from "./errors";

export interface BilledUsage {
    /** DBUs billed for the run (all its records). */
    dbus: number;
    skus: string[];
}

interface StatementResponse {
    statement_id?: string;
    status?: { state?: string; error?: { error_code?: string; message?: string } };
    manifest?: { schema?: { columns?: { name: string; position?: number }[] }; total_row_count?: number };
    result?: { data_array?: (string | null)[][]; next_chunk_index?: number };
}

/** The usage of the given jobs' runs since a date, one row per run and SKU. */
export function billedUsageStatement(jobCount: number): string {
    const markers = Array.from({ length: jobCount }, (_, i) => `:job_id_${i}`).join(", ");
    return [
        "SELECT usage_metadata.job_run_id AS job_run_id, sku_name, SUM(usage_quantity) AS dbus",
        "FROM system.billing.usage",
        `WHERE usage_metadata.job_id IN (${markers}) AND usage_unit = 'DBU' AND usage_date >= :since`,
        "GROUP BY usage_metadata.job_run_id, sku_name",
    ].join("\n");
}

const FINAL = new Set(["SUCCEEDED", "FAILED", "CANCELED", "CLOSED"]);

export interface BillingOptions {
    warehouseId: string;
    jobIds: readonly number[];
    /** The oldest run's start (epoch ms): usage before that day is not read. */
    sinceMs: number;
    sleep: (ms: number) => Promise<void>;
    /** How long to wait for the statement in all (ms). */
    maxWaitMs?: number;
    pollMs?: number;
}

/** DBUs billed per job run id, from system.billing.usage. */
export async function billedUsage(client: JobsClient, opts: BillingOptions): Promise<Map<number, BilledUsage>> {
    const parameters = [
        ...opts.jobIds.map((id, i) => ({ name: `job_id_${i}`, value: String(id), type: "STRING" })),
        { name: "since", value: new Date(opts.sinceMs).toISOString().slice(0, 10), type: "DATE" },
    ];
    let res = await client.call<StatementResponse>("POST", "/api/2.0/sql/statements", {
        warehouse_id: opts.warehouseId,
        statement: billedUsageStatement(opts.jobIds.length),
        parameters,
        wait_timeout: "30s",
        on_wait_timeout: "CONTINUE",
        format: "JSON_ARRAY",
        disposition: "INLINE",
    });
    const id = res.statement_id;
    let waited = 0;
    const maxWait = opts.maxWaitMs ?? 120_000;
    const poll = opts.pollMs ?? 2000;
    while (!FINAL.has(res.status?.state ?? "") && id && waited < maxWait) {
        await opts.sleep(poll);
        waited += poll;
        res = await client.call<StatementResponse>("GET", `/api/2.0/sql/statements/${encodeURIComponent(id)}`);
    }
    const state = res.status?.state ?? "UNKNOWN";
    if (state !== "SUCCEEDED") {
        const why = res.status?.error?.message ?? (FINAL.has(state) ? state : `still ${state} after ${Math.round(maxWait / 1000)}s`);
        throw new CliError(
            `reading system.billing.usage on SQL warehouse ${opts.warehouseId} failed: ${why} ` +
                "(the warehouse must be able to run, and you need SELECT on system.billing.usage; leave out --warehouse-id to estimate only)",
        );
    }
    const columns = (res.manifest?.schema?.columns ?? []).map((c) => c.name);
    const at = (name: string): number => columns.indexOf(name);
    const rows = [...(res.result?.data_array ?? [])];
    let next = res.result?.next_chunk_index;
    while (next !== undefined && id) {
        const chunk = await client.call<{ data_array?: (string | null)[][]; next_chunk_index?: number }>(
            "GET",
            `/api/2.0/sql/statements/${encodeURIComponent(id)}/result/chunks/${next}`,
        );
        rows.push(...(chunk.data_array ?? []));
        next = chunk.next_chunk_index;
    }
    const usage = new Map<number, BilledUsage>();
    for (const row of rows) {
        const runId = Number(row[at("job_run_id")]);
        const dbus = Number(row[at("dbus")]);
        if (!Number.isSafeInteger(runId) || !Number.isFinite(dbus)) continue;
        const entry = usage.get(runId) ?? { dbus: 0, skus: [] };
        entry.dbus += dbus;
        const sku = row[at("sku_name")];
        if (sku && !entry.skus.includes(sku)) entry.skus.push(sku);
        usage.set(runId, entry);
    }
    return usage;
}
