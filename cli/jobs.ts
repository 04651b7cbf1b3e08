/**
 * npm run jobs -- run     [--stack dev] [--job all|sequential|parallel|for-each|both] [--job-id ID] [--no-wait]
 *                         [--timeout 20m] [--param KEY=VALUE ...] [-o text|json]
 * npm run jobs -- compare [--stack dev] [--last N] [-o text|json] [--chart FILE] [--save-workload FILE]
 *                         [--dbu-per-node-hour N] [--price-per-dbu N] [--warehouse-id ID]
 * npm run jobs -- auth describe [--stack dev] [-o text|json]
 *
 * Triggers the stack's orchestration jobs (sequential, parallel and, when the stack has it, the
 * Databricks-native For each job) and compares their runtimes and compute against a real workspace. See docs/jobs-cli.md.
 */
import { promises as fsp } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ApiError, JobsClient, type RetryOptions } from "./api";
import { resolveCredential, type Credential } from "./auth";
import { checkChartFile } from "../tools/charts";
import { checkReplaceableFile } from "../tools/outputDirectory";
import { renderChart } from "./chart";
import { billedUsage } from "./billing";
import { buildCompareReport, collectJob, type Billing, compareToJson, formatCompare, workloadFromReport } from "./compare";
import type { ClusterSizes } from "./cost";
import {
    ATTRIBUTES,
    defaultProfileHost,
    explicitHost,
    normalizeHost,
    readConfigFile,
    resolveAuthAttributes,
    sensitiveEnvValues,
    type AuthAttributes,
    type Env,
    type HostChoice,
} from "./config";
import { CliError, EXIT_ERROR, EXIT_OK, UsageError, redact } from "./errors";
import { parseGoDuration } from "./format";
import { findJobByName, projectName, stackJobName } from "./lookup";
import { createProgress, type Writer } from "./progress";
import { parseJobParams, runJobs, runsToJson, type JobTarget } from "./run";
import {
    jobIdFromStack,
    jobIdOutput,
    loadStackOutputs,
    parseJobId,
    REQUIRED_JOB_KINDS,
    pulumiStackReader,
    StackOutputsError,
    JOB_KINDS,
    type JobKind,
    type StackOutputs,
    type StackReader,
} from "./stack";
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
    /** The Pulumi project name the job names carry (read from Pulumi.yaml by default). */
    project?: string;
    /** Overrides --poll-interval (tests). */
    pollIntervalMs?: number;
    retry?: Partial<RetryOptions>;
    /** Overrides --request-timeout (tests). */
    timeoutMs?: number;
    /** runs/list page size (the API allows up to 25). */
    pageSize?: number;
    random?: () => number;
    onWaiting?: (url: string | undefined) => void;
    cwd?: string;
}

/** all: every job the stack declares (the For each job only when it has one); both: sequential and parallel. */
const JOB_CHOICES = ["all", "sequential", "parallel", "for-each", "both"] as const;
/** `databricks jobs run-now --timeout` default. */
export const DEFAULT_WAIT_TIMEOUT = "20m";

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

function duration(flag: string) {
    return (value: string): number => {
        const ms = parseGoDuration(value);
        if (ms === undefined || ms <= 0) {
            throw new InvalidArgumentError(`${flag} must be a duration such as 20m, 1h30m or 90s (as the Databricks CLI takes it), got '${value}'.`);
        }
        return ms;
    };
}

function nonNegativeNumber(flag: string, what: string) {
    return (value: string): number => {
        const n = Number(value);
        if (value.trim() === "" || !Number.isFinite(n) || n < 0) {
            throw new InvalidArgumentError(`${flag} must be ${what}, a number of 0 or more (e.g. 0.75), got '${value}'.`);
        }
        return n;
    };
}

/** A SQL warehouse id: 16 hexadecimal characters, as in the warehouse's HTTP path /sql/1.0/warehouses/<id>. */
function warehouseId(value: string): string {
    const v = value.trim();
    if (!/^[0-9a-f]{16}$/i.test(v)) {
        throw new InvalidArgumentError(
            `--warehouse-id must be a SQL warehouse id, 16 hexadecimal characters as in its HTTP path /sql/1.0/warehouses/<id>, got '${value}'.`,
        );
    }
    return v.toLowerCase();
}

function collect(value: string, previous: string[] = []): string[] {
    return [...previous, value];
}

