/**
 * The orchestration as reusable components: the library the orchestrators `%run`, and a job per
 * orchestration mode that renders its orchestrator for a list of work items, uploads it beside the
 * library and runs it. Another Pulumi program uses them over its own notebooks and cluster
 * (docs/components.md); this stack's components/stack.ts uses them the same way.
 */
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import type { TaskCompute } from "./compute";
import { CONFIG_DEFAULTS, MAX_WORKERS_HARD_LIMIT, ScheduleConfig, SETTING_RANGES } from "./config";
import { declareNotebookJob, NotebookJobArgs } from "./jobs";
import { ORCHESTRATION_LIBRARY, uploadNotebookAt } from "./notebooks";
import { OrchestratorKind, OrchestratorSettings, readNotebook, renderOrchestrator } from "./render";
import { isWorkItemsQuery, notebookPath, parseWorkItems, WORK_ITEMS_QUERY_EXPECTED, WorkItem } from "./workItems";

/** The folder under the library's folder the orchestrators are uploaded into: they `%run ../lib/orchestration`. */
export const ORCHESTRATORS_FOLDER = "orchestrators";

/** The orchestrator jobs' main task, which the jobs CLI reads the summary from. */
export const ORCHESTRATE_TASK_KEY = "orchestrate";

export interface OrchestrationLibraryArgs {
    /**
     * Absolute workspace folder, e.g. `/Shared/ingest`: the library goes to `<folder>/lib/orchestration`, the
     * orchestrators to `<folder>/orchestrators/`, and items' relative notebooks resolve against it.
     */
    readonly folder: pulumi.Input<string>;
}

/** notebooks/lib/orchestration uploaded to `<folder>/lib/orchestration`, where the orchestrators `%run` it from. */
export class OrchestrationLibrary extends pulumi.ComponentResource {
    /** The workspace folder the library, the orchestrators and relative notebooks live in. */
    public readonly folder: pulumi.Output<string>;
    /** The library notebook, `<folder>/lib/orchestration`. */
    public readonly notebook: databricks.Notebook;
    public readonly path: pulumi.Output<string>;
    /** The folder as given, when given as a plain string: items are checked against it before any resource is declared. */
    public readonly folderText?: string;
    private readonly orchestratorNames = new Map<string, string>();

    constructor(name: string, args: OrchestrationLibraryArgs, opts?: pulumi.ComponentResourceOptions) {
        super("orchestration:notebooks:OrchestrationLibrary", name, {}, opts);
        if (typeof args.folder === "string" && !args.folder.startsWith("/")) {
            throw new Error(`OrchestrationLibrary ${name}: folder '${args.folder}'; expected an absolute workspace path such as /Shared/ingest`);
        }
        this.folderText = typeof args.folder === "string" ? args.folder.replace(/\/+$/, "") : undefined;
        this.folder = pulumi.output(args.folder).apply((folder) => folder.replace(/\/+$/, ""));
        this.notebook = uploadNotebookAt(
            `${name}-lib-orchestration`,
            pulumi.interpolate`${this.folder}/${ORCHESTRATION_LIBRARY}`,
            readNotebook(ORCHESTRATION_LIBRARY),
            {
                parent: this,
            },
        );
        this.path = this.notebook.path;

        this.registerOutputs({ folder: this.folder, path: this.path });
    }

    /** Reserves `<folder>/orchestrators/<notebookName>` for one job component; a second one there is an error. */
    claimOrchestrator(notebookName: string, component: string): void {
        const holder = this.orchestratorNames.get(notebookName);
        if (holder !== undefined) {
            throw new Error(
                `${component}: orchestrator notebook '${ORCHESTRATORS_FOLDER}/${notebookName}' is already ${holder}'s; expected a different notebookName`,
            );
        }
        this.orchestratorNames.set(notebookName, component);
    }
}

/** A work item as a caller gives it: a notebook path alone, or the item's fields (`expectedSeconds` in seconds). */
export type WorkItemSpec =
    | string
    | {
          readonly notebook: string;
          readonly arguments?: Readonly<Record<string, string>>;
          readonly name?: string;
          readonly expectedSeconds?: number;
      };

/** Where the job's tasks run: an existing cluster by id, or a TaskCompute (EtlCompute's). */
export type OrchestratorCompute = { readonly existingClusterId: pulumi.Input<string> } | TaskCompute;

