/**
 * What the daemon observes of its client: metric labels from request paths,
 * refused credentials said once (and their return), the rate limit logged
 * once when decided and warned about when it changes.
 */
import {
  createClientObserver,
  resourceOf,
} from "../../../src/controller/client_observer.ts";
import { createLogger } from "../../../src/log.ts";
import { createRegistry } from "../../../src/metrics.ts";
import { assertEquals } from "../../support/assert.ts";
import { parsePrometheus } from "../../support/prometheus.ts";

Deno.test("resourceOf names the resource and subresource of a path", () => {
  const cases: [string, string][] = [
    ["/api/v1/nodes", "nodes"],
    ["/api/v1/nodes?watch=true", "nodes"],
    ["/api/v1/nodes/worker-1", "nodes"],
    [
      "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval",
      "certificatesigningrequests/approval",
    ],
    ["/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", "leases"],
    ["/api/v1/namespaces/default/events", "events"],
    ["/api/v1/namespaces/default", "namespaces"],
    ["/apis", "unknown"],
  ];
  for (const [path, resource] of cases) {
    assertEquals(resourceOf(path), resource, path);
  }
});

/** An observer on a fresh registry, its log lines parsed. */
function observed() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    format: "json",
    write: (l) => lines.push(JSON.parse(l)),
  });
  const registry = createRegistry();
  return { lines, registry, observe: createClientObserver(registry, log) };
}

Deno.test("client observer: metrics per answer, credentials refused said once", () => {
  const { lines, registry, observe } = observed();
  const answer = (status: number) =>
    observe.onResponse({
      method: "GET",
      path: "/api/v1/nodes?limit=500",
      status,
      seconds: 0.02,
    });
  answer(401);
  answer(401);
  answer(200);
  answer(200);
  assertEquals(lines.map((l) => [l.level, l.request ?? ""]), [
    ["error", "GET /api/v1/nodes"],
    ["info", ""],
  ]);
  assertEquals(
    lines[1].msg,
    "the API server accepts this client's credentials again",
  );
  const m = parsePrometheus(registry.render());
  assertEquals(
    m.get(
      'kubelet_rubber_stamp_api_requests_total{code="401",resource="nodes",verb="GET"}',
    ),
    2,
  );
  assertEquals(
    m.get(
      'kubelet_rubber_stamp_api_request_duration_seconds_count{resource="nodes",verb="GET"}',
    ),
    4,
  );
});

Deno.test("client observer: the limit is logged when decided, warned when it changes", () => {
  const { lines, registry, observe } = observed();
  observe.onRateLimit({ mode: "default", qps: 20, burst: 30, decided: false });
  assertEquals(lines.length, 0); // undecided: nothing said yet
  observe.onRateLimit({ mode: "apf", qps: 0, burst: 0, decided: true });
  observe.onRateLimit({ mode: "default", qps: 20, burst: 30, decided: true });
  assertEquals(lines.map((l) => [l.level, l.msg, l.mode, l.qps, l.burst]), [
    ["info", "client-side rate limit", "apf", "unlimited", undefined],
    ["warn", "client-side rate limit changed", "default", 20, 30],
  ]);
  assertEquals(
    lines[1].why,
    "the API server sends no X-Kubernetes-PF-* headers",
  );
  const m = parsePrometheus(registry.render());
  assertEquals(m.get("kubelet_rubber_stamp_client_rate_limit_qps"), 20);
  assertEquals(
    m.get('kubelet_rubber_stamp_client_rate_limit_mode{mode="default"}'),
    1,
  );
  assertEquals(
    m.get('kubelet_rubber_stamp_client_rate_limit_mode{mode="apf"}'),
    0,
  );
});
