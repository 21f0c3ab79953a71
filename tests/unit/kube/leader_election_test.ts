import { createKubeClient } from "../../../src/kube/client.ts";
import {
  type LeaderElectionOptions,
  type LeaderElector,
  makeIdentity,
  startLeaderElection,
  validateLeaderElectionTimings,
} from "../../../src/kube/leader_election.ts";
import type { Lease } from "../../../src/kube/lease_lock.ts";
import { microTime } from "../../../src/util/time.ts";
import { staticTokenSource } from "../../../src/kube/token_source.ts";
import type { KubeClient } from "../../../src/kube/types.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertThrows,
} from "../../support/assert.ts";
import { startApiServer } from "../../support/api_server.ts";

// ---------------------------------------------------------------------------
// The shared API server double serves Leases like the real apiserver: PUT
// without resourceVersion → 422, stale → 409, MicroTime fields must carry
// exactly 6 fractional digits (else 400). Each candidate has its own token,
// so a fault can hit one candidate's requests only.
// ---------------------------------------------------------------------------

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

interface Write {
  user: string;
  method: string;
  spec: Record<string, unknown>;
}

interface LeaseApi {
  url: string;
  caPem: string;
  /** An HTTP status to answer instead of handling, per user (e.g. 500 for "a"). */
  fail: Map<string, number>;
  /** Answers the next `count` PUTs of `user` with 409 Conflict (as after a concurrent write). */
  conflictPuts(user: string, count: number): void;
  /** Successful lease writes, in order, recorded by the candidates' clients. */
  writes: Write[];
  lease(name: string): Lease | undefined;
  stop(): Promise<void>;
}