interface CommonOptions {
    stack: string;
    profile?: string;
    host?: string;
    sequentialJobId?: string;
    parallelJobId?: string;
    forEachJobId?: string;
    requestTimeout: number;
    output: "text" | "json";
}

interface RunOptions extends CommonOptions {
    job: (typeof JOB_CHOICES)[number];
    jobId?: string;
    wait: boolean;
    pollInterval: number;
    timeout: number;
    param?: string[];
}

interface CompareOptions extends CommonOptions {
    last: number;
    json?: boolean;
    chart?: string;
    saveWorkload?: string;
    workloadFrom: JobKind;
    dbuPerNodeHour?: number;
    pricePerDbu?: number;
    warehouseId?: string;
}

function addConnectionOptions(cmd: Command): Command {
    return cmd
        .option("--stack <name>", "Pulumi stack whose outputs give the job ids and workspace URL (its job names when there are no outputs)", "dev")
        .option("--profile <name>", "profile in ~/.databrickscfg (or DATABRICKS_CONFIG_FILE) to authenticate with")
        .option("--host <url>", "workspace URL (default: the profile's host, DATABRICKS_HOST, or the stack's workspaceUrl)")
        .option("--request-timeout <seconds>", "timeout of each API request", positiveSeconds("--request-timeout"), 30)
        .addOption(new Option("-o, --output <type>", "output type").choices(["text", "json"]).default("text"));
}

function addJobIdOptions(cmd: Command): Command {
    return cmd
        .option("--sequential-job-id <id>", "id of the sequential job (default: stack output sequentialJobId, else found by name)")
        .option("--parallel-job-id <id>", "id of the parallel job (default: stack output parallelJobId, else found by name)")
        .option("--for-each-job-id <id>", "id of the For each job (default: stack output forEachJobId, else found by name; left out when the stack has none)");
}

/** A Ctx holds what the commands share once the options are resolved. */
interface Ctx {
    client: JobsClient;
    credential: Credential;
    auth: AuthAttributes;
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
    let credential: Credential | undefined;
    let exitCode = EXIT_OK;

