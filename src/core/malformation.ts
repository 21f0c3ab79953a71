/**
 * The structural check of a kubelet-serving CSR object: the fields the
 * decision reads have the types the API server guarantees. A CSR that fails
 * it is denied (`MalformedObject`) with a message naming the first bad field;
 * everything after this check may read those fields without further doubt.
 *
 * @module
 */
import { isObject, type Json } from "./json.ts";
import { quote } from "./text.ts";

/**
 * True for an array of strings only.
 *
 * @example
 * ```ts
 * import { isStringArray } from "./malformation.ts";
 * isStringArray(["system:nodes"]); // true
 * isStringArray(["system:nodes", 1]); // false
 * ```
 */
export function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

/**
 * The first structural problem of a kubelet-serving CSR, if any.
 *
 * @example
 * ```ts
 * import { malformation } from "./malformation.ts";
 * malformation({ metadata: { name: "csr-1" }, spec: { request: 42 } }); // "spec.request is number, expected a string"
 * malformation({ metadata: { name: "csr-1" }, spec: { request: "" } }); // undefined
 * ```
 */
export function malformation(csr: Json): string | undefined {
  const { metadata, spec, status } = csr;
  if (!isObject(metadata)) return "metadata is not an object";
  if (typeof metadata.name !== "string" || metadata.name === "") {
    return "metadata.name is missing";
  }
  if (!isObject(spec)) return "spec is not an object";
  if (typeof spec.request !== "string") {
    return `spec.request is ${typeOf(spec.request)}, expected a string`;
  }
  if (spec.usages !== undefined && !isStringArray(spec.usages)) {
    return `spec.usages is ${typeOf(spec.usages)}, expected a list of strings`;
  }
  if (spec.username !== undefined && typeof spec.username !== "string") {
    return `spec.username is ${typeOf(spec.username)}, expected a string`;
  }
  if (spec.groups !== undefined && !isStringArray(spec.groups)) {
    return `spec.groups is ${typeOf(spec.groups)}, expected a list of strings`;
  }
  const expiration = spec.expirationSeconds;
  if (
    expiration !== undefined && expiration !== null &&
    !(typeof expiration === "number" && Number.isInteger(expiration))
  ) {
    return `spec.expirationSeconds is ${
      typeof expiration === "number" ? quote(expiration) : typeOf(expiration)
    }, expected a whole number of seconds`;
  }
  return statusMalformation(status);
}

/** `status` may be absent; present, it is an object with a list of conditions. */
function statusMalformation(status: unknown): string | undefined {
  if (status === undefined || status === null) return undefined;
  if (!isObject(status)) {
    return `status is ${typeOf(status)}, expected an object`;
  }
  if (
    status.conditions !== undefined && status.conditions !== null &&
    !Array.isArray(status.conditions)
  ) {
    return `status.conditions is ${typeOf(status.conditions)}, expected a list`;
  }
  return undefined;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : typeof value;
}
