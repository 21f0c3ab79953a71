/**
 * List + watch of one Kubernetes collection, the way client-go's Reflector
 * does it: a paginated list gives a snapshot and its resourceVersion, a
 * watch from that version streams every later change, bookmarks advance the
 * version, a 410 Expired relists, and any other failure re-watches from the
 * last version seen after a jittered exponential backoff. A client-side
 * watchdog aborts a watch that goes silent past its server timeout.
 *
 * @module
 */
import { ApiError } from "./errors.ts";
import type { KubeClient } from "./types.ts";
import { sleep } from "../util/sleep.ts";

/** The minimum an object needs for the reflector. */
export interface KubeObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
}

/** Receives the reflector's view of the collection. */
export interface ReflectorHandler<T extends KubeObject> {
  /** A full list replaces everything known (initial sync and relists). */
  replace(items: T[], resourceVersion: string): void;
  added(obj: T): void;
  modified(obj: T): void;
  deleted(obj: T): void;
}

/** Why the reflector relisted or restarted its watch, for metrics and logs. */
export type RestartCause =
  | "initial"
  | "expired"
  | "closed"
  | "error"
  | "stalled"
  | "malformed";

/** Options of {@linkcode runReflector}. */
export interface ReflectorOptions<T extends KubeObject> {
  client: KubeClient;
  /** Collection path, e.g. `/apis/certificates.k8s.io/v1/certificatesigningrequests`. */
  path: string;
  fieldSelector?: string;
  labelSelector?: string;
  handler: ReflectorHandler<T>;
  signal: AbortSignal;
  /** Page size of lists. Default 500. */
  pageSize?: number;
  /** Server-side watch timeout in seconds. Default: random in [300, 600], like client-go. */
  watchTimeoutSeconds?: () => number;
  /** Extra silence tolerated beyond the server timeout before the client aborts. Default 30 s. */
  watchGraceMs?: number;
  /**
   * Longest silence tolerated on a watch, whatever its timeout. The API
   * server sends a BOOKMARK about every 60 s on a watch that asks for them
   * (measured on kube-apiserver 1.36 and 1.37), so a watch silent for longer
   * sits on a dead connection. Default 90 s.
   */
  maxWatchSilenceMs?: number;
  /** Backoff after failures. */
  backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number };
  /**
   * Applied to every listed item as its page arrives and to every watched
   * object before the handler sees it (client-go's `TransformFunc`): keep
   * only what the handler reads, so a large list and the cache hold less.
   * Must not throw. Default: the object as received.
   */
  transform?: (obj: T) => T;
  /** Called on every relist and watch restart. */
  onRestart?: (
    kind: "relist" | "watch",
    cause: RestartCause,
    error?: unknown,
  ) => void;
  /** Called with each list or watch failure (before the retry). */
  onError?: (phase: "list" | "watch", error: unknown) => void;
  /** Called when the first full list has been handed to `replace`. */
  onSynced?: () => void;
  /** Called on each received event or bookmark (liveness). */
  onProgress?: () => void;
  random?: () => number;
}

interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T | KubeStatus;
}

interface KubeStatus {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
}

interface ListPage<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

class WatchRestart extends Error {
  constructor(readonly restartCause: RestartCause, readonly detail?: unknown) {
    super(restartCause);
  }
}

function isExpired(e: unknown): boolean {
  return e instanceof ApiError &&
    (e.status === 410 || e.reason === "Expired" || e.reason === "Gone");
}

/**
 * Runs list + watch until `signal` aborts. Never rejects because of the API
 * server: every failure is reported through `onRestart` and retried.
 *
 * @example
 * Not run: needs a client of a live API server (tests/unit/kube/reflector_test.ts uses a fake one).
 * ```ts ignore
 * import { runReflector } from "./reflector.ts";
 * await runReflector({
 *   client, signal, path: "/api/v1/nodes",
 *   handler: { replace() {}, added() {}, modified() {}, deleted() {} },
 * });
 * ```
 */
