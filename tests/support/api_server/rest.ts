/**
 * The generic registry (k8s.io/apiserver `registry/generic/registry.Store`
 * plus the `endpoints/handlers`) for single objects: get, create, update,
 * patch and delete for any endpoint, parameterized by per-type strategies.
 * Collection GETs (list and watch) live in `collection.ts`.
 *
 * @module
 */
import {
  decodeAs,
  type Decoded,
  jsonPatch,
  mergePatch,
  readJsonBody,
  readPatchBody,
  type Schema,
} from "./decode.ts";
import { generateName, pathSegmentName } from "./names.ts";
import {
  alreadyExists,
  badRequest,
  conflict,
  type FieldError,
  internalError,
  invalid,
  jsonResponse,
  notFound,
  OPTIMISTIC_LOCK_MESSAGE,
  type Status,
  StatusError,
  Verbatim,
} from "./status.ts";
import type { Obj, Table } from "./store.ts";
import { rfc3339 } from "./time.ts";
import type { RequestAttributes, UserInfo } from "./types.ts";
import type { WatchOptions, WatchStream } from "./watch.ts";

/**
 * Per-request context handed to strategies.
 *
 * @example
 * ```ts
 * import type { Ctx } from "./rest.ts";
 * const isAdmin = (ctx: Ctx) => ctx.user.groups?.includes("system:masters") ?? false;
 * ```
 */
export interface Ctx {
  user: UserInfo;
  attrs: RequestAttributes;
  /** Asks the configured authorizer, as admission plugins do. */
  authorize(attrs: Partial<RequestAttributes>): boolean;
  /** `Warning` header texts to send with the answer. */
  warnings: string[];
}

/**
 * How a type is created.
 *
 * @example
 * ```ts
 * import type { CreateStrategy } from "./rest.ts";
 * const anything: CreateStrategy = { validate: () => [] };
 * ```
 */
export interface CreateStrategy {
  /** Fields the server sets or clears (e.g. CSR requester identity). */
  prepare?(obj: Obj, ctx: Ctx): Obj;
  /** Name validation (besides the path-segment rules every name obeys). */
  validateName?(name: string): string[];
  validate(obj: Obj, ctx: Ctx): FieldError[] | Promise<FieldError[]>;
  /** Validating admission: a Status rejects the request. */
  admit?(obj: Obj, ctx: Ctx): Status | undefined;
}

/**
 * How a type (or subresource) is updated.
 *
 * @example
 * ```ts
 * import type { UpdateStrategy } from "./rest.ts";
 * const replace: UpdateStrategy = {
 *   allowCreateOnUpdate: false,
 *   allowUnconditionalUpdate: true,
 *   prepare: (body) => body,
 *   validate: () => [],
 * };
 * ```
 */
export interface UpdateStrategy {
  allowCreateOnUpdate: boolean;
  allowUnconditionalUpdate: boolean;
  /** Builds the object to store from the request body and the stored object. */
  prepare(body: Obj, old: Obj, ctx: Ctx): Obj;
  validate(obj: Obj, old: Obj, ctx: Ctx): FieldError[] | Promise<FieldError[]>;
  admit?(obj: Obj, old: Obj, ctx: Ctx): Status | undefined;
  /** Runs once the stored object is known, before any check (fault injection). */
  intercept?(old: Obj, ctx: Ctx): Status | undefined;
}

/**
 * One served resource of one API group/version.
 *
 * @example
 * ```ts
 * import type { Endpoint } from "./rest.ts";
 * const path = (ep: Endpoint) => `/apis/${ep.group}/${ep.version}/${ep.resource}`;
 * ```
 */
