import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import { FOR_EACH_ENTRY_NOTEBOOK, readNotebook, STATIC_NOTEBOOKS } from "./render";
import { discoverNotebooks, NotebookFile } from "./workItems";

const NOTEBOOK_TYPE = "databricks:index/notebook:Notebook";

/** The orchestrators' library, `%run` as `../lib/orchestration`: uploaded by OrchestrationLibrary. */
export const ORCHESTRATION_LIBRARY = "lib/orchestration";

/** The stack's static notebooks but the orchestration library: the shared ETL library and setup. */
export const STACK_STATIC_NOTEBOOKS: readonly string[] = STATIC_NOTEBOOKS.filter((relativePath) => relativePath !== ORCHESTRATION_LIBRARY);

/** A notebook's resource name: the component's name and the notebook's relative path, `/` as `-`. */
export function notebookResourceName(componentName: string, relativePath: string): string {
    return `${componentName}-${relativePath.replace(/\//g, "-")}`;
}

/** Uploads a Python notebook source to `path`, as a child of `parent`. */
export function uploadNotebookAt(
    resourceName: string,
    path: pulumi.Input<string>,
    source: pulumi.Input<string>,
    opts: pulumi.CustomResourceOptions,
): databricks.Notebook {
    return new databricks.Notebook(
        resourceName,
        {
            path,
            language: "PYTHON",
            contentBase64: pulumi.output(source).apply((text) => Buffer.from(text, "utf8").toString("base64")),
        },
        opts,
    );
}

/** Uploads a Python notebook source to `<folder>/<relativePath>`, named from the component and the path. */
export function uploadNotebook(
    componentName: string,
    folder: databricks.Directory,
    relativePath: string,
    source: pulumi.Input<string>,
    parent: pulumi.Resource,
): databricks.Notebook {
    return uploadNotebookAt(notebookResourceName(componentName, relativePath), pulumi.interpolate`${folder.path}/${relativePath}`, source, {
        parent,
        dependsOn: [folder],
    });
}

/** Two relative paths whose resource names would be the same (`a-b/c` and `a/b-c`): Pulumi would refuse the second. */
function resourceNameClash(componentName: string, relativePaths: readonly string[]): string | undefined {
    const seen = new Map<string, string>();
    for (const relativePath of relativePaths) {
        const resourceName = notebookResourceName(componentName, relativePath);
        const other = seen.get(resourceName);
        if (other !== undefined && other !== relativePath) {
            return `'${other}' and '${relativePath}' would both be resource ${resourceName}; rename one of them`;
        }
        seen.set(resourceName, relativePath);
    }
    return undefined;
}

export interface NotebookFolderArgs {
    /** Absolute workspace folder the notebooks are uploaded into, e.g. `/Shared/ingest`. */
    readonly folder: pulumi.Input<string>;
    /**
     * A local folder of Databricks notebook sources (`*.py` starting with `# Databricks notebook source`), uploaded
     * at their paths relative to it without `.py`; other `.py` files are skipped. Or give `notebooks` instead.
     */
    readonly sourceDirectory?: string;
    /** The notebooks to upload, each at its `relativePath` (discoverNotebooks lists a folder's). */
    readonly notebooks?: readonly NotebookFile[];
}

/**
 * A folder of your own notebooks uploaded into a workspace folder, so work items can name them by their
 * relative path (`relativePaths` is what an orchestrator job's `knownNotebooks` takes).
 */
export class NotebookFolder extends pulumi.ComponentResource {
    /** The workspace folder. */
    public readonly folder: pulumi.Output<string>;
    /** The uploaded notebooks by relative path (no `.py`), e.g. `ingest/ingest_table`. */
    public readonly notebooks: Record<string, databricks.Notebook> = {};
    /** The relative paths, in the order uploaded. */
    public readonly relativePaths: readonly string[];
    /** `.py` files of `sourceDirectory` that were not uploaded: not Databricks notebook sources. */
    public readonly skipped: readonly string[];

    constructor(name: string, args: NotebookFolderArgs, opts?: pulumi.ComponentResourceOptions) {
        super("orchestration:notebooks:NotebookFolder", name, {}, opts);
        if ((args.sourceDirectory === undefined) === (args.notebooks === undefined)) {
            throw new Error(
                `NotebookFolder ${name}: give either sourceDirectory (a local folder) or notebooks (a list), not ${args.notebooks ? "both" : "neither"}`,
            );
        }
        let found: { notebooks: readonly NotebookFile[]; skipped: readonly string[] } = { notebooks: args.notebooks ?? [], skipped: [] };
        if (args.sourceDirectory !== undefined) {
            if (!fs.existsSync(args.sourceDirectory) || !fs.statSync(args.sourceDirectory).isDirectory()) {
                throw new Error(
                    `NotebookFolder ${name}: sourceDirectory ${args.sourceDirectory} is not a folder; expected a folder of Databricks notebook sources (*.py)`,
                );
            }
            found = discoverNotebooks(args.sourceDirectory, "");
        }
        if (found.notebooks.length === 0) {
            throw new Error(
                `NotebookFolder ${name}: no notebook to upload; expected at least one Databricks notebook source (*.py starting with '# Databricks notebook source')`,
            );
        }
        const clash = resourceNameClash(
            name,
            found.notebooks.map((n) => n.relativePath),
        );
        if (clash) {
            throw new Error(`NotebookFolder ${name}: ${clash}`);
        }
        this.folder = pulumi.output(args.folder);
        for (const notebook of found.notebooks) {
            this.notebooks[notebook.relativePath] = uploadNotebookAt(
                notebookResourceName(name, notebook.relativePath),
                pulumi.interpolate`${this.folder}/${notebook.relativePath}`,
                fs.readFileSync(notebook.file, "utf8"),
                { parent: this },
            );
        }
        this.relativePaths = found.notebooks.map((n) => n.relativePath);
        this.skipped = found.skipped;

        this.registerOutputs({ folder: this.folder, paths: Object.fromEntries(Object.entries(this.notebooks).map(([key, nb]) => [key, nb.path])) });
    }
}

