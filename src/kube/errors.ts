/**
 * The error a Kubernetes API request fails with: the HTTP status, the
 * Status object's reason and message, and the request it answered. Its own
 * module so that code handling errors need not import the client.
 *
 * @module
 */

/** Fields of an {@linkcode ApiError}. */
export interface ApiErrorInit {
  method: string;
  path: string;
  /** HTTP status; 0 for a transport failure or a deadline. */
  status: number;
  /** Kubernetes `Status.reason`, or `Transport` / `DeadlineExceeded` / `InvalidResponse`. */
  reason: string;
  /** `Status.message`, or the (shortened) body text, or a transport description. */
  message?: string;
  /** `Status.code`. */
  code?: number;
  /** `Status.details`. */
  details?: unknown;
  /** From the `Retry-After` header, else `Status.details.retryAfterSeconds`. */
  retryAfterSeconds?: number;
  /** The raw response body, when there was one. */
  body?: string;
  cause?: unknown;
}

/**
 * A failed API call: a non-2xx answer (`status` is the HTTP status, `reason`
 * the Kubernetes `Status.reason`), or `status` 0 with `reason`
 * `"Transport"` (connection, TLS, token file) or `"DeadlineExceeded"`.
 * A 2xx answer whose body is not JSON gives `reason` `"InvalidResponse"`.
 *
 * The message reads `GET /path: 409 Conflict: <Status.message>`; for
 * transport failures it includes the whole `cause` chain, because fetch's own
 * message is only "fetch failed" (e.g. `…: invalid peer certificate: UnknownIssuer`).
 *
 * @example
 * ```ts
 * import { ApiError, isApiError } from "./errors.ts";
 * const error = new ApiError({ method: "GET", path: "/api/v1/nodes/x", status: 404, reason: "NotFound" });
 * console.log(isApiError(error, 404), error.message); // true "GET /api/v1/nodes/x: 404 NotFound"
 * ```
 */
export class ApiError extends Error {
  override name = "ApiError";
  status: number;
  reason: string;
  code?: number;
  details?: unknown;
  retryAfterSeconds?: number;
  method: string;
  path: string;
  body?: string;

  constructor(init: ApiErrorInit) {
    super(
      `${init.method} ${init.path}: ${init.status} ${init.reason}${
        init.message ? `: ${init.message}` : ""
      }`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.status = init.status;
    this.reason = init.reason;
    this.code = init.code;
    this.details = init.details;
    this.retryAfterSeconds = init.retryAfterSeconds;
    this.method = init.method;
    this.path = init.path;
    this.body = init.body;
  }
}

/**
 * Whether `e` is an {@linkcode ApiError}, optionally with HTTP `status`.
 *
 * @example
 * ```ts
 * import { ApiError, isApiError } from "./errors.ts";
 * const error: unknown = new ApiError({ method: "GET", path: "/x", status: 404, reason: "NotFound" });
 * if (isApiError(error, 404)) console.log("already deleted");
 * ```
 */
export function isApiError(e: unknown, status?: number): e is ApiError {
  return e instanceof ApiError && (status === undefined || e.status === status);
}
