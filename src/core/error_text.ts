/**
 * An error's text for a message. Pure; no I/O.
 *
 * `src/util/error_text.ts` holds the same `errorText` for the layers above
 * and `kube/`; `core/` may import nothing outside `core/` (and `kube/` may
 * not import `core/`), so each keeps its own. Keep the two alike.
 *
 * @module
 */

/**
 * `error.message` for an `Error`, else `String(error)`.
 *
 * @example
 * ```ts
 * import { errorText } from "./error_text.ts";
 * errorText(new RangeError("offset out of bounds")); // "offset out of bounds"
 * errorText(42); // "42"
 * ```
 */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
