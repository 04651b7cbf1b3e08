/**
 * The documentation's links and commands lead somewhere: every relative link in README.md and docs/
 * names a file that exists (and, with `#anchor`, a heading of that file, slugged as GitHub does), and
 * every `npm run <script>` is a script of package.json.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { expect } from "chai";
import * as YAML from "yaml";
import { CONFIG_DEFAULTS } from "../components/config";
import { OBJECT_CONFIG_KEYS } from "../components/configKeys";

const ROOT = path.join(__dirname, "..");

/** README.md and every Markdown file under docs/, relative to the repository root. */
export function documentationFiles(root = ROOT): string[] {
    const docs = path.join(root, "docs");
    const walk = (dir: string): string[] =>
        fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
            const full = path.join(dir, entry.name);
            return entry.isDirectory() ? walk(full) : entry.name.endsWith(".md") ? [full] : [];
        });
    return ["README.md", ...(fs.existsSync(docs) ? walk(docs).map((f) => path.relative(root, f)) : [])];
}

/** The text outside fenced code blocks, where Markdown links are links. */
export function withoutCodeBlocks(markdown: string): string {
    return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, "");
}

/** GitHub's heading anchor: inline markup dropped, lower-cased, punctuation removed, spaces to hyphens. */
export function headingSlug(heading: string): string {
    return heading
        .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, "")
        .replace(/\s/g, "-");
}

/** Every anchor a Markdown file's headings give, duplicates numbered `-1`, `-2` as GitHub numbers them. */
export function headingAnchors(markdown: string): Set<string> {
    const anchors = new Set<string>();
    const seen = new Map<string, number>();
    for (const match of withoutCodeBlocks(markdown).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
        const slug = headingSlug(match[1]);
        const count = seen.get(slug) ?? 0;
        seen.set(slug, count + 1);
        anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
    return anchors;
}

export interface BrokenLink {
    readonly file: string;
    readonly link: string;
    readonly why: string;
}

/** Relative links of one Markdown file that lead nowhere. External (scheme:) links are not followed. */
export function brokenLinks(file: string, root = ROOT): BrokenLink[] {
    const text = fs.readFileSync(path.join(root, file), "utf8");
    const broken: BrokenLink[] = [];
    for (const match of withoutCodeBlocks(text).matchAll(/!?\[[^\]]*\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)/g)) {
        const link = match[1];
        if (/^[a-z][a-z0-9+.-]*:/i.test(link)) {
            continue;
        }
        const [target, anchor] = link.split("#", 2) as [string, string | undefined];
        const targetFile = target === "" ? file : path.normalize(path.join(path.dirname(file), decodeURIComponent(target)));
        const full = path.join(root, targetFile);
        if (targetFile.startsWith("..") || !fs.existsSync(full)) {
            broken.push({ file, link, why: `${targetFile} does not exist` });
            continue;
        }
        if (anchor !== undefined) {
            if (!targetFile.endsWith(".md")) {
                broken.push({ file, link, why: `an #anchor into ${targetFile}, which is not Markdown` });
            } else if (!headingAnchors(fs.readFileSync(full, "utf8")).has(anchor)) {
                broken.push({ file, link, why: `${targetFile} has no heading with anchor #${anchor}` });
            }
        }
    }
    return broken;
}

/** `npm run <script>` commands of a text, with their scripts. */
export function npmRunScripts(text: string): string[] {
    return [...text.matchAll(/\bnpm run(?:[ \t]+(?:-s|--silent))?[ \t]+([A-Za-z0-9][\w:.-]*)/g)].map((m) => m[1]);
}

