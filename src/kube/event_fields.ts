/**
 * What an Event is made of, and the API server's rules for its fields: the
 * input type, the byte limits (reason, action, note, instance), qualified
 * names for `reportingController`, and client-go's event names
 * (`<object name>.<hex(UnixNano)>`).
 *
 * Apart from the recorder because these are pure rules a reader checks
 * against the API server's validation, without queues or retries in the way.
 *
 * @module
 */

/** The two event types the API accepts. */
export type EventType = "Normal" | "Warning";

/** The object an event is about (an `ObjectReference`). */
export interface EventRegarding {
  apiVersion: string;
  kind: string;
  name: string;
  uid?: string;
  resourceVersion?: string;
  /** Empty or absent for a cluster-scoped object such as a CSR. */
  namespace?: string;
}

/** One event to record. */
export interface EventInput {
  regarding: EventRegarding;
  type: EventType;
  /** Machine-readable, CamelCase (e.g. `Approved`, `SANNotOwnedByNode`); at most 128 bytes are kept. */
  reason: string;
  /** What was done (e.g. `Approve`, `Deny`, `Wait`); at most 128 bytes are kept. */
  action: string;
  /**
   * Human-readable, for operators. Events are readable by anyone who can list
   * events in `default`: pass only what the decision says (the reason message
   * naming the offending value), never internal error detail such as API
   * error bodies or stack traces. Over 1024 UTF-8 bytes it is cut on a code
   * point boundary and ends with "…".
   */
  note: string;
}

/** An {@linkcode EventInput} checked and cut to the API's limits, with the namespace it goes to. */
export interface NormalizedEvent {
  namespace: string;
  regarding: EventRegarding;
  type: EventType;
  reason: string;
  action: string;
  note: string;
}

const REASON_LIMIT = 128;
const ACTION_LIMIT = 128;
const NOTE_LIMIT = 1024;
/** The API server's limit on `reportingInstance`, in bytes. */
export const INSTANCE_LIMIT = 128;
const NAME_LIMIT = 253;

const LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const SUBDOMAIN_RE = new RegExp(`^${LABEL}(\\.${LABEL})*$`);
const QUALIFIED_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/**
 * Why `value` is not a Kubernetes qualified name (`IsQualifiedName`), or
 * `undefined` when it is one.
 *
 * @example
 * ```ts
 * import { qualifiedNameError } from "./event_fields.ts";
 * qualifiedNameError("example.com/approver"); // undefined
 * qualifiedNameError("a/b/c"); // "expected at most one \"/\"…"
 * ```
 */
export function qualifiedNameError(value: string): string | undefined {
  const parts = value.split("/");
  if (parts.length > 2) {
    return `expected at most one "/" (prefix/name), found ${
      parts.length - 1
    } in "${value}"`;
  }
  const name = parts[parts.length - 1];
  if (parts.length === 2) {
    const prefix = parts[0];
    if (
      prefix === "" || prefix.length > NAME_LIMIT || !SUBDOMAIN_RE.test(prefix)
    ) {
      return `expected the prefix "${prefix}" to be a lowercase DNS subdomain (e.g. example.com)`;
    }
  }
  if (name === "" || name.length > 63 || !QUALIFIED_RE.test(name)) {
    return `expected the name part "${name}" to be 1-63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character`;
  }
  return undefined;
}

/** UTF-8 length of one code point; a lone surrogate is sent as U+FFFD (3 bytes). */
function utf8Length(codePoint: number): number {
  if (codePoint < 0x80) return 1;
  if (codePoint < 0x800) return 2;
  if (codePoint < 0x10000) return 3;
  return 4;
}

/**
 * Cuts `text` to at most `maxBytes` UTF-8 bytes on a code point boundary,
 * ending with `marker` when cut. The API server measures these limits in
 * bytes (Go's `len`), so counting UTF-16 units would let non-ASCII notes
 * through that the server rejects.
 *
 * @example
 * ```ts
 * import { truncateUtf8 } from "./event_fields.ts";
 * truncateUtf8("abcdef", 5); // "ab…" ("…" is 3 bytes)
 * truncateUtf8("abc", 5); // "abc"
 * ```
 */
