/**
 * Live progress while waiting for a run. On a terminal an ora spinner shows the current state and
 * the elapsed time, and each change is kept as a line above it; when output is not a terminal
 * (CI logs, pipes, tests) only the lines are printed, one per change, plus a "still running"
 * line once a minute, so logs stay readable.
 */
import type * as OraModule from "ora";

export interface Writer {
    write(text: string): unknown;
    isTTY?: boolean;
}

export interface Progress {
    /** The spinner text (terminal only), recomputed every second so the elapsed time moves. */
    update(text: () => string): void;
    /** A line kept in the output. */
    log(line: string): void;
    /** Whether a periodic "still running" line is wanted (plain output only). */
    readonly wantsHeartbeat: boolean;
    stop(): void;
}

class PlainProgress implements Progress {
    readonly wantsHeartbeat = true;
    constructor(private readonly out: Writer) {}
    update(): void {}
    log(line: string): void {
        this.out.write(`${line}\n`);
    }
    stop(): void {}
}

class SpinnerProgress implements Progress {
    readonly wantsHeartbeat = false;
    private readonly spinner: ReturnType<typeof OraModule.default>;
    private text: () => string = () => "";
    private readonly timer: NodeJS.Timeout;
    constructor(
        private readonly out: Writer,
        spinnerStream: NodeJS.WritableStream,
    ) {
        // ora is ESM-only; Node 20.19+ loads it through require (it has no top-level await).
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const mod = require("ora") as { default?: typeof OraModule.default } & typeof OraModule.default;
        const ora = mod.default ?? mod;
        this.spinner = ora({ stream: spinnerStream, discardStdin: false, isEnabled: true }).start();
        this.timer = setInterval(() => (this.spinner.text = this.text()), 1000);
        this.timer.unref();
    }
    update(text: () => string): void {
        this.text = text;
        this.spinner.text = text();
    }
    log(line: string): void {
        this.spinner.clear();
        this.out.write(`${line}\n`);
        this.spinner.render();
    }
    stop(): void {
        clearInterval(this.timer);
        this.spinner.stop();
    }
}

/**
 * A spinner when both `out` and the spinner's stream are terminals, plain lines otherwise.
 * Set NO_SPINNER (or CI) to force plain lines.
 */
export function createProgress(
    out: Writer,
    spinnerStream: (NodeJS.WritableStream & { isTTY?: boolean }) | undefined,
    env: Record<string, string | undefined>,
): Progress {
    // A terminal without a known width (some pseudo-terminals report 0 columns) makes the
    // spinner's line counting go wrong: plain lines there too.
    const columns = (spinnerStream as { columns?: number } | undefined)?.columns ?? 0;
    const tty = Boolean(out.isTTY && spinnerStream?.isTTY) && columns > 0 && !env.CI && !env.NO_SPINNER && env.TERM !== "dumb";
    if (!tty || !spinnerStream) return new PlainProgress(out);
    try {
        return new SpinnerProgress(out, spinnerStream);
    } catch {
        return new PlainProgress(out);
    }
}