describe("the documentation (README.md and docs/)", () => {
    const files = documentationFiles();
    const scripts = Object.keys((JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts);

    it("has the README and the topic pages", () => {
        expect(files).to.include.members(["README.md", path.join("docs", "configuration.md"), path.join("docs", "development.md")]);
    });

    it("links only to files and headings that exist", () => {
        const broken = files.flatMap((file) => brokenLinks(file));
        expect(broken.map((b) => `${b.file}: (${b.link}) ${b.why}`)).to.deep.equal([]);
    });

    it("runs only npm scripts package.json has", () => {
        const unknown = files.flatMap((file) =>
            npmRunScripts(fs.readFileSync(path.join(ROOT, file), "utf8"))
                .filter((script) => !scripts.includes(script))
                .map((script) => `${file}: npm run ${script}`),
        );
        expect(unknown).to.deep.equal([]);
    });

    it("lists every configuration key in docs/configuration.md's reference", () => {
        const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { config: Record<string, unknown> };
        const reference = fs.readFileSync(path.join(ROOT, "docs", "configuration.md"), "utf8");
        const rows = reference.split("\n").filter((line) => line.startsWith("| `"));
        const missing = [...Object.keys(project.config), ...OBJECT_CONFIG_KEYS].filter((key) => !rows.some((row) => row.split("|")[1].includes(`\`${key}\``)));
        expect(missing).to.deep.equal([]);
    });

    it("shows the defaults the code uses in docs/configuration.md's reference", () => {
        const rows = fs
            .readFileSync(path.join(ROOT, "docs", "configuration.md"), "utf8")
            .split("\n")
            .filter((line) => line.startsWith("| `"));
        const stale: string[] = [];
        for (const row of rows) {
            const [keys, defaults] = row.split("|").slice(1, 3);
            const shown = defaults.split(" / ").map((d) => d.trim());
            [...keys.matchAll(/`([^`]+)`/g)].forEach(([, key], index) => {
                const value = (CONFIG_DEFAULTS as Record<string, unknown>)[key];
                if (value !== undefined && shown[index] !== `\`${String(value)}\``) {
                    stale.push(`${key}: the reference shows ${shown[index] ?? "nothing"}, the code's default is ${String(value)}`);
                }
            });
        }
        expect(stale).to.deep.equal([]);
    });

    it("says why each dependency is there (docs/development.md, 'Dependencies, and why')", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as Record<string, Record<string, string> | undefined>;
        const text = fs.readFileSync(path.join(ROOT, "docs", "development.md"), "utf8");
        const section = text.slice(text.indexOf("## Dependencies, and why"));
        const names = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})];
        const undocumented = names.filter((name) => !section.includes(`\`${name}\``) && !(name.startsWith("@types/") && section.includes("`@types/*`")));
        expect(undocumented).to.deep.equal([]);
    });

    it("shows `npm run plan -- --stack NAME` only for a stack with a config file, or after the command that makes one", () => {
        const problems: string[] = [];
        for (const file of files) {
            const text = fs.readFileSync(path.join(ROOT, file), "utf8");
            for (const match of text.matchAll(/npm run plan -- (?:[^\n]*\s)?--stack[ =]([\w.-]+)/g)) {
                const stack = match[1];
                const before = text.slice(0, match.index);
                const made = new RegExp(`Pulumi\\.dev\\.yaml Pulumi\\.${stack.replace(/[.]/g, "\\.")}\\.yaml`).test(before);
                if (!made && !fs.existsSync(path.join(ROOT, `Pulumi.${stack}.yaml`))) {
                    problems.push(`${file}: npm run plan -- --stack ${stack}, but Pulumi.${stack}.yaml does not exist and is not made first`);
                }
            }
        }
        expect(problems).to.deep.equal([]);
    });
});

/** Source files that may point a reader to the documentation: messages, comments, workflow errors. */
export function pointingFiles(root = ROOT): string[] {
    const skip = new Set(["node_modules", "build", ".git", "test"]);
    const walk = (dir: string): string[] =>
        fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
            const relative = path.join(dir, entry.name);
            if (entry.isDirectory()) {
                return skip.has(entry.name) ? [] : walk(relative);
            }
            return /\.(ts|py|ya?ml|mjs|json)$/.test(entry.name) || entry.name === "run" ? [relative] : [];
        });
    return walk(".").map((file) => path.normalize(file));
}

/** Pointers to Markdown files in a source text (`docs/secrets.md`, `docs/secrets.md, 'Section'`, `the README, 'Section'`) that lead nowhere. */
export function brokenPointers(file: string, root = ROOT): string[] {
    const text = fs.readFileSync(path.join(root, file), "utf8");
    const broken: string[] = [];
    const headingsOf = (target: string) =>
        [...withoutCodeBlocks(fs.readFileSync(path.join(root, target), "utf8")).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)].map((m) => m[1].replace(/`/g, ""));
    for (const match of text.matchAll(/(?<![\w/.-])((?:[\w.-]+\/)*[\w.-]+\.md)(?:#([\w-]+)|, '([^']+)')?/g)) {
        const [, target, anchor, section] = match;
        if (!fs.existsSync(path.join(root, target))) {
            broken.push(`${file}: ${target} does not exist`);
        } else if (anchor !== undefined && !headingAnchors(fs.readFileSync(path.join(root, target), "utf8")).has(anchor)) {
            broken.push(`${file}: ${target} has no heading with anchor #${anchor}`);
        } else if (section !== undefined && !headingsOf(target).includes(section)) {
            broken.push(`${file}: ${target} has no section '${section}'`);
        }
    }
    for (const match of text.matchAll(/the README, '([^']+)'/g)) {
        if (!headingsOf("README.md").includes(match[1])) {
            broken.push(`${file}: README.md has no section '${match[1]}'`);
        }
    }
    return broken;
}

