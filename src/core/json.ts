/**
 * Narrowing untrusted JSON (a CSR, a Node, a policy file) to an object.
 * Pure; no I/O.
 *
 * `src/util/json.ts` holds the same `isObject` for `kube/` and the layers
 * above; `core/` may import nothing outside `core/` (and `kube/` may not
 * import `core/`), so each keeps its own. Keep the two alike.
 *
 * @module
 */

/** A JSON object: string keys, values not yet checked. */
export type Json = Record<string, unknown>;

/**
 * True for a non-null object that is not an array.
 *
 * @example
 * ```ts
 * import { isObject } from "./json.ts";
 * isObject({ kind: "Node" }); // true
 * isObject([1, 2]); // false
 * isObject(null); // false
 * ```
 */
export function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
