/**
 * A small, generic Kubernetes REST client over `fetch` and
 * `Deno.createHttpClient`: JSON in and out, a per-request deadline, a
 * client-side rate limit, a bearer token re-read after a 401, typed
 * {@linkcode ApiError}s, and newline-delimited streams for watches.
 *
 * This file is the request path (limit, auth, fetch, errors, deadline);
 * its pieces live apart: the HTTP pools (`http_pool.ts`), the deadline
 * (`deadline.ts`), the automatic limit (`apf_limit.ts`), error bodies
 * (`error_response.ts`) and the line reader (`read_lines.ts`).
 *
 * It knows nothing of CSRs or policy.
 *
 * @module
 */
import { createClientRateLimit, type RateLimitInfo } from "./apf_limit.ts";
import { type ClusterConnection, ConfigError } from "./config.ts";
import { type Deadline, startDeadline } from "./deadline.ts";
import { describeError, errorFromResponse, oneLine } from "./error_response.ts";
import { ApiError } from "./errors.ts";
import { createHttpPools, type PoolKind } from "./http_pool.ts";
import { readLines } from "./read_lines.ts";
import type { KubeClient, KubeRequest, KubeStreamRequest } from "./types.ts";

// Callers used to import the error type from here.
export { ApiError, type ApiErrorInit, isApiError } from "./errors.ts";

/** Options of {@linkcode createKubeClient}. */
export interface KubeClientOptions {
  /**
   * Client-side rate limit, requests per second; `<= 0` disables it. When
   * neither `qps` nor `burst` is given the limit is automatic (see
   * `RateLimitMode` in `apf_limit.ts`): 20/30 until a successful answer shows the
   * server's APF headers, then none; it follows every later successful
   * answer, so a server that stops sending them gets 20/30 again.
   */
  qps?: number;
  /** Token-bucket size; default 30 (with `qps` given or automatic). */
  burst?: number;
  /**
   * Called with the limit in force: once at creation, then in automatic
   * mode at its first decision (`decided` true) and whenever the server
   * gains or loses APF.
   */
  onRateLimit?: (info: RateLimitInfo) => void;
  /**
   * Longest shared pause after a `429 Too Many Requests`, in ms (a bogus
   * `Retry-After` must not stop the client for hours). Default 60 000. A 429
   * without `Retry-After` pauses 1 s.
   */
  maxRetryAfterMs?: number;
  /** Default per-request deadline in ms (streams: until the headers). Default 30 000; `<= 0` means none. */
  timeoutMs?: number;
  /** `User-Agent` header. */
  userAgent?: string;
  /** Replaces the global `fetch` (tests). */
  fetch?: typeof fetch;
  /**
   * Observes every HTTP exchange (metrics): the verb as RBAC names it for
   * GETs of streams (`WATCH`), the status code (0 for a transport failure or
   * deadline) and the time to the response headers.
   */
  onResponse?: (
    info: { method: string; path: string; status: number; seconds: number },
  ) => void;
}

/**
 * Builds `server + path + ?query`: booleans become `"true"`/`"false"`,
 * `undefined` values are dropped.
 *
 * @example
 * ```ts
 * import { buildUrl } from "./client.ts";
 * buildUrl("https://k:6443", "/api/v1/nodes", { watch: true, limit: 500, continue: undefined });
 * // "https://k:6443/api/v1/nodes?watch=true&limit=500"
 * ```
 */
export function buildUrl(
  server: string,
  path: string,
  query?: Record<string, string | number | boolean | undefined>,
): string {
  if (!path.startsWith("/")) {
    throw new TypeError(`request path must start with "/"; found "${path}"`);
  }
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined) params.append(key, String(value));
  }
  const search = params.toString();
  return `${server}${path}${search ? `?${search}` : ""}`;
}

/** Refuses a connection this client cannot honour (before any pool is built). */
function checkConnection(connection: ClusterConnection, server: string): void {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new ConfigError(
      `${connection.source}: server: expected an https:// URL, found "${server}"`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(
      `${connection.source}: server: expected an https:// URL, found "${server}"`,
    );
  }
  if (connection.insecureSkipTlsVerify) {
    throw new ConfigError(
      `${connection.source}: insecure-skip-tls-verify is not supported: Deno cannot skip TLS verification for one HTTP client; provide the server's CA`,
    );
  }
  if (Boolean(connection.clientCertPem) !== Boolean(connection.clientKeyPem)) {
    throw new ConfigError(
      `${connection.source}: a client certificate needs both a certificate and a key; found only the ${
        connection.clientCertPem ? "certificate" : "key"
      }`,
    );
  }
}