export interface NotebookOrchestratorJobArgs {
    /** The library the orchestrator `%run`s; the orchestrator is uploaded beside it, at `<folder>/orchestrators/<notebookName>`. */
    readonly library: OrchestrationLibrary;
    /**
     * What the orchestrator runs, in this order (the sequential one) or longest first (the parallel one): notebooks
     * relative to the library's folder (no `.py`) or absolute workspace paths, with their arguments. A job parameter
     * `items` or `workItemsQuery` replaces them for a run.
     */
    readonly items: readonly WorkItemSpec[];
    /** Relative notebooks an item may name: those uploaded into the library's folder (NotebookFolder.relativePaths). Default: none. */
    readonly knownNotebooks?: readonly string[];
    /** Widget values every item gets; an item's own arguments override them. Default: none. */
    readonly commonArguments?: Readonly<Record<string, string>>;
    /** SQL over a control table whose rows are the items (columns notebook, arguments, name, expected_seconds), run when the orchestrator starts. */
    readonly workItemsQuery?: string;
    /** Fully qualified run-log table, e.g. `` `main`.`ops`.`notebook_run_log` ``: created if missing; every attempt is appended. */
    readonly runLogTable: string;
    /** Timeout of one item's notebook run, in seconds (0: none). Default 3600. */
    readonly timeoutSeconds?: number;
    /** Retries of a failed item. Default 1. */
    readonly maxRetries?: number;
    /** Seconds before a retry, doubled on each. Default 30. */
    readonly retryBackoffSeconds?: number;
    /** Where the job runs: `{ existingClusterId }` or a TaskCompute. */
    readonly compute: OrchestratorCompute;
    /** A notebook run as task `setup` before the orchestrator (e.g. to create tables). */
    readonly setup?: NotebookJobArgs["setup"];
    /** Quartz schedule; without one the job runs when triggered. */
    readonly schedule?: ScheduleConfig;
    /** Told when a run fails or runs long. Default: none. */
    readonly notificationEmails?: readonly string[];
    readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** The job's name. Default: the component's name. */
    readonly jobName?: pulumi.Input<string>;
    /** The job's description. Default: how many items over which notebooks, and how they are run. */
    readonly description?: pulumi.Input<string>;
    /** The orchestrator's name under `<folder>/orchestrators/`. Default: the component's name. */
    readonly notebookName?: string;
    /** Timeout of a whole job run, in seconds. Default 7200. */
    readonly jobTimeoutSeconds?: number;
}

export interface ParallelNotebookJobArgs extends NotebookOrchestratorJobArgs {
    /** Items running at once, unless a run's `max_workers` parameter says otherwise. Default 4. */
    readonly maxWorkers?: number;
    /** The most items a run may ask for at once: each holds an execution context and driver memory. Default 16, at most 144. */
    readonly maxWorkersLimit?: number;
    /** Recent successful runs of an item whose median wall time orders the items longest first. Default 5. */
    readonly historyRuns?: number;
}

/** The form of a WorkItemSpec that parseWorkItems reads: the JSON shape of config, job parameter and control table. */
function itemJson(spec: WorkItemSpec): unknown {
    if (typeof spec === "string" || spec === null || typeof spec !== "object") {
        return spec;
    }
    const { expectedSeconds, ...rest } = spec;
    return { ...rest, ...(expectedSeconds !== undefined ? { expected_seconds: expectedSeconds } : {}) };
}

/** A folder no notebook path starts with: absolute notebooks stay as given until the real folder is known. */
const UNKNOWN_FOLDER = "\u0000";

/** The items in their checked form; throws naming the component and every problem. */
export function checkedWorkItems(component: string, items: readonly WorkItemSpec[], knownNotebooks: readonly string[], folder?: string): WorkItem[] {
    const parsed = parseWorkItems(items.map(itemJson), { knownNotebooks, folder: folder ?? UNKNOWN_FOLDER });
    if (parsed.problems.length > 0) {
        throw new Error(`${component}: invalid work items:\n  - ${parsed.problems.join("\n  - ")}`);
    }
    return parsed.items;
}

function integerProblem(key: string, value: number, min: number, max: number): string | undefined {
    return Number.isInteger(value) && value >= min && value <= max ? undefined : `${key} ${value}; expected an integer from ${min} to ${max}`;
}

export function taskCompute(compute: OrchestratorCompute): TaskCompute {
    return "existingClusterId" in compute ? { task: { existingClusterId: pulumi.output(compute.existingClusterId) } } : compute;
}

