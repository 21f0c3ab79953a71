/**
 * Narrowing untrusted JSON or YAML (a kubeconfig, a CSR, a Node) to an
 * object. Pure; nothing from the project.
 *
 * `src/core/json.ts` holds the same `isObject` for `core/`, which may
 * import nothing outside `core/` (and `kube/` may not import `core/`); keep
 * the two alike.
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
 * isObject({ kind: "Config" }); // true
 * isObject([1, 2]); // false
 * isObject(null); // false
 * ```
 */
export function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
