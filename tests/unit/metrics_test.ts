import { createRegistry } from "../../src/metrics.ts";
import { assertEquals } from "../support/assert.ts";
import { parsePrometheus } from "../support/prometheus.ts";

Deno.test("registry renders counters, gauges and histograms as Prometheus text", () => {
  const r = createRegistry();
  const c = r.counter("t_decisions_total", "Decisions.");
  const g = r.gauge("t_pending", "Pending.");
  const h = r.histogram("t_latency_seconds", "Latency.", [0.1, 1]);
  c.inc({ outcome: "approved", reason: "AutoApproved" });
  c.inc({ outcome: "approved", reason: "AutoApproved" });
  c.inc({ reason: 'we"ird\\', outcome: "denied" });
  g.set(3);
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  const samples = parsePrometheus(r.render());
  assertEquals(
    samples.get('t_decisions_total{outcome="approved",reason="AutoApproved"}'),
    2,
  );
  assertEquals(
    samples.get('t_decisions_total{outcome="denied",reason="we\\"ird\\\\"}'),
    1,
  );
  assertEquals(samples.get("t_pending"), 3);
  assertEquals(samples.get('t_latency_seconds_bucket{le="0.1"}'), 1);
  assertEquals(samples.get('t_latency_seconds_bucket{le="1"}'), 2);
  assertEquals(samples.get('t_latency_seconds_bucket{le="+Inf"}'), 3);
  assertEquals(samples.get("t_latency_seconds_count"), 3);
  assertEquals(samples.get("t_latency_seconds_sum"), 5.55);
});

Deno.test("registry runs collect callbacks before rendering", () => {
  const r = createRegistry();
  const g = r.gauge("t_value", "Value.");
  let n = 0;
  r.onCollect(() => g.set(++n));
  r.render();
  assertEquals(parsePrometheus(r.render()).get("t_value"), 2);
});
