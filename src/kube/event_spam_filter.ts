/**
 * The per-object Event spam filter, as client-go's
 * `EventSourceObjectSpamFilter`: each object (apiVersion, kind, namespace,
 * name, uid) has a token bucket of observations, so one object that keeps
 * failing cannot fill the Event budget that every other object shares.
 *
 * Apart from the recorder because it is a pure rule on a clock the caller
 * passes in: testable without an API server or timers.
 *
 * @module
 */
import type { EventRegarding } from "./event_fields.ts";

/** Options of {@linkcode createEventSpamFilter}. */
export interface EventSpamFilterOptions {
  /** Observations an object may record at once. Default 25 (client-go). */
  burst?: number;
  /** One more observation per this many ms. Default 300 000 (client-go's 1 per 5 min). */
  refillMs?: number;
  /** Objects remembered at once; the least recently observed is forgotten first. Default 4096. */
  maxObjects?: number;
}

/** A per-object token bucket of observations. */
export interface EventSpamFilter {
  /** The burst in force (for log lines). */
  readonly burst: number;
  /** The refill period in force, ms (for log lines). */
  readonly refillMs: number;
  /** Takes one observation token of the object's bucket at `at` (ms); false when empty. */
  allow(regarding: EventRegarding, at: number): boolean;
  /** Forgets every object. */
  clear(): void;
}

/**
 * Creates a spam filter.
 *
 * @example
 * ```ts
 * import { createEventSpamFilter } from "./event_spam_filter.ts";
 * const filter = createEventSpamFilter({ burst: 2, refillMs: 1_000 });
 * const node = { apiVersion: "v1", kind: "Node", name: "worker-1" };
 * filter.allow(node, 0); // true
 * filter.allow(node, 0); // true
 * filter.allow(node, 0); // false: the burst is spent
 * filter.allow(node, 1_000); // true: one token refilled
 * ```
 */
export function createEventSpamFilter(
  options: EventSpamFilterOptions = {},
): EventSpamFilter {
  const burst = Math.max(1, options.burst ?? 25);
  const refillMs = Math.max(1, options.refillMs ?? 300_000);
  const maxObjects = Math.max(1, options.maxObjects ?? 4096);
  /** Tokens left at `at` (ms), by object. */
  const buckets = new Map<string, { tokens: number; at: number }>();
  const refilled = (b: { tokens: number; at: number }, at: number) =>
    Math.min(burst, b.tokens + Math.max(0, at - b.at) / refillMs);
  return {
    burst,
    refillMs,
    allow(r, at) {
      const key = JSON.stringify([
        r.apiVersion,
        r.kind,
        r.namespace ?? "",
        r.name,
        r.uid ?? "",
      ]);
      const bucket = buckets.get(key);
      const tokens = bucket ? refilled(bucket, at) : burst;
      if (tokens < 1) return false;
      buckets.delete(key);
      buckets.set(key, { tokens: tokens - 1, at });
      // Least recently observed first: a forgotten object starts a full burst
      // again, which only matters past maxObjects observed at once.
      if (buckets.size > maxObjects) {
        buckets.delete(buckets.keys().next().value!);
      }
      return true;
    },
    clear: () => buckets.clear(),
  };
}
