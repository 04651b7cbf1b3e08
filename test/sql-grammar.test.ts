/**
 * Every SQL statement the deployed notebooks send to spark.sql, parsed with a Spark SQL grammar and
 * replayed on DuckDB. The statements are captured by running the notebooks the stack uploads (setup,
 * the workers, both orchestrators and, with the asynchronous fan-out on, the dispatcher) under the
 * local fakes, whose spark records each statement, so a statement added to any notebook is checked
 * without touching this test.
 */
import { expect } from "chai";
import { WORKERS } from "../components/workers";
import type { NotebookResult } from "../tools/localRun";
import { CAPTURE_CATALOG, CapturedStatement, captureStatements } from "./support/sqlCapture";
import { SparkOnDuckDb } from "./support/sqlDuckDb";
import { forGrammarCheck, sparkSqlProblems } from "./support/sqlGrammar";

/**
 * Statements that run on Databricks but cannot run on DuckDB through the mechanical mapping, each with
 * the reason; they keep the grammar check only. Keyed by a pattern of the statement.
 */
const GRAMMAR_ONLY: readonly { readonly pattern: RegExp; readonly reason: string }[] = [];

describe("every SQL statement the deployed notebooks send", function () {
    this.timeout(120000);
    let captured: CapturedStatement[];
    let results: Record<string, NotebookResult>;

    before(async () => {
        ({ statements: captured, results } = await captureStatements());
    });

    it("is captured from setup, every worker, both orchestrators and the dispatcher", () => {
        for (const notebook of [
            "setup",
            ...WORKERS.map((w) => `workers/${w.name}`),
            "orchestrators/sequential",
            "orchestrators/parallel",
            "async/dispatcher",
        ]) {
            const sent = captured.filter((s) => s.notebook === notebook);
            expect(sent.length, `${notebook} sent no SQL (${results[notebook]?.status}: ${results[notebook]?.error})`).to.be.greaterThan(0);
        }
        expect(captured.map((s) => s.query).join("\n")).to.match(/WHEN NOT MATCHED BY SOURCE THEN DELETE/);
    });

    it("parses with the Spark SQL grammar", () => {
        const distinct = [...new Map(captured.map((s) => [s.query, s])).values()];
        const problems = distinct.flatMap((s) => sparkSqlProblems(s.query).map((problem) => `${s.notebook}: ${problem}\n${forGrammarCheck(s.query).trim()}`));
        expect(problems, problems.join("\n\n")).to.deep.equal([]);
    });

    it("rejects them once a typo is put in", () => {
        const merge = captured.find((s) => s.notebook === "workers/daily_sales" && /^\s*MERGE/.test(s.query));
        const log = captured.find((s) => s.notebook === "workers/daily_sales" && /^\s*INSERT/.test(s.query));
        expect(sparkSqlProblems(String(merge?.query).replace("WHEN NOT MATCHED BY SOURCE", "WHEN NOT MATCHED BY SORCE"))).to.have.length.greaterThan(0);
        expect(sparkSqlProblems(String(merge?.query).replace("GROUP BY", "GROUP BY BY"))).to.have.length.greaterThan(0);
        expect(sparkSqlProblems(String(log?.query).replace("VALUES", "VALUE"))).to.have.length.greaterThan(0);
    });

    it("runs on DuckDB in the order the notebooks sent it, or is listed as grammar-only with the reason", async () => {
        const db = await SparkOnDuckDb.start([CAPTURE_CATALOG]);
        const failures: string[] = [];
        try {
            for (const statement of captured) {
                if (GRAMMAR_ONLY.some((entry) => entry.pattern.test(statement.query))) {
                    continue;
                }
                await db
                    .sql(statement.query, statement.args)
                    .catch((error: Error) => failures.push(`${statement.notebook}: ${error.message}\n${statement.query.trim()}`));
            }
        } finally {
            await db.close();
        }
        expect(failures, failures.join("\n\n")).to.deep.equal([]);
    });
});

describe("the Spark SQL grammar check", function () {
    this.timeout(30000);

    it("rejects a mistyped statement, naming where", () => {
        expect(sparkSqlProblems("SELEC notebook FROM `main`.`s`.`etl_run_log`")).to.deep.equal([
            "line 1, column 1: 'SELEC' is not valid at this position, expecting a keyword",
        ]);
        const merge = "MERGE INTO `main`.`s`.`t` AS target USING (SELECT 1 AS k) AS source ON target.k = source.k WHEN NOT MATCHED BY SOURCE THEN DELET";
        expect(sparkSqlProblems(merge)).to.have.length.greaterThan(0);
        expect(sparkSqlProblems("INSERT INTO `main`.`s`.`t` (a, b) VALUES (:a, CAST(:b AS TIMESTAMP)")).to.have.length.greaterThan(0);
    });

    it("accepts three-part names of written tables by dropping the catalog for the grammar only", () => {
        expect(forGrammarCheck("MERGE INTO `main`.`s`.`t` AS target USING `main`.`s`.`u` AS source ON true WHEN MATCHED THEN DELETE")).to.equal(
            "MERGE INTO `s`.`t` AS target USING `main`.`s`.`u` AS source ON true WHEN MATCHED THEN DELETE",
        );
        expect(forGrammarCheck("INSERT INTO main.s.t VALUES ('main.s.t')")).to.equal("INSERT INTO s.t VALUES ('main.s.t')");
        expect(sparkSqlProblems("CREATE TABLE IF NOT EXISTS `main`.`s`.`t` (a STRING) USING DELTA")).to.deep.equal([]);
    });
});
