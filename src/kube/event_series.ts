/**
 * Event series, as client-go's `tools/events` keeps them: an identical event
 * (same object uid/name, type, reason, action and note) observed again within
 * the dedupe window is not a new object but one more observation of the
 * stored one, written as a PATCH of `series{count,lastObservedTime}`.
 *
 * This module holds the series record and the bounded cache that finds the
 * series an observation belongs to. Apart from the recorder because the
 * window and the forgetting are rules on a clock the caller passes in.
 *
 * @module
 */
import type { NormalizedEvent } from "./event_fields.ts";

/** One event object on the server (or about to be): its first observation plus repeats. */
export interface EventSeries {
  /** Its key in the {@linkcode EventSeriesCache}; undefined when dedupe is off. */
  key: string | undefined;
  event: NormalizedEvent;
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

/** Options of {@linkcode createEventSeriesCache}. */
export interface EventSeriesCacheOptions {
  /** Identical events within this many ms of the last one join its series; 0 disables. */
  windowMs: number;
  /** Bound on remembered series (oldest forgotten first). */
  maxSeries: number;
}

/** The series remembered for dedupe. */
export interface EventSeriesCache {
  /** The key identical events share, or undefined when dedupe is off. */
  keyOf(event: NormalizedEvent): string | undefined;
  /**
   * The series an observation of `key` at `at` (ms) joins, if one was last
   * observed within the window; forgets stale series first.
   */
  find(key: string, at: number): EventSeries | undefined;
  /** Remembers `series` as the newest under its key. */
  remember(series: EventSeries, at: number): void;
  clear(): void;
}

/**
 * Creates the dedupe cache of an event recorder.
 *
 * @example
 * ```ts
 * import { createEventSeriesCache } from "./event_series.ts";
 * const cache = createEventSeriesCache({ windowMs: 1_000, maxSeries: 10 });
 * const event = {
 *   namespace: "default", regarding: { apiVersion: "v1", kind: "Node", name: "n" },
 *   type: "Normal" as const, reason: "Seen", action: "Look", note: "",
 * };
 * const key = cache.keyOf(event)!;
 * const at = new Date(0);
 * cache.remember({
 *   key, event, name: "n.1", firstSeen: at, lastObserved: at,
 *   count: 1, sentCount: 0, busy: false,
 * }, 0);
 * cache.find(key, 500)?.name; // "n.1"
 * cache.find(key, 5_000); // undefined: outside the window
 * ```
 */
export function createEventSeriesCache(
  options: EventSeriesCacheOptions,
): EventSeriesCache {
  const window = Math.max(0, options.windowMs);
  const maxSeries = Math.max(1, options.maxSeries);
  const cache = new Map<string, EventSeries>();
  let lastSweep = 0;

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

  return {
    keyOf: (e) =>
      window > 0
        ? JSON.stringify([
          e.namespace,
          e.regarding.apiVersion,
          e.regarding.kind,
          e.regarding.name,
          e.regarding.uid ?? "",
          e.type,
          e.reason,
          e.action,
          e.note,
        ])
        : undefined,
    find(key, at) {
      sweep(at);
      const existing = cache.get(key);
      return existing && at - existing.lastObserved.getTime() <= window
        ? existing
        : undefined;
    },
    remember(series, at) {
      if (series.key === undefined) return;
      cache.delete(series.key);
      cache.set(series.key, series);
      if (cache.size > maxSeries) sweep(at);
    },
    clear: () => cache.clear(),
  };
}
