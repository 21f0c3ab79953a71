/**
 * The daemon's status endpoints end to end: readiness follows the caches,
 * liveness follows the watch, and /metrics is valid Prometheus text whose
 * series move with what the daemon does. One in-process daemon, leading,
 * against the API server double.
 */
import { VERSION } from "../../src/version.ts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import type { ApiServer } from "../support/api_server.ts";
import {
  createKubeletCsr,
  type Fixture,
  startFixture,
} from "../support/fixture.ts";
import { parsePrometheus } from "../support/prometheus.ts";

const NAMESPACE = "kubelet-rubber-stamp";
const LEADER_FLAGS = [
  "--leader-elect=true",
  `--leader-elect-namespace=${NAMESPACE}`,
  "--leader-elect-lease-duration=1s",
  "--leader-elect-renew-deadline=600ms",
  "--leader-elect-retry-period=100ms",
];
const P = "kubelet_rubber_stamp_";

function holderOf(api: ApiServer): string {
  const lease = (api.leases() as {
    metadata: { namespace: string };
    spec?: { holderIdentity?: string };
  }[]).find((l) => l.metadata.namespace === NAMESPACE);
  return lease?.spec?.holderIdentity ?? "";
}

/** Parses `{a="x",b="y"}` (values in this exposition contain no `",`). */
function labelsOf(key: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (
    const m of key.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)
  ) {
    out[m[1]] = m[2];
  }
  return out;
}

/** Sum of the samples of `name` whose labels include `match`. */
function total(
  metrics: Map<string, number>,
  name: string,
  match: Record<string, string> = {},
): number {
  let sum = 0;
  for (const [key, value] of metrics) {
    const brace = key.indexOf("{");
    if ((brace === -1 ? key : key.slice(0, brace)) !== name) continue;
    const labels = brace === -1 ? {} : labelsOf(key.slice(brace));
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) sum += value;
  }
  return sum;
}

/** Polls an endpoint until `accept` holds; returns the last answer either way. */
async function poll(
  f: Fixture,
  path: string,
  accept: (r: { status: number; body: string }) => boolean,
  timeoutMs = 10_000,
): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await f.status(path);
    if (accept(r) || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 20));
  }
}

async function scrape(f: Fixture): Promise<Map<string, number>> {
  const r = await f.status("/metrics");
  assertEquals(r.status, 200);
  return parsePrometheus(r.body);
}

Deno.test("/readyz waits for the Node and the CSR caches; /healthz is live meanwhile", async () => {
  let releaseNodes!: () => void;
  let releaseCsrs!: () => void;
  const nodesListed = new Promise<void>((r) => releaseNodes = r);
  const csrsListed = new Promise<void>((r) => releaseCsrs = r);
  const f = await startFixture({
    flags: LEADER_FLAGS,
    before(api) {
      api.faults.intercept = async (_req, attrs) => {
        if (attrs.verb !== "list") return undefined;
        if (attrs.resource === "nodes") await nodesListed;
        if (attrs.resource === "certificatesigningrequests") await csrsListed;
        return undefined;
      };
    },
  });
  try {
    // Leading changes nothing: an unsynced leader is not ready either.
    await f.until(() => holderOf(f.api) !== "", 10_000, "leadership");
    const steps: [() => void, number, RegExp][] = [
      [() => {}, 503, /^Node cache not synced$/],
      [releaseNodes, 503, /^CSR cache not synced$/],
      [releaseCsrs, 200, /^ok$/],
    ];
    for (const [step, status, body] of steps) {
      step();
      const r = await poll(
        f,
        "/readyz",
        (r) => r.status === status && body.test(r.body.trim()),
      );
      assertEquals(r.status, status, `/readyz said ${JSON.stringify(r.body)}`);
      assertMatch(r.body.trim(), body);
      assertEquals((await f.status("/healthz")).status, 200, "/healthz");
    }
  } finally {
    await f.stop();
  }
});

