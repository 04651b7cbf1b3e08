/**
 * Writes a tool's generated files into a directory the user names (`npm run plan -- --out DIR`) without
 * ever deleting or overwriting what the tool did not write. A manifest in the directory records each
 * file the tool wrote and its SHA-256; the next run replaces exactly those files (when unchanged) and
 * refuses a directory that holds anything else: `--out .` in a checkout, a folder with a user's file,
 * a file edited since it was generated.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/** The manifest's file name, inside the output directory. */
export const MANIFEST_FILE = ".generated-files.json";

interface Manifest {
    readonly writtenBy: string;
    /** Relative path (with `/`) to the SHA-256 of the content written. */
    readonly files: Readonly<Record<string, string>>;
}

export interface GeneratedFile {
    /** Path inside the output directory, with `/` separators. */
    readonly relativePath: string;
    readonly content: string;
}

export class OutputDirectoryError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "OutputDirectoryError";
    }
}

function sha256(content: string | Buffer): string {
    return crypto.createHash("sha256").update(content).digest("hex");
}

/**
 * Entries under `dir` that are not directories (files, symbolic links, ...), relative, with `/`; links are
 * not followed. Stops after `limit` entries.
 */
function listEntries(dir: string, limit = Infinity, prefix = "", found: string[] = []): string[] {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (found.length >= limit) {
            break;
        }
        const relative = prefix + entry.name;
        if (entry.isDirectory()) {
            listEntries(path.join(dir, entry.name), limit, `${relative}/`, found);
        } else {
            found.push(relative);
        }
    }
    return found;
}

function readManifest(dir: string, shown: string): Manifest | undefined {
    const file = path.join(dir, MANIFEST_FILE);
    if (!fs.existsSync(file)) {
        return undefined;
    }
    let parsed: unknown;
    try {
        parsed = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
        parsed = undefined;
    }
    const files = (parsed as Manifest | undefined)?.files;
    if (
        typeof (parsed as Manifest | undefined)?.writtenBy !== "string" ||
        typeof files !== "object" ||
        files === null ||
        Object.values(files).some((hash) => typeof hash !== "string")
    ) {
        throw new OutputDirectoryError(`${path.join(shown, MANIFEST_FILE)} is not a manifest this tool wrote; refusing to write into ${shown}`);
    }
    return parsed as Manifest;
}

function listed(items: readonly string[]): string {
    return items.length > 5 ? `${items.slice(0, 5).join(", ")}, ...` : items.join(", ");
}

function insideDirectory(dir: string, relativePath: string): string {
    const file = path.resolve(dir, ...relativePath.split("/"));
    if (path.relative(dir, file).startsWith("..") || path.isAbsolute(path.relative(dir, file)) || file === dir) {
        throw new OutputDirectoryError(`generated file '${relativePath}' would lie outside ${dir}`);
    }
    return file;
}

/** Removes the directories a removed file leaves empty, up to (not including) `dir`. */
function pruneEmptyParents(dir: string, file: string): void {
    for (let parent = path.dirname(file); parent !== dir && parent.startsWith(dir + path.sep); parent = path.dirname(parent)) {
        if (fs.readdirSync(parent).length > 0) {
            return;
        }
        fs.rmdirSync(parent);
    }
}

/**
 * Checks that `dir` can take `writtenBy`'s files: missing, or a directory holding only files an earlier
 * run of the tool wrote, unchanged since. Throws OutputDirectoryError otherwise, naming what is in the
 * way; `shown` is how messages name `dir`. Returns the files the earlier run recorded, with their hashes.
 */
