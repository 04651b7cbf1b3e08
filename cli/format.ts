/**
 * Output formatting shared by `run` and `compare`: durations, percentages, ratios and
 * borderless tables in the style of the Databricks CLI's text output.
 */
import Table from "cli-table3";

/** "45.2s", "6m 52s", "1h 02m 03s"; "-" for a missing value. */
export function formatDuration(seconds: number | undefined | null): string {
    if (seconds === undefined || seconds === null || !Number.isFinite(seconds)) return "-";
    if (seconds < 60) return `${(Math.round(seconds * 10) / 10).toFixed(1)}s`;
    const total = Math.round(seconds);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m ${String(s).padStart(2, "0")}s`;
    return `${m}m ${String(s).padStart(2, "0")}s`;
}

const GO_UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/**
 * Parses a duration the way the Databricks CLI's --timeout does (Go's time.ParseDuration, units
 * h, m, s, ms): "20m", "1h30m", "90s", "2.5h". Returns milliseconds, or undefined when malformed.
 */
export function parseGoDuration(value: string): number | undefined {
    const text = value.trim();
    if (!/^(\d+(\.\d+)?(h|ms|m|s))+$/.test(text)) return undefined;
    let ms = 0;
    for (const [, amount, , unit] of text.matchAll(/(\d+(\.\d+)?)(h|ms|m|s)/g)) ms += Number(amount) * GO_UNITS[unit];
    return Math.round(ms);
}

/** A duration as Go prints it: "20m0s", "1h30m0s", "45s", "1.5s". */
export function formatGoDuration(ms: number): string {
    if (ms < 60_000) return `${Number((ms / 1000).toFixed(3))}s`;
    const total = Math.round(ms / 1000);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    return h > 0 ? `${h}h${m}m${s}s` : `${m}m${s}s`;
}

/** Elapsed time for progress lines: "0:07", "6:52", "1:02:03". */
export function formatElapsed(ms: number): string {
    const total = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = String(total % 60).padStart(2, "0");
    return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function formatPercent(rate: number | undefined): string {
    return rate === undefined || !Number.isFinite(rate) ? "-" : `${Math.round(rate * 100)}%`;
}

export function formatRatio(ratio: number | undefined): string {
    return ratio === undefined || !Number.isFinite(ratio) ? "-" : `${ratio.toFixed(2)}x`;
}

/** A borderless, colourless table: a header row, then aligned columns separated by two spaces. */
export function table(head: string[], rows: (string | number)[][], align?: ("left" | "right")[]): string {
    const t = new Table({
        head,
        chars: {
            top: "",
            "top-mid": "",
            "top-left": "",
            "top-right": "",
            bottom: "",
            "bottom-mid": "",
            "bottom-left": "",
            "bottom-right": "",
            left: "",
            "left-mid": "",
            mid: "",
            "mid-mid": "",
            right: "",
            "right-mid": "",
            middle: "  ",
        },
        style: { head: [], border: [], "padding-left": 0, "padding-right": 0 },
        colAligns: align,
    });
    for (const row of rows) t.push(row.map(String));
    return t
        .toString()
        .split("\n")
        .map((line) => line.replace(/\s+$/, ""))
        .join("\n");
}

/** A local timestamp for run lists: "2026-11-21 02:00". */
export function formatTimestamp(epochMs: number | undefined): string {
    if (!epochMs) return "-";
    const d = new Date(epochMs);
    const p = (n: number): string => String(n).padStart(2, "0");
    return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}Z`;
}
