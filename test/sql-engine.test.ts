/**
 * The setup and worker notebooks run locally with their spark.sql answered by DuckDB (through the
 * dialect mapping of test/support/sqlDuckDb.ts), and their tables are compared with a reference
 * computation written here, independently of the notebooks' SQL.
 */
import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { WORKERS } from "../components/workers";
import { DIALECT_MAPPING, mapToDuckDb, Row, SparkOnDuckDb, UnmappableStatement } from "./support/sqlDuckDb";
import { exitSummary, orchestratorSettings, renderedNotebookDir, runIn } from "./support/notebooks";

const CATALOG = "lakehouse";
const SCHEMA = "etl";
const WIDGETS = { catalog: CATALOG, schema: SCHEMA, input_table: "orders", run_log_table: "etl_run_log" };
const table = (name: string) => `"${CATALOG}"."${SCHEMA}"."${name}"`;

interface Order {
    readonly order_id: string;
    readonly customer_id: string | null;
    readonly product_id: string | null;
    readonly order_ts: string | null;
    readonly status: string | null;
    readonly quantity: number | null;
    readonly unit_price: string | null;
    readonly updated_at: string | null;
}

// ---------------------------------------------------------------------------------------------------
// The reference: what each table must hold, computed from the input rows in TypeScript.

/** The latest version of each order: newest updated_at, ties broken on the other columns (descending). */
function latestVersions(input: readonly Order[]): Order[] {
    const price = (order: Order) => (order.unit_price === null ? null : Number(order.unit_price));
    const rank = (order: Order) => [order.updated_at, order.status, order.quantity, price(order), order.customer_id, order.product_id, order.order_ts];
    const newer = (a: Order, b: Order): boolean => {
        const [x, y] = [rank(a), rank(b)];
        for (let i = 0; i < x.length; i++) {
            if (x[i] === y[i]) continue;
            if (x[i] === null) return false; // NULLS LAST
            if (y[i] === null) return true;
            return typeof x[i] === "number" ? Number(x[i]) > Number(y[i]) : String(x[i]) > String(y[i]);
        }
        return false;
    };
    const latest = new Map<string, Order>();
    for (const order of input) {
        const current = latest.get(order.order_id);
        if (!current || newer(order, current)) {
            latest.set(order.order_id, order);
        }
    }
    return [...latest.values()];
}

const cents = (price: string | null) => (price === null ? 0 : Math.round(Number(price) * 100));
const money = (amountInCents: number) => `${Math.floor(amountInCents / 100)}.${String(amountInCents % 100).padStart(2, "0")}`;

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
    const groups = new Map<string, T[]>();
    for (const item of items) {
        groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
    }
    return groups;
}

function sums(orders: readonly Order[]) {
    const units = orders.reduce((total, o) => total + (o.quantity ?? 0), 0);
    const revenue = orders.reduce((total, o) => total + (o.quantity ?? 0) * cents(o.unit_price), 0);
    return { units, revenue };
}

/** Every table's expected rows, in DuckDB's JSON form (BIGINT and DECIMAL as strings), sorted by key. */
function reference(input: readonly Order[]): Record<string, Row[]> {
    const latest = latestVersions(input);
    const live = latest.filter((o) => o.status !== null && o.status !== "CANCELLED");
    const timestamps = (orders: readonly Order[]) =>
        orders
            .map((o) => o.order_ts)
            .filter((t): t is string => t !== null)
            .sort();
    const customerTotals = [...groupBy(live, (o) => String(o.customer_id)).values()].map((orders) => ({
        customer_id: orders[0].customer_id,
        order_count: String(orders.length),
        units: String(sums(orders).units),
        revenue: money(sums(orders).revenue),
        first_order_ts: timestamps(orders)[0] ?? null,
        last_order_ts: timestamps(orders).at(-1) ?? null,
    }));
    const dailySales = [...groupBy(live, (o) => String(o.order_ts).slice(0, 10)).values()].map((orders) => ({
        order_date: String(orders[0].order_ts).slice(0, 10),
        orders: String(orders.length),
        units: String(sums(orders).units),
        revenue: money(sums(orders).revenue),
        customers: String(new Set(orders.map((o) => o.customer_id)).size),
    }));
    const productSales = [...groupBy(live, (o) => String(o.product_id)).values()].map((orders) => {
        const { units, revenue } = sums(orders);
        return {
            product_id: orders[0].product_id,
            units: String(units),
            revenue: money(revenue),
            // Rounded half up to cents, as Spark casts an exact decimal quotient; see averageMatches.
            average_unit_price: units === 0 ? null : money(Math.floor((2 * revenue + units) / (2 * units))),
            buyers: String(new Set(orders.map((o) => o.customer_id)).size),
        };
    });
    const orderStatus = latest.map((o) => ({
        order_id: o.order_id,
        customer_id: o.customer_id,
        status: o.status,
        order_ts: o.order_ts,
        status_updated_at: o.updated_at,
    }));
    return {
        customer_totals: sortRows(customerTotals, "customer_id"),
        daily_sales: sortRows(dailySales, "order_date"),
        product_sales: sortRows(productSales, "product_id"),
        order_status: sortRows(orderStatus, "order_id"),
    };
}

