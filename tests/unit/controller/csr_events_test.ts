/**
 * The Event table: which reconcile outcome becomes which Event about a CSR,
 * and the recorder's losses as a metric.
 */
import type { ReconcileAction } from "../../../src/controller/approver.ts";
import {
  csrRegarding,
  decisionEvent,
  DEFAULT_REPORTING_CONTROLLER,
  registerEventMetrics,
  stormGuardEvent,
} from "../../../src/controller/csr_events.ts";
import type {
  CertificateSigningRequest,
  Decision,
} from "../../../src/core/types.ts";
import { qualifiedNameError } from "../../../src/kube/event_fields.ts";
import type { EventRecorderStats } from "../../../src/kube/events.ts";
import { createRegistry } from "../../../src/metrics.ts";
import { assertEquals } from "../../support/assert.ts";
import { parsePrometheus } from "../../support/prometheus.ts";

const CSR = {
  metadata: { name: "csr-abc", uid: "uid-1", resourceVersion: "42" },
} as unknown as CertificateSigningRequest;
const DECISION = {
  outcome: "deny",
  reason: "SANNotOwnedByNode",
  message: "DNS name other.example is not an address of node worker-1",
  checks: [],
} as unknown as Decision;

Deno.test("Event table: each reconcile action's type and action; others say nothing", () => {
  const table: [ReconcileAction, string, string][] = [
    ["approved", "Normal", "Approve"],
    ["denied", "Warning", "Deny"],
    ["left-pending", "Warning", "LeavePending"],
    ["waiting", "Normal", "WaitForNode"],
  ];
  for (const [action, type, verb] of table) {
    assertEquals(decisionEvent(action, DECISION, CSR), {
      regarding: {
        apiVersion: "certificates.k8s.io/v1",
        kind: "CertificateSigningRequest",
        name: "csr-abc",
        uid: "uid-1",
        resourceVersion: "42",
      },
      type,
      action: verb,
      reason: "SANNotOwnedByNode",
      note: "DNS name other.example is not an address of node worker-1",
    }, action);
  }
  for (const action of ["ignored", "gone", "not-leader"] as const) {
    assertEquals(decisionEvent(action, DECISION, CSR), undefined, action);
  }
});

Deno.test("Event table: the storm guard's episode Event and the reporting controller", () => {
  assertEquals(stormGuardEvent(CSR, "too many"), {
    regarding: csrRegarding(CSR),
    type: "Warning",
    reason: "StormGuard",
    action: "HoldBack",
    note: "too many",
  });
  assertEquals(qualifiedNameError(DEFAULT_REPORTING_CONTROLLER), undefined);
});

Deno.test("events_dropped_total follows the recorder's counters by reason", () => {
  const registry = createRegistry();
  const stats: EventRecorderStats = {
    sent: 9,
    failed: 1,
    dropped: 0,
    coalesced: 3,
    filtered: 2,
  };
  registerEventMetrics(registry, { stats: () => ({ ...stats }) });
  const value = (reason: string) =>
    parsePrometheus(registry.render()).get(
      `kubelet_rubber_stamp_events_dropped_total{reason="${reason}"}`,
    );
  assertEquals(value("spam-filter"), 2);
  assertEquals(value("failed"), 1);
  assertEquals(value("dropped"), 0);
  stats.dropped = 4;
  stats.filtered = 3;
  assertEquals(value("dropped"), 4);
  assertEquals(value("spam-filter"), 3);
  assertEquals(value("failed"), 1);
});
