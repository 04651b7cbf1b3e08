/**
 * Spark SQL text as the SQL tests handle it: string literals masked out so that rewriting the code
 * around them can never change a literal, and put back afterwards.
 */

/** The n-th masked string literal is \uE000n\uE000: a private-use character, which SQL text never holds. */
export const LITERAL_PLACEHOLDER = "\uE000\\d+\uE000";
const PLACEHOLDER = /\uE000(\d+)\uE000/g;

export interface MaskedSql {
    /** The statement with each string literal replaced by a placeholder and comments removed. */
    readonly code: string;
    /** The literals, quotes included, in order. */
    readonly literals: readonly string[];
}

/**
 * Masks Spark SQL string literals ('...' and "..." with backslash escapes, as Spark reads them by
 * default) and drops `--` and `/* *\/` comments. Backquoted identifiers stay in the code, unmasked.
 */
export function maskLiterals(sql: string): MaskedSql {
    const literals: string[] = [];
    let code = "";
    let i = 0;
    while (i < sql.length) {
        const char = sql[i];
        if (char === "'" || char === '"') {
            let end = i + 1;
            while (end < sql.length && sql[end] !== char) {
                end += sql[end] === "\\" ? 2 : 1;
            }
            if (end >= sql.length) {
                throw new Error(`Unterminated string literal at offset ${i}: ${sql.slice(i, i + 40)}`);
            }
            code += `\uE000${literals.length}\uE000`;
            literals.push(sql.slice(i, end + 1));
            i = end + 1;
        } else if (char === "`") {
            let end = i + 1;
            while (end < sql.length && !(sql[end] === "`" && sql[end + 1] !== "`")) {
                end += sql[end] === "`" ? 2 : 1;
            }
            code += sql.slice(i, end + 1);
            i = end + 1;
        } else if (sql.startsWith("--", i)) {
            const end = sql.indexOf("\n", i);
            i = end < 0 ? sql.length : end;
        } else if (sql.startsWith("/*", i)) {
            const end = sql.indexOf("*/", i + 2);
            if (end < 0) {
                throw new Error(`Unterminated comment at offset ${i}`);
            }
            code += " ";
            i = end + 2;
        } else {
            code += char;
            i += 1;
        }
    }
    return { code, literals };
}

/** Puts the literals back, each passed through `map` (identity by default). */
export function unmaskLiterals(masked: MaskedSql, code: string = masked.code, map: (literal: string) => string = (literal) => literal): string {
    return code.replace(PLACEHOLDER, (_match, index: string) => map(masked.literals[Number(index)]));
}

/** The statement's first keyword, upper-cased (CREATE, INSERT, MERGE, SELECT, ...). */
export function statementKind(sql: string): string {
    const match = /^[\s(]*([A-Za-z]+)/.exec(maskLiterals(sql).code);
    return match ? match[1].toUpperCase() : "";
}
