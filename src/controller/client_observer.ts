/**
 * What the daemon observes of its Kubernetes client: a metric per request
 * (verb, resource, code, latency), the client-side rate limit in force and
 * how it was chosen (logged once when decided, warned when it changes), and
 * credentials the API server refuses (said once, and once when accepted
 * again).
 *
 * Apart from the daemon's wiring because these are the client's hooks
 * (`onResponse`, `onRateLimit`) filled with this project's metric names and
 * messages; `src/kube/` stays free of both.
 *
 * @module
 */
import type { RateLimitInfo } from "../kube/apf_limit.ts";
import type { KubeClientOptions } from "../kube/client.ts";
import type { Logger } from "../log.ts";
import {
  type AccessRefusals,
  pathTarget,
  trackAccessRefusals,
} from "./access_refusals.ts";
import type { Registry } from "../metrics.ts";

/** The client hooks {@linkcode createClientObserver} fills, and what the answers refused. */
export type ClientObserver =
  & Required<Pick<KubeClientOptions, "onResponse" | "onRateLimit">>
  & Pick<AccessRefusals, "refused">;

/**
 * The resource (and subresource) a request path names, for metric labels.
 *
 * @example
 * ```ts
 * import { resourceOf } from "./client_observer.ts";
 * resourceOf("/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval");
 * // "certificatesigningrequests/approval"
 * resourceOf("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x"); // "leases"
 * ```
 */
export function resourceOf(path: string): string {
  return pathTarget(path).resource;
}

/** Why the automatic mode chose its limit, for the log line. */
function whyLimit(limit: RateLimitInfo): Record<string, string> {
  if (limit.mode === "apf") {
    return { why: "the API server sends X-Kubernetes-PF-* headers" };
  }
  if (limit.mode === "default") {
    return { why: "the API server sends no X-Kubernetes-PF-* headers" };
  }
  return {};
}

/**
 * Registers the client's metrics on `registry` and returns the hooks to
 * pass to `createKubeClient`.
 *
 * @example
 * ```ts
 * import { createLogger } from "../log.ts";
 * import { createRegistry } from "../metrics.ts";
 * import { createClientObserver } from "./client_observer.ts";
 * const registry = createRegistry();
 * const observe = createClientObserver(registry, createLogger({ write: () => {} }));
 * observe.onResponse({ method: "GET", path: "/api/v1/nodes", status: 200, seconds: 0.01 });
 * registry.render(); // …api_requests_total{code="200",resource="nodes",verb="GET"} 1…
 * ```
 */
export function createClientObserver(
  registry: Registry,
  log: Logger,
): ClientObserver {
  const apiRequests = registry.counter(
    "kubelet_rubber_stamp_api_requests_total",
    "Requests to the Kubernetes API, by verb, resource and status code (0: no answer).",
  );
  const apiLatency = registry.histogram(
    "kubelet_rubber_stamp_api_request_duration_seconds",
    "Time to the API server's response headers, by verb and resource.",
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
  const limitQps = registry.gauge(
    "kubelet_rubber_stamp_client_rate_limit_qps",
    "Client-side limit of API requests per second in force; 0 = unlimited.",
  );
  const limitMode = registry.gauge(
    "kubelet_rubber_stamp_client_rate_limit_mode",
    "1 for how the client-side limit was chosen (flags: --kube-api-qps/--kube-api-burst; apf: none, the API server has Priority and Fairness; default: 20/30, it has not), 0 for the others.",
  );
  let limitLogged = false;
  const access = trackAccessRefusals(log);
  return {
    refused: access.refused,
    onRateLimit(limit) {
      limitQps.set(limit.qps);
      for (const mode of ["flags", "apf", "default"] as const) {
        limitMode.set(mode === limit.mode ? 1 : 0, { mode });
      }
      // Automatic mode runs at 20/30 until the first successful answer says
      // whether the server has APF: that decision is logged, once; a later
      // change (the server gained or lost APF) is a warning.
      if (!limit.decided) return;
      (limitLogged ? log.warn : log.info)(
        limitLogged
          ? "client-side rate limit changed"
          : "client-side rate limit",
        {
          mode: limit.mode,
          qps: limit.qps === 0 ? "unlimited" : limit.qps,
          ...(limit.qps === 0 ? {} : { burst: limit.burst }),
          ...whyLimit(limit),
        },
      );
      limitLogged = true;
    },
    onResponse({ method, path, status, seconds }) {
      const resource = resourceOf(path);
      access.observe({ method, path: path.split("?")[0], status });
      apiRequests.inc({ verb: method, resource, code: String(status) });
      apiLatency.observe(seconds, { verb: method, resource });
    },
  };
}
