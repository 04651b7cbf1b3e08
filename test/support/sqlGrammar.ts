/**
 * A Spark SQL grammar check: dt-sql-parser's `SparkSQL`, an ANTLR port of Apache Spark's SqlBaseParser.g4.
 *
 * dt-sql-parser ships as ES modules with directory imports, which CommonJS (ts-node, mocha) cannot
 * require. The first use bundles its Spark parser with esbuild into build/sql-grammar/, keyed by both
 * packages' versions, and later runs load that bundle (about 2 MB, a few hundred milliseconds).
 */
import * as esbuild from "esbuild";
import * as fs from "fs";
import * as path from "path";
import { maskLiterals, unmaskLiterals } from "./sqlText";

const ROOT = path.join(__dirname, "..", "..");
const packageVersion = (name: string): string =>
    (JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;

interface SparkSqlParser {
    validate(sql: string): { startLine: number; startColumn: number; message: string }[];
}

let parser: SparkSqlParser | undefined;

function sparkSqlParser(): SparkSqlParser {
    if (!parser) {
        const bundle = path.join(ROOT, "build", "sql-grammar", `dt-sql-parser-${packageVersion("dt-sql-parser")}-esbuild-${packageVersion("esbuild")}.cjs`);
        if (!fs.existsSync(bundle)) {
            fs.mkdirSync(path.dirname(bundle), { recursive: true });
            const partial = `${bundle}.${process.pid}.tmp`;
            esbuild.buildSync({
                stdin: { contents: 'export { SparkSQL } from "dt-sql-parser/dist/parser/spark/index.js";', resolveDir: ROOT, loader: "js" },
                bundle: true,
                platform: "node",
                format: "cjs",
                outfile: partial,
                logLevel: "error",
            });
            fs.renameSync(partial, bundle); // whole file or none, should two test runs build at once
        }
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { SparkSQL } = require(bundle) as { SparkSQL: new () => SparkSqlParser };
        parser = new SparkSQL();
    }
    return parser;
}

const NAME_PART = "(?:`(?:[^`]|``)*`|[A-Za-z_][A-Za-z0-9_]*)";
const WRITTEN_TABLE = new RegExp(
    "(\\b(?:INSERT\\s+INTO|INSERT\\s+OVERWRITE(?:\\s+TABLE)?|MERGE\\s+INTO|UPDATE|DELETE\\s+FROM|CREATE\\s+TABLE(?:\\s+IF\\s+NOT\\s+EXISTS)?|" +
        "ALTER\\s+TABLE|DESCRIBE(?:\\s+TABLE)?(?:\\s+EXTENDED|\\s+FORMATTED)?)\\s+)" +
        `${NAME_PART}\\s*\\.\\s*(${NAME_PART}\\s*\\.\\s*${NAME_PART})`,
    "gi",
);

/**
 * The statement as the grammar check parses it. dt-sql-parser's rule for a table being written,
 * created, altered or described takes at most two name parts, where Spark's own grammar takes a
 * multipart name, so the catalog part of `catalog.schema.table` is dropped there (tables read in a
 * query keep all three parts).
 */
export function forGrammarCheck(statement: string): string {
    const masked = maskLiterals(statement);
    return unmaskLiterals(masked, masked.code.replace(WRITTEN_TABLE, "$1$2"));
}

/** What the Spark SQL grammar finds wrong with the statement: one message per error, [] when it parses. */
export function sparkSqlProblems(statement: string): string[] {
    return sparkSqlParser()
        .validate(forGrammarCheck(statement))
        .map((error) => `line ${error.startLine}, column ${error.startColumn}: ${error.message}`);
}