export async function runReflector<T extends KubeObject>(
  options: ReflectorOptions<T>,
): Promise<void> {
  const { client, path, handler, signal } = options;
  const random = options.random ?? Math.random;
  const transform = options.transform ?? ((obj: T) => obj);
  const pageSize = options.pageSize ?? 500;
  const graceMs = options.watchGraceMs ?? 30_000;
  const maxSilenceMs = options.maxWatchSilenceMs ?? 90_000;
  const initialBackoff = options.backoff?.initialMs ?? 800;
  const maxBackoff = options.backoff?.maxMs ?? 30_000;
  const resetAfter = options.backoff?.resetAfterMs ?? 120_000;
  const timeoutSeconds = options.watchTimeoutSeconds ??
    (() => 300 + Math.floor(random() * 300));
  const selectors = {
    fieldSelector: options.fieldSelector,
    labelSelector: options.labelSelector,
  };

  let failures = 0;
  let lastFailureAt = 0;
  const backoff = async (retryAfterMs = 0) => {
    const now = Date.now();
    if (now - lastFailureAt > resetAfter) failures = 0;
    lastFailureAt = now;
    const base = Math.min(maxBackoff, initialBackoff * 2 ** failures);
    failures++;
    // Jitter factor 1.0 as client-go: somewhere in [base, 2*base), capped.
    const delay = Math.min(maxBackoff, base * (1 + random()));
    await sleep(Math.max(delay, retryAfterMs), signal);
  };

  const list = async (): Promise<string> => {
    let cont: string | undefined;
    const items: T[] = [];
    let rv = "";
    do {
      const page = await client.request<ListPage<T>>({
        method: "GET",
        path,
        query: { ...selectors, limit: pageSize, continue: cont },
        signal,
      });
      // Transformed page by page: a relist of thousands of objects never
      // holds them all as received.
      for (const item of page.items ?? []) items.push(transform(item));
      rv = page.metadata?.resourceVersion ?? "";
      cont = page.metadata?.continue || undefined;
    } while (cont);
    if (!rv) {
      throw new ApiError({
        status: 0,
        reason: "InvalidResponse",
        message: `list of ${path} returned no metadata.resourceVersion`,
        method: "GET",
        path,
      });
    }
    handler.replace(items, rv);
    return rv;
  };

  /** Streams one watch; returns the last resourceVersion seen. */
  const watch = async (fromRv: string): Promise<string> => {
    let rv = fromRv;
    const timeout = timeoutSeconds();
    const silenceMs = Math.min(timeout * 1000 + graceMs, maxSilenceMs);
    const ctl = new AbortController();
    const onAbort = () => ctl.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    let stalled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        ctl.abort();
      }, silenceMs);
    };
    arm();
    const started = Date.now();
    let events = 0;
    try {
      const lines = await client.stream({
        path,
        query: {
          ...selectors,
          watch: 1,
          resourceVersion: rv,
          allowWatchBookmarks: true,
          timeoutSeconds: timeout,
        },
        signal: ctl.signal,
      });
      for await (const line of lines) {
        arm();
        let event: WatchEvent<T>;
        try {
          event = JSON.parse(line);
        } catch (e) {
          throw new WatchRestart("malformed", e);
        }
        if (!event || typeof event !== "object" || !event.object) {
          throw new WatchRestart(
            "malformed",
            new Error(`bad event ${line.slice(0, 200)}`),
          );
        }
        events++;
        options.onProgress?.();
        if (event.type === "ERROR") {
          const status = event.object as KubeStatus;
          const err = new ApiError({
            status: status.code ?? 500,
            reason: status.reason ?? "Unknown",
            message: status.message ?? "watch error",
            method: "WATCH",
            path,
          });
          if (isExpired(err)) throw err;
          throw new WatchRestart("error", err);
        }
        const obj = event.object as T;
        const next = obj.metadata?.resourceVersion;
        switch (event.type) {
          case "ADDED":
            handler.added(transform(obj));
            break;
          case "MODIFIED":
            handler.modified(transform(obj));
            break;
          case "DELETED":
            handler.deleted(transform(obj));
            break;
          case "BOOKMARK":
            break;
          default:
            throw new WatchRestart(
              "malformed",
              new Error(`unknown event type ${event.type}`),
            );
        }
        if (next) rv = next;
      }
      // A clean end is the server's timeout. A watch that ends at once with
      // nothing in it means a flapping server: count it as a failure.
      if (events === 0 && Date.now() - started < 1000) {
        throw new WatchRestart(
          "closed",
          new Error("watch closed within 1s with no events"),
        );
      }
      return rv;
    } catch (e) {
      if (stalled && !signal.aborted) {
        throw new WatchRestart(
          "stalled",
          new Error(`watch silent for ${silenceMs}ms`),
        );
      }
      if (e instanceof WatchRestart || isExpired(e) || signal.aborted) throw e;
      throw new WatchRestart("error", e);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      // Capture the position reached even on failure, so nothing is replayed
      // or lost: the caller reads it from `position`.
      position = rv;
    }
  };

  let position = "";
  let needList = true;
  let listCause: RestartCause = "initial";
  let synced = false;
  while (!signal.aborted) {
    if (needList) {
      try {
        options.onRestart?.("relist", listCause);
        position = await list();
        needList = false;
        if (!synced) {
          synced = true;
          options.onSynced?.();
        }
      } catch (e) {
        if (signal.aborted) break;
        options.onError?.("list", e);
        listCause = "error";
        await backoff(
          e instanceof ApiError ? (e.retryAfterSeconds ?? 0) * 1000 : 0,
        );
        continue;
      }
    }
    try {
      position = await watch(position);
      options.onRestart?.("watch", "closed");
      if (Date.now() - lastFailureAt > resetAfter) failures = 0;
    } catch (e) {
      if (signal.aborted) break;
      if (isExpired(e)) {
        // The history we were watching from is gone: only a new list can
        // tell us what changed meanwhile.
        options.onError?.("watch", e);
        needList = true;
        listCause = "expired";
        continue;
      }
      const restart = e instanceof WatchRestart
        ? e
        : new WatchRestart("error", e);
      const detail = restart.detail;
      options.onError?.("watch", detail ?? restart);
      options.onRestart?.("watch", restart.restartCause, detail);
      const retryAfter = detail instanceof ApiError
        ? (detail.retryAfterSeconds ?? 0) * 1000
        : 0;
      await backoff(retryAfter);
    }
  }
}
