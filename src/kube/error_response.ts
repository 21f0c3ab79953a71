/**
 * Turning a failed answer into an {@linkcode ApiError}: the Kubernetes
 * `Status` body when there is one (reason, message, details), the reason
 * apimachinery gives the HTTP status when there is not (a proxy answered),
 * and `Retry-After` from the header or the details.
 *
 * Apart from the client because these are the API's conventions for
 * errors, read the same way by every request.
 *
 * @module
 */
import { ApiError } from "./errors.ts";
import { errorText } from "../util/error_text.ts";

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

/**
 * `text` on one line (whitespace runs collapsed), cut to `max` characters
 * with "…".
 *
 * @example
 * ```ts
 * import { oneLine } from "./error_response.ts";
 * oneLine("<html>\n  <body>bad gateway</body>"); // "<html> <body>bad gateway</body>"
 * ```
 */
export function oneLine(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/**
 * The messages of an error and all its causes, de-duplicated.
 *
 * @example
 * ```ts
 * import { describeError } from "./error_response.ts";
 * describeError(new Error("fetch failed", { cause: new Error("invalid peer certificate: UnknownIssuer") }));
 * // "fetch failed: invalid peer certificate: UnknownIssuer"
 * ```
 */
export function describeError(error: unknown): string {
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

/**
 * The error a non-2xx `response` to `method path` stands for; reads (and so
 * consumes) the body.
 *
 * @example
 * ```ts
 * import { errorFromResponse } from "./error_response.ts";
 * const e = await errorFromResponse(new Response("busy", { status: 503 }), "GET", "/api/v1/nodes");
 * e.reason; // "ServiceUnavailable"
 * ```
 */
export async function errorFromResponse(
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
