/**
 * Writes one Event series to the API server, as client-go's `recordToSink`:
 * a POST for a new event, a PATCH of its series for a repeat, with retries
 * for what may pass (5xx, 429, transport, deadline) and the recoveries
 * client-go makes:
 *
 * - 404 on the events.k8s.io collection (an old cluster): fall back to
 *   core/v1 Events (`count`, `firstTimestamp`, `lastTimestamp`,
 *   `source.component`) for this and every later event;
 * - 404 on a series PATCH (the event expired): create it again, renamed;
 * - 409 on a create (a name taken in the same nanosecond): rename, retry;
 * - 403 (missing RBAC): said once at warn, never retried.
 *
 * Apart from the recorder because this is the only part that speaks HTTP:
 * the recorder decides what to write and when, the sink how.
 *
 * @module
 */
import { isApiError } from "./errors.ts";
import type { EventSeries } from "./event_series.ts";
import type { RateLimiter } from "./rate_limiter.ts";
import type { KubeClient } from "./types.ts";
import type { Logger } from "../log.ts";
import { sleep } from "../util/sleep.ts";
import { microTime, rfc3339 } from "../util/time.ts";

/** Which Event API a write goes to. */
export type EventApi = "events" | "core";

/** How one series' write ended. */
export type WriteOutcome = "sent" | "failed" | "dropped";

/** Options of {@linkcode createEventSink}. */
export interface EventSinkOptions {
  client: KubeClient;
  log: Logger;
  reportingController: string;
  reportingInstance: string;
  /** The overall Event write budget; every attempt waits for it. */
  writeLimiter: RateLimiter;
  /** Aborts requests and retry sleeps (the recorder closing). */
  signal: AbortSignal;
  requestTimeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** A fresh event name for an object (a rename after 404 or 409). */
  rename: (objectName: string) => string;
}

/** Writes series; remembers across writes whether events.k8s.io is served. */
export interface EventSink {
  /** Writes the series' current state, with retries; never throws. */
  send(series: EventSeries): Promise<WriteOutcome>;
}

/**
 * The collection an event goes to.
 *
 * @example
 * ```ts
 * import { eventsPath } from "./event_sink.ts";
 * eventsPath("core", "default"); // "/api/v1/namespaces/default/events"
 * ```
 */
export function eventsPath(which: EventApi, namespace: string): string {
  return which === "events"
    ? `/apis/events.k8s.io/v1/namespaces/${namespace}/events`
    : `/api/v1/namespaces/${namespace}/events`;
}

/**
 * The body that creates `s` through `which` API.
 *
 * @example
 * ```ts
 * import { createBody } from "./event_sink.ts";
 * const at = new Date("2026-11-28T08:49:48.123Z");
 * const body = createBody({
 *   key: undefined, name: "n.1", firstSeen: at, lastObserved: at,
 *   count: 1, sentCount: 0, busy: false,
 *   event: {
 *     namespace: "default", regarding: { apiVersion: "v1", kind: "Node", name: "n" },
 *     type: "Normal", reason: "Seen", action: "Look", note: "",
 *   },
 * }, "events", "example.com/c", "pod-1") as { eventTime: string };
 * body.eventTime; // "2026-11-28T08:49:48.123000Z"
 * ```
 */