    /**
     * Resolves host, credential and job ids. `kinds` are the jobs whose ids are needed: from the
     * flags, else the stack outputs, else found by the names the stack gives them. `optional`
     * jobs (the For each job, which a stack may not have) are left out when the stack's outputs
     * have no id for them or, without outputs, no job has their name; with every needed id given
     * as a flag, an optional job is included only when its id is given too.
     */
    const resolve = async (opts: CommonOptions, kinds: readonly JobKind[], optional: readonly JobKind[] = []): Promise<Ctx> => {
        const cfg = readConfigFile(env);
        let host = explicitHost(opts.host, opts.profile, env, cfg);
        const flagIds: Partial<Record<JobKind, number>> = {};
        if (opts.sequentialJobId !== undefined) flagIds.sequential = parseJobId(opts.sequentialJobId, "--sequential-job-id");
        if (opts.parallelJobId !== undefined) flagIds.parallel = parseJobId(opts.parallelJobId, "--parallel-job-id");
        if (opts.forEachJobId !== undefined) flagIds["for-each"] = parseJobId(opts.forEachJobId, "--for-each-job-id");
        const missingIds = kinds.filter((k) => flagIds[k] === undefined);
        // Optional jobs are looked for only where the needed ones are: in the stack, or by name.
        const optionalKinds = optional.filter((k) => flagIds[k] !== undefined || (missingIds.length > 0 && !kinds.includes(k)));

        let outputs: StackOutputs | undefined;
        let stackError: Error | undefined;
        if (missingIds.length > 0 || !host) {
            try {
                outputs = await loadStackOutputs(opts.stack, deps.readStack ?? pulumiStackReader(env, deps.cwd));
            } catch (err) {
                stackError = err as Error;
            }
        }
        if (!host && outputs?.workspaceUrl) {
            host = { host: normalizeHost(outputs.workspaceUrl, `stack '${opts.stack}' output 'workspaceUrl'`), source: `stack '${opts.stack}'` };
        }
        host ??= defaultProfileHost(cfg);
        if (!host) {
            if (stackError && missingIds.length > 0) throw stackError;
            const why = stackError ? ` (${stackError.message})` : outputs ? ` (stack '${opts.stack}' has no output 'workspaceUrl')` : "";
            throw new UsageError(`no workspace host: pass --host, set DATABRICKS_HOST or use --profile${why}`);
        }
        const timeoutMs = deps.timeoutMs ?? opts.requestTimeout * 1000;
        const auth = resolveAuthAttributes(host.host, opts.profile, env, cfg);
        credential = resolveCredential({ host: host.host, attrs: auth.attrs, env, now: deps.now, sleep: deps.sleep, timeoutMs });
        const client = new JobsClient({
            host: host.host,
            credential,
            timeoutMs,
            retry: deps.retry,
            sleep: deps.sleep,
            random: deps.random,
            onRetry: (e) =>
                stderr.write(`Note: ${e.method} ${e.path}: ${e.reason}; retrying in ${(e.delayMs / 1000).toFixed(1)}s (attempt ${e.attempt + 1})\n`),
        });
        stderr.write(`Workspace ${host.host} (from ${host.source}), authenticating with the ${credential.description} (auth type ${credential.authType})\n`);

        const ids: Ctx["ids"] = {};
        for (const kind of [...kinds, ...optionalKinds]) {
            const flag = `--${kind}-job-id`;
            const output = jobIdOutput(kind);
            const isOptional = !kinds.includes(kind);
            if (flagIds[kind] !== undefined) {
                ids[kind] = { kind, id: flagIds[kind]!, source: flag };
            } else if (outputs?.[output] !== undefined) {
                ids[kind] = { kind, id: jobIdFromStack(outputs, kind), source: `stack '${opts.stack}' output '${output}'` };
            } else if (isOptional && outputs) {
                // The stack's outputs say which jobs it has: no forEachJobId, no For each job.
                continue;
            } else {
                const name = stackJobName(deps.project ?? projectName(), opts.stack, kind);
                const why =
                    stackError instanceof StackOutputsError ? stackError.reason : (stackError?.message ?? `stack '${opts.stack}' has no output '${output}'`);
                if (isOptional && (await client.listJobs({ name })).length === 0) {
                    stderr.write(`No ${kind} job named '${name}': comparing without it (pass ${flag} if it has another name)\n`);
                    continue;
                }
                let id: number;
                try {
                    id = await findJobByName(client, name, flag);
                } catch (err) {
                    if (err instanceof CliError && !(err instanceof ApiError))
                        throw new CliError(`${err.message} (the stack's outputs could not be used: ${why})`);
                    throw err;
                }
                stderr.write(`Found ${kind} job ${id} by its name '${name}' (${why})\n`);
                ids[kind] = { kind, id, source: `its name '${name}'` };
            }
        }
        return { client, credential, auth, host, ids };
    };

    const program = new Command("jobs")
        .description("Run the stack's orchestration jobs (sequential, parallel, for-each) and compare their runtimes and compute.")
        .exitOverride()
        .configureOutput({ writeOut: (s) => stdout.write(s), writeErr: (s) => stderr.write(s) })
        .showHelpAfterError("(run with --help for usage)")
        .addHelpText(
            "after",
            `
Authentication: Databricks unified authentication, as the Databricks CLI and SDKs do it
(DATABRICKS_HOST with DATABRICKS_TOKEN, DATABRICKS_CLIENT_ID/SECRET, ARM_* service principals,
GitHub OIDC, managed identity, az login, or --profile); DATABRICKS_AUTH_TYPE picks one.
\`jobs auth describe\` shows which is used. Exit status: 0 success, 1 a run did not succeed (or the
wait limit passed), 2 bad input, configuration, authentication or API error.
See docs/jobs-cli.md.`,
        );

