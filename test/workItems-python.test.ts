/**
 * Work items in the orchestrators (notebooks/lib/orchestration.py), run locally against fake dbutils and
 * spark: the job parameter `items`, the work-items query, items of one notebook with different arguments
 * kept apart everywhere, longest-first history keyed by notebook and arguments, and the Python checks
 * agreeing with `parseWorkItems` (components/workItems.ts) problem for problem.
 */
import { execFileSync } from "child_process";
import * as path from "path";
import { expect } from "chai";
import { NOTEBOOKS_DIR, workerNotebookFiles } from "../components/render";
import { parseWorkItems } from "../components/workItems";
import type { NotebookResult, SqlAnswer } from "../tools/localRun";
import {
    COMMON_ARGUMENTS,
    exitSummary,
    NOTEBOOK_FOLDER,
    orchestratorSettings,
    raisedSummary,
    renderedNotebookDir,
    runIn,
    workersTaking,
} from "./support/notebooks";

const RUN_LOG = "`main`.`etl_test`.`etl_run_log`";
const KNOWN_NOTEBOOKS = workerNotebookFiles().map((notebook) => notebook.relativePath);
const ALL_QUICK = workersTaking({ customer_totals: 20, daily_sales: 20, product_sales: 20, order_status: 20 });

/** One notebook over three regions, as a team would fan out one ingest notebook over its tables. */
const REGION_ITEMS = [
    { notebook: "workers/daily_sales", arguments: { region: "eu" }, expected_seconds: 100 },
    { notebook: `${NOTEBOOK_FOLDER}/workers/daily_sales`, arguments: { region: "us", schema: "etl_us" }, expected_seconds: 300 },
    { notebook: "workers/daily_sales", arguments: { region: "apac" }, name: "apac", expected_seconds: 200 },
];
const EU = "daily_sales(region=eu)";
const US = "daily_sales(region=us, schema=etl_us)";

const byItem = (result: NotebookResult) => result.calls.map((call) => `${call.work_item}#${call.attempt}`);
const inserts = (result: NotebookResult) => result.sql.filter((s) => s.query.trim().startsWith(`INSERT INTO ${RUN_LOG}`));

/** The run log's rows as the orchestrator's one INSERT binds them. */
function runLogRows(result: NotebookResult, keys: readonly string[]): Record<string, unknown>[] {
    const [insert] = inserts(result);
    const count = Object.keys(insert?.args ?? {}).filter((key) => key.startsWith("notebook_")).length;
    return Array.from({ length: count }, (_, i) => Object.fromEntries(keys.map((key) => [key, insert.args?.[`${key}_${i}`]])));
}