/** The error a failed request rejects with: the caller's abort reason, an `ApiError` as is, or a deadline or transport `ApiError`. */
function translate(
  error: unknown,
  method: string,
  path: string,
  deadline: Deadline,
  timeoutMs: number,
  caller?: AbortSignal,
): unknown {
  if (caller?.aborted) return caller.reason;
  if (error instanceof ApiError) return error;
  if (deadline.expired()) {
    return new ApiError({
      method,
      path,
      status: 0,
      reason: "DeadlineExceeded",
      message: `no answer within ${timeoutMs} ms`,
      cause: error,
    });
  }
  return new ApiError({
    method,
    path,
    status: 0,
    reason: "Transport",
    message: describeError(error),
    cause: error,
  });
}

/** The lines of a watch body; a break-off becomes a `Transport` `ApiError`. */
async function* streamLines(
  body: ReadableStream<Uint8Array>,
  path: string,
  caller: AbortSignal | undefined,
  deadline: Deadline,
): AsyncGenerator<string, void, undefined> {
  try {
    yield* readLines(body, { signal: caller });
  } catch (error) {
    if (caller?.aborted) throw caller.reason;
    throw new ApiError({
      method: "GET",
      path,
      status: 0,
      reason: "Transport",
      message: `stream broke off: ${describeError(error)}`,
      cause: error,
    });
  } finally {
    deadline.clear();
  }
}

/**
 * Creates a client for `connection`.
 *
 * - Every request and every stream opening first waits for the rate limiter
 *   (`qps`/`burst`, or automatic: see {@linkcode KubeClientOptions.qps}) and
 *   for any pause a `429` with `Retry-After` started (shared by all callers;
 *   the 429 itself is still thrown, for the caller to retry), then sends
 *   `Authorization: Bearer <token>` from `connection.tokenSource`. On a 401
 *   the token source is invalidated and the request is retried once.
 * - Bodies are JSON (`content-type: application/json`; for PATCH
 *   `application/merge-patch+json`, the API server refusing plain JSON patches).
 * - The deadline (`req.timeoutMs ?? options.timeoutMs`) covers the rate-limit
 *   wait, the retry and, for `request()`, reading the body; for `stream()`
 *   only until the response headers. It rejects with `ApiError` status 0
 *   reason `"DeadlineExceeded"`.
 * - When the caller's `signal` aborts, the call rejects with `signal.reason`
 *   (an `AbortError` `DOMException` by default), not an `ApiError`.
 * - An unreadable token file rejects with `ApiError` status 0 reason `"Transport"`.
 * - `stream()` yields lines until the server ends the response. Breaking out
 *   of the `for await` cancels the body; a stream that is never iterated
 *   holds its connection until `signal` aborts. A connection that breaks
 *   mid-stream throws `ApiError` status 0 reason `"Transport"`.
 *
 * @throws {ConfigError} for a malformed server URL, `insecureSkipTlsVerify`
 * (Deno cannot skip TLS verification per client), or unusable TLS material.
 *
 * @example
 * Not run: needs a reachable API server (tests/unit/kube/client_test.ts starts a double).
 * ```ts ignore
 * import { loadClusterConnection } from "./config.ts";
 * import { createKubeClient } from "./client.ts";
 * const client = createKubeClient(await loadClusterConnection(), { userAgent: "my-controller" });
 * const nodes = await client.request<{ items: unknown[] }>({ method: "GET", path: "/api/v1/nodes" });
 * client.close();
 * ```
 */
