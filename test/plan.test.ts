import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { expect } from "chai";
import { readStackConfigFile } from "../tools/offline";
import { checkGeneratedDirectory, MANIFEST_FILE, OutputDirectoryError, replaceGeneratedFiles } from "../tools/outputDirectory";
import { displayType, formatPlan, parseConfigOverride, plannedNotebooks, planStack } from "../tools/plan";
import { renderedValue, TEAM_NOTEBOOKS } from "./support/stack";

const ROOT = path.join(__dirname, "..");

describe("the offline plan (npm run plan)", function () {
    this.timeout(60000);

    it("lays the dev stack out like pulumi preview, with key settings and a count", async () => {
        const run = await planStack("dev");
        const text = formatPlan("dev", run);
        const lines = text.split("\n");
        expect(lines[0]).to.equal("Previewing update (dev), offline under Pulumi's mock runtime:");
        expect(lines[2]).to.match(/^ {5}Type +Name +Plan +Info$/);
        expect(lines[3]).to.match(/^ \+ {3}pulumi:pulumi:Stack +notebook-orchestration-dev +create$/);
        expect(text).to.match(
            /\n \+ {3}├─ orchestration:compute:EtlCompute +notebook-orchestration-dev-compute +create\n \+ {3}│  └─ databricks:index:Cluster +notebook-orchestration-dev-compute-cluster +create +notebook-orchestration-dev: 17\.3\.x-scala2\.13, Standard_D4ds_v5, single node/,
        );
        expect(text).to.match(
            /databricks:index:Job +notebook-orchestration-dev-parallel-job +create +"\[dev\] notebook-orchestration parallel": 0 0 4 \* \* \? Europe\/Amsterdam PAUSED; setup -> orchestrate on cluster <id of notebook-orchestration-dev-compute-cluster>/,
        );
        expect(text).to.contain("azure-native:keyvault:Vault");
        const treeRows = lines.filter((line) => line.startsWith(" +   "));
        expect(treeRows).to.have.length(run.resources.length);
        expect(text.endsWith(`Resources:\n    + ${run.resources.length} to create`)).to.equal(true);
        expect(text).to.contain('    keyVaultName    : "kv-nbo-dev-<random>"');
    });

    it("shows the asynchronous fan-out's resources when the switch is on, with --config as pulumi preview takes it", async () => {
        const scheduleOnly = formatPlan("dev", await planStack("dev", parseConfigOverride("asyncFanOut=true")));
        expect(scheduleOnly).to.match(/"\[dev\] notebook-orchestration async-dispatcher": on demand; setup -> dispatch on cluster /);
        const text = formatPlan("dev", await planStack("dev", parseConfigOverride("asyncTableTrigger=true", parseConfigOverride("asyncFanOut=true"))));
        expect(text).to.match(/orchestration:async:AsyncFanOut +notebook-orchestration-dev-async +create/);
        expect(text).to.match(
            /"\[dev\] notebook-orchestration async-dispatcher": on update of main\.notebook_orchestration_dev\.etl_work_queue, main\.notebook_orchestration_dev\.etl_run_log \(at most every 60s\) PAUSED; setup -> dispatch on cluster .*max 1 run$/m,
        );
        expect(text).to.match(
            /"\[dev\] notebook-orchestration async-safety-net": 0 0\/5 \* \* \* \? Europe\/Amsterdam PAUSED; dispatch runs job <id of notebook-orchestration-dev-async-dispatcher-job>;/,
        );
        for (const worker of ["customer_totals", "daily_sales", "product_sales", "order_status"]) {
            expect(text).to.match(new RegExp(`"\\[dev\\] notebook-orchestration async-${worker}": on demand; ${worker} on cluster .*max 50 runs`));
        }
        expect(text).to.contain("/Shared/notebook-orchestration/dev/async/dispatcher");
        expect(parseConfigOverride("b=2", parseConfigOverride("a=1"))).to.deep.equal({ a: "1", b: "2" });
        expect(() => parseConfigOverride("asyncFanOut")).to.throw("expected key=value, e.g. asyncFanOut=true; got 'asyncFanOut'");
    });

    it("shows the For each job's loop and its compute with forEachJob=true, and its outputs", async () => {
        const text = formatPlan("dev", await planStack("dev", parseConfigOverride("forEachJob=true")));
        expect(text).to.match(
            /databricks:index:Job +notebook-orchestration-dev-for-each-job +create +"\[dev\] notebook-orchestration for-each": 0 0 6 \* \* \? Europe\/Amsterdam PAUSED; setup -> for_each_worker \(for each of 4 workers, 4 at a time, 1 retry per worker\) on cluster <id of notebook-orchestration-dev-compute-cluster>;/,
        );
        expect(text).to.contain('forEachJobId    : "<id of notebook-orchestration-dev-for-each-job>"');
        expect(formatPlan("dev", await planStack("dev"))).to.not.contain("for-each");
    });

    it("reports config keys nothing reads: a mistake stops the plan, a key for other tools is a warning under Diagnostics", async () => {
        let failure: unknown;
        await planStack("dev", parseConfigOverride("maxworkers=8")).catch((error: unknown) => (failure = error));
        expect(String(failure)).to.contain('notebook-orchestration:maxworkers: got "8"; expected a key Pulumi.yaml declares: did you mean maxWorkers?');
        const text = formatPlan("dev", await planStack("dev", parseConfigOverride("finops:owner=data")));
        expect(text).to.contain(
            "\n\nDiagnostics:\n  pulumi:pulumi:Stack (notebook-orchestration-dev):\n    warning: config key 'finops:owner' has no effect on this stack",
        );
        expect(text.indexOf("Diagnostics:")).to.be.lessThan(text.indexOf("Outputs:"));
        expect(formatPlan("dev", await planStack("dev"))).not.to.contain("Diagnostics:");
    });

    it("shows resource types the way the Pulumi CLI does", () => {
        expect(displayType("databricks:index/cluster:Cluster")).to.equal("databricks:index:Cluster");
        expect(displayType("azure-native:keyvault:Vault")).to.equal("azure-native:keyvault:Vault");
    });

    it("yields every notebook exactly as uploaded, relative to the stack's folder", async () => {
        const notebooks = plannedNotebooks(await planStack("dev"));
        expect(notebooks.map((n) => n.relativePath)).to.include.members([
            "orchestrators/parallel",
            "orchestrators/sequential",
            "setup",
            "lib/etl",
            "workers/daily_sales",
        ]);
        const parallel = notebooks.find((n) => n.relativePath === "orchestrators/parallel")?.source ?? "";
        expect(parallel).to.contain('"path": "/Shared/notebook-orchestration/dev/workers/daily_sales"');
        expect(parallel).to.contain('"expected_seconds": 240');
    });

    it("runs as a command that writes the notebooks and fails clearly for a stack without a config file", async () => {
        const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "plan-")), "notebooks");
        const printed = execFileSync(process.execPath, ["-r", "ts-node/register", "tools/plan.ts", "--stack", "dev", "--out", out], { cwd: ROOT }).toString();
        expect(printed).to.match(/Resources:\n {4}\+ \d+ to create/);
        const parallel = plannedNotebooks(await planStack("dev")).find((n) => n.relativePath === "orchestrators/parallel");
        expect(fs.readFileSync(path.join(out, "orchestrators", "parallel.py"), "utf8")).to.equal(parallel?.source);
        // A second plan into the same directory replaces what the first wrote.
        execFileSync(process.execPath, ["-r", "ts-node/register", "tools/plan.ts", "--stack", "dev", "--out", out], { cwd: ROOT });
        const missing = spawnSync(process.execPath, ["-r", "ts-node/register", "tools/plan.ts", "--stack", "nope"], { cwd: ROOT });
        expect(missing.status).to.equal(1);
        expect(missing.stderr.toString().trim()).to.match(
            /^plan: No config file for stack 'nope': .*Pulumi\.nope\.yaml does not exist \(stacks with a config file: dev\)$/,
        );
    });
});