describe("work items given to an orchestrator for one run by the job parameter `items`", () => {
    const dir = renderedNotebookDir(orchestratorSettings({ maxWorkers: 1, maxRetries: 1 }));

    it("runs exactly those items, each with the common arguments overridden by its own, longest expected first", async () => {
        const result = await runIn(dir, "orchestrators/parallel", { widgets: { items: JSON.stringify(REGION_ITEMS), run_id: "5" }, workers: ALL_QUICK });
        const summary = exitSummary(result);
        expect(byItem(result)).to.deep.equal([`${US}#1`, "apac#1", `${EU}#1`]);
        expect(result.calls.map((call) => call.path)).to.deep.equal(Array(3).fill(`${NOTEBOOK_FOLDER}/workers/daily_sales`));
        expect(result.calls[0].arguments).to.deep.equal({
            ...COMMON_ARGUMENTS,
            schema: "etl_us",
            region: "us",
            orchestration_mode: "parallel",
            run_id: "5",
            attempt: "1",
            work_item: US,
        });
        expect(result.calls[2].arguments).to.include({ schema: "etl_test", region: "eu", work_item: EU });
        expect(summary.items_source).to.equal("job_parameter");
        expect(summary.dispatch_order).to.deep.equal([US, "apac", EU]);
        expect(summary.expected_seconds).to.deep.equal({ [EU]: 100, [US]: 300, apac: 200 });
        expect(summary.estimate_sources).to.deep.equal({ [EU]: "configured", [US]: "configured", apac: "configured" });
        expect(summary.workers.map((w: Record<string, unknown>) => [w.name, w.notebook, w.arguments, w.status])).to.deep.equal([
            [EU, "workers/daily_sales", { region: "eu" }, "SUCCEEDED"],
            [US, "workers/daily_sales", { region: "us", schema: "etl_us" }, "SUCCEEDED"],
            ["apac", "workers/daily_sales", { region: "apac" }, "SUCCEEDED"],
        ]);
        expect(result.output).to.contain(`[${US}] SUCCEEDED after 1 attempt(s)`);
        expect(result.output).to.match(/^item\s+status\s+attempts/m);
        expect(result.output).to.contain("parallel run SUCCEEDED: 3 of 3 items succeeded");
    });

    it("keeps items of one notebook apart in retries, outcomes and the run log", async () => {
        const result = await runIn(dir, "orchestrators/sequential", {
            widgets: { items: JSON.stringify(REGION_ITEMS), run_id: "6" },
            workers: {
                [US]: { attempts: [{ seconds: 5, outcome: "fail" }, { seconds: 5 }] },
                apac: { attempts: [{ seconds: 5, outcome: "fail" }] },
                daily_sales: { attempts: [{ seconds: 5 }] },
            },
        });
        expect(result.status).to.equal("raised");
        expect(byItem(result)).to.deep.equal([`${EU}#1`, `${US}#1`, `${US}#2`, "apac#1", "apac#2"]);
        const summary = raisedSummary(result);
        expect(summary.workers.map((w: Record<string, unknown>) => [w.name, w.status, w.attempts])).to.deep.equal([
            [EU, "SUCCEEDED", 1],
            [US, "SUCCEEDED", 2],
            ["apac", "FAILED", 2],
        ]);
        expect(result.output).to.contain(`[${US}] attempt 1 FAILED`);
        expect(runLogRows(result, ["notebook", "item", "arguments", "attempt", "status"])).to.deep.equal([
            { notebook: "workers/daily_sales", item: EU, arguments: '{"region":"eu"}', attempt: 1, status: "SUCCEEDED" },
            { notebook: "workers/daily_sales", item: US, arguments: '{"region":"us","schema":"etl_us"}', attempt: 1, status: "FAILED" },
            { notebook: "workers/daily_sales", item: US, arguments: '{"region":"us","schema":"etl_us"}', attempt: 2, status: "SUCCEEDED" },
            { notebook: "workers/daily_sales", item: "apac", arguments: '{"region":"apac"}', attempt: 1, status: "FAILED" },
            { notebook: "workers/daily_sales", item: "apac", arguments: '{"region":"apac"}', attempt: 2, status: "FAILED" },
        ]);
    });

    it("takes an absolute notebook outside the stack's folder as it is, and filters items by name with the workers parameter", async () => {
        const items = [...REGION_ITEMS, "/Workspace/Shared/team/ingest"];
        const result = await runIn(dir, "orchestrators/parallel", {
            widgets: { items: JSON.stringify(items), workers: JSON.stringify(["ingest", EU]) },
            workers: { ingest: { attempts: [{ seconds: 5 }] }, daily_sales: { attempts: [{ seconds: 5 }] } },
        });
        const summary = exitSummary(result);
        expect(summary.workers.map((w: Record<string, unknown>) => [w.name, w.notebook, w.path])).to.deep.equal([
            [EU, "workers/daily_sales", `${NOTEBOOK_FOLDER}/workers/daily_sales`],
            ["ingest", "/Workspace/Shared/team/ingest", "/Workspace/Shared/team/ingest"],
        ]);
        expect(result.calls.map((call) => call.path).sort()).to.deep.equal([`${NOTEBOOK_FOLDER}/workers/daily_sales`, "/Workspace/Shared/team/ingest"]);
    });

    it("refuses invalid items before any notebook runs, naming every problem in one error", async () => {
        const items = [
            { notebook: "workers/daily_sale", arguments: { region: "eu" } },
            { notebook: "workers/daily_sales", arguments: { days: 7, attempt: "2" } },
            { notebook: "workers/daily_sales", argument: { region: "eu" } },
            { notebook: "workers/daily_sales", arguments: { region: "eu" } },
            { notebook: "workers/daily_sales", arguments: { region: "eu" } },
            { notebook: "workers/order_status", name: EU },
        ];
        for (const orchestrator of ["orchestrators/parallel", "orchestrators/sequential"]) {
            const result = await runIn(dir, orchestrator, { widgets: { items: JSON.stringify(items) }, workers: ALL_QUICK });
            expect(result.status, orchestrator).to.equal("raised");
            expect(result.error_type).to.equal("ValueError");
            expect(result.calls, "no item started").to.have.length(0);
            expect(inserts(result), "nothing logged").to.have.length(0);
            const lines = String(result.error).split("\n");
            expect(lines[0]).to.match(
                /^Job parameter items is not a valid list of work items \(6 problem\(s\)\); expected items like \[.*no work item was started:$/,
            );
            expect(lines.slice(1)).to.deep.equal([
                '  - item 1: unknown notebook "workers/daily_sale" (did you mean "workers/daily_sales"?); expected one of the uploaded notebooks ' +
                    `(${KNOWN_NOTEBOOKS.join(", ")}) or an absolute workspace path starting with /`,
                '  - item 2: argument "days" is number 7; expected a string (widget values are strings: write "7")',
                '  - item 2: argument "attempt" is set by the orchestrator on every attempt; expected other widget names than orchestration_mode, run_id, attempt, work_item',
                '  - item 3: unknown field "argument" (did you mean "arguments"?); expected notebook, arguments, name, expected_seconds',
                '  - item 5: duplicate item: same notebook "workers/daily_sales" and arguments {"region":"eu"} as item 4; expected each item once',
                `  - item 6: name "${EU}" is also item 4's; expected unique names (set "name" on one of them)`,
            ]);
        }
    });

    it("refuses items that are not JSON, not an array or empty, before any notebook runs", async () => {
        const cases: Record<string, string> = {
            "[{notebook: x}]":
                "Job parameter items is not JSON (Expecting property name enclosed in double quotes: line 1 column 3 (char 2)); expected a JSON array of work items like",
            '{"notebook": "workers/daily_sales"}': "expected a JSON array of work items, got an object",
            "[]": "expected at least one work item, got an empty array",
        };
        for (const [items, message] of Object.entries(cases)) {
            const result = await runIn(dir, "orchestrators/parallel", { widgets: { items }, workers: ALL_QUICK });
            expect(result.error, items).to.contain(message);
            expect(result.calls).to.have.length(0);
        }
    });
});

describe("work items from the work-items query, run when the orchestrator starts", () => {
    const QUERY = "SELECT notebook, arguments, name, expected_seconds FROM `main`.`etl_test`.`ingest_control` WHERE enabled";
    const dir = renderedNotebookDir(orchestratorSettings({ maxWorkers: 1, workItemsQuery: QUERY }));
    const control = (rows: Record<string, unknown>[], extra: Partial<SqlAnswer> = {}) => [
        { match: "FROM `main`\\.`etl_test`\\.`ingest_control`", rows, ...extra },
    ];

    it("turns each row into an item: arguments from a MAP, a JSON text or NULL, estimates ordering the run", async () => {
        const result = await runIn(dir, "orchestrators/parallel", {
            workers: ALL_QUICK,
            sql: control([
                { notebook: "workers/daily_sales", arguments: { region: "eu" }, name: null, expected_seconds: 10 },
                { notebook: "workers/daily_sales", arguments: '{"region": "us"}', name: "us", expected_seconds: 30 },
                { notebook: "workers/order_status", arguments: null, name: null, expected_seconds: null },
            ]),
        });
        const summary = exitSummary(result);
        expect(summary.items_source).to.equal("work_items_query");
        expect(result.sql[0].query, "the query runs first").to.equal(QUERY);
        expect(byItem(result)).to.deep.equal(["order_status#1", "us#1", `${EU}#1`]);
        expect(summary.workers.map((w: Record<string, unknown>) => [w.name, w.arguments])).to.deep.equal([
            [EU, { region: "eu" }],
            ["us", { region: "us" }],
            ["order_status", {}],
        ]);
        expect(result.calls.find((call) => call.work_item === "us")?.arguments).to.include({ region: "us", catalog: "main" });
    });

    it("reads STRUCT arguments as well as MAPs", async () => {
        const result = await runIn(dir, "orchestrators/sequential", {
            workers: ALL_QUICK,
            sql: control([{ notebook: "workers/daily_sales", arguments: { region: "eu", tier: "gold" } }], { structs: ["arguments"] }),
        });
        expect(exitSummary(result).workers[0]).to.include({ name: "daily_sales(region=eu, tier=gold)" });
        expect(result.calls[0].arguments).to.include({ region: "eu", tier: "gold" });
    });

    it("refuses an empty result, bad rows and other columns before any notebook runs", async () => {
        const empty = await runIn(dir, "orchestrators/parallel", { workers: ALL_QUICK, sql: control([]) });
        expect(empty.error).to.match(
            /^The work items query returned no items; expected one row per item with columns notebook, arguments, name, expected_seconds/,
        );
        const bad = await runIn(dir, "orchestrators/parallel", {
            workers: ALL_QUICK,
            sql: control([
                { notebook: "workers/nightly", arguments: null, enabled: true },
                { notebook: null, arguments: "not json" },
                { notebook: "workers/daily_sales", arguments: { region: "eu" }, expected_seconds: -5 },
            ]),
        });
        expect(bad.error_type).to.equal("ValueError");
        expect(bad.error).to.contain("The work items query's result (item N is row N) is not a valid list of work items (5 problem(s))");
        expect(bad.error).to.contain('item 1: unknown field "enabled"; expected notebook, arguments, name, expected_seconds');
        expect(bad.error).to.contain('item 1: unknown notebook "workers/nightly"');
        expect(bad.error).to.contain('item 2: "notebook" is null; expected a notebook path');
        expect(bad.error).to.contain('item 2: "arguments" is string "not json"; expected an object of widget name to string value');
        expect(bad.error).to.contain('item 3: "expected_seconds" is number -5; expected a number of seconds >= 0');
        expect(bad.calls).to.have.length(0);
        const failing = await runIn(dir, "orchestrators/parallel", {
            workers: ALL_QUICK,
            sql: control([], { error: "[TABLE_OR_VIEW_NOT_FOUND] The table `ingest_control` cannot be found" }),
        });
        expect(failing.error).to.contain("The work items query failed, so no work item was started: Exception: [TABLE_OR_VIEW_NOT_FOUND]");
        expect(failing.calls).to.have.length(0);
    });

    it("gives way to the job parameter `items`, which is not queried for", async () => {
        const result = await runIn(dir, "orchestrators/parallel", {
            widgets: { items: '["workers/order_status"]' },
            workers: ALL_QUICK,
            sql: control([{ notebook: "workers/daily_sales" }]),
        });
        expect(exitSummary(result).items_source).to.equal("job_parameter");
        expect(result.sql.some((s) => s.query === QUERY)).to.equal(false);
        expect(byItem(result)).to.deep.equal(["order_status#1"]);
    });
});

describe("longest-first estimates of items, keyed by notebook and arguments", () => {
    const dir = renderedNotebookDir(orchestratorSettings({ maxWorkers: 1 }));
    const items = [
        ...REGION_ITEMS.map((item) => ({ ...item, expected_seconds: null })),
        { notebook: "workers/order_status", expected_seconds: 50 },
        "workers/product_sales",
    ];
    const history = (rows: { arguments: string | null; mode?: string; wall_seconds: number; finished_at: string; notebook?: string }[]) => [
        {
            match: `FROM ${RUN_LOG.replace(/[`.]/g, "\\$&")}`,
            rows: rows.map((row) => ({ notebook: "workers/daily_sales", orchestration_mode: row.mode ?? "parallel", ...row })),
        },
    ];

    it("uses the item's own history first, then its notebook's with any arguments, then its configured estimate", async () => {
        const result = await runIn(dir, "orchestrators/parallel", {
            widgets: { items: JSON.stringify(items) },
            workers: ALL_QUICK,
            sql: history([
                { arguments: '{"region":"eu"}', wall_seconds: 40, finished_at: "2026-12-01 01:00:00" },
                { arguments: '{"region":"eu"}', wall_seconds: 60, finished_at: "2026-12-01 02:00:00" },
                { arguments: '{"region":"us","schema":"etl_us"}', mode: "sequential", wall_seconds: 900, finished_at: "2026-12-01 03:00:00" },
                { arguments: '{"region":"old"}', wall_seconds: 500, finished_at: "2026-11-01 00:00:00" },
            ]),
        });
        const summary = exitSummary(result);
        expect(summary.estimate_sources).to.deep.equal({
            [EU]: "run_log_parallel",
            [US]: "run_log_sequential",
            apac: "notebook_run_log_parallel",
            order_status: "configured",
        });
        // apac: the notebook's recent parallel attempts with any arguments: 40, 60 and 500.
        expect(summary.expected_seconds).to.deep.equal({ [EU]: 50, [US]: 900, apac: 60, order_status: 50 });
        expect(summary.dispatch_order).to.deep.equal(["product_sales", US, "apac", EU, "order_status"]);
        expect(summary.order_source).to.equal("run_log_parallel+run_log_sequential+notebook_run_log_parallel+configured+declared");
        const query = result.sql.find((s) => s.query.includes(`FROM ${RUN_LOG}`) && s.query.includes("ROW_NUMBER"))?.query ?? "";
        expect(query).to.contain("PARTITION BY notebook, arguments, orchestration_mode ORDER BY finished_at DESC");
        expect(query).to.contain("notebook IN ('workers/daily_sales', 'workers/order_status', 'workers/product_sales')");
        expect(
            result.sql.filter((s) => s.query.includes("ROW_NUMBER")),
            "one history query",
        ).to.have.length(1);
    });
});

describe("the Python checks of work items and parseWorkItems (TypeScript)", () => {
    const BAD_INPUTS: unknown[] = [
        { notebook: "workers/daily_sales" },
        [],
        [42, null, ["workers/daily_sales"]],
        [{ notebook: "workers/daily_sale" }, { notebook: "" }, { notebook: 3 }, {}, { arguments: {} }],
        [{ notebook: "workers/daily_sales", arguments: { a: 1, b: true, c: null, d: [1, 2], e: { x: "y" }, " ": "v", run_id: "1", work_item: "w" } }],
        [
            { notebook: "workers/daily_sales", arguments: "region=eu" },
            { notebook: "workers/order_status", arguments: ["a"] },
        ],
        [{ notebook: "workers/daily_sales", argument: {}, nmae: "x", expected: 3, zzzzzzzzzz: 1 }],
        [
            { notebook: "workers/daily_sales", name: "" },
            { notebook: "workers/order_status", name: 7 },
            { notebook: "workers/product_sales", expected_seconds: "60" },
        ],
        [
            { notebook: "workers/daily_sales", expected_seconds: -1 },
            { notebook: "workers/order_status", expected_seconds: 1.5, name: "  " },
        ],
        [
            "workers/daily_sales",
            { notebook: "workers/daily_sales", arguments: {} },
            { notebook: `${NOTEBOOK_FOLDER}/workers/daily_sales` },
            { notebook: `/Workspace${NOTEBOOK_FOLDER}/workers/daily_sales` },
        ],
        [
            { notebook: `/Workspace${NOTEBOOK_FOLDER}/workers/order_status`, arguments: { r: "eu" } },
            { notebook: "workers/order_status", arguments: { r: "eu" } },
        ],
        [
            { notebook: "workers/daily_sales", arguments: { r: "eu", s: "x" } },
            { notebook: "workers/daily_sales", arguments: { s: "x", r: "eu" } },
            { notebook: "workers/order_status", name: "daily_sales(r=eu, s=x)" },
            { notebook: "/Workspace/team/daily_sales", arguments: { r: "eu", s: "x" } },
        ],
        [{ notebook: "/Workspace/Shared/ingest", arguments: { table: "sales.orders" }, name: "orders", expected_seconds: 300 }, "ingest/ingest_table"],
        ["workers/unknown_notebook_far_from_anything"],
    ];
    const context = { knownNotebooks: KNOWN_NOTEBOOKS, folder: NOTEBOOK_FOLDER };

    it("report the same problems for the same inputs, and read valid items the same way", () => {
        const script = `
import json, sys
exec(open(sys.argv[1]).read())
inputs, known, folder = json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
results = []
for value in inputs:
    items, problems = parse_work_items(value, known, folder)
    results.append({"problems": problems, "items": [{"notebook": i["notebook"], "arguments": i["arguments"], "name": i["name"], "expected_seconds": i["expected_seconds"]} for i in items]})
print(json.dumps(results))
`;
        const valid = [
            [
                { notebook: "/Workspace/Shared/ingest", arguments: { table: "sales.orders" }, expected_seconds: 300 },
                { notebook: "workers/daily_sales", arguments: { b: "2", a: "1" } },
            ],
        ];
        const inputs = [...BAD_INPUTS, ...valid];
        const output = execFileSync("python3", [
            "-c",
            script,
            path.join(NOTEBOOKS_DIR, "lib/orchestration.py"),
            JSON.stringify(inputs),
            JSON.stringify(KNOWN_NOTEBOOKS),
            NOTEBOOK_FOLDER,
        ]);
        const python = JSON.parse(output.toString()) as { problems: string[]; items: Record<string, unknown>[] }[];
        const typescript = inputs.map((value) => {
            const parsed = parseWorkItems(value, context);
            return {
                problems: parsed.problems,
                items: parsed.items.map((item) => ({
                    notebook: item.notebook,
                    arguments: item.arguments,
                    name: item.name,
                    expected_seconds: item.expectedSeconds ?? null,
                })),
            };
        });
        inputs.forEach((input, i) => expect(python[i], JSON.stringify(input)).to.deep.equal(typescript[i]));
        expect(
            BAD_INPUTS.every((_, i) => python[i].problems.length > 0),
            "every bad input has problems",
        ).to.equal(true);
        expect(python.at(-1)?.items.map((item) => item.name)).to.deep.equal(["ingest(table=sales.orders)", "daily_sales(a=1, b=2)"]);
    });
});