/** `notebook a/b`, `notebooks a, b, c`, or `5 notebooks` when there are more. */
function notebooksText(items: readonly WorkItem[]): string {
    const notebooks = [...new Set(items.map((item) => item.notebook))];
    return notebooks.length === 1 ? `notebook ${notebooks[0]}` : notebooks.length <= 4 ? `notebooks ${notebooks.join(", ")}` : `${notebooks.length} notebooks`;
}

/** The default job description: which items, and how the orchestrator runs them. */
export function orchestratorDescription(kind: OrchestratorKind, items: readonly WorkItem[], workItemsQuery: string | undefined): string {
    const what = workItemsQuery
        ? "the work items workItemsQuery returns when a run starts"
        : `${items.length} work item${items.length === 1 ? "" : "s"} (${notebooksText(items)})`;
    return kind === "sequential"
        ? `Runs ${what} one after another (dbutils.notebook.run).`
        : `Runs ${what} concurrently with a bounded, longest-first ThreadPoolExecutor.`;
}

type Settings = Omit<OrchestratorSettings, "items" | "notebookFolder">;

/** One orchestrator job: checked items, the rendered orchestrator beside the library, and the job that runs it. */
abstract class NotebookOrchestratorJob extends pulumi.ComponentResource {
    /**
     * The items as checked when declared. An absolute notebook inside a folder given as an Output is
     * normalised to its relative form only in the rendered orchestrator.
     */
    public readonly items: readonly WorkItem[];
    public readonly orchestrator: databricks.Notebook;
    public readonly orchestratorPath: pulumi.Output<string>;
    public readonly job: databricks.Job;
    public readonly jobId: pulumi.Output<string>;
    public readonly url: pulumi.Output<string>;

    protected constructor(
        kind: OrchestratorKind,
        type: string,
        name: string,
        args: NotebookOrchestratorJobArgs,
        settings: Settings,
        parameters: Readonly<Record<string, string>>,
        opts?: pulumi.ComponentResourceOptions,
    ) {
        super(type, name, {}, opts);
        const component = `${type.split(":").pop()} ${name}`;
        const knownNotebooks = args.knownNotebooks ?? [];
        this.items = checkedWorkItems(component, args.items, knownNotebooks, args.library.folderText);
        const jobTimeoutSeconds = args.jobTimeoutSeconds ?? CONFIG_DEFAULTS.jobTimeoutSeconds;
        const problems = [
            integerProblem("timeoutSeconds", settings.timeoutSeconds, ...SETTING_RANGES.notebookTimeoutSeconds),
            integerProblem("maxRetries", settings.maxRetries, ...SETTING_RANGES.maxRetries),
            integerProblem("retryBackoffSeconds", settings.retryBackoffSeconds, ...SETTING_RANGES.retryBackoffSeconds),
            integerProblem("jobTimeoutSeconds", jobTimeoutSeconds, ...SETTING_RANGES.jobTimeoutSeconds),
            settings.timeoutSeconds > jobTimeoutSeconds
                ? `timeoutSeconds ${settings.timeoutSeconds}; expected at most jobTimeoutSeconds (${jobTimeoutSeconds})`
                : undefined,
            integerProblem("maxWorkersLimit", settings.maxWorkersLimit, 1, MAX_WORKERS_HARD_LIMIT),
            integerProblem("maxWorkers", settings.maxWorkers, 1, settings.maxWorkersLimit),
            integerProblem("historyRuns", settings.historyRuns, ...SETTING_RANGES.historyRuns),
            settings.runLogTable.trim() === "" ? "runLogTable is empty; expected a fully qualified table such as main.ops.notebook_run_log" : undefined,
            args.workItemsQuery !== undefined && !isWorkItemsQuery(args.workItemsQuery) ? `workItemsQuery; expected ${WORK_ITEMS_QUERY_EXPECTED}` : undefined,
        ].filter((problem): problem is string => problem !== undefined);
        const notebookName = args.notebookName ?? name;
        if (!/^[A-Za-z0-9_.-]+$/.test(notebookName)) {
            problems.push(`notebookName '${notebookName}'; expected letters, digits, '_', '-' or '.' (the orchestrator's name under ${ORCHESTRATORS_FOLDER}/)`);
        }
        if (problems.length > 0) {
            throw new Error(`${component}:\n  - ${problems.join("\n  - ")}`);
        }
        args.library.claimOrchestrator(notebookName, component);

        // With a folder known only at deployment, the items are checked again against it, which normalises absolute paths inside it.
        const items = args.library.folder.apply((folder) =>
            args.library.folderText === undefined ? checkedWorkItems(component, args.items, knownNotebooks, folder) : this.items,
        );
        const source = pulumi.all([args.library.folder, items]).apply(([folder, resolved]) =>
            renderOrchestrator(kind, {
                ...settings,
                items: resolved.map((item) => ({ ...item, path: notebookPath(item.notebook, folder) })),
                notebookFolder: folder,
            }),
        );
        this.orchestrator = uploadNotebookAt(
            `${name}-orchestrator`,
            pulumi.interpolate`${args.library.folder}/${ORCHESTRATORS_FOLDER}/${notebookName}`,
            source,
            {
                parent: this,
                dependsOn: [args.library.notebook],
            },
        );
        this.orchestratorPath = this.orchestrator.path;
        this.job = declareNotebookJob(
            name,
            {
                jobName: args.jobName ?? name,
                description: args.description ?? items.apply((resolved) => orchestratorDescription(kind, resolved, args.workItemsQuery)),
                setup: args.setup,
                task: { key: ORCHESTRATE_TASK_KEY, notebookPath: this.orchestratorPath },
                parameters,
                compute: taskCompute(args.compute),
                schedule: args.schedule,
                maxConcurrentRuns: 1,
                timeoutSeconds: jobTimeoutSeconds,
                notificationEmails: args.notificationEmails ?? [],
                tags: args.tags ?? {},
            },
            this,
        );
        this.jobId = this.job.id;
        this.url = this.job.url;

        this.registerOutputs({ orchestratorPath: this.orchestratorPath, jobId: this.jobId, url: this.url });
    }
}

