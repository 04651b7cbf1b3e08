/**
 * The workload file: measured per-item durations that the local simulation
 * (`npm run simulate -- --workload FILE`) replays to try other pool sizes on real figures.
 *
 *   {"source": "median of 5 sequential runs of job 123",
 *    "workers": [{"name": "customer_totals", "expected_seconds": 95.2},
 *                {"name": "orders", "expected_seconds": 300, "notebook": "ingest/ingest_table", "arguments": {"table": "sales.orders"}}]}
 *
 * Entries are the work items by name, in their declared order (the key stays `workers`, as the
 * orchestrators' summary has it). An entry without `notebook` is the stack's item of that name; one
 * with `notebook` (and optional `arguments`) is an item of its own, so items can be simulated before
 * they are configured. `jobs compare --save-workload FILE` writes it; `parseWorkload` is the one
 * validating reader, shared with tools/simulate.ts.
 */
import { generatedMarkText } from "../tools/outputDirectory";

export interface WorkloadWorker {
    /** The item's name. */
    readonly name: string;
    readonly expected_seconds: number;
    /** The item's notebook, when the entry describes the item itself rather than naming one of the stack's. */
    readonly notebook?: string;
    /** The item's own widget values (only with `notebook`). */
    readonly arguments?: Readonly<Record<string, string>>;
}

export interface Workload {
    /** Free text saying where the figures come from. */
    readonly source: string;
    readonly workers: readonly WorkloadWorker[];
}

function describe(value: unknown): string {
    if (value === undefined) return "nothing";
    if (typeof value === "number" && !Number.isFinite(value)) return String(value);
    try {
        const json = JSON.stringify(value);
        return json.length > 60 ? `${json.slice(0, 57)}...` : json;
    } catch {
        return String(value);
    }
}

/**
 * Parses and validates a workload file's text. `origin` names the file in error messages.
 * Throws an Error naming the file and what is wrong for: text that is not JSON, a top level
 * that is not an object, missing or empty `workers`, an entry that is not an object, a
 * missing/non-string/empty or duplicate `name`, a missing, negative or non-finite
 * `expected_seconds`, a `notebook` that is not a non-empty string, and `arguments` that are not
 * an object of strings or come without `notebook`. A `source` that is present must be a string
 * (it defaults to the origin).
 */
export function parseWorkload(text: string, origin: string): Workload {
    let data: unknown;
    try {
        data = JSON.parse(text);
    } catch (err) {
        throw new Error(`${origin}: not valid JSON (${(err as Error).message})`);
    }
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
        throw new Error(`${origin}: expected a JSON object with "source" and "workers", got ${describe(data)}`);
    }
    const obj = data as Record<string, unknown>;
    if (obj.source !== undefined && typeof obj.source !== "string") {
        throw new Error(`${origin}: "source" must be a string, got ${describe(obj.source)}`);
    }
    if (obj.workers === undefined) {
        throw new Error(`${origin}: missing "workers" (expected a non-empty array of {"name", "expected_seconds"}, one per item)`);
    }
    if (!Array.isArray(obj.workers)) {
        throw new Error(`${origin}: "workers" must be an array, got ${describe(obj.workers)}`);
    }
    if (obj.workers.length === 0) {
        throw new Error(`${origin}: "workers" is empty (expected at least one {"name", "expected_seconds"})`);
    }
    const seen = new Map<string, number>();
    const workers: WorkloadWorker[] = obj.workers.map((entry: unknown, i: number) => {
        const where = `workers[${i}]`;
        if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
            throw new Error(`${origin}: ${where} must be an object with "name" and "expected_seconds", got ${describe(entry)}`);
        }
        const w = entry as Record<string, unknown>;
        if (typeof w.name !== "string") {
            throw new Error(`${origin}: ${where}.name must be a string, got ${describe(w.name)}`);
        }
        if (w.name.trim() === "") {
            throw new Error(`${origin}: ${where}.name must not be empty`);
        }
        const first = seen.get(w.name);
        if (first !== undefined) {
            throw new Error(`${origin}: duplicate item name "${w.name}" (workers[${first}] and ${where})`);
        }
        seen.set(w.name, i);
        const secs = w.expected_seconds;
        if (typeof secs !== "number" || !Number.isFinite(secs)) {
            throw new Error(`${origin}: ${where}.expected_seconds ("${w.name}") must be a finite number of seconds, got ${describe(secs)}`);
        }
        if (secs < 0) {
            throw new Error(`${origin}: ${where}.expected_seconds ("${w.name}") must not be negative, got ${secs}`);
        }
        return { name: w.name, expected_seconds: secs, ...itemFields(w, `${origin}: ${where}`) };
    });
    return { source: typeof obj.source === "string" ? obj.source : origin, workers };
}

/** The optional `notebook` and `arguments` of an entry, checked; `where` prefixes the errors. */
function itemFields(entry: Record<string, unknown>, where: string): Pick<WorkloadWorker, "notebook" | "arguments"> {
    const { notebook, arguments: args } = entry;
    if (notebook === undefined) {
        if (args !== undefined) {
            throw new Error(
                `${where}.arguments ("${String(entry.name)}") needs "notebook" beside it: an entry without it names one of the stack's items, arguments and all`,
            );
        }
        return {};
    }
    if (typeof notebook !== "string" || notebook.trim() === "") {
        throw new Error(`${where}.notebook ("${String(entry.name)}") must be a non-empty notebook path, got ${describe(notebook)}`);
    }
    if (args === undefined) {
        return { notebook: notebook.trim() };
    }
    if (args === null || typeof args !== "object" || Array.isArray(args)) {
        throw new Error(`${where}.arguments ("${String(entry.name)}") must be an object of widget name to string value, got ${describe(args)}`);
    }
    const bad = Object.entries(args as Record<string, unknown>).filter(([, value]) => typeof value !== "string");
    if (bad.length > 0) {
        throw new Error(
            `${where}.arguments ("${String(entry.name)}"): widget values are strings, got ${bad.map(([key, value]) => `${key}: ${describe(value)}`).join(", ")}`,
        );
    }
    return { notebook: notebook.trim(), arguments: args as Record<string, string> };
}

/** The text of a workload file (pretty JSON with a trailing newline). */
export function formatWorkload(workload: Workload): string {
    const out = {
        // Marks the file as written here, so that the next --save-workload may replace it (tools/outputDirectory.ts).
        generated_by: generatedMarkText("npm run jobs -- compare --save-workload"),
        source: workload.source,
        workers: workload.workers.map((w) => ({
            name: w.name,
            expected_seconds: w.expected_seconds,
            ...(w.notebook !== undefined ? { notebook: w.notebook } : {}),
            ...(w.arguments !== undefined ? { arguments: w.arguments } : {}),
        })),
    };
    return `${JSON.stringify(out, null, 2)}\n`;
}
