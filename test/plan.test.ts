import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { expect } from "chai";
import { displayType, formatPlan, parseConfigOverride, plannedNotebooks, planStack } from "../tools/plan";

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
            /\n \+ {3}├─ orchestration:compute:EtlCompute +notebook-orchestration-dev-compute +create\n \+ {3}│  └─ databricks:index:Cluster +notebook-orchestration-dev-compute-cluster +create +notebook-orchestration-dev: <latest LTS runtime>, Standard_D4ds_v5, single node/,
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
        const text = formatPlan("dev", await planStack("dev", parseConfigOverride("asyncFanOut=true")));
        expect(text).to.match(/orchestration:async:AsyncFanOut +notebook-orchestration-dev-async +create/);
        expect(text).to.match(/"\[dev\] notebook-orchestration async-dispatcher": 0 0\/5 \* \* \* \? Europe\/Amsterdam PAUSED; setup -> dispatch on cluster/);
        expect(text).to.match(/"\[dev\] notebook-orchestration async-worker": on demand; worker on cluster .*max 50 runs/);
        expect(text).to.contain("/Shared/notebook-orchestration/dev/async/dispatcher");
        expect(parseConfigOverride("b=2", parseConfigOverride("a=1"))).to.deep.equal({ a: "1", b: "2" });
        expect(() => parseConfigOverride("asyncFanOut")).to.throw("expected key=value, e.g. asyncFanOut=true; got 'asyncFanOut'");
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

    it("runs as a command that writes the notebooks and fails clearly for a stack without a config file", () => {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "plan-"));
        const printed = execFileSync(process.execPath, ["-r", "ts-node/register", "tools/plan.ts", "--stack", "dev", "--out", out], { cwd: ROOT }).toString();
        expect(printed).to.match(/Resources:\n {4}\+ \d+ to create/);
        expect(fs.readFileSync(path.join(out, "orchestrators", "parallel.py"), "utf8")).to.contain("ThreadPoolExecutor(max_workers=max_workers");
        const missing = spawnSync(process.execPath, ["-r", "ts-node/register", "tools/plan.ts", "--stack", "nope"], { cwd: ROOT });
        expect(missing.status).to.equal(1);
        expect(missing.stderr.toString().trim()).to.match(
            /^plan: No config file for stack 'nope': .*Pulumi\.nope\.yaml does not exist \(stacks with a config file: dev\)$/,
        );
    });
});