async function startLeaseApi(): Promise<LeaseApi> {
  const server = await startApiServer({
    tokens: {
      "token-a": { username: "a", groups: ["system:authenticated"] },
      "token-b": { username: "b", groups: ["system:authenticated"] },
    },
  });
  const fail = new Map<string, number>();
  const conflicts = new Map<string, number>();
  server.faults.intercept = (_req, attrs) => {
    const pending = conflicts.get(attrs.user) ?? 0;
    if (attrs.method === "PUT" && pending > 0) {
      conflicts.set(attrs.user, pending - 1);
      return Response.json({
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message:
          `Operation cannot be fulfilled on leases.coordination.k8s.io "${attrs.name}": the object has been modified; please apply your changes to the latest version and try again`,
        reason: "Conflict",
        code: 409,
      }, { status: 409 });
    }
    const code = fail.get(attrs.user);
    if (code === undefined) return undefined;
    return Response.json({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "injected fault",
      reason: "InternalError",
      code,
    }, { status: code });
  };
  return {
    url: server.url,
    caPem: server.caPem,
    fail,
    conflictPuts: (user, count) => conflicts.set(user, count),
    writes: [],
    lease: (name) =>
      (server.leases() as Lease[]).find((l) =>
        l.metadata.name === name && l.metadata.namespace === "default"
      ),
    stop: () => server.stop(),
  };
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const LEASE_MS = 1000; // leaseDurationSeconds is an integer: 1 s keeps the record exact
const RENEW_MS = 600;
const RETRY_MS = 100;
const NAME = "kubelet-rubber-stamp";

/** Wraps `inner` so each successful POST/PUT is appended to `writes` as `user`. */
function recording(
  inner: KubeClient,
  user: string,
  writes: Write[],
): KubeClient {
  return {
    server: inner.server,
    close: () => inner.close(),
    stream: (req) => inner.stream(req),
    async request<T>(req: Parameters<KubeClient["request"]>[0]): Promise<T> {
      const result = await inner.request<T>(req);
      if (req.method === "POST" || req.method === "PUT") {
        const body = req.body as Lease;
        writes.push({
          user,
          method: req.method,
          spec: structuredClone(body.spec ?? {}),
        });
      }
      return result;
    },
  };
}

interface Candidate {
  user: "a" | "b";
  id: string;
  client: KubeClient;
  stop: AbortController;
  elector: LeaderElector;
  started: number;
  stopped: number;
  /** Leadership signals handed to onStartedLeading, in order. */
  terms: AbortSignal[];
  newLeaders: string[];
}

function candidate(
  api: LeaseApi,
  user: "a" | "b",
  extra: Partial<LeaderElectionOptions> = {},
): Candidate {
  const client = recording(
    createKubeClient({
      server: api.url,
      caPem: api.caPem,
      tokenSource: staticTokenSource(`token-${user}`),
      source: "test",
    }, { qps: 0, timeoutMs: 2_000 }),
    user,
    api.writes,
  );
  const stop = new AbortController();
  const c: Candidate = {
    user,
    id: `${user}_${crypto.randomUUID().slice(0, 8)}`,
    client,
    stop,
    elector: undefined as unknown as LeaderElector,
    started: 0,
    stopped: 0,
    terms: [],
    newLeaders: [],
  };
  c.elector = startLeaderElection({
    client,
    namespace: "default",
    name: NAME,
    identity: c.id,
    leaseDurationMs: LEASE_MS,
    renewDeadlineMs: RENEW_MS,
    retryPeriodMs: RETRY_MS,
    signal: stop.signal,
    onStartedLeading(leadership) {
      c.started++;
      c.terms.push(leadership);
    },
    onStoppedLeading() {
      c.stopped++;
    },
    onNewLeader(identity) {
      c.newLeaders.push(identity);
    },
    ...extra,
  });
  return c;
}

async function shutdown(...cs: Candidate[]): Promise<void> {
  for (const c of cs) c.stop.abort();
  await Promise.all(cs.map((c) => c.elector.done));
  for (const c of cs) c.client.close();
}

/**
 * Samples `isLeader()` of every candidate every 5 ms until `until()` holds
 * (or `timeoutMs`), failing if two ever lead at once. Returns the elapsed ms.
 */
async function watchUntil(
  cs: Candidate[],
  until: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const start = performance.now();
  while (true) {
    const leaders = cs.filter((c) => c.elector.isLeader()).map((c) => c.id);
    assert(leaders.length <= 1, `two leaders at once: ${leaders.join(", ")}`);
    if (until()) return performance.now() - start;
    const elapsed = performance.now() - start;
    assert(
      elapsed < timeoutMs,
      `timed out after ${timeoutMs} ms waiting for ${what}`,
    );
    await new Promise((r) => setTimeout(r, 5));
  }
}

const leaderOf = (cs: Candidate[]) => cs.find((c) => c.elector.isLeader());

// ---------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------

Deno.test("microTime writes exactly 6 fractional digits in UTC", () => {
  const cases: [Date, string][] = [
    [
      new Date(Date.UTC(2026, 10, 28, 8, 49, 48, 123)),
      "2026-11-28T08:49:48.123000Z",
    ],
    [new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 0)), "2026-01-01T00:00:00.000000Z"],
    [
      new Date(Date.UTC(1999, 11, 31, 23, 59, 59, 999)),
      "1999-12-31T23:59:59.999000Z",
    ],
  ];
  for (const [date, expected] of cases) {
    assertEquals(microTime(date), expected);
    assertMatch(microTime(date), MICRO_TIME);
  }
  assertThrows(() => microTime(new Date(NaN)), RangeError);
});

Deno.test("validateLeaderElectionTimings follows client-go and names the timings", () => {
  const cases: [number, number, number, RegExp | undefined][] = [
    [15_000, 10_000, 2_000, undefined],
    [1_000, 600, 100, undefined],
    [
      10_000,
      10_000,
      2_000,
      /leaseDurationMs \(10s\) must be greater than renewDeadlineMs \(10s\)/,
    ],
    [
      15_000,
      2_400,
      2_000,
      /renewDeadlineMs \(2400ms\) must be greater than 1.2 × retryPeriodMs/,
    ],
    [
      0,
      10_000,
      2_000,
      /leaseDurationMs must be a positive duration/,
    ],
    [
      15_000,
      -1,
      2_000,
      /renewDeadlineMs must be a positive duration/,
    ],
    [
      15_000,
      10_000,
      0,
      /retryPeriodMs must be a positive duration/,
    ],
    [
      NaN,
      10_000,
      2_000,
      /leaseDurationMs must be a positive duration/,
    ],
  ];
  for (const [lease, renew, retry, expected] of cases) {
    const got = validateLeaderElectionTimings(lease, renew, retry);
    if (expected === undefined) {
      assertEquals(got, undefined, `${lease}/${renew}/${retry}`);
    } else {
      assertMatch(got ?? "", expected, `${lease}/${renew}/${retry}`);
    }
  }
});

