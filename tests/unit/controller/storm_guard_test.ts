/**
 * The storm guard from plain numbers: the rule (strictly more pending CSRs
 * than Nodes + surplus), and each episode said once, on and off.
 */
import {
  createStormGuard,
  stormVerdict,
} from "../../../src/controller/storm_guard.ts";
import { createLogger } from "../../../src/log.ts";
import { assertEquals } from "../../support/assert.ts";

const CSR = { metadata: { name: "csr-1" } } as never;

Deno.test("storm guard: held back only when pending exceeds Nodes + surplus", () => {
  const cases: [number, number, number, boolean][] = [
    [0, 0, 0, false],
    [1, 0, 0, true],
    [11, 10, 1, false],
    [12, 10, 1, true],
    [3, 0, 5, false],
  ];
  for (const [pending, nodes, surplus, active] of cases) {
    assertEquals(
      stormVerdict(pending, nodes, surplus).active,
      active,
      `${pending} pending, ${nodes} nodes, surplus ${surplus}`,
    );
  }
  assertEquals(
    stormVerdict(12, 10, 1).message,
    "12 pending kubelet-serving CSRs exceed 10 Nodes + 1 (--max-pending-surplus); approvals are held back until the backlog shrinks",
  );
});

Deno.test("storm guard: each episode is logged and reported once, on and off", () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    format: "json",
    level: "debug",
    write: (l) => lines.push(JSON.parse(l)),
  });
  const changes: [boolean, string][] = [];
  let pending = 5;
  const guard = createStormGuard({
    pendingCount: () => pending,
    nodeCount: () => 3,
    maxPendingSurplus: 1,
    log,
    onChange: (active, csr, message) =>
      changes.push([active, `${csr.metadata.name}: ${message}`]),
  });
  const held = guard(CSR);
  assertEquals(
    held,
    "5 pending kubelet-serving CSRs exceed 3 Nodes + 1 (--max-pending-surplus); approvals are held back until the backlog shrinks",
  );
  assertEquals(guard(CSR), held); // still on: nothing said again
  pending = 4;
  assertEquals(guard(CSR), undefined);
  assertEquals(guard(CSR), undefined);
  assertEquals(changes.map(([active]) => active), [true, false]);
  assertEquals(changes[0][1], `csr-1: ${held}`);
  assertEquals(
    lines.map((l) => [l.level, l.msg, l.pending, l.nodes, l.maxPendingSurplus]),
    [
      ["error", "storm guard on: approvals held back", 5, 3, 1],
      ["info", "storm guard off: approving again", 4, 3, 1],
    ],
  );
});
