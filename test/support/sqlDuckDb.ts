/**
 * Runs the notebooks' Spark SQL on DuckDB (@duckdb/node-api), through a small, mechanical dialect
 * mapping, so that tests can assert on the rows the statements really produce.
 *
 * The notebooks run under tools/local_databricks.py; with the scenario's `sql_engine` set to
 * `endpoint()`, their fake `spark.sql` sends each statement here and gets DuckDB's rows back, shaped as
 * Spark returns them (a MERGE or INSERT answers Delta's metrics row). docs/etl.md lists the mapping.
 */
import { DuckDBConnection, DuckDBInstance, DuckDBTypeId, DuckDBValue } from "@duckdb/node-api";
import * as http from "http";
import type { AddressInfo } from "net";
import { LITERAL_PLACEHOLDER, maskLiterals, MaskedSql, statementKind, unmaskLiterals } from "./sqlText";

export type Row = Record<string, unknown>;

/** Thrown for a statement the mapping cannot translate mechanically; it keeps the grammar check only. */
export class UnmappableStatement extends Error {
    constructor(reason: string, statement: string) {
        super(`Not mechanically mappable to DuckDB (${reason}): ${statement.trim().slice(0, 200)}`);
        this.name = "UnmappableStatement";
    }
}

const NAME_PART = '(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_]*)';
const COLUMN_REFERENCE = `${NAME_PART}(?:\\s*\\.\\s*${NAME_PART})*`;

/** `text` split at the commas outside parentheses: the columns of a list, whatever their types' commas. */
function topLevelParts(text: string): string[] {
    const parts: string[] = [];
    let depth = 0;
    let current = "";
    for (const char of text) {
        depth += char === "(" ? 1 : char === ")" ? -1 : 0;
        if (char === "," && depth === 0) {
            parts.push(current);
            current = "";
        } else {
            current += char;
        }
    }
    return [...parts, current];
}

interface MappingRule {
    readonly spark: string;
    readonly duckdb: string;
    readonly apply: (code: string) => string;
}

/**
 * The dialect mapping, applied in this order to the statement's code (string literals masked).
 * Each rule is a textual rewrite whose result means the same in DuckDB as the original in Spark;
 * `spark` and `duckdb` are Markdown, listed as they are in docs/etl.md (a test keeps the two in step).
 */
