/**
 * npm run jobs -- run     [--stack dev] [--job sequential|parallel|both] [--job-id ID] [--no-wait]
 * npm run jobs -- compare [--stack dev] [--last N] [--json] [--chart FILE] [--save-workload FILE]
 *
 * Triggers the stack's sequential and parallel Databricks jobs and compares their runtimes
 * against a real workspace. See cli/README.md.
 */
import { promises as fsp } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { JobsClient, type RetryOptions } from "./api";
import { renderChart, chartFormat } from "./chart";
import { buildCompareReport, collectJob, compareToJson, formatCompare, workloadFromReport } from "./compare";
import {
    defaultProfileHost,
    explicitHost,
    normalizeHost,
    readConfigFile,
    resolveCredential,
    type AzureFactories,
    type Credential,
    type Env,
    type HostChoice,
} from "./config";
import { CliError, EXIT_ERROR, EXIT_OK, UsageError, redact } from "./errors";
import { createProgress, type Writer } from "./progress";
import { runJobs, type JobTarget } from "./run";
import { jobIdFromStack, loadStackOutputs, parseJobId, pulumiStackReader, type JobKind, type StackOutputs, type StackReader } from "./stack";
import { formatWorkload } from "./workload";

export interface CliDeps {
    env: Env;
    stdout: Writer;
    stderr: Writer;
    /** Where the spinner draws (a terminal); process.stderr by default. */
    spinnerStream?: NodeJS.WritableStream & { isTTY?: boolean };
    sleep: (ms: number) => Promise<void>;
    now: () => number;
    /** Reads `pulumi stack output --json`; the pulumi CLI on env.PATH by default. */
    readStack?: StackReader;
    /** Overrides --poll-interval (tests). */
    pollIntervalMs?: number;
    retry?: Partial<RetryOptions>;
    /** Overrides --timeout (tests). */
    timeoutMs?: number;
    /** runs/list page size (the API allows up to 25). */
    pageSize?: number;
    random?: () => number;
    azure?: AzureFactories;
    onWaiting?: (url: string | undefined) => void;
    cwd?: string;
}

const JOB_CHOICES = ["sequential", "parallel", "both"] as const;

function positiveInt(flag: string, max: number) {
    return (value: string): number => {
        const n = Number(value);
        if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 1 || n > max) {
            throw new InvalidArgumentError(`${flag} must be a whole number from 1 to ${max}, got '${value}'.`);
        }
        return n;
    };
}

function positiveSeconds(flag: string) {
    return (value: string): number => {
        const n = Number(value);
        if (value.trim() === "" || !Number.isFinite(n) || n <= 0) {
            throw new InvalidArgumentError(`${flag} must be a number of seconds above 0, got '${value}'.`);
        }
        return n;
    };
}

interface CommonOptions {
    stack: string;
    profile?: string;
    host?: string;
    sequentialJobId?: string;
    parallelJobId?: string;
    timeout: number;
}

interface RunOptions extends CommonOptions {
    job: (typeof JOB_CHOICES)[number];
    jobId?: string;
    wait: boolean;
    pollInterval: number;
}

interface CompareOptions extends CommonOptions {
    last: number;
    json?: boolean;
    chart?: string;
    saveWorkload?: string;
    workloadFrom: JobKind;
}

function addCommonOptions(cmd: Command): Command {
    return cmd
        .option("--stack <name>", "Pulumi stack whose outputs give the job ids and workspace URL", "dev")
        .option("--profile <name>", "profile in ~/.databrickscfg (or DATABRICKS_CONFIG_FILE) to authenticate with")
        .option("--host <url>", "workspace URL (default: DATABRICKS_HOST, the profile's host, or the stack's workspaceUrl)")
        .option("--sequential-job-id <id>", "id of the sequential job (default: stack output sequentialJobId)")
        .option("--parallel-job-id <id>", "id of the parallel job (default: stack output parallelJobId)")
        .option("--timeout <seconds>", "timeout of each API request", positiveSeconds("--timeout"), 30);
}

/** A Ctx holds what both commands share once the options are resolved. */
interface Ctx {
    client: JobsClient;
    credential: Credential;
    host: HostChoice;
    ids: Partial<Record<JobKind, JobTarget & { kind: JobKind }>>;
}