Deno.test("/healthz fails while the CSR watch is silent for too long, and recovers", async () => {
  const f = await startFixture({
    flags: LEADER_FLAGS,
    // Below the watch timeout + grace (2.5 s), after which the reflector
    // restarts a stalled watch on its own.
    deps: { maxSilenceMs: 700 },
  });
  try {
    assertEquals(
      (await poll(f, "/readyz", (r) => r.status === 200)).status,
      200,
    );
    assertEquals((await f.status("/healthz")).status, 200);
    f.api.faults.watchStall = true;
    f.api.dropConnections();
    const stuck = await poll(f, "/healthz", (r) => r.status === 503, 5_000);
    assertEquals(stuck.status, 503, "/healthz while the watch is stuck");
    assertMatch(stuck.body, /CSR watch silent for \d+s/);
    f.api.faults.watchStall = false;
    f.api.dropConnections();
    const live = await poll(f, "/healthz", (r) => r.status === 200, 5_000);
    assertEquals(
      live.status,
      200,
      `/healthz after the watch resumed: ${live.body}`,
    );
  } finally {
    await f.stop();
  }
});

Deno.test("/metrics is valid Prometheus text and its series move with decisions, API requests and relists", async () => {
  const f = await startFixture({ flags: LEADER_FLAGS });
  try {
    await f.until(() => holderOf(f.api) !== "", 10_000, "leadership");
    await poll(f, "/readyz", (r) => r.status === 200);
    const raw = await f.status("/metrics");
    const res = await fetch(`http://127.0.0.1:${f.port}/metrics`);
    assertMatch(
      res.headers.get("content-type") ?? "",
      /^text\/plain; version=0\.0\.4/,
    );
    await res.body?.cancel();
    const types: [string, string][] = [
      ["decisions_total", "counter"],
      ["approval_latency_seconds", "histogram"],
      ["pending_csrs", "gauge"],
      ["oldest_pending_csr_age_seconds", "gauge"],
      ["watch_restarts_total", "counter"],
      ["api_requests_total", "counter"],
      ["api_request_duration_seconds", "histogram"],
      ["leader", "gauge"],
      ["storm_guard_active", "gauge"],
      ["build_info", "gauge"],
    ];
    for (const [name, type] of types) {
      assertMatch(raw.body, new RegExp(`^# HELP ${P}${name} \\S`, "m"));
      assertMatch(raw.body, new RegExp(`^# TYPE ${P}${name} ${type}$`, "m"));
    }

    const before = parsePrometheus(raw.body);
    assertEquals(total(before, `${P}leader`), 1);
    assertEquals(total(before, `${P}storm_guard_active`), 0);
    assertEquals(
      total(before, `${P}build_info`, {
        version: VERSION,
        deno_version: Deno.version.deno,
      }),
      1,
      "build_info names the version and the Deno version",
    );
    assertEquals(total(before, `${P}pending_csrs`), 0);
    // The first list and watch of CSRs, and the Lease writes, were counted.
    for (
      const match of [
        { verb: "GET", resource: "certificatesigningrequests", code: "200" },
        { verb: "WATCH", resource: "certificatesigningrequests", code: "200" },
        { verb: "GET", resource: "nodes", code: "200" },
      ]
    ) {
      assert(
        total(before, `${P}api_requests_total`, match) >= 1,
        `api_requests_total${JSON.stringify(match)}`,
      );
    }
    assert(
      total(before, `${P}api_requests_total`, { resource: "leases" }) >= 1,
      "Lease requests counted",
    );
    assertEquals(
      total(before, `${P}watch_restarts_total`, {
        kind: "relist",
        cause: "initial",
      }),
      2,
      "one initial list each of Nodes and CSRs",
    );

    for (let i = 0; i < 3; i++) {
      await createKubeletCsr(f.api, { name: `good-${i}`, node: `m-${i}` });
    }
    await createKubeletCsr(f.api, {
      name: "bad",
      node: "m-bad",
      emails: ["x@example.com"],
    });
    await f.until(
      () =>
        ["good-0", "good-1", "good-2", "bad"].every((n) =>
          f.reconciled.some((r) => r.name === n)
        ),
      10_000,
      "four decisions",
    );
    const after = await scrape(f);
    const delta = (name: string, match: Record<string, string> = {}) =>
      total(after, `${P}${name}`, match) - total(before, `${P}${name}`, match);

    assertEquals(
      delta("decisions_total", { outcome: "approved", reason: "AutoApproved" }),
      3,
    );
    assertEquals(
      delta("decisions_total", {
        outcome: "left-pending",
        reason: "EmailSANForbidden",
      }),
      1,
    );
    assertEquals(delta("approval_latency_seconds_count"), 3);
    assertEquals(
      total(after, `${P}approval_latency_seconds_bucket`, { le: "+Inf" }),
      total(after, `${P}approval_latency_seconds_count`),
    );
    assert(delta("approval_latency_seconds_sum") > 0, "latency sum grew");
    assertEquals(
      delta("api_requests_total", {
        verb: "PUT",
        resource: "certificatesigningrequests/approval",
        code: "200",
      }),
      3,
      "approval writes",
    );
    assert(
      delta("api_requests_total", {
        verb: "POST",
        resource: "subjectaccessreviews",
        code: "201",
      }) >= 3,
      "SubjectAccessReviews created",
    );
    assertEquals(
      delta("api_request_duration_seconds_count", {
        verb: "PUT",
        resource: "certificatesigningrequests/approval",
      }),
      3,
    );
    // Renewals run every retry period; on a loaded machine the scrapes above
    // may come closer together than that, so give them a few seconds.
    {
      const leasesBefore = total(before, `${P}api_requests_total`, {
        resource: "leases",
      });
      let leasesNow = total(after, `${P}api_requests_total`, {
        resource: "leases",
      });
      const until = Date.now() + 5_000;
      while (leasesNow <= leasesBefore && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
        leasesNow = total(await scrape(f), `${P}api_requests_total`, {
          resource: "leases",
        });
      }
      assert(leasesNow > leasesBefore, "Lease renewals keep being counted");
    }
    assertEquals(total(after, `${P}pending_csrs`), 1, "the bad CSR is pending");

    // A watch that expires forces a relist, counted with its cause.
    const csrGets = (m: Map<string, number>) =>
      total(m, `${P}api_requests_total`, {
        verb: "GET",
        resource: "certificatesigningrequests",
        code: "200",
      });
    const expiredRelists = (m: Map<string, number>) =>
      total(m, `${P}watch_restarts_total`, {
        kind: "relist",
        cause: "expired",
      });
    assertEquals(expiredRelists(after), 0);
    f.api.faults.watchExpireAfterEvents = 0;
    f.api.dropConnections();
    let relisted = after;
    const deadline = Date.now() + 5_000;
    while (
      !(expiredRelists(relisted) >= 1 && csrGets(relisted) > csrGets(after)) &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 20));
      relisted = await scrape(f);
    }
    f.api.faults.watchExpireAfterEvents = undefined;
    assert(expiredRelists(relisted) >= 1, "relist{cause=expired} counted");
    assert(csrGets(relisted) > csrGets(after), "the relist's GET counted");
    // The pending CSR ages; the gauge follows at each scrape.
    const age = total(relisted, `${P}oldest_pending_csr_age_seconds`);
    await new Promise((r) => setTimeout(r, 1_100));
    const older = total(await scrape(f), `${P}oldest_pending_csr_age_seconds`);
    assert(
      older - age >= 1,
      `oldest pending CSR age went from ${age}s to ${older}s over 1.1 s`,
    );
  } finally {
    await f.stop();
  }
});
