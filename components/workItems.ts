/**
 * Work items: what the orchestrators fan out. A work item is a notebook plus the string widgets it is
 * called with, an optional name and an optional expected duration. The same JSON shape is read from
 * the stack config (`workItems`), the orchestrators' job parameter `items` and the rows of
 * `workItemsQuery`, so an item can be copied between them; notebooks/lib/orchestration.py checks the
 * last two with the same rules and messages as `parseWorkItems` here.
 */
import * as fs from "fs";
import * as path from "path";
import { closestName } from "./configKeys";
import { WORKERS } from "./workers";

export interface WorkItem {
    /** Notebook relative to the stack's workspace folder (no `.py`), or an absolute workspace path. */
    readonly notebook: string;
    /** Widget values of this item; they override the arguments every item gets. */
    readonly arguments: Readonly<Record<string, string>>;
    /** How the item is shown in summaries, log lines and the run log; unique in a list. */
    readonly name: string;
    /** Expected wall time of one run, for longest-first dispatch before the run log has history. */
    readonly expectedSeconds?: number;
}

/** The fields an item may have, in the JSON shape shared by config, job parameter and control table. */
export const WORK_ITEM_FIELDS = ["notebook", "arguments", "name", "expected_seconds"] as const;

/** Widgets the orchestrators set on every attempt; an item setting one would be overridden silently. */
export const RESERVED_ARGUMENTS = ["orchestration_mode", "run_id", "attempt", "work_item"] as const;

/** The ETL workers' notebooks live here, and a team's own notebooks may too. */
export const WORKERS_FOLDER = "workers";

/** The four ETL workers, the shipped example, in the order the sequential orchestrator runs them. */
export const DEFAULT_WORK_ITEMS: readonly WorkItem[] = WORKERS.map((worker) => ({
    notebook: worker.source.replace(/\.py$/, ""),
    arguments: {},
    name: worker.name,
}));

/** Arguments as one canonical text: JSON with sorted keys and no spaces (the run log's `arguments` column, the history key). */
export function canonicalArguments(args: Readonly<Record<string, string>>): string {
    return JSON.stringify(
        Object.fromEntries(
            Object.keys(args)
                .sort()
                .map((key) => [key, args[key]]),
        ),
    );
}

/** `<basename>` or, with arguments, `<basename>(k1=v1, k2=v2)` with keys sorted. */
export function defaultItemName(notebook: string, args: Readonly<Record<string, string>>): string {
    const basename = notebook.replace(/\/+$/, "").split("/").pop() || notebook;
    const keys = Object.keys(args).sort();
    return keys.length === 0 ? basename : `${basename}(${keys.map((key) => `${key}=${args[key]}`).join(", ")})`;
}

const withoutWorkspacePrefix = (path: string) => (path.startsWith("/Workspace/") ? path.slice("/Workspace".length) : path);

/**
 * An absolute path inside the stack's folder becomes relative to it, whether or not either is written
 * with the `/Workspace` prefix (`/Workspace/Shared/x` is `/Shared/x`); anything else is kept.
 */
export function normaliseNotebook(notebook: string, folder: string): string {
    const prefix = withoutWorkspacePrefix(folder.replace(/\/+$/, "")) + "/";
    const path = withoutWorkspacePrefix(notebook);
    return path.startsWith(prefix) ? path.slice(prefix.length) : notebook;
}

/** The workspace path an item's notebook is run at. */
export function notebookPath(notebook: string, folder: string): string {
    return notebook.startsWith("/") ? notebook : `${folder.replace(/\/+$/, "")}/${notebook}`;
}

function describe(value: unknown): string {
    return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}

export interface WorkItemContext {
    /** Relative notebook paths (no `.py`) an item may name: the stack's worker notebooks and the team's own. */
    readonly knownNotebooks: readonly string[];
    /** The stack's workspace folder, so an absolute path inside it is recognised as the uploaded notebook. */
    readonly folder: string;
}

export interface ParsedWorkItems {
    readonly items: WorkItem[];
    /** One line per problem, each naming the item (1-based) and what is expected. */
    readonly problems: string[];
}

/**
 * Reads a list of work items in the shared JSON shape, collecting every problem rather than stopping at
 * the first: not a non-empty array, unknown fields, an unknown relative notebook, non-string or reserved
 * arguments, a negative or non-numeric estimate, two items with the same notebook and arguments, two
 * with the same name.
 */