export const DIALECT_MAPPING: readonly MappingRule[] = [
    {
        spark: "`` `name` ``",
        duckdb: '`"name"`',
        apply: (code) => code.replace(/`((?:[^`]|``)*)`/g, (_m, name: string) => `"${name.replace(/``/g, "`").replace(/"/g, '""')}"`),
    },
    {
        spark: "`:name` (a named parameter of `spark.sql(query, args=...)`)",
        duckdb: "`$name`",
        apply: (code) => code.replace(/(?<![:\w$]):([A-Za-z_][A-Za-z0-9_]*)/g, (_m, name: string) => `$${name}`),
    },
    {
        spark: "`a <=> b` between column references",
        duckdb: "`a IS NOT DISTINCT FROM b`",
        apply: (code) => code.replace(new RegExp(`(${COLUMN_REFERENCE})\\s*<=>\\s*(${COLUMN_REFERENCE})`, "g"), "$1 IS NOT DISTINCT FROM $2"),
    },
    {
        spark: "`USING DELTA`, `COMMENT '...'` in `CREATE TABLE`",
        duckdb: "dropped (DuckDB has one table format and no inline comments)",
        apply: (code) => code.replace(/\bUSING\s+DELTA\b/gi, "").replace(new RegExp(`\\bCOMMENT\\s+${LITERAL_PLACEHOLDER}`, "gi"), ""),
    },
    {
        spark: "`FROM range(n)` (one BIGINT column, `id`)",
        duckdb: "`FROM range(n) AS spark_range(id)`",
        apply: (code) => code.replace(/\bFROM\s+range\s*\(([^()]*)\)/gi, "FROM range($1) AS spark_range(id)"),
    },
    {
        spark: "`timestampadd(UNIT, n, ts)`",
        duckdb: "`timestampadd('UNIT', n, ts)`, a macro with Spark's semantics, as is `pmod`",
        apply: (code) => code.replace(/\btimestampadd\s*\(\s*([A-Za-z]+)\s*,/gi, (_m, unit: string) => `timestampadd('${unit.toUpperCase()}',`),
    },
    {
        spark: "`array(...)`, `element_at(array, i)`",
        duckdb: "`list_value(...)`, `list_extract(list, i)` (both 1-based)",
        apply: (code) => code.replace(/\barray\s*\(/gi, "list_value(").replace(/\belement_at\s*\(/gi, "list_extract("),
    },
    {
        spark: "`DESCRIBE [TABLE] t` (rows `col_name`, `data_type`, `comment`)",
        duckdb: "`SELECT column_name AS col_name, column_type AS data_type, NULL AS comment FROM (DESCRIBE t)`",
        apply: (code) =>
            code.replace(
                /^\s*DESCRIBE\s+(?:TABLE\s+)?([\s\S]+?)\s*;?\s*$/i,
                "SELECT column_name AS col_name, column_type AS data_type, NULL AS comment FROM (DESCRIBE $1)",
            ),
    },
    {
        spark: "`ALTER TABLE t ADD COLUMNS (c1 T1, c2 T2)`",
        duckdb: "`ALTER TABLE t ADD COLUMN c1 T1; ALTER TABLE t ADD COLUMN c2 T2`",
        apply: (code) =>
            code.replace(/^\s*ALTER\s+TABLE\s+(\S+)\s+ADD\s+COLUMNS\s*\(([\s\S]*)\)\s*;?\s*$/i, (_m, table: string, columns: string) =>
                topLevelParts(columns)
                    .map((column) => `ALTER TABLE ${table} ADD COLUMN ${column.trim()}`)
                    .join("; "),
            ),
    },
    {
        spark: "`current_timestamp()`",
        duckdb: "`current_timestamp`",
        apply: (code) => code.replace(/\bcurrent_timestamp\s*\(\s*\)/gi, "current_timestamp"),
    },
    {
        spark: "`MERGE ... UPDATE SET alias.column = expr`",
        duckdb: "`UPDATE SET column = expr` (DuckDB takes no qualifier on the assigned column)",
        apply: (code) => {
            const alias = /^\s*MERGE\s+INTO\s+\S+\s+(?:AS\s+)?([A-Za-z_]\w*)/i.exec(code)?.[1];
            if (!alias) {
                return code;
            }
            return code.replace(/\bUPDATE\s+SET\s+(?!\*)([\s\S]*?)(?=\bWHEN\b|$)/gi, (assignments: string) =>
                assignments.replace(new RegExp(`(SET\\s+|,\\s*)${alias}\\s*\\.\\s*(${NAME_PART})\\s*=`, "gi"), "$1$2 ="),
            );
        },
    },
];

/** Spark built-ins DuckDB lacks, defined as DuckDB macros with Spark's semantics. */
export const SPARK_FUNCTION_MACROS: readonly string[] = [
    // pmod: the non-negative remainder (Spark's pmod), where % keeps the dividend's sign.
    "CREATE MACRO pmod(a, b) AS ((a % b) + b) % b",
    // unix_millis: milliseconds since the epoch of a timestamp (Spark 3.1+), DuckDB's epoch_ms.
    "CREATE MACRO unix_millis(ts) AS epoch_ms(ts)",
    "CREATE MACRO timestampadd(unit, n, ts) AS ts + CASE unit " +
        "WHEN 'SECOND' THEN to_seconds(CAST(n AS BIGINT)) WHEN 'MINUTE' THEN to_minutes(CAST(n AS BIGINT)) " +
        "WHEN 'HOUR' THEN to_hours(CAST(n AS BIGINT)) WHEN 'DAY' THEN to_days(CAST(n AS INTEGER)) END",
];

/** A Spark string literal ('...' or "...", backslash escapes) as a DuckDB literal ('...', '' for a quote). */
function duckDbLiteral(sparkLiteral: string): string {
    const escapes: Record<string, string> = { n: "\n", t: "\t", r: "\r", "0": "\u0000" };
    const value = sparkLiteral.slice(1, -1).replace(/\\(.)/gs, (_m, char: string) => escapes[char] ?? char);
    return `'${value.replace(/'/g, "''")}'`;
}

export interface MappedStatement {
    readonly sql: string;
    /** The statement's parameters, only those it references (DuckDB refuses unused ones). */
    readonly parameters: Record<string, DuckDBValue>;
}

/** Maps one Spark SQL statement to DuckDB, or throws UnmappableStatement naming what is left. */
export function mapToDuckDb(statement: string, args?: Readonly<Record<string, unknown>> | null): MappedStatement {
    const masked: MaskedSql = maskLiterals(statement);
    const code = DIALECT_MAPPING.reduce((text, rule) => rule.apply(text), masked.code);
    for (const [pattern, reason] of [
        [/<=>/, "<=> between expressions other than column references"],
        [/`/, "a backquote left after mapping identifiers"],
    ] as const) {
        if (pattern.test(code.replace(/"(?:[^"]|"")*"/g, '""'))) {
            throw new UnmappableStatement(reason, statement);
        }
    }
    const referenced = new Set([...code.matchAll(/\$([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]));
    const parameters: Record<string, DuckDBValue> = {};
    for (const name of referenced) {
        if (!args || !(name in args)) {
            throw new Error(`[UNBOUND_SQL_PARAMETER] Found the unbound parameter: ${name}. Statement: ${statement.trim().slice(0, 200)}`);
        }
        parameters[name] = args[name] as DuckDBValue;
    }
    return { sql: unmaskLiterals(masked, code, duckDbLiteral).trim(), parameters };
}

const INTEGRAL_OR_DECIMAL = new Set([DuckDBTypeId.BIGINT, DuckDBTypeId.HUGEINT, DuckDBTypeId.UBIGINT, DuckDBTypeId.DECIMAL]);

/** What a statement ran as, for tests that report on it. */
export interface ExecutedStatement {
    readonly statement: string;
    readonly mapped: string;
}

/**
 * A DuckDB database standing in for the workspace's metastore: each Spark catalog is an attached
 * in-memory database (DuckDB reserves the name `main`, so tests use another catalog name).
 */
export class SparkOnDuckDb {
    readonly executed: ExecutedStatement[] = [];
    private server?: http.Server;
    /** DuckDB runs one statement at a time per connection; the parallel orchestrator's threads queue here. */
    private queue: Promise<unknown> = Promise.resolve();

    private constructor(
        private readonly instance: DuckDBInstance,
        private readonly connection: DuckDBConnection,
    ) {}

    static async start(catalogs: readonly string[]): Promise<SparkOnDuckDb> {
        const instance = await DuckDBInstance.create(":memory:");
        const connection = await instance.connect();
        for (const catalog of catalogs) {
            await connection.run(`ATTACH ':memory:' AS "${catalog.replace(/"/g, '""')}"`);
        }
        for (const macro of SPARK_FUNCTION_MACROS) {
            await connection.run(macro);
        }
        return new SparkOnDuckDb(instance, connection);
    }

    /**
     * Runs a Spark SQL statement and answers as spark.sql would: the query's rows, Delta's metrics row
     * for MERGE (num_affected_rows, num_updated_rows, num_deleted_rows, num_inserted_rows) and INSERT
     * (num_affected_rows, num_inserted_rows), no rows for DDL. Numbers come back as JSON numbers.
     */
    sql(statement: string, args?: Readonly<Record<string, unknown>> | null): Promise<Row[]> {
        return this.serially(async () => {
            const mapped = mapToDuckDb(statement, args);
            const kind = statementKind(statement);
            const sql = kind === "MERGE" ? `${mapped.sql.trimEnd()}\nRETURNING merge_action` : mapped.sql;
            this.executed.push({ statement, mapped: sql });
            const reader = await this.connection.runAndReadAll(sql, mapped.parameters);
            const rows = reader.getRowObjectsJson();
            if (kind === "MERGE") {
                const count = (action: string) => rows.filter((row) => row.merge_action === action).length;
                const [updated, deleted, inserted] = [count("UPDATE"), count("DELETE"), count("INSERT")];
                return [{ num_affected_rows: rows.length, num_updated_rows: updated, num_deleted_rows: deleted, num_inserted_rows: inserted }];
            }
            if (kind === "INSERT") {
                const inserted = Number(rows[0]?.Count ?? 0);
                return [{ num_affected_rows: inserted, num_inserted_rows: inserted }];
            }
            if (kind !== "SELECT" && kind !== "WITH" && kind !== "DESCRIBE") {
                return [];
            }
            const numeric = reader.columnTypes().map((type) => INTEGRAL_OR_DECIMAL.has(type.typeId));
            const names = reader.columnNames();
            return rows.map((row) => Object.fromEntries(names.map((name, i) => [name, numeric[i] && row[name] !== null ? Number(row[name]) : row[name]])));
        });
    }

    /** Runs DuckDB SQL as it is (for a test's own reads and writes); values in DuckDB's JSON form. */
    query(sql: string): Promise<Row[]> {
        return this.serially(async () => (await this.connection.runAndReadAll(sql)).getRowObjectsJson());
    }

    /** URL of an HTTP endpoint that runs {query, args} and answers {rows} or {error}; started once. */
    async endpoint(): Promise<string> {
        if (!this.server) {
            const server = http.createServer((request, response) => {
                let body = "";
                request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
                request.on("end", () => {
                    const { query, args } = JSON.parse(body) as { query: string; args: Record<string, unknown> | null };
                    this.sql(query, args).then(
                        (rows) => response.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ rows })),
                        (error: Error) => response.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ error: error.message })),
                    );
                });
            });
            await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
            this.server = server;
        }
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/sql`;
    }

    async close(): Promise<void> {
        await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
        this.connection.closeSync();
        this.instance.closeSync();
    }

    private serially<T>(work: () => Promise<T>): Promise<T> {
        const next = this.queue.then(work, work);
        this.queue = next.catch(() => undefined);
        return next;
    }
}
