/**
 * A client-side token-bucket rate limiter, like client-go's
 * `flowcontrol.NewTokenBucketRateLimiter(qps, burst)`: it keeps one process
 * from flooding the API server when many CSRs arrive at once.
 *
 * @module
 */

import { abortableSleep } from "../util/sleep.ts";

/** Waits for the rate limiter; see {@linkcode createRateLimiter}. */
export interface RateLimiter {
  /**
   * Resolves when the caller may send one request. Rejects with
   * `signal.reason` (an `AbortError` by default) if `signal` aborts first;
   * the reserved slot is then given back.
   */
  acquire(signal?: AbortSignal): Promise<void>;
}

/** Sleeps `ms` milliseconds, rejecting with `signal.reason` on abort. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Re-exported from `src/util/sleep.ts`, where it lives. */
export { abortableSleep };

/**
 * Creates a token bucket holding up to `burst` tokens, refilled at `qps`
 * tokens per second. Each `acquire()` takes one token; when none is left it
 * *reserves* the next one (the bucket goes negative) and sleeps until that
 * token's time, so concurrent callers are served first come, first served.
 * `qps <= 0` means unlimited.
 *
 * `now` (ms, default `Date.now`) and `sleep` are injectable for tests.
 *
 * @throws {RangeError} when `qps > 0` and `burst` is not at least 1.
 *
 * @example
 * ```ts
 * import { createRateLimiter } from "./rate_limiter.ts";
 * const limiter = createRateLimiter(20, 30);
 * await limiter.acquire(); // immediate: the bucket starts full
 * ```
 */
export function createRateLimiter(
  qps: number,
  burst: number,
  now: () => number = Date.now,
  sleep: Sleep = abortableSleep,
): RateLimiter {
  if (!(qps > 0)) {
    return {
      acquire(signal) {
        return signal?.aborted
          ? Promise.reject(signal.reason)
          : Promise.resolve();
      },
    };
  }
  if (!(burst >= 1) || !Number.isFinite(burst)) {
    throw new RangeError(
      `rate limiter burst must be a finite number >= 1 when qps > 0; found ${burst}`,
    );
  }
  let tokens = Math.floor(burst);
  let last = now();

  function refill(): void {
    const t = now();
    // A clock that goes backwards must not mint tokens.
    if (t > last) {
      tokens = Math.min(Math.floor(burst), tokens + ((t - last) * qps) / 1000);
      last = t;
    }
  }

  return {
    async acquire(signal) {
      signal?.throwIfAborted();
      refill();
      tokens -= 1;
      if (tokens >= 0) return;
      const waitMs = (-tokens * 1000) / qps;
      try {
        await sleep(waitMs, signal);
      } catch (error) {
        // Give the reservation back so an aborted caller does not slow others.
        tokens += 1;
        throw error;
      }
    },
  };
}

/** The client-side limit in force: `qps` 0 means unlimited. */
export interface RateLimit {
  qps: number;
  burst: number;
}

/**
 * A limiter whose limit can change while it runs, with a pause shared by
 * every caller: see {@linkcode createAdaptiveRateLimiter}.
 */
export interface AdaptiveRateLimiter extends RateLimiter {
  /** Replaces the token bucket (`qps <= 0`: unlimited); the new bucket starts full. */
  setLimit(limit: RateLimit): void;
  /** The limit in force. */
  limit(): RateLimit;
  /**
   * Holds back every `acquire()` (of every caller) until `ms` from now, or
   * later if a longer pause is already in force: a server's `Retry-After`.
   */
  pauseFor(ms: number): void;
  /** Milliseconds left of the shared pause (0 when none). */
  pausedMs(): number;
  /** Waits out the shared pause only, taking no token (callers with their own budget). */
  waitPause(signal?: AbortSignal): Promise<void>;
}

/**
 * A token bucket whose limit may be changed later (the API server's flow
 * control is discovered from its first answers) and which every caller
 * waits on together when the server says `429 Too Many Requests`: one
 * `pauseFor(retryAfterMs)` pauses the whole client, so an overloaded server
 * sees it slow down instead of each worker retrying on its own.
 *
 * `now` (ms) and `sleep` are injectable for tests.
 *
 * @example
 * ```ts
 * import { createAdaptiveRateLimiter } from "./rate_limiter.ts";
 * const limiter = createAdaptiveRateLimiter({ qps: 20, burst: 30 });
 * await limiter.acquire();
 * limiter.setLimit({ qps: 0, burst: 0 }); // unlimited
 * limiter.pauseFor(1000); // every acquire() now waits ~1 s
 * ```
 */
export function createAdaptiveRateLimiter(
  initial: RateLimit,
  now: () => number = Date.now,
  sleep: Sleep = abortableSleep,
): AdaptiveRateLimiter {
  let current: RateLimit = { ...initial };
  let bucket = createRateLimiter(current.qps, current.burst, now, sleep);
  let pausedUntil = 0;
  const waitPause = async (signal?: AbortSignal) => {
    signal?.throwIfAborted();
    // A pause may be extended while we sleep: wait until it has passed.
    for (let left = pausedUntil - now(); left > 0; left = pausedUntil - now()) {
      await sleep(left, signal);
    }
  };
  return {
    async acquire(signal) {
      await waitPause(signal);
      await bucket.acquire(signal);
    },
    waitPause,
    setLimit(limit) {
      const qps = limit.qps > 0 ? limit.qps : 0;
      const burst = qps > 0 ? limit.burst : 0;
      if (qps === current.qps && burst === current.burst) return;
      bucket = createRateLimiter(qps, burst, now, sleep);
      current = { qps, burst };
    },
    limit: () => ({ ...current }),
    pauseFor(ms) {
      if (!(ms > 0)) return;
      pausedUntil = Math.max(pausedUntil, now() + ms);
    },
    pausedMs: () => Math.max(0, pausedUntil - now()),
  };
}