export function parseWorkItems(value: unknown, context: WorkItemContext): ParsedWorkItems {
    const problems: string[] = [];
    if (!Array.isArray(value)) {
        return { items: [], problems: [`expected a JSON array of work items, got ${describe(value)}`] };
    }
    if (value.length === 0) {
        return { items: [], problems: ["expected at least one work item, got an empty array"] };
    }
    const items: WorkItem[] = [];
    value.forEach((raw: unknown, index) => {
        const at = `item ${index + 1}`;
        const entry: Record<string, unknown> | undefined =
            typeof raw === "string"
                ? { notebook: raw }
                : raw !== null && typeof raw === "object" && !Array.isArray(raw)
                  ? (raw as Record<string, unknown>)
                  : undefined;
        if (!entry) {
            problems.push(
                `${at}: expected an object with "notebook" (and optional "arguments", "name", "expected_seconds") or a notebook path, got ${describe(raw)}`,
            );
            return;
        }
        const before = problems.length;
        for (const field of Object.keys(entry)) {
            if (!(WORK_ITEM_FIELDS as readonly string[]).includes(field)) {
                const meant = closestName(field, WORK_ITEM_FIELDS);
                problems.push(`${at}: unknown field "${field}"${meant ? ` (did you mean "${meant}"?)` : ""}; expected ${WORK_ITEM_FIELDS.join(", ")}`);
            }
        }
        const notebook = typeof entry.notebook === "string" ? normaliseNotebook(entry.notebook.trim(), context.folder) : undefined;
        if (notebook === undefined || notebook === "") {
            problems.push(`${at}: "notebook" ${entry.notebook === undefined ? "is missing" : `is ${describe(entry.notebook)}`}; expected a notebook path`);
        } else if (!notebook.startsWith("/") && !context.knownNotebooks.includes(notebook)) {
            const meant = closestName(notebook, context.knownNotebooks);
            problems.push(
                `${at}: unknown notebook "${notebook}"${meant ? ` (did you mean "${meant}"?)` : ""}; expected one of the uploaded notebooks ` +
                    `(${context.knownNotebooks.join(", ") || "none"}) or an absolute workspace path starting with /`,
            );
        }
        const args: Record<string, string> = {};
        if (entry.arguments !== undefined && entry.arguments !== null) {
            if (typeof entry.arguments !== "object" || Array.isArray(entry.arguments)) {
                problems.push(`${at}: "arguments" is ${describe(entry.arguments)}; expected an object of widget name to string value`);
            } else {
                for (const [key, argument] of Object.entries(entry.arguments as Record<string, unknown>)) {
                    if (key.trim() === "") {
                        problems.push(`${at}: an argument has an empty name; expected widget names`);
                    } else if ((RESERVED_ARGUMENTS as readonly string[]).includes(key)) {
                        problems.push(
                            `${at}: argument "${key}" is set by the orchestrator on every attempt; expected other widget names than ${RESERVED_ARGUMENTS.join(", ")}`,
                        );
                    } else if (typeof argument !== "string") {
                        problems.push(
                            `${at}: argument "${key}" is ${describe(argument)}; expected a string (widget values are strings: ${
                                argument !== null && typeof argument === "object" ? "encode it as one JSON string" : `write "${String(argument)}"`
                            })`,
                        );
                    } else {
                        args[key] = argument;
                    }
                }
            }
        }
        let name: string | undefined;
        if (entry.name !== undefined && entry.name !== null) {
            if (typeof entry.name !== "string" || entry.name.trim() === "") {
                problems.push(`${at}: "name" is ${describe(entry.name)}; expected a non-empty string`);
            } else {
                name = entry.name.trim();
            }
        }
        let expectedSeconds: number | undefined;
        if (entry.expected_seconds !== undefined && entry.expected_seconds !== null) {
            if (typeof entry.expected_seconds !== "number" || !Number.isFinite(entry.expected_seconds) || entry.expected_seconds < 0) {
                problems.push(`${at}: "expected_seconds" is ${describe(entry.expected_seconds)}; expected a number of seconds >= 0`);
            } else {
                expectedSeconds = entry.expected_seconds;
            }
        }
        if (problems.length === before && notebook) {
            items.push({
                notebook,
                arguments: args,
                name: name ?? defaultItemName(notebook, args),
                ...(expectedSeconds !== undefined ? { expectedSeconds } : {}),
            });
        } else {
            items.push({ notebook: "", arguments: {}, name: `\u0000invalid ${index}` });
        }
    });
    const byIdentity = new Map<string, number>();
    const byName = new Map<string, number>();
    items.forEach((item, index) => {
        if (item.notebook === "") {
            return;
        }
        const identity = `${item.notebook}\u0000${canonicalArguments(item.arguments)}`;
        const sameIdentity = byIdentity.get(identity);
        if (sameIdentity !== undefined) {
            problems.push(
                `item ${index + 1}: duplicate item: same notebook "${item.notebook}" and arguments ${canonicalArguments(item.arguments)} as item ${sameIdentity + 1}; expected each item once`,
            );
            return;
        }
        byIdentity.set(identity, index);
        const sameName = byName.get(item.name);
        if (sameName !== undefined) {
            problems.push(`item ${index + 1}: name "${item.name}" is also item ${sameName + 1}'s; expected unique names (set "name" on one of them)`);
        }
        byName.set(item.name, index);
    });
    return problems.length > 0 ? { items: [], problems } : { items, problems };
}