export function checkGeneratedDirectory(dir: string, writtenBy: string, shown = dir): Record<string, string> {
    const root = path.resolve(dir);
    const stat = fs.lstatSync(root, { throwIfNoEntry: false });
    if (!stat) {
        return {};
    }
    if (!stat.isDirectory()) {
        throw new OutputDirectoryError(`${shown} is not a directory (${stat.isSymbolicLink() ? "a symbolic link" : "a file"}); give a new or empty directory`);
    }
    const manifest = readManifest(root, shown);
    if (manifest && manifest.writtenBy !== writtenBy) {
        throw new OutputDirectoryError(`refusing to write into ${shown}: it holds the output of ${manifest.writtenBy}, not ${writtenBy}. Nothing was deleted.`);
    }
    const previous = { ...(manifest?.files ?? {}) };
    // Without a manifest every entry is in the way: a few are enough to say so (`--out .` need not walk node_modules).
    const entries = listEntries(root, manifest ? Infinity : 6).filter((entry) => entry !== MANIFEST_FILE);
    const foreign = entries.filter((entry) => !(entry in previous));
    const changed = entries.filter((entry) => entry in previous && sha256(fs.readFileSync(path.join(root, ...entry.split("/")))) !== previous[entry]);
    if (foreign.length > 0 || changed.length > 0) {
        const reasons = [
            foreign.length > 0 ? `it holds files ${writtenBy} did not write (${listed(foreign)})` : "",
            changed.length > 0 ? `files ${writtenBy} wrote were changed since (${listed(changed)})` : "",
        ].filter(Boolean);
        throw new OutputDirectoryError(
            `refusing to write into ${shown}: ${reasons.join("; ")}. Nothing was deleted. Give a new or empty directory, ` +
                `or remove those files yourself if they are an earlier run's output.`,
        );
    }
    return previous;
}

/**
 * Replaces the files an earlier run of `writtenBy` put in `dir` with `files`, creating `dir` when it is
 * missing; throws, changing nothing, where checkGeneratedDirectory does. Returns the absolute paths
 * written, in the order given.
 */
export function replaceGeneratedFiles(dir: string, files: readonly GeneratedFile[], writtenBy: string, shown = dir): string[] {
    const root = path.resolve(dir);
    const targets = files.map((file) => ({ ...file, absolute: insideDirectory(root, file.relativePath) }));
    const previous = checkGeneratedDirectory(root, writtenBy, shown);
    const next = Object.fromEntries(targets.map((file) => [file.relativePath, sha256(file.content)]));
    const writeManifest = (recorded: Record<string, string>) =>
        fs.writeFileSync(path.join(root, MANIFEST_FILE), JSON.stringify({ writtenBy, files: recorded } satisfies Manifest, null, 2) + "\n");
    fs.mkdirSync(root, { recursive: true });
    // Record the new files before writing them, so an interrupted run leaves nothing unaccounted for.
    writeManifest({ ...previous, ...next });
    for (const file of targets) {
        fs.mkdirSync(path.dirname(file.absolute), { recursive: true });
        fs.writeFileSync(file.absolute, file.content);
    }
    for (const stale of Object.keys(previous).filter((relativePath) => !(relativePath in next))) {
        const absolute = insideDirectory(root, stale);
        if (fs.existsSync(absolute)) {
            fs.rmSync(absolute);
            pruneEmptyParents(root, absolute);
        }
    }
    writeManifest(next);
    return targets.map((file) => file.absolute);
}

/** Words a tool writes into a single file it generates (a chart, a workload file), so that a later run knows it may replace the file. */
export const GENERATED_MARK = "notebook-orchestration generated this file";

/** The mark as a file carries it: who wrote it, and that the next run replaces it. */
export function generatedMarkText(writtenBy: string): string {
    return `${GENERATED_MARK} (${writtenBy}); the next run replaces it`;
}

/**
 * Checks, before any work is done, that `file` may be written: it does not exist, or it is a regular file
 * that carries the mark, so a previous run of a tool wrote it. A user's file, a directory or a symbolic
 * link is never replaced. `label` names the file in the message, e.g. `--chart`.
 */
export function checkReplaceableFile(file: string, label: string): void {
    let stat: fs.Stats;
    try {
        stat = fs.lstatSync(file);
    } catch {
        return;
    }
    if (!stat.isFile()) {
        throw new OutputDirectoryError(
            `${label} '${file}': it is ${stat.isDirectory() ? "a directory" : stat.isSymbolicLink() ? "a symbolic link" : "not a regular file"}; expected a new file or one a previous run wrote`,
        );
    }
    const head = Buffer.alloc(4096);
    const descriptor = fs.openSync(file, "r");
    let length: number;
    try {
        length = fs.readSync(descriptor, head, 0, head.length, 0);
    } finally {
        fs.closeSync(descriptor);
    }
    if (!head.subarray(0, length).toString("utf8").includes(GENERATED_MARK)) {
        throw new OutputDirectoryError(
            `${label} '${file}': the file exists and no run of these tools wrote it (it lacks "${GENERATED_MARK}"); ` +
                "expected a new file or one a previous run wrote: choose another name, or remove the file yourself",
        );
    }
}
