/**
 * A generic Kubernetes Event recorder, mirroring client-go's `tools/events`
 * (events.k8s.io/v1), so that `kubectl describe` and `kubectl get events`
 * explain what a controller did. It knows nothing of what the events say:
 * the caller maps its own outcomes to reasons and notes.
 *
 * - Events for a cluster-scoped object go in namespace `default`; names are
 *   `<object name>.<hex(UnixNano)>` (`event_fields.ts`); `eventTime` is a
 *   MicroTime with exactly six fractional digits.
 * - An identical event observed again within the dedupe window becomes a
 *   series PATCH of the stored Event (`event_series.ts`). Repeats that arrive
 *   while a write for the same event is queued or in flight are coalesced
 *   into the next write.
 * - Writes (`event_sink.ts`) fall back to core/v1 Events when the
 *   events.k8s.io API is missing (404 on the collection, an old cluster).
 *
 * Writes run in the background with a small concurrency and their own
 * retries; `record()` never throws, never waits and never fails the caller.
 *
 * Events have their own budget, apart from the client's rate limit, so that
 * an Event flood never delays the controller's real work:
 *
 * - a per-object spam filter (`event_spam_filter.ts`), as client-go's
 *   `EventSourceObjectSpamFilter`: a burst of 25 observations per object,
 *   refilled by one every 5 minutes; past it an observation is dropped and
 *   counted (`filtered`);
 * - an overall token bucket for the writes themselves (default 10/s, burst
 *   50); writes wait for it in the bounded queue, and past the queue they
 *   are dropped and counted (`dropped`). The writes skip the client's own
 *   limiter (`ownBudget`), so they take none of its tokens; a `429` pause
 *   still holds them back.
 *
 * This file holds what one observation becomes and the recorder's
 * lifecycle; the bounded queue and its workers are `work_queue.ts`.
 *
 * @module
 */
import {
  createEventNamer,
  type EventInput,
  INSTANCE_LIMIT,
  normalizeEvent,
  qualifiedNameError,
  truncateUtf8,
} from "./event_fields.ts";
import { createEventSeriesCache, type EventSeries } from "./event_series.ts";
import { createEventSink, type WriteOutcome } from "./event_sink.ts";
import { createEventSpamFilter } from "./event_spam_filter.ts";
import { createRateLimiter, type RateLimiter } from "./rate_limiter.ts";
import type { KubeClient } from "./types.ts";
import { createWorkQueue } from "./work_queue.ts";
import type { Logger } from "../log.ts";

export {
  type EventInput,
  eventName,
  type EventRegarding,
  type EventType,
  qualifiedNameError,
  truncateUtf8,
} from "./event_fields.ts";

