import * as databricks from "@pulumi/databricks";
import * as pulumi from "@pulumi/pulumi";

/**
 * The run-log dashboard: an AI/BI (Lakeview) dashboard comparing the orchestration modes from the
 * rows the orchestrators and workers append to the run log (`ensure_run_log` in notebooks/lib/orchestration.py
 * declares its columns).
 *
 * The document is the `.lvdash.json` format the Lakeview API takes as `serialized_dashboard`
 * (https://docs.databricks.com/api/workspace/lakeview/create): `datasets` (name, displayName,
 * queryLines) and `pages` whose `layout` places widgets; a widget's `queries` select fields of a
 * dataset and its `spec` (version, widgetType, encodings, frame) says how they are drawn.
 */

/** One dataset of the dashboard: a Spark SQL query the warehouse runs. */
export interface DashboardDataset {
    readonly name: string;
    readonly displayName: string;
    readonly queryLines: readonly string[];
}

type WidgetType = "line" | "bar" | "table";
type ScaleType = "temporal" | "quantitative" | "categorical";

interface Field {
    readonly name: string;
    readonly expression: string;
}

interface Encoding {
    readonly fieldName: string;
    readonly displayName: string;
    readonly scale?: { readonly type: ScaleType };
}

export interface DashboardWidget {
    readonly widget: {
        readonly name: string;
        readonly queries: readonly {
            readonly name: string;
            readonly query: { readonly datasetName: string; readonly fields: readonly Field[]; readonly disaggregated: boolean };
        }[];
        readonly spec: {
            readonly version: number;
            readonly widgetType: WidgetType;
            readonly encodings: Readonly<Record<string, Encoding | readonly Encoding[]>>;
            readonly frame: { readonly title: string; readonly showTitle: true };
        };
    };
    readonly position: { readonly x: number; readonly y: number; readonly width: number; readonly height: number };
}

export interface DashboardPage {
    readonly name: string;
    readonly displayName: string;
    readonly layout: readonly DashboardWidget[];
}

export interface DashboardDocument {
    readonly datasets: readonly DashboardDataset[];
    readonly pages: readonly DashboardPage[];
}

/** Widget spec versions of the Lakeview schema: charts are version 3, tables version 1. */
const SPEC_VERSION: Record<WidgetType, number> = { line: 3, bar: 3, table: 1 };

/** The grid of a Lakeview page is 6 columns wide. */
const PAGE_WIDTH = 6;

/** The dashboard's datasets over the run log, `runLogTable` being its quoted `catalog`.`schema`.`table` name. */
export function runLogDatasets(runLogTable: string): DashboardDataset[] {
    const lines = (sql: string) => sql.split("\n").map((line, index, all) => (index < all.length - 1 ? `${line}\n` : line));
    return [
        {
            name: "runs",
            displayName: "Runs per orchestration mode",
            // One row per run: from its first start to its last finish, over every row the run logged.
            queryLines: lines(
                [
                    "SELECT",
                    "  orchestration_mode,",
                    "  run_id,",
                    "  MIN(started_at) AS run_started_at,",
                    "  (unix_millis(MAX(finished_at)) - unix_millis(MIN(started_at))) / 1000.0 AS runtime_seconds,",
                    "  COUNT(DISTINCT COALESCE(item, notebook)) AS items,",
                    "  SUM(CASE WHEN status IN ('FAILED', 'TIMED_OUT') THEN 1 ELSE 0 END) AS failed_attempts",
                    `FROM ${runLogTable}`,
                    "WHERE started_at IS NOT NULL AND finished_at IS NOT NULL",
                    "GROUP BY orchestration_mode, run_id",
                    "ORDER BY run_started_at",
                ].join("\n"),
            ),
        },
        {
            name: "worker_durations",
            displayName: "Per-worker durations",
            // The orchestrators record each attempt's wall time (start-up included); the workers their own SQL time.
            // Items of one notebook with different arguments are apart (`item`); rows from before items have only `notebook`.
            queryLines: lines(
                [
                    "SELECT",
                    "  orchestration_mode,",
                    "  COALESCE(item, notebook) AS item,",
                    "  COUNT(DISTINCT run_id) AS runs,",
                    "  AVG(CASE WHEN recorded_by = 'orchestrator' THEN wall_seconds END) AS avg_wall_seconds,",
                    "  AVG(CASE WHEN recorded_by = 'worker' THEN duration_seconds END) AS avg_duration_seconds,",
                    "  MAX(CASE WHEN recorded_by = 'worker' THEN duration_seconds END) AS max_duration_seconds",
                    `FROM ${runLogTable}`,
                    "WHERE status = 'SUCCEEDED'",
                    "GROUP BY orchestration_mode, COALESCE(item, notebook)",
                    "ORDER BY orchestration_mode, COALESCE(item, notebook)",
                ].join("\n"),
            ),
        },
        {
            name: "failures_and_retries",
            displayName: "Failures and retries",
            queryLines: lines(
                [
                    "SELECT",
                    "  started_at,",
                    "  orchestration_mode,",
                    "  run_id,",
                    "  COALESCE(item, notebook) AS item,",
                    "  notebook,",
                    "  attempt,",
                    "  status,",
                    "  recorded_by,",
                    "  error",
                    `FROM ${runLogTable}`,
                    "WHERE attempt > 1 OR status IN ('FAILED', 'TIMED_OUT')",
                    "ORDER BY started_at DESC",
                ].join("\n"),
            ),
        },
    ];
}

