/**
 * Liveness and readiness of the daemon, judged from a snapshot of its state
 * (what `/healthz` and `/readyz` report). The snapshot is plain numbers and
 * flags, so each verdict can be tested without a cluster; `src/serve/`
 * only ever sees the resulting `ok`/`detail`.
 *
 * - Live: the CSR watch has made progress within `maxSilenceMs`, and a
 *   leader has renewed its Lease within the lease duration (+10 s). A stuck
 *   process is restarted by the kubelet; a slow API server is not a reason.
 * - Ready: nothing the daemon needs is refused (credentials, a permission),
 *   API service IPs discovered (so the policy protects them), Node
 *   and CSR caches synced, and when leading, the CSR watch running.
 *
 * @module
 */

/** A verdict for the status endpoints: `true`, or not ok with why. */
export type HealthVerdict = true | { ok: false; detail: string };

/** The daemon's state as the checks read it. */
export interface HealthSnapshot {
  /** Now, ms since the epoch. */
  now: number;
  /** The watch may be silent this long before the daemon is unhealthy. */
  maxSilenceMs: number;
  /** False until the API service IPs are discovered and the policy compiled. */
  policyReady: boolean;
  nodesSynced: boolean;
  /** This replica may write (leading, or no leader election). */
  leading: boolean;
  /** The CSR controller, once started. */
  controller?: { lastProgress: number; synced: boolean };
  /** The elector, with leader election. */
  elector?: { isLeader: boolean; lastRenew: number };
  /** `--leader-elect-lease-duration`, ms. */
  leaseDurationMs: number;
  /** What the API server refuses now (credentials, RBAC permissions); see access_refusals.ts. */
  refused?: string[];
}

/** How long past the lease duration a leader may go without renewing before /healthz fails. */
const RENEW_TOLERANCE_MS = 10_000;

/**
 * Liveness (`/healthz`).
 *
 * @example
 * ```ts
 * import { liveness } from "./health.ts";
 * liveness({
 *   now: 100_000, maxSilenceMs: 60_000, policyReady: true, nodesSynced: true,
 *   leading: true, controller: { lastProgress: 10_000, synced: true },
 *   leaseDurationMs: 15_000,
 * }); // { ok: false, detail: "CSR watch silent for 90s" }
 * ```
 */
export function liveness(s: HealthSnapshot): HealthVerdict {
  const silent = s.now - (s.controller?.lastProgress ?? s.now);
  if (silent >= s.maxSilenceMs) {
    return {
      ok: false,
      detail: `CSR watch silent for ${Math.round(silent / 1000)}s`,
    };
  }
  if (
    s.elector?.isLeader &&
    s.now - s.elector.lastRenew > s.leaseDurationMs + RENEW_TOLERANCE_MS
  ) {
    return { ok: false, detail: "leading without renewing the Lease" };
  }
  return true;
}

/**
 * Readiness (`/readyz`).
 *
 * @example
 * ```ts
 * import { readiness } from "./health.ts";
 * readiness({
 *   now: 0, maxSilenceMs: 60_000, policyReady: true, nodesSynced: false,
 *   leading: false, leaseDurationMs: 15_000,
 * }); // { ok: false, detail: "Node cache not synced" }
 * ```
 */
export function readiness(s: HealthSnapshot): HealthVerdict {
  if (s.refused && s.refused.length > 0) {
    return {
      ok: false,
      detail: `the API server refuses ${s.refused.join(", ")}`,
    };
  }
  if (!s.policyReady) {
    return { ok: false, detail: "API service IPs not discovered yet" };
  }
  if (!s.nodesSynced) return { ok: false, detail: "Node cache not synced" };
  if (
    s.leading && s.controller &&
    s.now - s.controller.lastProgress >= s.maxSilenceMs
  ) {
    return { ok: false, detail: "leading, but the CSR watch is not running" };
  }
  if (!s.controller?.synced) {
    return { ok: false, detail: "CSR cache not synced" };
  }
  return true;
}