export interface Endpoint {
  group: string;
  version: string;
  resource: string;
  kind: string;
  namespaced: boolean;
  table: Table;
  /** Go types of the body, for decoding. */
  schema: Schema;
  /** Converts a stored object to this endpoint's wire form. */
  wire(obj: Obj): Obj;
  /** Identifies `wire` for the shared serialization cache. */
  wireId: string;
  /** Selectable fields of an object. */
  fields(obj: Obj): Record<string, string>;
  /** The error text of an unsupported field selector label, or undefined. */
  fieldLabelError(label: string): string | undefined;
  /** Verbs served on the main resource. */
  verbs: ReadonlySet<string>;
  create?: CreateStrategy;
  update?: UpdateStrategy;
  /** Subresources (e.g. CSR approval/status): GET and/or PUT/PATCH. */
  subresources?: Record<string, { get?: boolean; update?: UpdateStrategy }>;
}

/**
 * Opens watch streams with the server's settings.
 *
 * @example
 * ```ts
 * import type { OpenWatch } from "./rest.ts";
 * const count = (open: OpenWatch) => typeof open;
 * ```
 */
export type OpenWatch = (
  o:
    & Omit<
      WatchOptions,
      "faults" | "queueLimit" | "onClose" | "bookmarkIntervalMs"
    >
    & {
      bookmarks: boolean;
    },
) => WatchStream;

/**
 * `apiVersion` for an endpoint ("v1" or "group/v1").
 *
 * @example
 * ```ts
 * import { apiVersionOf } from "./rest.ts";
 * apiVersionOf({ group: "coordination.k8s.io", version: "v1" }); // "coordination.k8s.io/v1"
 * ```
 */
export function apiVersionOf(ep: { group: string; version: string }): string {
  return ep.group === "" ? ep.version : `${ep.group}/${ep.version}`;
}

/**
 * The storage key of an object.
 *
 * @example
 * ```ts
 * import { keyOf } from "./rest.ts";
 * keyOf(true, "default", "lease-1"); // "default/lease-1"
 * ```
 */
export function keyOf(
  namespaced: boolean,
  namespace: string,
  name: string,
): string {
  return namespaced ? `${namespace}/${name}` : name;
}

/**
 * The storage key of a stored object.
 *
 * @example
 * ```ts
 * import { keyOfObj } from "./rest.ts";
 * import { leaseEndpoint } from "./leases.ts";
 * import { createTable } from "./store.ts";
 * const leases = leaseEndpoint(createTable({ rv: 0 }, 100));
 * keyOfObj(leases, { metadata: { name: "l", namespace: "ns" } }); // "ns/l"
 * ```
 */
export function keyOfObj(ep: Endpoint, obj: Obj): string {
  return keyOf(ep.namespaced, obj.metadata.namespace ?? "", obj.metadata.name);
}

/**
 * Parses a resourceVersion parameter (a decimal revision); 400 otherwise.
 *
 * @example
 * ```ts
 * import { parseRv } from "./rest.ts";
 * parseRv("42", "resourceVersion"); // 42
 * ```
 */
export function parseRv(value: string, what: string): number {
  if (!/^\d+$/.test(value)) {
    throw new StatusError(
      badRequest(
        `invalid resource version: ${JSON.stringify(value)} (${what})`,
      ),
    );
  }
  return Number(value);
}

function gr(ep: Endpoint) {
  return { group: ep.group, resource: ep.resource };
}

function gk(ep: Endpoint) {
  return { group: ep.group, kind: ep.kind };
}

function withWarnings(res: Response, ctx: Ctx): Response {
  for (const w of ctx.warnings) {
    res.headers.append("warning", `299 - ${JSON.stringify(w)}`);
  }
  return res;
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val) => {
    if (val && typeof val === "object" && !Array.isArray(val)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(val).sort()) sorted[k] = val[k];
      return sorted;
    }
    return val;
  });
}

function sameIgnoringRv(a: Obj, b: Obj): boolean {
  const strip = (o: Obj) => ({
    ...o,
    metadata: { ...o.metadata, resourceVersion: undefined },
  });
  return canonical(strip(a)) === canonical(strip(b));
}