/** A row as text with its columns in name order, for comparisons that ignore column order. */
const canonical = (row: Row) => JSON.stringify(row, Object.keys(row).sort());

function sortRows(rows: Row[], key: string): Row[] {
    const value = (row: Row) => String(row[key]).padStart(20, "0");
    return [...rows].sort((a, b) => (value(a) < value(b) ? -1 : value(a) > value(b) ? 1 : 0));
}

/**
 * DuckDB divides DECIMALs in DOUBLE where Spark divides exactly: the two casts to DECIMAL(10,2) agree
 * except on an exact half cent, where DuckDB may round down. Only there is the lower cent accepted.
 */
function averageMatches(actual: string, expected: string, units: number, revenue: number): boolean {
    const exactHalf = (2 * revenue) % (2 * units) === units;
    return actual === expected || (exactHalf && cents(actual) === cents(expected) - 1);
}

// ---------------------------------------------------------------------------------------------------

describe("the ETL's SQL on a real engine (DuckDB), against a reference computed in the test", function () {
    this.timeout(60000);
    const RUN_LOG_TABLE = `\`${CATALOG}\`.\`${SCHEMA}\`.\`etl_run_log\``;
    const dir = renderedNotebookDir(orchestratorSettings({ commonArguments: WIDGETS, runLogTable: RUN_LOG_TABLE }));
    let db: SparkOnDuckDb;
    let engine: string;

    beforeEach(async () => {
        db = await SparkOnDuckDb.start([CATALOG]);
        engine = await db.endpoint();
        const setup = await runIn(dir, "setup", { widgets: { ...WIDGETS, sample_data: "true", sample_rows: "400", secret_scope: "" }, sql_engine: engine });
        expect(exitSummary(setup)).to.include({ sample_rows_inserted: 440 });
    });

    afterEach(() => db.close());

    async function runWorker(name: string, widgets: Record<string, string> = {}): Promise<Record<string, any>> {
        return exitSummary(await runIn(dir, `workers/${name}`, { widgets: { ...WIDGETS, ...widgets }, sql_engine: engine }));
    }

    /** Runs the four workers at once, as the parallel orchestrator may; returns each one's rows_merged. */
    async function runAllWorkers(widgets: Record<string, string> = {}): Promise<Record<string, number>> {
        const summaries = await Promise.all(WORKERS.map((worker) => runWorker(worker.name, widgets)));
        return Object.fromEntries(WORKERS.map((worker, i) => [worker.name, summaries[i].rows_merged as number]));
    }

    async function input(): Promise<Order[]> {
        return (await db.query(`SELECT * FROM ${table("orders")}`)) as unknown as Order[];
    }

    async function outputs(): Promise<Record<string, Row[]>> {
        const tables: Record<string, Row[]> = {};
        for (const worker of WORKERS) {
            tables[worker.outputTable] = sortRows(await db.query(`SELECT * FROM ${table(worker.outputTable)}`), worker.mergeKey[0]);
        }
        return tables;
    }

    async function expectOutputsToEqualReference(): Promise<void> {
        const orders = await input();
        const expected = reference(orders);
        const actual = await outputs();
        const live = latestVersions(orders).filter((o) => o.status !== null && o.status !== "CANCELLED");
        const productTotals = groupBy(live, (o) => String(o.product_id));
        for (const worker of WORKERS) {
            const key = worker.mergeKey[0];
            const wanted = new Map(expected[worker.outputTable].map((row) => [String(row[key]), row]));
            const got = new Map(actual[worker.outputTable].map((row) => [String(row[key]), row]));
            const differences: string[] = [];
            for (const [value, row] of wanted) {
                let found = got.get(value);
                if (found && worker.outputTable === "product_sales") {
                    const { units, revenue } = sums(productTotals.get(value) ?? []);
                    const close = averageMatches(String(found.average_unit_price), String(row.average_unit_price), units, revenue);
                    found = close ? { ...found, average_unit_price: row.average_unit_price } : found;
                }
                if (!found) {
                    differences.push(`missing ${key}=${value}: ${JSON.stringify(row)}`);
                } else if (canonical(found) !== canonical(row)) {
                    differences.push(`${key}=${value}: got ${JSON.stringify(found)}, expected ${JSON.stringify(row)}`);
                }
            }
            differences.push(
                ...[...got.keys()].filter((value) => !wanted.has(value)).map((value) => `extra ${key}=${value}: ${JSON.stringify(got.get(value))}`),
            );
            expect(differences.slice(0, 5), `${worker.outputTable} differs from the reference in ${differences.length} row(s)`).to.deep.equal([]);
        }
    }

    async function insertOrders(rows: readonly (readonly [number, string, string, string, string, number, string, string])[]): Promise<void> {
        const values = rows
            .map(
                ([id, customer, product, ts, status, quantity, price, updated]) =>
                    `(${id}, '${customer}', '${product}', TIMESTAMP '${ts}', '${status}', ${quantity}, ${price}, TIMESTAMP '${updated}')`,
            )
            .join(", ");
        await db.query(`INSERT INTO ${table("orders")} VALUES ${values}`);
    }

    it("setup's sample orders, MERGEd by the four workers, give tables equal to the reference", async () => {
        const merged = await runAllWorkers();
        await expectOutputsToEqualReference();
        const tables = await outputs();
        for (const worker of WORKERS) {
            expect(merged[worker.name], `${worker.name} inserted every row`).to.equal(tables[worker.outputTable].length);
        }
        // The sample has later versions (DELIVERED) of every tenth order: order_status shows them.
        expect(tables.order_status.find((row) => row.order_id === "10")).to.include({ status: "DELIVERED" });
    });

    it("a re-run over the same input changes nothing: every MERGE affects no row and the tables stay as they were", async () => {
        await runAllWorkers();
        const before = await outputs();
        const merged = await runAllWorkers();
        expect(merged).to.deep.equal(Object.fromEntries(WORKERS.map((w) => [w.name, 0])));
        expect(await outputs()).to.deep.equal(before);
    });

    it("removes the rows of keys that left a worker's source: a fully cancelled day, a customer's only order cancelled, a deleted order", async () => {
        await insertOrders([[90001, "C9001", "P9001", "2026-03-03 10:00:00", "PLACED", 2, "10.00", "2026-03-03 10:00:00"]]);
        await runAllWorkers();
        expect((await outputs()).daily_sales.some((row) => row.order_date === "2026-03-03")).to.equal(true);

        // Every order of 2026-01-02 gets a newer CANCELLED version; the new customer's only order too.
        const day = await db.query(`SELECT * FROM ${table("orders")} WHERE CAST(order_ts AS DATE) = DATE '2026-01-02'`);
        expect(day.length).to.be.greaterThan(0);
        await db.query(
            `INSERT INTO ${table("orders")} SELECT order_id, customer_id, product_id, order_ts, 'CANCELLED', quantity, unit_price, ` +
                `TIMESTAMP '2026-06-01 00:00:00' FROM ${table("orders")} WHERE CAST(order_ts AS DATE) = DATE '2026-01-02' OR order_id = 90001`,
        );
        await db.query(`DELETE FROM ${table("orders")} WHERE order_id = 7`);
        const merged = await runAllWorkers();

        const tables = await outputs();
        expect(tables.daily_sales.map((row) => row.order_date)).not.to.include.members(["2026-01-02", "2026-03-03"]);
        expect(tables.customer_totals.map((row) => row.customer_id)).not.to.include("C9001");
        expect(tables.product_sales.map((row) => row.product_id)).not.to.include("P9001");
        expect(tables.order_status.map((row) => row.order_id)).not.to.include("7");
        expect(tables.order_status.find((row) => row.order_id === "90001")).to.include({ status: "CANCELLED" });
        expect(merged.daily_sales).to.be.greaterThan(0);
        await expectOutputsToEqualReference();
        expect(await runAllWorkers(), "and a re-run still changes nothing").to.deep.equal(Object.fromEntries(WORKERS.map((w) => [w.name, 0])));
    });

    it("late-arriving versions: an older version arriving later changes nothing; a newer one moves the order to its new day, product and customer", async () => {
        await runAllWorkers();
        const before = await outputs();
        const [order] = await db.query(`SELECT * FROM ${table("orders")} WHERE order_id = 3`);
        await insertOrders([[3, "C9003", "P9003", "2026-05-05 05:00:00", "CANCELLED", 5, "99.99", "2025-12-31 00:00:00"]]);
        expect(await runAllWorkers(), "an older version changes nothing").to.deep.equal(Object.fromEntries(WORKERS.map((w) => [w.name, 0])));
        expect(await outputs()).to.deep.equal(before);

        await insertOrders([[3, "C9003", "P9003", "2026-05-05 05:00:00", "PAID", 5, "99.99", "2026-07-01 00:00:00"]]);
        await runAllWorkers();
        const tables = await outputs();
        expect(tables.order_status.find((row) => row.order_id === "3")).to.include({ customer_id: "C9003", status: "PAID", order_ts: "2026-05-05 05:00:00" });
        expect(tables.daily_sales.find((row) => row.order_date === "2026-05-05")).to.include({ orders: "1", units: "5", revenue: "499.95" });
        expect(tables.product_sales.find((row) => row.product_id === "P9003")).to.include({ units: "5", average_unit_price: "99.99" });
        expect(String(order.order_ts).slice(0, 10)).not.to.equal("2026-05-05");
        await expectOutputsToEqualReference();
    });

    it("after rounds of random input changes (new orders, new versions, cancellations, deletions), every table still equals the reference", async () => {
        let seed = 20261201;
        const random = (n: number) => {
            seed = (seed * 1103515245 + 12345) % 2147483648; // a fixed LCG: the same rounds on every run
            return seed % n;
        };
        const statuses = ["PLACED", "PAID", "SHIPPED", "CANCELLED", "DELIVERED"];
        const updated = (round: number) => `2026-0${2 + round}-01 00:00:00`;
        await runAllWorkers();
        for (let round = 1; round <= 3; round++) {
            const rows = Array.from({ length: 25 }, () => {
                const day = String(1 + random(9)).padStart(2, "0");
                const ts = `2026-01-${day} ${String(random(24)).padStart(2, "0")}:00:00`;
                const updatedAt = `${updated(round).slice(0, -1)}${random(2)}`;
                return [
                    random(60) + (random(4) === 0 ? 95000 : 0),
                    `C${random(30)}`,
                    `P${random(12)}`,
                    ts,
                    statuses[random(5)],
                    random(5),
                    `${1 + random(50)}.${random(100)}`,
                    updatedAt,
                ] as const;
            });
            // A product whose only order has no units: its average price is NULL, not a division by zero.
            await insertOrders([...rows, [96000 + round, "C0", `P-ZERO-${round}`, "2026-01-05 10:00:00", "PAID", 0, "9.99", updated(round)]]);
            await db.query(`DELETE FROM ${table("orders")} WHERE order_id IN (${random(400)}, ${random(400)})`);
            await runAllWorkers();
            await expectOutputsToEqualReference();
        }
    });

    it("setup brings a run log of the first version up to the current columns, keeping its rows", async () => {
        const current = (await db.query(`DESCRIBE ${table("etl_run_log")}`)).map((c) => `${c.column_name} ${c.column_type}`);
        const old = await SparkOnDuckDb.start([CATALOG]);
        try {
            await old.query(`CREATE SCHEMA "${CATALOG}"."${SCHEMA}"`);
            await old.query(
                `CREATE TABLE ${table("etl_run_log")} (notebook VARCHAR, orchestration_mode VARCHAR, run_id VARCHAR, attempt INTEGER, started_at TIMESTAMP, ` +
                    `finished_at TIMESTAMP, duration_seconds DOUBLE, rows_merged BIGINT, status VARCHAR, error VARCHAR)`,
            );
            await old.query(`INSERT INTO ${table("etl_run_log")} (notebook, status) VALUES ('daily_sales', 'SUCCEEDED')`);
            const setup = await runIn(dir, "setup", { widgets: { ...WIDGETS, sample_rows: "10", secret_scope: "" }, sql_engine: await old.endpoint() });
            exitSummary(setup);
            expect((await old.query(`DESCRIBE ${table("etl_run_log")}`)).map((c) => `${c.column_name} ${c.column_type}`)).to.deep.equal(current);
            expect(await old.query(`SELECT notebook, status FROM ${table("etl_run_log")}`)).to.deep.equal([{ notebook: "daily_sales", status: "SUCCEEDED" }]);
        } finally {
            await old.close();
        }
    });

    it("appends one run-log row per worker run, with the summary's figures, and one for a failed run", async () => {
        const first = await runWorker("daily_sales", { orchestration_mode: "parallel", run_id: "77", attempt: "1" });
        const second = await runWorker("daily_sales", { orchestration_mode: "parallel", run_id: "78", attempt: "2" });
        const failed = await runIn(dir, "workers/order_status", {
            widgets: { ...WIDGETS, orchestration_mode: "sequential", run_id: "79" },
            sql_engine: engine,
            sql: [{ match: "^\\s*MERGE", error: "[DELTA_CONCURRENT_APPEND] injected" }],
        });
        expect(failed.status).to.equal("raised");
        const log = await db.query(
            `SELECT notebook, orchestration_mode, run_id, attempt, rows_merged, status, error FROM ${table("etl_run_log")} ORDER BY run_id`,
        );
        expect(log.map(({ error, ...row }) => ({ ...row, failed: error !== null }))).to.deep.equal([
            {
                notebook: "workers/daily_sales",
                orchestration_mode: "parallel",
                run_id: "77",
                attempt: 1,
                rows_merged: String(first.rows_merged),
                status: "SUCCEEDED",
                failed: false,
            },
            {
                notebook: "workers/daily_sales",
                orchestration_mode: "parallel",
                run_id: "78",
                attempt: 2,
                rows_merged: String(second.rows_merged),
                status: "SUCCEEDED",
                failed: false,
            },
            { notebook: "workers/order_status", orchestration_mode: "sequential", run_id: "79", attempt: 1, rows_merged: "0", status: "FAILED", failed: true },
        ]);
        expect(await db.query(`SELECT DISTINCT item, arguments FROM ${table("etl_run_log")} ORDER BY item`)).to.deep.equal([
            { item: "daily_sales", arguments: null },
            { item: "order_status", arguments: null },
        ]);
        expect(String(log[2].error)).to.contain("DELTA_CONCURRENT_APPEND");
    });

    it("the parallel orchestrator's run-log statements run on the engine: a second run orders its workers from the first run's rows", async () => {
        const orchestrate = async () =>
            exitSummary(
                await runIn(dir, "orchestrators/parallel", {
                    widgets: { run_id: "1" },
                    sql_engine: engine,
                    workers: Object.fromEntries(WORKERS.map((w) => [w.name, { attempts: [{ seconds: 1 }] }])),
                }),
            );
        expect((await orchestrate()).order_source).to.equal("declared");
        expect((await orchestrate()).order_source).to.match(/^run_log_parallel/);
    });

    const REGIONS = ["eu", "us", "apac"].map((region) => ({ notebook: "workers/daily_sales", arguments: { region } }));

    it("items of one notebook get their own run-log rows (item, canonical arguments), and their own history in the next run", async () => {
        const orchestrate = async (items: unknown[], run_id: string) =>
            exitSummary(
                await runIn(dir, "orchestrators/parallel", {
                    widgets: { items: JSON.stringify(items), run_id },
                    sql_engine: engine,
                    workers: { daily_sales: { attempts: [{ seconds: 1 }] } },
                }),
            );
        expect((await orchestrate(REGIONS, "r1")).order_source).to.equal("declared");
        expect(await db.query(`SELECT notebook, item, arguments, recorded_by FROM ${table("etl_run_log")} WHERE run_id = 'r1' ORDER BY item`)).to.deep.equal(
            ["apac", "eu", "us"].map((region) => ({
                notebook: "workers/daily_sales",
                item: `daily_sales(region=${region})`,
                arguments: `{"region":"${region}"}`,
                recorded_by: "orchestrator",
            })),
        );
        const second = await orchestrate([...REGIONS, { notebook: "workers/daily_sales", arguments: { region: "latam" } }], "r2");
        expect(second.estimate_sources).to.deep.equal({
            "daily_sales(region=eu)": "run_log_parallel",
            "daily_sales(region=us)": "run_log_parallel",
            "daily_sales(region=apac)": "run_log_parallel",
            "daily_sales(region=latam)": "notebook_run_log_parallel",
        });
    });

    it("the work-items query runs on the engine over a control table, its rows becoming the run's items", async () => {
        await db.query(`CREATE TABLE ${table("ingest_control")} (notebook VARCHAR, arguments VARCHAR, name VARCHAR, expected_seconds DOUBLE, enabled BOOLEAN)`);
        await db.query(
            `INSERT INTO ${table("ingest_control")} VALUES ('workers/daily_sales', '{"region": "eu"}', NULL, 20, true), ` +
                `('workers/daily_sales', '{"region": "us"}', 'us', 90, true), ('workers/daily_sales', '{"region": "off"}', NULL, 1, false), ` +
                `('workers/order_status', NULL, NULL, NULL, true)`,
        );
        const query = `SELECT notebook, arguments, name, expected_seconds FROM \`${CATALOG}\`.\`${SCHEMA}\`.\`ingest_control\` WHERE enabled ORDER BY notebook, name`;
        const fromQuery = renderedNotebookDir(
            orchestratorSettings({ commonArguments: WIDGETS, runLogTable: RUN_LOG_TABLE, workItemsQuery: query, maxWorkers: 1 }),
        );
        const result = await runIn(fromQuery, "orchestrators/parallel", {
            widgets: { run_id: "q1" },
            sql_engine: engine,
            workers: { daily_sales: { attempts: [{ seconds: 1 }] }, order_status: { attempts: [{ seconds: 1 }] } },
        });
        const summary = exitSummary(result);
        expect(summary.items_source).to.equal("work_items_query");
        expect(summary.dispatch_order).to.deep.equal(["order_status", "us", "daily_sales(region=eu)"]);
        expect(result.calls.map((call) => call.arguments.region ?? null)).to.deep.equal([null, "us", "eu"]);
        expect(await db.query(`SELECT item, arguments FROM ${table("etl_run_log")} WHERE run_id = 'q1' ORDER BY item`)).to.deep.equal([
            { item: "daily_sales(region=eu)", arguments: '{"region":"eu"}' },
            { item: "order_status", arguments: "{}" },
            { item: "us", arguments: '{"region":"us"}' },
        ]);
    });
});

