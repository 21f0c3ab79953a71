/**
 * Abort-signal plumbing that holds strong references.
 *
 * `AbortSignal.any()` keeps its result alive only weakly: once nothing but a
 * pending fetch refers to it, the garbage collector may take it, and an abort
 * of the source then never reaches the fetch (a watch keeps streaming after
 * shutdown). Forwarding through listeners keeps the target reachable from
 * every source for as long as the link exists.
 *
 * @module
 */

/** A signal that aborts when any source does, until `unlink()`. */
export interface LinkedSignal {
  signal: AbortSignal;
  /** Aborts the linked signal itself. */
  abort(reason?: unknown): void;
  /** Detaches from the sources (call when done, to free the listeners). */
  unlink(): void;
}

/**
 * Links `sources` into one signal.
 *
 * @example
 * ```ts
 * import { linkSignals } from "./abort.ts";
 * const parent = new AbortController();
 * const link = linkSignals(parent.signal);
 * parent.abort();
 * console.log(link.signal.aborted); // true
 * link.unlink();
 * ```
 */
export function linkSignals(
  ...sources: (AbortSignal | undefined)[]
): LinkedSignal {
  const controller = new AbortController();
  const attached: [AbortSignal, () => void][] = [];
  const unlink = () => {
    for (const [s, f] of attached) s.removeEventListener("abort", f);
    attached.length = 0;
  };
  for (const source of sources) {
    if (!source) continue;
    if (source.aborted) {
      controller.abort(source.reason);
      break;
    }
    const forward = () => {
      controller.abort(source.reason);
      unlink();
    };
    source.addEventListener("abort", forward, { once: true });
    attached.push([source, forward]);
  }
  if (controller.signal.aborted) unlink();
  return {
    signal: controller.signal,
    abort: (reason?: unknown) => {
      controller.abort(reason);
      unlink();
    },
    unlink,
  };
}
