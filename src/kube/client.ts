/**
 * A small, generic Kubernetes REST client over `fetch` and
 * `Deno.createHttpClient`: JSON in and out, a per-request deadline, a
 * client-side rate limit, a bearer token re-read after a 401, typed
 * {@linkcode ApiError}s, and newline-delimited streams for watches.
 *
 * It knows nothing of CSRs or policy.
 *
 * @module
 */
import { type ClusterConnection, ConfigError } from "./config.ts";
import { createAdaptiveRateLimiter, type RateLimit } from "./rate_limiter.ts";
import type { KubeClient, KubeRequest, KubeStreamRequest } from "./types.ts";
import { ApiError } from "./errors.ts";
import { errorText } from "../util/error_text.ts";

// Callers used to import the error type from here.
export { ApiError, type ApiErrorInit, isApiError } from "./errors.ts";

/**
 * How the client-side limit was chosen:
 *
 * - `flags`: `qps`/`burst` were given (`qps` 0 = unlimited);
 * - `apf`: neither was given and the server's answers carry API Priority and
 *   Fairness headers: no client-side limit, the server protects itself;
 * - `default`: neither was given and the server's answers carry no APF
 *   headers (or none has been seen yet): {@linkcode FALLBACK_RATE_LIMIT}.
 */
export type RateLimitMode = "flags" | "apf" | "default";

/** The limit in force and why; `qps` 0 means unlimited. */
export interface RateLimitInfo extends RateLimit {
  mode: RateLimitMode;
  /** False only while the automatic mode waits for its first successful answer. */
  decided: boolean;
}

/** client-go's historical defaults, kept when the server has no APF. */
export const FALLBACK_RATE_LIMIT: Readonly<RateLimit> = { qps: 20, burst: 30 };

/** Response headers kube-apiserver's APF filter sets on every request it classifies. */
export const APF_HEADERS = [
  "x-kubernetes-pf-flowschema-uid",
  "x-kubernetes-pf-prioritylevel-uid",
] as const;

/** Whether a response went through API Priority and Fairness. */
export function hasApfHeaders(headers: Headers): boolean {
  return APF_HEADERS.some((h) => headers.has(h));
}