/**
 * GET on one object (or a readable subresource of it).
 *
 * @example
 * ```ts
 * import { handleGet } from "./rest.ts";
 * import { nodeEndpoint } from "./nodes.ts";
 * import { createTable } from "./store.ts";
 * const nodes = nodeEndpoint(createTable({ rv: 0 }, 100));
 * nodes.table.put("worker-1", { metadata: { name: "worker-1" } });
 * const res = handleGet(nodes, "", "worker-1");
 * (await res.json()).metadata.resourceVersion; // "1"
 * ```
 */
export function handleGet(
  ep: Endpoint,
  namespace: string,
  name: string,
): Response {
  const obj = ep.table.get(keyOf(ep.namespaced, namespace, name));
  if (!obj) throw new StatusError(notFound(gr(ep), name));
  return jsonResponse(200, ep.wire(obj));
}

async function decodeBody(ep: Endpoint, req: Request, ctx: Ctx): Promise<Obj> {
  const raw = await readJsonBody(req, ep.kind);
  return checkBody(ep, raw, ctx);
}

function checkBody(ep: Endpoint, raw: unknown, ctx: Ctx): Obj {
  const decoded: Decoded<Obj> = decodeAs<Obj>(
    raw,
    ep.schema,
    ep.kind,
    ep.version,
  );
  ctx.warnings.push(...decoded.warnings);
  const obj = decoded.obj;
  const expected = apiVersionOf(ep);
  if (
    obj.apiVersion !== undefined && obj.apiVersion !== "" &&
    obj.apiVersion !== expected
  ) {
    throw new StatusError(
      badRequest(
        `the API version in the data (${obj.apiVersion}) does not match the expected API version (${expected})`,
      ),
    );
  }
  if (obj.kind !== undefined && obj.kind !== "" && obj.kind !== ep.kind) {
    throw new StatusError(
      badRequest(
        `${obj.kind} in version "${ep.version}" cannot be handled as a ${ep.kind}: no kind "${obj.kind}" is registered for version "${expected}"`,
      ),
    );
  }
  obj.apiVersion = expected;
  obj.kind = ep.kind;
  obj.metadata ??= { name: "" };
  obj.metadata.name ??= "";
  return obj;
}

function checkNamespace(ep: Endpoint, obj: Obj, namespace: string): void {
  if (!ep.namespaced) {
    delete obj.metadata.namespace;
    return;
  }
  const ns = obj.metadata.namespace ?? "";
  if (ns === "") obj.metadata.namespace = namespace;
  else if (ns !== namespace) {
    throw new StatusError(
      badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      ),
    );
  }
}

function metaNameErrors(
  ep: Endpoint,
  obj: Obj,
  strategy: CreateStrategy | undefined,
): FieldError[] {
  const errs: FieldError[] = [];
  const name = obj.metadata.name;
  if (name === "") {
    errs.push({
      type: "Required",
      field: "metadata.name",
      detail: "name or generateName is required",
    });
    return errs;
  }
  for (
    const msg of [
      ...(strategy?.validateName?.(name) ?? []),
      ...pathSegmentName(name),
    ]
  ) {
    errs.push({
      type: "Invalid",
      field: "metadata.name",
      value: name,
      detail: msg,
    });
  }
  if (ep.namespaced && (obj.metadata.namespace ?? "") === "") {
    errs.push({ type: "Required", field: "metadata.namespace" });
  }
  return errs;
}

