/**
 * Watch faults end to end: whatever the stream does, every pending valid CSR
 * is approved exactly once and nothing invalid ever is.
 */
import {
  APPROVER_USER,
  createKubeletCsr,
  startFixture,
} from "../support/fixture.ts";
import type { ApiServer } from "../support/api_server.ts";
import { assert, assertEquals } from "../support/assert.ts";

async function createBatch(api: ApiServer, prefix: string, n: number) {
  for (let i = 0; i < n; i++) {
    await createKubeletCsr(api, {
      name: `${prefix}-${i}`,
      node: `${prefix}-node-${i}`,
    });
  }
  // One invalid request per batch: must never be approved.
  await createKubeletCsr(api, {
    name: `${prefix}-bad`,
    uris: ["https://evil.example"],
  });
}

/** Each of `names` got exactly one approval write attempt; no other CSR any. */
function assertExactlyOnce(attempts: Map<string, number>, names: string[]) {
  for (const n of names) {
    assertEquals(attempts.get(n), 1, `${n} approved exactly once`);
  }
  for (const [n, c] of attempts) {
    assert(!n.endsWith("-bad"), `${n} must never be approved`);
    assertEquals(c, 1, `${n} approved once`);
  }
}

const names = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

const scenarios: {
  name: string;
  setup: (api: ApiServer) => void;
  heal?: (api: ApiServer) => void;
  expectRestart?: RegExp;
}[] = [
  {
    name: "watch closed after every 3 events",
    setup: (api) => api.faults.watchCloseAfterEvents = 3,
  },
  {
    name: "410 Expired in the middle of the stream",
    setup: (api) => api.faults.watchExpireAfterEvents = 4,
    heal: (api) => api.faults.watchExpireAfterEvents = undefined,
    expectRestart: /"kind":"relist".*"cause":"expired"|"cause":"expired"/,
  },
  {
    name: "a half-written JSON line, then the connection closes",
    setup: (api) => api.faults.watchHalfLineAfterEvents = 2,
    heal: (api) => api.faults.watchHalfLineAfterEvents = undefined,
    expectRestart: /"cause":"malformed"/,
  },
];

for (const s of scenarios) {
  Deno.test(`watch fault: ${s.name}`, async () => {
    const f = await startFixture({
      async before(api) {
        await createBatch(api, "pre", 4);
      },
    });
    try {
      await f.until(
        () => f.approvalWrites().size === 4,
        10_000,
        "backlog approved",
      );
      s.setup(f.api);
      await createBatch(f.api, "live", 12);
      if (s.heal) {
        await new Promise((r) => setTimeout(r, 300));
        s.heal(f.api);
      }
      await f.until(
        () => f.approvalWrites().size === 16,
        15_000,
        "all approved",
      );
      await new Promise((r) => setTimeout(r, 200));
      assertExactlyOnce(f.approvalAttempts(), [
        ...names("pre", 4),
        ...names("live", 12),
      ]);
      if (s.expectRestart) {
        assert(
          f.logs.some((l) => s.expectRestart!.test(l)),
          `a restart with the expected cause was logged`,
        );
      }
    } finally {
      await f.stop();
    }
  });
}

Deno.test("watch fault: a silent stall is aborted by the client watchdog", async () => {
  const f = await startFixture({
    async before(api) {
      await createBatch(api, "pre", 2);
    },
    deps: { watchTimeoutSeconds: () => 1, watchGraceMs: 300 },
  });
  try {
    await f.until(
      () => f.approvalWrites().size === 2,
      10_000,
      "backlog approved",
    );
    f.api.faults.watchStall = true;
    f.api.dropConnections();
    await createBatch(f.api, "live", 3);
    await new Promise((r) => setTimeout(r, 200));
    f.api.faults.watchStall = false;
    await f.until(
      () => f.approvalWrites().size === 5,
      15_000,
      "approved after the stall",
    );
    assert(
      f.logs.some((l) => /"cause":"stalled"/.test(l)),
      "the stall was detected",
    );
    assertExactlyOnce(f.approvalAttempts(), [
      ...names("pre", 2),
      ...names("live", 3),
    ]);
  } finally {
    await f.stop();
  }
});

Deno.test("watch fault: history compacted while disconnected forces a relist", async () => {
  const f = await startFixture({
    async before(api) {
      await createBatch(api, "pre", 2);
    },
  });
  try {
    await f.until(
      () => f.approvalWrites().size === 2,
      10_000,
      "backlog approved",
    );
    // Down for the daemon; the kubelets still create their CSRs (through
    // another API server replica, as it were).
    f.api.faults.unavailable = (a) => a.user === APPROVER_USER;
    f.api.dropConnections();
    await createBatch(f.api, "live", 5);
    f.api.compact();
    await new Promise((r) => setTimeout(r, 150));
    f.api.faults.unavailable = false;
    await f.until(
      () => f.approvalWrites().size === 7,
      15_000,
      "approved after relist",
    );
    assertExactlyOnce(f.approvalAttempts(), [
      ...names("pre", 2),
      ...names("live", 5),
    ]);
  } finally {
    await f.stop();
  }
});

Deno.test("watch fault: the API server restarts (connections dropped, state kept)", async () => {
  const f = await startFixture({
    async before(api) {
      await createBatch(api, "pre", 2);
    },
  });
  try {
    await f.until(
      () => f.approvalWrites().size === 2,
      10_000,
      "backlog approved",
    );
    await f.api.restart();
    await createBatch(f.api, "live", 5);
    await f.until(
      () => f.approvalWrites().size === 7,
      15_000,
      "approved after restart",
    );
    assertExactlyOnce(f.approvalAttempts(), [
      ...names("pre", 2),
      ...names("live", 5),
    ]);
  } finally {
    await f.stop();
  }
});
