/**
 * The four ETL worker notebooks, in the order the sequential orchestrator runs them and the order
 * results are reported in. Each one reads the shared input table and MERGEs into its own table.
 */
export interface WorkerDefinition {
    /** Notebook name in the workspace and key used everywhere else (run log, summaries, config). */
    readonly name: string;
    /** Source file under notebooks/workers/. */
    readonly source: string;
    /** Output table name inside the stack's schema. */
    readonly outputTable: string;
    /** Column(s) the MERGE matches on. */
    readonly mergeKey: readonly string[];
    readonly description: string;
}

export const WORKERS: readonly WorkerDefinition[] = [
    {
        name: "customer_totals",
        source: "workers/customer_totals.py",
        outputTable: "customer_totals",
        mergeKey: ["customer_id"],
        description: "Order count, revenue and first/last order per customer",
    },
    {
        name: "daily_sales",
        source: "workers/daily_sales.py",
        outputTable: "daily_sales",
        mergeKey: ["order_date"],
        description: "Orders, units and revenue per calendar day",
    },
    {
        name: "product_sales",
        source: "workers/product_sales.py",
        outputTable: "product_sales",
        mergeKey: ["product_id"],
        description: "Units, revenue and distinct buyers per product",
    },
    {
        name: "order_status",
        source: "workers/order_status.py",
        outputTable: "order_status",
        mergeKey: ["order_id"],
        description: "Latest status of every order",
    },
];

export const WORKER_NAMES: readonly string[] = WORKERS.map((w) => w.name);