async function createFromBody(
  ep: Endpoint,
  obj: Obj,
  namespace: string,
  ctx: Ctx,
): Promise<Obj> {
  const strategy = ep.create!;
  checkNamespace(ep, obj, namespace);
  if (obj.metadata.resourceVersion) {
    throw new StatusError(
      internalError(
        "resourceVersion should not be set on objects to be created",
      ),
    );
  }
  if (obj.metadata.name === "" && obj.metadata.generateName) {
    obj.metadata.name = generateName(obj.metadata.generateName);
  }
  // System fields are the server's, whatever the client sent.
  obj.metadata.uid = crypto.randomUUID();
  obj.metadata.creationTimestamp = rfc3339();
  delete obj.metadata.deletionTimestamp;
  delete obj.metadata.deletionGracePeriodSeconds;
  delete obj.metadata.selfLink;
  const prepared = strategy.prepare ? strategy.prepare(obj, ctx) : obj;
  const errs = [
    ...metaNameErrors(ep, prepared, strategy),
    ...await strategy.validate(prepared, ctx),
  ];
  if (errs.length > 0) {
    throw new StatusError(invalid(gk(ep), prepared.metadata.name, errs));
  }
  const denied = strategy.admit?.(prepared, ctx);
  if (denied) throw new StatusError(denied);
  const key = keyOfObj(ep, prepared);
  if (ep.table.get(key)) {
    throw new StatusError(alreadyExists(gr(ep), prepared.metadata.name));
  }
  return ep.table.put(key, prepared);
}

/**
 * POST on a collection: create.
 *
 * @example
 * Not run: needs a request context from the server's router (tests/unit/support/api_server_test.ts drives it).
 * ```ts ignore
 * await handleCreate(endpoint, req, "default", ctx);
 * ```
 */
export async function handleCreate(
  ep: Endpoint,
  req: Request,
  namespace: string,
  ctx: Ctx,
): Promise<Response> {
  const obj = await decodeBody(ep, req, ctx);
  const stored = await createFromBody(ep, obj, namespace, ctx);
  return withWarnings(jsonResponse(201, ep.wire(stored)), ctx);
}

async function updateFromBody(
  ep: Endpoint,
  strategy: UpdateStrategy,
  body: Obj,
  namespace: string,
  name: string,
  ctx: Ctx,
): Promise<Response> {
  if (body.metadata.name !== name) {
    throw new StatusError(
      badRequest(
        `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`,
      ),
    );
  }
  checkNamespace(ep, body, namespace);
  const key = keyOf(ep.namespaced, namespace, name);
  const first = ep.table.get(key);
  if (first) {
    const injected = strategy.intercept?.(first, ctx);
    if (injected) throw new StatusError(injected);
  }
  // GuaranteedUpdate: validation is asynchronous (signature checks), so the
  // stored object may change meanwhile; then everything is checked again
  // against the new state, and a stale resourceVersion becomes a 409.
  for (;;) {
    const old = ep.table.get(key);
    if (!old) {
      if (!strategy.allowCreateOnUpdate || !ep.create) {
        throw new StatusError(notFound(gr(ep), name));
      }
      delete body.metadata.resourceVersion;
      const created = await createFromBody(ep, body, namespace, ctx);
      return withWarnings(jsonResponse(201, ep.wire(created)), ctx);
    }
    const rv = body.metadata.resourceVersion ?? "";
    if (rv === "") {
      if (!strategy.allowUnconditionalUpdate) {
        throw new StatusError(
          invalid({ group: ep.group, kind: ep.resource }, name, [{
            type: "Invalid",
            field: "metadata.resourceVersion",
            value: new Verbatim("0x0"),
            detail: "must be specified for an update",
          }]),
        );
      }
    } else {
      parseRv(rv, "metadata.resourceVersion");
      if (rv !== old.metadata.resourceVersion) {
        throw new StatusError(conflict(gr(ep), name, OPTIMISTIC_LOCK_MESSAGE));
      }
    }
    const errs: FieldError[] = [];
    if (body.metadata.uid && body.metadata.uid !== old.metadata.uid) {
      errs.push({
        type: "Invalid",
        field: "metadata.uid",
        value: body.metadata.uid,
        detail: "field is immutable",
      });
    }
    const next = strategy.prepare(
      {
        ...body,
        metadata: {
          ...body.metadata,
          uid: old.metadata.uid,
          creationTimestamp: old.metadata.creationTimestamp,
          resourceVersion: old.metadata.resourceVersion,
        },
      },
      old,
      ctx,
    );
    if (old.metadata.generation !== undefined) {
      next.metadata.generation = old.metadata.generation;
    }
    errs.push(...await strategy.validate(next, old, ctx));
    if (ep.table.get(key) !== old) continue;
    if (errs.length > 0) throw new StatusError(invalid(gk(ep), name, errs));
    const denied = strategy.admit?.(next, old, ctx);
    if (denied) throw new StatusError(denied);
    // etcd skips a write whose bytes do not change: no new RV, no event.
    if (sameIgnoringRv(next, old)) {
      return withWarnings(jsonResponse(200, ep.wire(old)), ctx);
    }
    const stored = ep.table.put(key, next);
    return withWarnings(jsonResponse(200, ep.wire(stored)), ctx);
  }
}

