/**
 * What the API server refuses the approver: its credentials (401) or a
 * permission (403). Each refusal is said once, clearly, as an error naming
 * what is refused and what to check; the daemon is not ready while anything
 * it needs is refused; and once the server allows it again, that is said
 * once too.
 *
 * Apart from the daemon's wiring because it is a small state machine with its
 * own tests: which requests are optional (Events are best effort; the
 * `default/kubernetes` Service only refines the protected IPs) and how a
 * request is named as RBAC names it (`update certificatesigningrequests/approval`).
 *
 * @module
 */
import type { Logger } from "../log.ts";

/** One answer of the API server, as the client reports it. */
export interface ApiAnswer {
  /** HTTP method, or `WATCH` for a watch. */
  method: string;
  /** Request path without the query. */
  path: string;
  status: number;
}

/** Tracks refusals; see the module doc. */
export interface AccessRefusals {
  /** Feeds one answer. */
  observe(answer: ApiAnswer): void;
  /** What is refused now (`credentials`, or `<verb> <resource>`), for readiness. */
  refused(): string[];
}

/** Resources whose refusal costs nothing essential (see the module doc). */
export const OPTIONAL_RESOURCES: ReadonlySet<string> = new Set([
  "events",
  "services",
]);

/**
 * The resource (with its subresource) and object name a request path names:
 * `/api/v1/...` or `/apis/group/version/...`, a `namespaces/<ns>/` prefix
 * skipped. The one parser of API paths for metric labels and refusals.
 *
 * @example
 * ```ts
 * import { pathTarget } from "./access_refusals.ts";
 * pathTarget("/apis/coordination.k8s.io/v1/namespaces/ns/leases/x");
 * // { resource: "leases", name: "x" }
 * ```
 */
export function pathTarget(
  path: string,
): { resource: string; name?: string } {
  const parts = path.split("?")[0].split("/").filter((p) => p !== "");
  let rest = parts[0] === "api" ? parts.slice(2) : parts.slice(3);
  if (rest[0] === "namespaces" && rest.length > 2) rest = rest.slice(2);
  const [resource = "unknown", name, sub] = rest;
  return { resource: sub ? `${resource}/${sub}` : resource, name };
}

/**
 * The RBAC verb and resource of a request: `/api/v1/nodes` GET → list nodes,
 * `/apis/g/v/certificatesigningrequests/csr-1/approval` PUT → update
 * certificatesigningrequests/approval.
 *
 * @example
 * ```ts
 * import { rbacRequest } from "./access_refusals.ts";
 * rbacRequest("PUT", "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval");
 * // { verb: "update", resource: "certificatesigningrequests/approval" }
 * rbacRequest("WATCH", "/api/v1/nodes"); // { verb: "watch", resource: "nodes" }
 * ```
 */
export function rbacRequest(
  method: string,
  path: string,
): { verb: string; resource: string } {
  const { resource, name } = pathTarget(path);
  const verb = method === "WATCH"
    ? "watch"
    : method === "GET"
    ? name === undefined ? "list" : "get"
    : method === "POST"
    ? "create"
    : method === "PUT"
    ? "update"
    : method.toLowerCase();
  return { verb, resource };
}

const CREDENTIALS = "credentials";

/**
 * Starts tracking; `log` receives the error and recovery lines. A refusal
 * not seen again for `options.staleAfterMs` (default 10 min) stops counting.
 *
 * @example
 * ```ts
 * import { trackAccessRefusals } from "./access_refusals.ts";
 * const lines: string[] = [];
 * const log = { error: (m: string) => lines.push(m), warn() {}, info: (m: string) => lines.push(m), debug() {} };
 * const access = trackAccessRefusals(log as never);
 * access.observe({ method: "POST", path: "/apis/authorization.k8s.io/v1/subjectaccessreviews", status: 403 });
 * access.refused(); // ["create subjectaccessreviews"]
 * ```
 */
export function trackAccessRefusals(
  log: Logger,
  optional: ReadonlySet<string> = OPTIONAL_RESOURCES,
  options: { staleAfterMs?: number; now?: () => number } = {},
): AccessRefusals {
  // What is refused, and when it last was. A refusal not seen again within
  // `staleAfterMs` no longer counts: every refused request the daemon needs
  // is retried well within it (lists and watches back off to 30 s, a CSR's
  // reconcile to minutes), so only a request nobody makes any more (its CSR
  // was deleted) goes stale, and it must not keep the daemon unready forever.
  const refused = new Map<string, number>();
  const staleAfterMs = options.staleAfterMs ?? 10 * 60_000;
  const now = options.now ?? Date.now;
  const current = (key: string) => {
    const at = refused.get(key);
    return at !== undefined && now() - at < staleAfterMs;
  };
  return {
    observe({ method, path, status }) {
      const ok = status >= 200 && status < 300;
      if (status === 401) {
        if (!current(CREDENTIALS)) {
          log.error(
            "the API server rejects this client's credentials (401 Unauthorized): check the service-account token or the kubeconfig's credentials; not ready, and nothing is approved until they are accepted",
            { request: `${method} ${path}` },
          );
        }
        refused.set(CREDENTIALS, now());
      } else if (ok && refused.delete(CREDENTIALS)) {
        log.info("the API server accepts this client's credentials again");
      }
      const { verb, resource } = rbacRequest(method, path);
      if (optional.has(resource)) return;
      const key = `${verb} ${resource}`;
      if (status === 403) {
        if (!current(key)) {
          log.error(
            `the API server forbids ${key} (403 Forbidden): the approver's ServiceAccount lacks this RBAC permission (see deploy/base/rbac-approver.yaml); not ready, and nothing is approved while it is refused`,
            { request: `${method} ${path}`, verb, resource },
          );
        }
        refused.set(key, now());
      } else if (ok && refused.delete(key)) {
        log.info(`the API server allows ${key} again`, { verb, resource });
      }
    },
    refused: () => [...refused.keys()].filter(current),
  };
}
