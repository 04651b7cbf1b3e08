/**
 * `compare --chart FILE`: a Vega-Lite chart of every compared job's run durations (one colour per
 * strategy: sequential, parallel, for-each), the median split of
 * a run's time, and the per-worker medians with their min-max range, rendered to SVG by Vega
 * without a browser (renderer "none"). A FILE ending in .html gets the SVG inside a small page.
 */
import { chartFileContent, renderVegaLiteSvg } from "../tools/charts";
import type { CompareReport } from "./compare";
import { formatRatio } from "./format";
import type { JobKind } from "./stack";

/** One colour per strategy, the same in every chart. */
const STRATEGY_COLOURS: Record<JobKind, string> = { sequential: "#f58518", parallel: "#4c78a8", "for-each": "#54a24b" };

const round1 = (v: number): number => Math.round(v * 10) / 10;

/** The Vega-Lite spec (pure, for tests and for anyone who wants to restyle it). */
export function chartSpec(report: CompareReport): Record<string, unknown> {
    const jobs = report.jobs;
    const label = (j: (typeof jobs)[number]): string => `${j.kind}: ${j.name ?? "job"} (job ${j.jobId})`;
    const runs = jobs.flatMap((j) =>
        [...j.runs].reverse().map((r, i) => ({
            job: label(j),
            run: i + 1,
            run_id: String(r.runId),
            minutes: round1(r.timing.duration / 60),
            result: r.result,
        })),
    );
    const split = jobs.flatMap((j) =>
        j.split
            ? (["queue", "setup", "execution", "other"] as const).map((part, order) => ({
                  job: j.kind,
                  part,
                  order,
                  seconds: round1(j.split![part].median),
              }))
            : [],
    );
    const workers = jobs.flatMap((j) =>
        j.workers.filter((w) => w.count > 0).map((w) => ({ job: label(j), worker: w.name, median: round1(w.median), min: round1(w.min), max: round1(w.max) })),
    );
    const color = { field: "job", type: "nominal", title: "Job", scale: { domain: jobs.map(label), range: jobs.map((j) => STRATEGY_COLOURS[j.kind]) } };
    const workerOrder = [...new Set(workers.map((w) => w.worker))];
    const faster = report.speedups
        .filter((x) => x.speedup)
        .map(({ kind, speedup: s }) => `${kind} is ${formatRatio(s!.median)} faster (median; range ${formatRatio(s!.low)}-${formatRatio(s!.high)})`);
    const subtitle = `${faster.length ? `${faster.join(", ")} than sequential ` : ""}over the last ${report.last} completed runs`;
    return {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: {
            text: `${jobs.map((j) => j.kind[0].toUpperCase() + j.kind.slice(1)).join(" vs ")} orchestration`,
            subtitle: [jobs.map(label).join("  vs  "), subtitle],
        },
        background: "white",
        padding: 12,
        config: { font: "sans-serif", legend: { orient: "right", labelLimit: 400 }, title: { anchor: "start" } },
        // The split chart colours by part, the others by job: keep the colour scales apart.
        resolve: { scale: { color: "independent" }, legend: { color: "independent" } },
        vconcat: [
            {
                title: "Run duration (minutes), oldest to newest",
                width: 520,
                height: 180,
                data: { values: runs },
                mark: { type: "line", point: { size: 70, filled: true } },
                encoding: {
                    x: { field: "run", type: "ordinal", title: "Run", axis: { labelAngle: 0 } },
                    y: { field: "minutes", type: "quantitative", title: "Minutes" },
                    color,
                    shape: { field: "result", type: "nominal", title: "Result" },
                    tooltip: [{ field: "job" }, { field: "run_id" }, { field: "minutes" }, { field: "result" }],
                },
            },
            {
                title: "Median split of a successful run (seconds)",
                width: 520,
                height: 60,
                data: { values: split },
                mark: "bar",
                encoding: {
                    y: { field: "job", type: "nominal", title: null, sort: jobs.map((j) => j.kind) },
                    x: { field: "seconds", type: "quantitative", title: "Seconds", stack: "zero" },
                    color: { field: "part", type: "nominal", title: "Part", sort: ["queue", "setup", "execution", "other"] },
                    order: { field: "order" },
                    tooltip: [{ field: "job" }, { field: "part" }, { field: "seconds" }],
                },
            },
            {
                title: "Per-worker duration (seconds): median, bar; min-max, line",
                width: 520,
                height: 200,
                data: { values: workers },
                encoding: {
                    x: { field: "worker", type: "nominal", title: "Worker", sort: workerOrder, axis: { labelAngle: 0 } },
                    xOffset: { field: "job", sort: jobs.map(label) },
                    color,
                },
                layer: [
                    { mark: "bar", encoding: { y: { field: "median", type: "quantitative", title: "Seconds" } } },
                    {
                        mark: { type: "rule", color: "black", strokeWidth: 1.5 },
                        encoding: {
                            xOffset: { field: "job", sort: jobs.map(label), bandPosition: 0.5 },
                            y: { field: "min", type: "quantitative" },
                            y2: { field: "max" },
                            color: { value: "#222222" },
                        },
                    },
                ],
            },
        ],
    };
}

/** The chart file's content for `file` (.svg or .html). */
export async function renderChart(report: CompareReport, file: string): Promise<string> {
    const title = report.jobs.map((j) => `${j.kind} job ${j.jobId}`).join(" vs ");
    return chartFileContent(file, await renderVegaLiteSvg(chartSpec(report)), title, "npm run jobs -- compare --chart");
}