export function truncateUtf8(
  text: string,
  maxBytes: number,
  marker = "…",
): string {
  let total = 0;
  for (const ch of text) total += utf8Length(ch.codePointAt(0)!);
  if (total <= maxBytes) return text;
  let markerBytes = 0;
  for (const ch of marker) markerBytes += utf8Length(ch.codePointAt(0)!);
  if (markerBytes > maxBytes) return truncateUtf8(text, maxBytes, "");
  const budget = maxBytes - markerBytes;
  let used = 0;
  let end = 0;
  for (const ch of text) {
    const n = utf8Length(ch.codePointAt(0)!);
    if (used + n > budget) break;
    used += n;
    end += ch.length;
  }
  return text.slice(0, end) + marker;
}

/**
 * The event name client-go uses, `<objName>.<hex(nanos)>`, made a valid DNS
 * subdomain of at most 253 characters even for an odd object name
 * (lower-cased, invalid characters replaced by "-", cut to fit).
 *
 * @example
 * ```ts
 * import { eventName } from "./event_fields.ts";
 * eventName("csr-abcde", 255n); // "csr-abcde.ff"
 * ```
 */
export function eventName(objectName: string, nanos: bigint): string {
  const suffix = `.${nanos.toString(16)}`;
  const labels = (s: string) =>
    s.split(".").map((l) => l.replace(/^-+|-+$/g, "")).filter((l) => l !== "")
      .join(".");
  let prefix = labels(objectName.toLowerCase().replace(/[^a-z0-9.-]/g, "-"));
  prefix = labels(prefix.slice(0, NAME_LIMIT - suffix.length));
  return `${prefix || "event"}${suffix}`;
}

/**
 * Names events from a clock: {@linkcode eventName} with a nanosecond stamp
 * that strictly increases, so several events in one millisecond still get
 * distinct names.
 *
 * @example
 * ```ts
 * import { createEventNamer } from "./event_fields.ts";
 * const name = createEventNamer(() => new Date(1));
 * name("csr-a"); // "csr-a.f4240"
 * name("csr-a"); // "csr-a.f4241"
 * ```
 */
export function createEventNamer(
  now: () => Date,
): (objectName: string) => string {
  let lastNanos = 0n;
  return (objectName) => {
    let n = BigInt(now().getTime()) * 1_000_000n;
    if (n <= lastNanos) n = lastNanos + 1n;
    lastNanos = n;
    return eventName(objectName, n);
  };
}

const str = (v: unknown): string | undefined =>
  typeof v === "string" && v !== "" ? v : undefined;

/**
 * Checks `input` (which may come from anywhere, so is not trusted to match
 * its type) and cuts its texts to the API's byte limits. Returns why it
 * cannot be an event, as a string, when it cannot.
 *
 * @example
 * ```ts
 * import { normalizeEvent } from "./event_fields.ts";
 * const e = normalizeEvent({
 *   regarding: { apiVersion: "v1", kind: "Node", name: "worker-1" },
 *   type: "Normal", reason: "Seen", action: "Look", note: "hello",
 * }, "default");
 * // e.namespace === "default"
 * ```
 */
export function normalizeEvent(
  input: EventInput,
  defaultNamespace: string,
): NormalizedEvent | string {
  if (typeof input !== "object" || input === null) {
    return "expected an event object";
  }
  const r = input.regarding as Partial<EventRegarding> | undefined;
  const name = str(r?.name), kind = str(r?.kind);
  const apiVersion = str(r?.apiVersion);
  if (!r || !name || !kind || !apiVersion) {
    return "expected regarding.apiVersion, kind and name";
  }
  if (input.type !== "Normal" && input.type !== "Warning") {
    return `expected type Normal or Warning, found ${String(input.type)}`;
  }
  const reason = truncateUtf8(String(input.reason ?? ""), REASON_LIMIT);
  const action = truncateUtf8(String(input.action ?? ""), ACTION_LIMIT);
  if (!reason || !action) return "expected a reason and an action";
  const regarding: EventRegarding = { apiVersion, kind, name };
  const uid = str(r.uid), rv = str(r.resourceVersion);
  const ns = str(r.namespace);
  if (ns) regarding.namespace = ns;
  if (uid) regarding.uid = uid;
  if (rv) regarding.resourceVersion = rv;
  return {
    // A namespaced object's events live in its namespace; a cluster-scoped
    // object's in `default` (validation allows only default/kube-system).
    namespace: ns ?? defaultNamespace,
    regarding,
    type: input.type,
    reason,
    action,
    note: truncateUtf8(String(input.note ?? ""), NOTE_LIMIT),
  };
}
