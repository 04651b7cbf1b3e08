import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { expect } from "chai";
import { allNotebooks, PythonValue, renderOrchestrator, renderTemplate, toPythonLiteral, writeNotebooks } from "../components/render";
import { WORKERS } from "../components/workers";
import { orchestratorSettings } from "./support/notebooks";

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

    it("renders worker paths with quotes, backslashes and non-ASCII characters into both orchestrators as valid Python", () => {
        const strangePath = `/Users/o'brien "ops"/Zoë\\team/workers/daily_sales`;
        const settings = orchestratorSettings({ workers: [{ name: "daily_sales", path: strangePath, arguments: { schema: "s'1" } }] });
        for (const kind of ["sequential", "parallel"] as const) {
            const source = renderOrchestrator(kind, settings);
            const literal = source.slice(source.indexOf("WORKERS = ") + 10, source.indexOf("\n", source.indexOf("\n]") + 1));
            expect(pythonValue(literal)).to.deep.equal([{ name: "daily_sales", path: strangePath, arguments: { schema: "s'1" }, expected_seconds: null }]);
            expect(source).not.to.match(/\{\{/);
            expect(source, `${kind} appends its attempts to the run log`).to.contain(`RUN_LOG_TABLE = ${JSON.stringify(settings.runLogTable)}`);
        }
    });

    it("produces notebooks that are Databricks source files and compile as Python", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "notebooks-"));
        const files = writeNotebooks(dir, allNotebooks(orchestratorSettings()));
        expect(files.map((f) => path.relative(dir, f)).sort()).to.deep.equal(
            [
                "lib/etl.py",
                "for_each/worker.py",
                "lib/orchestration.py",
                "orchestrators/parallel.py",
                "orchestrators/sequential.py",
                "setup.py",
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