describe("pointers from the code to the documentation", () => {
    it("lead to files and sections that exist", () => {
        const files = pointingFiles();
        expect(files).to.include.members([path.join("notebooks", "setup.py"), path.join("components", "config.ts")]);
        expect(files.flatMap((file) => brokenPointers(file))).to.deep.equal([]);
    });
});

describe("the documentation checks themselves", () => {
    it("slug headings as GitHub does", () => {
        expect(headingSlug("Choosing the pool size: `npm run simulate`")).to.equal("choosing-the-pool-size-npm-run-simulate");
        expect(headingSlug("Azure AD authentication (required for the Key Vault-backed scope)")).to.equal(
            "azure-ad-authentication-required-for-the-key-vault-backed-scope",
        );
        expect(headingSlug("Repository settings: secrets, variables, environments, label")).to.equal(
            "repository-settings-secrets-variables-environments-label",
        );
        expect(headingSlug("See [the guide](x.md) first")).to.equal("see-the-guide-first");
        expect([...headingAnchors("# A\n## A\n```\n# B\n```\n### A b\n")]).to.deep.equal(["a", "a-1", "a-b"]);
    });

    it("find broken links and anchors, and skip code blocks and external links", () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "docs-"));
        fs.mkdirSync(path.join(root, "docs"));
        fs.writeFileSync(path.join(root, "docs", "a.md"), "# Page A\n## Part one\n");
        fs.writeFileSync(
            path.join(root, "README.md"),
            [
                "[ok](docs/a.md) [ok](docs/a.md#part-one) [ok](#top) [web](https://example.com/x#y)",
                "[missing](docs/b.md) [bad anchor](docs/a.md#part-two) [self](#nowhere)",
                "```",
                "[in code](docs/nothing.md)",
                "```",
                "# Top",
            ].join("\n"),
        );
        expect(brokenLinks("README.md", root).map((b) => `${b.link}: ${b.why}`)).to.deep.equal([
            "docs/b.md: docs/b.md does not exist",
            "docs/a.md#part-two: docs/a.md has no heading with anchor #part-two",
            "#nowhere: README.md has no heading with anchor #nowhere",
        ]);
        expect(documentationFiles(root)).to.deep.equal(["README.md", path.join("docs", "a.md")]);
        fs.rmSync(root, { recursive: true });
    });

    it("find pointers in code to missing files and sections", () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "pointers-"));
        fs.mkdirSync(path.join(root, "docs"));
        fs.writeFileSync(path.join(root, "docs", "a.md"), "# A\n## When it fails\n");
        fs.writeFileSync(path.join(root, "README.md"), "# Top\n## Secrets\n");
        fs.writeFileSync(
            path.join(root, "x.py"),
            [
                "ok = 'see docs/a.md, and docs/a.md#when-it-fails, docs/a.md, 'When it fails' and the README, 'Secrets''",
                "bad = 'see cli/README.md, docs/a.md#nope, docs/a.md, 'Nope' and the README, 'Deploying''",
            ].join("\n"),
        );
        expect(brokenPointers("x.py", root)).to.deep.equal([
            "x.py: cli/README.md does not exist",
            "x.py: docs/a.md has no heading with anchor #nope",
            "x.py: docs/a.md has no section 'Nope'",
            "x.py: README.md has no section 'Deploying'",
        ]);
        fs.rmSync(root, { recursive: true });
    });

    it("read npm run commands, with or without -s", () => {
        expect(npmRunScripts("npm run plan -- --stack dev; npm run -s jobs -- run\n`npm run typecheck` npm test")).to.deep.equal(["plan", "jobs", "typecheck"]);
    });
});
