/**
 * Request-body decoding as strict as the apiserver's: the content type must
 * be JSON, every known field must have the Go type it decodes into (times
 * must parse with Go's layouts, bytes must be base64), times are
 * re-serialized as Go would, and unknown fields produce `Warning` headers
 * (the default `fieldValidation=Warn`).
 *
 * @module
 */
import { badRequest, StatusError, unsupportedMediaType } from "./status.ts";
import { formatParsed, parseGoTime } from "./time.ts";

/**
 * The Go type a JSON field decodes into.
 *
 * @example
 * ```ts
 * import type { Schema } from "./decode.ts";
 * const usages: Schema = { t: "array", of: { t: "string" }, go: "[]string" };
 * ```
 */
export type Schema =
  | { t: "string" }
  | { t: "int"; bits: 32 | 64 }
  | { t: "bool" }
  | { t: "time" }
  | { t: "microtime" }
  | { t: "bytes" }
  | { t: "any" }
  | { t: "array"; of: Schema; go: string }
  | { t: "map"; of: Schema; go: string }
  | { t: "object"; go: string; fields: Record<string, Schema> };

/**
 * Shorthands for schemas.
 *
 * @example
 * ```ts
 * import { S } from "./decode.ts";
 * const spec = S.object("LeaseSpec", { holderIdentity: S.string, renewTime: S.microtime });
 * ```
 */
export const S = {
  string: { t: "string" } as Schema,
  int32: { t: "int", bits: 32 } as Schema,
  int64: { t: "int", bits: 64 } as Schema,
  bool: { t: "bool" } as Schema,
  time: { t: "time" } as Schema,
  microtime: { t: "microtime" } as Schema,
  bytes: { t: "bytes" } as Schema,
  any: { t: "any" } as Schema,
  strings: { t: "array", of: { t: "string" }, go: "[]string" } as Schema,
  stringMap: {
    t: "map",
    of: { t: "string" },
    go: "map[string]string",
  } as Schema,
  object(go: string, fields: Record<string, Schema>): Schema {
    return { t: "object", go, fields };
  },
  array(of: Schema, go: string): Schema {
    return { t: "array", of, go };
  },
  map(of: Schema, go: string): Schema {
    return { t: "map", of, go };
  },
};

/**
 * metav1.ObjectMeta.
 *
 * @example
 * ```ts
 * import { OBJECT_META, S } from "./decode.ts";
 * const node = S.object("Node", { metadata: OBJECT_META, spec: S.any });
 * ```
 */
export const OBJECT_META = S.object("ObjectMeta", {
  name: S.string,
  generateName: S.string,
  namespace: S.string,
  selfLink: S.string,
  uid: S.string,
  resourceVersion: S.string,
  generation: S.int64,
  creationTimestamp: S.time,
  deletionTimestamp: S.time,
  deletionGracePeriodSeconds: S.int64,
  labels: S.stringMap,
  annotations: S.stringMap,
  ownerReferences: S.any,
  finalizers: S.strings,
  managedFields: S.any,
});

/**
 * Wraps a top-level object schema with apiVersion/kind/metadata.
 *
 * @example
 * ```ts
 * import { S, topLevel } from "./decode.ts";
 * const lease = topLevel("Lease", { spec: S.object("LeaseSpec", { holderIdentity: S.string }) });
 * ```
 */
export function topLevel(go: string, fields: Record<string, Schema>): Schema {
  return S.object(go, {
    apiVersion: S.string,
    kind: S.string,
    metadata: OBJECT_META,
    ...fields,
  });
}

class DecodeError extends Error {}

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (v === null) return "null";
  return typeof v === "object" ? "object" : typeof v;
}

function goTypeOf(s: Schema): string {
  switch (s.t) {
    case "string":
    case "bytes":
      return s.t === "bytes" ? "[]uint8" : "string";
    case "int":
      return `int${s.bits}`;
    case "bool":
      return "bool";
    case "time":
      return "v1.Time";
    case "microtime":
      return "v1.MicroTime";
    case "array":
    case "map":
    case "object":
      return s.go;
    case "any":
      return "interface {}";
  }
}

interface Walk {
  warnings: string[];
}

