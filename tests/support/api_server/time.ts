/**
 * Kubernetes time formats: `metav1.Time` (RFC 3339, second precision on the
 * wire) and `metav1.MicroTime` (RFC 3339 with exactly six fractional
 * digits), parsed the way Go's `time.Parse` does, with its error messages.
 *
 * @module
 */

/**
 * Go's `time.RFC3339` layout.
 *
 * @example
 * ```ts
 * import { RFC3339 } from "./time.ts";
 * RFC3339.length; // 25
 * ```
 */
export const RFC3339 = "2006-01-02T15:04:05Z07:00";
/**
 * apimachinery's `RFC3339Micro` layout.
 *
 * @example
 * ```ts
 * import { RFC3339_MICRO } from "./time.ts";
 * RFC3339_MICRO.includes(".000000"); // true
 * ```
 */
export const RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00";

/**
 * Formats a date as a MicroTime (six fractional digits, UTC).
 *
 * @example
 * ```ts
 * import { microTime } from "./time.ts";
 * microTime(new Date("2026-11-28T08:49:48.123Z")); // "2026-11-28T08:49:48.123000Z"
 * ```
 */
export function microTime(d: Date = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/**
 * Formats a date as a metav1.Time (seconds, UTC).
 *
 * @example
 * ```ts
 * import { rfc3339 } from "./time.ts";
 * rfc3339(new Date("2026-11-28T08:49:48.123Z")); // "2026-11-28T08:49:48Z"
 * ```
 */
export function rfc3339(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * A parsed time: UTC milliseconds since the epoch plus the sub-second digits.
 *
 * @example
 * ```ts
 * import type { ParsedTime } from "./time.ts";
 * const t: ParsedTime = { epochSeconds: 0, fraction: "123000" };
 * ```
 */
export interface ParsedTime {
  epochSeconds: number;
  /** Fraction digits as written (may be ""). */
  fraction: string;
}

function isDigit(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 48 && c <= 57;
}

function daysIn(month: number, year: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

class GoParseError extends Error {}

/**
 * Parses `value` with Go's RFC 3339 layout (`micro` = apimachinery's
 * RFC3339Micro) and returns the result or Go's exact error message.
 *
 * @example
 * ```ts
 * import { parseGoTime } from "./time.ts";
 * parseGoTime("2026-11-28T08:49:48.123Z", true);
 * // { error: 'parsing time "2026-11-28T08:49:48.123Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".123Z" as ".000000"' }
 * ```
 */
export function parseGoTime(
  value: string,
  micro: boolean,
): { time: ParsedTime } | { error: string } {
  const layout = micro ? RFC3339_MICRO : RFC3339;
  const head = `parsing time ${JSON.stringify(value)}`;
  const bad = (valueElem: string, layoutElem: string) =>
    new GoParseError(
      `${head} as ${JSON.stringify(layout)}: cannot parse ${
        JSON.stringify(valueElem)
      } as ${JSON.stringify(layoutElem)}`,
    );
  const range = (what: string) =>
    new GoParseError(`${head}: ${what} out of range`);
  let v = value;
  const literal = (lit: string) => {
    for (let i = 0; i < lit.length; i++) {
      if (v.length === 0 || v[0] !== lit[i]) throw bad(v, lit.slice(i));
      v = v.slice(1);
    }
  };
  const num2 = (elem: string, fixed: boolean): number => {
    const hold = v;
    if (!isDigit(v, 0)) throw bad(hold, elem);
    if (!isDigit(v, 1)) {
      if (fixed) throw bad(hold, elem);
      const n = Number(v[0]);
      v = v.slice(1);
      return n;
    }
    const n = Number(v.slice(0, 2));
    v = v.slice(2);
    return n;
  };
  try {
    if (v.length < 4 || !/^\d{4}/.test(v)) throw bad(v, "2006");
    const year = Number(v.slice(0, 4));
    v = v.slice(4);
    literal("-");
    const month = num2("01", true);
    if (month < 1 || month > 12) throw range("month");
    literal("-");
    const day = num2("02", true);
    literal("T");
    const hour = num2("15", false);
    if (hour >= 24) throw range("hour");
    literal(":");
    const minute = num2("04", true);
    if (minute >= 60) throw range("minute");
    literal(":");
    const second = num2("05", true);
    if (second >= 60) throw range("second");
    let fraction = "";
    if (micro) {
      const hold = v;
      if (v.length < 7 || (v[0] !== "." && v[0] !== ",")) {
        throw bad(hold, ".000000");
      }
      for (let i = 1; i < 7; i++) {
        if (!isDigit(v, i)) throw bad(hold, ".000000");
      }
      fraction = v.slice(1, 7);
      v = v.slice(7);
    } else if (
      v.length >= 2 && (v[0] === "." || v[0] === ",") && isDigit(v, 1)
    ) {
      // Go accepts a fraction the layout does not mention.
      let n = 2;
      while (n < v.length && isDigit(v, n)) n++;
      fraction = v.slice(1, n);
      v = v.slice(n);
    }
    let offsetMinutes = 0;
    const hold = v;
    if (v[0] === "Z") {
      v = v.slice(1);
    } else {
      if (v.length < 6 || v[3] !== ":") throw bad(hold, "Z07:00");
      const sign = v[0];
      const hh = v.slice(1, 3);
      const mm = v.slice(4, 6);
      if (!/^\d\d$/.test(hh) || !/^\d\d$/.test(mm)) throw bad(hold, "Z07:00");
      if (sign !== "+" && sign !== "-") throw bad(hold, "Z07:00");
      offsetMinutes = (Number(hh) * 60 + Number(mm)) * (sign === "-" ? -1 : 1);
      v = v.slice(6);
    }
    if (v.length > 0) {
      throw new GoParseError(`${head}: extra text: ${JSON.stringify(v)}`);
    }
    if (day < 1 || day > daysIn(month, year)) throw range("day");
    const epochSeconds =
      Date.UTC(year, month - 1, day, hour, minute, second) / 1000 -
      offsetMinutes * 60;
    return { time: { epochSeconds, fraction } };
  } catch (e) {
    if (e instanceof GoParseError) return { error: e.message };
    throw e;
  }
}

/**
 * Re-serializes a parsed time the way Go marshals it: `Time` drops the
 * fraction, `MicroTime` keeps exactly six digits; both in UTC.
 *
 * @example
 * ```ts
 * import { formatParsed, parseGoTime } from "./time.ts";
 * const r = parseGoTime("2026-11-28T10:49:48.5+02:00", false);
 * if ("time" in r) formatParsed(r.time, false); // "2026-11-28T08:49:48Z"
 * ```
 */
export function formatParsed(t: ParsedTime, micro: boolean): string {
  const base = new Date(t.epochSeconds * 1000).toISOString().slice(0, 19);
  if (!micro) return `${base}Z`;
  return `${base}.${(t.fraction + "000000").slice(0, 6)}Z`;
}
