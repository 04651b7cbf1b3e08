/**
 * The Pulumi stack's outputs (`pulumi stack output --json --stack NAME`): the workspace URL and
 * the two jobs' ids. Read only when the ids or the host were not given on the command line.
 */
import { execFile } from "node:child_process";
import { CliError, UsageError } from "./errors";
import type { Env } from "./config";

/** The orchestration strategies: the two notebook orchestrators and the optional Databricks-native For each job. */
export type JobKind = "sequential" | "parallel" | "for-each";
export const JOB_KINDS: readonly JobKind[] = ["sequential", "parallel", "for-each"];
/** The stack always declares these; the For each job only when the stack enables it. */
export const REQUIRED_JOB_KINDS: readonly JobKind[] = ["sequential", "parallel"];

/** The stack output that holds the id of the job of `kind`: sequentialJobId, parallelJobId, forEachJobId. */
export function jobIdOutput(kind: JobKind): "sequentialJobId" | "parallelJobId" | "forEachJobId" {
    return kind === "for-each" ? "forEachJobId" : kind === "sequential" ? "sequentialJobId" : "parallelJobId";
}

export interface StackOutputs {
    stack: string;
    workspaceUrl?: string;
    sequentialJobId?: string;
    parallelJobId?: string;
    /** Only when the stack has the optional For each job. */
    forEachJobId?: string;
    sequentialJobUrl?: string;
    parallelJobUrl?: string;
}

/** Returns the parsed JSON of `pulumi stack output --json` for a stack. */
export type StackReader = (stack: string) => Promise<unknown>;

const FALLBACK_HINT =
    "pass the job ids with --sequential-job-id/--parallel-job-id/--for-each-job-id (or --job-id for run) and the workspace with --host or DATABRICKS_HOST";

/** The stack's outputs cannot be had; `reason` says why, the message also what to do instead. */
export class StackOutputsError extends CliError {
    constructor(
        readonly reason: string,
        hint: string = FALLBACK_HINT,
    ) {
        super(`${reason}; ${hint}`);
        this.name = "StackOutputsError";
    }
}

/** Runs the pulumi CLI (found on env.PATH) and parses its JSON. */
export function pulumiStackReader(env: Env, cwd?: string): StackReader {
    return (stack) =>
        new Promise((resolve, reject) => {
            const args = ["stack", "output", "--json", "--stack", stack];
            execFile(
                "pulumi",
                args,
                { env: env as NodeJS.ProcessEnv, cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024, windowsHide: true },
                (err, stdout, stderr) => {
                    const cmd = `pulumi ${args.join(" ")}`;
                    if (err) {
                        const code = (err as NodeJS.ErrnoException).code;
                        if (code === "ENOENT") {
                            reject(new StackOutputsError(`cannot read the outputs of stack '${stack}': the pulumi CLI is not installed or not on PATH`));
                            return;
                        }
                        const detail = String(stderr || err.message)
                            .trim()
                            .split("\n")
                            .slice(0, 3)
                            .join(" ");
                        reject(new StackOutputsError(`\`${cmd}\` failed: ${detail}`, `check --stack and \`pulumi login\`, or ${FALLBACK_HINT}`));
                        return;
                    }
                    try {
                        resolve(JSON.parse(String(stdout)));
                    } catch {
                        reject(new StackOutputsError(`\`${cmd}\` did not print JSON`));
                    }
                },
            );
        });
}

/** Reads and checks a stack's outputs; throws when there are none. */
export async function loadStackOutputs(stack: string, reader: StackReader): Promise<StackOutputs> {
    const raw = await reader(stack);
    if (raw === null || typeof raw !== "object" || Array.isArray(raw) || Object.keys(raw).length === 0) {
        throw new StackOutputsError(
            `stack '${stack}' has no outputs`,
            `deploy it first (\`pulumi up --stack ${stack}\`), choose another with --stack, or ${FALLBACK_HINT}`,
        );
    }
    const obj = raw as Record<string, unknown>;
    const str = (key: string): string | undefined => {
        const v = obj[key];
        if (v === undefined || v === null) return undefined;
        return typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined;
    };
    return {
        stack,
        workspaceUrl: str("workspaceUrl"),
        sequentialJobId: str("sequentialJobId"),
        parallelJobId: str("parallelJobId"),
        forEachJobId: str("forEachJobId"),
        sequentialJobUrl: str("sequentialJobUrl"),
        parallelJobUrl: str("parallelJobUrl"),
    };
}

/** A numeric job id from a flag or an output; `source` names it in the error. */
export function parseJobId(value: string, source: string): number {
    const v = value.trim();
    if (!/^\d+$/.test(v) || Number(v) <= 0 || !Number.isSafeInteger(Number(v))) {
        throw new UsageError(`${source} must be a numeric Databricks job id (e.g. 123), got '${value}'`);
    }
    return Number(v);
}

/** The id of one job from the stack outputs; throws naming the missing output. */
export function jobIdFromStack(outputs: StackOutputs, kind: JobKind): number {
    const key = jobIdOutput(kind);
    const value = outputs[key];
    if (value === undefined) {
        throw new CliError(`stack '${outputs.stack}' has no output '${key}'; deploy the stack, or pass --${kind}-job-id`);
    }
    if (value === "[secret]") {
        throw new CliError(`stack '${outputs.stack}' output '${key}' is a secret; pass --${kind}-job-id instead`);
    }
    return parseJobId(value, `stack '${outputs.stack}' output '${key}'`);
}
