/**
 * A bounded in-memory work queue drained by a few background workers: push
 * never waits (it refuses when full), workers start on a microtask so the
 * caller's stack does no work, and callers can wait, with a time bound, for
 * the queue to go idle.
 *
 * Apart from the Event recorder because it is plain concurrency, with no
 * Kubernetes in it; the recorder decides what an item is and what
 * handling it means.
 *
 * @module
 */

/** Options of {@linkcode createWorkQueue}. */
export interface WorkQueueOptions<T> {
  /** Items waiting at most; `push` refuses beyond. */
  maxQueue: number;
  /** Workers at most. */
  concurrency: number;
  /** Handles one item; should not throw (a rejection ends that worker). */
  handle: (item: T) => Promise<void>;
  /** Workers stop taking items once this returns true. */
  stopped: () => boolean;
}

/** A bounded queue with background workers. */
export interface WorkQueue<T> {
  /** Queues `item` (starting a worker if fewer than `concurrency` run); false when full. */
  push(item: T): boolean;
  /** Resolves when nothing is queued or running, or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void>;
  /** Removes and returns what is queued and not yet started. */
  drain(): T[];
  /** Resolves when every running worker has returned. */
  settled(): Promise<void>;
}

/**
 * Creates a work queue.
 *
 * @example
 * ```ts
 * import { createWorkQueue } from "./work_queue.ts";
 * const done: number[] = [];
 * const queue = createWorkQueue<number>({
 *   maxQueue: 10, concurrency: 2, stopped: () => false,
 *   handle: async (n) => { done.push(n); },
 * });
 * queue.push(1);
 * queue.push(2);
 * await queue.idle(1_000);
 * done.length; // 2
 * ```
 */
export function createWorkQueue<T>(options: WorkQueueOptions<T>): WorkQueue<T> {
  const { maxQueue, concurrency, handle, stopped } = options;
  const queue: T[] = [];
  const workers = new Set<Promise<void>>();
  let active = 0;
  let idleWaiters: (() => void)[] = [];

  const checkIdle = () => {
    if (queue.length > 0 || active > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };

  async function runWorker(): Promise<void> {
    while (!stopped()) {
      const item = queue.shift();
      if (item === undefined) return;
      await handle(item);
    }
  }

  return {
    push(item) {
      if (queue.length >= maxQueue) return false;
      queue.push(item);
      if (active < concurrency) {
        active++;
        // Start on a microtask: the caller's stack does no I/O work at all.
        const worker: Promise<void> = Promise.resolve().then(runWorker)
          .finally(() => {
            workers.delete(worker);
            active--;
            checkIdle();
          });
        workers.add(worker);
      }
      return true;
    },
    idle(timeoutMs) {
      if (queue.length === 0 && active === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          idleWaiters = idleWaiters.filter((w) => w !== done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, timeoutMs));
        idleWaiters.push(done);
      });
    },
    drain: () => queue.splice(0),
    settled: async () => {
      await Promise.allSettled([...workers]);
    },
  };
}
