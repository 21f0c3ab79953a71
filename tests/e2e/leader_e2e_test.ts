/**
 * Leader election end to end: several in-process daemons, each with its own
 * token (mapped to the approver's ServiceAccount plus a group naming the
 * replica, so the double's request log attributes every request), against
 * one API server double that authorizes them with the RBAC in deploy/.
 */
import { assert, assertEquals } from "../support/assert.ts";
import type { ApiServer } from "../support/api_server.ts";
import {
  APPROVER_NAMESPACE,
  APPROVER_USER,
  holderOf,
  startCluster,
} from "../support/cluster.ts";
import { createKubeletCsr } from "../support/fixture.ts";
import { until } from "../support/until.ts";
import { parsePrometheus } from "../support/prometheus.ts";
import { assertAllowedByDeploy, loadDeployPolicy } from "../support/rbac.ts";

const LEASE_MS = 1_000;
const RETRY_MS = 100;
/** Short timings: a crashed leader's Lease expires after one second. */
const FAST = [
  `--leader-elect-lease-duration=${LEASE_MS}ms`,
  "--leader-elect-renew-deadline=600ms",
  `--leader-elect-retry-period=${RETRY_MS}ms`,
];
/** A Lease that takes 5 s to expire: a hand-over faster than that was a release. */
const SLOW_EXPIRY = [
  "--leader-elect-lease-duration=5s",
  "--leader-elect-renew-deadline=3s",
  `--leader-elect-retry-period=${RETRY_MS}ms`,
];
/** client-go's jitter: a candidate polls every retry × (1 + rand × 1.2). */
const MAX_POLL_MS = RETRY_MS * 2.2;
/** For a loaded 2-core machine shared with other test runs. */
const SLACK_MS = 1_500;

/** A successful write of the Lease, as the double saw it. */
interface LeaseWrite {
  at: number;
  by: string;
  holder: string;
}

/** An approval PUT as it arrived, with the Lease holder at that instant. */
interface ApprovalAttempt {
  csr: string;
  by: string;
  holderIdentity: string;
}

/**
 * A cluster of replicas electing a leader (see support/cluster.ts; each has
 * its own token, so the double's log attributes its requests), recording
 * every Lease write and every approval attempt with the holder at that
 * instant.
 */
async function startReplicas() {
  const cluster = await startCluster();
  const { api } = cluster;
  const leaseWrites: LeaseWrite[] = [];
  const attempts: ApprovalAttempt[] = [];
  api.faults.intercept = (_req, attrs) => {
    const who = cluster.daemonOf(attrs);
    if (who && attrs.subresource === "approval" && attrs.verb === "update") {
      attempts.push({
        csr: attrs.name,
        by: who.name,
        holderIdentity: holderOf(api) ?? "",
      });
    }
    return undefined;
  };
  api.onRequest = (attrs) => {
    if (
      attrs.resource === "leases" &&
      (attrs.verb === "update" || attrs.verb === "create") &&
      attrs.status >= 200 && attrs.status < 300
    ) {
      leaseWrites.push({
        at: Date.now(),
        by: cluster.daemonOf(attrs)?.name ?? attrs.user,
        holder: holderOf(api) ?? "",
      });
    }
  };
  const start = (name: string, flags: string[]) =>
    cluster.start({
      name,
      flags: [
        "--leader-elect=true",
        `--leader-elect-namespace=${APPROVER_NAMESPACE}`,
        "--kube-api-qps=0",
        ...flags,
      ],
      deps: { identity: `replica-${name}` },
    });
  return {
    ...cluster,
    leaseWrites,
    attempts,
    start,
    startAll: (names: string[], flags: string[]) =>
      Promise.all(names.map((n) => start(n, flags))),
  };
}

