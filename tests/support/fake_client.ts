/**
 * A scripted `KubeClient` for unit tests of what sits on the client (the
 * reflector, the Node cache, the controller, API service discovery): every
 * request is recorded and answered by a handler, every watch is a stream the
 * test drives event by event. No sockets, no timers: what a test sees
 * depends only on what it sends.
 *
 * @module
 */
import { ApiError } from "../../src/kube/errors.ts";
import type {
  KubeClient,
  KubeRequest,
  KubeStreamRequest,
} from "../../src/kube/types.ts";

/** One watch the client under test opened. */
export interface FakeWatch {
  /** What the caller asked for (path, query with resourceVersion, ...). */
  request: KubeStreamRequest;
  /** Streams one watch event (serialized as the API server does). */
  send(type: string, object: unknown): void;
  /** Streams one raw line (for malformed input). */
  sendLine(line: string): void;
  /** Ends the stream cleanly, as the server's timeout does. */
  end(): void;
  /** Breaks the stream with `error`. */
  fail(error: unknown): void;
  /** True once the consumer stopped reading (ended, failed or aborted). */
  closed(): boolean;
}

/** Options of {@linkcode createFakeClient}. */
export interface FakeClientOptions {
  /** Answers `request()`; throw (e.g. {@linkcode apiError}) to fail it. */
  handle?: (req: KubeRequest) => unknown | Promise<unknown>;
  /** Runs before a watch opens; throw to refuse it (a 410 at open, say). */
  beforeWatch?: (req: KubeStreamRequest) => void | Promise<void>;
}

/** A {@linkcode KubeClient} with what it was asked. */
export interface FakeClient extends KubeClient {
  /** Every `request()` in order. */
  requests: KubeRequest[];
  /** Every watch opened, in order. */
  watches: FakeWatch[];
  /** The next watch not yet taken by an earlier call; waits for it to open. */
  nextWatch(timeoutMs?: number): Promise<FakeWatch>;
}

type Item = { line: string } | { end: true } | { error: unknown };

/**
 * Creates the fake client.
 *
 * @example
 * ```ts ignore
 * import { createFakeClient, listOf } from "./fake_client.ts";
 * const client = createFakeClient({ handle: () => listOf([], "1") });
 * const watch = await client.nextWatch();
 * watch.send("ADDED", { metadata: { name: "a", resourceVersion: "2" } });
 * ```
 */
export function createFakeClient(options: FakeClientOptions = {}): FakeClient {
  const requests: KubeRequest[] = [];
  const watches: FakeWatch[] = [];
  let taken = 0;
  let opened: (() => void) | undefined;

  const openWatch = (req: KubeStreamRequest): AsyncIterable<string> => {
    const items: Item[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const push = (item: Item) => {
      items.push(item);
      wake?.();
    };
    const watch: FakeWatch = {
      request: req,
      send: (type, object) => push({ line: JSON.stringify({ type, object }) }),
      sendLine: (line) => push({ line }),
      end: () => push({ end: true }),
      fail: (error) => push({ error }),
      closed: () => done,
    };
    watches.push(watch);
    opened?.();
    async function* lines(): AsyncGenerator<string> {
      const onAbort = () => wake?.();
      req.signal?.addEventListener("abort", onAbort);
      try {
        while (true) {
          if (req.signal?.aborted) {
            throw new DOMException("The watch was aborted", "AbortError");
          }
          const item = items.shift();
          if (!item) {
            await new Promise<void>((r) => wake = r);
            wake = undefined;
            continue;
          }
          if ("end" in item) return;
          if ("error" in item) throw item.error;
          yield item.line;
        }
      } finally {
        done = true;
        req.signal?.removeEventListener("abort", onAbort);
      }
    }
    return lines();
  };

  return {
    server: "https://fake.invalid",
    requests,
    watches,
    async request<T>(req: KubeRequest): Promise<T> {
      requests.push(req);
      return await options.handle?.(req) as T;
    },
    async stream(req) {
      await options.beforeWatch?.(req);
      return openWatch(req);
    },
    async nextWatch(timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (watches.length <= taken) {
        if (Date.now() > deadline) {
          throw new Error(`no watch #${taken + 1} within ${timeoutMs}ms`);
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((r) => {
          opened = r;
          timer = setTimeout(r, 10);
        });
        clearTimeout(timer);
        opened = undefined;
      }
      return watches[taken++];
    },
    close() {},
  };
}

/**
 * An {@linkcode ApiError} as the client throws for an answer with `status`.
 *
 * @example
 * ```ts
 * import { apiError } from "./fake_client.ts";
 * const expired = apiError(410, "Expired"); // throw it from a handler
 * expired.status; // 410
 * ```
 */
export function apiError(
  status: number,
  reason: string,
  path = "/fake",
): ApiError {
  return new ApiError({ method: "GET", path, status, reason, code: status });
}

/**
 * One page of a list answer.
 *
 * @example
 * ```ts
 * import { listOf } from "./fake_client.ts";
 * const node = { metadata: { name: "worker-1" } };
 * listOf([node], "42", "next-page-token").metadata; // { resourceVersion: "42", continue: "next-page-token" }
 * ```
 */
export function listOf<T>(
  items: T[],
  resourceVersion: string,
  continueToken?: string,
): { metadata: { resourceVersion: string; continue?: string }; items: T[] } {
  return {
    metadata: {
      resourceVersion,
      ...(continueToken ? { continue: continueToken } : {}),
    },
    items,
  };
}
