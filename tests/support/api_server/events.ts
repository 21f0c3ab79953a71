/**
 * Events, served by both APIs over one storage like the apiserver does:
 * core/v1 (loose "legacy" validation) and events.k8s.io/v1 (strict),
 * validated as in `pkg/apis/core/validation/events.go`.
 *
 * Each event is stored in the shape of the API it was written through and
 * converted when read through the other one.
 *
 * @module
 */
import { OBJECT_META, S, type Schema, topLevel } from "./decode.ts";
import { dns1123Subdomain, qualifiedName } from "./names.ts";
import type { Endpoint } from "./rest.ts";
import type { FieldError } from "./status.ts";
import type { Obj, Table } from "./store.ts";

const OBJECT_REFERENCE = S.object("ObjectReference", {
  kind: S.string,
  namespace: S.string,
  name: S.string,
  uid: S.string,
  apiVersion: S.string,
  resourceVersion: S.string,
  fieldPath: S.string,
});
const SOURCE = S.object("EventSource", { component: S.string, host: S.string });
const SERIES = S.object("EventSeries", {
  count: S.int32,
  lastObservedTime: S.microtime,
});

const CORE_SCHEMA: Schema = topLevel("Event", {
  involvedObject: OBJECT_REFERENCE,
  reason: S.string,
  message: S.string,
  source: SOURCE,
  firstTimestamp: S.time,
  lastTimestamp: S.time,
  count: S.int32,
  type: S.string,
  eventTime: S.microtime,
  series: SERIES,
  action: S.string,
  related: OBJECT_REFERENCE,
  reportingComponent: S.string,
  reportingInstance: S.string,
});

const EVENTS_V1_SCHEMA: Schema = S.object("Event", {
  apiVersion: S.string,
  kind: S.string,
  metadata: OBJECT_META,
  eventTime: S.microtime,
  series: SERIES,
  reportingController: S.string,
  reportingInstance: S.string,
  action: S.string,
  reason: S.string,
  regarding: OBJECT_REFERENCE,
  related: OBJECT_REFERENCE,
  note: S.string,
  type: S.string,
  deprecatedSource: SOURCE,
  deprecatedFirstTimestamp: S.time,
  deprecatedLastTimestamp: S.time,
  deprecatedCount: S.int32,
});

/** events.k8s.io/v1 field → core/v1 field. */
const V1_TO_CORE: Record<string, string> = {
  regarding: "involvedObject",
  note: "message",
  reportingController: "reportingComponent",
  deprecatedSource: "source",
  deprecatedFirstTimestamp: "firstTimestamp",
  deprecatedLastTimestamp: "lastTimestamp",
  deprecatedCount: "count",
};
const CORE_TO_V1 = Object.fromEntries(
  Object.entries(V1_TO_CORE).map(([a, b]) => [b, a]),
);

function rename(o: Obj, map: Record<string, string>, apiVersion: string): Obj {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[map[k] ?? k] = v;
  out.apiVersion = apiVersion;
  out.kind = "Event";
  return out as Obj;
}

/**
 * Any stored event in the core/v1 shape.
 *
 * @example
 * ```ts
 * import { toCoreEvent } from "./events.ts";
 * toCoreEvent({ apiVersion: "events.k8s.io/v1", metadata: { name: "e" }, note: "hi" }).message; // "hi"
 * ```
 */
export function toCoreEvent(o: Obj): Obj {
  return o.apiVersion === "events.k8s.io/v1" ? rename(o, V1_TO_CORE, "v1") : o;
}

/**
 * Any stored event in the events.k8s.io/v1 shape.
 *
 * @example
 * ```ts
 * import { toEventsV1Event } from "./events.ts";
 * toEventsV1Event({ apiVersion: "v1", metadata: { name: "e" }, message: "hi" }).note; // "hi"
 * ```
 */
export function toEventsV1Event(o: Obj): Obj {
  return o.apiVersion === "events.k8s.io/v1"
    ? o
    : rename(o, CORE_TO_V1, "events.k8s.io/v1");
}

interface CoreEvent {
  metadata: Obj["metadata"];
  involvedObject?: { namespace?: string };
  reason?: string;
  message?: string;
  source?: { component?: string; host?: string };
  firstTimestamp?: string | null;
  lastTimestamp?: string | null;
  count?: number | null;
  type?: string;
  eventTime?: string | null;
  series?: { count?: number; lastObservedTime?: string | null } | null;
  action?: string;
  reportingComponent?: string;
  reportingInstance?: string;
}

