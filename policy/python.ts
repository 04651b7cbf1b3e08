/**
 * Just enough of Python's lexical structure to find calls in a notebook's source without being
 * fooled by layout: comments, string literals in every quoting users write (single, double, triple,
 * r/b/u/f prefixes, f-string replacement fields, implicit concatenation), calls spread over lines.
 * https://docs.python.org/3/reference/lexical_analysis.html
 *
 * The same for Scala, whose calls to the Spark API look alike: line and block comments, "..." and
 * """...""" strings, interpolated strings (s"...$name ${expr}").
 * https://docs.scala-lang.org/scala3/reference/syntax.html#lexical-syntax
 */

export type Dialect = "python" | "scala";

/** What a string literal (or a concatenation of them) is known to hold. */
export interface StringValue {
    /** The text, with every part that is only known at run time (an f-string field) as `*`. */
    readonly text: string;
    /** True when a part is only known at run time. */
    readonly dynamic: boolean;
}

export type TokenKind = "name" | "string" | "number" | "op" | "newline";

export interface Token {
    readonly kind: TokenKind;
    readonly text: string;
    /** 1-based line where the token starts. */
    readonly line: number;
    /** The decoded value of a string token. */
    readonly value?: StringValue;
}

const STRING_START = /^(?:[rRuUbBfF]|[rR][bBfF]|[bBfF][rR])?(?:'''|"""|'|")/;
/** A Scala string, with its interpolator (s, f, raw...) if any. */
const SCALA_STRING_START = /^(?:[A-Za-z_][A-Za-z0-9_]*)?(?:"""|")/;
const OPERATORS = [
    "**=",
    "//=",
    ">>=",
    "<<=",
    "...",
    "==",
    "!=",
    "<=",
    ">=",
    "**",
    "//",
    "->",
    ":=",
    "+=",
    "-=",
    "*=",
    "/=",
    "%=",
    "&=",
    "|=",
    "^=",
    "@=",
    ">>",
    "<<",
];
const ESCAPES: Readonly<Record<string, string>> = {
    n: "\n",
    t: "\t",
    r: "\r",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "0": "\0",
    a: "\x07",
    b: "\b",
    f: "\f",
    v: "\v",
};

/** Reads one string literal starting at `start` (at its prefix); returns the token and where it ends. */
function readString(source: string, start: number, line: number): { token: Token; end: number; lines: number } {
    const opening = STRING_START.exec(source.slice(start, start + 5))![0];
    const prefix = opening.replace(/['"]+$/, "").toLowerCase();
    const quote = opening.slice(prefix.length);
    const raw = prefix.includes("r");
    const formatted = prefix.includes("f");
    let i = start + opening.length;
    let text = "";
    let dynamic = false;
    let lines = 0;
    while (i < source.length) {
        if (source.startsWith(quote, i)) {
            i += quote.length;
            break;
        }
        const char = source[i];
        if (char === "\n") {
            if (quote.length === 1) {
                break; // unterminated single-quoted string: stop at the end of the line
            }
            lines++;
        }
        if (char === "\\" && i + 1 < source.length) {
            const next = source[i + 1];
            if (next === "\n") {
                lines++;
            }
            text += raw ? char + next : (ESCAPES[next] ?? (next === "\n" ? "" : char + next));
            i += 2;
            continue;
        }
        if (formatted && (char === "{" || char === "}")) {
            if (source[i + 1] === char) {
                text += char;
                i += 2;
                continue;
            }
            if (char === "{") {
                // A replacement field: skip to its closing brace, over nested brackets and strings.
                let depth = 0;
                i++;
                while (i < source.length) {
                    const c = source[i];
                    if (c === "\n") {
                        lines++;
                    }
                    if (STRING_START.test(source.slice(i, i + 5)) && /['"rRuUbBfF]/.test(c) && !/[\w]/.test(source[i - 1] ?? "")) {
                        const nested = readString(source, i, line);
                        if (nested.token.kind === "string") {
                            lines += nested.lines;
                            i = nested.end;
                            continue;
                        }
                    }
                    if ("([{".includes(c)) {
                        depth++;
                    } else if (")]}".includes(c)) {
                        if (depth === 0) {
                            break;
                        }
                        depth--;
                    }
                    i++;
                }
                i++;
                text += "*";
                dynamic = true;
                continue;
            }
        }
        text += char;
        i++;
    }
    return { token: { kind: "string", text: source.slice(start, i), line, value: { text, dynamic } }, end: i, lines };
}

/** Reads one Scala string literal starting at `start` (at its interpolator, if any). */
function readScalaString(source: string, start: number, line: number): { token: Token; end: number; lines: number } {
    const opening = SCALA_STRING_START.exec(source.slice(start, start + 64))![0];
    const interpolator = opening.replace(/"+$/, "");
    const quote = opening.slice(interpolator.length);
    // Triple-quoted and raw strings take backslashes as they are.
    const escapes = quote.length === 1 && interpolator !== "raw";
    let i = start + opening.length;
    let text = "";
    let dynamic = false;
    let lines = 0;
    while (i < source.length) {
        if (source.startsWith(quote, i)) {
            i += quote.length;
            break;
        }
        const char = source[i];
        const next = source[i + 1] ?? "";
        if (char === "\n") {
            if (quote.length === 1) {
                break;
            }
            lines++;
        }
        if (char === "\\" && escapes && next !== "") {
            text += ESCAPES[next] ?? char + next;
            i += 2;
            continue;
        }
        if (char === "$" && interpolator !== "") {
            if (next === "$") {
                text += "$";
                i += 2;
                continue;
            }
            if (next === "{") {
                let depth = 0;
                for (i++; i < source.length; i++) {
                    if (source[i] === "{") depth++;
                    else if (source[i] === "}" && --depth === 0) break;
                }
                i++;
                text += "*";
                dynamic = true;
                continue;
            }
            const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i + 1));
            if (name) {
                i += 1 + name[0].length;
                text += "*";
                dynamic = true;
                continue;
            }
        }
        text += char;
        i++;
    }
    return { token: { kind: "string", text: source.slice(start, i), line, value: { text, dynamic } }, end: i, lines };
}

/** The tokens of a Python (or Scala) source. `newline` ends each logical line (none inside brackets). */
export function tokenize(source: string, dialect: Dialect = "python"): Token[] {
    const tokens: Token[] = [];
    let line = 1;
    let depth = 0;
    let i = 0;
    const newline = () => {
        if (depth === 0 && tokens.length > 0 && tokens[tokens.length - 1].kind !== "newline") {
            tokens.push({ kind: "newline", text: "\n", line });
        }
    };
    while (i < source.length) {
        const char = source[i];
        if (char === "\n") {
            newline();
            line++;
            i++;
        } else if (char === "\\" && source[i + 1] === "\n") {
            line++;
            i += 2;
        } else if (/\s/.test(char)) {
            i++;
        } else if (dialect === "python" ? char === "#" : source.startsWith("//", i)) {
            while (i < source.length && source[i] !== "\n") {
                i++;
            }
        } else if (dialect === "scala" && source.startsWith("/*", i)) {
            const end = source.indexOf("*/", i + 2);
            const comment = source.slice(i, end < 0 ? source.length : end + 2);
            line += comment.split("\n").length - 1;
            i += comment.length;
        } else if (dialect === "python" ? STRING_START.test(source.slice(i, i + 5)) : SCALA_STRING_START.test(source.slice(i, i + 64))) {
            const { token, end, lines } = dialect === "python" ? readString(source, i, line) : readScalaString(source, i, line);
            tokens.push(token);
            line += lines;
            i = end;
        } else if (/[\p{L}_]/u.test(char)) {
            const match = /^[\p{L}\p{N}_]+/u.exec(source.slice(i))![0];
            tokens.push({ kind: "name", text: match, line });
            i += match.length;
        } else if (/\d/.test(char) || (char === "." && /\d/.test(source[i + 1] ?? ""))) {
            const match = /^[\d.][\w.]*/.exec(source.slice(i))![0];
            tokens.push({ kind: "number", text: match, line });
            i += match.length;
        } else {
            const operator = OPERATORS.find((op) => source.startsWith(op, i)) ?? char;
            if ("([{".includes(operator)) {
                depth++;
            } else if (")]}".includes(operator)) {
                depth = Math.max(0, depth - 1);
            }
            tokens.push({ kind: "op", text: operator, line });
            i += operator.length;
        }
    }
    newline();
    return tokens;
}

/** Index of the bracket closing the one at `open`, or the last token when it is never closed. */
export function closingBracket(tokens: readonly Token[], open: number): number {
    let depth = 0;
    for (let i = open; i < tokens.length; i++) {
        if (tokens[i].kind !== "op") {
            continue;
        }
        if ("([{".includes(tokens[i].text)) {
            depth++;
        } else if (")]}".includes(tokens[i].text) && --depth === 0) {
            return i;
        }
    }
    return tokens.length - 1;
}

/** Splits the tokens between two brackets at their top-level commas. */
export function splitArguments(tokens: readonly Token[]): Token[][] {
    const parts: Token[][] = [[]];
    let depth = 0;
    for (const token of tokens) {
        if (token.kind === "op" && "([{".includes(token.text)) {
            depth++;
        } else if (token.kind === "op" && ")]}".includes(token.text)) {
            depth--;
        } else if (token.kind === "op" && token.text === "," && depth === 0) {
            parts.push([]);
            continue;
        }
        parts[parts.length - 1].push(token);
    }
    return parts.filter((part) => part.length > 0);
}

/** A call's arguments: positional ones in order, keyword ones by name; `*args` and `**kwargs` are left out. */
export interface CallArguments {
    readonly positional: Token[][];
    readonly keyword: ReadonlyMap<string, Token[]>;
}

export function callArguments(tokens: readonly Token[]): CallArguments {
    const positional: Token[][] = [];
    const keyword = new Map<string, Token[]>();
    for (const argument of splitArguments(tokens)) {
        if (argument[0].kind === "op" && (argument[0].text === "*" || argument[0].text === "**")) {
            continue;
        }
        if (argument.length > 2 && argument[0].kind === "name" && argument[1].kind === "op" && argument[1].text === "=") {
            keyword.set(argument[0].text, argument.slice(2));
        } else {
            positional.push(argument);
        }
    }
    return { positional, keyword };
}

/**
 * Names bound to a string at the top of the source and nowhere to anything else (`storage_key =
 * "..."`): what a name passed to a call holds when the source alone tells.
 */
export function stringConstants(tokens: readonly Token[]): Map<string, StringValue> {
    const values = new Map<string, StringValue | null>();
    for (let i = 0; i < tokens.length; i++) {
        // Python `name = ...`; Scala `val name = ...` or `val name: String = ...`.
        const atStatementStart = i === 0 || tokens[i - 1].kind === "newline" || ["val", "var"].includes(tokens[i - 1].text);
        const token = tokens[i];
        const typed = tokens[i + 1]?.text === ":" && tokens[i + 2]?.kind === "name" && tokens[i + 3]?.text === "=";
        if (token.kind !== "name" || !tokens[i + 1] || tokens[i + 1].kind !== "op") {
            continue;
        }
        const operator = typed ? "=" : tokens[i + 1].text;
        const valueStart = typed ? i + 4 : i + 2;
        if (operator === "=" && atStatementStart) {
            let end = valueStart;
            while (end < tokens.length && tokens[end].kind !== "newline") {
                end++;
            }
            const value = stringExpression(tokens.slice(valueStart, end), new Map()) ?? null;
            const previous = values.get(token.text);
            values.set(token.text, previous === undefined || (previous !== null && value !== null && previous.text === value.text) ? value : null);
        } else if (/^(?:[+\-*/%&|^@]|\*\*|\/\/|>>|<<|:)=$/.test(operator)) {
            values.set(token.text, null); // augmented assignment or walrus: no longer a constant
        }
    }
    for (let i = 0; i + 1 < tokens.length; i++) {
        // Rebound by a loop, a with-statement, an import or an except clause.
        if (tokens[i].kind === "name" && ["for", "as", "import"].includes(tokens[i].text) && tokens[i + 1].kind === "name") {
            values.set(tokens[i + 1].text, null);
        }
    }
    return new Map([...values].filter((entry): entry is [string, StringValue] => entry[1] !== null));
}

/**
 * What an expression is known to hold when it is made of string literals: adjacent literals, `+`,
 * names of string constants; `.format(...)` or `%` on a literal keep its text with the fields as `*`.
 * Undefined when it is anything else (a call, a subscript, an unknown name).
 */
export function stringExpression(tokens: readonly Token[], constants: ReadonlyMap<string, StringValue>): StringValue | undefined {
    if (tokens.length === 0) {
        return undefined;
    }
    let text = "";
    let dynamic = false;
    let i = 0;
    while (i < tokens.length) {
        const token = tokens[i];
        if (token.kind === "string") {
            let literal = "";
            while (i < tokens.length && tokens[i].kind === "string") {
                literal += tokens[i].value!.text;
                dynamic ||= tokens[i].value!.dynamic;
                i++;
            }
            const formatted = tokens[i]?.kind === "op" && (tokens[i].text === "%" || (tokens[i].text === "." && tokens[i + 1]?.text === "format"));
            if (formatted) {
                // "...{}...".format(x) or "...%s..." % x: the fields are filled at run time.
                text += literal.replace(/\{[^{}]*\}|%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdifrx]/g, "*");
                return { text, dynamic: true };
            }
            text += literal;
        } else if (token.kind === "name" && constants.has(token.text)) {
            text += constants.get(token.text)!.text;
            dynamic ||= constants.get(token.text)!.dynamic;
            i++;
        } else if (token.kind === "name" && (i + 1 >= tokens.length || tokens[i + 1].text === "+")) {
            text += "*";
            dynamic = true;
            i++;
        } else {
            return undefined;
        }
        if (i < tokens.length) {
            if (tokens[i].kind !== "op" || tokens[i].text !== "+") {
                return undefined;
            }
            i++;
        }
    }
    return { text, dynamic };
}

/** The source text of a call's receiver, e.g. `spark.conf` or `spark._jsc.hadoopConfiguration()`, ending before token `dot`. */
export function receiverText(tokens: readonly Token[], dot: number): string {
    const parts: string[] = [];
    let i = dot - 1;
    while (i >= 0) {
        const token = tokens[i];
        if (token.kind === "op" && token.text === ")") {
            let depth = 0;
            let j = i;
            for (; j >= 0; j--) {
                if (tokens[j].text === ")") depth++;
                else if (tokens[j].text === "(" && --depth === 0) break;
            }
            parts.unshift("()");
            i = j - 1;
        } else if (token.kind === "name") {
            parts.unshift(token.text);
            i--;
            if (i >= 0 && tokens[i].kind === "op" && tokens[i].text === ".") {
                parts.unshift(".");
                i--;
            } else {
                break;
            }
        } else {
            break;
        }
    }
    return parts.join("");
}