export interface StackNotebooksArgs {
    /** Workspace folder of this environment; deleted with everything in it on destroy. */
    readonly folder: string;
    /** The notebook sources under notebooks/workers/: the four ETL workers and any a team adds beside them. */
    readonly workerNotebooks: readonly NotebookFile[];
    /** The team's own notebooks (notebookSourceFolder), uploaded at their relative paths. */
    readonly teamNotebooks: readonly NotebookFile[];
    /** Upload the For each job's entry notebook (a For each job over the ETL workers). */
    readonly forEachEntry: boolean;
}

/**
 * The stack's workspace folder and the notebooks its items and setup need: the shared ETL library, the
 * setup notebook, every notebook under notebooks/workers/ and the team's own. The orchestration library
 * and the orchestrators are uploaded by their own components (orchestratorJobs.ts).
 */
export class StackNotebooks extends pulumi.ComponentResource {
    public readonly folder: databricks.Directory;
    /** Notebooks by their path relative to the folder, e.g. `workers/daily_sales`. */
    public readonly notebooks: Record<string, databricks.Notebook> = {};
    public readonly setupPath: pulumi.Output<string>;
    /** The For each job's nested-task notebook, when uploaded. */
    public readonly forEachEntryPath?: pulumi.Output<string>;

    constructor(name: string, args: StackNotebooksArgs, opts?: pulumi.ComponentResourceOptions) {
        // Formerly EtlNotebooks: the alias keeps its notebooks' identities, so an update does not delete and re-create them.
        super("orchestration:notebooks:StackNotebooks", name, {}, pulumi.mergeOptions(opts, { aliases: [{ type: "orchestration:notebooks:EtlNotebooks" }] }));

        const sources: [string, () => string][] = [
            ...STACK_STATIC_NOTEBOOKS.map((relativePath): [string, () => string] => [relativePath, () => readNotebook(relativePath)]),
            ...[...args.workerNotebooks, ...args.teamNotebooks].map((notebook): [string, () => string] => [
                notebook.relativePath,
                () => fs.readFileSync(notebook.file, "utf8"),
            ]),
            ...(args.forEachEntry ? [[FOR_EACH_ENTRY_NOTEBOOK, () => readNotebook(FOR_EACH_ENTRY_NOTEBOOK)] as [string, () => string]] : []),
        ];
        const duplicate = sources.map(([p]) => p).find((p, index, all) => all.indexOf(p) !== index);
        if (duplicate !== undefined) {
            throw new Error(`StackNotebooks ${name}: two notebooks would be uploaded at '${duplicate}'; expected one notebook per path`);
        }
        const clash = resourceNameClash(
            name,
            sources.map(([p]) => p),
        );
        if (clash) {
            throw new Error(`StackNotebooks ${name}: ${clash}`);
        }

        this.folder = new databricks.Directory(`${name}-folder`, { path: args.folder, deleteRecursive: true }, { parent: this });
        for (const [relativePath, source] of sources) {
            this.notebooks[relativePath] = uploadNotebook(name, this.folder, relativePath, source(), this);
        }
        this.setupPath = this.notebooks["setup"].path;
        this.forEachEntryPath = args.forEachEntry ? this.notebooks[FOR_EACH_ENTRY_NOTEBOOK].path : undefined;

        this.registerOutputs({ folder: this.folder.path, setupPath: this.setupPath });
    }
}

/**
 * A transformation that gives the notebook named `name` the identity it had before it moved into another
 * component (its old name and parent), so `pulumi up` updates it in place instead of creating it anew and
 * then deleting the old one, which would delete the notebook at its path.
 */
export function movedNotebook(name: string, formerName: string, formerParent: pulumi.Input<string>): pulumi.ResourceTransformation {
    return (args) =>
        args.type === NOTEBOOK_TYPE && args.name === name
            ? { props: args.props, opts: pulumi.mergeOptions(args.opts, { aliases: [{ name: formerName, parent: formerParent }] }) }
            : undefined;
}
