/**
 * Finding the stack's jobs by name when no stack outputs are at hand (no pulumi CLI, a stack not
 * readable from here): the stack names its jobs "[<stack>] <project> <kind>" (components/naming.ts),
 * and jobs/list filters by exact, case-insensitive name. When no job has the name, the error lists
 * the workspace's nearest job names, so a wrong --stack is easy to spot.
 */
import { environmentNames } from "../components/naming";
import type { JobsClient } from "./api";
import { CliError } from "./errors";
import type { JobKind } from "./stack";
import type { Job } from "./types";

/** The name the stack gives the job of `kind`. */
export function stackJobName(project: string, stack: string, kind: JobKind): string {
    return environmentNames({ project, stack, workspaceRoot: "/", vaultNamePrefix: "kv" }).jobName(kind);
}

/** The Pulumi project's name (Pulumi.yaml), which the job names carry. */
export function projectName(): string {
    // Loaded only on this fallback path: tools/offline.ts reads Pulumi.yaml (and loads @pulumi/pulumi).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require("../tools/offline") as typeof import("../tools/offline")).projectName();
}

/** Levenshtein distance, for ranking near matches. */
export function editDistance(a: string, b: string): number {
    const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        let diagonal = prev[0];
        prev[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const above = prev[j];
            prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
            diagonal = above;
        }
    }
    return prev[b.length];
}

/** Up to `max` job names closest to `name` (case-insensitive), within 40% of its length. */
export function nearMatches(name: string, jobs: readonly Job[], max = 5): Job[] {
    const wanted = name.toLowerCase();
    const limit = Math.max(3, Math.round(wanted.length * 0.4));
    return jobs
        .map((job) => ({ job, distance: editDistance(wanted, (job.settings?.name ?? "").toLowerCase()) }))
        .filter((m) => m.distance <= limit)
        .sort((a, b) => a.distance - b.distance || a.job.job_id - b.job.job_id)
        .slice(0, max)
        .map((m) => m.job);
}

/** The id of the one job named `name`; the error names near matches, or the ids when several share the name. */
export async function findJobByName(client: JobsClient, name: string, flag: string): Promise<number> {
    const found = await client.listJobs({ name });
    if (found.length === 1) return found[0].job_id;
    if (found.length > 1) {
        throw new CliError(
            `${found.length} jobs in ${client.host} are named '${name}' (ids ${found.map((j) => j.job_id).join(", ")}): pass the one to run with ${flag}`,
        );
    }
    const all = await client.listJobs();
    const near = nearMatches(name, all);
    throw new CliError(
        `no job named '${name}' in ${client.host}` +
            (near.length
                ? `; the nearest names there: ${near.map((j) => `'${j.settings?.name ?? ""}' (id ${j.job_id})`).join(", ")}`
                : ` (none of its ${all.length} jobs has a similar name)`) +
            `. Check --stack, deploy the stack, or pass ${flag}`,
    );
}
