/**
 * Notebook sources: the static ones read from notebooks/, and the two orchestrators rendered from their
 * templates by putting data (never code) into their `{{ name }}` placeholders as Python literals.
 */
import * as fs from "fs";
import * as path from "path";
import { discoverNotebooks, NotebookFile, WORKERS_FOLDER } from "./workItems";

export const NOTEBOOKS_DIR = path.join(__dirname, "..", "notebooks");
/** notebooks/workers/: the ETL workers, and any notebook a team drops in beside them. */
export const WORKER_NOTEBOOKS_DIR = path.join(NOTEBOOKS_DIR, WORKERS_FOLDER);

export type PythonValue = string | number | boolean | null | undefined | readonly PythonValue[] | { readonly [key: string]: PythonValue };

/** A notebook as uploaded: its path relative to the stack's workspace folder (no extension) and its source. */
export interface NotebookSource {
    readonly relativePath: string;
    readonly source: string;
}

/** The stack's own notebooks uploaded as they are in notebooks/: shared libraries and setup. */
export const STATIC_NOTEBOOKS: readonly string[] = ["lib/etl", "lib/orchestration", "setup"];

/** Every notebook source under notebooks/workers/: the four ETL workers and any a team drops in beside them. */
export function workerNotebookFiles(): NotebookFile[] {
    return discoverNotebooks(WORKER_NOTEBOOKS_DIR, WORKERS_FOLDER).notebooks;
}

/** The For each job's nested-task notebook: runs the worker named by its `worker` parameter (uploaded only with forEachJob). */
export const FOR_EACH_ENTRY_NOTEBOOK = "for_each/worker";

export function readNotebook(relativePath: string): string {
    return fs.readFileSync(path.join(NOTEBOOKS_DIR, `${relativePath}.py`), "utf8");
}

/**
 * A Python literal for a JSON-like value. Strings use JSON's escapes, which Python reads the same way
 * (quotes, backslashes, control characters, \uXXXX), so any path or argument renders valid Python.
 */
export function toPythonLiteral(value: PythonValue, indent = 0): string {
    const pad = "    ".repeat(indent + 1);
    const closingPad = "    ".repeat(indent);
    if (value === null || value === undefined) {
        return "None";
    }
    if (typeof value === "boolean") {
        return value ? "True" : "False";
    }
    if (typeof value === "number") {
        if (!Number.isFinite(value)) {
            throw new Error(`Cannot render ${value} as a Python literal: only finite numbers are allowed`);
        }
        return String(value);
    }
    if (typeof value === "string") {
        return JSON.stringify(value);
    }
    if (Array.isArray(value)) {
        if (value.length === 0) {
            return "[]";
        }
        return `[\n${value.map((item) => `${pad}${toPythonLiteral(item, indent + 1)},`).join("\n")}\n${closingPad}]`;
    }
    const entries = Object.entries(value as { readonly [key: string]: PythonValue });
    if (entries.length === 0) {
        return "{}";
    }
    return `{\n${entries.map(([key, item]) => `${pad}${JSON.stringify(key)}: ${toPythonLiteral(item, indent + 1)},`).join("\n")}\n${closingPad}}`;
}

const PLACEHOLDER = /\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g;

/**
 * Fills every `{{ name }}` placeholder of a template with the Python literal of `values[name]`.
 * A placeholder without a value, or a value without a placeholder, is an error: either means the
 * template and its caller disagree.
 */
export function renderTemplate(template: string, values: Readonly<Record<string, PythonValue>>, templateName: string): string {
    const used = new Set<string>();
    const missing = new Set<string>();
    const rendered = template.replace(PLACEHOLDER, (_match, name: string, offset: number) => {
        if (!(name in values)) {
            missing.add(name);
            return "";
        }
        used.add(name);
        const lineStart = template.lastIndexOf("\n", offset) + 1;
        const indent = template.slice(lineStart, offset).search(/\S|$/);
        return toPythonLiteral(values[name], Math.floor(indent / 4));
    });
    const unused = Object.keys(values).filter((name) => !used.has(name));
    if (missing.size > 0 || unused.length > 0) {
        throw new Error(
            `Template ${templateName}: ` +
                [
                    missing.size > 0 ? `no value for placeholder(s) ${[...missing].join(", ")}` : "",
                    unused.length > 0 ? `no placeholder for value(s) ${unused.join(", ")}` : "",
                ]
                    .filter(Boolean)
                    .join("; "),
        );
    }
    return rendered;
}

export type OrchestratorKind = "sequential" | "parallel";

/** A work item as an orchestrator runs it: where its notebook is deployed and what it is called with. */
export interface OrchestratedItem {
    readonly name: string;
    /** The item's notebook as given: relative to the stack's folder (no `.py`) or an absolute workspace path. */
    readonly notebook: string;
    /** Absolute workspace path `dbutils.notebook.run` is called with. */
    readonly path: string;
    /** The item's own widget values (strings, as Databricks requires); they override the common arguments. */
    readonly arguments: Readonly<Record<string, string>>;
    /** Expected wall time of its `dbutils.notebook.run` (start-up included), for longest-first dispatch before the run log has history. */
    readonly expectedSeconds?: number;
}

