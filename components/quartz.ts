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

// ---------------------------------------------------------------------------------------------------
// Fire times, as Quartz computes them (http://www.quartz-scheduler.org/api/2.3.0/org/quartz/CronExpression.html).

/** The values a plain field (numbers, names, ranges, steps, lists, `*`) allows. */
function fieldValues(field: string, rule: FieldRule): Set<number> {
    const values = new Set<number>();
    for (const part of field.split(",")) {
        const [range, stepText] = part.split("/");
        const step = stepText === undefined ? 1 : Number(stepText);
        let [low, high] = [rule.min, rule.max];
        if (range !== "*" && range !== "?") {
            const bounds = range.split("-").map((bound) => valueOf(bound, rule) as number);
            low = bounds[0];
            // `a/n` runs from a to the field's end; `a-b` (Quartz also allows b < a, wrapping) to b.
            high = bounds.length === 2 ? bounds[1] : stepText === undefined ? low : rule.max;
        }
        const span = rule.max - rule.min + 1;
        for (let offset = 0; offset <= (high - low + span) % span || (high === low && offset === 0); offset += step) {
            values.add(((low - rule.min + offset) % span) + rule.min);
            if (high === low) {
                break;
            }
        }
    }
    return values;
}

interface LocalDay {
    readonly year: number;
    /** 1-12. */
    readonly month: number;
    readonly day: number;
}

const daysInMonth = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();
/** Quartz numbers days of the week 1 (SUN) to 7 (SAT). */
const dayOfWeek = (date: LocalDay) => new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay() + 1;

/** Whether a calendar day matches the day-of-month field (`L`, `L-n`, `LW`, `nW` included). */
function dayOfMonthMatches(field: string, date: LocalDay): boolean {
    const last = daysInMonth(date.year, date.month);
    const upper = field.toUpperCase();
    const weekdayNearest = (target: number) => {
        const weekday = dayOfWeek({ ...date, day: target });
        // Saturday moves to Friday, Sunday to Monday, never out of the month.
        if (weekday === 7) return target === 1 ? 3 : target - 1;
        if (weekday === 1) return target === last ? target - 2 : target + 1;
        return target;
    };
    if (upper === "L") return date.day === last;
    if (/^L-\d+$/.test(upper)) return date.day === last - Number(upper.slice(2));
    if (upper === "LW") return date.day === weekdayNearest(last);
    if (/^\d+W$/.test(upper)) return date.day === weekdayNearest(Math.min(Number(upper.slice(0, -1)), last));
    return fieldValues(field, FIELDS[3]).has(date.day);
}

/** Whether a calendar day matches the day-of-week field (`L`, `nL`, `n#k` included). */
function dayOfWeekMatches(field: string, date: LocalDay): boolean {
    const upper = field.toUpperCase();
    const weekday = dayOfWeek(date);
    const named = (text: string) => valueOf(text, FIELDS[5]) as number;
    if (upper === "L") return weekday === 7;
    if (/L$/.test(upper)) return weekday === named(upper.slice(0, -1)) && date.day + 7 > daysInMonth(date.year, date.month);
    if (upper.includes("#")) {
        const [day, nth] = upper.split("#");
        return weekday === named(day) && Math.ceil(date.day / 7) === Number(nth);
    }
    return fieldValues(field, FIELDS[5]).has(weekday);
}

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();

const offsetCache = new Map<string, number>();
const FIXED_UTC = new Set(["UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z"]);

/** The zone's offset from UTC at an instant, in milliseconds (cached per zone and instant). */
function zoneOffset(instant: number, timeZone: string): number {
    if (FIXED_UTC.has(timeZone)) {
        return 0;
    }
    const key = `${timeZone}@${instant}`;
    let offset = offsetCache.get(key);
    if (offset === undefined) {
        offset = computeZoneOffset(instant, timeZone);
        offsetCache.set(key, offset);
    }
    return offset;
}

function computeZoneOffset(instant: number, timeZone: string): number {
    let format = offsetFormatters.get(timeZone);
    if (!format) {
        format = new Intl.DateTimeFormat("en-US", {
            timeZone,
            hourCycle: "h23",
            year: "numeric",
            month: "numeric",
            day: "numeric",
            hour: "numeric",
            minute: "numeric",
            second: "numeric",
        });
        offsetFormatters.set(timeZone, format);
    }
    const parts = Object.fromEntries(format.formatToParts(instant).map((part) => [part.type, Number(part.value)]));
    const local = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
    return local - Math.floor(instant / 1000) * 1000;
}