describe("the offline plan over work items (--config workItems=...)", function () {
    this.timeout(60000);
    const fixtures = path.relative(ROOT, TEAM_NOTEBOOKS);
    // Arguments with `=`, quotes and a comma: --config splits at the first `=` only.
    const items = [
        { notebook: "ingest/ingest_table", arguments: { table: "sales.orders", filter: "region='EU', year=2025" } },
        { notebook: "ingest/ingest_table", arguments: { table: "sales.customers", filter: "" }, name: "customers" },
        { notebook: "reports/refresh_report", arguments: { report: 'say "daily"' }, expected_seconds: 90 },
    ];

    // Pulumi.dev.yaml's workerExpectedSeconds names the ETL workers, which these items are not: an empty value unsets it.
    const unsetEstimates = "workerExpectedSeconds=";

    it("renders both orchestrators for those items and says how many and over which notebooks", async () => {
        const overrides = parseConfigOverride(
            `workItems=${JSON.stringify(items)}`,
            parseConfigOverride(`notebookSourceFolder=${fixtures}`, parseConfigOverride(unsetEstimates)),
        );
        expect(JSON.parse(overrides.workItems)).to.deep.equal(items);
        const run = await planStack("dev", overrides);
        const text = formatPlan("dev", run);
        expect(text).to.contain(
            [
                "Work items: 3 items from workItems over 2 notebooks, rendered into both orchestrators:",
                `    ingest/ingest_table     2 items: ingest_table(filter=region='EU', year=2025, table=sales.orders), customers`,
                '    reports/refresh_report  1 item: refresh_report(report=say "daily")',
            ].join("\n"),
        );
        expect(text.indexOf("Work items:")).to.be.lessThan(text.indexOf("Outputs:"));
        for (const kind of ["sequential", "parallel"]) {
            const source = plannedNotebooks(run).find((n) => n.relativePath === `orchestrators/${kind}`)?.source ?? "";
            expect(
                renderedValue(source, "ITEMS").map((item: Record<string, unknown>) => [item.name, item.path, item.arguments, item.expected_seconds]),
            ).to.deep.equal([
                [
                    "ingest_table(filter=region='EU', year=2025, table=sales.orders)",
                    "/Shared/notebook-orchestration/dev/ingest/ingest_table",
                    items[0].arguments,
                    null,
                ],
                ["customers", "/Shared/notebook-orchestration/dev/ingest/ingest_table", items[1].arguments, null],
                ['refresh_report(report=say "daily")', "/Shared/notebook-orchestration/dev/reports/refresh_report", items[2].arguments, 90],
            ]);
        }
    });

    it("says the default items are the four ETL workers, and where a run takes other items from", async () => {
        const text = formatPlan("dev", await planStack("dev", parseConfigOverride("workItemsQuery=SELECT notebook FROM main.ops.control")));
        expect(text).to.contain(
            "Work items: 4 items (the default: the four ETL workers) over 4 notebooks, rendered into both orchestrators:\n    workers/customer_totals  1 item: customer_totals\n",
        );
        expect(text).to.contain("    A run takes its items from workItemsQuery instead: SELECT notebook FROM main.ops.control\n");
        expect(text).to.contain("    A run's job parameter items (a JSON array of items) replaces them for that run.\n");
    });

    it("writes the rendered orchestrators with --out, as a command given the JSON on its command line", () => {
        const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "plan-items-")), "notebooks");
        const printed = execFileSync(
            process.execPath,
            [
                ...["-r", "ts-node/register", "tools/plan.ts", "--config", unsetEstimates, "--config", `notebookSourceFolder=${fixtures}`],
                ...["--config", `workItems=${JSON.stringify(items)}`, "--out", out],
            ],
            { cwd: ROOT },
        ).toString();
        expect(printed).to.contain("Work items: 3 items from workItems over 2 notebooks");
        const written = fs.readFileSync(path.join(out, "orchestrators", "parallel.py"), "utf8");
        expect(renderedValue(written, "ITEMS").map((item: Record<string, unknown>) => item.name)).to.deep.equal([
            "ingest_table(filter=region='EU', year=2025, table=sales.orders)",
            "customers",
            'refresh_report(report=say "daily")',
        ]);
        expect(fs.existsSync(path.join(out, "ingest", "ingest_table.py"))).to.equal(true);
    });

    it("shows the For each job over one notebook's items as a loop over items", async () => {
        const oneNotebook = JSON.stringify(items.slice(0, 2));
        const overrides = { workerExpectedSeconds: "", notebookSourceFolder: fixtures, workItems: oneNotebook, forEachJob: "true" };
        expect(formatPlan("dev", await planStack("dev", overrides))).to.match(
            /"\[dev\] notebook-orchestration for-each": 0 0 6 \* \* \? Europe\/Amsterdam PAUSED; setup -> for_each_item \(for each of 2 items, 4 at a time, 1 retry per item\) on cluster /,
        );
    });

    it("refuses items naming a notebook nobody uploads, before declaring anything", async () => {
        let failure: unknown;
        await planStack("dev", parseConfigOverride('workItems=[{"notebook": "ingest/ingest_tables"}]')).catch((error: unknown) => (failure = error));
        expect(String(failure)).to.contain('unknown notebook "ingest/ingest_tables"');
    });
});

