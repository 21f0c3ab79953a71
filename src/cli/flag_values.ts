/**
 * How one flag value is read from its text, by kind: strict booleans,
 * integers and numbers (plain decimal only: `1e3`, `0x10` or ` 5` are
 * refused), Go-style durations (`1m30s`), comma-separated lists, `HOST:PORT`.
 * The same for the command line and the `RUBBER_STAMP_*` variables.
 *
 * @module
 */
import { quote } from "../core/text.ts";
import { type FlagDef, FlagError } from "./flag_types.ts";

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a Go-style duration (`15s`, `1m30s`, `500ms`, `2h`) to milliseconds.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./flag_values.ts";
 * parseDuration("1m30s"); // 90000
 * ```
 */
export function parseDuration(v: string): number | undefined {
  if (v === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let i = 0;
  while (i < v.length) {
    re.lastIndex = i;
    const m = re.exec(v);
    if (!m) return undefined;
    total += Number(m[1]) * UNITS[m[2]];
    i = re.lastIndex;
  }
  return v.length > 0 && Number.isFinite(total) ? total : undefined;
}

/**
 * Parses `HOST:PORT`, `:PORT` or `[v6]:PORT`; an empty host is `0.0.0.0`.
 *
 * @example
 * ```ts
 * import { parseListen } from "./flag_values.ts";
 * parseListen(":8080"); // { hostname: "0.0.0.0", port: 8080 }
 * parseListen("[::1]:9090"); // { hostname: "::1", port: 9090 }
 * ```
 */
export function parseListen(
  v: string,
): { hostname: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(v);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/**
 * Splits a list flag's value: on commas, items trimmed, empty items dropped.
 *
 * @example
 * ```ts
 * import { splitList } from "./flag_values.ts";
 * splitList(" a, b,,c "); // ["a", "b", "c"]
 * ```
 */
export function splitList(raw: string): string[] {
  return raw.split(",").map((x) => x.trim()).filter((x) => x !== "");
}

const INTEGER = /^-?[0-9]+$/;
const DECIMAL = /^-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)$/;

/**
 * Converts a flag's raw text to its value by the flag's kind. Throws
 * {@linkcode FlagError} naming `source` (`--flag` or `VAR (--flag)`).
 *
 * @example
 * ```ts
 * import { convertFlagValue } from "./flag_values.ts";
 * import { FLAG_TABLE } from "./flag_table.ts";
 * const workers = FLAG_TABLE.find((f) => f.name === "workers")!;
 * convertFlagValue(workers, "8", "--workers"); // 8
 * ```
 */
export function convertFlagValue(
  def: FlagDef,
  raw: string,
  source: string,
): unknown {
  const bad = (expected: string) =>
    new FlagError(
      `invalid value ${quote(raw)} for ${source}: expected ${expected}`,
    );
  switch (def.kind) {
    case "string":
      return raw;
    case "list":
      return splitList(raw);
    case "files":
      if (raw === "") throw bad("a file path");
      return [raw];
    case "bool":
      if (raw === "true" || raw === "1") return true;
      if (raw === "false" || raw === "0") return false;
      throw bad("true or false");
    case "duration": {
      const ms = parseDuration(raw);
      if (ms === undefined) {
        throw bad("a duration like 15s, 1m30s or 500ms");
      }
      return ms;
    }
    case "int": {
      const n = Number(raw);
      if (!INTEGER.test(raw) || !Number.isSafeInteger(n)) {
        throw bad("an integer (decimal digits)");
      }
      return n;
    }
    case "number": {
      const n = Number(raw);
      if (!DECIMAL.test(raw) || !Number.isFinite(n)) {
        throw bad("a number (decimal digits, optionally with a fraction)");
      }
      return n;
    }
  }
}
