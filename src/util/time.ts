/**
 * Kubernetes' time formats: `metav1.Time` (RFC 3339 in whole seconds) and
 * `metav1.MicroTime` (RFC 3339 with exactly six fractional digits). Always
 * UTC. Pure; nothing from the project.
 *
 * @module
 */

/**
 * Formats `d` as a `metav1.Time`: RFC 3339 in UTC, whole seconds (the
 * milliseconds are dropped, not rounded).
 *
 * @throws {RangeError} when `d` is an invalid date.
 *
 * @example
 * ```ts
 * import { rfc3339 } from "./time.ts";
 * rfc3339(new Date("2026-11-28T08:49:48.999Z")); // "2026-11-28T08:49:48Z"
 * ```
 */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Formats `d` as a `metav1.MicroTime`: RFC 3339 in UTC with exactly six
 * fractional digits. Go's `RFC3339Micro` parser (and so the API server)
 * rejects the three digits of `Date#toISOString()`.
 *
 * @throws {RangeError} when `d` is an invalid date.
 *
 * @example
 * ```ts
 * import { microTime } from "./time.ts";
 * microTime(new Date(Date.UTC(2026, 10, 28, 8, 49, 48, 123))); // "2026-11-28T08:49:48.123000Z"
 * ```
 */
export function microTime(d: Date): string {
  const iso = d.toISOString();
  const match = /^(.*T\d{2}:\d{2}:\d{2})\.(\d{3})Z$/.exec(iso);
  if (!match) {
    throw new RangeError(
      `microTime: expected an ISO time like 2026-01-02T03:04:05.678Z, found "${iso}"`,
    );
  }
  return `${match[1]}.${match[2]}000Z`;
}