Deno.test("makeIdentity is <host>_<uuid> and unique per call", () => {
  const a = makeIdentity("approver-7d9f-abcde");
  const b = makeIdentity("approver-7d9f-abcde");
  assertMatch(a, /^approver-7d9f-abcde_[0-9a-f-]{36}$/);
  assert(a !== b, "two identities for one host must differ");
  assertMatch(makeIdentity("  "), /^unknown_[0-9a-f-]{36}$/);
});

Deno.test("startLeaderElection refuses bad timings and an empty identity", () => {
  const base = {
    client: {} as KubeClient,
    namespace: "default",
    name: NAME,
    identity: "x",
    signal: AbortSignal.abort(),
    onStartedLeading() {},
  };
  assertThrows(
    () =>
      startLeaderElection({
        ...base,
        leaseDurationMs: 500,
        renewDeadlineMs: 600,
        retryPeriodMs: 100,
      }),
    RangeError,
    "leaseDurationMs",
  );
  assertThrows(
    () => startLeaderElection({ ...base, identity: "" }),
    RangeError,
    "identity",
  );
});

// ---------------------------------------------------------------------------
// Against the fake API
// ---------------------------------------------------------------------------

Deno.test("two candidates: exactly one leads, never both, lease written as MicroTime", async () => {
  const api = await startLeaseApi();
  const a = candidate(api, "a");
  const b = candidate(api, "b");
  try {
    await watchUntil(
      [a, b],
      () => leaderOf([a, b]) !== undefined,
      2_000,
      "a leader",
    );
    // Keep sampling for several renew periods: leadership must stay put and single.
    const deadline = performance.now() + 8 * RETRY_MS;
    await watchUntil(
      [a, b],
      () => performance.now() > deadline,
      2_000,
      "the sampling window",
    );
    const leader = leaderOf([a, b])!;
    const follower = leader === a ? b : a;
    assertEquals(leader.started, 1);
    assertEquals(follower.started, 0);
    const lease = api.lease(NAME)!;
    assertEquals(lease.spec?.holderIdentity, leader.id);
    assertEquals(lease.spec?.leaseDurationSeconds, 1);
    assertEquals(lease.spec?.leaseTransitions, 0);
    assertMatch(String(lease.spec?.renewTime), MICRO_TIME);
    assertMatch(String(lease.spec?.acquireTime), MICRO_TIME);
    // Renewals happened (more than the create) and kept acquireTime.
    const leaderWrites = api.writes.filter((w) => w.user === leader.user);
    assert(
      leaderWrites.length >= 3,
      `expected renewals, found ${leaderWrites.length} writes`,
    );
    assert(
      leaderWrites.every((w) => w.spec.acquireTime === lease.spec?.acquireTime),
    );
    assertEquals(api.writes.filter((w) => w.user === follower.user).length, 0);
    assertEquals(follower.newLeaders, [leader.id]);
    assert(leader.elector.lastRenew() > 0, "lastRenew is set");
    assertEquals(follower.elector.lastRenew(), 0);
    assertEquals(follower.elector.leader(), leader.id);
  } finally {
    await shutdown(a, b);
    await api.stop();
  }
});

Deno.test("a leader that dies without releasing is replaced within leaseDuration + retry", async () => {
  const api = await startLeaseApi();
  const a = candidate(api, "a", { releaseOnCancel: false });
  try {
    await watchUntil([a], () => a.elector.isLeader(), 2_000, "a to lead");
    const b = candidate(api, "b");
    try {
      await watchUntil(
        [a, b],
        () => b.newLeaders.length > 0,
        2_000,
        "b to observe a",
      );
      // "Crash" a: its loop stops and it writes nothing more.
      a.stop.abort();
      await a.elector.done;
      const writesBefore = api.writes.length;
      assertEquals(api.lease(NAME)?.spec?.holderIdentity, a.id);
      const took = await watchUntil(
        [a, b],
        () => b.elector.isLeader(),
        3_000,
        "b to take over",
      );
      // b observed a's last renewal at most one (jittered) period before the crash.
      const bound = LEASE_MS + RETRY_MS * (1 + 1.2) * 2 + 300;
      assert(
        took <= bound,
        `takeover took ${took.toFixed(0)} ms, expected ≤ ${bound} ms`,
      );
      assert(
        took >= LEASE_MS - RETRY_MS * 2.2 - 50,
        `takeover after ${took.toFixed(0)} ms is before the lease could expire`,
      );
      assertEquals(
        api.writes[writesBefore]?.user,
        "b",
        "the first write after the crash is b's takeover",
      );
      const lease = api.lease(NAME)!;
      assertEquals(lease.spec?.holderIdentity, b.id);
      assertEquals(lease.spec?.leaseTransitions, 1);
      assertEquals(a.stopped, 1);
      assert(a.terms[0].aborted, "a's leadership signal is aborted");
    } finally {
      await shutdown(b);
    }
  } finally {
    await shutdown(a);
    await api.stop();
  }
});