    addJobIdOptions(
        addConnectionOptions(
            program
                .command("run")
                .description("trigger the jobs one after the other, follow each run, and print the orchestrator's summary (for-each: its iterations)")
                .addOption(
                    new Option("--job <which>", "which job to run: all = every job the stack declares, both = sequential and parallel")
                        .choices([...JOB_CHOICES])
                        .default("all"),
                )
                .option("--job-id <id>", "run this job id instead of the stack's jobs")
                .option("--param <key=value>", "job parameter override for the run (repeatable), e.g. --param max_workers=8", collect)
                .option("--no-wait", "trigger and print the run URL without waiting for the run to end")
                .addOption(
                    new Option("--timeout <duration>", "how long to wait for each run to end, e.g. 45m or 1h30m")
                        .argParser(duration("--timeout"))
                        .default(parseGoDuration(DEFAULT_WAIT_TIMEOUT), DEFAULT_WAIT_TIMEOUT),
                )
                .option("--poll-interval <seconds>", "seconds between two runs/get calls while waiting", positiveSeconds("--poll-interval"), 5),
        ),
    ).action(async (opts: RunOptions, cmd: Command) => {
        const params = parseJobParams(opts.param ?? []);
        let targets: JobTarget[];
        if (opts.jobId !== undefined) {
            if (cmd.getOptionValueSource("job") === "cli") throw new UsageError("--job and --job-id cannot be used together: --job-id runs that one job");
            targets = [{ id: parseJobId(opts.jobId, "--job-id"), source: "--job-id" }];
        } else {
            const kinds: JobKind[] = opts.job === "all" || opts.job === "both" ? [...REQUIRED_JOB_KINDS] : [opts.job];
            if (!opts.wait && (kinds.length > 1 || opts.job === "all")) {
                throw new UsageError(
                    `--no-wait with --job ${opts.job} would start the jobs at once on the shared cluster, and their times would not compare: add --job sequential, parallel or for-each`,
                );
            }
            targets = kinds.map((k) => ({ kind: k, id: 0, source: "" }));
        }
        const ctx = await resolve(
            opts,
            targets.flatMap((t) => (t.kind ? [t.kind] : [])),
            opts.job === "all" && opts.jobId === undefined ? ["for-each"] : [],
        );
        targets = targets.map((t) => (t.kind ? ctx.ids[t.kind]! : t));
        if (ctx.ids["for-each"] && !targets.some((t) => t.kind === "for-each")) targets.push(ctx.ids["for-each"]);
        const json = opts.output === "json";
        const result = await runJobs(
            {
                client: ctx.client,
                // With -o json, stdout holds only the JSON: the progress and the summaries go to stderr.
                out: json ? stderr : stdout,
                err: stderr,
                progress: () => createProgress(json ? stderr : stdout, deps.spinnerStream, env),
                sleep: deps.sleep,
                now: deps.now,
                pollIntervalMs: deps.pollIntervalMs ?? opts.pollInterval * 1000,
                waitTimeoutMs: opts.timeout,
                onWaiting: deps.onWaiting,
                clusterSizes: new Map(),
            },
            targets,
            opts.wait,
            params,
        );
        if (json) stdout.write(`${JSON.stringify(runsToJson(result.outcomes), null, 2)}\n`);
        exitCode = result.exitCode;
    });