export function createBody(
  s: EventSeries,
  which: EventApi,
  reportingController: string,
  reportingInstance: string,
): unknown {
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
    eventTime: microTime(s.firstSeen),
    // Repeats that arrived before the first write: create as a series
    // (validation wants count >= 2 in a series).
    ...(s.count >= 2
      ? {
        series: {
          count: s.count,
          lastObservedTime: microTime(s.lastObserved),
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
}

/** The merge patch that tells the server of `s`'s repeats. */
function patchBody(s: EventSeries, which: EventApi): unknown {
  return which === "events"
    ? {
      series: {
        count: s.count,
        lastObservedTime: microTime(s.lastObserved),
      },
    }
    : { count: s.count, lastTimestamp: rfc3339(s.lastObserved) };
}

/** What to do after a failed attempt (see the module doc). */
type Recovery = "fall-back" | "recreate" | "rename" | "forbidden" | "retry";

/**
 * Creates a sink.
 *
 * @example
 * Not run: needs a client of a live API server (tests/unit/kube/events_test.ts uses a fake one).
 * ```ts ignore
 * import { createEventSink } from "./event_sink.ts";
 * const sink = createEventSink({ client, log, writeLimiter, signal,
 *   reportingController: "example.com/c", reportingInstance: "pod-1",
 *   requestTimeoutMs: 10_000, maxAttempts: 3, retryBaseMs: 500, retryMaxMs: 5_000,
 *   rename: (name) => `${name}.${Date.now().toString(16)}` });
 * await sink.send(series); // "sent" | "failed" | "dropped"
 * ```
 */
export function createEventSink(options: EventSinkOptions): EventSink {
  const { client, log, signal } = options;
  let api: EventApi = "events";
  let rbacWarned = false;

  /** Writes the series' current state once; throws what the client throws. */
  const writeOnce = async (s: EventSeries): Promise<void> => {
    const count = s.count;
    // The overall Event budget: waiting here holds this writer only.
    await options.writeLimiter.acquire(signal);
    const request = {
      timeoutMs: options.requestTimeoutMs,
      signal,
      ownBudget: true,
    };
    if (s.sentCount === 0) {
      const which = api;
      await client.request({
        ...request,
        method: "POST",
        path: eventsPath(which, s.event.namespace),
        body: createBody(
          s,
          which,
          options.reportingController,
          options.reportingInstance,
        ),
      });
      s.api = which;
    } else {
      const which = s.api ?? api;
      await client.request({
        ...request,
        method: "PATCH",
        path: `${eventsPath(which, s.event.namespace)}/${s.name}`,
        body: patchBody(s, which),
      });
    }
    s.sentCount = count;
  };

  /** Which recovery a failure calls for, given what this write already tried. */
  const recoveryFor = (
    error: unknown,
    s: EventSeries,
    tried: { renamed: boolean; fellBack: boolean },
  ): Recovery => {
    const creating = s.sentCount === 0;
    const status = isApiError(error) ? error.status : 0;
    const details = isApiError(error)
      ? error.details as { kind?: string } | undefined
      : undefined;
    if (
      status === 404 && creating && api === "events" && !tried.fellBack &&
      details?.kind !== "namespaces"
    ) {
      // The group is not served (an old cluster), not a missing namespace.
      return "fall-back";
    }
    // The event expired (TTL) or was deleted: start it again, like client-go
    // does when a series PATCH finds nothing.
    if (status === 404 && !creating && !tried.renamed) return "recreate";
    // AlreadyExists: another writer used the same name and nanosecond.
    if (status === 409 && creating && !tried.renamed) return "rename";
    if (status === 403) return "forbidden";
    return "retry";
  };

  /** Logs why `error` ends this write, or waits before the next attempt; false = give up. */
  const retryOrGiveUp = async (
    error: unknown,
    attempt: number,
    fields: Record<string, unknown>,
  ): Promise<boolean> => {
    const status = isApiError(error) ? error.status : 0;
    const retriable = !isApiError(error) || status === 0 ||
      status === 429 || status >= 500 || status === 409;
    if (!retriable) {
      log.warn("event rejected by the API server; not retrying", {
        ...fields,
        error,
      });
      return false;
    }
    if (attempt >= options.maxAttempts) {
      log.warn("event not written; giving up after retries", {
        ...fields,
        attempts: attempt,
        error,
      });
      return false;
    }
    const { retryBaseMs, retryMaxMs } = options;
    const backoff = Math.min(retryMaxMs, retryBaseMs * 2 ** (attempt - 1));
    const hinted = isApiError(error) && error.retryAfterSeconds !== undefined
      ? Math.min(retryMaxMs, error.retryAfterSeconds * 1000)
      : 0;
    const delay = Math.max(hinted, backoff * (0.75 + Math.random() * 0.5));
    log.debug("event write failed; retrying", {
      ...fields,
      attempt,
      delayMs: Math.round(delay),
      error,
    });
    await sleep(delay, signal);
    return true;
  };

  const send = async (s: EventSeries): Promise<WriteOutcome> => {
    const fields = {
      event: s.name,
      regarding: s.event.regarding.name,
      reason: s.event.reason,
    };
    const tried = { renamed: false, fellBack: false };
    for (let attempt = 1;; attempt++) {
      if (signal.aborted) return "dropped";
      let error: unknown;
      try {
        await writeOnce(s);
        return "sent";
      } catch (e) {
        error = e;
      }
      if (signal.aborted) return "dropped";
      const recovery = recoveryFor(error, s, tried);
      if (recovery === "fall-back") {
        api = "core";
        tried.fellBack = true;
        log.info("events.k8s.io/v1 not served; recording core/v1 Events", {
          error,
        });
        attempt--;
        continue;
      }
      if (recovery === "recreate" || recovery === "rename") {
        if (recovery === "recreate") s.sentCount = 0;
        s.name = options.rename(s.event.regarding.name);
        tried.renamed = true;
        attempt--;
        continue;
      }
      if (recovery === "forbidden") {
        (rbacWarned ? log.debug : log.warn)(
          `cannot write events: forbidden; grant create and patch on events (events.k8s.io and "") in namespace ${s.event.namespace}`,
          { ...fields, error },
        );
        rbacWarned = true;
        return "failed";
      }
      if (!await retryOrGiveUp(error, attempt, fields)) return "failed";
    }
  };

  return { send };
}