/** Options of {@linkcode createEventRecorder}. */
export interface EventRecorderOptions {
  client: KubeClient;
  log: Logger;
  /**
   * A qualified name (an optional DNS-subdomain prefix, "/", then a name of
   * at most 63 characters), e.g. `example.com/my-controller`.
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

/** Checks the reporting identity; throws a `TypeError` for a configuration error. */
function reportingIdentity(
  options: EventRecorderOptions,
): { controller: string; instance: string } {
  const controllerError = qualifiedNameError(options.reportingController);
  if (controllerError) {
    throw new TypeError(`reportingController: ${controllerError}`);
  }
  const instance = truncateUtf8(
    options.reportingInstance ?? "",
    INSTANCE_LIMIT,
    "",
  );
  if (instance === "") {
    throw new TypeError(
      "reportingInstance: expected a pod name or identity, found an empty string",
    );
  }
  return { controller: options.reportingController, instance };
}

/** Log the 1st, 10th, 100th… occurrence loudly, the rest at debug: a storm must not become a log storm. */
const loud = (n: number) => /^10*$/.test(String(n));

/**
 * Creates an event recorder. It starts no timers and no work until the
 * first `record()`; call `close()` on shutdown.
 *
 * @throws {TypeError} when `reportingController` is not a qualified name or
 * `reportingInstance` is empty (configuration errors, found at startup).
 *
 * @example
 * Not run: needs a client of a live API server (tests/unit/kube/events_test.ts uses a fake one).
 * ```ts ignore
 * import { createEventRecorder } from "./events.ts";
 * const events = createEventRecorder({
 *   client, log,
 *   reportingController: "example.com/my-controller",
 *   reportingInstance: Deno.env.get("POD_NAME") ?? "my-controller",
 * });
 * events.record({
 *   regarding: { apiVersion: "v1", kind: "Node", name: "worker-1", uid },
 *   type: "Normal", reason: "Drained", action: "Drain",
 *   note: "drained worker-1 for maintenance",
 * });
 * await events.close();
 * ```
 */
export function createEventRecorder(
  options: EventRecorderOptions,
): EventRecorder {
  const { log } = options;
  const reporting = reportingIdentity(options);
  const defaultNamespace = options.namespace || "default";
  const now = options.now ?? (() => new Date());
  const maxSeries = Math.max(1, options.maxSeries ?? 4096);
  const counts: EventRecorderStats = {
    sent: 0,
    failed: 0,
    dropped: 0,
    coalesced: 0,
    filtered: 0,
  };
  const spam = createEventSpamFilter({
    burst: options.objectBurst,
    refillMs: options.objectRefillMs,
    maxObjects: maxSeries,
  });
  const cache = createEventSeriesCache({
    windowMs: options.dedupeWindowMs ?? 360_000,
    maxSeries,
  });
  const nameFor = createEventNamer(now);
  const abort = new AbortController();
  const sink = createEventSink({
    client: options.client,
    log,
    reportingController: reporting.controller,
    reportingInstance: reporting.instance,
    writeLimiter: options.writeLimiter ??
      createRateLimiter(options.qps ?? 10, options.burst ?? 50),
    signal: abort.signal,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    maxAttempts: Math.max(1, options.maxAttempts ?? 3),
    retryBaseMs: Math.max(0, options.retryBaseMs ?? 500),
    retryMaxMs: Math.max(0, options.retryMaxMs ?? 5_000),
    rename: nameFor,
  });
  let closed = false;
  let closing: Promise<void> | undefined;

  const drop = (why: string, fields: Record<string, unknown>) => {
    counts.dropped++;
    const n = counts.dropped;
    (loud(n) ? log.warn : log.debug)(`event dropped: ${why}`, {
      ...fields,
      dropped: n,
    });
  };

  /** Writes one series and counts the outcome; never throws. */
  const write = async (s: EventSeries): Promise<void> => {
    let outcome: WriteOutcome;
    try {
      outcome = await sink.send(s);
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
  };
  const work = createWorkQueue<EventSeries>({
    maxQueue: Math.max(1, options.maxQueue ?? 1000),
    concurrency: Math.max(1, options.concurrency ?? 2),
    handle: write,
    stopped: () => abort.signal.aborted,
  });
  const enqueue = (s: EventSeries): boolean => {
    if (!work.push(s)) return false;
    s.busy = true;
    return true;
  };

  /** One observation of a valid event at `at`: joins its series or starts one. */
  const observe = (input: EventInput, at: Date): void => {
    const event = normalizeEvent(input, defaultNamespace);
    if (typeof event === "string") {
      drop(event, { reason: input?.reason });
      return;
    }
    if (!spam.allow(event.regarding, at.getTime())) {
      counts.filtered++;
      const n = counts.filtered;
      (loud(n) ? log.warn : log.debug)(
        `event dropped: per-object spam filter (burst ${spam.burst}, then 1 per ${
          spam.refillMs / 1000
        } s)`,
        { regarding: event.regarding.name, reason: event.reason, filtered: n },
      );
      return;
    }
    const key = cache.keyOf(event);
    const existing = key === undefined
      ? undefined
      : cache.find(key, at.getTime());
    if (existing) {
      existing.count++;
      existing.lastObserved = at;
      counts.coalesced++;
      if (!existing.busy && !enqueue(existing)) {
        drop("queue full", { event: existing.name });
      }
      return;
    }
    const s: EventSeries = {
      key,
      event,
      name: nameFor(event.regarding.name),
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
    cache.remember(s, at.getTime());
  };

  const record = (input: EventInput): void => {
    try {
      if (closed) {
        drop("recorder closed", { reason: input?.reason });
        return;
      }
      observe(input, now());
    } catch (error) {
      // Never let event bookkeeping reach the caller.
      try {
        drop("internal error", { error });
      } catch {
        // The logger itself failed; nothing more to do.
      }
    }
  };

  const flush = (timeoutMs = 5_000): Promise<void> => work.idle(timeoutMs);

  const close = (timeoutMs = 5_000): Promise<void> => {
    if (closing) return closing;
    closed = true;
    closing = (async () => {
      await flush(timeoutMs);
      const left = work.drain();
      for (const s of left) s.busy = false;
      if (left.length > 0) {
        counts.dropped += left.length;
        log.warn("event recorder closed; events not written", {
          dropped: left.length,
        });
      }
      // Aborts in-flight requests and retry sleeps; their events count as dropped.
      abort.abort();
      await work.settled();
      cache.clear();
      spam.clear();
    })();
    return closing;
  };

  return { record, flush, close, stats: () => ({ ...counts }) };
}
