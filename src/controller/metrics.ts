/**
 * The approver's Prometheus metrics, all prefixed `kubelet_rubber_stamp_`.
 *
 * @module
 */
import type { CertificateSigningRequest, Decision } from "../core/types.ts";
import type { Registry } from "../metrics.ts";
import type { DecisionObserver, ReconcileAction } from "./approver.ts";

/** Metric families the controller updates. */
export interface ControllerMetrics extends DecisionObserver {
  watchRestarted(
    resource: string,
    kind: "relist" | "watch",
    cause: string,
  ): void;
  setPending(csrs: CertificateSigningRequest[], now: Date): void;
  /** Counts Node addresses ignored for ownership (not a DNS name or IP). */
  nodeAddressesIgnored(count: number): void;
}

/**
 * Registers the controller's metrics on `registry`.
 *
 * @example
 * ```ts
 * import { createRegistry } from "../metrics.ts";
 * import { createControllerMetrics } from "./metrics.ts";
 * const registry = createRegistry();
 * const metrics = createControllerMetrics(registry);
 * metrics.watchRestarted("certificatesigningrequests", "relist", "initial");
 * ```
 */
export function createControllerMetrics(
  registry: Registry,
  now: () => Date = () => new Date(),
): ControllerMetrics {
  const p = "kubelet_rubber_stamp_";
  const decisions = registry.counter(
    `${p}decisions_total`,
    "Decisions on kubelet-serving CSRs, by outcome (approved, denied, left-pending, ignored, waiting) and reason code.",
  );
  const latency = registry.histogram(
    `${p}approval_latency_seconds`,
    "Time from CSR creation to the approval write.",
    [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  );
  const restarts = registry.counter(
    `${p}watch_restarts_total`,
    "Relists and watch restarts of the reflectors, by resource, kind and cause.",
  );
  const pending = registry.gauge(
    `${p}pending_csrs`,
    "Pending kubelet-serving CSRs in the cache.",
  );
  const ignoredAddresses = registry.counter(
    `${p}node_addresses_ignored_total`,
    "Node addresses ignored for SAN ownership because they are not a valid DNS name or IP, counted each time a Node's addresses change.",
  );
  const oldest = registry.gauge(
    `${p}oldest_pending_csr_age_seconds`,
    "Age of the oldest pending kubelet-serving CSR (0 when none).",
  );
  return {
    decided(action: ReconcileAction, decision: Decision | undefined, csr) {
      decisions.inc({ outcome: action, reason: decision?.reason ?? "Unknown" });
      if (action === "approved" && csr.metadata.creationTimestamp) {
        const created = Date.parse(csr.metadata.creationTimestamp);
        if (Number.isFinite(created)) {
          latency.observe(Math.max(0, (now().getTime() - created) / 1000));
        }
      }
    },
    nodeAddressesIgnored(count) {
      ignoredAddresses.inc({}, count);
    },
    watchRestarted(resource, kind, cause) {
      restarts.inc({ resource, kind, cause });
    },
    setPending(csrs, at) {
      pending.set(csrs.length);
      let min = Infinity;
      for (const c of csrs) {
        const t = Date.parse(c.metadata.creationTimestamp ?? "");
        if (Number.isFinite(t) && t < min) min = t;
      }
      oldest.set(
        min === Infinity ? 0 : Math.max(0, (at.getTime() - min) / 1000),
      );
    },
  };
}