function commonSettings(args: NotebookOrchestratorJobArgs): Omit<Settings, "maxWorkers" | "maxWorkersLimit" | "historyRuns"> {
    return {
        commonArguments: args.commonArguments ?? {},
        knownNotebooks: args.knownNotebooks ?? [],
        workItemsQuery: args.workItemsQuery?.trim(),
        timeoutSeconds: args.timeoutSeconds ?? CONFIG_DEFAULTS.notebookTimeoutSeconds,
        maxRetries: args.maxRetries ?? CONFIG_DEFAULTS.maxRetries,
        retryBackoffSeconds: args.retryBackoffSeconds ?? CONFIG_DEFAULTS.retryBackoffSeconds,
        runLogTable: args.runLogTable,
    };
}

/** Job parameters both orchestrators read; a run may change any of them (`items`: a JSON array of items for that run). */
function runParameters(settings: Settings): Record<string, string> {
    return {
        run_id: "{{job.run_id}}",
        timeout_seconds: String(settings.timeoutSeconds),
        max_retries: String(settings.maxRetries),
        retry_backoff_seconds: String(settings.retryBackoffSeconds),
        workers: "",
        items: "",
    };
}

/** A job whose orchestrator runs the items one after another, each with its retries, and records every attempt in the run log. */
export class SequentialNotebookJob extends NotebookOrchestratorJob {
    constructor(name: string, args: NotebookOrchestratorJobArgs, opts?: pulumi.ComponentResourceOptions) {
        const settings: Settings = {
            ...commonSettings(args),
            // Not rendered into the sequential orchestrator; checked as the parallel one's would be.
            maxWorkers: 1,
            maxWorkersLimit: 1,
            historyRuns: CONFIG_DEFAULTS.historyRuns,
        };
        super("sequential", "orchestration:jobs:SequentialNotebookJob", name, args, settings, runParameters(settings), opts);
    }
}

/**
 * A job whose orchestrator runs the items concurrently, at most `max_workers` at a time (capped at
 * maxWorkersLimit), longest first by the run log's history, each with its retries, on one cluster.
 */
export class ParallelNotebookJob extends NotebookOrchestratorJob {
    constructor(name: string, args: ParallelNotebookJobArgs, opts?: pulumi.ComponentResourceOptions) {
        const settings: Settings = {
            ...commonSettings(args),
            maxWorkers: args.maxWorkers ?? CONFIG_DEFAULTS.maxWorkers,
            maxWorkersLimit: args.maxWorkersLimit ?? CONFIG_DEFAULTS.maxWorkersLimit,
            historyRuns: args.historyRuns ?? CONFIG_DEFAULTS.historyRuns,
        };
        super(
            "parallel",
            "orchestration:jobs:ParallelNotebookJob",
            name,
            args,
            settings,
            { ...runParameters(settings), max_workers: String(settings.maxWorkers) },
            opts,
        );
    }
}
