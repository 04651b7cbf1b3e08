/**
 * Runs a Databricks notebook source file locally with python3 (tools/local_databricks.py), against fakes
 * of dbutils and spark. The tests, `npm run simulate` and `npm run bench` all run notebooks this way.
 */
import { spawn } from "child_process";
import * as path from "path";

export const LOCAL_DATABRICKS = path.join(__dirname, "local_databricks.py");

/**
 * How a scripted child run ends, each failure raised as dbutils.notebook.run raises it (see Py4JJavaError in
 * local_databricks.py): "fail" (result state FAILED), "canceled", "timeout" (TIMEDOUT; also any attempt longer
 * than the call's timeout_seconds), "throttled" (the workspace refused to start it: REQUEST_LIMIT_EXCEEDED),
 * "unreachable" (the driver could not reach the control plane: the child's fate is unknown).
 */
export type AttemptOutcome = "success" | "fail" | "canceled" | "timeout" | "throttled" | "unreachable";

export interface WorkerAttempt {
    /** Simulated seconds the run takes. */
    readonly seconds?: number;
    /** "success" (default) or how it fails. */
    readonly outcome?: AttemptOutcome;
    readonly exit_value?: string;
}

export interface SqlAnswer {
    /** Regular expression (Python syntax, case-insensitive) matched against each spark.sql query. */
    readonly match: string;
    readonly rows?: readonly Record<string, unknown>[];
    /** Columns whose object values come back as STRUCTs (Spark Rows); other objects are MAPs (dicts). */
    readonly structs?: readonly string[];
    readonly error?: string;
}

export interface Scenario {
    readonly notebook: string;
    readonly widgets?: Readonly<Record<string, string>>;
    /** Real seconds slept per simulated second. */
    readonly time_scale?: number;
    /** Scripted child notebooks, by work item (the run's `work_item` argument), workspace path or last path segment; the last attempt repeats. */
    readonly workers?: Readonly<Record<string, { readonly attempts: readonly WorkerAttempt[] }>>;
    readonly sql?: readonly SqlAnswer[];
    /** URL the fake spark POSTs {query, args} to for statements no `sql` entry answers (the tests' SQL engine). */
    readonly sql_engine?: string;
    readonly secrets?: Readonly<Record<string, Readonly<Record<string, string>>>>;
    /** What dbutils.notebook.entry_point's notebook context gives: the workspace URL and the notebook's token. */
    readonly notebook_context?: { readonly api_url: string; readonly api_token: string };
}

export interface ChildCall {
    readonly path: string;
    readonly name: string;
    /** The `work_item` argument of the call: the item's name, as the orchestrators pass it. */
    readonly work_item?: string | null;
    readonly timeout_seconds: number;
    readonly arguments: Record<string, string>;
    readonly attempt: number;
    readonly outcome: AttemptOutcome | "not_found";
    /** Simulated seconds since the notebook started. */
    readonly start: number;
    readonly end: number;
    readonly thread: string;
}

export interface NotebookResult {
    /** "exited" (dbutils.notebook.exit), "raised" (an exception ended it) or "completed" (ran to the end). */
    readonly status: "exited" | "raised" | "completed";
    readonly exit_value: string | null;
    readonly error: string | null;
    readonly error_type: string | null;
    readonly traceback?: string;
    /** Everything the notebook printed. */
    readonly output: string;
    readonly calls: ChildCall[];
    readonly max_in_flight: number;
    readonly elapsed_seconds: number;
    readonly sql: { query: string; args: Record<string, unknown> | null }[];
    readonly widgets_defined: Record<string, string>;
}

export function runNotebookLocally(scenario: Scenario): Promise<NotebookResult> {
    return new Promise((resolve, reject) => {
        const child = spawn("python3", [LOCAL_DATABRICKS], { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
        child.on("error", (error) => reject(new Error(`Cannot start python3 to run ${scenario.notebook}: ${error.message}`)));
        child.on("close", (code) => {
            if (code !== 0) {
                reject(new Error(`Running ${scenario.notebook} locally failed (exit ${code}): ${stderr.trim()}`));
                return;
            }
            try {
                resolve(JSON.parse(stdout) as NotebookResult);
            } catch {
                reject(new Error(`Running ${scenario.notebook} locally printed no JSON result: ${stdout.slice(0, 500)} ${stderr.trim()}`));
            }
        });
        child.stdin.end(JSON.stringify(scenario));
    });
}