async function createCsrs(
  api: ApiServer,
  prefix: string,
  count: number,
): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${prefix}-${i}`;
    await createKubeletCsr(api, { name, node: `${prefix}-node-${i}` });
    names.push(name);
  }
  return names;
}

function leaderGauge(text: string): number | undefined {
  return parsePrometheus(text).get("kubelet_rubber_stamp_leader");
}

Deno.test("two replicas: exactly one leads and approves; the follower stays synced, ready and out of the way", async () => {
  await using cluster = await startReplicas();
  const [a, b] = await cluster.startAll(["a", "b"], FAST);
  const leader = await cluster.leader();
  const follower = leader === a ? b : a;

  // A CSR whose Node does not exist yet stays pending: the follower's
  // pending gauge sees it, so its CSR cache is warm without it acting.
  await createKubeletCsr(cluster.api, {
    name: "no-node",
    node: "ghost",
    withNode: false,
  });
  const names = await createCsrs(cluster.api, "one", 20);
  await until(() => cluster.approved(names), 15_000, "20 approvals");
  await until(
    async () =>
      parsePrometheus((await follower.status("/metrics")).body).get(
        "kubelet_rubber_stamp_pending_csrs",
      ) === 1,
    5_000,
    "the follower to count the pending CSR",
  );
  // Give a wrongly acting follower time to show itself.
  await new Promise((r) => setTimeout(r, 300));

  assertEquals(
    Object.fromEntries(cluster.approvalsBy()),
    { [leader.name]: 20 },
    "only the leader wrote approvals",
  );
  assertEquals(
    cluster.attempts.filter((t) => t.by === follower.name).length,
    0,
    "the follower never attempted an approval",
  );
  assertEquals(
    leader.reconciled.filter((r) => r.result.action === "approved").length,
    20,
  );
  assertEquals(
    follower.reconciled.filter((r) => r.result.action === "approved").length,
    0,
  );
  assertEquals(holderOf(cluster.api), leader.identity);

  for (const r of [leader, follower]) {
    assertEquals((await r.status("/readyz")).status, 200, `${r.name} ready`);
    assertEquals((await r.status("/healthz")).status, 200, `${r.name} live`);
  }
  assertEquals(leaderGauge((await leader.status("/metrics")).body), 1);
  assertEquals(leaderGauge((await follower.status("/metrics")).body), 0);
});

Deno.test("a crashed leader (no release) is replaced after the lease duration + retry period, not before", async () => {
  await using cluster = await startReplicas();
  const a = await cluster.start("a", FAST);
  assertEquals((await cluster.leader()).name, "a");
  const b = await cluster.start("b", FAST);
  await until(
    async () => (await b.status("/readyz")).status === 200,
    10_000,
    "the follower to be ready",
  );
  const before = await createCsrs(cluster.api, "pre", 5);
  await until(() => cluster.approved(before), 10_000, "approvals by a");

  const killedAt = Date.now();
  const exit = await cluster.crash(a);
  assertEquals(exit, 0, "the crashed daemon still returns (its writes fail)");
  // The crash left the Lease naming a (or b already expired it: never "").
  assert(
    [a.identity, b.identity].includes(holderOf(cluster.api) ?? ""),
    `Lease holder after the crash: ${holderOf(cluster.api)}`,
  );
  await until(
    () => holderOf(cluster.api) === b.identity,
    10_000,
    "b to take the Lease",
  );
  const lastByA = Math.max(
    ...cluster.leaseWrites.filter((w) => w.by === "a").map((w) => w.at),
  );
  const takeover = cluster.leaseWrites.find((w) => w.holder === b.identity)!;
  assertEquals(
    cluster.leaseWrites.filter((w) => w.holder === "").length,
    0,
    "nobody released the Lease",
  );
  // Expiry is judged from when b saw the record change, which was after a's
  // last write: b cannot have taken over sooner than a lease duration after it.
  assert(
    takeover.at - lastByA >= LEASE_MS - 20,
    `b took over ${
      takeover.at - lastByA
    }ms after a's last renewal; expected ≥ ${LEASE_MS}ms`,
  );
  // a renewed at most one retry period before the crash; b notices the last
  // renewal within one poll and the expiry within another.
  const bound = LEASE_MS + 2 * MAX_POLL_MS + SLACK_MS;
  assert(
    takeover.at - killedAt <= bound,
    `hand-over took ${
      takeover.at - killedAt
    }ms after the crash; expected ≤ ${bound}ms`,
  );

  const after = await createCsrs(cluster.api, "post", 5);
  await until(() => cluster.approved(after), 10_000, "approvals by b");
  assertEquals(Object.fromEntries(cluster.approvalsBy()), { a: 5, b: 5 });
  await until(
    async () => leaderGauge((await b.status("/metrics")).body) === 1,
    5_000,
    "b's leader gauge",
  );
});

