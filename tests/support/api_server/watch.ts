/**
 * One watch stream: newline-delimited JSON events written to a chunked HTTP
 * body, fed from the table's change feed through a private queue, so a
 * slow reader never blocks writers (past a bound it is closed, like the
 * apiserver's cacher does with unresponsive watchers).
 *
 * @module
 */
import { expired, type Status } from "./status.ts";
import type { HistoryEntry, Obj, Table } from "./store.ts";
import { withResourceVersion } from "./store.ts";
import type { Faults } from "./types.ts";

const encoder = new TextEncoder();

/**
 * The error a dropped stream is aborted with (the server's onError keeps quiet about it).
 *
 * @example
 * ```ts
 * import { DroppedConnection } from "./watch.ts";
 * new DroppedConnection().message; // "connection dropped by the API server double"
 * ```
 */
export class DroppedConnection extends Error {
  override name = "DroppedConnection";
  constructor() {
    super("connection dropped by the API server double");
  }
}

/**
 * What a watch needs to know.
 *
 * @example
 * ```ts
 * import type { WatchOptions } from "./watch.ts";
 * const quiet: Partial<WatchOptions> = { bookmarkIntervalMs: 0, queueLimit: 100 };
 * ```
 */
export interface WatchOptions {
  table: Table;
  /** Namespace, field and label selectors combined. */
  match: (obj: Obj) => boolean;
  /** Converts a stored object to the wire form of the requested API. */
  wire: (obj: Obj) => unknown;
  /** Cache key of `wire` (objects are serialized once per format). */
  wireId: string;
  /** `kind` and `apiVersion` of bookmark objects. */
  kind: string;
  apiVersion: string;
  /** Synthetic ADDED events sent first (RV "" or "0", or sendInitialEvents). */
  initial?: Obj[];
  /** After the initial events, a BOOKMARK annotated `k8s.io/initial-events-end`. */
  initialEndBookmark?: boolean;
  /** Replay changes after this RV, then follow live ones. */
  since: number;
  /** Send this Status as an ERROR event and end (e.g. too old resource version). */
  error?: Status;
  bookmarkIntervalMs: number;
  timeoutMs?: number;
  faults: Faults;
  queueLimit: number;
  onClose: () => void;
}

/**
 * An open watch.
 *
 * @example
 * ```ts
 * import type { WatchStream } from "./watch.ts";
 * const stop = (w: WatchStream) => w.end();
 * ```
 */
export interface WatchStream {
  readonly body: ReadableStream<Uint8Array>;
  /** Ends the stream cleanly (terminating chunk). */
  end(): void;
  /** Aborts the stream (the client sees a broken body). */
  drop(): void;
}

function lineOf(type: string, object: unknown): string {
  return JSON.stringify({ type, object }) + "\n";
}

/**
 * Opens a watch stream. Everything up to the live subscription happens
 * synchronously, so no change can slip between replay and follow.
 *
 * @example
 * ```ts
 * import { openWatch } from "./watch.ts";
 * import { createTable } from "./store.ts";
 * const table = createTable({ rv: 0 }, 100);
 * const w = openWatch({ table, match: () => true, wire: (o) => o, wireId: "x",
 *   kind: "Node", apiVersion: "v1", since: 0, bookmarkIntervalMs: 0,
 *   faults: {}, queueLimit: 1000, onClose() {} });
 * w.end();
 * ```
 */
