/**
 * Which configuration keys a stack may set, and what to say about the others. The Pulumi CLI validates
 * the keys Pulumi.yaml declares (their types, and that required ones are set) but not the keys it does
 * not declare: a typo such as `maxworkers` or `notebook-orchestraton:maxWorkers` is passed to the
 * program and, unread, silently leaves the setting at its default (pulumi/pulumi
 * sdk/go/common/workspace/config.go, mergeConfig and validateStackConfigValues).
 */
import * as fs from "fs";
import * as YAML from "yaml";

/** Namespaces the program's providers and Pulumi itself read (`azure-native:location`, `pulumi:tags`). */
export const PROVIDER_NAMESPACES: readonly string[] = ["pulumi", "azure-native", "databricks", "random"];

/**
 * Project keys that hold JSON objects, which Pulumi.yaml's config schema has no type for: they are
 * documented in its comments instead of declared (a test keeps the two in step).
 */
export const OBJECT_CONFIG_KEYS: readonly string[] = ["tags", "workItems", "workerExpectedSeconds", "keyVaultSecrets"];

/** Levenshtein distance between two strings. */
export function editDistance(a: string, b: string): number {
    let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const current = [i];
        for (let j = 1; j <= b.length; j++) {
            current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
        previous = current;
    }
    return previous[b.length];
}

/**
 * The candidate closest to `needle`, ignoring case, when it is close enough to be what was meant: at
 * most 2 edits, or a quarter of the needle's length for long names (as the Pulumi CLI suggests
 * project-file attributes, with a little more room for long keys). Ties go to the first in sorted order.
 */
export function closestName(needle: string, candidates: readonly string[]): string | undefined {
    const limit = Math.max(2, Math.floor(needle.length / 4));
    let best: { name: string; distance: number } | undefined;
    for (const candidate of [...candidates].sort()) {
        const distance = editDistance(needle.toLowerCase(), candidate.toLowerCase());
        if (distance <= limit && (!best || distance < best.distance)) {
            best = { name: candidate, distance };
        }
    }
    return best?.name;
}

/** The project keys Pulumi.yaml declares (its `config:` keys in the project's namespace) and the object keys it documents. */
export function declaredConfigKeys(projectFile: string): string[] {
    const project = YAML.parse(fs.readFileSync(projectFile, "utf8")) as { name: string; config?: Record<string, unknown> };
    const declared = Object.keys(project.config ?? {}).flatMap((key) => {
        if (!key.includes(":")) {
            return [key];
        }
        return key.startsWith(`${project.name}:`) ? [key.slice(project.name.length + 1)] : [];
    });
    return [...new Set([...declared, ...OBJECT_CONFIG_KEYS])];
}

export interface UnknownKeyFindings {
    /** Keys that are certainly mistakes: unknown keys of this project, or a namespace one typo away from a known one. */
    readonly errors: readonly { readonly key: string; readonly expected: string }[];
    /** Keys in a namespace nothing here reads: legitimate for other tools, but without effect on this stack. */
    readonly warnings: readonly string[];
}

/**
 * Sorts the keys a stack sets (`<namespace>:<key>`, as pulumi.runtime.allConfig() lists them) into
 * known ones, mistakes and keys for others. `declared` are the project's keys without namespace.
 */
export function findUnknownConfigKeys(setKeys: readonly string[], project: string, declared: readonly string[]): UnknownKeyFindings {
    const errors: { key: string; expected: string }[] = [];
    const warnings: string[] = [];
    const known = [project, ...PROVIDER_NAMESPACES];
    const remove = (key: string) => `remove it with: pulumi config rm '${key}'`;
    for (const key of [...setKeys].sort()) {
        const colon = key.indexOf(":");
        const namespace = colon < 0 ? project : key.slice(0, colon);
        const name = colon < 0 ? key : key.slice(colon + 1);
        if (namespace === project) {
            if (!declared.includes(name)) {
                const meant = closestName(name, declared);
                errors.push({
                    key,
                    expected: meant
                        ? `a key Pulumi.yaml declares: did you mean ${meant}? (${remove(key)})`
                        : `a key Pulumi.yaml declares (docs/configuration.md lists them); nothing reads '${name}': ${remove(key)}`,
                });
            }
            continue;
        }
        if (PROVIDER_NAMESPACES.includes(namespace)) {
            continue;
        }
        const meantNamespace = closestName(namespace, known);
        if (meantNamespace === project) {
            const meantName = declared.includes(name) ? name : closestName(name, declared);
            errors.push({
                key,
                expected: `a key in this project's namespace: did you mean ${project}:${meantName ?? name}? ('${namespace}' is not a namespace anything here reads; ${remove(key)})`,
            });
        } else if (meantNamespace) {
            errors.push({
                key,
                expected: `a key of a provider this stack uses: did you mean ${meantNamespace}:${name}? ('${namespace}' is not a namespace anything here reads; ${remove(key)})`,
            });
        } else {
            warnings.push(
                `config key '${key}' has no effect on this stack: neither this project (${project}) nor its providers (${PROVIDER_NAMESPACES.join(", ")}) read namespace '${namespace}'`,
            );
        }
    }
    return { errors, warnings };
}
