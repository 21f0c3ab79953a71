/**
 * A connection that goes silent without closing (packets dropped, no FIN):
 * the client retires its HTTP/2 pool after two deadlines in a row, and a
 * watch is abandoned after its longest tolerated silence, not its timeout.
 */
import { createKubeClient } from "../../../src/kube/client.ts";
import { runReflector } from "../../../src/kube/reflector.ts";
import { startApiServer } from "../../support/api_server.ts";
import { createTestCa } from "../../support/tls.ts";
import { assert, assertEquals } from "../../support/assert.ts";

Deno.test("client: two deadlines in a row on a silent connection, then a fresh connection answers", async () => {
  const ca = await createTestCa("liveness CA");
  const pair = await ca.issue({
    subject: "CN=apiserver",
    ips: ["127.0.0.1"],
    server: true,
  });
  let frozenPort: number | undefined;
  const ports: number[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  const ac = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: pair.cert,
    key: pair.key,
    signal: ac.signal,
    onListen() {},
  }, async (_req, info) => {
    const port = (info.remoteAddr as Deno.NetAddr).port;
    ports.push(port);
    // The frozen connection answers nothing, as if its packets were dropped.
    if (port === frozenPort) await released;
    return Response.json({ kind: "Status", status: "Success" });
  });
  const client = createKubeClient({
    server: `https://127.0.0.1:${server.addr.port}`,
    caPem: ca.cert,
    source: "test",
  }, { qps: 0 });
  try {
    await client.request({ method: "GET", path: "/api" });
    frozenPort = ports[0];
    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) {
      try {
        await client.request({ method: "GET", path: "/api", timeoutMs: 300 });
        outcomes.push("ok");
      } catch (error) {
        outcomes.push((error as { reason?: string }).reason ?? String(error));
      }
    }
    // Two deadlines on the frozen connection; the third request dials anew.
    assertEquals(outcomes, ["DeadlineExceeded", "DeadlineExceeded", "ok"]);
    assert(ports.at(-1) !== frozenPort, `answered from ${ports.at(-1)}`);
  } finally {
    release();
    client.close();
    ac.abort();
    await server.finished;
  }
});

Deno.test("reflector: a watch silent past maxWatchSilenceMs is abandoned even with a long timeout", async () => {
  const api = await startApiServer({});
  const client = createKubeClient({
    server: api.url,
    caPem: api.caPem,
    tokenSource: {
      token: () => Promise.resolve("admin-token"),
      invalidate() {},
    },
    source: "test",
  }, { qps: 0 });
  const ac = new AbortController();
  const restarts: string[] = [];
  api.faults.watchStall = true;
  const started = Date.now();
  let stalledAfterMs = 0;
  const done = runReflector({
    client,
    path: "/api/v1/nodes",
    signal: ac.signal,
    watchTimeoutSeconds: () => 600,
    maxWatchSilenceMs: 400,
    backoff: { initialMs: 10, maxMs: 50 },
    handler: { replace() {}, added() {}, modified() {}, deleted() {} },
    onRestart(kind, cause) {
      restarts.push(`${kind}:${cause}`);
      if (cause === "stalled" && !stalledAfterMs) {
        stalledAfterMs = Date.now() - started;
        ac.abort();
      }
    },
  });
  // Without the silence limit the watch would wait out its 600 s timeout.
  const guard = setTimeout(() => ac.abort(), 10_000);
  try {
    await done;
    clearTimeout(guard);
    assert(restarts.includes("watch:stalled"), restarts.join(","));
    assert(stalledAfterMs < 5_000, `abandoned after ${stalledAfterMs} ms`);
  } finally {
    clearTimeout(guard);
    ac.abort();
    client.close();
    await api.stop();
  }
});
