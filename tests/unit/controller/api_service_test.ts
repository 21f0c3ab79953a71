/**
 * Discovery of the API server's own Service IPs against a scripted client:
 * what it collects and in which form, which failures are final and which
 * are retried, and that an abort ends the retries.
 */
import { discoverApiServiceIps } from "../../../src/controller/api_service.ts";
import { createLogger } from "../../../src/log.ts";
import { assertEquals } from "../../support/assert.ts";
import { apiError, createFakeClient } from "../../support/fake_client.ts";

const SERVICE = "/api/v1/namespaces/default/services/kubernetes";

function logger() {
  const lines: { msg: string; error?: string; apiServiceIps?: string[] }[] = [];
  return {
    lines,
    log: createLogger({
      format: "json",
      write: (l) => lines.push(JSON.parse(l)),
    }),
  };
}

Deno.test("api service: the Service's clusterIP, clusterIPs and the environment's host, canonical and once each", async () => {
  const client = createFakeClient({
    handle: () => ({
      spec: {
        clusterIP: "10.96.0.1",
        clusterIPs: ["10.96.0.1", "fd00:0:0:0::0001", "None", ""],
      },
    }),
  });
  const { log, lines } = logger();
  const ips = await discoverApiServiceIps({
    client,
    log,
    signal: new AbortController().signal,
    serviceHost: "::ffff:10.96.0.1",
  });
  assertEquals(ips.sort(), ["10.96.0.1", "fd00::1"]);
  assertEquals(client.requests.map((r) => [r.method, r.path]), [
    ["GET", SERVICE],
  ]);
  assertEquals(lines, []);
});

Deno.test("api service: a host name in the environment protects nothing by address", async () => {
  const client = createFakeClient({ handle: () => ({ spec: {} }) });
  const ips = await discoverApiServiceIps({
    client,
    log: logger().log,
    signal: new AbortController().signal,
    serviceHost: "kubernetes.default.svc",
  });
  assertEquals(ips, []);
});

for (const status of [403, 404]) {
  Deno.test(`api service: ${status} is final: the environment's IPs, one warning naming them`, async () => {
    const client = createFakeClient({
      handle: () => {
        throw apiError(status, status === 403 ? "Forbidden" : "NotFound");
      },
    });
    const { log, lines } = logger();
    const ips = await discoverApiServiceIps({
      client,
      log,
      signal: new AbortController().signal,
      serviceHost: "10.0.0.1",
      retryMs: 1,
    });
    assertEquals(ips, ["10.0.0.1"]);
    assertEquals(client.requests.length, 1, "not retried");
    assertEquals(lines.map((l) => l.msg), [
      "cannot read the default/kubernetes Service; protecting only the IPs given",
    ]);
    assertEquals(lines[0].apiServiceIps, ["10.0.0.1"]);
  });
}

Deno.test("api service: transient failures are retried after retryMs until the Service is read", async () => {
  let calls = 0;
  const client = createFakeClient({
    handle: () => {
      if (++calls < 3) throw apiError(503, "ServiceUnavailable");
      return { spec: { clusterIP: "10.96.0.1" } };
    },
  });
  const { log, lines } = logger();
  const started = Date.now();
  const ips = await discoverApiServiceIps({
    client,
    log,
    signal: new AbortController().signal,
    retryMs: 30,
  });
  assertEquals(ips, ["10.96.0.1"]);
  assertEquals(calls, 3);
  assertEquals(
    lines.map((l) => l.msg),
    Array(2).fill("reading the default/kubernetes Service failed; retrying"),
  );
  assertEquals(Date.now() - started >= 60, true, "waited retryMs each time");
});

Deno.test("api service: an abort ends the retries at once with what is known", async () => {
  const ac = new AbortController();
  const client = createFakeClient({
    handle: () => {
      setTimeout(() => ac.abort(), 0);
      throw apiError(500, "InternalError");
    },
  });
  const started = Date.now();
  const ips = await discoverApiServiceIps({
    client,
    log: logger().log,
    signal: ac.signal,
    serviceHost: "10.0.0.1",
    retryMs: 60_000,
  });
  assertEquals(ips, ["10.0.0.1"]);
  assertEquals(Date.now() - started < 5_000, true, "did not wait retryMs");
});
