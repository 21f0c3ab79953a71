/**
 * Issue 5 end to end: SAN ownership against the Node cache, the Node-address
 * wait, protected names, Events, the storm guard and --once.
 */
import { runDaemon } from "../../src/cli/daemon.ts";
import { parseFlags } from "../../src/cli/parse_flags.ts";
import { staticTokenSource } from "../../src/kube/token_source.ts";
import { createLogger } from "../../src/log.ts";
import { makeServingCsr } from "../support/csr_factory.ts";
import {
  conditionOf,
  createKubeletCsr,
  startFixture,
  submitCsr,
} from "../support/fixture.ts";
import { startApiServer } from "../support/api_server.ts";
import { deployRbacAuthorizers } from "../support/fixture.ts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { parsePrometheus } from "../support/prometheus.ts";

const decided = (
  f: { reconciled: { name: string; result: { action: string } }[] },
  name: string,
  action: string,
) => f.reconciled.some((r) => r.name === name && r.result.action === action);

Deno.test("a CSR that arrives before its Node has addresses is approved when they appear", async () => {
  const f = await startFixture({
    async before(api) {
      api.upsertNode({
        metadata: { name: "early" },
        status: { addresses: [] },
      });
      await submitCsr(
        api,
        await makeServingCsr({
          name: "early-csr",
          node: "early",
          ipAddresses: ["10.9.0.1"],
        }),
      );
      await submitCsr(
        api,
        await makeServingCsr({
          name: "nodeless-csr",
          node: "nodeless",
          ipAddresses: ["10.9.0.2"],
        }),
      );
    },
  });
  try {
    await f.until(
      () =>
        decided(f, "early-csr", "waiting") &&
        decided(f, "nodeless-csr", "waiting"),
      10_000,
      "waits",
    );
    assertEquals(f.approvalWrites().size, 0);
    const early = f.reconciled.find((r) => r.name === "early-csr")!;
    assertEquals(early.result.decision?.reason, "NodeAddressesUnknown");
    assertEquals(
      f.reconciled.find((r) => r.name === "nodeless-csr")!.result.decision
        ?.reason,
      "NodeNotFound",
    );
    f.api.upsertNode({
      metadata: { name: "early" },
      status: {
        addresses: [{ type: "Hostname", address: "early" }, {
          type: "InternalIP",
          address: "10.9.0.1",
        }],
      },
    });
    f.api.upsertNode({
      metadata: { name: "nodeless" },
      status: {
        addresses: [{ type: "Hostname", address: "nodeless" }, {
          type: "InternalIP",
          address: "10.9.0.2",
        }],
      },
    });
    await f.until(
      () => f.approvalWrites().size === 2,
      10_000,
      "approvals once the addresses appear",
    );
  } finally {
    await f.stop();
  }
});

Deno.test("a CSR whose Node never gets the address gets its verdict when --node-address-wait runs out", async () => {
  const f = await startFixture({
    flags: ["--deny-invalid", "--node-address-wait=3s"],
    async before(api) {
      api.upsertNode({
        metadata: { name: "slow" },
        status: {
          addresses: [{ type: "Hostname", address: "slow" }, {
            type: "InternalIP",
            address: "10.9.1.1",
          }],
        },
      });
      await submitCsr(
        api,
        await makeServingCsr({
          name: "slow-csr",
          node: "slow",
          ipAddresses: ["10.9.1.99"],
        }),
      );
    },
  });
  try {
    await f.until(() => decided(f, "slow-csr", "waiting"), 10_000, "waiting");
    assertEquals(conditionOf(f.api.getCsr("slow-csr"), "Denied"), undefined);
    await f.until(
      () => conditionOf(f.api.getCsr("slow-csr"), "Denied") !== undefined,
      10_000,
      "verdict after the wait",
    );
    const denied = conditionOf(f.api.getCsr("slow-csr"), "Denied")!;
    assertEquals(denied.reason, "SANNotOwnedByNode");
    assertMatch(denied.message ?? "", /10\.9\.1\.99/);
  } finally {
    await f.stop();
  }
});