describe("the offline plan's output directory (--out)", function () {
    this.timeout(60000);
    const files = [
        { relativePath: "setup.py", content: "# Databricks notebook source\n" },
        { relativePath: "workers/daily_sales.py", content: "# daily\n" },
    ];
    const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "plan-out-"));
    const refusal = (run: () => unknown): string => {
        try {
            run();
        } catch (error) {
            expect(error).to.be.instanceOf(OutputDirectoryError);
            return (error as Error).message;
        }
        throw new Error("expected the directory to be refused");
    };

    it("creates a missing directory and records what it wrote", () => {
        const out = path.join(tempDir(), "a", "b");
        const written = replaceGeneratedFiles(out, files, "npm run plan");
        expect(written).to.deep.equal([path.join(out, "setup.py"), path.join(out, "workers", "daily_sales.py")]);
        const manifest = JSON.parse(fs.readFileSync(path.join(out, MANIFEST_FILE), "utf8")) as { writtenBy: string; files: Record<string, string> };
        expect(manifest.writtenBy).to.equal("npm run plan");
        expect(Object.keys(manifest.files)).to.deep.equal(["setup.py", "workers/daily_sales.py"]);
    });

    it("replaces its own files on the next run, removing the ones no longer planned and the folders they leave empty", () => {
        const out = tempDir();
        replaceGeneratedFiles(out, files, "npm run plan");
        replaceGeneratedFiles(out, [{ relativePath: "setup.py", content: "# new\n" }], "npm run plan");
        expect(fs.readFileSync(path.join(out, "setup.py"), "utf8")).to.equal("# new\n");
        expect(fs.existsSync(path.join(out, "workers"))).to.equal(false);
        expect(fs.readdirSync(out).sort()).to.deep.equal([MANIFEST_FILE, "setup.py"]);
    });

    it("refuses a directory holding anything it did not write, and leaves it as it was", () => {
        const out = tempDir();
        fs.writeFileSync(path.join(out, "notes.txt"), "mine");
        expect(refusal(() => replaceGeneratedFiles(out, files, "npm run plan"))).to.match(
            /^refusing to write into .*: it holds files npm run plan did not write \(notes\.txt\)\. Nothing was deleted\./,
        );
        expect(fs.readdirSync(out)).to.deep.equal(["notes.txt"]);
        // Also once the plan has written there: a file added later stops the next run.
        const ours = tempDir();
        replaceGeneratedFiles(ours, files, "npm run plan");
        fs.mkdirSync(path.join(ours, "mine"));
        fs.writeFileSync(path.join(ours, "mine", "keep.py"), "x");
        expect(refusal(() => replaceGeneratedFiles(ours, files, "npm run plan"))).to.contain("did not write (mine/keep.py)");
        expect(fs.readFileSync(path.join(ours, "mine", "keep.py"), "utf8")).to.equal("x");
    });

    it("refuses a directory whose generated files were edited since", () => {
        const out = tempDir();
        replaceGeneratedFiles(out, files, "npm run plan");
        fs.writeFileSync(path.join(out, "setup.py"), "# my edit\n");
        expect(refusal(() => replaceGeneratedFiles(out, files, "npm run plan"))).to.contain("files npm run plan wrote were changed since (setup.py)");
        expect(fs.readFileSync(path.join(out, "setup.py"), "utf8")).to.equal("# my edit\n");
    });

    it("refuses a file, a symbolic link, a manifest it did not write and paths outside the directory", () => {
        const dir = tempDir();
        fs.writeFileSync(path.join(dir, "file"), "x");
        expect(refusal(() => checkGeneratedDirectory(path.join(dir, "file"), "npm run plan", "file"))).to.equal(
            "file is not a directory (a file); give a new or empty directory",
        );
        fs.mkdirSync(path.join(dir, "target"));
        fs.symlinkSync(path.join(dir, "target"), path.join(dir, "link"));
        expect(refusal(() => checkGeneratedDirectory(path.join(dir, "link"), "npm run plan", "link"))).to.contain("link is not a directory (a symbolic link)");
        fs.writeFileSync(path.join(dir, "target", MANIFEST_FILE), "[1, 2]");
        expect(refusal(() => checkGeneratedDirectory(path.join(dir, "target"), "npm run plan", "target"))).to.contain("is not a manifest this tool wrote");
        expect(refusal(() => replaceGeneratedFiles(tempDir(), [{ relativePath: "../escape.py", content: "" }], "npm run plan"))).to.contain("outside");
        const other = tempDir();
        replaceGeneratedFiles(other, files, "npm run simulate");
        expect(refusal(() => replaceGeneratedFiles(other, files, "npm run plan"))).to.contain("it holds the output of npm run simulate, not npm run plan");
    });

    it("as a command, refuses --out . and a directory with a user's file, exits 1 and deletes nothing", () => {
        const before = fs.readdirSync(ROOT).sort();
        const here = spawnSync(process.execPath, ["-r", "ts-node/register", "tools/plan.ts", "--out", "."], { cwd: ROOT });
        expect(here.status).to.equal(1);
        expect(here.stderr.toString()).to.match(/^plan: refusing to write into \.: it holds files npm run plan did not write \(/);
        expect(here.stdout.toString()).to.equal("");
        expect(fs.readdirSync(ROOT).sort()).to.deep.equal(before);
        const out = tempDir();
        fs.writeFileSync(path.join(out, "report.md"), "keep me");
        const withFile = spawnSync(process.execPath, ["-r", "ts-node/register", "tools/plan.ts", "--out", out], { cwd: ROOT });
        expect(withFile.status).to.equal(1);
        expect(withFile.stderr.toString()).to.contain("did not write (report.md)");
        expect(fs.readdirSync(out)).to.deep.equal(["report.md"]);
    });
});

