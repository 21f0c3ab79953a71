/**
 * The Event table: which reconcile outcome becomes which Kubernetes Event
 * (type, action, reason, note) about a CSR, so that `kubectl describe csr`
 * tells what the approver did and why.
 *
 * | reconcile action | type    | action       | reason, note              |
 * | ---------------- | ------- | ------------ | ------------------------- |
 * | approved         | Normal  | Approve      | the decision's            |
 * | denied           | Warning | Deny         | the decision's            |
 * | left-pending     | Warning | LeavePending | the decision's            |
 * | waiting          | Normal  | WaitForNode  | the decision's            |
 * | storm guard on   | Warning | HoldBack     | `StormGuard`, its message |
 *
 * Ignored CSRs are not ours: nothing is said about them, nor about a CSR
 * gone or decided while not leading. The generic recorder lives in
 * `src/kube/events.ts` and knows none of this; the CSR terms live here.
 *
 * @module
 */
import type { CertificateSigningRequest, Decision } from "../core/types.ts";
import {
  createEventRecorder,
  type EventInput,
  type EventRecorder,
  type EventRegarding,
  type EventType,
} from "../kube/events.ts";
import type { KubeClient } from "../kube/types.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../metrics.ts";
import type { ReconcileAction } from "./approver.ts";

/**
 * The `reportingController` of this project's Events.
 *
 * @example
 * ```ts
 * import { DEFAULT_REPORTING_CONTROLLER } from "./csr_events.ts";
 * DEFAULT_REPORTING_CONTROLLER; // "kubelet-rubber-stamp/approver"
 * ```
 */
export const DEFAULT_REPORTING_CONTROLLER = "kubelet-rubber-stamp/approver";

const EVENT_TABLE: Partial<
  Record<ReconcileAction, { type: EventType; action: string }>
> = {
  approved: { type: "Normal", action: "Approve" },
  denied: { type: "Warning", action: "Deny" },
  "left-pending": { type: "Warning", action: "LeavePending" },
  waiting: { type: "Normal", action: "WaitForNode" },
};

/**
 * The object reference of a CSR, as Events name it.
 *
 * @example
 * ```ts
 * import { csrRegarding } from "./csr_events.ts";
 * csrRegarding({ metadata: { name: "csr-1", uid: "u1" } } as never).kind;
 * // "CertificateSigningRequest"
 * ```
 */
export function csrRegarding(csr: CertificateSigningRequest): EventRegarding {
  return {
    apiVersion: "certificates.k8s.io/v1",
    kind: "CertificateSigningRequest",
    name: csr.metadata.name,
    uid: csr.metadata.uid,
    resourceVersion: csr.metadata.resourceVersion,
  };
}

/**
 * The Event a reconcile outcome gets, or `undefined` for one we say nothing
 * about (ignored, gone, not leading).
 *
 * @example
 * ```ts
 * import { decisionEvent } from "./csr_events.ts";
 * const csr = { metadata: { name: "csr-1" } } as never;
 * const decision = { outcome: "approve", reason: "AutoApproved", message: "ok", checks: [] } as never;
 * decisionEvent("approved", decision, csr)?.action; // "Approve"
 * decisionEvent("ignored", decision, csr); // undefined
 * ```
 */
export function decisionEvent(
  action: ReconcileAction,
  decision: Decision,
  csr: CertificateSigningRequest,
): EventInput | undefined {
  const event = EVENT_TABLE[action];
  if (!event) return undefined;
  return {
    regarding: csrRegarding(csr),
    ...event,
    reason: decision.reason,
    note: decision.message,
  };
}

/**
 * The Event of a storm-guard episode, on the CSR that tripped it.
 *
 * @example
 * ```ts
 * import { stormGuardEvent } from "./csr_events.ts";
 * stormGuardEvent({ metadata: { name: "csr-1" } } as never, "too many").reason; // "StormGuard"
 * ```
 */
export function stormGuardEvent(
  csr: CertificateSigningRequest,
  message: string,
): EventInput {
  return {
    regarding: csrRegarding(csr),
    type: "Warning",
    reason: "StormGuard",
    action: "HoldBack",
    note: message,
  };
}

/**
 * The daemon's Event recorder: this project's reporting controller, and a
 * queue sized for memory.
 *
 * @example
 * Not run: needs a client of a live API server (tests/unit/controller/csr_events_test.ts uses a fake one).
 * ```ts ignore
 * import { createCsrEventRecorder } from "./csr_events.ts";
 * const events = createCsrEventRecorder(client, log, "pod-1_uuid");
 * ```
 */
export function createCsrEventRecorder(
  client: KubeClient,
  log: Logger,
  identity: string,
): EventRecorder {
  return createEventRecorder({
    client,
    log,
    reportingController: DEFAULT_REPORTING_CONTROLLER,
    reportingInstance: identity,
    // Memory, measured with `deno task bench`: at 10 Event writes/s a queue
    // of 256 drains in half a minute; past it a mass rotation's Events are
    // dropped and counted rather than held (each costs ~1 KiB).
    maxQueue: 256,
    maxSeries: 1024,
  });
}

/**
 * Exports the recorder's losses as `kubelet_rubber_stamp_events_dropped_total`,
 * read from its counters at each scrape.
 *
 * @example
 * ```ts
 * import { createRegistry } from "../metrics.ts";
 * import { registerEventMetrics } from "./csr_events.ts";
 * const registry = createRegistry();
 * const stats = { sent: 0, failed: 1, dropped: 0, coalesced: 0, filtered: 0 };
 * registerEventMetrics(registry, { stats: () => stats });
 * registry.render(); // …events_dropped_total{reason="failed"} 1…
 * ```
 */
export function registerEventMetrics(
  registry: Registry,
  events: Pick<EventRecorder, "stats">,
): void {
  const notWritten = registry.counter(
    "kubelet_rubber_stamp_events_dropped_total",
    "Events not written, by reason: spam-filter (an object's burst of 25, refilled 1 per 5 min, as client-go), dropped (the Event budget's queue full, shutdown), failed (the API server refused).",
  );
  const counted = { "spam-filter": 0, dropped: 0, failed: 0 };
  registry.onCollect(() => {
    const st = events.stats();
    const now = {
      "spam-filter": st.filtered,
      dropped: st.dropped,
      failed: st.failed,
    };
    for (const reason of Object.keys(now) as (keyof typeof now)[]) {
      notWritten.inc({ reason }, now[reason] - counted[reason]);
      counted[reason] = now[reason];
    }
  });
}