function legacyErrors(e: CoreEvent): FieldError[] {
  const errs: FieldError[] = [];
  const ns = e.metadata.namespace ?? "";
  const involvedNs = e.involvedObject?.namespace ?? "";
  const mismatch: FieldError = {
    type: "Invalid",
    field: "involvedObject.namespace",
    value: involvedNs,
    detail: "does not match event.namespace",
  };
  if (!e.eventTime) {
    if (involvedNs === "") {
      if (ns !== "" && ns !== "default") errs.push(mismatch);
    } else if (ns !== involvedNs) errs.push(mismatch);
  } else {
    if (involvedNs === "" && ns !== "default" && ns !== "kube-system") {
      errs.push(mismatch);
    }
    const rc = e.reportingComponent ?? "";
    if (rc === "") {
      errs.push({ type: "Required", field: "reportingController" });
    }
    for (const msg of qualifiedName(rc)) {
      errs.push({
        type: "Invalid",
        field: "reportingController",
        value: rc,
        detail: msg,
      });
    }
    const ri = e.reportingInstance ?? "";
    if (ri === "") errs.push({ type: "Required", field: "reportingInstance" });
    if (ri.length > 128) {
      errs.push({
        type: "Invalid",
        field: "reportingInstance",
        value: "",
        detail: "can have at most 128 characters",
      });
    }
    const action = e.action ?? "";
    if (action === "") errs.push({ type: "Required", field: "action" });
    if (action.length > 128) {
      errs.push({
        type: "Invalid",
        field: "action",
        value: "",
        detail: "can have at most 128 characters",
      });
    }
    const reason = e.reason ?? "";
    if (reason === "") errs.push({ type: "Required", field: "reason" });
    if (reason.length > 128) {
      errs.push({
        type: "Invalid",
        field: "reason",
        value: "",
        detail: "can have at most 128 characters",
      });
    }
    if ((e.message ?? "").length > 1024) {
      errs.push({
        type: "Invalid",
        field: "message",
        value: "",
        detail: "can have at most 1024 characters",
      });
    }
  }
  for (const msg of dns1123Subdomain(ns)) {
    errs.push({ type: "Invalid", field: "namespace", value: ns, detail: msg });
  }
  return errs;
}

function seriesErrors(e: CoreEvent): FieldError[] {
  const errs: FieldError[] = [];
  if (e.series) {
    if ((e.series.count ?? 0) < 2) {
      errs.push({
        type: "Invalid",
        field: "series.count",
        value: "",
        detail: "should be at least 2",
      });
    }
    if (!e.series.lastObservedTime) {
      errs.push({ type: "Required", field: "series.lastObservedTime" });
    }
  }
  return errs;
}

function strictCreateErrors(e: CoreEvent): FieldError[] {
  const errs = [...legacyErrors(e), ...seriesErrors(e)];
  if (!e.eventTime) errs.push({ type: "Required", field: "eventTime" });
  if (e.type !== "Normal" && e.type !== "Warning") {
    errs.push({
      type: "Invalid",
      field: "type",
      value: "",
      detail: `has invalid value: ${e.type ?? ""}`,
    });
  }
  if (e.firstTimestamp) {
    errs.push({
      type: "Invalid",
      field: "firstTimestamp",
      value: "",
      detail: "needs to be unset",
    });
  }
  if (e.lastTimestamp) {
    errs.push({
      type: "Invalid",
      field: "lastTimestamp",
      value: "",
      detail: "needs to be unset",
    });
  }
  if (e.count) {
    errs.push({
      type: "Invalid",
      field: "count",
      value: "",
      detail: "needs to be unset",
    });
  }
  if (e.source?.component || e.source?.host) {
    errs.push({
      type: "Invalid",
      field: "source",
      value: "",
      detail: "needs to be unset",
    });
  }
  return errs;
}

const IMMUTABLE = [
  "involvedObject",
  "reason",
  "message",
  "source",
  "firstTimestamp",
  "lastTimestamp",
  "count",
  "type",
  "eventTime",
  "action",
  "related",
  "reportingComponent",
  "reportingInstance",
];

