/**
 * The interface every I/O piece uses to speak to the Kubernetes API. The
 * implementation lives in `client.ts`; tests may substitute their own.
 *
 * @module
 */

/** One API request. `path` is absolute (`/apis/...`), `query` is encoded by the client. */
export interface KubeRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Serialized as JSON with `content-type: application/json`. */
  body?: unknown;
  /** Overrides the client's default deadline for this request, in ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Skip the client-side token bucket: the caller keeps its own budget
   * (Event writes), so that these requests never delay the others. A pause
   * after a `429` still applies.
   */
  ownBudget?: boolean;
}

/** A streaming request (a watch): the response body as a stream of lines. */
export interface KubeStreamRequest {
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Deadline for the response headers to arrive, in ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * A small Kubernetes REST client. Every method rejects with `ApiError`
 * (from `client.ts`) on a non-2xx answer, a deadline, or a transport failure.
 */
export interface KubeClient {
  /** Sends one request and parses the JSON answer. */
  request<T = unknown>(req: KubeRequest): Promise<T>;
  /**
   * Opens a streaming GET (a watch) and yields its newline-delimited lines
   * (without the newline). Ends when the server closes the stream; throws
   * `ApiError` on a non-2xx status before the stream starts, or an
   * `AbortError` when `signal` aborts.
   */
  stream(req: KubeStreamRequest): Promise<AsyncIterable<string>>;
  /** Server URL, for logs. */
  readonly server: string;
  /** Releases the HTTP client. */
  close(): void;
  /** The client-side rate limit in force (`qps` 0 = unlimited) and why; clients without one may omit it. */
  rateLimit?(): { mode: string; qps: number; burst: number };
}
