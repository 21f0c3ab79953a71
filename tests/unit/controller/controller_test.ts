/**
 * The CSR controller against a scripted client and a fake approver: which
 * watch events queue which CSR, what leaves the cache, that a follower
 * decides nothing, and that a Node change decides again exactly the CSRs
 * whose verdict may depend on Nodes.
 */
import type {
  Approver,
  ReconcileResult,
} from "../../../src/controller/approver.ts";
import {
  type Controller,
  startController,
} from "../../../src/controller/controller.ts";
import type {
  CertificateSigningRequest,
  Decision,
  ReasonCode,
} from "../../../src/core/types.ts";
import { createLogger } from "../../../src/log.ts";
import { assertEquals } from "../../support/assert.ts";
import {
  createFakeClient,
  type FakeClient,
  type FakeWatch,
  listOf,
} from "../../support/fake_client.ts";
import { until } from "../../support/until.ts";

const SERVING = "kubernetes.io/kubelet-serving";

function csr(
  name: string,
  resourceVersion: string,
  extra: { signerName?: string; approved?: boolean } = {},
): CertificateSigningRequest {
  return {
    apiVersion: "certificates.k8s.io/v1",
    kind: "CertificateSigningRequest",
    metadata: { name, resourceVersion },
    spec: {
      request: "",
      signerName: extra.signerName ?? SERVING,
      usages: ["digital signature", "server auth"],
      username: `system:node:${name}`,
    },
    status: extra.approved
      ? { conditions: [{ type: "Approved", status: "True" }] }
      : {},
  } as CertificateSigningRequest;
}

/** A decision that leaves the CSR pending for `reason`. */
const leftPending = (reason: ReasonCode): Decision => ({
  outcome: "pending",
  reason,
  message: reason,
  checks: [],
});

/** An approver that records every CSR it is asked about. */
function fakeApprover(
  answer: (c: CertificateSigningRequest) => ReconcileResult = () => ({
    action: "left-pending",
  }),
) {
  const asked: string[] = [];
  const approver: Approver = {
    reconcile: (c) => {
      asked.push(`${c.metadata.name}@${c.metadata.resourceVersion}`);
      return Promise.resolve(answer(c));
    },
  };
  return { approver, asked };
}

interface Running {
  client: FakeClient;
  controller: Controller;
  watch: FakeWatch;
  [Symbol.asyncDispose](): Promise<void>;
}

async function run(
  items: CertificateSigningRequest[],
  approver: Approver,
  extra: { isLeader?: () => boolean } = {},
): Promise<Running> {
  const client = createFakeClient({ handle: () => listOf(items, "100") });
  const ac = new AbortController();
  const controller = startController({
    client,
    approver,
    log: createLogger({ write: () => {} }),
    signal: ac.signal,
    concurrency: 1,
    backoff: { initialMs: 1, maxMs: 2 },
    retry: { baseDelayMs: 1, maxDelayMs: 2 },
    watchTimeoutSeconds: () => 60,
    ...extra,
  });
  const watch = await client.nextWatch();
  return {
    client,
    controller,
    watch,
    async [Symbol.asyncDispose]() {
      await controller.stop(1_000);
      ac.abort();
    },
  };
}

const settle = async (c: Controller) => {
  await until(
    () => c.queue.length === 0 && c.queue.inFlight === 0,
    5_000,
    "the queue to drain",
  );
};

Deno.test("controller: the list queues every pending kubelet-serving CSR, not decided ones nor other signers", async () => {
  const fake = fakeApprover();
  await using r = await run([
    csr("a", "1"),
    csr("b", "2", { approved: true }),
    csr("c", "3", { signerName: "example.com/other" }),
    csr("d", "4"),
  ], fake.approver);
  await r.controller.whenSynced();
  await settle(r.controller);
  assertEquals(fake.asked.sort(), ["a@1", "d@4"]);
  assertEquals(r.controller.pendingCount(), 2);
  assertEquals(
    r.client.requests[0].query?.fieldSelector,
    `spec.signerName=${SERVING}`,
  );
});

Deno.test("controller: ADDED and MODIFIED queue the CSR with its newest object; decided or DELETED ones leave the cache", async () => {
  const fake = fakeApprover();
  await using r = await run([], fake.approver);
  r.watch.send("ADDED", csr("x", "101"));
  await until(() => fake.asked.length === 1, 5_000, "x decided");
  r.watch.send("MODIFIED", csr("x", "102"));
  await until(() => fake.asked.length === 2, 5_000, "x decided again");
  assertEquals(fake.asked, ["x@101", "x@102"]);
  assertEquals(r.controller.pending().map((c) => c.metadata.name), ["x"]);

  r.watch.send("MODIFIED", csr("x", "103", { approved: true }));
  r.watch.send("ADDED", csr("y", "104"));
  r.watch.send("DELETED", csr("y", "105"));
  await until(
    () => r.controller.pendingCount() === 0,
    5_000,
    "x and y to leave",
  );
  await settle(r.controller);
  assertEquals(
    fake.asked.filter((a) => !a.startsWith("y@")),
    ["x@101", "x@102"],
    "a decided CSR is not decided again",
  );
});

