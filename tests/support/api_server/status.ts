/**
 * `Status` bodies exactly as k8s.io/apimachinery's `api/errors` builds them,
 * and field errors formatted like `util/validation/field`.
 *
 * @module
 */

/**
 * A metav1.Status (failure or success).
 *
 * @example
 * ```ts
 * import { notFound, type Status } from "./status.ts";
 * const s: Status = notFound({ group: "", resource: "nodes" }, "n1");
 * ```
 */
export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: { continue?: string };
  status: "Failure" | "Success";
  message?: string;
  reason?: string;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: { reason: string; message: string; field?: string }[];
    retryAfterSeconds?: number;
  };
  code: number;
}

/**
 * A resource and its API group (schema.GroupResource).
 *
 * @example
 * ```ts
 * import type { GroupResource } from "./status.ts";
 * const csrs: GroupResource = { group: "certificates.k8s.io", resource: "certificatesigningrequests" };
 * ```
 */
export interface GroupResource {
  group: string;
  resource: string;
}

/**
 * Wraps an already formatted value so field errors print it verbatim (Go's `%#v` of a uint64 0 is `0x0`).
 *
 * @example
 * ```ts
 * import { fieldErrorBody, Verbatim } from "./status.ts";
 * fieldErrorBody({ type: "Invalid", field: "metadata.resourceVersion", value: new Verbatim("0x0") }); // "Invalid value: 0x0"
 * ```
 */
export class Verbatim {
  constructor(readonly text: string) {}
}

/**
 * One field error (field.Error).
 *
 * @example
 * ```ts
 * import type { FieldError } from "./status.ts";
 * const e: FieldError = { type: "Required", field: "spec.usages" };
 * ```
 */
export interface FieldError {
  type:
    | "Required"
    | "Invalid"
    | "Duplicate"
    | "NotSupported"
    | "Forbidden"
    | "TooLong";
  field: string;
  value?: unknown;
  detail?: string;
  /** For NotSupported: the allowed values. */
  supported?: string[];
  /** For TooLong: the limit. */
  max?: number;
}

/**
 * Carries a Status through code that returns early; handlers turn it into
 * the response.
 *
 * @example
 * ```ts
 * import { notFound, StatusError } from "./status.ts";
 * try { throw new StatusError(notFound({ group: "", resource: "nodes" }, "n1")); }
 * catch (e) { if (e instanceof StatusError) console.log(e.status.code); }
 * ```
 */
export class StatusError extends Error {
  override name = "StatusError";
  constructor(readonly status: Status, readonly headers?: HeadersInit) {
    super(status.message);
  }
}

function grString(gr: GroupResource): string {
  return gr.group === "" ? gr.resource : `${gr.resource}.${gr.group}`;
}

/**
 * A `Status` with `status: "Failure"`, empty `details` fields omitted as Go's
 * `omitempty` does (for fault injection and the helpers below).
 *
 * @example
 * ```ts
 * import { failure, statusResponse } from "./status.ts";
 * const res = statusResponse(failure(500, "InternalError", "etcd"));
 * await res.body?.cancel();
 * ```
 */
export function failure(
  code: number,
  reason: string,
  message: string,
  details?: Status["details"],
): Status {
  const s: Status = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  };
  if (details !== undefined) {
    // Go marshals these with omitempty: an empty string is absent.
    const d: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(details)) {
      if (v !== "" && v !== undefined) d[k] = v;
    }
    s.details = d as Status["details"];
  }
  return s;
}

