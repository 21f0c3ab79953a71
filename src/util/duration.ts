/**
 * Durations as one number and one unit (`15s`, `15m`, `1h`, `2400ms`), text
 * Go's `time.ParseDuration` and the flag parser read back to the same value.
 * Pure; nothing from the project.
 *
 * `src/core/duration.ts` holds a different format, the compact compound one
 * of policy messages (`1m30s`); `core/` may import nothing outside `core/`.
 *
 * @module
 */

/** The largest unit {@linkcode formatDurationUnit} may use. */
export type LargestUnit = "h" | "m" | "s";

const UNITS: readonly [unit: LargestUnit, ms: number][] = [
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1_000],
];

/**
 * Formats `ms` in the largest unit, up to `largestUnit` (default `h`), that
 * divides it exactly, else in milliseconds. `0` takes `largestUnit`.
 *
 * Callers: `--help` defaults (`15s`, `15m`, `1h`) with the default; the
 * leader-election timing errors with `"s"` (`60s`, `2400ms`), which name
 * flags given in seconds.
 *
 * @example
 * ```ts
 * import { formatDurationUnit } from "./duration.ts";
 * formatDurationUnit(900_000); // "15m"
 * formatDurationUnit(90_000); // "90s"
 * formatDurationUnit(60_000, "s"); // "60s"
 * formatDurationUnit(2_400, "s"); // "2400ms"
 * ```
 */
export function formatDurationUnit(
  ms: number,
  largestUnit: LargestUnit = "h",
): string {
  const first = UNITS.findIndex(([unit]) => unit === largestUnit);
  for (const [unit, size] of UNITS.slice(first)) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
