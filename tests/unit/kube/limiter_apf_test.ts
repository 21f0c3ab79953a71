/**
 * The client-side rate limit: automatic with API Priority and Fairness
 * (unlimited when the server sends its X-Kubernetes-PF-* headers, else
 * 20/30), explicit flags always win, and a 429 with Retry-After pauses the
 * whole client.
 */
import {
  createAdaptiveRateLimiter,
  type Sleep,
} from "../../../src/kube/rate_limiter.ts";
import {
  hasApfHeaders,
  type RateLimitInfo,
} from "../../../src/kube/apf_limit.ts";
import { createKubeClient } from "../../../src/kube/client.ts";
import type { ApiServer } from "../../support/api_server.ts";
import { createKubeletCsr, startFixture } from "../../support/fixture.ts";
import { assert, assertEquals } from "../../support/assert.ts";
import { parsePrometheus } from "../../support/prometheus.ts";
import { createTestCa } from "../../support/tls.ts";

/** A fake clock whose sleeps advance it. */
function fakeTime() {
  let t = 0;
  const slept: number[] = [];
  const sleep: Sleep = (ms) => {
    slept.push(ms);
    t += ms;
    return Promise.resolve();
  };
  return { now: () => t, sleep, slept, advance: (ms: number) => t += ms };
}

Deno.test("adaptive limiter: a pause holds every caller, setLimit swaps the bucket", async () => {
  const time = fakeTime();
  const limiter = createAdaptiveRateLimiter(
    { qps: 10, burst: 2 },
    time.now,
    time.sleep,
  );
  await limiter.acquire();
  await limiter.acquire();
  assertEquals(time.slept, []);
  await limiter.acquire(); // third token: 100 ms at 10 qps
  assertEquals(time.slept, [100]);
  limiter.setLimit({ qps: 0, burst: 0 });
  assertEquals(limiter.limit(), { qps: 0, burst: 0 });
  time.slept.length = 0;
  for (let i = 0; i < 100; i++) await limiter.acquire();
  assertEquals(time.slept, [], "unlimited takes no sleep");
  limiter.pauseFor(1500);
  limiter.pauseFor(500); // a shorter pause never shortens a longer one
  assertEquals(limiter.pausedMs(), 1500);
  await limiter.acquire();
  assertEquals(time.slept, [1500]);
  limiter.pauseFor(700);
  await limiter.waitPause(); // a caller with its own budget waits too
  assertEquals(time.slept, [1500, 700]);
  assertEquals(limiter.pausedMs(), 0);
});

Deno.test("hasApfHeaders: either APF header counts", () => {
  assert(
    hasApfHeaders(new Headers({ "X-Kubernetes-PF-FlowSchema-UID": "u" })),
  );
  assert(
    hasApfHeaders(new Headers({ "x-kubernetes-pf-prioritylevel-uid": "u" })),
  );
  assert(!hasApfHeaders(new Headers({ "content-type": "application/json" })));
});

/** A TLS server whose answers carry APF headers while `apf.on`. */
async function withToggleServer(
  fn: (
    server: string,
    caPem: string,
    state: { apf: boolean; status: number; retryAfter?: string },
    seen: number[],
  ) => Promise<void>,
) {
  const ca = await createTestCa("limiter test CA");
  const pair = await ca.issue({
    subject: "CN=127.0.0.1",
    ips: ["127.0.0.1"],
    server: true,
  });
  const state: { apf: boolean; status: number; retryAfter?: string } = {
    apf: true,
    status: 200,
  };
  const seen: number[] = [];
  const controller = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: pair.cert,
    key: pair.key,
    signal: controller.signal,
    onListen() {},
  }, () => {
    seen.push(performance.now());
    const headers = new Headers({ "content-type": "application/json" });
    if (state.apf) {
      headers.set("X-Kubernetes-PF-FlowSchema-UID", "fs");
      headers.set("X-Kubernetes-PF-PriorityLevel-UID", "pl");
    }
    if (state.retryAfter) headers.set("retry-after", state.retryAfter);
    return new Response(
      state.status === 200
        ? "{}"
        : JSON.stringify({ kind: "Status", code: state.status }),
      { status: state.status, headers },
    );
  });
  try {
    await fn(
      `https://127.0.0.1:${server.addr.port}`,
      ca.cert,
      state,
      seen,
    );
  } finally {
    controller.abort();
    await server.finished;
  }
}