describe("the Spark-to-DuckDB dialect mapping", () => {
    it("maps quoted identifiers, parameter markers, null-safe equality and Spark's string escapes", () => {
        const mapped = mapToDuckDb("SELECT `a``b`.`c` FROM t WHERE NOT (target.`x` <=> source.`x`) AND s = 'it\\'s' AND d = \"q\" AND n = :n", {
            n: 3,
            unused: 1,
        });
        expect(mapped.sql).to.equal(`SELECT "a\`b"."c" FROM t WHERE NOT (target."x" IS NOT DISTINCT FROM source."x") AND s = 'it''s' AND d = 'q' AND n = $n`);
        expect(mapped.parameters).to.deep.equal({ n: 3 });
    });

    it("maps Spark's DDL forms DuckDB spells differently", () => {
        expect(mapToDuckDb("ALTER TABLE `c`.`s`.`t` ADD COLUMNS (wall_seconds DOUBLE, price DECIMAL(10,2))").sql).to.equal(
            'ALTER TABLE "c"."s"."t" ADD COLUMN wall_seconds DOUBLE; ALTER TABLE "c"."s"."t" ADD COLUMN price DECIMAL(10,2)',
        );
        expect(mapToDuckDb("DESCRIBE TABLE `c`.`s`.`t`").sql).to.equal(
            'SELECT column_name AS col_name, column_type AS data_type, NULL AS comment FROM (DESCRIBE "c"."s"."t")',
        );
        expect(mapToDuckDb("CREATE TABLE IF NOT EXISTS t (a STRING) USING DELTA COMMENT 'the table'").sql).to.equal("CREATE TABLE IF NOT EXISTS t (a STRING)");
    });

    it("leaves string literals alone while rewriting the code around them", () => {
        expect(mapToDuckDb("SELECT ':x <=> `y`' AS s").sql).to.equal("SELECT ':x <=> `y`' AS s");
    });

    it("is listed rule by rule in docs/etl.md", () => {
        const docs = fs.readFileSync(path.join(__dirname, "..", "docs", "etl.md"), "utf8");
        for (const rule of DIALECT_MAPPING) {
            expect(docs).to.contain(`| ${rule.spark} | ${rule.duckdb} |`);
        }
    });

    it("says so when a statement cannot be mapped mechanically", () => {
        expect(() => mapToDuckDb("SELECT * FROM t WHERE a + 1 <=> b")).to.throw(UnmappableStatement, /<=> between expressions other than column references/);
    });

    it("refuses a statement whose parameter has no value, as Spark does", () => {
        expect(() => mapToDuckDb("SELECT :missing")).to.throw(/UNBOUND_SQL_PARAMETER.*missing/);
    });
});