/**
 * The instants a wall-clock time has in a zone: none in a daylight-saving gap (Quartz skips such a
 * fire time: its CronExpression moves the hour on and finds no match that day), two when the clocks
 * go back and the time occurs twice (both are taken, as which one fires is not documented).
 */
function instantsOf(date: LocalDay, hour: number, minute: number, second: number, timeZone: string): number[] {
    const wall = Date.UTC(date.year, date.month - 1, date.day, hour, minute, second);
    const candidates = new Set([wall - zoneOffset(wall - 86_400_000, timeZone), wall - zoneOffset(wall + 86_400_000, timeZone)]);
    return [...candidates].filter((instant) => instant + zoneOffset(instant, timeZone) === wall).sort((a, b) => a - b);
}

/**
 * Every fire time of a valid Quartz cron expression in [from, to), in ascending order, as UTC
 * milliseconds; the expression's wall-clock times are in `timeZone`.
 */
export function* quartzFireTimes(expression: string, timeZone: string, from: number, to: number): Generator<number> {
    const fields = expression.trim().split(/\s+/);
    const [seconds, minutes, hours] = [0, 1, 2].map((i) => [...fieldValues(fields[i], FIELDS[i])].sort((a, b) => a - b));
    const months = fieldValues(fields[4], FIELDS[4]);
    const years = fields[6] === undefined ? undefined : fieldValues(fields[6], FIELDS[6]);
    const start = new Date(from - 86_400_000);
    for (let day = Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()); day < to + 86_400_000; day += 86_400_000) {
        const calendar = new Date(day);
        const date = { year: calendar.getUTCFullYear(), month: calendar.getUTCMonth() + 1, day: calendar.getUTCDate() };
        if (!months.has(date.month) || (years && !years.has(date.year))) continue;
        if (fields[3] !== "?" ? !dayOfMonthMatches(fields[3], date) : !dayOfWeekMatches(fields[5], date)) continue;
        // Most days have one offset from start to end: their wall times map to instants directly.
        const offset = zoneOffset(day - 86_400_000, timeZone);
        const steady = offset === zoneOffset(day + 2 * 86_400_000, timeZone);
        const fires: number[] = [];
        for (const hour of hours) {
            for (const minute of minutes) {
                for (const second of seconds) {
                    const instants = steady ? [day + (hour * 3600 + minute * 60 + second) * 1000 - offset] : instantsOf(date, hour, minute, second, timeZone);
                    fires.push(...instants.filter((instant) => instant >= from && instant < to));
                }
            }
        }
        yield* steady ? fires : fires.sort((a, b) => a - b);
    }
}

export interface ScheduleOverlap {
    /** UTC milliseconds of the two fire times closer than the window. */
    readonly first: number;
    readonly second: number;
}

/**
 * The first pair of fire times, one from each schedule, less than `windowSeconds` apart in [from, to):
 * runs that start then and may last `windowSeconds` could run at the same time. Undefined when none.
 */
export function firstScheduleOverlap(
    a: { readonly expression: string; readonly timeZone: string },
    b: { readonly expression: string; readonly timeZone: string },
    windowSeconds: number,
    from: number,
    to: number,
): ScheduleOverlap | undefined {
    const window = windowSeconds * 1000;
    const streams = [quartzFireTimes(a.expression, a.timeZone, from, to), quartzFireTimes(b.expression, b.timeZone, from, to)];
    const heads = streams.map((stream) => stream.next());
    const latest: (number | undefined)[] = [undefined, undefined];
    while (!heads[0].done || !heads[1].done) {
        const side = heads[1].done || (!heads[0].done && heads[0].value <= heads[1].value) ? 0 : 1;
        const instant = heads[side].value as number;
        const other = latest[1 - side];
        // In merged order the other schedule's closest earlier fire time is the latest one seen.
        if (other !== undefined && instant - other < window) {
            return { first: other, second: instant };
        }
        latest[side] = instant;
        heads[side] = streams[side].next();
    }
    return undefined;
}