Deno.test("client: automatic limit follows the server's APF headers; explicit limits stay", async () => {
  await withToggleServer(async (server, caPem, state) => {
    const reports: RateLimitInfo[] = [];
    const client = createKubeClient(
      { server, caPem, source: "test" },
      { onRateLimit: (r) => reports.push(r) },
    );
    try {
      // Before any answer: 20/30, not decided yet.
      assertEquals(reports, [{
        mode: "default",
        qps: 20,
        burst: 30,
        decided: false,
      }]);
      await client.request({ method: "GET", path: "/a" });
      assertEquals(client.rateLimit!(), {
        mode: "apf",
        qps: 0,
        burst: 0,
        decided: true,
      });
      // 200 requests in a row: far beyond a 30 burst at 20 qps (≥ 8.5 s).
      const started = performance.now();
      await Promise.all(
        Array.from(
          { length: 200 },
          () => client.request({ method: "GET", path: "/b" }),
        ),
      );
      const elapsed = performance.now() - started;
      assert(elapsed < 6000, `200 unlimited requests took ${elapsed} ms`);
      // The server loses APF: back to 20/30, and reported.
      state.apf = false;
      await client.request({ method: "GET", path: "/c" });
      assertEquals(client.rateLimit!().mode, "default");
      assertEquals(reports.map((r) => [r.mode, r.qps, r.burst]), [
        ["default", 20, 30],
        ["apf", 0, 0],
        ["default", 20, 30],
      ]);
    } finally {
      client.close();
    }

    state.apf = true;
    const explicit = createKubeClient(
      { server, caPem, source: "test" },
      { qps: 5, burst: 2 },
    );
    try {
      const started = performance.now();
      for (let i = 0; i < 4; i++) {
        await explicit.request({ method: "GET", path: "/d" });
      }
      const elapsed = performance.now() - started;
      // Two tokens up front, then 200 ms each at 5 qps: ≥ 400 ms.
      assert(elapsed >= 350, `4 requests at 5 qps took ${elapsed} ms`);
      assertEquals(explicit.rateLimit!(), {
        mode: "flags",
        qps: 5,
        burst: 2,
        decided: true,
      });
    } finally {
      explicit.close();
    }
  });
});

Deno.test("client: a 429 with Retry-After pauses every caller, not just the one refused", async () => {
  await withToggleServer(async (server, caPem, state, seen) => {
    const client = createKubeClient({ server, caPem, source: "test" }, {
      qps: 0,
    });
    try {
      await client.request({ method: "GET", path: "/warm" });
      state.status = 429;
      state.retryAfter = "1";
      const refused = performance.now();
      const error = await client.request({ method: "GET", path: "/x" }).then(
        () => undefined,
        (e) => e,
      );
      assertEquals(error?.status, 429);
      state.status = 200;
      state.retryAfter = undefined;
      // Other callers (another worker, a watch) now wait for the pause.
      const count = seen.length;
      await Promise.all([
        client.request({ method: "GET", path: "/y" }),
        client.request({ method: "POST", path: "/z", body: {} }),
        client.request({ method: "GET", path: "/w", ownBudget: true }),
      ]);
      const firstAfter = seen[count] - refused;
      assert(
        firstAfter >= 900,
        `the next request reached the server ${firstAfter} ms after the 429`,
      );
    } finally {
      client.close();
    }
  });
});

async function metricsOf(
  f: { status(path: string): Promise<{ body: string }> },
) {
  return parsePrometheus((await f.status("/metrics")).body);
}

/** Creates `n` kubelet CSRs (with Nodes) and returns their names. */
async function createMany(api: ApiServer, n: number, prefix: string) {
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = `${prefix}-${i}`;
    await createKubeletCsr(api, { name, node: `${prefix}-node-${i}` });
    names.push(name);
  }
  return names;
}

const BACKLOG = 40;

/** Runs the daemon over a backlog; returns the seconds to the last approval and the metrics. */
async function backlogRun(
  flags: string[],
  apfHeaders: boolean,
) {
  let names: string[] = [];
  let t0 = 0;
  let last = 0;
  const f = await startFixture({
    flags,
    api: { apfHeaders },
    async before(api) {
      names = await createMany(api, BACKLOG, "b");
      api.onRequest = (a) => {
        if (a.subresource === "approval" && a.status === 200) {
          last = performance.now();
        }
      };
      t0 = performance.now();
    },
  });
  try {
    await f.until(
      () => f.approvalWrites().size === BACKLOG,
      60_000,
      "every backlog CSR approved",
    );
    const writes = f.approvalWrites();
    for (const n of names) assertEquals(writes.get(n), 1, n);
    const m = await metricsOf(f);
    const logs = f.logs.filter((l) => l.includes("client-side rate limit"));
    return { seconds: (last - t0) / 1000, m, logs };
  } finally {
    await f.stop();
  }
}

Deno.test("daemon: default flags against a server with APF: no client-side limit, logged once, exported", async () => {
  const r = await backlogRun([], true);
  assertEquals(r.m.get("kubelet_rubber_stamp_client_rate_limit_qps"), 0);
  assertEquals(
    r.m.get('kubelet_rubber_stamp_client_rate_limit_mode{mode="apf"}'),
    1,
  );
  assertEquals(
    r.m.get('kubelet_rubber_stamp_client_rate_limit_mode{mode="default"}'),
    0,
  );
  assertEquals(r.logs.length, 1, r.logs.join("\n"));
  assert(r.logs[0].includes('"mode":"apf"'), r.logs[0]);
  // 40 CSRs × (SAR + approval) = 80 requests: at 20/30 that is ≥ 2.5 s.
  assert(r.seconds < 2.5, `backlog took ${r.seconds} s without a limit`);
});

