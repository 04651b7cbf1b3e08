import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import {
    FOR_EACH_ENTRY_NOTEBOOK,
    OrchestratedWorker,
    OrchestratorKind,
    OrchestratorSettings,
    readNotebook,
    renderOrchestrator,
    STATIC_NOTEBOOKS,
} from "./render";
import { WORKERS } from "./workers";

export interface EtlNotebooksArgs {
    /** Workspace folder of this environment; deleted with everything in it on destroy. */
    readonly folder: string;
    /** Widget values every worker is called with: catalog, schema, input and run-log tables. */
    readonly workerArguments: Readonly<Record<string, string>>;
    /** Orchestrator settings rendered into both orchestration notebooks. */
    readonly orchestration: Omit<OrchestratorSettings, "workers">;
    /** Expected seconds per worker, for longest-first dispatch before the run log has history. */
    readonly expectedSeconds: Readonly<Record<string, number>>;
    /** Upload the For each job's entry notebook (forEachJob). */
    readonly forEachEntry: boolean;
}

/** Uploads a Python notebook source to `<folder>/<relativePath>`, named from the component and the path. */
export function uploadNotebook(
    componentName: string,
    folder: databricks.Directory,
    relativePath: string,
    source: pulumi.Input<string>,
    parent: pulumi.Resource,
): databricks.Notebook {
    return new databricks.Notebook(
        `${componentName}-${relativePath.replace(/\//g, "-")}`,
        {
            path: pulumi.interpolate`${folder.path}/${relativePath}`,
            language: "PYTHON",
            contentBase64: pulumi.output(source).apply((text) => Buffer.from(text, "utf8").toString("base64")),
        },
        { parent, dependsOn: [folder] },
    );
}

/**
 * Every notebook of the ETL, uploaded into the environment's workspace folder: shared libraries, the
 * setup notebook, the four workers, and the two orchestrators rendered from their templates with the
 * deployed workers' paths.
 */
export class EtlNotebooks extends pulumi.ComponentResource {
    public readonly folder: databricks.Directory;
    /** Notebooks by their path relative to the folder, e.g. `workers/daily_sales`. */
    public readonly notebooks: Record<string, databricks.Notebook> = {};
    public readonly setupPath: pulumi.Output<string>;
    /** The workers as the orchestrators call them: deployed paths and arguments. */
    public readonly workers: pulumi.Output<OrchestratedWorker[]>;
    public readonly orchestratorPaths: Record<OrchestratorKind, pulumi.Output<string>>;
    /** The For each job's nested-task notebook, when uploaded. */
    public readonly forEachEntryPath?: pulumi.Output<string>;

    constructor(name: string, args: EtlNotebooksArgs, opts?: pulumi.ComponentResourceOptions) {
        super("orchestration:notebooks:EtlNotebooks", name, {}, opts);

        this.folder = new databricks.Directory(`${name}-folder`, { path: args.folder, deleteRecursive: true }, { parent: this });
        const upload = (relativePath: string, source: pulumi.Input<string>) => {
            this.notebooks[relativePath] = uploadNotebook(name, this.folder, relativePath, source, this);
            return this.notebooks[relativePath];
        };

        for (const relativePath of STATIC_NOTEBOOKS) {
            upload(relativePath, readNotebook(relativePath));
        }
        const workerPaths = pulumi.all(WORKERS.map((worker) => this.notebooks[worker.source.replace(/\.py$/, "")].path));
        this.workers = workerPaths.apply((paths) =>
            WORKERS.map((worker, index) => ({
                name: worker.name,
                path: paths[index],
                arguments: args.workerArguments,
                expectedSeconds: args.expectedSeconds[worker.name],
            })),
        );
        const settings: pulumi.Output<OrchestratorSettings> = this.workers.apply((workers) => ({ ...args.orchestration, workers }));
        const orchestrator = (kind: OrchestratorKind) =>
            upload(
                `orchestrators/${kind}`,
                settings.apply((s) => renderOrchestrator(kind, s)),
            ).path;
        this.orchestratorPaths = { sequential: orchestrator("sequential"), parallel: orchestrator("parallel") };
        this.setupPath = this.notebooks["setup"].path;
        if (args.forEachEntry) {
            this.forEachEntryPath = upload(FOR_EACH_ENTRY_NOTEBOOK, readNotebook(FOR_EACH_ENTRY_NOTEBOOK)).path;
        }

        this.registerOutputs({
            folder: this.folder.path,
            setupPath: this.setupPath,
            orchestratorPaths: this.orchestratorPaths,
        });
    }
}