    addJobIdOptions(
        addConnectionOptions(
            program
                .command("compare")
                .description(
                    "compare the last N completed runs of every job the stack declares: durations, time split, success rate, per-worker times, compute, speedups",
                )
                .option("--last <n>", "how many completed runs of each job to compare", positiveInt("--last", 500), 5)
                .addOption(new Option("--json", "the same as -o json").hideHelp())
                .option("--chart <file>", "write a chart of the runs and per-worker times (.svg or .html)")
                .option("--save-workload <file>", "write the per-worker median durations as a workload file for `npm run simulate -- --workload`")
                .addOption(
                    new Option("--workload-from <job>", "which job's worker durations --save-workload uses")
                        .choices(["sequential", "parallel", "for-each"])
                        .default("sequential"),
                )
                .option(
                    "--dbu-per-node-hour <n>",
                    "DBUs one node of the clusters consumes per hour (of your VM size and compute type): adds DBUs to the compute table",
                    nonNegativeNumber("--dbu-per-node-hour", "DBUs per node-hour"),
                )
                .option(
                    "--price-per-dbu <n>",
                    "price of one DBU (of your pricing tier), needs --dbu-per-node-hour: adds the cost to the compute table",
                    nonNegativeNumber("--price-per-dbu", "the price of one DBU"),
                )
                .option(
                    "--warehouse-id <id>",
                    "SQL warehouse to read the DBUs billed for each job run from system.billing.usage (measured, for runs on jobs compute)",
                    warehouseId,
                ),
        ),
    ).action(async (opts: CompareOptions) => {
        // Both files are checked before any request: a bad name, or a file no run of these tools wrote, is a usage error.
        try {
            if (opts.chart !== undefined) checkChartFile(opts.chart, "--chart");
            if (opts.saveWorkload !== undefined) checkReplaceableFile(opts.saveWorkload, "--save-workload");
        } catch (error) {
            throw new UsageError((error as Error).message);
        }
        if (opts.pricePerDbu !== undefined && opts.dbuPerNodeHour === undefined) {
            throw new UsageError("--price-per-dbu needs --dbu-per-node-hour: the price is per DBU, and the DBUs come from the node-hours at that rate");
        }
        const json = opts.output === "json" || opts.json === true;
        const ctx = await resolve(opts, REQUIRED_JOB_KINDS, ["for-each"]);
        if (opts.workloadFrom && opts.saveWorkload !== undefined && !ctx.ids[opts.workloadFrom]) {
            throw new UsageError(`--workload-from ${opts.workloadFrom}: the stack has no ${opts.workloadFrom} job; choose sequential or parallel`);
        }
        const collected = [];
        const sizes: ClusterSizes = new Map();
        for (const kind of JOB_KINDS.filter((k) => ctx.ids[k])) {
            const target = ctx.ids[kind]!;
            stderr.write(`Fetching the last ${opts.last} completed runs of ${kind} job ${target.id}...\n`);
            collected.push(await collectJob(ctx.client, target, opts.last, { pageSize: deps.pageSize, sizes }));
        }
        let billing: Billing | undefined;
        if (opts.warehouseId !== undefined) {
            stderr.write(`Reading the billed usage of these runs from system.billing.usage on SQL warehouse ${opts.warehouseId}...\n`);
            const starts = collected.flatMap((j) => j.runs.map((r) => r.run.start_time ?? deps.now()));
            const usage = await billedUsage(ctx.client, {
                warehouseId: opts.warehouseId,
                jobIds: collected.map((j) => j.jobId),
                sinceMs: Math.min(...starts),
                sleep: deps.sleep,
            });
            billing = { warehouseId: opts.warehouseId, usage };
        }
        const rates = { dbuPerNodeHour: opts.dbuPerNodeHour, pricePerDbu: opts.pricePerDbu };
        const report = buildCompareReport(ctx.host.host, opts.last, collected, sizes, rates, billing);
        stdout.write(json ? `${JSON.stringify(compareToJson(report), null, 2)}\n` : `\n${formatCompare(report)}`);
        // With JSON, stdout holds only the JSON: the notes go to stderr.
        const notes = json ? stderr : stdout;
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

    addConnectionOptions(
        program
            .command("auth")
            .description("authentication commands")
            .command("describe")
            .description("show which workspace and credential the tool uses and where each setting came from, then check them (as `databricks auth describe`)"),
    ).action(async (opts: CommonOptions) => {
        const ctx = await resolve(opts, []);
        const me = await ctx.client.currentUser();
        const user = me.userName ?? me.displayName ?? "(unknown)";
        const settings = ATTRIBUTES.filter((a) => ctx.auth.attrs[a.name]).map((a) => ({
            name: a.name,
            value: "sensitive" in a && a.sensitive ? "********" : ctx.auth.attrs[a.name]!.value,
            source: ctx.auth.attrs[a.name]!.source,
        }));
        if (opts.output === "json") {
            const doc = {
                host: ctx.host.host,
                host_source: ctx.host.source,
                user,
                auth_type: ctx.credential.authType,
                credential: ctx.credential.description,
                profile: ctx.auth.profile?.name ?? null,
                settings,
            };
            stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
            return;
        }
        const lines = [
            `Host: ${ctx.host.host}`,
            `User: ${user}`,
            `Authenticated with: ${ctx.credential.authType} (${ctx.credential.description})`,
            "-----",
            "Current configuration:",
            `  ✓ host: ${ctx.host.host} (from ${ctx.host.source})`,
            ...(ctx.auth.profile ? [`  ✓ profile: ${ctx.auth.profile.name} (from ${ctx.auth.profile.source})`] : []),
            ...settings.filter((s) => s.name !== "host").map((s) => `  ✓ ${s.name}: ${s.value} (from ${s.source})`),
        ];
        stdout.write(`${lines.join("\n")}\n`);
    });

    try {
        await program.parseAsync(argv, { from: "user" });
        return exitCode;
    } catch (err) {
        if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_ERROR;
        const secrets = [...(credential?.secrets() ?? []), ...sensitiveEnvValues(env)];
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