/** What a `workItemsQuery` must be, in the words of the errors that refuse one. */
export const WORK_ITEMS_QUERY_EXPECTED =
    "a SQL query (SELECT, WITH, TABLE or VALUES) whose rows are work items: columns notebook, and optionally arguments, name, expected_seconds";

/** Whether `query` starts as a query does; the orchestrators run it, so anything else would fail at every run. */
export function isWorkItemsQuery(query: string): boolean {
    return /^\s*(SELECT|WITH|TABLE|VALUES)\b/i.test(query);
}

/** A team notebook found on disk: where it is and where it goes in the stack's workspace folder. */
export interface NotebookFile {
    /** Path relative to the stack's workspace folder, without `.py`: what an item's `notebook` names. */
    readonly relativePath: string;
    readonly file: string;
}

export interface DiscoveredNotebooks {
    readonly notebooks: NotebookFile[];
    /** `.py` files skipped because they are not Databricks notebook sources. */
    readonly skipped: string[];
}

export const NOTEBOOK_SOURCE_HEADER = "# Databricks notebook source";

/** Folders of the stack's own notebooks: a team folder may not put notebooks there. */
export const RESERVED_NOTEBOOK_FOLDERS = ["lib", "orchestrators", "for_each", "async", "setup"] as const;

/**
 * Every Databricks Python notebook source (`*.py` whose first line is the notebook header) under `dir`,
 * mapped to `<prefix>/<path relative to dir>` in the workspace; other `.py` files are reported as
 * skipped. Hidden folders and `__pycache__` are not searched.
 */