const column = (name: string): Field => ({ name, expression: `\`${name}\`` });

function widget(
    name: string,
    title: string,
    widgetType: WidgetType,
    datasetName: string,
    fields: readonly Field[],
    encodings: Readonly<Record<string, Encoding | readonly Encoding[]>>,
    position: DashboardWidget["position"],
    disaggregated: boolean,
): DashboardWidget {
    return {
        widget: {
            name,
            queries: [{ name: "main_query", query: { datasetName, fields, disaggregated } }],
            spec: { version: SPEC_VERSION[widgetType], widgetType, encodings, frame: { title, showTitle: true } },
        },
        position,
    };
}

function table(name: string, title: string, datasetName: string, columns: readonly string[], y: number): DashboardWidget {
    return widget(
        name,
        title,
        "table",
        datasetName,
        columns.map(column),
        { columns: columns.map((fieldName) => ({ fieldName, displayName: fieldName })) },
        { x: 0, y, width: PAGE_WIDTH, height: 6 },
        true,
    );
}

/** The whole dashboard document for the run log `runLogTable` (quoted, fully qualified). */
export function runLogDashboard(runLogTable: string): DashboardDocument {
    const mode: Encoding = { fieldName: "orchestration_mode", displayName: "Orchestration mode", scale: { type: "categorical" } };
    return {
        datasets: runLogDatasets(runLogTable),
        pages: [
            {
                name: "runtime",
                displayName: "Runtime per orchestration mode",
                layout: [
                    widget(
                        "runtime_over_time",
                        "Run time (first start to last finish) per orchestration mode",
                        "line",
                        "runs",
                        ["run_started_at", "runtime_seconds", "orchestration_mode"].map(column),
                        {
                            x: { fieldName: "run_started_at", displayName: "Run started", scale: { type: "temporal" } },
                            y: { fieldName: "runtime_seconds", displayName: "Run time (s)", scale: { type: "quantitative" } },
                            color: mode,
                        },
                        { x: 0, y: 0, width: PAGE_WIDTH, height: 8 },
                        true,
                    ),
                    table("runs_table", "Runs", "runs", ["run_started_at", "orchestration_mode", "run_id", "runtime_seconds", "items", "failed_attempts"], 8),
                ],
            },
            {
                name: "workers",
                displayName: "Per-worker durations",
                layout: [
                    widget(
                        "worker_wall_time",
                        "Average wall time per item (orchestrator rows, start-up included)",
                        "bar",
                        "worker_durations",
                        ["item", "avg_wall_seconds", "orchestration_mode"].map(column),
                        {
                            x: { fieldName: "item", displayName: "Item", scale: { type: "categorical" } },
                            y: { fieldName: "avg_wall_seconds", displayName: "Average wall time (s)", scale: { type: "quantitative" } },
                            color: mode,
                        },
                        { x: 0, y: 0, width: PAGE_WIDTH / 2, height: 7 },
                        true,
                    ),
                    widget(
                        "worker_sql_time",
                        "Average duration per item (worker rows, its own SQL time)",
                        "bar",
                        "worker_durations",
                        ["item", "avg_duration_seconds", "orchestration_mode"].map(column),
                        {
                            x: { fieldName: "item", displayName: "Item", scale: { type: "categorical" } },
                            y: { fieldName: "avg_duration_seconds", displayName: "Average duration (s)", scale: { type: "quantitative" } },
                            color: mode,
                        },
                        { x: PAGE_WIDTH / 2, y: 0, width: PAGE_WIDTH / 2, height: 7 },
                        true,
                    ),
                    table(
                        "worker_table",
                        "Per-worker durations",
                        "worker_durations",
                        ["orchestration_mode", "item", "runs", "avg_wall_seconds", "avg_duration_seconds", "max_duration_seconds"],
                        7,
                    ),
                ],
            },
            {
                name: "failures",
                displayName: "Failures and retries",
                layout: [
                    widget(
                        "failures_by_mode",
                        "Failed, timed-out and retried attempts per orchestration mode",
                        "bar",
                        "failures_and_retries",
                        [
                            { name: "orchestration_mode", expression: "`orchestration_mode`" },
                            { name: "status", expression: "`status`" },
                            { name: "count(*)", expression: "COUNT(`*`)" },
                        ],
                        {
                            x: mode,
                            y: { fieldName: "count(*)", displayName: "Attempts", scale: { type: "quantitative" } },
                            color: { fieldName: "status", displayName: "Status", scale: { type: "categorical" } },
                        },
                        { x: 0, y: 0, width: PAGE_WIDTH, height: 6 },
                        false,
                    ),
                    table(
                        "failures_table",
                        "Failed, timed-out and retried attempts",
                        "failures_and_retries",
                        ["started_at", "orchestration_mode", "run_id", "item", "notebook", "attempt", "status", "recorded_by", "error"],
                        6,
                    ),
                ],
            },
        ],
    };
}

