/**
 * Durations in policy messages: compact and compound (`1h`, `15m`, `1m30s`,
 * `1h1s`, `250ms`). Pure; no I/O.
 *
 * `src/util/duration.ts` holds the single-unit format of `--help` and the
 * leader-election errors; `core/` may import nothing outside `core/`.
 *
 * @module
 */

/**
 * Formats milliseconds compactly for messages: hours, minutes and seconds,
 * zero parts left out, sub-second parts dropped; under a second, rounded
 * milliseconds. Non-finite input is written as `String(ms)`.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./duration.ts";
 * formatDuration(90_000); // "1m30s"
 * formatDuration(3_601_000); // "1h1s"
 * formatDuration(250); // "250ms"
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s ? `${s}s` : ""}` || "0s";
}
