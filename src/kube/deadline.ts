/**
 * A request's deadline: a timer combined with the caller's signal, telling
 * afterwards whether the deadline (not the caller) ended the request, so the
 * client can answer `DeadlineExceeded` rather than an abort.
 *
 * Apart from the client because the way the caller's abort is forwarded
 * (a listener, not `AbortSignal.any()`) is a lesson of its own.
 *
 * @module
 */

/** A running deadline. */
export interface Deadline {
  signal: AbortSignal;
  expired(): boolean;
  /** Stops the timer only (a stream outlives its header deadline). */
  clearTimer(): void;
  /** Stops the timer and detaches from the caller's signal. */
  clear(): void;
}

/**
 * A timer-based deadline combined with the caller's signal. The caller's
 * abort is forwarded by a listener rather than `AbortSignal.any()`, whose
 * result is held only weakly: collected mid-watch, it would never abort.
 * `ms <= 0` means no timer.
 *
 * @example
 * ```ts
 * import { startDeadline } from "./deadline.ts";
 * const deadline = startDeadline(5_000);
 * deadline.expired(); // false
 * deadline.clear();
 * ```
 */
export function startDeadline(ms: number, caller?: AbortSignal): Deadline {
  const controller = new AbortController();
  let expired = false;
  const timer = ms > 0
    ? setTimeout(() => {
      expired = true;
      controller.abort(
        new DOMException(`deadline of ${ms} ms exceeded`, "TimeoutError"),
      );
    }, ms)
    : undefined;
  const forward = () => controller.abort(caller?.reason);
  if (caller?.aborted) forward();
  else caller?.addEventListener("abort", forward, { once: true });
  return {
    signal: controller.signal,
    expired: () => expired,
    clearTimer: () => clearTimeout(timer),
    clear: () => {
      clearTimeout(timer);
      caller?.removeEventListener("abort", forward);
    },
  };
}