function strictUpdateErrors(e: CoreEvent, old: CoreEvent): FieldError[] {
  const errs = legacyErrors(e);
  if (JSON.stringify(e.series ?? null) !== JSON.stringify(old.series ?? null)) {
    errs.push(...seriesErrors(e));
  }
  const n = e as unknown as Record<string, unknown>;
  const o = old as unknown as Record<string, unknown>;
  for (const f of IMMUTABLE) {
    if (JSON.stringify(n[f] ?? null) !== JSON.stringify(o[f] ?? null)) {
      errs.push({
        type: "Invalid",
        field: f === "reportingComponent" ? "reportingController" : f,
        value: n[f] ?? "",
        detail: "field is immutable",
      });
    }
  }
  return errs;
}

const CORE_FIELDS = [
  "metadata.name",
  "metadata.namespace",
  "involvedObject.kind",
  "involvedObject.namespace",
  "involvedObject.name",
  "involvedObject.uid",
  "involvedObject.apiVersion",
  "involvedObject.resourceVersion",
  "involvedObject.fieldPath",
  "reason",
  "reportingComponent",
  "source",
  "type",
];

function eventFields(o: Obj): Record<string, string> {
  const e = toCoreEvent(o) as unknown as CoreEvent & Record<string, unknown>;
  const inv = (e.involvedObject ?? {}) as Record<string, string>;
  const f: Record<string, string> = {
    "metadata.name": e.metadata.name,
    "metadata.namespace": e.metadata.namespace ?? "",
    "reason": e.reason ?? "",
    "reportingComponent": e.reportingComponent ?? "",
    "source": e.source?.component ?? "",
    "type": e.type ?? "",
  };
  for (
    const k of [
      "kind",
      "namespace",
      "name",
      "uid",
      "apiVersion",
      "resourceVersion",
      "fieldPath",
    ]
  ) {
    f[`involvedObject.${k}`] = inv[k] ?? "";
    f[`regarding.${k}`] = inv[k] ?? "";
  }
  f["reportingController"] = f.reportingComponent;
  return f;
}

/**
 * The two event endpoints over one table.
 *
 * @example
 * ```ts
 * import { eventEndpoints } from "./events.ts";
 * import { createTable } from "./store.ts";
 * const [core, v1] = eventEndpoints(createTable({ rv: 0 }, 100));
 * [core.group, v1.group]; // ["", "events.k8s.io"]
 * ```
 */
export function eventEndpoints(table: Table): [Endpoint, Endpoint] {
  const common = {
    resource: "events",
    kind: "Event",
    namespaced: true,
    table,
    fields: eventFields,
    verbs: new Set([
      "get",
      "list",
      "watch",
      "create",
      "update",
      "patch",
      "delete",
    ]),
  };
  const core: Endpoint = {
    ...common,
    group: "",
    version: "v1",
    schema: CORE_SCHEMA,
    wire: toCoreEvent,
    wireId: "core-event",
    fieldLabelError: (l) =>
      CORE_FIELDS.includes(l) ? undefined : `field label not supported: ${l}`,
    create: {
      validate: (obj) => legacyErrors(obj as unknown as CoreEvent),
    },
    update: {
      allowCreateOnUpdate: true,
      allowUnconditionalUpdate: true,
      prepare: (body) => body,
      validate: (obj) => legacyErrors(obj as unknown as CoreEvent),
    },
  };
  const eventsV1: Endpoint = {
    ...common,
    group: "events.k8s.io",
    version: "v1",
    schema: EVENTS_V1_SCHEMA,
    wire: toEventsV1Event,
    wireId: "events-v1-event",
    fieldLabelError: (l) =>
      CORE_FIELDS.includes(l) || l.startsWith("regarding.") ||
        l === "reportingController"
        ? undefined
        : `field label not supported: ${l}`,
    create: {
      validateName: dns1123Subdomain,
      validate: (obj) =>
        strictCreateErrors(toCoreEvent(obj) as unknown as CoreEvent),
    },
    update: {
      allowCreateOnUpdate: true,
      allowUnconditionalUpdate: true,
      prepare: (body) => body,
      validate: (obj, old) =>
        strictUpdateErrors(
          toCoreEvent(obj) as unknown as CoreEvent,
          toCoreEvent(old) as unknown as CoreEvent,
        ),
    },
  };
  return [core, eventsV1];
}