Deno.test('graceful stop releases the lease (holder "", transitions kept) and the other takes over fast', async () => {
  const api = await startLeaseApi();
  const a = candidate(api, "a");
  try {
    await watchUntil([a], () => a.elector.isLeader(), 2_000, "a to lead");
    const b = candidate(api, "b");
    try {
      await watchUntil(
        [a, b],
        () => b.newLeaders.length > 0,
        2_000,
        "b to observe a",
      );
      const transitions = api.lease(NAME)!.spec?.leaseTransitions;
      const term = a.terms[0];
      a.stop.abort();
      // The leadership signal aborts synchronously with the caller's signal.
      assert(term.aborted, "leadership must abort at once");
      assertEquals(a.elector.isLeader(), false);
      await a.elector.done;
      const release = api.writes.filter((w) => w.user === "a").at(-1)!;
      assertEquals(release.method, "PUT");
      assertEquals(release.spec.holderIdentity, "");
      assertEquals(release.spec.leaseDurationSeconds, 1);
      assertEquals(release.spec.leaseTransitions, transitions);
      assertMatch(String(release.spec.renewTime), MICRO_TIME);
      const took = await watchUntil(
        [a, b],
        () => b.elector.isLeader(),
        2_000,
        "b to take over",
      );
      const bound = RETRY_MS * (1 + 1.2) + 150;
      assert(
        took <= bound,
        `takeover after release took ${
          took.toFixed(0)
        } ms, expected ≤ ${bound} ms`,
      );
      assertEquals(
        api.lease(NAME)?.spec?.leaseTransitions,
        (transitions ?? 0) + 1,
      );
      assertEquals(a.stopped, 1);
    } finally {
      await shutdown(b);
    }
  } finally {
    await shutdown(a);
    await api.stop();
  }
});

Deno.test("renew failures past renewDeadline abort the leadership signal, then it campaigns again", async () => {
  const api = await startLeaseApi();
  const warnings: string[] = [];
  const a = candidate(api, "a", {
    log: { info() {}, warn: (msg) => warnings.push(msg) },
  });
  const b = candidate(api, "b");
  try {
    await watchUntil(
      [a, b],
      () => a.elector.isLeader() || b.elector.isLeader(),
      2_000,
      "a leader",
    );
    const leader = leaderOf([a, b])!;
    const follower = leader === a ? b : a;
    const user = leader === a ? "a" : "b";
    const term = leader.terms[0];
    api.fail.set(user, 500);
    const failedAt = performance.now();
    await watchUntil(
      [a, b],
      () => term.aborted,
      2_000,
      "the leadership signal to abort",
    );
    const lostAfter = performance.now() - failedAt;
    // A round starts ≤ retry after the last renewal and gives up renewDeadline later.
    assert(
      lostAfter <= RETRY_MS + RENEW_MS + 150,
      `leadership lost after ${lostAfter.toFixed(0)} ms, expected ≤ ${
        RETRY_MS + RENEW_MS + 150
      } ms`,
    );
    assertEquals(leader.stopped, 1);
    assertEquals(leader.elector.isLeader(), false);
    await watchUntil(
      [a, b],
      () => follower.elector.isLeader(),
      3_000,
      "the follower to take over",
    );
    api.fail.delete(user);
    // The old leader is still campaigning (not exited) and now follows.
    await watchUntil(
      [a, b],
      () => leader.newLeaders.includes(follower.id),
      2_000,
      "the old leader to observe the new one",
    );
    assertEquals(leader.elector.isLeader(), false);
    if (leader === a) {
      assert(
        warnings.includes("leadership ended"),
        `warnings: ${warnings.join("; ")}`,
      );
    }
  } finally {
    await shutdown(a, b);
    await api.stop();
  }
});

