/**
 * Finds the API server's own Service IPs (the `kubernetes` Service in
 * `default`, and `KUBERNETES_SERVICE_HOST` in a pod), which must never appear
 * in a kubelet serving certificate.
 *
 * @module
 */
import { canonicalIp } from "../core/ip.ts";
import { isApiError } from "../kube/errors.ts";
import type { KubeClient } from "../kube/types.ts";
import type { Logger } from "../log.ts";
import { errorText } from "../util/error_text.ts";

/** Options of {@linkcode discoverApiServiceIps}. */
export interface DiscoverOptions {
  client: KubeClient;
  log: Logger;
  signal: AbortSignal;
  /** `KUBERNETES_SERVICE_HOST`, when running in a pod. */
  serviceHost?: string;
  /** Delay between attempts after a transient failure. Default 2 s. */
  retryMs?: number;
}

/**
 * Reads the `kubernetes` Service's cluster IPs. Transient failures are
 * retried until `signal` aborts (the approver does not start approving on
 * doubt); a 403 or 404 is final: the IPs known from the environment are used
 * and a warning says what is missing.
 *
 * @example
 * Not run: needs a client of a live API server (tests/unit/controller/api_service_test.ts uses a fake one).
 * ```ts ignore
 * import { discoverApiServiceIps } from "./api_service.ts";
 * const ips = await discoverApiServiceIps({ client, log, signal });
 * ```
 */
export async function discoverApiServiceIps(
  options: DiscoverOptions,
): Promise<string[]> {
  const { client, log, signal } = options;
  const ips = new Set<string>();
  const add = (value: unknown) => {
    if (typeof value !== "string" || value === "" || value === "None") return;
    try {
      ips.add(canonicalIp(value));
    } catch {
      // A host name, not an IP: nothing to protect by address.
    }
  };
  add(options.serviceHost);
  while (!signal.aborted) {
    try {
      const svc = await client.request<
        { spec?: { clusterIP?: string; clusterIPs?: string[] } }
      >({
        method: "GET",
        path: "/api/v1/namespaces/default/services/kubernetes",
        signal,
      });
      add(svc.spec?.clusterIP);
      for (const ip of svc.spec?.clusterIPs ?? []) add(ip);
      break;
    } catch (e) {
      if (signal.aborted) break;
      if (isApiError(e, 403) || isApiError(e, 404)) {
        log.warn(
          "cannot read the default/kubernetes Service; protecting only the IPs given",
          {
            error: errorText(e),
            apiServiceIps: [...ips],
          },
        );
        break;
      }
      log.warn("reading the default/kubernetes Service failed; retrying", {
        error: errorText(e),
      });
      await new Promise<void>((r) => {
        const t = setTimeout(done, options.retryMs ?? 2_000);
        function done() {
          clearTimeout(t);
          signal.removeEventListener("abort", done);
          r();
        }
        signal.addEventListener("abort", done, { once: true });
      });
    }
  }
  return [...ips];
}