Deno.test("controller: a Node change decides again the CSRs waiting for Nodes or held by a contested or foreign SAN, and only those", async () => {
  const results: Record<string, ReconcileResult> = {
    waiting: { action: "waiting" },
    contested: {
      action: "left-pending",
      decision: leftPending("SANContested"),
    },
    foreign: {
      action: "left-pending",
      decision: leftPending("SANNotOwnedByNode"),
    },
    other: {
      action: "left-pending",
      decision: leftPending("Unauthorized"),
    },
    approved: { action: "approved" },
  };
  const fake = fakeApprover((c) => results[c.metadata.name]);
  await using r = await run(
    Object.keys(results).map((n, i) => csr(n, String(i + 1))),
    fake.approver,
  );
  await until(() => fake.asked.length === 5, 5_000, "five decisions");
  await settle(r.controller);
  fake.asked.length = 0;

  r.controller.nodesChanged();
  await until(() => fake.asked.length === 3, 5_000, "three re-decisions");
  await settle(r.controller);
  assertEquals(
    fake.asked.map((a) => a.split("@")[0]).sort(),
    ["contested", "foreign", "waiting"],
  );

  // Once decided otherwise, a CSR no longer depends on Nodes.
  results.waiting = { action: "left-pending" };
  fake.asked.length = 0;
  r.controller.nodesChanged();
  await until(() => fake.asked.length === 3, 5_000, "re-decisions");
  await settle(r.controller);
  fake.asked.length = 0;
  r.controller.nodesChanged();
  await until(() => fake.asked.length === 2, 5_000, "re-decisions");
  await settle(r.controller);
  assertEquals(fake.asked.map((a) => a.split("@")[0]).sort(), [
    "contested",
    "foreign",
  ]);
});

Deno.test("controller: a follower caches and queues but decides nothing; resync queues every cached CSR when it leads", async () => {
  let leading = false;
  const fake = fakeApprover();
  await using r = await run([csr("a", "1"), csr("b", "2")], fake.approver, {
    isLeader: () => leading,
  });
  await r.controller.whenSynced();
  r.watch.send("ADDED", csr("c", "101"));
  await until(() => r.controller.pendingCount() === 3, 5_000, "three cached");
  await settle(r.controller);
  assertEquals(fake.asked, [], "a follower decides nothing");

  leading = true;
  r.controller.resync();
  await until(() => fake.asked.length === 3, 5_000, "three decisions");
  assertEquals(fake.asked.sort(), ["a@1", "b@2", "c@101"]);
});

Deno.test("controller: a relist drops CSRs the new list no longer has", async () => {
  const fake = fakeApprover();
  let items = [csr("a", "1"), csr("b", "2")];
  const client = createFakeClient({ handle: () => listOf(items, "100") });
  const ac = new AbortController();
  const controller = startController({
    client,
    approver: fake.approver,
    log: createLogger({ write: () => {} }),
    signal: ac.signal,
    backoff: { initialMs: 1, maxMs: 2 },
    watchTimeoutSeconds: () => 60,
  });
  try {
    const watch = await client.nextWatch();
    await controller.whenSynced();
    assertEquals(controller.pendingCount(), 2);
    items = [csr("b", "3")];
    watch.send("ERROR", { kind: "Status", code: 410, reason: "Expired" });
    await client.nextWatch();
    assertEquals(controller.pending().map((c) => c.metadata.name), ["b"]);
    assertEquals(controller.pending()[0].metadata.resourceVersion, "3");
  } finally {
    await controller.stop(1_000);
  }
});

Deno.test("controller: a CSR the storm guard held is decided again when the backlog shrinks, not polled", async () => {
  let guard = true;
  const fake = fakeApprover((c) =>
    c.metadata.name === "held" && guard
      ? { action: "left-pending", decision: leftPending("StormGuard") }
      : { action: "left-pending" }
  );
  await using r = await run(
    [csr("held", "1"), csr("other", "2")],
    fake.approver,
  );
  await until(() => fake.asked.length === 2, 5_000, "two decisions");
  await settle(r.controller);
  await new Promise((res) => setTimeout(res, 50));
  assertEquals(fake.asked.length, 2, "no polling while held");

  guard = false;
  r.watch.send("DELETED", csr("other", "3"));
  await until(() => fake.asked.length === 3, 5_000, "the held CSR again");
  assertEquals(fake.asked[2], "held@1");
});