Deno.test("daemon: default flags against a server without APF: 20 qps, burst 30", async () => {
  const r = await backlogRun([], false);
  assertEquals(r.m.get("kubelet_rubber_stamp_client_rate_limit_qps"), 20);
  assertEquals(
    r.m.get('kubelet_rubber_stamp_client_rate_limit_mode{mode="default"}'),
    1,
  );
  assertEquals(r.logs.length, 1, r.logs.join("\n"));
  assert(r.logs[0].includes('"qps":20'), r.logs[0]);
  // ≥ 80 + start-up requests − 30 burst, at 20/s: at least 2.5 s.
  assert(r.seconds >= 2.5, `backlog took only ${r.seconds} s at 20 qps`);
});

Deno.test("daemon: explicit flags win over APF (and 0 = unlimited)", async () => {
  const limited = await backlogRun(
    ["--kube-api-qps=25", "--kube-api-burst=5"],
    true,
  );
  assertEquals(limited.m.get("kubelet_rubber_stamp_client_rate_limit_qps"), 25);
  assertEquals(
    limited.m.get('kubelet_rubber_stamp_client_rate_limit_mode{mode="flags"}'),
    1,
  );
  assert(limited.logs[0].includes('"burst":5'), limited.logs[0]);
  // ≥ 80 + start-up − 5 burst at 25/s: at least 3 s despite the APF headers.
  assert(limited.seconds >= 3, `took only ${limited.seconds} s at 25 qps`);

  const unlimited = await backlogRun(["--kube-api-qps=0"], false);
  assertEquals(
    unlimited.m.get("kubelet_rubber_stamp_client_rate_limit_qps"),
    0,
  );
  assertEquals(
    unlimited.m.get(
      'kubelet_rubber_stamp_client_rate_limit_mode{mode="flags"}',
    ),
    1,
  );
  assert(unlimited.seconds < 2.5, `took ${unlimited.seconds} s unlimited`);
});

Deno.test("daemon: a 429 storm slows approvals down; every CSR is still approved exactly once", async () => {
  const N = 30;
  const STORM_MS = 2_500;
  let stormUntil = 0;
  let refused = 0;
  let served = 0;
  let lastApproval = 0;
  let t0 = 0;
  const f = await startFixture({
    api: { apfHeaders: true },
    // Refused approval writes are retried by design; successful ones are
    // counted below (exactly one per CSR).
    retriedApprovalWrites: true,
  });
  try {
    // Ready: both caches synced.
    await f.until(
      () => f.logs.some((l) => l.includes("client-side rate limit")),
      10_000,
      "the rate-limit decision",
    );
    f.api.faults.intercept = (_req, attrs) => {
      const hot = attrs.resource === "subjectaccessreviews" ||
        attrs.subresource === "approval";
      if (!hot) return undefined;
      if (performance.now() < stormUntil && served++ % 2 === 0) {
        refused++;
        return new Response(
          JSON.stringify({
            kind: "Status",
            apiVersion: "v1",
            status: "Failure",
            reason: "TooManyRequests",
            message: "Too many requests, please try again later.",
            code: 429,
            details: { retryAfterSeconds: 1 },
          }),
          {
            status: 429,
            headers: {
              "content-type": "application/json",
              "retry-after": "1",
            },
          },
        );
      }
      return undefined;
    };
    f.api.onRequest = (a) => {
      if (a.subresource === "approval" && a.status === 200) {
        lastApproval = performance.now();
      }
    };
    t0 = performance.now();
    stormUntil = t0 + STORM_MS;
    const names = await createMany(f.api, N, "s");
    await f.until(
      () => f.approvalWrites().size === N,
      60_000,
      "every CSR approved after the storm",
    );
    await new Promise((r) => setTimeout(r, 300)); // no late duplicate write
    const writes = f.approvalWrites();
    for (const n of names) assertEquals(writes.get(n), 1, n);
    assert(refused > 0, "the storm refused nothing");
    const seconds = (lastApproval - t0) / 1000;
    // Without the storm the 30 approvals take well under a second; each
    // 429 pauses the whole client for a second.
    assert(
      seconds >= 1,
      `approvals finished ${seconds} s after the storm began`,
    );
    // A shared pause: the client does not hammer the server meanwhile.
    assert(refused < 4 * N, `${refused} requests refused during the storm`);
    const m = await metricsOf(f);
    assert(
      (m.get(
            'kubelet_rubber_stamp_api_requests_total{code="429",resource="subjectaccessreviews",verb="POST"}',
          ) ?? 0) +
          (m.get(
            'kubelet_rubber_stamp_api_requests_total{code="429",resource="certificatesigningrequests/approval",verb="PUT"}',
          ) ?? 0) === refused,
      "every 429 counted in api_requests_total",
    );
  } finally {
    await f.stop();
  }
});
