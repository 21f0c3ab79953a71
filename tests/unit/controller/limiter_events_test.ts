/**
 * Events have their own budget: client-go's per-object spam filter (burst
 * 25, one more per 5 minutes), an overall bucket for the writes, and none of
 * the client's tokens, so that an Event flood never delays a
 * SubjectAccessReview or an approval.
 */
import { DEFAULT_REPORTING_CONTROLLER } from "../../../src/controller/csr_events.ts";
import {
  createEventRecorder,
  type EventInput,
  type EventRecorderOptions,
} from "../../../src/kube/events.ts";
import { createKubeClient } from "../../../src/kube/client.ts";
import { staticTokenSource } from "../../../src/kube/token_source.ts";
import { createLogger } from "../../../src/log.ts";
import { type ApiServer, startApiServer } from "../../support/api_server.ts";
import { createKubeletCsr, startFixture } from "../../support/fixture.ts";
import { assert, assertEquals } from "../../support/assert.ts";
import { parsePrometheus } from "../../support/prometheus.ts";

function csrEvent(name: string, reason = "AutoApproved"): EventInput {
  return {
    regarding: {
      apiVersion: "certificates.k8s.io/v1",
      kind: "CertificateSigningRequest",
      name,
      uid: `uid-${name}`,
    },
    type: "Normal",
    reason,
    action: "Approve",
    note: `note for ${name}`,
  };
}

async function withRecorder(
  clientQps: number,
  options: Partial<EventRecorderOptions>,
  fn: (
    t: {
      api: ApiServer;
      client: ReturnType<typeof createKubeClient>;
      recorder: ReturnType<typeof createEventRecorder>;
      clock: { now: Date };
    },
  ) => Promise<void>,
) {
  const api = await startApiServer();
  const client = createKubeClient({
    server: api.url,
    caPem: api.caPem,
    tokenSource: staticTokenSource("admin-token"),
    source: "test",
  }, { qps: clientQps, burst: 1 });
  const clock = { now: new Date("2026-11-28T08:00:00Z") };
  const recorder = createEventRecorder({
    client,
    log: createLogger({ level: "error", format: "json", write: () => {} }),
    reportingController: DEFAULT_REPORTING_CONTROLLER,
    reportingInstance: "test",
    now: () => clock.now,
    ...options,
  });
  try {
    await fn({ api, client, recorder, clock });
  } finally {
    await recorder.close(1000);
    client.close();
    await api.stop();
  }
}

Deno.test("events: per-object spam filter, burst 25 then one per 5 minutes", async () => {
  await withRecorder(0, { qps: 0 }, async ({ recorder, clock, api }) => {
    // 30 different events about one CSR (distinct reasons: no series).
    for (let i = 0; i < 30; i++) {
      recorder.record(csrEvent("csr-a", `Reason${i}`));
    }
    recorder.record(csrEvent("csr-b")); // another object has its own burst
    await recorder.flush(5_000);
    assertEquals(recorder.stats().filtered, 5);
    assertEquals(recorder.stats().sent, 26);
    clock.now = new Date(clock.now.getTime() + 299_000);
    recorder.record(csrEvent("csr-a", "Late0"));
    assertEquals(recorder.stats().filtered, 6, "not refilled before 5 min");
    clock.now = new Date(clock.now.getTime() + 1_000);
    recorder.record(csrEvent("csr-a", "Late1"));
    recorder.record(csrEvent("csr-a", "Late2"));
    assertEquals(recorder.stats().filtered, 7, "one token per 5 min");
    await recorder.flush(5_000);
    assertEquals(recorder.stats().sent, 27);
    assertEquals(
      (api.events() as { reason?: string }[]).filter((e) =>
        e.reason === "Late1"
      ).length,
      1,
    );
  });
});

