import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { NotebookFolder, OrchestrationLibrary, ParallelNotebookJob, SequentialNotebookJob, WorkItemSpec } from "../components";
import { OfflineRun, runOffline } from "../tools/offline";
import { ofType, one, renderedValue, TEAM_NOTEBOOKS, TYPES } from "./support/stack";

type Inputs = Record<string, any>;

const FOLDER = "/Workspace/Shared/ingest";
const CLUSTER_ID = "0123-456789-abcdefgh";
const TABLES = ["sales.orders", "sales.customers", "sales.products"];
const RUN_LOG = "`main`.`ops`.`notebook_run_log`";

/** Another team's Pulumi program: its own notebooks and cluster, nothing from this stack but the components. */
function ingestProgram(items: readonly WorkItemSpec[] = TABLES.map((table) => ({ notebook: "ingest/ingest_table", arguments: { table } }))) {
    return () => {
        const notebooks = new NotebookFolder("ingest-notebooks", { folder: FOLDER, sourceDirectory: TEAM_NOTEBOOKS });
        const library = new OrchestrationLibrary("ingest", { folder: FOLDER });
        const job = new ParallelNotebookJob("ingest-tables", {
            library,
            items,
            knownNotebooks: notebooks.relativePaths,
            commonArguments: { catalog: "main", schema: "bronze" },
            runLogTable: RUN_LOG,
            compute: { existingClusterId: CLUSTER_ID },
            maxWorkers: 8,
            maxRetries: 2,
            notificationEmails: ["ingest@example.com"],
            tags: { team: "ingest" },
        });
        return { jobId: job.jobId, orchestratorPath: job.orchestratorPath };
    };
}

function run(program: () => Record<string, unknown>): Promise<OfflineRun> {
    return runOffline(program, { project: "ingest", stack: "dev", config: {} });
}

/** The error a program throws while declaring its resources. */
async function declarationError(program: () => Record<string, unknown>): Promise<string> {
    let failure: unknown;
    await run(() => {
        try {
            return program();
        } catch (error) {
            failure = error;
            return {};
        }
    });
    expect(failure, "the program was expected to throw").to.be.instanceOf(Error);
    return (failure as Error).message;
}

function decoded(notebook: { inputs: Inputs }): string {
    return Buffer.from(String(notebook.inputs.contentBase64), "base64").toString("utf8");
}

