/**
 * Records decisions as Kubernetes Events, so that `kubectl describe csr NAME`
 * and `kubectl get events` explain what the approver did.
 *
 * The recorder mirrors client-go's `tools/events` (events.k8s.io/v1):
 *
 * - Events for a cluster-scoped object (a CSR) go in namespace `default`;
 *   names are `<object name>.<hex(UnixNano)>`; `eventTime` is a MicroTime
 *   with exactly six fractional digits.
 * - An identical event (same object uid/name, type, reason, action and note)
 *   observed again within the dedupe window is not a new object: the stored
 *   Event gets a PATCH of `series{count,lastObservedTime}`, as client-go's
 *   `recordToSink` does. Repeats that arrive while a write for the same event
 *   is queued or in flight are coalesced into the next write.
 * - When the events.k8s.io API is missing (404 on the collection, an old
 *   cluster), it falls back to core/v1 Events (`count`, `firstTimestamp`,
 *   `lastTimestamp`, `source.component`).
 *
 * Writes run in the background with a small concurrency and their own
 * retries; `record()` never throws, never waits and never fails a decision.
 *
 * Events have their own budget, apart from the client's rate limit, so that
 * an Event flood never delays a SubjectAccessReview or an approval:
 *
 * - a per-object spam filter, as client-go's `EventSourceObjectSpamFilter`:
 *   each object (apiVersion, kind, namespace, name, uid) may record a burst
 *   of 25 observations, refilled by one every 5 minutes; past it an
 *   observation is dropped and counted (`filtered`);
 * - an overall token bucket for the writes themselves (default 10/s, burst
 *   50); writes wait for it in the bounded queue, and past the queue they
 *   are dropped and counted (`dropped`). The writes skip the client's own
 *   limiter (`ownBudget`), so they take none of its tokens; a `429` pause
 *   still holds them back.
 *
 * @module
 */
import { isApiError } from "../kube/errors.ts";
import { createRateLimiter, type RateLimiter } from "../kube/rate_limiter.ts";
import type { KubeClient } from "../kube/types.ts";
import type { Logger } from "../log.ts";
import { sleep } from "../util/sleep.ts";
import { microTime, rfc3339 } from "../util/time.ts";

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

/** Options of {@linkcode createEventRecorder}. */
export interface EventRecorderOptions {
  client: KubeClient;
  log: Logger;
  /**
   * A qualified name (an optional DNS-subdomain prefix, "/", then a name of
   * at most 63 characters), e.g. {@linkcode DEFAULT_REPORTING_CONTROLLER}.
   * Invalid → `createEventRecorder` throws a `TypeError`.
   */
  reportingController: string;
  /** The pod name or leader identity; cut to 128 bytes. Must not be empty. */
  reportingInstance: string;
  /** Namespace for events about cluster-scoped objects. Default `"default"`. */
  namespace?: string;
  now?: () => Date;
  /** Bound on events waiting to be written. Default 1000; beyond it events are dropped and counted. */
  maxQueue?: number;
  /** Identical events within this many ms of the last one become a series PATCH. Default 360 000 (client-go's 6 min); 0 disables. */
  dedupeWindowMs?: number;
  /** Parallel writers. Default 2. */
  concurrency?: number;
  /** Attempts per write for retriable failures (5xx, 429, transport, deadline). Default 3. */
  maxAttempts?: number;
  /** First retry delay, doubled per attempt with jitter. Default 500 ms. */
  retryBaseMs?: number;
  /** Cap on a retry delay, including a server's `Retry-After`. Default 5 000 ms. */
  retryMaxMs?: number;
  /** Deadline of one API request. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Bound on remembered events for dedupe (oldest forgotten first). Default 4096. */
  maxSeries?: number;
  /** Per-object spam filter: observations an object may record at once. Default 25 (client-go). */
  objectBurst?: number;
  /** Per-object spam filter: one more observation per this many ms. Default 300 000 (client-go's 1 per 5 min). */
  objectRefillMs?: number;
  /** Event writes (creates, patches, retries) per second, over all objects. Default 10; `<= 0`: no limit. */
  qps?: number;
  /** Burst of Event writes above `qps`. Default 50. */
  burst?: number;
  /** Replaces the overall write bucket (tests). */
  writeLimiter?: RateLimiter;
}

