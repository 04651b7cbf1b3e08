import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { expect } from "chai";
import { parseStackConfig, StackConfigError } from "../components/config";
import {
    canonicalArguments,
    DEFAULT_WORK_ITEMS,
    defaultItemName,
    discoverNotebooks,
    FOR_EACH_INPUTS_LIMIT,
    forEachShape,
    parseWorkItems,
    WorkItem,
} from "../components/workItems";
import { WORKERS } from "../components/workers";
import { configSource, PROJECT, REQUIRED_CONFIG } from "./support/stack";

const FOLDER = "/Shared/notebook-orchestration/dev";
const KNOWN = ["workers/daily_sales", "workers/order_status", "ingest/ingest_table"];
const context = { knownNotebooks: KNOWN, folder: FOLDER };

function problems(value: unknown): string[] {
    return parseWorkItems(value, context).problems;
}

function teamFolder(files: Record<string, string>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "team-notebooks-"));
    for (const [relative, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(dir, relative)), { recursive: true });
        fs.writeFileSync(path.join(dir, relative), text);
    }
    return dir;
}

const NOTEBOOK = "# Databricks notebook source\ndbutils.widgets.text('table', '')\n";

describe("work items", () => {
    it("default to the four ETL workers, named as before, in the sequential order", () => {
        expect(DEFAULT_WORK_ITEMS.map((item) => [item.notebook, item.name])).to.deep.equal(WORKERS.map((w) => [`workers/${w.name}`, w.name]));
        expect(DEFAULT_WORK_ITEMS.every((item) => Object.keys(item.arguments).length === 0)).to.equal(true);
    });

    it("are named after the notebook, and after their arguments (keys sorted) when they have any", () => {
        expect(defaultItemName("ingest/ingest_table", {})).to.equal("ingest_table");
        expect(defaultItemName("/Workspace/Shared/team/load", { table: "sales.orders", mode: "full" })).to.equal("load(mode=full, table=sales.orders)");
        expect(canonicalArguments({ table: "b", mode: "a" })).to.equal('{"mode":"a","table":"b"}');
        expect(canonicalArguments({})).to.equal("{}");
    });

    it("read the shared JSON shape: objects, bare notebook paths, absolute paths, absolute paths inside the stack's folder (with or without /Workspace)", () => {
        const { items, problems: found } = parseWorkItems(
            [
                { notebook: "ingest/ingest_table", arguments: { table: "sales.orders" }, expected_seconds: 300 },
                { notebook: "ingest/ingest_table", arguments: { table: "sales.customers" }, name: "customers" },
                "workers/daily_sales",
                { notebook: "/Workspace/Shared/other/notebook" },
                { notebook: `${FOLDER}/workers/order_status` },
                { notebook: `/Workspace${FOLDER}/ingest/ingest_table` },
            ],
            context,
        );
        expect(found).to.deep.equal([]);
        expect(items).to.deep.equal([
            { notebook: "ingest/ingest_table", arguments: { table: "sales.orders" }, name: "ingest_table(table=sales.orders)", expectedSeconds: 300 },
            { notebook: "ingest/ingest_table", arguments: { table: "sales.customers" }, name: "customers" },
            { notebook: "workers/daily_sales", arguments: {}, name: "daily_sales" },
            { notebook: "/Workspace/Shared/other/notebook", arguments: {}, name: "notebook" },
            { notebook: "workers/order_status", arguments: {}, name: "order_status" },
            { notebook: "ingest/ingest_table", arguments: {}, name: "ingest_table" },
        ] satisfies WorkItem[]);
    });

    it("name every problem of a list at once, each with its item and what is expected", () => {
        const found = problems([
            { notebook: "ingest/ingest_tabel", arguments: { table: "a" } },
            { notebook: "ingest/ingest_table", arguments: { table: 7, run_id: "x", "": "y" } },
            { notebook: "ingest/ingest_table", argument: { table: "a" } },
            { notebook: "ingest/ingest_table", arguments: { table: "b" }, expected_seconds: -1 },
            { notebook: "ingest/ingest_table", arguments: { table: "c" } },
            { notebook: "ingest/ingest_table", arguments: { table: "c" } },
            { notebook: "workers/daily_sales", name: "orders" },
            { notebook: "workers/order_status", name: "orders" },
            42,
            { arguments: {} },
        ]);
        expect(found).to.deep.equal([
            'item 1: unknown notebook "ingest/ingest_tabel" (did you mean "ingest/ingest_table"?); expected one of the uploaded notebooks (workers/daily_sales, workers/order_status, ingest/ingest_table) or an absolute workspace path starting with /',
            'item 2: argument "table" is number 7; expected a string (widget values are strings: write "7")',
            'item 2: argument "run_id" is set by the orchestrator on every attempt; expected other widget names than orchestration_mode, run_id, attempt, work_item',
            "item 2: an argument has an empty name; expected widget names",
            'item 3: unknown field "argument" (did you mean "arguments"?); expected notebook, arguments, name, expected_seconds',
            'item 4: "expected_seconds" is number -1; expected a number of seconds >= 0',
            'item 9: expected an object with "notebook" (and optional "arguments", "name", "expected_seconds") or a notebook path, got number 42',
            'item 10: "notebook" is missing; expected a notebook path',
            'item 6: duplicate item: same notebook "ingest/ingest_table" and arguments {"table":"c"} as item 5; expected each item once',
            'item 8: name "orders" is also item 7\'s; expected unique names (set "name" on one of them)',
        ]);
    });

    it("must be a non-empty JSON array", () => {
        expect(problems({ notebook: "workers/daily_sales" })).to.deep.equal(["expected a JSON array of work items, got an object"]);
        expect(problems([])).to.deep.equal(["expected at least one work item, got an empty array"]);
    });

    it("run as a For each task when they are the ETL workers or one notebook over the same argument names", () => {
        expect(forEachShape(DEFAULT_WORK_ITEMS)).to.deep.equal({ kind: "etl-workers", inputs: WORKERS.map((w) => w.name) });
        const tables: WorkItem[] = ["a", "b"].map((table) => ({ notebook: "ingest/ingest_table", arguments: { table }, name: table }));
        expect(forEachShape(tables)).to.deep.equal({
            kind: "one-notebook",
            notebook: "ingest/ingest_table",
            argumentNames: ["table"],
            inputs: [
                { table: "a", work_item: "a" },
                { table: "b", work_item: "b" },
            ],
        });
        const mixed = forEachShape([...tables, { notebook: "workers/daily_sales", arguments: {}, name: "daily_sales" }]);
        expect(mixed.kind === "unsupported" && mixed.reason).to.contain("the items use 2 (ingest/ingest_table, workers/daily_sales)");
        const keys = forEachShape([tables[0], { notebook: "ingest/ingest_table", arguments: { table: "c", mode: "full" }, name: "c" }]);
        expect(keys.kind === "unsupported" && keys.reason).to.contain("different argument names ({table}, {mode,table})");
        const many: WorkItem[] = Array.from({ length: 400 }, (_, i) => ({
            notebook: "ingest/ingest_table",
            arguments: { table: `schema.table_${i}` },
            name: `t${i}`,
        }));
        const tooLong = forEachShape(many);
        expect(tooLong.kind === "unsupported" && tooLong.reason).to.match(new RegExp(`over Databricks' limit of ${FOR_EACH_INPUTS_LIMIT}`));
    });

    it("find a team's notebooks by their Databricks header, and skip other Python files", () => {
        const dir = teamFolder({ "ingest_table.py": NOTEBOOK, "bronze/load.py": NOTEBOOK, "helpers.py": "import json\n", ".hidden/x.py": NOTEBOOK });
        const found = discoverNotebooks(dir, "");
        expect(found.notebooks.map((n) => n.relativePath)).to.deep.equal(["bronze/load", "ingest_table"]);
        expect(found.skipped).to.deep.equal([path.join(dir, "helpers.py")]);
    });
});