export function openWatch(o: WatchOptions): WatchStream {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const pending: string[] = [];
  let events = 0;
  let closed = false;
  let unsubscribe: () => void = () => {};
  const timers: ReturnType<typeof setTimeout>[] = [];
  const intervals: ReturnType<typeof setInterval>[] = [];

  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    pull() {
      flush(false);
    },
    cancel() {
      // The client went away.
      cleanup();
    },
  });

  function cleanup(): void {
    if (closed) return;
    closed = true;
    for (const t of timers) clearTimeout(t);
    for (const t of intervals) clearInterval(t);
    unsubscribe();
    pending.length = 0;
    o.onClose();
  }

  function flush(force: boolean): void {
    if (closed || pending.length === 0) return;
    if (!force && (controller.desiredSize ?? 0) <= 0) return;
    const chunk = pending.join("");
    pending.length = 0;
    controller.enqueue(encoder.encode(chunk));
  }

  /** Writes what is queued, then the terminating chunk. */
  function finish(): void {
    if (closed) return;
    flush(true);
    cleanup();
    try {
      controller.close();
    } catch { /* already closed by the reader */ }
  }

  function end(): void {
    if (closed) return;
    cleanup();
    try {
      controller.close();
    } catch { /* already closed */ }
  }

  function drop(): void {
    if (closed) return;
    cleanup();
    try {
      controller.error(new DroppedConnection());
    } catch { /* already closed */ }
  }

  function push(line: string): void {
    pending.push(line);
    if (pending.length > o.queueLimit) {
      // An unresponsive watcher: the cacher terminates it; the client
      // re-watches from its last resourceVersion.
      end();
      return;
    }
    flush(false);
  }

  function emitEvent(line: string): void {
    if (closed) return;
    const f = o.faults;
    if (
      f.watchHalfLineAfterEvents !== undefined &&
      events >= f.watchHalfLineAfterEvents
    ) {
      pending.push(line.slice(0, Math.floor(line.length / 2)));
      finish();
      return;
    }
    events++;
    push(line);
    if (closed) return;
    if (
      f.watchCloseAfterEvents !== undefined && events >= f.watchCloseAfterEvents
    ) {
      finish();
    } else if (
      f.watchExpireAfterEvents !== undefined &&
      events >= f.watchExpireAfterEvents
    ) {
      sendExpired();
    }
  }

  function sendExpired(): void {
    pending.push(
      lineOf(
        "ERROR",
        expired(`too old resource version: ${o.since} (${o.table.clock.rv})`),
      ),
    );
    finish();
  }

  function bookmark(annotations?: Record<string, string>): void {
    if (closed) return;
    const metadata: Record<string, unknown> = {
      resourceVersion: String(o.table.clock.rv),
    };
    if (annotations) metadata.annotations = annotations;
    push(
      lineOf("BOOKMARK", { kind: o.kind, apiVersion: o.apiVersion, metadata }),
    );
  }

  function cachedLine(entry: HistoryEntry, type: string, obj: Obj): string {
    const key = `${o.wireId}|${type}`;
    entry.lines ??= new Map();
    let line = entry.lines.get(key);
    if (line === undefined) {
      line = lineOf(type, o.wire(obj));
      entry.lines.set(key, line);
    }
    return line;
  }

  function offer(e: HistoryEntry): void {
    // The cacher's rules: an object entering the selection is ADDED, one
    // leaving it is DELETED (its previous content at the event's RV).
    const cur = e.type !== "DELETED" && o.match(e.object);
    const old = e.prev !== undefined && o.match(e.prev);
    if (cur && !old) emitEvent(cachedLine(e, "ADDED", e.object));
    else if (cur && old) emitEvent(cachedLine(e, "MODIFIED", e.object));
    else if (!cur && old) {
      const gone = e.type === "DELETED"
        ? e.object
        : withResourceVersion(e.prev!, e.rv);
      emitEvent(cachedLine(e, "DELETED", gone));
    }
  }

  const stream: WatchStream = { body, end, drop };
  if (o.faults.watchStall) return stream;
  if (o.error) {
    pending.push(lineOf("ERROR", o.error));
    finish();
    return stream;
  }
  if (o.faults.watchCloseAfterEvents === 0) {
    finish();
    return stream;
  }
  if (o.faults.watchExpireAfterEvents === 0) {
    sendExpired();
    return stream;
  }
  for (const obj of o.initial ?? []) emitEvent(lineOf("ADDED", o.wire(obj)));
  if (o.initialEndBookmark) bookmark({ "k8s.io/initial-events-end": "true" });
  for (const e of o.table.eventsAfter(o.since) ?? []) offer(e);
  if (closed) return stream;
  unsubscribe = o.table.subscribe(offer);
  if (o.bookmarkIntervalMs > 0) {
    intervals.push(setInterval(() => bookmark(), o.bookmarkIntervalMs));
  }
  if (o.timeoutMs !== undefined) timers.push(setTimeout(end, o.timeoutMs));
  return stream;
}