Deno.test("another node's IP and the API service IP are denied at once, with Events explaining decisions", async () => {
  const f = await startFixture({
    flags: ["--deny-invalid"],
    async before(api) {
      await createKubeletCsr(api, {
        name: "owner",
        node: "node-a",
        ipAddresses: ["10.7.0.1"],
      });
      api.upsertNode({
        metadata: { name: "node-b" },
        status: {
          addresses: [{ type: "Hostname", address: "node-b" }, {
            type: "InternalIP",
            address: "10.7.0.2",
          }],
        },
      });
      await submitCsr(
        api,
        await makeServingCsr({
          name: "thief",
          node: "node-b",
          ipAddresses: ["10.7.0.2", "10.7.0.1"],
        }),
      );
      // A node that put the API service IP among its own addresses.
      api.upsertNode({
        metadata: { name: "node-c" },
        status: {
          addresses: [{ type: "Hostname", address: "node-c" }, {
            type: "InternalIP",
            address: "10.96.0.1",
          }],
        },
      });
      await submitCsr(
        api,
        await makeServingCsr({
          name: "apiserver-ip",
          node: "node-c",
          ipAddresses: ["10.96.0.1"],
        }),
      );
    },
  });
  try {
    await f.until(
      () =>
        ["thief", "apiserver-ip"].every((n) =>
          conditionOf(f.api.getCsr(n), "Denied")
        ),
      10_000,
      "denials",
    );
    assertEquals(
      conditionOf(f.api.getCsr("thief"), "Denied")?.reason,
      "SANNotOwnedByNode",
    );
    assertMatch(
      conditionOf(f.api.getCsr("thief"), "Denied")?.message ?? "",
      /node-a/,
    );
    assertEquals(
      conditionOf(f.api.getCsr("apiserver-ip"), "Denied")?.reason,
      "ProtectedName",
    );
    await f.until(
      () => f.approvalWrites().get("owner") === 1,
      10_000,
      "owner approved",
    );
    type Ev = {
      reason?: string;
      action?: string;
      type?: string;
      note?: string;
      regarding?: { name?: string };
    };
    await f.until(() => (f.api.events() as Ev[]).length >= 3, 10_000, "events");
    const events = f.api.events() as Ev[];
    const about = (n: string) => events.find((e) => e.regarding?.name === n);
    assertEquals(about("owner")?.reason, "AutoApproved");
    assertEquals(about("owner")?.action, "Approve");
    assertEquals(about("owner")?.type, "Normal");
    assertEquals(about("thief")?.type, "Warning");
    assertEquals(about("thief")?.reason, "SANNotOwnedByNode");
    assertMatch(about("thief")?.note ?? "", /10\.7\.0\.1/);
  } finally {
    await f.stop();
  }
});

Deno.test("storm guard: holds approvals while pending CSRs exceed Nodes + surplus, resumes when it drops", async () => {
  const f = await startFixture({
    flags: ["--max-pending-surplus=1"],
    async before(api) {
      for (let i = 0; i < 4; i++) {
        await createKubeletCsr(api, { name: `storm-${i}`, node: "storm-node" });
      }
    },
  });
  try {
    await f.until(
      () =>
        f.reconciled.filter((r) => r.result.decision?.reason === "StormGuard")
          .length >= 1,
      10_000,
      "guard",
    );
    await new Promise((r) => setTimeout(r, 200));
    assertEquals(
      f.approvalWrites().size,
      0,
      "nothing approved while the guard holds",
    );
    const metrics = parsePrometheus((await f.status("/metrics")).body);
    assertEquals(metrics.get("kubelet_rubber_stamp_storm_guard_active"), 1);
    assert(f.logs.some((l) => l.includes("storm guard on")), "logged");
    await f.until(
      () =>
        (f.api.events() as { reason?: string }[]).some((e) =>
          e.reason === "StormGuard"
        ),
      10_000,
      "storm event",
    );
    // The backlog shrinks (the CSR cleaner, or a human): 2 pending ≤ 1 Node + 1.
    f.api.deleteCsr("storm-0");
    f.api.deleteCsr("storm-1");
    await f.until(
      () => f.approvalWrites().size === 2,
      15_000,
      "approvals resume",
    );
    assert(f.logs.some((l) => l.includes("storm guard off")), "logged off");
    assertEquals(
      parsePrometheus((await f.status("/metrics")).body).get(
        "kubelet_rubber_stamp_storm_guard_active",
      ),
      0,
    );
  } finally {
    await f.stop();
  }
  // With the default surplus (100) the same backlog is simply approved.
  const g = await startFixture({
    async before(api) {
      for (let i = 0; i < 4; i++) {
        await createKubeletCsr(api, { name: `calm-${i}`, node: "calm-node" });
      }
    },
  });
  try {
    await g.until(() => g.approvalWrites().size === 4, 10_000, "all approved");
  } finally {
    await g.stop();
  }
});

Deno.test("--once decides what is pending, then exits 0", async () => {
  const api = await startApiServer({
    ...(await deployRbacAuthorizers()),
    tokens: {
      "approver-token": {
        username:
          "system:serviceaccount:kubelet-rubber-stamp:kubelet-rubber-stamp",
        groups: [
          "system:serviceaccounts",
          "system:serviceaccounts:kubelet-rubber-stamp",
        ],
      },
    },
  });
  try {
    await createKubeletCsr(api, { name: "once-a", node: "once-a" });
    await createKubeletCsr(api, {
      name: "once-b",
      node: "once-b",
      key: "rsa-2048",
    });
    await createKubeletCsr(api, {
      name: "once-bad",
      node: "once-c",
      uris: ["https://x"],
    });
    await submitCsr(
      api,
      await makeServingCsr({ name: "once-waiting", node: "no-such-node" }),
    );
    const started = Date.now();
    const code = await runDaemon(
      parseFlags(["--once", "--listen=127.0.0.1:0"]),
      {
        connection: {
          server: api.url,
          caPem: api.caPem,
          tokenSource: staticTokenSource("approver-token"),
          source: "test",
        },
        log: createLogger({ write: () => {} }),
      },
    );
    assertEquals(code, 0);
    assert(
      Date.now() - started < 10_000,
      "exits promptly even with a CSR waiting for its Node",
    );
    assert(conditionOf(api.getCsr("once-a"), "Approved"), "once-a approved");
    assert(conditionOf(api.getCsr("once-b"), "Approved"), "once-b approved");
    assertEquals(api.getCsr("once-bad")?.status?.conditions ?? [], []);
    assertEquals(api.getCsr("once-waiting")?.status?.conditions ?? [], []);
  } finally {
    await api.stop();
  }
});