export interface OrchestratorSettings {
    readonly items: readonly OrchestratedItem[];
    /** Widget values every item gets (its own arguments override them). */
    readonly commonArguments: Readonly<Record<string, string>>;
    /** Absolute workspace folder that relative notebooks of run-time items (job parameter, query) resolve against. */
    readonly notebookFolder: string;
    /** Relative notebook paths a run-time item may name: the notebooks uploaded for items. */
    readonly knownNotebooks: readonly string[];
    /** SQL over a control table whose rows are the items, run when the orchestrator starts; none when undefined. */
    readonly workItemsQuery?: string;
    readonly maxWorkers: number;
    readonly maxWorkersLimit: number;
    readonly timeoutSeconds: number;
    readonly maxRetries: number;
    readonly retryBackoffSeconds: number;
    /** Fully qualified run-log table: both orchestrators append their attempts (creating it if missing); the parallel one reads their wall times. */
    readonly runLogTable: string;
    readonly historyRuns: number;
}

function itemsLiteral(items: readonly OrchestratedItem[]): PythonValue {
    return items.map((item) => ({
        name: item.name,
        notebook: item.notebook,
        path: item.path,
        arguments: item.arguments,
        expected_seconds: item.expectedSeconds ?? null,
    }));
}

export function renderOrchestrator(kind: OrchestratorKind, settings: OrchestratorSettings): string {
    const templateName = `orchestrators/${kind}`;
    const common = {
        items: itemsLiteral(settings.items),
        common_arguments: settings.commonArguments,
        notebook_folder: settings.notebookFolder,
        known_notebooks: [...settings.knownNotebooks],
        work_items_query: settings.workItemsQuery ?? null,
        timeout_seconds: settings.timeoutSeconds,
        max_retries: settings.maxRetries,
        retry_backoff_seconds: settings.retryBackoffSeconds,
        run_log_table: settings.runLogTable,
    };
    const values: Record<string, PythonValue> =
        kind === "parallel"
            ? {
                  ...common,
                  max_workers: settings.maxWorkers,
                  max_workers_limit: settings.maxWorkersLimit,
                  history_runs: settings.historyRuns,
              }
            : common;
    return renderTemplate(readNotebook(templateName), values, templateName);
}

/** A worker job in the asynchronous fan-out, as the dispatcher submits to it. */
export interface AsyncWorkerJob {
    /** The job's id as the provider reports it (a numeric string). */
    readonly jobId: string;
    /** The job's notebook as the run log names it: relative to the stack's folder, or an absolute workspace path. */
    readonly notebook: string;
    /** Job parameters an entry's `parameters` may set (the common arguments and the notebook's item arguments). */
    readonly parameters: readonly string[];
}

/** What the asynchronous fan-out's dispatcher is rendered with. */
export interface DispatcherSettings {
    readonly workerJobs: Readonly<Record<string, AsyncWorkerJob>>;
    /** The shared cluster whose execution contexts the dispatcher counts; undefined with job clusters. */
    readonly clusterId?: string;
    readonly contextLimit: number;
    readonly workspaceTaskRunLimit: number;
    /** Fully qualified, quoted state, lease and run-log tables. */
    readonly stateTable: string;
    readonly leaseTable: string;
    readonly runLogTable: string;
    readonly concurrencyCap: number;
    readonly maxAttempts: number;
    readonly deadlineSeconds: number;
    /** How long a pass may hold the lease: the dispatcher job's timeout, after which its run is gone anyway. */
    readonly leaseSeconds: number;
    readonly apiTokenSource: "context" | "secretScope";
    readonly secretScope: string;
    readonly apiTokenSecret: string;
    readonly workspaceUrl: string;
}

/** The static notebook the dispatcher includes; uploaded only with the asynchronous fan-out on. */
export const DISPATCH_LIBRARY = "lib/dispatch";

export function renderDispatcher(settings: DispatcherSettings): string {
    const templateName = "async/dispatcher";
    return renderTemplate(
        readNotebook(templateName),
        {
            worker_jobs: Object.fromEntries(
                Object.entries(settings.workerJobs).map(([key, job]) => [key, { job_id: job.jobId, notebook: job.notebook, parameters: [...job.parameters] }]),
            ),
            cluster_id: settings.clusterId ?? null,
            context_limit: settings.contextLimit,
            workspace_task_run_limit: settings.workspaceTaskRunLimit,
            state_table: settings.stateTable,
            lease_table: settings.leaseTable,
            run_log_table: settings.runLogTable,
            concurrency_cap: settings.concurrencyCap,
            max_attempts: settings.maxAttempts,
            deadline_seconds: settings.deadlineSeconds,
            lease_seconds: settings.leaseSeconds,
            api_token_source: settings.apiTokenSource,
            secret_scope: settings.secretScope,
            api_token_secret: settings.apiTokenSecret,
            workspace_url: settings.workspaceUrl,
        },
        templateName,
    );
}

/** Every notebook the stack uploads (the team's own from `extra`), orchestrators rendered with the given settings. */
export function allNotebooks(settings: OrchestratorSettings, extra: readonly NotebookFile[] = []): NotebookSource[] {
    return [
        ...[...STATIC_NOTEBOOKS, FOR_EACH_ENTRY_NOTEBOOK].map((relativePath) => ({ relativePath, source: readNotebook(relativePath) })),
        ...[...workerNotebookFiles(), ...extra].map((notebook) => ({ relativePath: notebook.relativePath, source: fs.readFileSync(notebook.file, "utf8") })),
        ...(["sequential", "parallel"] as const).map((kind) => ({ relativePath: `orchestrators/${kind}`, source: renderOrchestrator(kind, settings) })),
    ];
}

/** Writes notebooks as `<dir>/<relativePath>.py`, the workspace layout, so `%run ../lib/...` resolves locally too. */
export function writeNotebooks(dir: string, notebooks: readonly NotebookSource[]): string[] {
    return notebooks.map((notebook) => {
        const file = path.join(dir, `${notebook.relativePath}.py`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, notebook.source);
        return file;
    });
}