function walk(
  value: unknown,
  schema: Schema,
  path: string,
  struct: string,
  w: Walk,
): unknown {
  if (value === null || schema.t === "any") return value;
  const mismatch = () =>
    new DecodeError(
      `json: cannot unmarshal ${
        jsonType(value)
      } into Go struct field ${struct}.${path} of type ${goTypeOf(schema)}`,
    );
  switch (schema.t) {
    case "string":
      if (typeof value !== "string") throw mismatch();
      return value;
    case "bool":
      if (typeof value !== "boolean") throw mismatch();
      return value;
    case "int": {
      if (typeof value !== "number") throw mismatch();
      const limit = schema.bits === 32 ? 2 ** 31 : 2 ** 63;
      if (!Number.isInteger(value) || value < -limit || value >= limit) {
        throw new DecodeError(
          `json: cannot unmarshal number ${value} into Go struct field ${struct}.${path} of type int${schema.bits}`,
        );
      }
      return value;
    }
    case "bytes": {
      if (typeof value !== "string") throw mismatch();
      const clean = value.replace(/[\r\n]/g, "");
      const m = /[^A-Za-z0-9+/=]/.exec(clean);
      const padAt = clean.indexOf("=");
      if (m) {
        throw new DecodeError(`illegal base64 data at input byte ${m.index}`);
      }
      if (clean.length % 4 !== 0) {
        throw new DecodeError(
          `illegal base64 data at input byte ${
            clean.length - (clean.length % 4)
          }`,
        );
      }
      if (padAt >= 0 && padAt < clean.length - 2) {
        throw new DecodeError(`illegal base64 data at input byte ${padAt}`);
      }
      return value;
    }
    case "time":
    case "microtime": {
      if (typeof value !== "string") throw mismatch();
      const micro = schema.t === "microtime";
      const parsed = parseGoTime(value, micro);
      if ("error" in parsed) throw new DecodeError(parsed.error);
      return formatParsed(parsed.time, micro);
    }
    case "array": {
      if (!Array.isArray(value)) throw mismatch();
      return value.map((v) => walk(v, schema.of, path, struct, w));
    }
    case "map": {
      if (jsonType(value) !== "object") throw mismatch();
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        out[k] = walk(v, schema.of, path, struct, w);
      }
      return out;
    }
    case "object": {
      if (jsonType(value) !== "object") throw mismatch();
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const child = path === "" ? k : `${path}.${k}`;
        const fs = schema.fields[k];
        if (fs === undefined) {
          w.warnings.push(`unknown field ${JSON.stringify(child)}`);
          continue;
        }
        out[k] = walk(v, fs, child, schema.go, w);
      }
      return out;
    }
  }
}

/**
 * A decoded body and the warnings the apiserver would send with the answer.
 *
 * @example
 * ```ts
 * import type { Decoded } from "./decode.ts";
 * const d: Decoded<{ a: number }> = { obj: { a: 1 }, warnings: ['unknown field "b"'] };
 * ```
 */
export interface Decoded<T> {
  obj: T;
  warnings: string[];
}

/**
 * Checks a parsed JSON body against a schema; throws a 400 StatusError
 * worded like the apiserver's decode errors.
 *
 * @example
 * ```ts
 * import { decodeAs, S, topLevel } from "./decode.ts";
 * const schema = topLevel("Lease", { spec: S.object("LeaseSpec", { holderIdentity: S.string }) });
 * decodeAs({ metadata: { name: "l" }, spec: { holderIdentity: "me" } }, schema, "Lease", "v1").obj;
 * ```
 */
export function decodeAs<T>(
  body: unknown,
  schema: Schema,
  kind: string,
  version: string,
): Decoded<T> {
  const w: Walk = { warnings: [] };
  try {
    if (jsonType(body) !== "object") {
      throw new DecodeError(
        `json: cannot unmarshal ${jsonType(body)} into Go value of type struct`,
      );
    }
    const obj = walk(body, schema, "", kind, w) as T;
    return { obj, warnings: w.warnings };
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    throw new StatusError(
      badRequest(
        `${kind} in version "${version}" cannot be handled as a ${kind}: ${e.message}`,
      ),
    );
  }
}

const JSON_TYPES = [
  "application/json",
  "application/yaml",
  "application/vnd.kubernetes.protobuf",
];
const PATCH_TYPES = [
  "application/json-patch+json",
  "application/merge-patch+json",
  "application/strategic-merge-patch+json",
  "application/apply-patch+yaml",
];

/**
 * Reads a JSON request body. A missing content type counts as JSON (like
 * the apiserver); any other non-JSON type is a 415.
 *
 * @example
 * ```ts
 * import { readJsonBody } from "./decode.ts";
 * const body = await readJsonBody(new Request("https://x/", { method: "POST", body: "{}", headers: { "content-type": "application/json" } }), "Lease");
 * ```
 */
