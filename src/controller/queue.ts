/**
 * A rate-limited work queue in the manner of client-go's workqueue: keys are
 * deduplicated, a key is never processed by two workers at once, a key added
 * while it is being processed runs again afterwards, and failures are retried
 * with per-key exponential backoff.
 *
 * @module
 */

/** What a processing function asks of the queue afterwards. */
export type ProcessResult =
  | void
  | { requeueAfterMs: number }
  | { retry: true; error?: unknown; retryAfterMs?: number };

/** Options of {@linkcode createWorkQueue}. */
export interface WorkQueueOptions {
  /** Processes one key. A throw is a transient failure: retried with backoff. */
  process: (key: string) => Promise<ProcessResult>;
  /** Parallel workers. Default 4. */
  concurrency?: number;
  /** First retry delay. Default 500 ms. */
  baseDelayMs?: number;
  /** Cap on the retry delay. Default 5 minutes. */
  maxDelayMs?: number;
  /** Called when a key failed and will be retried after `delayMs`. */
  onRetry?: (
    key: string,
    error: unknown,
    delayMs: number,
    attempt: number,
  ) => void;
}

/** The queue's handle. */
export interface WorkQueue {
  /** Queues `key` now (no-op if already queued). */
  add(key: string): void;
  /** Queues `key` after `ms` milliseconds. */
  addAfter(key: string, ms: number): void;
  /** Number of keys queued or waiting for a timer (not those in flight). */
  readonly length: number;
  /** Number of keys being processed right now. */
  readonly inFlight: number;
  /** Resolves when nothing is queued, delayed or in flight. */
  idle(): Promise<void>;
  /**
   * Stops taking work: timers are cleared, queued keys dropped, and the
   * returned promise resolves once in-flight work finished or `timeoutMs` passed.
   */
  shutdown(timeoutMs?: number): Promise<void>;
}

/**
 * Creates and starts a work queue.
 *
 * @example
 * ```ts
 * import { createWorkQueue } from "./queue.ts";
 * const seen: string[] = [];
 * const q = createWorkQueue({ process: async (k) => { seen.push(k); } });
 * q.add("csr-1");
 * q.add("csr-1"); // deduplicated
 * await q.idle();
 * await q.shutdown();
 * ```
 */
export function createWorkQueue(options: WorkQueueOptions): WorkQueue {
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const baseDelay = options.baseDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 300_000;
  const queue: string[] = [];
  let head = 0;
  const dirty = new Set<string>();
  const processing = new Set<string>();
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const failures = new Map<string, number>();
  let stopped = false;
  let wake: (() => void) | undefined;
  let idleWaiters: (() => void)[] = [];
  const running: Promise<void>[] = [];

  const checkIdle = () => {
    if (
      queue.length - head === 0 && processing.size === 0 && timers.size === 0
    ) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    }
  };

  const add = (key: string) => {
    if (stopped || dirty.has(key)) return;
    dirty.add(key);
    if (processing.has(key)) return;
    queue.push(key);
    wake?.();
  };

  const addAfter = (key: string, ms: number) => {
    if (stopped) return;
    if (ms <= 0) return add(key);
    const existing = timers.get(key);
    if (existing !== undefined) clearTimeout(existing);
    timers.set(
      key,
      setTimeout(() => {
        timers.delete(key);
        add(key);
        checkIdle();
      }, ms),
    );
  };

  const take = (): string | undefined => {
    if (head >= queue.length) return undefined;
    const key = queue[head++];
    if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    return key;
  };

  const worker = async () => {
    while (!stopped) {
      const key = take();
      if (key === undefined) {
        checkIdle();
        await new Promise<void>((r) => {
          const prev = wake;
          wake = () => {
            wake = undefined;
            prev?.();
            r();
          };
        });
        continue;
      }
      dirty.delete(key);
      processing.add(key);
      let result: ProcessResult;
      try {
        result = await options.process(key);
      } catch (error) {
        result = { retry: true, error };
      }
      processing.delete(key);
      if (result && "retry" in result) {
        const attempt = (failures.get(key) ?? 0) + 1;
        failures.set(key, attempt);
        const backoff = Math.min(maxDelay, baseDelay * 2 ** (attempt - 1));
        const delay = Math.max(backoff, result.retryAfterMs ?? 0);
        options.onRetry?.(key, result.error, delay, attempt);
        addAfter(key, delay);
      } else {
        failures.delete(key);
        if (result && "requeueAfterMs" in result) {
          addAfter(key, result.requeueAfterMs);
        }
      }
      if (dirty.has(key) && !stopped) {
        queue.push(key);
      }
      checkIdle();
    }
  };

  for (let i = 0; i < concurrency; i++) running.push(worker());

  return {
    add,
    addAfter,
    get length() {
      return queue.length - head + timers.size;
    },
    get inFlight() {
      return processing.size;
    },
    idle() {
      return new Promise<void>((r) => {
        idleWaiters.push(r);
        checkIdle();
      });
    },
    async shutdown(timeoutMs = 5_000) {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      queue.length = 0;
      head = 0;
      dirty.clear();
      // Wake every sleeping worker so it sees `stopped`.
      for (let i = 0; i < concurrency; i++) wake?.();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(running),
        new Promise<void>((r) => timer = setTimeout(r, timeoutMs)),
      ]);
      clearTimeout(timer);
      checkIdle();
    },
  };
}