Deno.test("a gracefully stopped leader releases the Lease and the follower takes over within a few seconds", async () => {
  await using cluster = await startReplicas();
  const a = await cluster.start("a", SLOW_EXPIRY);
  assertEquals((await cluster.leader()).name, "a");
  const b = await cluster.start("b", SLOW_EXPIRY);
  await until(
    async () => (await b.status("/readyz")).status === 200,
    10_000,
    "the follower to be ready",
  );
  const before = await createCsrs(cluster.api, "pre", 5);
  await until(() => cluster.approved(before), 10_000, "approvals by a");

  const stoppedAt = Date.now();
  assertEquals(await a.stop(), 0);
  const released = cluster.leaseWrites.find((w) =>
    w.by === "a" && w.holder === ""
  );
  assert(released, "a wrote an empty holder before exiting");
  await until(
    () => holderOf(cluster.api) === b.identity,
    10_000,
    "b to take the Lease",
  );
  const takeover = cluster.leaseWrites.find((w) => w.holder === b.identity)!;
  // Without the release b would wait the whole 5 s lease.
  const bound = 2 * MAX_POLL_MS + SLACK_MS;
  assert(
    takeover.at - stoppedAt <= bound,
    `hand-over took ${
      takeover.at - stoppedAt
    }ms after the stop; expected ≤ ${bound}ms`,
  );
  const after = await createCsrs(cluster.api, "post", 5);
  await until(() => cluster.approved(after), 10_000, "approvals by b");
  assertEquals(Object.fromEntries(cluster.approvalsBy()), { a: 5, b: 5 });
});

Deno.test("200 CSRs while leadership moves (graceful stops and a crash): each approved exactly once, only by the Lease holder", async () => {
  const policy = await loadDeployPolicy("deploy");
  await using cluster = await startReplicas();
  await cluster.startAll(["r0", "r1"], FAST);
  await cluster.leader();
  let next = 2;
  // Leadership changes after CSR 50, 100 and 150, while approvals are in flight.
  const transitions = new Map<number, "stop" | "crash">([
    [50, "stop"],
    [100, "crash"],
    [150, "stop"],
  ]);
  const names: string[] = [];
  for (let i = 0; i < 200; i++) {
    const how = transitions.get(i);
    if (how) {
      const leader = await cluster.leader();
      const stopped = how === "crash" ? cluster.crash(leader) : leader.stop();
      // A replacement joins at once so that two replicas run again.
      await cluster.start(`r${next++}`, FAST);
      assertEquals(await stopped, 0);
    }
    const name = `csr-${i}`;
    await createKubeletCsr(cluster.api, { name, node: `node-${i}` });
    names.push(name);
    if (i % 10 === 9) await new Promise((r) => setTimeout(r, 5));
  }
  await until(() => cluster.approved(names), 30_000, "200 approvals");
  await new Promise((r) => setTimeout(r, 300));

  const approvals = cluster.api.requests.filter((r) =>
    r.subresource === "approval" && r.verb === "update"
  );
  const ok = new Map<string, number>();
  for (const r of approvals.filter((r) => r.status === 200)) {
    ok.set(r.name, (ok.get(r.name) ?? 0) + 1);
  }
  const attempts = new Map<string, number>();
  for (const r of approvals) {
    attempts.set(r.name, (attempts.get(r.name) ?? 0) + 1);
  }
  for (const name of names) {
    assertEquals(ok.get(name), 1, `${name}: successful approval writes`);
    // Exactly once means attempts: a new leader whose cache lagged behind
    // the old one's write would try again and be refused.
    assertEquals(attempts.get(name), 1, `${name}: approval write attempts`);
    assertEquals(
      cluster.api.getCsr(name)?.status?.conditions?.filter((c) =>
        c.type === "Approved"
      ).length,
      1,
      `${name}: Approved conditions`,
    );
  }
  // 422 would be a second Approved condition written over a current object.
  assertEquals(
    approvals.filter((r) => r.status === 422).map((r) => r.name),
    [],
    "approval attempts rejected as invalid",
  );
  assertEquals(
    cluster.attempts.filter((t) => t.holderIdentity !== `replica-${t.by}`),
    [],
    "approval attempts by a replica the Lease did not name",
  );
  const by = cluster.approvalsBy();
  assert(
    by.size >= 2,
    `approvals spread over the leaders: ${JSON.stringify([...by])}`,
  );
  assertEquals([...by.values()].reduce((s, n) => s + n, 0), 200);
  assertAllowedByDeploy(
    cluster.api.requests.filter((r) => r.user === APPROVER_USER),
    policy,
    { defaultSignerName: "kubernetes.io/kubelet-serving" },
  );
});
