/**
 * /healthz and /readyz verdicts from a snapshot of the daemon's state, in
 * the order the checks are made.
 */
import {
  type HealthSnapshot,
  liveness,
  readiness,
} from "../../../src/controller/health.ts";
import { assertEquals } from "../../support/assert.ts";

const NOW = 10_000_000;
const MAX = 15 * 60_000;

function snapshot(overrides: Partial<HealthSnapshot> = {}): HealthSnapshot {
  return {
    now: NOW,
    maxSilenceMs: MAX,
    policyReady: true,
    nodesSynced: true,
    leading: true,
    controller: { lastProgress: NOW - 1_000, synced: true },
    elector: undefined,
    leaseDurationMs: 15_000,
    ...overrides,
  };
}

Deno.test("liveness: a silent CSR watch or a leader that stopped renewing fails", () => {
  assertEquals(liveness(snapshot()), true);
  // Before the controller starts there is no silence to measure.
  assertEquals(liveness(snapshot({ controller: undefined })), true);
  assertEquals(
    liveness(
      snapshot({ controller: { lastProgress: NOW - MAX, synced: true } }),
    ),
    { ok: false, detail: "CSR watch silent for 900s" },
  );
  assertEquals(
    liveness(
      snapshot({ controller: { lastProgress: NOW - MAX + 1, synced: true } }),
    ),
    true,
  );
  const renewedAgo = (ms: number, isLeader = true) =>
    liveness(snapshot({ elector: { isLeader, lastRenew: NOW - ms } }));
  assertEquals(renewedAgo(25_000), true); // lease 15 s + 10 s tolerance
  assertEquals(renewedAgo(25_001), {
    ok: false,
    detail: "leading without renewing the Lease",
  });
  assertEquals(renewedAgo(60_000, false), true); // a follower renews nothing
});

Deno.test("readiness: policy, Node cache, a running watch when leading, CSR cache", () => {
  assertEquals(readiness(snapshot()), true);
  assertEquals(
    readiness(snapshot({ policyReady: false, nodesSynced: false })),
    {
      ok: false,
      detail: "API service IPs not discovered yet",
    },
  );
  assertEquals(readiness(snapshot({ nodesSynced: false })), {
    ok: false,
    detail: "Node cache not synced",
  });
  const stalled = { lastProgress: NOW - MAX, synced: true };
  assertEquals(readiness(snapshot({ controller: stalled })), {
    ok: false,
    detail: "leading, but the CSR watch is not running",
  });
  // A follower's watch may be quiet: that is not a readiness failure.
  assertEquals(
    readiness(snapshot({ controller: stalled, leading: false })),
    true,
  );
  assertEquals(readiness(snapshot({ controller: undefined })), {
    ok: false,
    detail: "CSR cache not synced",
  });
  assertEquals(
    readiness(snapshot({ controller: { lastProgress: NOW, synced: false } })),
    { ok: false, detail: "CSR cache not synced" },
  );
});

Deno.test("readiness: anything the API server refuses comes first, by name", () => {
  assertEquals(readiness(snapshot({ refused: [] })), true);
  assertEquals(
    readiness(
      snapshot({
        refused: ["credentials", "update certificatesigningrequests/approval"],
      }),
    ),
    {
      ok: false,
      detail:
        "the API server refuses credentials, update certificatesigningrequests/approval",
    },
  );
  // Even with caches unsynced, the refusal is what the operator must fix.
  assertEquals(
    readiness(snapshot({ nodesSynced: false, refused: ["list nodes"] })),
    { ok: false, detail: "the API server refuses list nodes" },
  );
});
