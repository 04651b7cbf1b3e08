/**
 * The run-log dashboard: declared only with a SQL warehouse, a Lakeview document whose queries parse
 * as Spark SQL and, run on DuckDB against a run log of a few rows, give the aggregates worked out here.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { expect } from "chai";
import { parseStackConfig, StackConfigError } from "../components/config";
import { dashboardUrl, DashboardDocument, runLogDashboard } from "../components/dashboard";
import { createPolicies } from "../policy/policies";
import { formatPlan } from "../tools/plan";
import { OfflineRun } from "../tools/offline";
import { sparkSqlProblems } from "./support/sqlGrammar";
import { Row, SparkOnDuckDb } from "./support/sqlDuckDb";
import { configSource, ofType, one, REQUIRED_CONFIG, runStack } from "./support/stack";

const DASHBOARD = "databricks:index/dashboard:Dashboard";
const WAREHOUSE_ID = "47bb1c472649e711";

function datasetQuery(document: DashboardDocument, name: string): string {
    const dataset = document.datasets.find((d) => d.name === name);
    if (!dataset) {
        throw new Error(`no dataset ${name}`);
    }
    return dataset.queryLines.join("");
}

describe("run-log dashboard", function () {
    this.timeout(60_000);
    let withWarehouse: OfflineRun;
    let without: OfflineRun;

    before(async () => {
        // One stack at a time: the mock runtime is process-wide.
        withWarehouse = await runStack({ sqlWarehouseId: WAREHOUSE_ID });
        without = await runStack();
    });

    it("is declared only when sqlWarehouseId is set, in the stack's folder, with its id and URL as outputs", () => {
        expect(ofType(without, DASHBOARD)).to.be.empty;
        expect(without.outputs).to.not.have.property("dashboardId");
        expect(formatPlan("dev", without)).to.contain("Dashboard: not declared (set sqlWarehouseId to declare the run-log dashboard)");

        const dashboard = one(withWarehouse, DASHBOARD);
        expect(dashboard.inputs.warehouseId).to.equal(WAREHOUSE_ID);
        expect(dashboard.inputs.parentPath).to.equal(withWarehouse.outputs.workspaceFolder);
        expect(dashboard.inputs.displayName).to.equal("notebook-orchestration-dev run log");
        expect(dashboard.inputs.embedCredentials).to.equal(false);
        expect(dashboard.parent).to.match(/orchestration:dashboard:RunLogDashboard/);
        expect(withWarehouse.outputs.dashboardUrl).to.equal(
            `${String(withWarehouse.outputs.workspaceUrl)}/dashboardsv3/${String(withWarehouse.outputs.dashboardId)}`,
        );
        const plan = formatPlan("dev", withWarehouse);
        expect(plan).to.not.contain("Dashboard: not declared");
        expect(plan).to.contain(
            `"notebook-orchestration-dev run log" on SQL warehouse ${WAREHOUSE_ID}: Runtime per orchestration mode; Per-worker durations; Failures and retries`,
        );
    });

    it("serializes a Lakeview document over the stack's run log, every widget reading a dataset's columns", () => {
        const document = JSON.parse(String(one(withWarehouse, DASHBOARD).inputs.serializedDashboard)) as DashboardDocument;
        expect(document.datasets.map((d) => d.name)).to.deep.equal(["runs", "worker_durations", "failures_and_retries"]);
        expect(document.pages.map((p) => p.displayName)).to.deep.equal(["Runtime per orchestration mode", "Per-worker durations", "Failures and retries"]);
        for (const dataset of document.datasets) {
            expect(dataset.queryLines.join("")).to.contain("FROM `main`.`notebook_orchestration_dev`.`etl_run_log`");
        }
        const widgets = document.pages.flatMap((p) => p.layout.map((item) => item.widget));
        expect(widgets.map((w) => w.spec.widgetType)).to.deep.equal(["line", "table", "bar", "bar", "table", "bar", "table"]);
        for (const widget of widgets) {
            const query = widget.queries[0].query;
            expect(document.datasets.map((d) => d.name)).to.include(query.datasetName);
            const fieldNames = query.fields.map((f) => f.name);
            const encoded = Object.values(widget.spec.encodings).flatMap((e) => (Array.isArray(e) ? e : [e])) as { fieldName: string }[];
            for (const { fieldName } of encoded) {
                expect(fieldNames, `${widget.name} encodes ${fieldName}`).to.include(fieldName);
            }
        }
    });

    it("has queries that parse with the Spark SQL grammar", () => {
        for (const dataset of runLogDashboard("`main`.`etl`.`etl_run_log`").datasets) {
            expect(sparkSqlProblems(dataset.queryLines.join("")), dataset.name).to.deep.equal([]);
        }
    });

    it("rejects a sqlWarehouseId that is not a warehouse id, naming the key", () => {
        for (const bad of ["/sql/1.0/warehouses/47bb1c472649e711", "47BB1C472649E71", "starter"]) {
            expect(() => parseStackConfig(configSource({ ...REQUIRED_CONFIG, sqlWarehouseId: bad })))
                .to.throw(StackConfigError)
                .with.property("message")
                .that.contains(`sqlWarehouseId: got ${JSON.stringify(bad)}; expected a SQL warehouse id, 16 lowercase hex characters`);
        }
        expect(parseStackConfig(configSource({ ...REQUIRED_CONFIG, sqlWarehouseId: WAREHOUSE_ID })).sqlWarehouseId).to.equal(WAREHOUSE_ID);
        expect(parseStackConfig(configSource(REQUIRED_CONFIG)).sqlWarehouseId).to.equal(undefined);
    });

    it("passes every policy of the pack", () => {
        const dashboard = one(withWarehouse, DASHBOARD);
        const violations: string[] = [];
        for (const policy of createPolicies(() => ({ stack: "dev", mode: "development" })) as ResourceValidationPolicy[]) {
            const args = {
                type: dashboard.type,
                props: JSON.parse(JSON.stringify(dashboard.inputs)) as Record<string, unknown>,
                urn: `urn:pulumi:dev::notebook-orchestration::${dashboard.type}::${dashboard.name}`,
                name: dashboard.name,
                notApplicable: (): never => {
                    throw new Error("not applicable");
                },
                getConfig: () => ({}),
            } as unknown as ResourceValidationArgs;
            const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
            for (const validation of validations) {
                try {
                    void validation?.(args, (message) => violations.push(`${policy.name}: ${message}`));
                } catch (error) {
                    if (!(error instanceof Error && error.message === "not applicable")) throw error;
                }
            }
        }
        expect(violations).to.deep.equal([]);
    });

    describe("queries on DuckDB", () => {
        const runLog = '"lakehouse"."etl"."etl_run_log"';
        const document = runLogDashboard("`lakehouse`.`etl`.`etl_run_log`");
        let db: SparkOnDuckDb;
        const run = (name: string): Promise<Row[]> => db.sql(datasetQuery(document, name));

        before(async () => {
            db = await SparkOnDuckDb.start(["lakehouse"]);
            await db.query(`CREATE SCHEMA "lakehouse"."etl"`);
            await db.query(
                `CREATE TABLE ${runLog} (notebook VARCHAR, orchestration_mode VARCHAR, run_id VARCHAR, attempt INTEGER, started_at TIMESTAMP, ` +
                    "finished_at TIMESTAMP, duration_seconds DOUBLE, rows_merged BIGINT, status VARCHAR, error VARCHAR, wall_seconds DOUBLE, recorded_by VARCHAR, " +
                    "item VARCHAR, arguments VARCHAR)",
            );
            // A sequential run from before work items (rows without item: two workers, the second retried after a timeout), a
            // parallel run of two items of one notebook (one failed) and a worker, a For each run (worker rows only).
            type LogRow = [string, string, string, number, string, string, number | null, string, string | null, number | null, string, string | null];
            const rows: LogRow[] = [
                ["orders_daily", "sequential", "s1", 1, "2026-12-01 02:00:00", "2026-12-01 02:01:00", 40, "SUCCEEDED", null, null, "worker", null],
                ["orders_daily", "sequential", "s1", 1, "2026-12-01 02:00:00", "2026-12-01 02:01:10", null, "SUCCEEDED", null, 70, "orchestrator", null],
                ["customers", "sequential", "s1", 1, "2026-12-01 02:01:10", "2026-12-01 02:02:10", null, "TIMED_OUT", "timed out", 60, "orchestrator", null],
                ["customers", "sequential", "s1", 2, "2026-12-01 02:02:40", "2026-12-01 02:03:30", 20, "SUCCEEDED", null, null, "worker", null],
                ["customers", "sequential", "s1", 2, "2026-12-01 02:02:40", "2026-12-01 02:03:40", null, "SUCCEEDED", null, 60, "orchestrator", null],
                [
                    "workers/orders_daily",
                    "parallel",
                    "p1",
                    1,
                    "2026-12-01 04:00:00",
                    "2026-12-01 04:00:50",
                    30,
                    "SUCCEEDED",
                    null,
                    null,
                    "worker",
                    "orders_daily",
                ],
                [
                    "workers/orders_daily",
                    "parallel",
                    "p1",
                    1,
                    "2026-12-01 04:00:00",
                    "2026-12-01 04:01:00",
                    null,
                    "SUCCEEDED",
                    null,
                    60,
                    "orchestrator",
                    "orders_daily",
                ],
                ["ingest/table", "parallel", "p1", 1, "2026-12-01 04:00:00", "2026-12-01 04:01:30", null, "FAILED", "boom", 90, "orchestrator", "table(t=a)"],
                ["ingest/table", "parallel", "p1", 1, "2026-12-01 04:00:00", "2026-12-01 04:00:40", null, "SUCCEEDED", null, 40, "orchestrator", "table(t=b)"],
                ["ingest/table", "parallel", "p1", 1, "2026-12-01 04:01:00", "2026-12-01 04:01:20", null, "SUCCEEDED", null, 20, "orchestrator", "table(t=c)"],
                ["customers", "for_each", "f1", 1, "2026-12-01 06:00:00", "2026-12-01 06:00:45", 45, "SUCCEEDED", null, null, "worker", null],
            ];
            const literal = (v: string | number | null) => (v === null ? "NULL" : typeof v === "number" ? String(v) : `'${v}'`);
            for (const [notebook, mode, runId, attempt, start, finish, duration, status, error, wall, by, item] of rows) {
                const args = item?.startsWith("table(") ? `'{"t":"${item.slice(8, 9)}"}'` : by === "orchestrator" && item ? "'{}'" : "NULL";
                await db.query(
                    `INSERT INTO ${runLog} VALUES (${[notebook, mode, runId, attempt].map(literal).join(", ")}, TIMESTAMP '${start}', TIMESTAMP '${finish}', ` +
                        `${literal(duration)}, NULL, ${[status, error, wall, by, item].map(literal).join(", ")}, ${args})`,
                );
            }
        });

        it("gives each run's time from its first start to its last finish, per orchestration mode, counting items", async () => {
            const runs = await run("runs");
            expect(runs.map((r) => [r.orchestration_mode, r.run_id, Number(r.runtime_seconds), r.items, r.failed_attempts])).to.deep.equal([
                ["sequential", "s1", 220, 2, 1],
                ["parallel", "p1", 90, 4, 1],
                ["for_each", "f1", 45, 1, 0],
            ]);
        });

        it("averages wall time from orchestrator rows and duration from worker rows per item, successful attempts only", async () => {
            const rows = await run("worker_durations");
            expect(rows.map((r) => [r.orchestration_mode, r.item, r.runs, r.avg_wall_seconds, r.avg_duration_seconds])).to.deep.equal([
                ["for_each", "customers", 1, null, 45],
                ["parallel", "orders_daily", 1, 60, 30],
                ["parallel", "table(t=b)", 1, 40, null],
                ["parallel", "table(t=c)", 1, 20, null],
                ["sequential", "customers", 1, 60, 20],
                ["sequential", "orders_daily", 1, 70, 40],
            ]);
        });

        it("lists failed, timed-out and retried attempts, newest first, with their item", async () => {
            const rows = await run("failures_and_retries");
            expect(rows.map((r) => [r.orchestration_mode, r.item, r.notebook, r.attempt, r.status, r.recorded_by])).to.deep.equal([
                ["parallel", "table(t=a)", "ingest/table", 1, "FAILED", "orchestrator"],
                ["sequential", "customers", "customers", 2, "SUCCEEDED", "worker"],
                ["sequential", "customers", "customers", 2, "SUCCEEDED", "orchestrator"],
                ["sequential", "customers", "customers", 1, "TIMED_OUT", "orchestrator"],
            ]);
        });
    });

    it("builds the URL the workspace serves the dashboard at", () => {
        expect(dashboardUrl("https://adb-1.7.azuredatabricks.net/", "01ef")).to.equal("https://adb-1.7.azuredatabricks.net/dashboardsv3/01ef");
    });
});