export async function main(argv: string[], partial: Partial<CliDeps> = {}): Promise<number> {
    const deps: CliDeps = {
        env: process.env,
        stdout: process.stdout,
        stderr: process.stderr,
        spinnerStream: process.stderr,
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
        now: () => Date.now(),
        ...partial,
    };
    const { stdout, stderr, env } = deps;
    const secrets: string[] = [];
    let credential: Credential | undefined;
    let exitCode = EXIT_OK;

    /** Resolves host, job ids and credential. `kinds` are the jobs whose ids are needed. */
    const resolve = async (opts: CommonOptions, kinds: readonly JobKind[]): Promise<Ctx> => {
        const cfg = readConfigFile(env);
        let host = explicitHost(opts.host, opts.profile, env, cfg);
        const flagIds: Partial<Record<JobKind, number>> = {};
        if (opts.sequentialJobId !== undefined) flagIds.sequential = parseJobId(opts.sequentialJobId, "--sequential-job-id");
        if (opts.parallelJobId !== undefined) flagIds.parallel = parseJobId(opts.parallelJobId, "--parallel-job-id");
        const missingIds = kinds.filter((k) => flagIds[k] === undefined);

        let outputs: StackOutputs | undefined;
        let stackError: Error | undefined;
        if (missingIds.length > 0 || !host) {
            try {
                outputs = await loadStackOutputs(opts.stack, deps.readStack ?? pulumiStackReader(env, deps.cwd));
            } catch (err) {
                stackError = err as Error;
            }
        }
        const ids: Ctx["ids"] = {};
        for (const kind of kinds) {
            if (flagIds[kind] !== undefined) {
                ids[kind] = { kind, id: flagIds[kind]!, source: `--${kind}-job-id` };
            } else {
                if (stackError) throw stackError;
                ids[kind] = { kind, id: jobIdFromStack(outputs!, kind), source: `stack '${opts.stack}' output '${kind}JobId'` };
            }
        }
        if (!host && outputs?.workspaceUrl) {
            host = { host: normalizeHost(outputs.workspaceUrl, `stack '${opts.stack}' output 'workspaceUrl'`), source: `stack '${opts.stack}'` };
        }
        host ??= defaultProfileHost(cfg);
        if (!host) {
            const why = stackError ? ` (${stackError.message})` : outputs ? ` (stack '${opts.stack}' has no output 'workspaceUrl')` : "";
            throw new UsageError(`no workspace host: pass --host, set DATABRICKS_HOST or use --profile${why}`);
        }
        credential = resolveCredential({ host: host.host, profileFlag: opts.profile, env, cfg, azure: deps.azure });
        const client = new JobsClient({
            host: host.host,
            credential,
            timeoutMs: deps.timeoutMs ?? opts.timeout * 1000,
            retry: deps.retry,
            sleep: deps.sleep,
            random: deps.random,
            onRetry: (e) =>
                stderr.write(`Note: ${e.method} ${e.path}: ${e.reason}; retrying in ${(e.delayMs / 1000).toFixed(1)}s (attempt ${e.attempt + 1})\n`),
        });
        stderr.write(`Workspace ${host.host} (from ${host.source}), authenticating with the ${credential.description}\n`);
        return { client, credential, host, ids };
    };

    const program = new Command("jobs")
        .description("Run the stack's sequential and parallel Databricks jobs and compare their runtimes.")
        .exitOverride()
        .configureOutput({ writeOut: (s) => stdout.write(s), writeErr: (s) => stderr.write(s) })
        .showHelpAfterError("(run with --help for usage)")
        .addHelpText(
            "after",
            `
Authentication (Databricks unified authentication): DATABRICKS_HOST + DATABRICKS_TOKEN;
--profile NAME or DATABRICKS_CONFIG_PROFILE (~/.databrickscfg or DATABRICKS_CONFIG_FILE);
ARM_CLIENT_ID + ARM_CLIENT_SECRET + ARM_TENANT_ID (service principal); or the Azure CLI
(az login). DATABRICKS_AUTH_TYPE=pat|azure-cli|azure-client-secret forces one.
Exit status: 0 success, 1 a run did not succeed, 2 bad input, configuration or API error.
See cli/README.md.`,
        );

    addCommonOptions(
        program
            .command("run")
            .description("trigger the jobs one after the other, follow each run, and print the orchestrator's summary")
            .addOption(new Option("--job <which>", "which job to run").choices([...JOB_CHOICES]).default("both"))
            .option("--job-id <id>", "run this job id instead of the stack's jobs")
            .option("--no-wait", "trigger and print the run URL without waiting for the run to end")
            .option("--poll-interval <seconds>", "seconds between two runs/get calls while waiting", positiveSeconds("--poll-interval"), 5),
    ).action(async (opts: RunOptions, cmd: Command) => {
        let targets: JobTarget[];
        if (opts.jobId !== undefined) {
            if (cmd.getOptionValueSource("job") === "cli") throw new UsageError("--job and --job-id cannot be used together: --job-id runs that one job");
            targets = [{ id: parseJobId(opts.jobId, "--job-id"), source: "--job-id" }];
        } else {
            const kinds: JobKind[] = opts.job === "both" ? ["sequential", "parallel"] : [opts.job];
            if (!opts.wait && kinds.length > 1) {
                throw new UsageError(
                    "--no-wait with --job both would start both jobs at once on the shared cluster, and their times would not compare: add --job sequential or --job parallel",
                );
            }
            targets = kinds.map((k) => ({ kind: k, id: 0, source: "" }));
        }
        const ctx = await resolve(
            opts,
            targets.flatMap((t) => (t.kind ? [t.kind] : [])),
        );
        targets = targets.map((t) => (t.kind ? ctx.ids[t.kind]! : t));
        exitCode = await runJobs(
            {
                client: ctx.client,
                out: stdout,
                err: stderr,
                progress: () => createProgress(stdout, deps.spinnerStream, env),
                sleep: deps.sleep,
                now: deps.now,
                pollIntervalMs: deps.pollIntervalMs ?? opts.pollInterval * 1000,
                onWaiting: deps.onWaiting,
            },
            targets,
            opts.wait,
        );
    });

    addCommonOptions(
        program
            .command("compare")
            .description("compare the last N completed runs of both jobs: durations, time split, success rate, per-worker times, speedup")
            .option("--last <n>", "how many completed runs of each job to compare", positiveInt("--last", 500), 5)
            .option("--json", "print the report as JSON")
            .option("--chart <file>", "write a chart of the runs and per-worker times (.svg or .html)")
            .option("--save-workload <file>", "write the per-worker median durations as a workload file for `npm run simulate -- --workload`")
            .addOption(
                new Option("--workload-from <job>", "which job's worker durations --save-workload uses")
                    .choices(["sequential", "parallel"])
                    .default("sequential"),
            ),
    ).action(async (opts: CompareOptions) => {
        if (opts.chart !== undefined) chartFormat(opts.chart);
        const ctx = await resolve(opts, ["sequential", "parallel"]);
        const collected = [];
        for (const kind of ["sequential", "parallel"] as const) {
            const target = ctx.ids[kind]!;
            stderr.write(`Fetching the last ${opts.last} completed runs of ${kind} job ${target.id}...\n`);
            collected.push(await collectJob(ctx.client, target, opts.last, { pageSize: deps.pageSize }));
        }
        const report = buildCompareReport(ctx.host.host, opts.last, collected[0], collected[1]);
        stdout.write(opts.json ? `${JSON.stringify(compareToJson(report), null, 2)}\n` : `\n${formatCompare(report)}`);
        // With --json, stdout holds only the JSON: the notes go to stderr.
        const notes = opts.json ? stderr : stdout;
        if (opts.chart !== undefined) {
            await fsp.writeFile(opts.chart, await renderChart(report, opts.chart));
            notes.write(`Chart written to ${opts.chart}\n`);
        }
        if (opts.saveWorkload !== undefined) {
            const workload = workloadFromReport(report, opts.workloadFrom);
            await fsp.writeFile(opts.saveWorkload, formatWorkload(workload));
            notes.write(`Workload written to ${opts.saveWorkload} (${workload.source}); try it with: npm run simulate -- --workload ${opts.saveWorkload}\n`);
        }
    });

    try {
        await program.parseAsync(argv, { from: "user" });
        return exitCode;
    } catch (err) {
        if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_ERROR;
        if (credential) secrets.push(...credential.secrets());
        for (const name of ["DATABRICKS_TOKEN", "ARM_CLIENT_SECRET"]) if (env[name]) secrets.push(env[name]!);
        if (err instanceof CliError) {
            stderr.write(`Error: ${redact(err.message, secrets)}\n`);
            return err.exitCode;
        }
        stderr.write(`Error: ${redact(String((err as Error)?.stack ?? err), secrets)}\n`);
        return EXIT_ERROR;
    }
}

if (require.main === module) {
    let waitingUrl: string | undefined;
    process.once("SIGINT", () => {
        process.stderr.write(`\nInterrupted${waitingUrl ? `; the run goes on in the workspace: ${waitingUrl}` : ""}\n`);
        process.exit(130);
    });
    main(process.argv.slice(2), { onWaiting: (url) => (waitingUrl = url) }).then(
        (code) => process.exit(code),
        (err) => {
            process.stderr.write(`Error: ${String(err)}\n`);
            process.exit(EXIT_ERROR);
        },
    );
}