/** Options of {@linkcode createKubeClient}. */
export interface KubeClientOptions {
  /**
   * Client-side rate limit, requests per second; `<= 0` disables it. When
   * neither `qps` nor `burst` is given the limit is automatic (see
   * {@linkcode RateLimitMode}): 20/30 until a successful answer shows the
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

const STATUS_REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  406: "NotAcceptable",
  409: "Conflict",
  410: "Gone",
  413: "RequestEntityTooLarge",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/** The reason Kubernetes' apimachinery gives an HTTP status when the body carries no `Status`. */
function reasonForStatus(status: number): string {
  return STATUS_REASONS[status] ??
    (status >= 500 ? "InternalError" : "Unknown");
}

function oneLine(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** The messages of an error and all its causes, de-duplicated: `fetch failed: invalid peer certificate: UnknownIssuer`. */
function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (
    let depth = 0;
    current !== undefined && current !== null && depth < 8;
    depth++
  ) {
    const text = errorText(current);
    if (text && !parts.includes(text)) parts.push(text);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(": ") || "unknown error";
}

interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { retryAfterSeconds?: number; [key: string]: unknown };
}

function parseStatus(text: string): KubeStatus | undefined {
  try {
    const value = JSON.parse(text);
    if (
      typeof value === "object" && value !== null &&
      (value.kind === "Status" || value.status === "Failure")
    ) return value as KubeStatus;
  } catch {
    // Not JSON: a proxy or load balancer answered; the text is kept as the message.
  }
  return undefined;
}

async function errorFromResponse(
  response: Response,
  method: string,
  path: string,
): Promise<ApiError> {
  let text = "";
  try {
    text = await response.text();
  } catch {
    // The body broke off; the status alone still says what happened.
  }
  const status = parseStatus(text);
  const header = response.headers.get("retry-after");
  const headerSeconds = header !== null && /^\d+$/.test(header.trim())
    ? Number(header.trim())
    : undefined;
  const detailSeconds = typeof status?.details?.retryAfterSeconds === "number"
    ? status.details.retryAfterSeconds
    : undefined;
  return new ApiError({
    method,
    path,
    status: response.status,
    reason: status?.reason || reasonForStatus(response.status),
    message: status ? status.message : oneLine(text) || response.statusText,
    code: status?.code,
    details: status?.details,
    retryAfterSeconds: headerSeconds ?? detailSeconds,
    body: text || undefined,
  });
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

/** Options of {@linkcode readLines}. */
export interface ReadLinesOptions {
  /** A line longer than this many UTF-16 code units is an error. Default 64 Mi. */
  maxLineLength?: number;
  /**
   * Stops reading when this aborts, even if the underlying fetch does not
   * notice the abort (seen with several watches sharing one HTTP/2
   * connection): the pending read is abandoned and the stream cancelled.
   */
  signal?: AbortSignal;
}

/**
 * Splits a byte stream into lines on `"\n"`, decoding UTF-8 across chunk
 * boundaries (a character may be split anywhere). A trailing `"\r"` is
 * dropped, empty lines are skipped, and a last line without a newline is
 * still yielded. If the consumer stops early, the stream is cancelled.
 *
 * @example
 * ```ts
 * import { readLines } from "./client.ts";
 * const body = ReadableStream.from([new TextEncoder().encode("a\nb")]);
 * for await (const line of readLines(body)) console.log(line); // "a", "b"
 * ```
 */
export async function* readLines(
  body: ReadableStream<Uint8Array>,
  options: ReadLinesOptions = {},
): AsyncGenerator<string, void, undefined> {
  const maxLineLength = options.maxLineLength ?? 64 * 1024 * 1024;
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  // Pieces of the current line; joined once when its newline arrives, so a
  // long line split in many chunks costs linear time.
  const parts: string[] = [];
  let partsLength = 0;
  let finished = false;
  const signal = options.signal;
  // Abort cancels the reader, which settles a pending read(). Racing each
  // read against one long-lived promise instead would pile one reaction per
  // chunk (holding that chunk) onto it for the whole life of the watch.
  const reason = () =>
    signal?.reason ?? new DOMException("aborted", "AbortError");
  const onAbort = () => {
    reader.cancel(reason()).catch(() => {});
  };
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  const take = (tail: string): string => {
    parts.push(tail);
    const line = parts.join("");
    parts.length = 0;
    partsLength = 0;
    return line.endsWith("\r") ? line.slice(0, -1) : line;
  };
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (signal?.aborted) throw reason();
      if (done) break;
      let start = 0;
      let newline = value.indexOf("\n");
      while (newline !== -1) {
        const line = take(value.slice(start, newline));
        if (line.length > maxLineLength) {
          throw new RangeError(
            `stream line longer than ${maxLineLength} characters`,
          );
        }
        if (line !== "") yield line;
        start = newline + 1;
        newline = value.indexOf("\n", start);
      }
      if (start < value.length) {
        parts.push(value.slice(start));
        partsLength += value.length - start;
        if (partsLength > maxLineLength) {
          throw new RangeError(
            `stream line longer than ${maxLineLength} characters`,
          );
        }
      }
    }
    finished = true;
    const last = take("");
    if (last !== "") yield last;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

interface Deadline {
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
 */
function startDeadline(ms: number, caller?: AbortSignal): Deadline {
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
  let httpClient: Deno.HttpClient;
  let streamClient: Deno.HttpClient;
  let make: () => Deno.HttpClient;
  try {
    const tls: Deno.CreateHttpClientOptions = connection.caPem
      ? { caCerts: [connection.caPem] }
      : {};
    make = () =>
      connection.clientCertPem && connection.clientKeyPem
        ? Deno.createHttpClient({
          ...tls,
          cert: connection.clientCertPem,
          key: connection.clientKeyPem,
        })
        : Deno.createHttpClient(tls);
    httpClient = make();
    // Watches get their own connection: multiplexed with requests on one
    // HTTP/2 connection, their small frames hold requests back (Nagle's
    // algorithm is on in Deno's fetch, and the peer delays its ACKs).
    streamClient = make();
  } catch (error) {
    throw new ConfigError(
      `${connection.source}: unusable TLS material: ${describeError(error)}`,
    );
  }

  // Deno's HTTP/2 pool has no PING health check: a connection that went
  // silent without closing (packets dropped) keeps taking new requests, each
  // ending at its deadline. Two deadlines in a row with no answer between
  // them retire the pool: the next request dials afresh (client-go pings and
  // closes such a connection for the same reason).
  const deadlinesInARow = { request: 0, stream: 0 };
  const answered = (kind: "request" | "stream") => deadlinesInARow[kind] = 0;
  const timedOut = (kind: "request" | "stream", error: unknown) => {
    if (
      closed || !(error instanceof ApiError) ||
      error.reason !== "DeadlineExceeded"
    ) return;
    if (++deadlinesInARow[kind] < 2) return;
    deadlinesInARow[kind] = 0;
    const old = kind === "request" ? httpClient : streamClient;
    try {
      if (kind === "request") httpClient = make();
      else streamClient = make();
    } catch {
      return; // keep the old pool rather than none
    }
    old.close();
  };

  const fetchFn = options.fetch ?? fetch;
  const onResponse = options.onResponse;
  const automatic = options.qps === undefined && options.burst === undefined;
  let limitInfo: RateLimitInfo = automatic
    ? { mode: "default", ...FALLBACK_RATE_LIMIT, decided: false }
    : {
      mode: "flags",
      qps: Math.max(0, options.qps ?? FALLBACK_RATE_LIMIT.qps),
      burst: options.burst ?? FALLBACK_RATE_LIMIT.burst,
      decided: true,
    };
  const limiter = createAdaptiveRateLimiter(limitInfo);
  options.onRateLimit?.({ ...limitInfo });
  let apfSeen: boolean | undefined;
  /** Automatic mode: follow what each successful answer says about APF. */
  const noteApf = (response: Response) => {
    if (!automatic) return;
    const apf = hasApfHeaders(response.headers);
    if (apf === apfSeen) return;
    apfSeen = apf;
    limitInfo = apf
      ? { mode: "apf", qps: 0, burst: 0, decided: true }
      : { mode: "default", ...FALLBACK_RATE_LIMIT, decided: true };
    limiter.setLimit(limitInfo);
    options.onRateLimit?.({ ...limitInfo });
  };
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
  const defaultTimeoutMs = options.timeoutMs ?? 30_000;
  const userAgent = options.userAgent ??
    `deno-kube-client (deno/${Deno.version.deno})`;
  const tokenSource = connection.tokenSource;
  let closed = false;

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
          client: query?.watch ? streamClient : httpClient,
        });
      } catch (error) {
        observe(0);
        throw error;
      }
      answered(query?.watch ? "stream" : "request");
      observe(response.status);
      if (response.ok) {
        noteApf(response);
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

    rateLimit: () => ({ ...limitInfo }),

    close() {
      if (closed) return;
      closed = true;
      httpClient.close();
      streamClient.close();
    },
  };
}