function goQuote(value: unknown): string {
  if (value instanceof Verbatim) return value.text;
  if (typeof value === "string") return JSON.stringify(value);
  if (value === undefined || value === null) return "null";
  if (typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  return JSON.stringify(value);
}

/**
 * The text after `field: ` of a field error (field.Error.ErrorBody).
 *
 * @example
 * ```ts
 * import { fieldErrorBody } from "./status.ts";
 * fieldErrorBody({ type: "Duplicate", field: "status.conditions[1].type", value: "Approved" }); // 'Duplicate value: "Approved"'
 * ```
 */
export function fieldErrorBody(e: FieldError): string {
  let s: string;
  switch (e.type) {
    case "Required":
      s = "Required value";
      break;
    case "Forbidden":
      s = "Forbidden";
      break;
    case "Invalid":
      s = `Invalid value: ${goQuote(e.value)}`;
      break;
    case "Duplicate":
      s = `Duplicate value: ${goQuote(e.value)}`;
      break;
    case "NotSupported":
      s = `Unsupported value: ${goQuote(e.value)}`;
      if (e.supported && e.supported.length > 0) {
        s += `: supported values: ${
          e.supported.map((v) => JSON.stringify(v)).join(", ")
        }`;
      }
      break;
    case "TooLong":
      s = `Too long: may not be more than ${e.max} bytes`;
      break;
  }
  if (e.detail) s += `: ${e.detail}`;
  return s;
}

/**
 * 422 Invalid: `Kind.group "name" is invalid: <errors>`.
 *
 * @example
 * ```ts
 * import { invalid } from "./status.ts";
 * invalid({ group: "certificates.k8s.io", kind: "CertificateSigningRequest" }, "csr-1",
 *   [{ type: "Required", field: "spec.usages" }]).message;
 * ```
 */
export function invalid(
  gk: { group: string; kind: string },
  name: string,
  errs: FieldError[],
): Status {
  const qualified = gk.group === "" ? gk.kind : `${gk.kind}.${gk.group}`;
  const texts = errs.map((e) => `${e.field}: ${fieldErrorBody(e)}`);
  const agg = texts.length === 1 ? texts[0] : `[${texts.join(", ")}]`;
  return failure(422, "Invalid", `${qualified} "${name}" is invalid: ${agg}`, {
    name,
    group: gk.group,
    kind: gk.kind,
    causes: errs.map((e) => ({
      reason: `FieldValue${e.type}`,
      message: fieldErrorBody(e),
      field: e.field,
    })),
  });
}

/**
 * 404 NotFound for a named object.
 *
 * @example
 * ```ts
 * import { notFound } from "./status.ts";
 * notFound({ group: "certificates.k8s.io", resource: "certificatesigningrequests" }, "csr-1").message;
 * ```
 */
export function notFound(gr: GroupResource, name: string): Status {
  return failure(404, "NotFound", `${grString(gr)} "${name}" not found`, {
    name,
    group: gr.group,
    kind: gr.resource,
  });
}

/**
 * 404 for a path the server does not serve.
 *
 * @example
 * ```ts
 * import { pathNotFound } from "./status.ts";
 * pathNotFound().code; // 404
 * ```
 */
export function pathNotFound(): Status {
  return failure(
    404,
    "NotFound",
    "the server could not find the requested resource",
    {},
  );
}

/**
 * 409 AlreadyExists.
 *
 * @example
 * ```ts
 * import { alreadyExists } from "./status.ts";
 * alreadyExists({ group: "coordination.k8s.io", resource: "leases" }, "l1").reason; // "AlreadyExists"
 * ```
 */
export function alreadyExists(gr: GroupResource, name: string): Status {
  return failure(
    409,
    "AlreadyExists",
    `${grString(gr)} "${name}" already exists`,
    {
      name,
      group: gr.group,
      kind: gr.resource,
    },
  );
}

/**
 * The optimistic-lock message of the generic registry.
 *
 * @example
 * ```ts
 * import { OPTIMISTIC_LOCK_MESSAGE } from "./status.ts";
 * OPTIMISTIC_LOCK_MESSAGE.startsWith("the object has been modified"); // true
 * ```
 */
export const OPTIMISTIC_LOCK_MESSAGE =
  "the object has been modified; please apply your changes to the latest version and try again";

/**
 * 409 Conflict: `Operation cannot be fulfilled on <gr> "<name>": <why>`.
 *
 * @example
 * ```ts
 * import { conflict, OPTIMISTIC_LOCK_MESSAGE } from "./status.ts";
 * conflict({ group: "", resource: "nodes" }, "n1", OPTIMISTIC_LOCK_MESSAGE).code; // 409
 * ```
 */
export function conflict(gr: GroupResource, name: string, why: string): Status {
  return failure(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${grString(gr)} "${name}": ${why}`,
    { name, group: gr.group, kind: gr.resource },
  );
}

/**
 * 400 BadRequest.
 *
 * @example
 * ```ts
 * import { badRequest } from "./status.ts";
 * badRequest("field label not supported: spec.foo").reason; // "BadRequest"
 * ```
 */
export function badRequest(message: string): Status {
  return failure(400, "BadRequest", message);
}

/**
 * 403 Forbidden (`<gr> "<name>" is forbidden: <why>`).
 *
 * @example
 * ```ts
 * import { forbidden } from "./status.ts";
 * forbidden({ group: "", resource: "nodes" }, "", 'User "x" cannot list resource "nodes" in API group "" at the cluster scope').message;
 * ```
 */
export function forbidden(
  gr: GroupResource,
  name: string,
  why: string,
): Status {
  let message: string;
  if (gr.group === "" && gr.resource === "") message = `forbidden: ${why}`;
  else if (name === "") message = `${grString(gr)} is forbidden: ${why}`;
  else message = `${grString(gr)} "${name}" is forbidden: ${why}`;
  return failure(403, "Forbidden", message, {
    name,
    group: gr.group,
    kind: gr.resource,
  });
}

/**
 * 401 Unauthorized, as the authentication filter writes it.
 *
 * @example
 * ```ts
 * import { unauthorized } from "./status.ts";
 * unauthorized().code; // 401
 * ```
 */
export function unauthorized(): Status {
  return failure(401, "Unauthorized", "Unauthorized");
}

/**
 * 405 MethodNotAllowed.
 *
 * @example
 * ```ts
 * import { methodNotAllowed } from "./status.ts";
 * methodNotAllowed().code; // 405
 * ```
 */
export function methodNotAllowed(): Status {
  return failure(
    405,
    "MethodNotAllowed",
    "the server does not allow this method on the requested resource",
    {},
  );
}

/**
 * 410 Expired (NewResourceExpired).
 *
 * @example
 * ```ts
 * import { expired } from "./status.ts";
 * expired("too old resource version: 5 (10)").reason; // "Expired"
 * ```
 */
export function expired(message: string): Status {
  return failure(410, "Expired", message);
}

/**
 * 500 InternalError.
 *
 * @example
 * ```ts
 * import { internalError } from "./status.ts";
 * internalError("boom").message; // "Internal error occurred: boom"
 * ```
 */
export function internalError(message: string): Status {
  return failure(500, "InternalError", `Internal error occurred: ${message}`, {
    causes: [{ reason: "", message }],
  });
}

/**
 * 503 ServiceUnavailable.
 *
 * @example
 * ```ts
 * import { serviceUnavailable } from "./status.ts";
 * serviceUnavailable().code; // 503
 * ```
 */
export function serviceUnavailable(): Status {
  return failure(
    503,
    "ServiceUnavailable",
    "The server is currently unable to handle the request",
  );
}

/**
 * 504 Timeout for a resourceVersion newer than the server's.
 *
 * @example
 * ```ts
 * import { tooLargeResourceVersion } from "./status.ts";
 * tooLargeResourceVersion(9, 5).message; // "Timeout: Too large resource version: 9, current: 5"
 * ```
 */
export function tooLargeResourceVersion(
  requested: number,
  current: number,
): Status {
  return failure(
    504,
    "Timeout",
    `Timeout: Too large resource version: ${requested}, current: ${current}`,
    {
      causes: [{
        reason: "ResourceVersionTooLarge",
        message: "Too large resource version",
      }],
      retryAfterSeconds: 1,
    },
  );
}

/**
 * 415 UnsupportedMediaType.
 *
 * @example
 * ```ts
 * import { unsupportedMediaType } from "./status.ts";
 * unsupportedMediaType("text/plain", ["application/json"]).code; // 415
 * ```
 */
export function unsupportedMediaType(got: string, accepted: string[]): Status {
  return failure(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: ${
      accepted.join(", ")
    }`,
    {
      causes: [{
        reason: "",
        message: `unsupported media type ${JSON.stringify(got)}`,
      }],
    },
  );
}

/**
 * A JSON response carrying a Status, with the status code taken from it.
 *
 * @example
 * ```ts
 * import { pathNotFound, statusResponse } from "./status.ts";
 * const res = statusResponse(pathNotFound());
 * await res.body?.cancel();
 * ```
 */
export function statusResponse(
  status: Status,
  headers?: HeadersInit,
): Response {
  return jsonResponse(status.code, status, headers);
}

/**
 * A JSON response.
 *
 * @example
 * ```ts
 * import { jsonResponse } from "./status.ts";
 * const res = jsonResponse(200, { ok: true });
 * await res.body?.cancel();
 * ```
 */
export function jsonResponse(
  code: number,
  body: unknown,
  headers?: HeadersInit,
): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json");
  h.set("cache-control", "no-cache, private");
  return new Response(JSON.stringify(body), { status: code, headers: h });
}