/** Counters of an {@linkcode EventRecorder}. */
export interface EventRecorderStats {
  /** Successful API writes (creates and series patches). */
  sent: number;
  /** Writes abandoned after an API error (non-retriable, or retries exhausted). */
  failed: number;
  /** Events never written: queue full, invalid input, recorder closed. */
  dropped: number;
  /** Repeats folded into an existing event's series instead of a new object. */
  coalesced: number;
  /** Observations dropped by the per-object spam filter (not counted in `dropped`). */
  filtered: number;
}

/** Records events in the background. */
export interface EventRecorder {
  /** Fire-and-forget: never throws, never blocks the caller, never fails a decision. */
  record(event: EventInput): void;
  /** Resolves when queued events have been written or given up (bounded by `timeoutMs`, default 5 000). */
  flush(timeoutMs?: number): Promise<void>;
  /** Stops accepting events, flushes (bounded by `timeoutMs`), then aborts and drops the rest. Idempotent. */
  close(timeoutMs?: number): Promise<void>;
  stats(): EventRecorderStats;
}

/**
 * A valid `reportingController` for this project.
 *
 * @example
 * ```ts
 * import { DEFAULT_REPORTING_CONTROLLER, qualifiedNameError } from "./events.ts";
 * qualifiedNameError(DEFAULT_REPORTING_CONTROLLER); // undefined
 * ```
 */
export const DEFAULT_REPORTING_CONTROLLER = "kubelet-rubber-stamp/approver";

const REASON_LIMIT = 128;
const ACTION_LIMIT = 128;
const NOTE_LIMIT = 1024;
const INSTANCE_LIMIT = 128;
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
 * import { qualifiedNameError } from "./events.ts";
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
 * import { truncateUtf8 } from "./events.ts";
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
 * Formats `date` as a `metav1.MicroTime`: `microTime` of `src/util/time.ts`,
 * under the name this module has always exported.
 *
 * @example
 * ```ts
 * import { formatMicroTime } from "./events.ts";
 * formatMicroTime(new Date("2026-11-28T08:49:48.123Z")); // "2026-11-28T08:49:48.123000Z"
 * ```
 */
export const formatMicroTime: (date: Date) => string = microTime;

/**
 * The event name client-go uses, `<objName>.<hex(nanos)>`, made a valid DNS
 * subdomain of at most 253 characters even for an odd object name
 * (lower-cased, invalid characters replaced by "-", cut to fit).
 *
 * @example
 * ```ts
 * import { eventName } from "./events.ts";
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

interface Normalized {
  namespace: string;
  regarding: EventRegarding;
  type: EventType;
  reason: string;
  action: string;
  note: string;
}

/** One event object on the server (or about to be): its first observation plus repeats. */
interface Series {
  key: string | undefined;
  event: Normalized;
  name: string;
  /** The API the object was created through; set on a successful create. */
  api?: "events" | "core";
  firstSeen: Date;
  lastObserved: Date;
  /** Observations so far. */
  count: number;
  /** Observations the server knows of; 0 = not created. */
  sentCount: number;
  /** Queued or in flight. */
  busy: boolean;
}

type Outcome = "sent" | "failed" | "dropped";

const str = (v: unknown): string | undefined =>
  typeof v === "string" && v !== "" ? v : undefined;

/**
 * Creates an event recorder. It starts no timers and no work until the
 * first `record()`; call `close()` on shutdown.
 *
 * @throws {TypeError} when `reportingController` is not a qualified name or
 * `reportingInstance` is empty (configuration errors, found at startup).
 *
 * @example
 * ```ts ignore
 * import { createEventRecorder, DEFAULT_REPORTING_CONTROLLER } from "./events.ts";
 * const events = createEventRecorder({
 *   client, log,
 *   reportingController: DEFAULT_REPORTING_CONTROLLER,
 *   reportingInstance: Deno.env.get("POD_NAME") ?? "kubelet-rubber-stamp",
 * });
 * events.record({
 *   regarding: { apiVersion: "certificates.k8s.io/v1", kind: "CertificateSigningRequest", name: csr.metadata.name, uid: csr.metadata.uid },
 *   type: "Normal", reason: "Approved", action: "Approve",
 *   note: "approved kubelet serving certificate for node worker-1",
 * });
 * await events.close();
 * ```
 */
