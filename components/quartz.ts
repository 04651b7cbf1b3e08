/**
 * Validation of Quartz cron expressions as Databricks job schedules take them:
 * `seconds minutes hours day-of-month month day-of-week [year]`, where exactly one of
 * day-of-month and day-of-week is `?`. Returns what is wrong, or undefined when valid.
 */

interface FieldRule {
    readonly name: string;
    readonly min: number;
    readonly max: number;
    readonly names?: readonly string[];
    /** Extra single-value forms this field allows besides numbers and ranges. */
    readonly special?: RegExp;
}

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: readonly FieldRule[] = [
    { name: "seconds", min: 0, max: 59 },
    { name: "minutes", min: 0, max: 59 },
    { name: "hours", min: 0, max: 23 },
    { name: "day-of-month", min: 1, max: 31, special: /^(\?|L(-\d{1,2})?|LW|\d{1,2}W)$/ },
    { name: "month", min: 1, max: 12, names: MONTHS },
    { name: "day-of-week", min: 1, max: 7, names: DAYS, special: /^(\?|[1-7A-Z]{1,3}L|[1-7A-Z]{1,3}#[1-5]|L)$/ },
    { name: "year", min: 1970, max: 2099 },
];

function valueOf(token: string, rule: FieldRule): number | undefined {
    if (/^\d+$/.test(token)) {
        return Number(token);
    }
    const index = rule.names?.indexOf(token.toUpperCase()) ?? -1;
    return index >= 0 ? index + 1 : undefined;
}

function fieldProblem(field: string, rule: FieldRule): string | undefined {
    for (const part of field.split(",")) {
        if (rule.special?.test(part.toUpperCase())) {
            if (field.includes(",")) {
                return `${rule.name} field '${field}': '${part}' cannot be combined with other values`;
            }
            continue;
        }
        const [range, step, ...extra] = part.split("/");
        if (extra.length > 0 || (step !== undefined && !/^\d+$/.test(step))) {
            return `${rule.name} field '${field}': '${part}' has an invalid step`;
        }
        if (range === "*") {
            continue;
        }
        const bounds = range.split("-");
        if (bounds.length > 2) {
            return `${rule.name} field '${field}': '${part}' is not a value or a range`;
        }
        for (const bound of bounds) {
            const value = valueOf(bound, rule);
            if (value === undefined || value < rule.min || value > rule.max) {
                const named = rule.names ? ` or ${rule.names[0]}-${rule.names[rule.names.length - 1]}` : "";
                return `${rule.name} field '${field}': '${bound}' is outside ${rule.min}-${rule.max}${named}`;
            }
        }
    }
    return undefined;
}

export function quartzCronProblem(expression: string): string | undefined {
    const fields = expression.trim().split(/\s+/);
    if (fields.length < 6 || fields.length > 7) {
        return `has ${fields.length} fields; a Quartz cron expression has 6 or 7 (seconds minutes hours day-of-month month day-of-week [year]), e.g. '0 0 2 * * ?'`;
    }
    for (let i = 0; i < fields.length; i++) {
        const problem = fieldProblem(fields[i], FIELDS[i]);
        if (problem) {
            return problem;
        }
    }
    const dayOfMonthUnset = fields[3] === "?";
    const dayOfWeekUnset = fields[5] === "?";
    if (dayOfMonthUnset === dayOfWeekUnset) {
        return "exactly one of day-of-month (4th field) and day-of-week (6th field) must be '?'";
    }
    return undefined;
}