/**
 * PUT on an object or subresource.
 *
 * @example
 * Not run: needs a request context from the server's router (tests/unit/support/api_server_test.ts drives it).
 * ```ts ignore
 * await handleUpdate(endpoint, endpoint.update!, req, "", "csr-1", ctx);
 * ```
 */
export async function handleUpdate(
  ep: Endpoint,
  strategy: UpdateStrategy,
  req: Request,
  namespace: string,
  name: string,
  ctx: Ctx,
): Promise<Response> {
  const body = await decodeBody(ep, req, ctx);
  return updateFromBody(ep, strategy, body, namespace, name, ctx);
}

/**
 * PATCH on an object or subresource: the patch is applied to the stored
 * object, then handled as an update of the result.
 *
 * @example
 * Not run: needs a request context from the server's router (tests/unit/support/api_server_test.ts drives it).
 * ```ts ignore
 * await handlePatch(endpoint, endpoint.update!, req, "default", "event-1", ctx);
 * ```
 */
export async function handlePatch(
  ep: Endpoint,
  strategy: UpdateStrategy,
  req: Request,
  namespace: string,
  name: string,
  ctx: Ctx,
): Promise<Response> {
  const { type, patch } = await readPatchBody(req, ep.kind);
  const old = ep.table.get(keyOf(ep.namespaced, namespace, name));
  if (!old) throw new StatusError(notFound(gr(ep), name));
  const current = ep.wire(old);
  const patched = type === "json"
    ? jsonPatch(current, patch)
    : mergePatch(current, patch);
  const body = checkBody(ep, patched, ctx);
  return updateFromBody(ep, strategy, body, namespace, name, ctx);
}

/**
 * DELETE on an object, honouring DeleteOptions preconditions.
 *
 * @example
 * Not run: needs a request context from the server's router (tests/unit/support/api_server_test.ts drives it).
 * ```ts ignore
 * await handleDelete(endpoint, req, "", "csr-1");
 * ```
 */
export async function handleDelete(
  ep: Endpoint,
  req: Request,
  namespace: string,
  name: string,
): Promise<Response> {
  const text = await req.text();
  let pre: { uid?: string; resourceVersion?: string } = {};
  if (text.trim() !== "") {
    try {
      pre =
        (JSON.parse(text) as { preconditions?: typeof pre }).preconditions ??
          {};
    } catch (e) {
      throw new StatusError(
        badRequest(
          `the object provided is unrecognized (must be of type DeleteOptions): ${
            (e as Error).message
          }`,
        ),
      );
    }
  }
  const key = keyOf(ep.namespaced, namespace, name);
  const old = ep.table.get(key);
  if (!old) throw new StatusError(notFound(gr(ep), name));
  if (pre.uid && pre.uid !== old.metadata.uid) {
    throw new StatusError(
      conflict(
        gr(ep),
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`,
      ),
    );
  }
  if (
    pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion
  ) {
    throw new StatusError(
      conflict(
        gr(ep),
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
      ),
    );
  }
  ep.table.remove(key);
  return jsonResponse(200, {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Success",
    details: {
      name,
      group: ep.group || undefined,
      kind: ep.resource,
      uid: old.metadata.uid,
    },
  });
}