/** The dashboard's URL in the workspace (`<workspace URL>/dashboardsv3/<dashboard id>`). */
export function dashboardUrl(workspaceUrl: string, dashboardId: string): string {
    return `${workspaceUrl.replace(/\/+$/, "")}/dashboardsv3/${dashboardId}`;
}

export interface RunLogDashboardArgs {
    readonly displayName: string;
    /** The workspace folder the dashboard goes to (the stack's folder). */
    readonly parentPath: pulumi.Input<string>;
    /** The SQL warehouse that runs the dashboard's queries. */
    readonly warehouseId: string;
    /** The run log, quoted and fully qualified: `catalog`.`schema`.`table`. */
    readonly runLogTable: string;
    readonly workspaceUrl: pulumi.Input<string>;
}

/** The AI/BI dashboard over the run log: run time per orchestration mode, per-worker durations, failures and retries. */
export class RunLogDashboard extends pulumi.ComponentResource {
    public readonly dashboard: databricks.Dashboard;
    public readonly dashboardId: pulumi.Output<string>;
    public readonly url: pulumi.Output<string>;

    constructor(name: string, args: RunLogDashboardArgs, opts?: pulumi.ComponentResourceOptions) {
        super("orchestration:dashboard:RunLogDashboard", name, {}, opts);
        this.dashboard = new databricks.Dashboard(
            name,
            {
                displayName: args.displayName,
                parentPath: args.parentPath,
                warehouseId: args.warehouseId,
                serializedDashboard: JSON.stringify(runLogDashboard(args.runLogTable)),
                // Viewers of the published dashboard run its queries with their own permissions on the run log.
                embedCredentials: false,
            },
            { parent: this },
        );
        this.dashboardId = this.dashboard.id;
        this.url = pulumi.all([args.workspaceUrl, this.dashboard.id]).apply(([workspaceUrl, id]) => dashboardUrl(workspaceUrl, id));
        this.registerOutputs({ dashboardId: this.dashboardId, url: this.url });
    }
}
