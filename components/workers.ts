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

const NAME = /^[a-z][a-z0-9_]*$/;

/**
 * What is wrong with a list of worker definitions: every name, output table and source must be unique
 * (the name keys the run log, summaries, job parameters and config; two workers MERGEing into one table
 * would delete each other's rows), names must be lower-case identifiers, and each needs a merge key.
 */
export function workerDefinitionProblems(workers: readonly WorkerDefinition[]): string[] {
    const problems: string[] = [];
    for (const field of ["name", "outputTable", "source"] as const) {
        const seen = new Set<string>();
        for (const worker of workers) {
            if (seen.has(worker[field])) {
                problems.push(`two workers have ${field} '${worker[field]}'; expected each worker's ${field} to be unique`);
            }
            seen.add(worker[field]);
        }
    }
    for (const worker of workers) {
        if (!NAME.test(worker.name)) {
            problems.push(`worker name '${worker.name}'; expected lower-case letters, digits and underscores, starting with a letter`);
        }
        if (worker.mergeKey.length === 0) {
            problems.push(`worker '${worker.name}' has no merge key; expected at least one column`);
        }
    }
    return problems;
}

function checked(workers: readonly WorkerDefinition[]): readonly WorkerDefinition[] {
    const problems = workerDefinitionProblems(workers);
    if (problems.length > 0) {
        throw new Error(`Invalid worker definitions in components/workers.ts:\n  - ${problems.join("\n  - ")}`);
    }
    return workers;
}

export const WORKERS: readonly WorkerDefinition[] = checked([
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
]);

export const WORKER_NAMES: readonly string[] = WORKERS.map((w) => w.name);
