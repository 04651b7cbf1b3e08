/**
 * Charts drawn with Vega-Lite and rendered to SVG by Vega without a browser (renderer "none").
 * The one place that loads the two libraries; the simulation's Gantt chart and `jobs compare --chart`
 * both render through it.
 */
import * as fs from "fs";
import * as path from "path";
import { pathToFileURL } from "url";
import { checkReplaceableFile, generatedMarkText } from "./outputDirectory";

// vega and vega-lite are ES modules with top-level await, which Node 20 cannot require(); a Function
// keeps TypeScript (module: commonjs) from turning this import() into a require(). The code is a
// constant, so nothing is evaluated from input.
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const dynamicImport = new Function("specifier", "return import(specifier)") as (specifier: string) => Promise<unknown>;

async function importEsm<T>(name: string): Promise<T> {
    return (await dynamicImport(pathToFileURL(require.resolve(name)).href)) as T;
}

interface VegaLite {
    compile(spec: unknown, opts?: { logger?: unknown }): { spec: unknown };
}
interface Vega {
    parse(spec: unknown): unknown;
    View: new (runtime: unknown, opts: { renderer: string }) => { toSVG(): Promise<string>; finalize(): void };
}

/** Renders a Vega-Lite spec to SVG text. */
export async function renderVegaLiteSvg(spec: Record<string, unknown>): Promise<string> {
    const [vl, vega] = await Promise.all([importEsm<VegaLite>("vega-lite"), importEsm<Vega>("vega")]);
    // vega-lite logs layout advice to the console; keep the tools' output clean.
    const quiet = { level: () => quiet, error: () => quiet, warn: () => quiet, info: () => quiet, debug: () => quiet };
    const view = new vega.View(vega.parse(vl.compile(spec, { logger: quiet }).spec), { renderer: "none" });
    try {
        return await view.toSVG();
    } finally {
        view.finalize();
    }
}

function escapeHtml(text: string): string {
    return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);
}

function chartExtension(file: string, label: string): ".svg" | ".html" {
    const extension = path.extname(file).toLowerCase();
    if (extension === ".svg") {
        return ".svg";
    }
    if (extension === ".html" || extension === ".htm") {
        return ".html";
    }
    throw new Error(`${label} '${file}': the name must end in .svg or .html`);
}

/**
 * Checks, before any work is done, that a chart can be written to `file`: a .svg or .html name, in a
 * directory that exists (or is created now) and is writable, and not a file the tools did not write
 * (a chart they wrote carries a mark and is replaced). `label` names the file in messages.
 */
export function checkChartFile(file: string, label = "Chart file"): void {
    chartExtension(file, label);
    const directory = path.dirname(path.resolve(file));
    try {
        fs.mkdirSync(directory, { recursive: true });
        fs.accessSync(directory, fs.constants.W_OK);
    } catch (error) {
        throw new Error(`${label} '${file}': cannot be written (${(error as Error).message})`);
    }
    checkReplaceableFile(file, label);
    if (fs.existsSync(file)) {
        try {
            fs.accessSync(file, fs.constants.W_OK);
        } catch (error) {
            throw new Error(`${label} '${file}': cannot be written (${(error as Error).message})`);
        }
    }
}

/** The chart as a file's content, marked as written by `writtenBy`: SVG for `.svg`, a small page around the SVG for `.html`. */
export function chartFileContent(file: string, svg: string, title: string, writtenBy: string): string {
    const mark = `<!-- ${generatedMarkText(writtenBy)} -->`;
    if (chartExtension(file, "Chart file") === ".svg") {
        return `${mark}\n${svg}`;
    }
    return `<!doctype html>\n${mark}\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n<body style="font-family: sans-serif">\n${svg}\n</body></html>\n`;
}