Deno.test("a leader whose own lease lapsed by the local clock is not leader, even before timers run", async () => {
  const api = await startLeaseApi();
  let skew = 0;
  const a = candidate(api, "a", { now: () => Date.now() + skew });
  try {
    await watchUntil([a], () => a.elector.isLeader(), 2_000, "a to lead");
    skew = LEASE_MS + 1;
    assertEquals(a.elector.isLeader(), false);
    await watchUntil(
      [a],
      () => a.terms[0].aborted,
      1_000,
      "leadership to end",
    );
    assertEquals(a.stopped, 1);
    // It goes back to campaigning and re-acquires its own (still held) lease.
    await watchUntil([a], () => a.elector.isLeader(), 2_000, "a to lead again");
    assertEquals(a.started, 2);
    assertEquals(
      api.lease(NAME)?.spec?.leaseTransitions,
      0,
      "re-acquiring one's own lease is no transition",
    );
  } finally {
    await shutdown(a);
    await api.stop();
  }
});

Deno.test("stopping a non-leader neither writes nor calls the leadership callbacks", async () => {
  const api = await startLeaseApi();
  const a = candidate(api, "a");
  try {
    await watchUntil([a], () => a.elector.isLeader(), 2_000, "a to lead");
    const b = candidate(api, "b");
    try {
      await watchUntil(
        [a, b],
        () => b.newLeaders.length > 0,
        2_000,
        "b to observe a",
      );
    } finally {
      await shutdown(b);
    }
    assertEquals(api.writes.filter((w) => w.user === "b"), []);
    assertEquals([b.started, b.stopped], [0, 0]);
    assertEquals(api.lease(NAME)?.spec?.holderIdentity, a.id);
    assert(a.elector.isLeader(), "a still leads");
  } finally {
    await shutdown(a);
    await api.stop();
  }
});

Deno.test("release retries a 409 by re-reading the lease, keeping leaseTransitions", async () => {
  const api = await startLeaseApi();
  const a = candidate(api, "a");
  try {
    await watchUntil([a], () => a.elector.isLeader(), 2_000, "a to lead");
    const before = api.lease(NAME)!;
    api.conflictPuts("a", 1);
    a.stop.abort();
    await a.elector.done;
    const after = api.lease(NAME)!;
    assertEquals(after.spec?.holderIdentity, "");
    assertEquals(after.spec?.leaseDurationSeconds, 1);
    assertEquals(after.spec?.leaseTransitions, before.spec?.leaseTransitions);
    assert(
      after.metadata.resourceVersion !== before.metadata.resourceVersion,
      "the release was written",
    );
  } finally {
    await shutdown(a);
    await api.stop();
  }
});

Deno.test("a lease held by another, unexpired holder is left alone; a stale one is taken over", async () => {
  const api = await startLeaseApi();
  // An old holder created the lease and then stopped renewing it.
  const ghost = candidate(api, "b", { releaseOnCancel: false });
  await watchUntil(
    [ghost],
    () => ghost.elector.isLeader(),
    2_000,
    "the ghost to lead",
  );
  await shutdown(ghost);
  const start = performance.now();
  const a = candidate(api, "a");
  try {
    await watchUntil(
      [a],
      () => a.newLeaders.length > 0,
      2_000,
      "a to observe the ghost",
    );
    assertEquals(a.newLeaders, [ghost.id]);
    assertEquals(a.elector.isLeader(), false);
    // Expiry is judged from when *a* first saw the record, not from renewTime.
    const took = await watchUntil(
      [a],
      () => a.elector.isLeader(),
      3_000,
      "a to take over",
    );
    const total = performance.now() - start;
    assert(
      total >= LEASE_MS,
      `took over after ${total.toFixed(0)} ms, before a full lease duration`,
    );
    assert(
      took <= LEASE_MS + RETRY_MS * 2.2 + 300,
      `takeover took ${took.toFixed(0)} ms`,
    );
    assertEquals(api.lease(NAME)?.spec?.leaseTransitions, 1);
    assertEquals(a.newLeaders, [ghost.id, a.id]);
  } finally {
    await shutdown(a);
    await api.stop();
  }
});