describe("stack config files the offline plan reads", () => {
    const stackFile = (text: string): string => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "stack-file-"));
        fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(root, "Pulumi.yaml"));
        fs.writeFileSync(path.join(root, "Pulumi.test.yaml"), text);
        return root;
    };

    it("flattens values to the strings a program gets, and marks secrets", () => {
        const root = stackFile(
            "config:\n  notebook-orchestration:maxWorkers: 4\n  notebook-orchestration:tags:\n    team: data\n  notebook-orchestration:keyVaultSecrets:\n    pw:\n      secure: AAAB\n",
        );
        expect(readStackConfigFile("test", root)).to.deep.equal({
            config: {
                "notebook-orchestration:maxWorkers": "4",
                "notebook-orchestration:tags": '{"team":"data"}',
                "notebook-orchestration:keyVaultSecrets": '{"pw":"<secret>"}',
            },
            secretKeys: ["notebook-orchestration:keyVaultSecrets"],
        });
    });

    it("says that config must be a mapping, naming the file and what it got", () => {
        expect(() => readStackConfigFile("test", stackFile("config: [1, 2]\n"))).to.throw(
            "Pulumi.test.yaml: 'config' must be a mapping of '<namespace>:<key>' to values, e.g. 'notebook-orchestration:maxWorkers: 4'; got a list ([1,2])",
        );
        expect(() => readStackConfigFile("test", stackFile("config: maxWorkers=4\n"))).to.throw('got the text "maxWorkers=4"');
        expect(() => readStackConfigFile("test", stackFile("- config\n"))).to.throw("Pulumi.test.yaml must be a mapping with a 'config' key");
    });

    it("refuses keys without a namespace, which pulumi up would refuse too, and YAML that does not parse", () => {
        expect(() => readStackConfigFile("test", stackFile("config:\n  maxWorkers: 4\n"))).to.throw(
            "Pulumi.test.yaml: config keys must be '<namespace>:<key>', as pulumi config set writes them (e.g. 'notebook-orchestration:maxWorkers'); got 'maxWorkers'",
        );
        expect(() => readStackConfigFile("test", stackFile("config:\n  a: [\n"))).to.throw(/^Pulumi\.test\.yaml is not valid YAML: /);
    });
});

describe("the README's plan example", function () {
    this.timeout(60000);

    it("shows rows and a count the dev stack's plan prints today", async () => {
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        const example = /```\n\$ npm run plan\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
        const rows = example.split("\n").filter((line) => line.startsWith(" +   ") || line.startsWith("    + "));
        expect(rows.length, "README.md has a plan example with resource rows").to.be.greaterThan(10);
        const plan = formatPlan("dev", await planStack("dev")).split("\n");
        for (const row of rows) {
            expect(plan, "README row is in the plan").to.include(row);
        }
    });
});