export function createKubeClient(
  connection: ClusterConnection,
  options: KubeClientOptions = {},
): KubeClient {
  const server = connection.server.replace(/\/+$/, "");
  checkConnection(connection, server);
  const pools = createHttpPools(connection);
  /** Two deadlines in a row retire a pool (see `http_pool.ts`). */
  const timedOut = (kind: PoolKind, error: unknown) => {
    if (error instanceof ApiError && error.reason === "DeadlineExceeded") {
      pools.deadlineExceeded(kind);
    }
  };
  const fetchFn = options.fetch ?? fetch;
  const onResponse = options.onResponse;
  const rateLimit = createClientRateLimit(options);
  const limiter = rateLimit.limiter;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
  const defaultTimeoutMs = options.timeoutMs ?? 30_000;
  const userAgent = options.userAgent ??
    `deno-kube-client (deno/${Deno.version.deno})`;
  const tokenSource = connection.tokenSource;

  /** Sends with rate limit, auth and the single 401 retry; returns a 2xx response or throws. */
  async function exchange(
    method: KubeRequest["method"],
    path: string,
    query: KubeRequest["query"],
    body: string | undefined,
    signal: AbortSignal,
    ownBudget = false,
  ): Promise<Response> {
    const target = buildUrl(server, path, query);
    for (let attempt = 0;; attempt++) {
      await (ownBudget ? limiter.waitPause(signal) : limiter.acquire(signal));
      const headers = new Headers({
        accept: "application/json",
        "user-agent": userAgent,
      });
      if (body !== undefined) {
        headers.set(
          "content-type",
          method === "PATCH"
            ? "application/merge-patch+json"
            : "application/json",
        );
      }
      if (tokenSource) {
        headers.set("authorization", `Bearer ${await tokenSource.token()}`);
      }
      const started = performance.now();
      const observe = (status: number) =>
        onResponse?.({
          method: query?.watch ? "WATCH" : method,
          path,
          status,
          seconds: (performance.now() - started) / 1000,
        });
      let response: Response;
      try {
        response = await fetchFn(target, {
          method,
          headers,
          body,
          signal,
          client: pools.get(query?.watch ? "stream" : "request"),
        });
      } catch (error) {
        observe(0);
        throw error;
      }
      pools.answered(query?.watch ? "stream" : "request");
      observe(response.status);
      if (response.ok) {
        rateLimit.noteAnswer(response.headers);
        return response;
      }
      if (response.status === 429) {
        // The server is overloaded: every caller of this client waits.
        const header = response.headers.get("retry-after")?.trim();
        const seconds = header && /^\d+$/.test(header) ? Number(header) : 1;
        limiter.pauseFor(Math.min(maxRetryAfterMs, seconds * 1000));
      }
      if (response.status === 401 && tokenSource && attempt === 0) {
        // The token may have rotated on disk: re-read it and try once more.
        await response.body?.cancel();
        tokenSource.invalidate();
        continue;
      }
      throw await errorFromResponse(response, method, path);
    }
  }

  return {
    server,

    async request<T = unknown>(req: KubeRequest): Promise<T> {
      const timeoutMs = req.timeoutMs ?? defaultTimeoutMs;
      const deadline = startDeadline(timeoutMs, req.signal);
      try {
        const body = req.body === undefined
          ? undefined
          : JSON.stringify(req.body);
        const response = await exchange(
          req.method,
          req.path,
          req.query,
          body,
          deadline.signal,
          req.ownBudget,
        );
        const text = await response.text();
        if (text.trim() === "") return undefined as T;
        try {
          return JSON.parse(text) as T;
        } catch {
          throw new ApiError({
            method: req.method,
            path: req.path,
            status: response.status,
            reason: "InvalidResponse",
            message: `expected a JSON body, found "${oneLine(text, 80)}"`,
            body: text,
          });
        }
      } catch (error) {
        const translated = translate(
          error,
          req.method,
          req.path,
          deadline,
          timeoutMs,
          req.signal,
        );
        timedOut("request", translated);
        throw translated;
      } finally {
        deadline.clear();
      }
    },

    async stream(req: KubeStreamRequest): Promise<AsyncIterable<string>> {
      const timeoutMs = req.timeoutMs ?? defaultTimeoutMs;
      const deadline = startDeadline(timeoutMs, req.signal);
      let response: Response;
      try {
        response = await exchange(
          "GET",
          req.path,
          req.query,
          undefined,
          deadline.signal,
        );
      } catch (error) {
        const translated = translate(
          error,
          "GET",
          req.path,
          deadline,
          timeoutMs,
          req.signal,
        );
        timedOut(req.query?.watch ? "stream" : "request", translated);
        throw translated;
      } finally {
        // The deadline is for the headers only; a watch then runs as long as the server keeps it.
        deadline.clearTimer();
      }
      if (!response.body) {
        deadline.clear();
        return (async function* () {})();
      }
      return streamLines(response.body, req.path, req.signal, deadline);
    },

    rateLimit: () => rateLimit.info(),

    close: () => pools.close(),
  };
}
