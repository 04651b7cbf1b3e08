import { expect } from "chai";
import { workerDefinitionProblems, WORKERS } from "../components/workers";
import { exitSummary, renderedNotebookDir, runIn } from "./support/notebooks";

const WIDGETS = {
    catalog: "main",
    schema: "etl_test",
    input_table: "orders",
    run_log_table: "etl_run_log",
    orchestration_mode: "parallel",
    run_id: "4242",
    attempt: "2",
};

describe("the worker definitions", () => {
    it("are unique by name, output table and source, and each has a merge key", () => {
        expect(workerDefinitionProblems(WORKERS)).to.deep.equal([]);
        const [first, second] = WORKERS;
        expect(
            workerDefinitionProblems([first, { ...second, name: first.name }, { ...second, name: "Daily Sales", outputTable: "x", source: "y", mergeKey: [] }]),
        ).to.deep.equal([
            "two workers have name 'customer_totals'; expected each worker's name to be unique",
            "worker name 'Daily Sales'; expected lower-case letters, digits and underscores, starting with a letter",
            "worker 'Daily Sales' has no merge key; expected at least one column",
        ]);
        expect(workerDefinitionProblems([first, { ...second, outputTable: first.outputTable }])).to.deep.equal([
            "two workers have outputTable 'customer_totals'; expected each worker's outputTable to be unique",
        ]);
    });
});

describe("the worker notebooks, run locally against a fake spark", () => {
    const dir = renderedNotebookDir();

    for (const worker of WORKERS) {
        it(`${worker.name}: creates its table, MERGEs deduplicated orders on ${worker.mergeKey.join(", ")} (deleting keys that left the source), logs the run and exits with a summary`, async () => {
            const result = await runIn(dir, `workers/${worker.name}`, { widgets: WIDGETS, sql: [{ match: "^\\s*MERGE", rows: [{ num_affected_rows: 12 }] }] });
            const summary = exitSummary(result);
            expect(summary).to.include({
                worker: worker.name,
                status: "SUCCEEDED",
                rows_merged: 12,
                output_table: `main.etl_test.${worker.outputTable}`,
                run_id: "4242",
            });

            const [create, merge, log] = result.sql;
            expect(create.query).to.match(new RegExp(`^CREATE TABLE IF NOT EXISTS \`main\`\\.\`etl_test\`\\.\`${worker.outputTable}\` \\(.+\\) USING DELTA$`));
            expect(merge.query).to.contain(`MERGE INTO \`main\`.\`etl_test\`.\`${worker.outputTable}\` AS target`);
            expect(merge.query).to.match(/ROW_NUMBER\(\) OVER \(\s*PARTITION BY order_id\s*ORDER BY updated_at DESC NULLS LAST, /);
            expect(merge.query).to.contain("FROM `main`.`etl_test`.`orders`");
            expect(merge.query).to.contain(`ON ${worker.mergeKey.map((k) => `target.\`${k}\` = source.\`${k}\``).join(" AND ")}\n`);
            expect(merge.query).to.match(
                /WHEN MATCHED AND \(NOT \(target\.`\w+` <=> source\.`\w+`\)( OR NOT \(target\.`\w+` <=> source\.`\w+`\))*\) THEN UPDATE SET \*\nWHEN NOT MATCHED THEN INSERT \*\nWHEN NOT MATCHED BY SOURCE THEN DELETE$/,
            );
            for (const key of worker.mergeKey) {
                expect(create.query).to.contain(`\`${key}\``);
            }
            expect(log.query).to.contain("INSERT INTO `main`.`etl_test`.`etl_run_log`");
            expect(log.args).to.include({
                notebook: `workers/${worker.name}`,
                item: worker.name,
                mode: "parallel",
                run_id: "4242",
                attempt: 2,
                rows_merged: 12,
                status: "SUCCEEDED",
                error: null,
            });
            expect(result.sql).to.have.length(3);
        });
    }

    it("logs a failed MERGE to the run log, then fails the notebook run with the original error", async () => {
        const result = await runIn(dir, "workers/order_status", {
            widgets: WIDGETS,
            sql: [{ match: "^\\s*MERGE", error: "[DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE] boom" }],
        });
        expect(result.status).to.equal("raised");
        expect(result.error).to.contain("DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE");
        const log = result.sql.find((s) => s.query.includes("INSERT INTO"));
        expect(log?.args).to.include({ notebook: "workers/order_status", item: "order_status", status: "FAILED", rows_merged: 0 });
        expect(String(log?.args?.error)).to.contain("boom");
    });
});

describe("the setup notebook, run locally against a fake spark", () => {
    const dir = renderedNotebookDir();
    const setupWidgets = {
        catalog: "main",
        schema: "etl_test",
        input_table: "orders",
        run_log_table: "etl_run_log",
        sample_data: "true",
        sample_rows: "500",
        secret_scope: "nbo-test",
    };
    const secrets = { "nbo-test": { "source-db-password": "x" } };

    it("creates the schema, the input and run-log tables, and fills an empty input table with sample orders", async () => {
        const result = await runIn(dir, "setup", { widgets: setupWidgets, secrets, sql: [{ match: "SELECT COUNT", rows: [{ n: 0 }] }] });
        const summary = exitSummary(result);
        const queries = result.sql.map((s) => s.query.trim());
        expect(queries[0]).to.equal("CREATE SCHEMA IF NOT EXISTS `main`.`etl_test`");
        expect(queries[1]).to.match(/^CREATE TABLE IF NOT EXISTS `main`\.`etl_test`\.`orders` \(/);
        expect(queries[2]).to.match(/^CREATE TABLE IF NOT EXISTS `main`\.`etl_test`\.`etl_run_log` \(/);
        for (const column of ["notebook", "orchestration_mode", "run_id", "started_at", "finished_at", "duration_seconds", "rows_merged", "status"]) {
            expect(queries[2]).to.contain(column);
        }
        const insert = queries.find((q) => q.startsWith("INSERT INTO `main`.`etl_test`.`orders`"));
        expect(insert).to.contain("FROM range(500)");
        expect(summary).to.include({ schema: "main.etl_test", secret_scope: "nbo-test", secrets_visible: 1 });
    });

    it("leaves an input table that has rows alone", async () => {
        const result = await runIn(dir, "setup", { widgets: setupWidgets, secrets, sql: [{ match: "SELECT COUNT", rows: [{ n: 20 }] }] });
        exitSummary(result);
        expect(result.sql.some((s) => s.query.includes("FROM range("))).to.equal(false);
        expect(result.output).to.contain("already has 20 rows");
    });

    it("fails early with the fix when the secret scope cannot be read", async () => {
        const result = await runIn(dir, "setup", { widgets: setupWidgets, secrets: {}, sql: [{ match: "SELECT COUNT", rows: [{ n: 1 }] }] });
        expect(result.status).to.equal("raised");
        expect(result.error).to.contain("Cannot read secret scope 'nbo-test'");
        expect(result.error).to.contain("'Key Vault Secrets User' role");
    });

    it("rejects a sample_data value that is neither true nor false", async () => {
        const result = await runIn(dir, "setup", { widgets: { ...setupWidgets, sample_data: "yes" }, secrets });
        expect(result.error).to.equal("Parameter sample_data='yes'; expected true or false");
        expect(result.sql).to.have.length(0);
    });
});