describe("work items in the stack configuration", () => {
    const config = (values: Record<string, string>) => parseStackConfig(configSource({ ...REQUIRED_CONFIG, ...values }));
    const rejected = (values: Record<string, string>): string => {
        try {
            config(values);
        } catch (error) {
            expect(error).to.be.instanceOf(StackConfigError);
            return (error as Error).message;
        }
        throw new Error("expected the configuration to be rejected");
    };

    it("knows every notebook under notebooks/workers/ and, with notebookSourceFolder, the team's own", () => {
        const dir = teamFolder({ "ingest/ingest_table.py": NOTEBOOK, "notes.py": "print(1)\n" });
        const parsed = config({
            notebookSourceFolder: dir,
            workItems: JSON.stringify([1, 2, 3].map((i) => ({ notebook: "ingest/ingest_table", arguments: { table: `t${i}` } }))),
            workerExpectedSeconds: JSON.stringify({ "ingest_table(table=t2)": 600 }),
        });
        expect(parsed.workItems.knownNotebooks).to.include.members([...WORKERS.map((w) => `workers/${w.name}`), "ingest/ingest_table"]);
        expect(parsed.workItems.teamNotebooks.map((n) => n.relativePath)).to.deep.equal(["ingest/ingest_table"]);
        expect(parsed.workItems.items.map((item) => [item.name, item.expectedSeconds])).to.deep.equal([
            ["ingest_table(table=t1)", undefined],
            ["ingest_table(table=t2)", 600],
            ["ingest_table(table=t3)", undefined],
        ]);
        expect(parsed.notices.some((notice) => notice.includes("notes.py is not uploaded"))).to.equal(true);
    });

    it("rejects items naming a notebook that is not uploaded, listing those that are", () => {
        const message = rejected({ workItems: '[{"notebook": "ingest/ingest_table"}]' });
        expect(message).to.contain(`${PROJECT}:workItems: got "[{\\"notebook\\": \\"ingest/ingest_table\\"}]"; expected a JSON array of work items`);
        expect(message).to.contain('item 1: unknown notebook "ingest/ingest_table"; expected one of the uploaded notebooks (workers/customer_totals');
    });

    it("rejects items that are not JSON, and a folder that does not exist or holds no notebook", () => {
        expect(rejected({ workItems: "[{notebook: x}]" })).to.match(/workItems: got .*; expected a JSON array of work items .*\n\s+JSON \(/);
        expect(rejected({ notebookSourceFolder: "no/such/folder" })).to.contain("no/such/folder does not exist");
        expect(rejected({ notebookSourceFolder: teamFolder({ "x.py": "print(1)\n" }) })).to.contain("has none");
    });

    it("keeps a team's notebooks out of the stack's own folders and away from the workers' paths", () => {
        expect(rejected({ notebookSourceFolder: teamFolder({ "lib/etl.py": NOTEBOOK }) })).to.contain(
            "would be uploaded as 'lib/etl'; move it into a subfolder",
        );
        expect(rejected({ notebookSourceFolder: teamFolder({ "workers/daily_sales.py": NOTEBOOK }) })).to.contain("which notebooks/workers/ already has");
    });

    it("refuses an estimate set both on the item and in workerExpectedSeconds", () => {
        expect(rejected({ workItems: '[{"notebook": "workers/daily_sales", "expected_seconds": 5}]', workerExpectedSeconds: '{"daily_sales": 6}' })).to.contain(
            "both set for: daily_sales",
        );
    });

    it("takes workItemsQuery as SQL, and refuses a For each job beside it or over items it cannot run", () => {
        expect(config({ workItemsQuery: "  SELECT notebook, arguments FROM main.ops.etl_control WHERE enabled " }).workItems.query).to.equal(
            "SELECT notebook, arguments FROM main.ops.etl_control WHERE enabled",
        );
        expect(rejected({ workItemsQuery: "main.ops.etl_control" })).to.contain("expected a SQL query (SELECT, WITH, TABLE or VALUES)");
        expect(rejected({ workItemsQuery: "SELECT * FROM t", forEachJob: "true" })).to.contain(
            'forEachJob: got "true"; expected false when workItemsQuery is set',
        );
        const dir = teamFolder({ "ingest/ingest_table.py": NOTEBOOK });
        const mixed = JSON.stringify([{ notebook: "ingest/ingest_table", arguments: { table: "a" } }, "workers/daily_sales"]);
        expect(rejected({ notebookSourceFolder: dir, workItems: mixed, forEachJob: "true" })).to.contain(
            "expected false for these workItems: a For each task runs one notebook per iteration",
        );
        const tables = JSON.stringify(["a", "b"].map((table) => ({ notebook: "ingest/ingest_table", arguments: { table } })));
        expect(config({ notebookSourceFolder: dir, workItems: tables, forEachJob: "true" }).jobs.forEach?.shape.kind).to.equal("one-notebook");
    });

    it("refuses, with asyncFanOut, two notebooks that would share a worker job", () => {
        const dir = teamFolder({ "other/daily_sales.py": NOTEBOOK });
        const items = JSON.stringify(["workers/daily_sales", { notebook: "other/daily_sales", name: "other_daily_sales" }]);
        expect(config({ notebookSourceFolder: dir, workItems: items }).workItems.items).to.have.length(2);
        expect(rejected({ notebookSourceFolder: dir, workItems: items, asyncFanOut: "true" })).to.contain(
            'expected items the asynchronous fan-out can give a job each (asyncFanOut is true): asynchronous fan-out: notebooks "workers/daily_sales" and "other/daily_sales" would both have the worker job key "daily_sales"',
        );
    });

    it("ignores, with a notice, estimates of the ETL workers once other items replace them, as a stack copied from dev has", () => {
        const dir = teamFolder({ "ingest/ingest_table.py": NOTEBOOK });
        const parsed = config({
            notebookSourceFolder: dir,
            workItems: '["ingest/ingest_table"]',
            workerExpectedSeconds: '{"daily_sales": 240, "ingest_table": 60}',
        });
        expect(parsed.workItems.items.map((item) => [item.name, item.expectedSeconds])).to.deep.equal([["ingest_table", 60]]);
        expect(parsed.notices).to.include(
            "workerExpectedSeconds has estimates for daily_sales, which are not among the work items: they are ignored (pulumi config rm --path 'workerExpectedSeconds.daily_sales' removes one)",
        );
        expect(rejected({ notebookSourceFolder: dir, workItems: '["ingest/ingest_table"]', workerExpectedSeconds: '{"ingest_tabel": 60}' })).to.contain(
            "expected item names among ingest_table (unknown: ingest_tabel)",
        );
    });
});