export async function readJsonBody(
  req: Request,
  kind: string,
): Promise<unknown> {
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim()
    .toLowerCase();
  if (type !== "" && type !== "application/json") {
    await req.body?.cancel();
    throw new StatusError(unsupportedMediaType(type, JSON_TYPES));
  }
  return parseJsonText(await req.text(), kind);
}

/**
 * The patch flavours the double applies.
 *
 * @example
 * ```ts
 * import type { PatchType } from "./decode.ts";
 * const t: PatchType = "merge";
 * ```
 */
export type PatchType = "merge" | "strategic" | "json";

/**
 * Reads a PATCH body and its flavour from the content type.
 *
 * @example
 * ```ts
 * import { readPatchBody } from "./decode.ts";
 * const p = await readPatchBody(new Request("https://x/", { method: "PATCH", body: "{}", headers: { "content-type": "application/merge-patch+json" } }), "Event");
 * p.type; // "merge"
 * ```
 */
export async function readPatchBody(
  req: Request,
  kind: string,
): Promise<{ type: PatchType; patch: unknown }> {
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim()
    .toLowerCase();
  let flavour: PatchType;
  if (type === "application/merge-patch+json") flavour = "merge";
  else if (type === "application/strategic-merge-patch+json") {
    flavour = "strategic";
  } else if (type === "application/json-patch+json") flavour = "json";
  else {
    await req.body?.cancel();
    throw new StatusError(unsupportedMediaType(type, PATCH_TYPES));
  }
  return { type: flavour, patch: parseJsonText(await req.text(), kind) };
}

function parseJsonText(text: string, kind: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const summary = text.length > 30 ? `${text.slice(0, 30)}...` : text;
    throw new StatusError(
      badRequest(
        `the object provided is unrecognized (must be of type ${kind}): couldn't get version/kind; json parse error: ${
          (e as Error).message
        } (${summary})`,
      ),
    );
  }
}

/**
 * Applies an RFC 7386 JSON merge patch (strategic merge patches are
 * treated the same way: the double's types have no merge keys that matter).
 *
 * @example
 * ```ts
 * import { mergePatch } from "./decode.ts";
 * mergePatch({ a: 1, b: { c: 2 } }, { b: { c: null, d: 3 } }); // { a: 1, b: { d: 3 } }
 * ```
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (jsonType(patch) !== "object") return patch;
  const base: Record<string, unknown> = jsonType(target) === "object"
    ? { ...(target as Record<string, unknown>) }
    : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete base[k];
    else base[k] = mergePatch(base[k], v);
  }
  return base;
}

/**
 * Applies an RFC 6902 JSON patch (add/remove/replace/test).
 *
 * @example
 * ```ts
 * import { jsonPatch } from "./decode.ts";
 * jsonPatch({ a: 1 }, [{ op: "replace", path: "/a", value: 2 }]); // { a: 2 }
 * ```
 */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) {
    throw new StatusError(
      badRequest(
        "the server rejected our request due to an error in our request",
      ),
    );
  }
  const doc = structuredClone(target) as Record<string, unknown>;
  for (const op of ops as { op: string; path: string; value?: unknown }[]) {
    const parts = String(op.path).split("/").slice(1).map((p) =>
      p.replace(/~1/g, "/").replace(/~0/g, "~")
    );
    const last = parts.pop();
    let parent: Record<string, unknown> | unknown[] = doc;
    for (const p of parts) {
      const next: unknown = (parent as Record<string, unknown>)[p];
      if (typeof next !== "object" || next === null) {
        throw new StatusError(
          badRequest(`doc is missing path: "${op.path}": missing value`),
        );
      }
      parent = next as Record<string, unknown>;
    }
    if (last === undefined) continue;
    const container = parent as Record<string, unknown>;
    switch (op.op) {
      case "add":
        if (Array.isArray(parent)) {
          const i = last === "-" ? parent.length : Number(last);
          parent.splice(i, 0, op.value);
        } else container[last] = op.value;
        break;
      case "replace":
        if (!(last in container)) {
          throw new StatusError(
            badRequest(
              `replace operation does not apply: doc is missing key: ${op.path}: missing value`,
            ),
          );
        }
        container[last] = op.value;
        break;
      case "remove":
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else delete container[last];
        break;
      case "test":
        if (JSON.stringify(container[last]) !== JSON.stringify(op.value)) {
          throw new StatusError(
            badRequest(`testing value ${op.path} failed: test failed`),
          );
        }
        break;
      default:
        throw new StatusError(badRequest(`Unexpected kind: ${op.op}`));
    }
  }
  return doc;
}