export function createEventRecorder(
  options: EventRecorderOptions,
): EventRecorder {
  const { client, log } = options;
  const controllerError = qualifiedNameError(options.reportingController);
  if (controllerError) {
    throw new TypeError(`reportingController: ${controllerError}`);
  }
  const reportingController = options.reportingController;
  const reportingInstance = truncateUtf8(
    options.reportingInstance ?? "",
    INSTANCE_LIMIT,
    "",
  );
  if (reportingInstance === "") {
    throw new TypeError(
      "reportingInstance: expected a pod name or identity, found an empty string",
    );
  }
  const defaultNamespace = options.namespace || "default";
  const now = options.now ?? (() => new Date());
  const maxQueue = Math.max(1, options.maxQueue ?? 1000);
  const window = Math.max(0, options.dedupeWindowMs ?? 360_000);
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  const retryBase = Math.max(0, options.retryBaseMs ?? 500);
  const retryMax = Math.max(0, options.retryMaxMs ?? 5_000);
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const maxSeries = Math.max(1, options.maxSeries ?? 4096);
  const objectBurst = Math.max(1, options.objectBurst ?? 25);
  const objectRefillMs = Math.max(1, options.objectRefillMs ?? 300_000);
  const writeLimiter = options.writeLimiter ??
    createRateLimiter(options.qps ?? 10, options.burst ?? 50);

  const counts: EventRecorderStats = {
    sent: 0,
    failed: 0,
    dropped: 0,
    coalesced: 0,
    filtered: 0,
  };
  /** Per-object spam filter: tokens left at `at` (ms). */
  const spam = new Map<string, { tokens: number; at: number }>();
  const queue: Series[] = [];
  const cache = new Map<string, Series>();
  const workers = new Set<Promise<void>>();
  const abort = new AbortController();
  let active = 0;
  let idleWaiters: (() => void)[] = [];
  let closed = false;
  let closing: Promise<void> | undefined;
  let lastNanos = 0n;
  let lastSweep = 0;
  let api: "events" | "core" = "events";
  let rbacWarned = false;

  const nextNanos = (): bigint => {
    let n = BigInt(now().getTime()) * 1_000_000n;
    // Several events in one millisecond must still get distinct names.
    if (n <= lastNanos) n = lastNanos + 1n;
    lastNanos = n;
    return n;
  };

  const drop = (why: string, fields: Record<string, unknown>) => {
    counts.dropped++;
    // Log the 1st, 10th, 100th… drop loudly; the rest at debug, so a storm
    // cannot turn into a log storm.
    const n = counts.dropped;
    const loud = /^10*$/.test(String(n));
    (loud ? log.warn : log.debug)(`event dropped: ${why}`, {
      ...fields,
      dropped: n,
    });
  };

  const normalize = (input: EventInput): Normalized | string => {
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
  };

  const keyOf = (e: Normalized): string =>
    JSON.stringify([
      e.namespace,
      e.regarding.apiVersion,
      e.regarding.kind,
      e.regarding.name,
      e.regarding.uid ?? "",
      e.type,
      e.reason,
      e.action,
      e.note,
    ]);

  const sweep = (at: number) => {
    if (at - lastSweep < window && cache.size <= maxSeries) return;
    lastSweep = at;
    for (const [key, s] of cache) {
      if (!s.busy && at - s.lastObserved.getTime() > window) cache.delete(key);
    }
    // Still too many: forget the oldest (Map keeps insertion order).
    for (const key of cache.keys()) {
      if (cache.size <= maxSeries) break;
      cache.delete(key);
    }
  };

  /** Takes one observation token of the object's bucket; false when empty. */
  const allowObservation = (e: Normalized, at: number): boolean => {
    const r = e.regarding;
    const key = JSON.stringify([
      r.apiVersion,
      r.kind,
      r.namespace ?? "",
      r.name,
      r.uid ?? "",
    ]);
    const refilled = (b: { tokens: number; at: number }) =>
      Math.min(
        objectBurst,
        b.tokens + Math.max(0, at - b.at) / objectRefillMs,
      );
    const bucket = spam.get(key);
    const tokens = bucket ? refilled(bucket) : objectBurst;
    if (tokens < 1) return false;
    spam.delete(key);
    spam.set(key, { tokens: tokens - 1, at });
    // Least recently observed first: a forgotten object starts a full burst
    // again, which only matters past maxSeries objects observed at once.
    if (spam.size > maxSeries) spam.delete(spam.keys().next().value!);
    return true;
  };

  const checkIdle = () => {
    if (queue.length > 0 || active > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };

  const enqueue = (s: Series): boolean => {
    if (queue.length >= maxQueue) return false;
    s.busy = true;
    queue.push(s);
    if (active < concurrency) {
      active++;
      // Start on a microtask: the caller's stack does no I/O work at all.
      const worker: Promise<void> = Promise.resolve().then(runWorker).finally(
        () => {
          workers.delete(worker);
          active--;
          checkIdle();
        },
      );
      workers.add(worker);
    }
    return true;
  };

  const pathFor = (which: "events" | "core", namespace: string) =>
    which === "events"
      ? `/apis/events.k8s.io/v1/namespaces/${namespace}/events`
      : `/api/v1/namespaces/${namespace}/events`;

  const createBody = (s: Series, which: "events" | "core"): unknown => {
    const e = s.event;
    const metadata = { name: s.name, namespace: e.namespace };
    if (which === "core") {
      return {
        apiVersion: "v1",
        kind: "Event",
        metadata,
        involvedObject: e.regarding,
        reason: e.reason,
        message: e.note,
        type: e.type,
        source: { component: reportingController },
        firstTimestamp: rfc3339(s.firstSeen),
        lastTimestamp: rfc3339(s.lastObserved),
        count: s.count,
        action: e.action,
        reportingComponent: reportingController,
        reportingInstance,
      };
    }
    return {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata,
      eventTime: formatMicroTime(s.firstSeen),
      // Repeats that arrived before the first write: create as a series
      // (validation wants count >= 2 in a series).
      ...(s.count >= 2
        ? {
          series: {
            count: s.count,
            lastObservedTime: formatMicroTime(s.lastObserved),
          },
        }
        : {}),
      reportingController,
      reportingInstance,
      action: e.action,
      reason: e.reason,
      regarding: e.regarding,
      note: e.note,
      type: e.type,
    };
  };

  const patchBody = (s: Series, which: "events" | "core"): unknown =>
    which === "events"
      ? {
        series: {
          count: s.count,
          lastObservedTime: formatMicroTime(s.lastObserved),
        },
      }
      : { count: s.count, lastTimestamp: rfc3339(s.lastObserved) };

  /** Writes the series' current state once; throws what the client throws. */
  const writeOnce = async (s: Series): Promise<void> => {
    const count = s.count;
    // The overall Event budget: waiting here holds this writer only.
    await writeLimiter.acquire(abort.signal);
    const request = {
      timeoutMs: requestTimeoutMs,
      signal: abort.signal,
      ownBudget: true,
    };
    if (s.sentCount === 0) {
      const which = api;
      await client.request({
        ...request,
        method: "POST",
        path: pathFor(which, s.event.namespace),
        body: createBody(s, which),
      });
      s.api = which;
    } else {
      const which = s.api ?? api;
      await client.request({
        ...request,
        method: "PATCH",
        path: `${pathFor(which, s.event.namespace)}/${s.name}`,
        body: patchBody(s, which),
      });
    }
    s.sentCount = count;
  };

  /** Writes one series with retries; never throws. */
  const send = async (s: Series): Promise<Outcome> => {
    const fields = {
      event: s.name,
      regarding: s.event.regarding.name,
      reason: s.event.reason,
    };
    let renamed = false;
    let fellBack = false;
    for (let attempt = 1;; attempt++) {
      if (abort.signal.aborted) return "dropped";
      let error: unknown;
      try {
        await writeOnce(s);
        return "sent";
      } catch (e) {
        error = e;
      }
      if (abort.signal.aborted) return "dropped";
      const creating = s.sentCount === 0;
      const status = isApiError(error) ? error.status : 0;
      const details = isApiError(error)
        ? error.details as { kind?: string } | undefined
        : undefined;
      if (
        status === 404 && creating && api === "events" && !fellBack &&
        details?.kind !== "namespaces"
      ) {
        // The group is not served (an old cluster), not a missing namespace.
        api = "core";
        fellBack = true;
        log.info("events.k8s.io/v1 not served; recording core/v1 Events", {
          error,
        });
        attempt--;
        continue;
      }
      if (status === 404 && !creating && !renamed) {
        // The event expired (TTL) or was deleted: start it again, like
        // client-go does when a series PATCH finds nothing.
        s.sentCount = 0;
        s.name = eventName(s.event.regarding.name, nextNanos());
        renamed = true;
        attempt--;
        continue;
      }
      if (status === 409 && creating && !renamed) {
        // AlreadyExists: another writer used the same name and nanosecond.
        s.name = eventName(s.event.regarding.name, nextNanos());
        renamed = true;
        attempt--;
        continue;
      }
      if (status === 403) {
        (rbacWarned ? log.debug : log.warn)(
          `cannot write events: forbidden; grant create and patch on events (events.k8s.io and "") in namespace ${s.event.namespace}`,
          { ...fields, error },
        );
        rbacWarned = true;
        return "failed";
      }
      const retriable = !isApiError(error) || status === 0 ||
        status === 429 || status >= 500 || status === 409;
      if (!retriable) {
        log.warn("event rejected by the API server; not retrying", {
          ...fields,
          error,
        });
        return "failed";
      }
      if (attempt >= maxAttempts) {
        log.warn("event not written; giving up after retries", {
          ...fields,
          attempts: attempt,
          error,
        });
        return "failed";
      }
      const backoff = Math.min(retryMax, retryBase * 2 ** (attempt - 1));
      const hinted = isApiError(error) && error.retryAfterSeconds !== undefined
        ? Math.min(retryMax, error.retryAfterSeconds * 1000)
        : 0;
      const delay = Math.max(hinted, backoff * (0.75 + Math.random() * 0.5));
      log.debug("event write failed; retrying", {
        ...fields,
        attempt,
        delayMs: Math.round(delay),
        error,
      });
      await sleep(delay, abort.signal);
    }
  };

  async function runWorker(): Promise<void> {
    while (!abort.signal.aborted) {
      const s = queue.shift();
      if (!s) return;
      let outcome: Outcome;
      try {
        outcome = await send(s);
      } catch (error) {
        // send() catches everything it expects; this is a bug, not an outage.
        log.error("event recorder failed unexpectedly", { error });
        outcome = "failed";
      }
      s.busy = false;
      if (outcome === "sent") counts.sent++;
      else if (outcome === "failed") counts.failed++;
      else counts.dropped++;
      // Repeats arrived while this write was in flight: one more PATCH.
      if (
        outcome === "sent" && s.count > s.sentCount && !abort.signal.aborted &&
        !enqueue(s)
      ) {
        drop("queue full", { event: s.name });
      }
    }
  }

  const record = (input: EventInput): void => {
    try {
      if (closed) {
        drop("recorder closed", { reason: input?.reason });
        return;
      }
      const event = normalize(input);
      if (typeof event === "string") {
        drop(event, { reason: input?.reason });
        return;
      }
      const at = now();
      if (!allowObservation(event, at.getTime())) {
        counts.filtered++;
        const n = counts.filtered;
        (/^10*$/.test(String(n)) ? log.warn : log.debug)(
          `event dropped: per-object spam filter (burst ${objectBurst}, then 1 per ${
            objectRefillMs / 1000
          } s)`,
          {
            regarding: event.regarding.name,
            reason: event.reason,
            filtered: n,
          },
        );
        return;
      }
      const key = window > 0 ? keyOf(event) : undefined;
      if (key !== undefined) {
        sweep(at.getTime());
        const existing = cache.get(key);
        if (
          existing && at.getTime() - existing.lastObserved.getTime() <= window
        ) {
          existing.count++;
          existing.lastObserved = at;
          counts.coalesced++;
          if (!existing.busy && !enqueue(existing)) {
            drop("queue full", { event: existing.name });
          }
          return;
        }
      }
      const s: Series = {
        key,
        event,
        name: eventName(event.regarding.name, nextNanos()),
        firstSeen: at,
        lastObserved: at,
        count: 1,
        sentCount: 0,
        busy: false,
      };
      if (!enqueue(s)) {
        drop("queue full", {
          regarding: event.regarding.name,
          reason: event.reason,
        });
        return;
      }
      if (key !== undefined) {
        cache.delete(key);
        cache.set(key, s);
        if (cache.size > maxSeries) sweep(at.getTime());
      }
    } catch (error) {
      // Never let event bookkeeping reach a decision.
      try {
        drop("internal error", { error });
      } catch {
        // The logger itself failed; nothing more to do.
      }
    }
  };

  const flush = (timeoutMs = 5_000): Promise<void> => {
    if (queue.length === 0 && active === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        idleWaiters = idleWaiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      idleWaiters.push(done);
    });
  };

  const close = (timeoutMs = 5_000): Promise<void> => {
    if (closing) return closing;
    closed = true;
    closing = (async () => {
      await flush(timeoutMs);
      const left = queue.splice(0);
      for (const s of left) s.busy = false;
      if (left.length > 0) {
        counts.dropped += left.length;
        log.warn("event recorder closed; events not written", {
          dropped: left.length,
        });
      }
      // Aborts in-flight requests and retry sleeps; their events count as dropped.
      abort.abort();
      await Promise.allSettled([...workers]);
      cache.clear();
      spam.clear();
    })();
    return closing;
  };

  return {
    record,
    flush,
    close,
    stats: () => ({ ...counts }),
  };
}
