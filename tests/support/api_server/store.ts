/**
 * The double's "etcd + watch cache": one global revision counter, and per
 * resource a table of immutable objects, a bounded event history (what a
 * watch from a resourceVersion replays) and point-in-time snapshots (what
 * a paginated or exact-RV list reads).
 *
 * Objects are never mutated once stored: every write stores a new object,
 * so snapshots can share them and watchers can serialize them lazily.
 *
 * @module
 */

/**
 * A stored API object.
 *
 * @example
 * ```ts
 * import type { Obj } from "./store.ts";
 * const node: Obj = { apiVersion: "v1", kind: "Node", metadata: { name: "n1" } };
 * ```
 */
export interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    generateName?: string;
    labels?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/**
 * A watch event type of the stored history.
 *
 * @example
 * ```ts
 * import type { EventType } from "./store.ts";
 * const t: EventType = "MODIFIED";
 * ```
 */
export type EventType = "ADDED" | "MODIFIED" | "DELETED";

/**
 * One change, as the watch cache keeps it.
 *
 * @example
 * ```ts
 * import type { HistoryEntry } from "./store.ts";
 * const e: HistoryEntry = { type: "ADDED", rv: 2, key: "n1", object: { metadata: { name: "n1" } } };
 * ```
 */
export interface HistoryEntry {
  type: EventType;
  rv: number;
  key: string;
  /** The new state; for DELETED the last state carrying the deletion RV. */
  object: Obj;
  /** The state before the change (absent for ADDED). */
  prev?: Obj;
  /** Serialized watch lines, by wire format and event type (computed once, shared by all watchers). */
  lines?: Map<string, string>;
}

/**
 * The global revision, shared by every table (etcd's revision).
 *
 * @example
 * ```ts
 * import type { Clock } from "./store.ts";
 * const clock: Clock = { rv: 0 };
 * ```
 */
export interface Clock {
  rv: number;
}

/**
 * Receives every change of a table, synchronously, in order.
 *
 * @example
 * ```ts
 * import type { Subscriber } from "./store.ts";
 * const log: Subscriber = (e) => console.log(e.type, e.key, e.rv);
 * ```
 */
export type Subscriber = (entry: HistoryEntry) => void;

/**
 * One resource's storage.
 *
 * @example
 * ```ts
 * import { createTable, type Table } from "./store.ts";
 * const t: Table = createTable({ rv: 0 }, 10);
 * ```
 */
export interface Table {
  readonly clock: Clock;
  get(key: string): Obj | undefined;
  size(): number;
  /** Adds or replaces; stamps a new resourceVersion; returns the stored object. */
  put(key: string, obj: Obj): Obj;
  /** Deletes; returns the deleted object carrying the deletion RV, or undefined. */
  remove(key: string): Obj | undefined;
  /**
   * The objects at revision `rv`, sorted by key: a retained snapshot, or
   * rebuilt from the history; undefined when neither reaches back that far.
   */
  snapshot(rv: number): Obj[] | undefined;
  /**
   * Keeps a snapshot for later pages of a list (what etcd's MVCC does until
   * compaction): continue tokens stay valid until `compact()`, or until
   * newer paginated lists push it out of a small per-table cache.
   */
  retain(rv: number, objects: Obj[]): void;
  /** Changes after `rv`, or undefined when `rv` is older than the kept history. */
  eventsAfter(rv: number): HistoryEntry[] | undefined;
  /** Every change after this revision is in the history. */
  historyStart(): number;
  /** Forget history and snapshots. */
  compact(): void;
  subscribe(s: Subscriber): () => void;
}

/**
 * Returns the object with its `metadata.resourceVersion` set (a new object).
 *
 * @example
 * ```ts
 * import { withResourceVersion } from "./store.ts";
 * withResourceVersion({ metadata: { name: "a" } }, 7).metadata.resourceVersion; // "7"
 * ```
 */
export function withResourceVersion(obj: Obj, rv: number): Obj {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
}

/** Snapshots kept per table; old ones are rebuilt from history when needed. */
const SNAPSHOT_CACHE = 8;

/**
 * Creates a table.
 *
 * @example
 * ```ts
 * import { createTable } from "./store.ts";
 * const clock = { rv: 0 };
 * const t = createTable(clock, 100);
 * t.put("a", { metadata: { name: "a" } });
 * t.snapshot(clock.rv)?.length; // 1
 * ```
 */
export function createTable(clock: Clock, historyCapacity: number): Table {
  const objects = new Map<string, Obj>();
  let sortedKeys: string[] | null = [];
  let history: HistoryEntry[] = [];
  let head = 0;
  let startRv = clock.rv;
  const snapshots = new Map<number, Obj[]>();
  const subscribers = new Set<Subscriber>();

  function record(entry: HistoryEntry): void {
    history.push(entry);
    while (history.length - head > historyCapacity) {
      startRv = history[head].rv;
      head++;
    }
    // Reclaim the evicted prefix now and then instead of shifting each time.
    if (head > 1024 && head * 2 > history.length) {
      history = history.slice(head);
      head = 0;
    }
    for (const s of [...subscribers]) s(entry);
  }

  function firstAfter(rv: number): number {
    let lo = head;
    let hi = history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (history[mid].rv > rv) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  function currentSorted(): Obj[] {
    if (sortedKeys === null) sortedKeys = [...objects.keys()].sort();
    return sortedKeys.map((k) => objects.get(k)!);
  }

  return {
    clock,
    get: (key) => objects.get(key),
    size: () => objects.size,
    put(key, obj) {
      const rv = ++clock.rv;
      const stored = withResourceVersion(obj, rv);
      const prev = objects.get(key);
      if (prev === undefined) sortedKeys = null;
      objects.set(key, stored);
      record({
        type: prev ? "MODIFIED" : "ADDED",
        rv,
        key,
        object: stored,
        prev,
      });
      return stored;
    },
    remove(key) {
      const prev = objects.get(key);
      if (prev === undefined) return undefined;
      const rv = ++clock.rv;
      const gone = withResourceVersion(prev, rv);
      objects.delete(key);
      sortedKeys = null;
      record({ type: "DELETED", rv, key, object: gone, prev });
      return gone;
    },
    snapshot(rv) {
      const cached = snapshots.get(rv);
      if (cached) return cached;
      if (rv < startRv) return undefined;
      const from = firstAfter(rv);
      let result: Obj[];
      if (from === history.length) {
        result = currentSorted();
      } else {
        // Undo the newer changes, newest first.
        const state = new Map(objects);
        for (let i = history.length - 1; i >= from; i--) {
          const e = history[i];
          if (e.prev === undefined) state.delete(e.key);
          else state.set(e.key, e.prev);
        }
        result = [...state.keys()].sort().map((k) => state.get(k)!);
      }
      return result;
    },
    retain(rv, objects) {
      snapshots.delete(rv);
      snapshots.set(rv, objects);
      if (snapshots.size > SNAPSHOT_CACHE) {
        snapshots.delete(snapshots.keys().next().value!);
      }
    },
    eventsAfter(rv) {
      if (rv < startRv) return undefined;
      return history.slice(firstAfter(rv));
    },
    historyStart: () => startRv,
    compact() {
      history = [];
      head = 0;
      startRv = clock.rv;
      snapshots.clear();
    },
    subscribe(s) {
      subscribers.add(s);
      return () => subscribers.delete(s);
    },
  };
}
