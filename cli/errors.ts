/**
 * Errors the `jobs` command reports to the user, with the exit status they map to.
 *
 * Exit statuses (documented in docs/jobs-cli.md):
 *   0  every run succeeded / the report was produced
 *   1  a triggered run did not end in SUCCESS (or was still going at the --timeout wait limit)
 *   2  bad input, configuration, authentication or API error
 */
export const EXIT_OK = 0;
export const EXIT_RUN_FAILED = 1;
export const EXIT_ERROR = 2;

/** An error whose message is meant for the user as is (no stack trace). */
export class CliError extends Error {
    constructor(
        message: string,
        readonly exitCode: number = EXIT_ERROR,
    ) {
        super(message);
        this.name = "CliError";
    }
}

/** Bad flag or environment value: the message names the flag/variable and what is expected. */
export class UsageError extends CliError {
    constructor(message: string) {
        super(message, EXIT_ERROR);
        this.name = "UsageError";
    }
}

/**
 * Removes every occurrence of the given secrets from a text. Used on every message we print,
 * as a second line of defence: no code path is meant to put a token in a message.
 */
export function redact(text: string, secrets: readonly string[]): string {
    let out = text;
    for (const secret of secrets) {
        if (secret && secret.length >= 4) out = out.split(secret).join("***");
    }
    return out;
}
