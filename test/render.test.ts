import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { expect } from "chai";
import { allNotebooks, OrchestratedItem, PythonValue, renderOrchestrator, renderTemplate, toPythonLiteral, writeNotebooks } from "../components/render";
import { WORKERS } from "../components/workers";
import { discoverNotebooks } from "../components/workItems";
import { orchestratorSettings } from "./support/notebooks";
import { renderedValue, TEAM_NOTEBOOKS } from "./support/stack";

/** Python's own reading of a literal, back as JSON. */
function pythonValue(literal: string): unknown {
    return JSON.parse(
        execFileSync("python3", ["-c", "import ast, json, sys; print(json.dumps(ast.literal_eval(sys.stdin.read())))"], { input: literal }).toString(),
    );
}

describe("rendering notebooks", () => {
    it("renders hostile strings as Python literals that Python reads back unchanged", () => {
        const value: PythonValue = {
            quotes: `it's "quoted"`,
            backslashes: "C:\\path\\to\\new\\table",
            unicode: "/Users/zoë@example.com/Mëtröpolis ✓ 数据",
            control: "line\nbreak\ttab\u0000nul\u2028sep",
            triple: `'''"""`,
            braces: "{{ not_a_placeholder }}",
            numbers: [0, -1, 2.5, 1e21],
            flags: [true, false, null],
            nested: { empty: {}, list: [] },
        };
        expect(pythonValue(toPythonLiteral(value))).to.deep.equal({ ...value, flags: [true, false, null] });
    });

    it("refuses a number Python would read differently", () => {
        expect(() => toPythonLiteral(Number.NaN)).to.throw(/only finite numbers/);
    });

    it("fills placeholders with data, and rejects a missing value or an unused one", () => {
        expect(renderTemplate("A = {{ a }}\nB = {{b}}\n", { a: "x", b: [1] }, "t")).to.equal('A = "x"\nB = [\n    1,\n]\n');
        expect(() => renderTemplate("A = {{ a }}", {}, "t")).to.throw("Template t: no value for placeholder(s) a");
        expect(() => renderTemplate("A = 1", { a: 1 }, "t")).to.throw("Template t: no placeholder for value(s) a");
    });

    it("renders items, common arguments, folder, known notebooks and query with quotes, backslashes and non-ASCII characters into both orchestrators as valid Python", () => {
        const strangeFolder = `/Users/o'brien "ops"/Zoë\\team`;
        const items: OrchestratedItem[] = [
            { name: "daily_sales", notebook: "workers/daily_sales", path: `${strangeFolder}/workers/daily_sales`, arguments: {} },
            {
                name: `ingest "orders" '24`,
                notebook: "/Shared/other team/ingest",
                path: "/Shared/other team/ingest",
                arguments: { table: 's\'1."t"', note: "a\nb ✓" },
                expectedSeconds: 12.5,
            },
        ];
        const query = "SELECT notebook, to_json(arguments) AS arguments FROM `main`.`ops`.`control` WHERE team = 'data \"eng\"'";
        const rendered = orchestratorSettings({
            items,
            notebookFolder: strangeFolder,
            commonArguments: { schema: "s'1" },
            knownNotebooks: ["workers/daily_sales", "ingest/ingest_table"],
            workItemsQuery: query,
        });
        for (const kind of ["sequential", "parallel"] as const) {
            const source = renderOrchestrator(kind, rendered);
            expect(renderedValue(source, "ITEMS")).to.deep.equal([
                { name: "daily_sales", notebook: "workers/daily_sales", path: `${strangeFolder}/workers/daily_sales`, arguments: {}, expected_seconds: null },
                { name: items[1].name, notebook: items[1].notebook, path: items[1].path, arguments: items[1].arguments, expected_seconds: 12.5 },
            ]);
            expect(renderedValue(source, "COMMON_ARGUMENTS")).to.deep.equal({ schema: "s'1" });
            expect(renderedValue(source, "NOTEBOOK_FOLDER")).to.equal(strangeFolder);
            expect(renderedValue(source, "KNOWN_NOTEBOOKS")).to.deep.equal(["workers/daily_sales", "ingest/ingest_table"]);
            expect(renderedValue(source, "WORK_ITEMS_QUERY")).to.equal(query);
            expect(source).not.to.match(/\{\{/);
            expect(source, `${kind} appends its attempts to the run log`).to.contain(`RUN_LOG_TABLE = ${JSON.stringify(rendered.runLogTable)}`);
        }
        expect(renderedValue(renderOrchestrator("parallel", orchestratorSettings()), "WORK_ITEMS_QUERY")).to.equal(null);
    });

    it("produces notebooks that are Databricks source files and compile as Python, a team's own notebooks included", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "notebooks-"));
        const team = discoverNotebooks(TEAM_NOTEBOOKS, "");
        expect(team.skipped.map((file) => path.relative(TEAM_NOTEBOOKS, file))).to.deep.equal([path.join("ingest", "table_names.py")]);
        const files = writeNotebooks(dir, allNotebooks(orchestratorSettings(), team.notebooks));
        expect(files.map((f) => path.relative(dir, f)).sort()).to.deep.equal(
            [
                "lib/etl.py",
                "for_each/worker.py",
                "lib/orchestration.py",
                "orchestrators/parallel.py",
                "orchestrators/sequential.py",
                "setup.py",
                "ingest/ingest_table.py",
                "reports/refresh_report.py",
                ...WORKERS.map((w) => `workers/${w.name}.py`),
            ].sort(),
        );
        for (const file of files) {
            const source = fs.readFileSync(file, "utf8");
            expect(source.split("\n")[0], file).to.equal("# Databricks notebook source");
            expect(source, file).to.contain("# COMMAND ----------");
        }
        execFileSync("python3", ["-c", "import py_compile, sys\nfor f in sys.argv[1:]: py_compile.compile(f, doraise=True)", ...files]);
    });
});