describe("the components, in another Pulumi program (components/index.ts)", function () {
    this.timeout(30000);
    let ingest: OfflineRun;

    before(async () => {
        ingest = await run(ingestProgram());
    });

    it("declares the team's notebooks, the library, the orchestrator and one job, and no cluster of its own", () => {
        expect(ofType(ingest, TYPES.cluster)).to.deep.equal([]);
        expect(ofType(ingest, TYPES.directory)).to.deep.equal([]);
        expect(ofType(ingest, TYPES.job)).to.have.length(1);
        expect(
            ofType(ingest, TYPES.notebook)
                .map((n) => String(n.inputs.path))
                .sort(),
        ).to.deep.equal([
            `${FOLDER}/ingest/ingest_table`,
            `${FOLDER}/lib/orchestration`,
            `${FOLDER}/orchestrators/ingest-tables`,
            `${FOLDER}/reports/refresh_report`,
        ]);
        const parents = Object.fromEntries(ingest.resources.filter((r) => r.custom).map((r) => [r.name, r.parent]));
        expect(parents).to.deep.equal({
            "ingest-notebooks-ingest-ingest_table": "orchestration:notebooks:NotebookFolder::ingest-notebooks",
            "ingest-notebooks-reports-refresh_report": "orchestration:notebooks:NotebookFolder::ingest-notebooks",
            "ingest-lib-orchestration": "orchestration:notebooks:OrchestrationLibrary::ingest",
            "ingest-tables-orchestrator": "orchestration:jobs:ParallelNotebookJob::ingest-tables",
            "ingest-tables-job": "orchestration:jobs:ParallelNotebookJob::ingest-tables",
        });
        expect(decoded(one(ingest, TYPES.notebook, "ingest-ingest_table"))).to.contain('dbutils.widgets.get("table")');
    });

    it("runs the orchestrator on the existing cluster with the orchestrators' job parameters", () => {
        const job = one(ingest, TYPES.job).inputs as Inputs;
        expect(job.name).to.equal("ingest-tables");
        expect(job.tasks).to.deep.equal([
            {
                taskKey: "orchestrate",
                notebookTask: { notebookPath: `${FOLDER}/orchestrators/ingest-tables`, source: "WORKSPACE" },
                existingClusterId: CLUSTER_ID,
            },
        ]);
        expect(job.jobClusters).to.equal(undefined);
        expect(job.parameters).to.deep.equal([
            { name: "items", default: "" },
            { name: "max_retries", default: "2" },
            { name: "max_workers", default: "8" },
            { name: "retry_backoff_seconds", default: "30" },
            { name: "run_id", default: "{{job.run_id}}" },
            { name: "timeout_seconds", default: "3600" },
            { name: "workers", default: "" },
        ]);
        expect(job).to.deep.include({ maxConcurrentRuns: 1, timeoutSeconds: 7200, tags: { team: "ingest" } });
        expect(job.emailNotifications.onFailures).to.deep.equal(["ingest@example.com"]);
        expect(job.description).to.equal("Runs 3 work items (notebook ingest/ingest_table) concurrently with a bounded, longest-first ThreadPoolExecutor.");
        expect(ingest.outputs).to.deep.equal({ jobId: "<id of ingest-tables-job>", orchestratorPath: `${FOLDER}/orchestrators/ingest-tables` });
    });

    it("renders exactly those items, the team's notebooks and its settings into the orchestrator", () => {
        const source = decoded(one(ingest, TYPES.notebook, "ingest-tables-orchestrator"));
        expect(renderedValue(source, "ITEMS")).to.deep.equal(
            TABLES.map((table) => ({
                name: `ingest_table(table=${table})`,
                notebook: "ingest/ingest_table",
                path: `${FOLDER}/ingest/ingest_table`,
                arguments: { table },
                expected_seconds: null,
            })),
        );
        expect(renderedValue(source, "COMMON_ARGUMENTS")).to.deep.equal({ catalog: "main", schema: "bronze" });
        expect(renderedValue(source, "NOTEBOOK_FOLDER")).to.equal(FOLDER);
        expect(renderedValue(source, "KNOWN_NOTEBOOKS")).to.deep.equal(["ingest/ingest_table", "reports/refresh_report"]);
        expect(renderedValue(source, "RUN_LOG_TABLE")).to.equal(RUN_LOG);
        expect(renderedValue(source, "MAX_WORKERS")).to.equal(8);
        expect(renderedValue(source, "MAX_RETRIES")).to.equal(2);
        expect(source).to.contain("%run ../lib/orchestration");
    });

    it("refuses invalid items before declaring the job, naming the component and every problem", async () => {
        const message = await declarationError(
            ingestProgram([
                { notebook: "ingest/ingest_tabel", arguments: { table: "sales.orders" } },
                { notebook: "ingest/ingest_table", arguments: { run_id: "7" } },
                { notebook: "ingest/ingest_table", arguments: { table: 42 as unknown as string } },
            ]),
        );
        expect(message).to.match(/^ParallelNotebookJob ingest-tables: invalid work items:\n/);
        expect(message).to.contain('item 1: unknown notebook "ingest/ingest_tabel" (did you mean "ingest/ingest_table"?)');
        expect(message).to.contain('item 2: argument "run_id" is set by the orchestrator on every attempt');
        expect(message).to.contain('item 3: argument "table" is number 42; expected a string');
        expect(await declarationError(ingestProgram([]))).to.contain("expected at least one work item");
    });

    it("refuses settings out of range and two orchestrators at one path", async () => {
        const library = () => new OrchestrationLibrary("ingest", { folder: FOLDER });
        const base = { items: ["/Shared/elsewhere/notebook"], runLogTable: RUN_LOG, compute: { existingClusterId: CLUSTER_ID } };
        expect(await declarationError(() => (new ParallelNotebookJob("p", { ...base, library: library(), maxWorkers: 20 }), {}))).to.equal(
            "ParallelNotebookJob p:\n  - maxWorkers 20; expected an integer from 1 to 16",
        );
        expect(
            await declarationError(() => {
                const shared = library();
                new SequentialNotebookJob("nightly", { ...base, library: shared, notebookName: "run" });
                new ParallelNotebookJob("hourly", { ...base, library: shared, notebookName: "run" });
                return {};
            }),
        ).to.equal(
            "ParallelNotebookJob hourly: orchestrator notebook 'orchestrators/run' is already SequentialNotebookJob nightly's; expected a different notebookName",
        );
        expect(await declarationError(() => (new OrchestrationLibrary("relative", { folder: "Shared/ingest" }), {}))).to.contain(
            "expected an absolute workspace path",
        );
    });

    it("uploads a list of notebooks as well as a folder, and refuses neither or both", async () => {
        const listed = await run(() => {
            const folder = new NotebookFolder("listed", {
                folder: FOLDER,
                notebooks: [{ relativePath: "jobs/ingest", file: `${TEAM_NOTEBOOKS}/ingest/ingest_table.py` }],
            });
            return { relativePaths: folder.relativePaths };
        });
        expect(ofType(listed, TYPES.notebook).map((n) => n.inputs.path)).to.deep.equal([`${FOLDER}/jobs/ingest`]);
        expect(listed.outputs.relativePaths).to.deep.equal(["jobs/ingest"]);
        expect(await declarationError(() => (new NotebookFolder("none", { folder: FOLDER }), {}))).to.equal(
            "NotebookFolder none: give either sourceDirectory (a local folder) or notebooks (a list), not neither",
        );
    });

    it("resolves a folder known only at deployment, normalising items inside it to the relative form", async () => {
        const folder = pulumi.output("/Users/me@example.com/ingest");
        const sequential = await run(() => {
            const library = new OrchestrationLibrary("mine", { folder });
            const job = new SequentialNotebookJob("mine-sequential", {
                library,
                items: [
                    { notebook: "/Users/me@example.com/ingest/ingest/ingest_table", arguments: { table: "a.b" }, name: "ab", expectedSeconds: 30 },
                    "/Shared/tools/vacuum",
                ],
                knownNotebooks: ["ingest/ingest_table"],
                runLogTable: RUN_LOG,
                compute: { existingClusterId: CLUSTER_ID },
            });
            return { path: job.orchestratorPath };
        });
        const source = decoded(one(sequential, TYPES.notebook, "mine-sequential-orchestrator"));
        expect(renderedValue(source, "ITEMS")).to.deep.equal([
            {
                name: "ab",
                notebook: "ingest/ingest_table",
                path: "/Users/me@example.com/ingest/ingest/ingest_table",
                arguments: { table: "a.b" },
                expected_seconds: 30,
            },
            { name: "vacuum", notebook: "/Shared/tools/vacuum", path: "/Shared/tools/vacuum", arguments: {}, expected_seconds: null },
        ]);
        expect(sequential.outputs.path).to.equal("/Users/me@example.com/ingest/orchestrators/mine-sequential");
        const job = one(sequential, TYPES.job).inputs as Inputs;
        expect(job.parameters.map((p: { name: string }) => p.name)).to.deep.equal([
            "items",
            "max_retries",
            "retry_backoff_seconds",
            "run_id",
            "timeout_seconds",
            "workers",
        ]);
        expect(job.description).to.equal("Runs 2 work items (notebooks ingest/ingest_table, /Shared/tools/vacuum) one after another (dbutils.notebook.run).");
    });
});
