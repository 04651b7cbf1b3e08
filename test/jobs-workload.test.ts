import { expect } from "chai";
import { formatWorkload, parseWorkload, type Workload } from "../cli/workload";

const FILE = "runs/real.json";

function rejects(text: string, ...fragments: (string | RegExp)[]): void {
    let thrown: unknown;
    try {
        parseWorkload(text, FILE);
    } catch (err) {
        thrown = err;
    }
    expect(thrown, "throws an Error").to.be.instanceOf(Error);
    const { message } = thrown as Error;
    expect(message.startsWith(`${FILE}: `), `names the file: ${message}`).to.be.true;
    for (const f of fragments) {
        if (typeof f === "string") expect(message, `'${message}' mentions '${f}'`).to.include(f);
        else expect(message).to.match(f);
    }
}

describe("jobs: workload file (cli/workload.ts)", () => {
    const workload: Workload = {
        source: "median of 3 successful sequential runs of job 123",
        workers: [
            { name: "customer_totals", expected_seconds: 94 },
            { name: "daily_sales", expected_seconds: 119 },
            { name: "product_sales", expected_seconds: 110.5 },
            { name: "order_status", expected_seconds: 0 },
        ],
    };

    it("round-trips through formatWorkload and parseWorkload, keeping the workers' order", () => {
        const text = formatWorkload(workload);
        expect(text).to.match(/\n$/);
        expect(parseWorkload(text, FILE)).to.deep.equal(workload);
        expect(parseWorkload(text, FILE).workers.map((w) => w.name)).to.deep.equal(["customer_totals", "daily_sales", "product_sales", "order_status"]);
    });

    it("accepts the documented example and defaults a missing source to the file name", () => {
        const parsed = parseWorkload('{"workers": [{"name": "customer_totals", "expected_seconds": 95.2}], "extra": 1}', FILE);
        expect(parsed).to.deep.equal({ source: FILE, workers: [{ name: "customer_totals", expected_seconds: 95.2 }] });
    });

    it("keeps an entry's own notebook and arguments, so items the stack does not have can be simulated", () => {
        const own: Workload = {
            source: "planned",
            workers: [
                { name: "orders", expected_seconds: 300, notebook: "ingest/ingest_table", arguments: { table: "sales.orders" } },
                { name: "shared", expected_seconds: 60, notebook: "/Workspace/Shared/team/ingest" },
                { name: "daily_sales", expected_seconds: 240 },
            ],
        };
        const text = formatWorkload(own);
        expect(JSON.parse(text).workers[2]).to.deep.equal({ name: "daily_sales", expected_seconds: 240 });
        expect(parseWorkload(text, FILE)).to.deep.equal(own);
    });

    it("rejects an empty or non-string notebook", () => {
        rejects('{"workers": [{"name": "a", "expected_seconds": 1, "notebook": ""}]}', 'workers[0].notebook ("a") must be a non-empty notebook path', '""');
        rejects('{"workers": [{"name": "a", "expected_seconds": 1, "notebook": 3}]}', "must be a non-empty notebook path", "3");
    });
    it("rejects arguments that are not an object of strings, or come without a notebook", () => {
        rejects('{"workers": [{"name": "a", "expected_seconds": 1, "notebook": "x", "arguments": ["t"]}]}', 'workers[0].arguments ("a") must be an object');
        rejects(
            '{"workers": [{"name": "a", "expected_seconds": 1, "notebook": "x", "arguments": {"n": 5, "t": "ok"}}]}',
            "widget values are strings, got n: 5",
        );
        rejects('{"workers": [{"name": "a", "expected_seconds": 1, "arguments": {"t": "x"}}]}', 'workers[0].arguments ("a") needs "notebook" beside it');
    });

    it("rejects text that is not JSON", () => rejects("{workers: []", "not valid JSON"));
    it("rejects a top level that is not an object", () => rejects("[1, 2]", "expected a JSON object"));
    it("rejects a missing workers list", () => rejects('{"source": "x"}', 'missing "workers"'));
    it("rejects workers that is not an array", () => rejects('{"workers": {"a": 1}}', '"workers" must be an array'));
    it("rejects an empty workers list", () => rejects('{"workers": []}', '"workers" is empty'));
    it("rejects a worker that is not an object", () => rejects('{"workers": ["a"]}', "workers[0] must be an object"));
    it("rejects a non-string name", () => rejects('{"workers": [{"name": 7, "expected_seconds": 1}]}', "workers[0].name must be a string", "7"));
    it("rejects a missing name", () => rejects('{"workers": [{"expected_seconds": 1}]}', "workers[0].name must be a string"));
    it("rejects an empty name", () => rejects('{"workers": [{"name": " ", "expected_seconds": 1}]}', "workers[0].name must not be empty"));
    it("rejects a duplicate name, naming both entries", () =>
        rejects(
            '{"workers": [{"name": "a", "expected_seconds": 1}, {"name": "b", "expected_seconds": 2}, {"name": "a", "expected_seconds": 3}]}',
            'duplicate item name "a"',
            "workers[0] and workers[2]",
        ));
    it("rejects a negative expected_seconds", () =>
        rejects('{"workers": [{"name": "a", "expected_seconds": -3}]}', "workers[0].expected_seconds", "must not be negative", "-3"));
    it("rejects a non-finite expected_seconds (1e999 parses to Infinity)", () =>
        rejects('{"workers": [{"name": "a", "expected_seconds": 1e999}]}', "must be a finite number", "Infinity"));
    it("rejects a non-numeric or missing expected_seconds", () => {
        rejects('{"workers": [{"name": "a", "expected_seconds": "95"}]}', "must be a finite number", '"95"');
        rejects('{"workers": [{"name": "a"}]}', "must be a finite number", "nothing");
    });
    it("rejects a source that is not a string", () => rejects('{"source": 5, "workers": [{"name": "a", "expected_seconds": 1}]}', '"source" must be a string'));
});