Deno.test("events: the overall bucket paces Event writes", async () => {
  await withRecorder(0, { qps: 10, burst: 2 }, async ({ recorder }) => {
    const started = performance.now();
    for (let i = 0; i < 8; i++) recorder.record(csrEvent(`csr-${i}`));
    await recorder.flush(10_000);
    const elapsed = performance.now() - started;
    assertEquals(recorder.stats().sent, 8);
    // 2 at once, then 6 more at 10/s: ≥ 600 ms.
    assert(elapsed >= 550, `8 events at 10/s burst 2 took ${elapsed} ms`);
  });
});

Deno.test("events: writes take none of the client's tokens", async () => {
  // The client allows 5 requests/s with a burst of 1; 40 Events written
  // through it would hold the next request back ~8 s.
  await withRecorder(5, { qps: 0 }, async ({ recorder, client }) => {
    for (let i = 0; i < 40; i++) recorder.record(csrEvent(`csr-${i}`));
    await recorder.flush(10_000);
    assertEquals(recorder.stats().sent, 40);
    const started = performance.now();
    await client.request({ method: "GET", path: "/api/v1/nodes" });
    const elapsed = performance.now() - started;
    assert(elapsed < 150, `a request after 40 Events waited ${elapsed} ms`);
  });
});

/** Approval latencies (creation → approval write), in ms, sorted, with an Event per decision or none. */
async function approvalLatencies(recordEvents: boolean): Promise<number[]> {
  const N = 30;
  const created = new Map<string, number>();
  const approved = new Map<string, number>();
  let eventAttempts = 0;
  const f = await startFixture({
    // A client-side limit makes any token an Event took visible as delay.
    flags: ["--kube-api-qps=10", "--kube-api-burst=5"],
    deps: { recordEvents },
  });
  try {
    for (let i = 0; (await f.status("/readyz")).status !== 200; i++) {
      assert(i < 500, "the daemon never became ready");
      await new Promise((r) => setTimeout(r, 20));
    }
    f.api.faults.intercept = (_req, attrs) => {
      if (attrs.resource === "events") eventAttempts++;
      return undefined;
    };
    f.api.onRequest = (a) => {
      if (a.subresource === "approval" && a.status === 200) {
        approved.set(a.name, performance.now());
      }
    };
    for (let i = 0; i < N; i++) {
      const name = `lat-${i}`;
      created.set(name, performance.now());
      await createKubeletCsr(f.api, { name, node: `lat-node-${i}` });
    }
    await f.until(() => approved.size === N, 60_000, "every CSR approved");
    if (recordEvents) {
      const m = parsePrometheus((await f.status("/metrics")).body);
      await f.until(() => eventAttempts >= N, 30_000, "every Event written");
      assertEquals(
        m.has(
          'kubelet_rubber_stamp_events_dropped_total{reason="spam-filter"}',
        ),
        true,
      );
    } else {
      assertEquals(eventAttempts, 0);
    }
    return [...approved].map(([n, t]) => t - created.get(n)!).sort((a, b) =>
      a - b
    );
  } finally {
    await f.stop();
  }
}

Deno.test("an Event flood does not delay approvals: latency with Events on ≈ off", async () => {
  const off = await approvalLatencies(false);
  const on = await approvalLatencies(true);
  const p = (xs: number[], q: number) =>
    xs[Math.min(xs.length - 1, Math.floor(q * xs.length))];
  const summary = `off p50 ${p(off, 0.5).toFixed(0)} max ${
    off.at(-1)!.toFixed(0)
  } ms; on p50 ${p(on, 0.5).toFixed(0)} max ${on.at(-1)!.toFixed(0)} ms`;
  // The approvals alone need ~6 s at 10 qps (SAR + approval per CSR).
  // Sharing that budget, the 30 Events (one per decision, as fast as their
  // own bucket allows) would add ≥ 3 s to the last approval; on their own
  // budget they add nothing beyond noise.
  assert(on.at(-1)! <= off.at(-1)! + 1_500, summary);
  assert(p(on, 0.5) <= p(off, 0.5) + 1_000, summary);
  console.log(`approval latency, Events ${summary}`);
});
