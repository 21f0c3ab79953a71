import {
  formatCheckJson,
  formatCheckReport,
  missingNodeNote,
  OWNERSHIP_UNKNOWN,
  withoutNodes,
} from "../../../src/cli/check_report.ts";
import type { Decision } from "../../../src/core/types.ts";
import { assertEquals } from "../../support/assert.ts";

const approvable: Decision = {
  outcome: "approve",
  reason: "AutoApproved",
  message: "kubelet serving certificate for node worker-1 (DNS worker-1)",
  node: "worker-1",
  checks: [
    { rule: "usages", result: "pass", message: "usages are fine" },
    { rule: "san-ownership", result: "skip", message: "no Node facts" },
  ],
};

Deno.test("withoutNodes: an approve waits for the Node; any other verdict stands", () => {
  const waiting = withoutNodes(approvable);
  const message =
    `${OWNERSHIP_UNKNOWN} to check that every SAN is an address of node "worker-1" and of no other Node`;
  assertEquals(waiting, {
    outcome: "wait",
    reason: "NodeAddressesUnknown",
    message,
    node: "worker-1",
    checks: [
      approvable.checks[0],
      {
        rule: "san-ownership",
        result: "fail",
        reason: "NodeAddressesUnknown",
        message,
      },
    ],
  });
  const denied: Decision = {
    ...approvable,
    outcome: "deny",
    reason: "UsageMismatch",
  };
  const stands = withoutNodes(denied);
  assertEquals(stands.outcome, "deny");
  assertEquals(stands.reason, "UsageMismatch");
  assertEquals(stands.checks[1].result, "skip");
  assertEquals(stands.checks[1].message, message);
});

Deno.test("formatCheckReport: verdict, one line per check, notes", () => {
  assertEquals(
    formatCheckReport("csr-1", withoutNodes(approvable), ["a note"]),
    [
      `NOT APPROVABLE csr-1: NodeAddressesUnknown: ${OWNERSHIP_UNKNOWN} to check that every SAN is an address of node "worker-1" and of no other Node (outcome wait)`,
      "  pass  usages  usages are fine",
      `  FAIL  san-ownership  NodeAddressesUnknown: ${OWNERSHIP_UNKNOWN} to check that every SAN is an address of node "worker-1" and of no other Node`,
      "note: a note",
    ],
  );
  assertEquals(
    formatCheckReport("csr\n1", approvable)[0],
    `APPROVABLE csr\\n1 (node worker-1): ${approvable.message}`,
  );
});

Deno.test("formatCheckJson and missingNodeNote", () => {
  assertEquals(JSON.parse(formatCheckJson("csr-1", approvable)), {
    csr: "csr-1",
    ...approvable,
  });
  assertEquals(
    JSON.parse(formatCheckJson("csr-1", approvable, ["n"])).notes,
    ["n"],
  );
  assertEquals(missingNodeNote("worker-1", ["worker-1"]), undefined);
  assertEquals(
    missingNodeNote("worker-1", []),
    `no --node file holds node "worker-1", the CSR's node (they hold no Node)`,
  );
  const many = Array.from({ length: 10 }, (_, i) => `n${i}`);
  assertEquals(
    missingNodeNote("worker-1", many),
    `no --node file holds node "worker-1", the CSR's node (they hold ["n0","n1","n2","n3","n4","n5","n6","n7"] and 2 more)`,
  );
});
