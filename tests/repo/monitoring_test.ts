/**
 * The monitoring kit (deploy/components/monitoring) and the process_*
 * metrics: the component renders on top of the base, the ServiceMonitor
 * selects the metrics Service, every alert has a runbook in README, and
 * every metric an alert or a dashboard panel reads is one a running daemon
 * exports.
 */
import { parse as parseYaml } from "yaml";
import { createRegistry } from "../../src/metrics.ts";
import {
  parseMaxFds,
  parseProcStat,
  registerProcessMetrics,
} from "../../src/process_metrics.ts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { createKubeletCsr, startFixture } from "../support/fixture.ts";
import { parsePrometheus } from "../support/prometheus.ts";
import { type KubeObject, renderKustomization } from "../support/rbac.ts";

const DIR = "deploy/components/monitoring";

async function renderWithMonitoring(): Promise<KubeObject[]> {
  const dir = await Deno.makeTempDir({ prefix: "monitoring_" });
  try {
    // kustomize accepts only relative paths between kustomizations.
    const up = "../".repeat(dir.split("/").filter(Boolean).length);
    const deploy = `${up}${Deno.cwd().replace(/^\//, "")}/deploy`;
    await Deno.writeTextFile(
      `${dir}/kustomization.yaml`,
      `resources: [${deploy}]\ncomponents: [${deploy}/components/monitoring]\n`,
    );
    return await renderKustomization(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

type Rule = {
  alert: string;
  expr: string;
  for?: string;
  annotations: Record<string, string>;
};

async function alertRules(): Promise<Rule[]> {
  const doc = parseYaml(await Deno.readTextFile(`${DIR}/prometheusrule.yaml`));
  return doc.spec.groups.flatMap((g: { rules: Rule[] }) => g.rules);
}

async function dashboard(): Promise<
  { panels: { title: string; targets: { expr: string }[] }[] }
> {
  const doc = parseYaml(await Deno.readTextFile(`${DIR}/dashboard.yaml`));
  return JSON.parse(doc.data["kubelet-rubber-stamp.json"]);
}

/** Metric names a PromQL expression reads (histogram series folded). */
function metricsIn(expr: string): string[] {
  const names =
    expr.match(/\b(kubelet_rubber_stamp_[a-z_]+|process_[a-z_]+)\b/g) ?? [];
  return [...new Set(names.map((n) => n.replace(/_(bucket|sum|count)$/, "")))];
}

Deno.test("monitoring: the component adds a ServiceMonitor, a PrometheusRule and a dashboard to the base", async () => {
  const objects = await renderWithMonitoring();
  const base = await renderKustomization("deploy");
  assertEquals(objects.length, base.length + 3);
  const find = (kind: string) =>
    objects.find((o) =>
      o.kind === kind &&
      o.metadata?.name?.toString().startsWith("kubelet-rubber-stamp")
    );
  const monitor = find("ServiceMonitor") as KubeObject & {
    spec: {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string; path: string }[];
      namespaceSelector: { matchNames: string[] };
    };
  };
  const service = objects.find((o) => o.kind === "Service") as KubeObject & {
    metadata: { labels: Record<string, string>; namespace: string };
    spec: { ports: { name: string }[] };
  };
  assert(monitor && service, "ServiceMonitor and Service");
  for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) {
    assertEquals(service.metadata.labels[k], v, `Service label ${k}`);
  }
  assertEquals(monitor.spec.namespaceSelector.matchNames, [
    service.metadata.namespace,
  ]);
  assertEquals(monitor.spec.endpoints.map((e) => [e.port, e.path]), [[
    "http",
    "/metrics",
  ]]);
  assert(
    service.spec.ports.some((p) => p.name === "http"),
    "the Service has port http",
  );
  const dash = find("ConfigMap") as KubeObject & {
    metadata: { labels: Record<string, string> };
  };
  assertEquals(dash.metadata.labels.grafana_dashboard, "1");
  assert(find("PrometheusRule"), "PrometheusRule");
});

Deno.test("monitoring: every alert has a summary, a severity and a runbook in README", async () => {
  const readme = await Deno.readTextFile("README.md");
  const headings = new Set(
    readme.split("\n").filter((l) => l.startsWith("#")).map((l) =>
      l.replace(/^#+\s*/, "").toLowerCase().replace(/[^a-z0-9 -]/g, "").replace(
        / /g,
        "-",
      )
    ),
  );
  const rules = await alertRules();
  assertEquals(rules.map((r) => r.alert).sort(), [
    "KubeletRubberStampCSRPendingTooLong",
    "KubeletRubberStampDenials",
    "KubeletRubberStampDown",
    "KubeletRubberStampNoLeader",
    "KubeletRubberStampSeveralLeaders",
    "KubeletRubberStampStormGuardActive",
    "KubeletRubberStampWatchRestartLoop",
  ]);
  for (const rule of rules) {
    assert(rule.annotations.summary, `${rule.alert} summary`);
    const anchor = rule.annotations.runbook_url.split("#")[1];
    assertEquals(anchor, rule.alert.toLowerCase(), rule.alert);
    assert(
      headings.has(anchor),
      `README has a runbook heading for ${rule.alert}`,
    );
    // The runbook gives commands to run.
    const section =
      readme.split(new RegExp(`^#+ ${rule.alert}$`, "m"))[1]?.split(
        /^#+ /m,
      )[0] ?? "";
    assertMatch(
      section,
      /```sh\n[\s\S]*kubectl/,
      `${rule.alert} runbook commands`,
    );
  }
  // The pending alert fires past the kubelet's own 15-minute wait.
  assertMatch(
    rules.find((r) => r.alert === "KubeletRubberStampCSRPendingTooLong")!.expr,
    /oldest_pending_csr_age_seconds\) > 900$/,
  );
});

Deno.test("monitoring: every metric the alerts and the dashboard read is one a live daemon exports", async () => {
  const f = await startFixture();
  try {
    await createKubeletCsr(f.api, { name: "good", node: "node-m" });
    await createKubeletCsr(f.api, {
      name: "bad",
      node: "node-n",
      dnsNames: ["kubernetes.default.svc"],
    });
    await f.until(
      () =>
        f.reconciled.some((r) =>
          r.name === "good" && r.result.action === "approved"
        ) &&
        f.reconciled.some((r) => r.name === "bad"),
      10_000,
      "decisions",
    );
    const exported = new Set(
      [...parsePrometheus((await f.status("/metrics")).body).keys()].map((k) =>
        k.replace(/\{.*$/, "").replace(/_(bucket|sum|count)$/, "")
      ),
    );
    const used = new Map<string, string>();
    for (const rule of await alertRules()) {
      for (const m of metricsIn(rule.expr)) used.set(m, rule.alert);
      if (rule.alert !== "KubeletRubberStampDown") {
        assert(
          metricsIn(rule.expr).length > 0,
          `${rule.alert} reads a daemon metric`,
        );
      }
    }
    const dash = await dashboard();
    for (const panel of dash.panels) {
      for (const t of panel.targets) {
        const names = metricsIn(t.expr);
        assert(names.length > 0, `${panel.title}: ${t.expr}`);
        for (const m of names) used.set(m, panel.title);
      }
    }
    for (const [metric, where] of used) {
      assert(
        exported.has(metric),
        `${where} reads ${metric}, which /metrics does not export`,
      );
    }
    // The dashboard shows what an operator asks for.
    const text = JSON.stringify(dash);
    for (
      const m of [
        "decisions_total",
        "approval_latency_seconds",
        "pending_csrs",
        "oldest_pending_csr_age_seconds",
        "leader",
        "api_requests_total",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
      ]
    ) assert(text.includes(m), `dashboard shows ${m}`);
  } finally {
    await f.stop();
  }
});

Deno.test("process metrics: /proc/self/stat and limits are parsed, command names with spaces and parentheses included", () => {
  const stat =
    "4242 (deno (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 566 0 0 20 0 9 0 77 2147483648 30000";
  assertEquals(parseProcStat(stat), {
    cpuSeconds: 18,
    virtualBytes: 2147483648,
  });
  assertEquals(parseProcStat("garbage"), undefined);
  assertEquals(parseProcStat("1 (x) S 1 2"), undefined);
  const limits =
    "Limit                     Soft Limit           Hard Limit           Units\n" +
    "Max cpu time              unlimited            unlimited            seconds\n" +
    "Max open files            1048576              1048576              files\n";
  assertEquals(parseMaxFds(limits), 1048576);
  assertEquals(parseMaxFds(limits.replace("1048576 ", "unlimited")), Infinity);
  assertEquals(parseMaxFds("nothing"), undefined);
});

Deno.test("process metrics: rendered from a source; unreadable ones are left out", () => {
  const registry = createRegistry();
  registerProcessMetrics(registry, {
    stat: () => "1 (d) S 1 1 1 0 -1 0 0 0 0 0 250 50 0 0 20 0 1 0 1 1000 10",
    limits: () => undefined,
    openFds: () => 12,
    rss: () => 5_000_000,
    cpuSeconds: () => undefined, // falls back to /proc/self/stat's
    startTime: () => 1_700_000_000.5,
  });
  const m = parsePrometheus(registry.render());
  assertEquals(m.get("process_cpu_seconds_total"), 3);
  assertEquals(m.get("process_virtual_memory_bytes"), 1000);
  assertEquals(m.get("process_resident_memory_bytes"), 5_000_000);
  assertEquals(m.get("process_open_fds"), 12);
  assertEquals(m.get("process_start_time_seconds"), 1_700_000_000.5);
  assertEquals(m.has("process_max_fds"), false);
  assertMatch(registry.render(), /# TYPE process_cpu_seconds_total counter\n/);
});

Deno.test("process metrics: this process's own values are plausible", () => {
  const registry = createRegistry();
  registerProcessMetrics(registry);
  const m = parsePrometheus(registry.render());
  assert(m.get("process_resident_memory_bytes")! > 10_000_000, "RSS");
  const start = m.get("process_start_time_seconds")!;
  assert(
    start <= Date.now() / 1000 && start > Date.now() / 1000 - 3600,
    `start ${start}`,
  );
  // From the runtime, whatever the permissions.
  assert(m.get("process_cpu_seconds_total")! > 0, "cpu");
  // From /proc/self: exported exactly when Deno lets this process read it
  // (only with every permission).
  let procReadable = false;
  try {
    Deno.readTextFileSync("/proc/self/stat");
    procReadable = true;
  } catch {
    // NotCapable without --allow-all, NotFound off Linux
  }
  for (
    const name of [
      "process_open_fds",
      "process_max_fds",
      "process_virtual_memory_bytes",
    ]
  ) assertEquals(m.has(name), procReadable, name);
  if (procReadable) {
    assert(m.get("process_open_fds")! > 2, "open fds");
    assert(m.get("process_max_fds")! >= m.get("process_open_fds")!, "max fds");
    assert(
      m.get("process_virtual_memory_bytes")! >
        m.get("process_resident_memory_bytes")!,
      "vsize",
    );
  }
});
