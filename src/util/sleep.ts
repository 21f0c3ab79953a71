/**
 * Sleeps that stop early when an `AbortSignal` aborts and leave no timer or
 * listener behind (so the test sanitizers see no leak). Deno-only timers,
 * nothing from the project.
 *
 * @module
 */

/**
 * Resolves `true` after `ms` milliseconds, or `false` as soon as `signal`
 * aborts (at once if it already has). Never rejects. A negative `ms` waits
 * no time.
 *
 * @example
 * ```ts
 * import { sleep } from "./sleep.ts";
 * const stop = new AbortController();
 * await sleep(1, stop.signal); // true: the time passed
 * stop.abort();
 * await sleep(60_000, stop.signal); // false, at once
 * ```
 */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, Math.max(0, ms));
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Resolves after `ms` milliseconds; rejects with `signal.reason` if `signal`
 * aborts first (at once if it already has). The rate limiter's default
 * sleep, where an abort must unwind the caller.
 *
 * @example
 * ```ts
 * import { abortableSleep } from "./sleep.ts";
 * await abortableSleep(1);
 * const stop = new AbortController();
 * stop.abort(new Error("stopped"));
 * await abortableSleep(60_000, stop.signal).catch((e) => e.message); // "stopped"
 * ```
 */
export function abortableSleep(
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