export function discoverNotebooks(dir: string, prefix: string): DiscoveredNotebooks {
    const notebooks: NotebookFile[] = [];
    const skipped: string[] = [];
    const walk = (current: string) => {
        for (const entry of fs.readdirSync(current, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
            const full = path.join(current, entry.name);
            if (entry.isDirectory()) {
                if (!entry.name.startsWith(".") && entry.name !== "__pycache__" && entry.name !== "node_modules") {
                    walk(full);
                }
            } else if (entry.isFile() && entry.name.endsWith(".py")) {
                const firstLine = fs.readFileSync(full, "utf8").split(/\r?\n/, 1)[0].trim();
                if (firstLine === NOTEBOOK_SOURCE_HEADER) {
                    const relative = path.relative(dir, full).split(path.sep).join("/").replace(/\.py$/, "");
                    notebooks.push({ relativePath: prefix ? `${prefix}/${relative}` : relative, file: full });
                } else {
                    skipped.push(full);
                }
            }
        }
    };
    walk(dir);
    return { notebooks, skipped };
}

/** JSON text limit of a For each task's inline inputs (Databricks: 10,000 characters; 48 KB through task values). */
export const FOR_EACH_INPUTS_LIMIT = 10_000;

/** How a For each task runs a list of items, or why it cannot. */
export type ForEachShape =
    /** Every item is an ETL worker without arguments: the entry notebook runs the worker named by `{{input}}`. */
    | { readonly kind: "etl-workers"; readonly inputs: string[] }
    /** One notebook with the same argument names everywhere: the nested task runs it with `{{input.<name>}}`. */
    | { readonly kind: "one-notebook"; readonly notebook: string; readonly argumentNames: string[]; readonly inputs: Record<string, string>[] }
    | { readonly kind: "unsupported"; readonly reason: string };

/**
 * A For each task has one nested task with a fixed notebook path; only its parameters take the
 * iteration's input. So it can run the four ETL workers (through the entry notebook that runs a worker
 * in-process) or one notebook over arguments, and nothing else without a second execution context.
 */
export function forEachShape(items: readonly WorkItem[]): ForEachShape {
    const etlNotebooks = new Map(DEFAULT_WORK_ITEMS.map((item) => [item.notebook, item.name]));
    let shape: ForEachShape;
    if (items.every((item) => etlNotebooks.has(item.notebook) && Object.keys(item.arguments).length === 0)) {
        shape = { kind: "etl-workers", inputs: items.map((item) => etlNotebooks.get(item.notebook) as string) };
    } else {
        const notebooks = [...new Set(items.map((item) => item.notebook))];
        const keySets = [...new Set(items.map((item) => Object.keys(item.arguments).sort().join(",")))];
        if (notebooks.length > 1) {
            return {
                kind: "unsupported",
                reason: `a For each task runs one notebook per iteration, and the items use ${notebooks.length} (${notebooks.join(", ")}); expected one notebook over different arguments`,
            };
        }
        if (keySets.length > 1) {
            return {
                kind: "unsupported",
                reason: `a For each task passes the same parameters to every iteration, and the items set different argument names (${keySets.map((k) => `{${k}}`).join(", ")}); expected the same argument names on every item`,
            };
        }
        const argumentNames = keySets[0] ? keySets[0].split(",") : [];
        shape = {
            kind: "one-notebook",
            notebook: notebooks[0],
            argumentNames,
            inputs: items.map((item) => ({ ...item.arguments, work_item: item.name })),
        };
    }
    const length = JSON.stringify(shape.inputs).length;
    if (length > FOR_EACH_INPUTS_LIMIT) {
        return {
            kind: "unsupported",
            reason: `the For each task's inputs would be ${length} characters of JSON for ${items.length} items, over Databricks' limit of ${FOR_EACH_INPUTS_LIMIT}; expected fewer or shorter items (the parallel job has no such limit)`,
        };
    }
    return shape;
}

/** A worker job as `asyncWorkerNotebooks` derives it from the work items. */
export interface AsyncWorkerNotebook {
    /** The items' notebook: relative to the stack's folder, or an absolute workspace path. */
    readonly notebook: string;
    /** The common argument names, then every other argument name the notebook's items use, sorted. */
    readonly argumentNames: string[];
}

/** Job parameters the dispatcher sets on every submission: no entry and no item argument may use these names. */
export const DISPATCHER_PARAMETERS = ["entry_key", "attempt", "work_item", "orchestration_mode", "run_id"] as const;

/** Job keys whose resource and job names the dispatcher's and the safety net's own jobs already have. */
export const RESERVED_JOB_KEYS = ["dispatcher", "safety-net"];

/** A worker job's key: its notebook's last path segment, what a state-table entry names in `worker`. */
export function asyncWorkerJobKey(notebook: string): string {
    return notebook.replace(/\/+$/, "").split("/").pop() || notebook;
}

/**
 * One worker job per distinct notebook among the items, keyed by the notebook's last path segment, with
 * the argument names an entry may set: the common ones and every one the notebook's items use. With the
 * default items the keys are the four ETL workers' names. Throws when two notebooks would share a key,
 * when a key is one of the fan-out's own jobs, or when an item argument is one the dispatcher sets.
 */
export function asyncWorkerNotebooks(items: readonly WorkItem[], commonArgumentNames: readonly string[]): Record<string, AsyncWorkerNotebook> {
    const byKey: Record<string, { notebook: string; names: Set<string> }> = {};
    for (const item of items) {
        const key = asyncWorkerJobKey(item.notebook);
        if (RESERVED_JOB_KEYS.includes(key)) {
            throw new Error(
                `asynchronous fan-out: notebook "${item.notebook}" would have the worker job key "${key}", which is the fan-out's own ` +
                    `async-${key} job; expected another notebook name: rename the notebook`,
            );
        }
        const known = byKey[key] ?? (byKey[key] = { notebook: item.notebook, names: new Set() });
        if (known.notebook !== item.notebook) {
            throw new Error(
                `asynchronous fan-out: notebooks "${known.notebook}" and "${item.notebook}" would both have the worker job key "${key}" ` +
                    `(a worker job is keyed by its notebook's last path segment, which entries name in "worker"); ` +
                    `expected distinct last segments: rename one of the two notebooks`,
            );
        }
        for (const name of Object.keys(item.arguments)) {
            if ((DISPATCHER_PARAMETERS as readonly string[]).includes(name)) {
                throw new Error(
                    `asynchronous fan-out: item "${item.name}" has argument "${name}", which the dispatcher sets on every submission; ` +
                        `expected other argument names than ${DISPATCHER_PARAMETERS.join(", ")}`,
                );
            }
            known.names.add(name);
        }
    }
    return Object.fromEntries(
        Object.entries(byKey).map(([key, { notebook, names }]) => [
            key,
            { notebook, argumentNames: [...commonArgumentNames, ...[...names].filter((name) => !commonArgumentNames.includes(name)).sort()] },
        ]),
    );
}
