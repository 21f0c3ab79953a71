/**
 * The Helm chart (charts/kubelet-rubber-stamp), linted and rendered with real
 * Helm (scripts/build_helm.ts builds the pinned version from its Go module
 * when the cache has none: minutes, once per machine; without Go the tests
 * fail saying so). The default render is `deploy/` minus its Namespace,
 * every toggle renders what it says (and, where deploy/ has the same variant,
 * exactly that variant), and the schema refuses bad values naming them.
 */
import { parse as parseYaml } from "yaml";
import { ensureHelm, HELM_VERSION } from "../../scripts/build_helm.ts";
import {
  type KubeObject,
  parseManifests,
  renderKustomization,
} from "../support/rbac.ts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { FLAGS } from "../../src/cli/flag_table.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CHART = `${ROOT}charts/kubelet-rubber-stamp`;
const MONITORING = `${ROOT}deploy/components/monitoring`;
const NS = "kubelet-rubber-stamp";
/** The release name with which every object is named as in deploy/. */
const RELEASE = "kubelet-rubber-stamp";
const DIGEST = `sha256:${"ab".repeat(32)}`;

/** Labels Helm charts add and deploy/ does not have (nor needs). */
const HELM_LABELS = [
  "helm.sh/chart",
  "app.kubernetes.io/managed-by",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/version",
];

// deno-lint-ignore no-explicit-any
type Json = any;

let helmBinary: Promise<string> | undefined;
/** The helm binary, built on first use (once per machine). */
function helm(): Promise<string> {
  return helmBinary ??= ensureHelm();
}

async function runHelm(
  args: string[],
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const out = await new Deno.Command(await helm(), {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    ok: out.success,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

interface Render {
  set?: Record<string, unknown>;
  release?: string;
  namespace?: string;
  extra?: string[];
}

function templateArgs(r: Render): string[] {
  const args = [
    "template",
    r.release ?? RELEASE,
    CHART,
    "--namespace",
    r.namespace ?? NS,
  ];
  for (const [k, v] of Object.entries(r.set ?? {})) {
    args.push("--set-json", `${k}=${JSON.stringify(v)}`);
  }
  return [...args, ...(r.extra ?? [])];
}

/** `helm template` with `--set-json key=value` for each of `set`. */
async function template(r: Render = {}): Promise<KubeObject[]> {
  const out = await runHelm(templateArgs(r));
  if (!out.ok) {
    throw new Error(`helm ${templateArgs(r).join(" ")} failed:\n${out.stderr}`);
  }
  return parseManifests([out.stdout], "helm template");
}

/** The same, expected to fail: returns Helm's error output. */
async function templateFails(r: Render): Promise<string> {
  const out = await runHelm(templateArgs(r));
  assert(
    !out.ok,
    `expected helm ${templateArgs(r).join(" ")} to fail, it rendered`,
  );
  return out.stderr;
}

/** deploy/ plus components, rendered through a temporary kustomization. */
async function renderDeployWith(
  base: string,
  components: string[],
): Promise<KubeObject[]> {
  const dir = await Deno.makeTempDir({ prefix: "chart_test_" });
  try {
    // kustomize accepts only relative paths between kustomizations.
    const up = "../".repeat(dir.split("/").filter(Boolean).length);
    const root = `${up}${ROOT.replace(/^\//, "").replace(/\/$/, "")}`;
    await Deno.writeTextFile(
      `${dir}/kustomization.yaml`,
      `resources: [${root}/${base}]\ncomponents: [${
        components.map((c) => `${root}/${c}`).join(", ")
      }]\n`,
    );
    return await renderKustomization(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function key(o: KubeObject): string {
  return `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`;
}

/** A deep copy without Helm's labels (wherever a label map holds them). */
function withoutHelmLabels(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutHelmLabels);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!HELM_LABELS.includes(k)) out[k] = withoutHelmLabels(v);
  }
  return out;
}

/**
 * The chart's objects equal kustomize's, apart from Helm's labels and the
 * Namespace, which deploy/ creates and the chart does not (Helm installs
 * into an existing release namespace: see the chart's README).
 */
function assertEquivalent(chart: KubeObject[], kustomize: KubeObject[]): void {
  const namespaces = kustomize.filter((o) => o.kind === "Namespace");
  assertEquals(
    namespaces.map(key),
    [`Namespace//${NS}`],
    "deploy/ creates the namespace",
  );
  assertEquals(
    chart.filter((o) => o.kind === "Namespace").map(key),
    [],
    "the chart creates no Namespace",
  );
  const expected = new Map(
    kustomize.filter((o) => o.kind !== "Namespace").map((o) => [key(o), o]),
  );
  const actual = new Map(chart.map((o) => [key(o), o]));
  assertEquals(
    [...actual.keys()].sort(),
    [...expected.keys()].sort(),
    "the same objects (kind/namespace/name)",
  );
  for (const [k, o] of actual) {
    // Helm's labels are there, on every object and in every selector...
    const labels = o.metadata?.labels as Record<string, string>;
    for (const l of HELM_LABELS) assert(labels?.[l], `${k}: label ${l}`);
    // ...and they are the only difference.
    assertEquals(withoutHelmLabels(o), expected.get(k), k);
  }
}

function find(objects: KubeObject[], kind: string, name?: string): Json {
  const found = objects.filter((o) =>
    o.kind === kind && (name === undefined || o.metadata?.name === name)
  );
  assertEquals(found.length, 1, `one ${kind} ${name ?? ""}`);
  return found[0];
}

function kinds(objects: KubeObject[]): string[] {
  return objects.map((o) => o.kind as string);
}

function podSpec(objects: KubeObject[]): Json {
  return find(objects, "Deployment").spec.template.spec;
}

function args(objects: KubeObject[]): string[] {
  return podSpec(objects).containers[0].args;
}

async function deployVersion(): Promise<string> {
  return JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).version;
}

Deno.test(`chart: helm ${HELM_VERSION} is present or gets built`, async () => {
  const out = await runHelm(["version", "--template", "{{.Version}}"]);
  assert(out.ok, out.stderr);
  assertEquals(out.stdout.trim(), HELM_VERSION);
});

Deno.test("chart: version and appVersion equal deno.json's version, and so does the Artifact Hub image", async () => {
  const version = await deployVersion();
  const chart = parseYaml(await Deno.readTextFile(`${CHART}/Chart.yaml`));
  assertEquals(chart.apiVersion, "v2");
  assertEquals(chart.name, "kubelet-rubber-stamp");
  assertEquals(chart.version, version, "Chart.yaml version");
  assertEquals(chart.appVersion, version, "Chart.yaml appVersion");
  const images = parseYaml(chart.annotations["artifacthub.io/images"]);
  const values = parseYaml(await Deno.readTextFile(`${CHART}/values.yaml`));
  assertEquals(images, [{
    name: "approver",
    image: `${values.image.repository}:${version}`,
  }]);
  for (
    const a of ["links", "changes"].map((a) => `artifacthub.io/${a}`)
  ) {
    assert(
      Array.isArray(parseYaml(chart.annotations[a])),
      `${a} is a YAML list`,
    );
  }
  // The default image is deploy/'s.
  const deployment = find(await renderKustomization("deploy"), "Deployment");
  assertEquals(
    deployment.spec.template.spec.containers[0].image,
    `${values.image.repository}:${version}`,
  );
});

Deno.test("chart: helm lint --strict passes with the defaults and with every toggle on", async () => {
  const all = [
    "--set-json",
    'replicaCount=2,hostNetwork={"enabled":true},serviceMonitor={"enabled":true},prometheusRule={"enabled":true},dashboard={"enabled":true},autoApproval={"enabled":false},policy={"allowedCidrs":[]}',
  ];
  const runs = await Promise.all([
    runHelm(["lint", CHART]),
    runHelm(["lint", "--strict", CHART]),
    runHelm(["lint", "--strict", CHART, "--namespace", NS, ...all]),
  ]);
  for (const out of runs) {
    assert(out.ok, `helm lint failed:\n${out.stdout}${out.stderr}`);
    assertMatch(out.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

Deno.test("chart: the default render is deploy/, minus the Namespace, plus Helm's labels", async () => {
  const [chart, kustomize] = await Promise.all([
    template(),
    renderKustomization("deploy"),
  ]);
  assertEquivalent(chart, kustomize);
  for (
    const kind of ["ServiceMonitor", "PrometheusRule", "ConfigMap"]
  ) {
    assert(!kinds(chart).includes(kind), `no ${kind} by default`);
  }
});

Deno.test("chart: replicaCount 2 is deploy/ha: leader election, anti-affinity, PDB minAvailable 1", async () => {
  const [chart, kustomize] = await Promise.all([
    template({ set: { replicaCount: 2 } }),
    renderKustomization("deploy/ha"),
  ]);
  assertEquivalent(chart, kustomize);
  const spec = find(chart, "Deployment").spec;
  assertEquals(spec.replicas, 2);
  assert(args(chart).includes("--leader-elect=true"));
  assertEquals(
    spec.template.spec.affinity.podAntiAffinity
      .preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm
      .labelSelector.matchLabels,
    spec.selector.matchLabels,
    "the anti-affinity term selects the Deployment's own Pods",
  );
  assertEquals(find(chart, "PodDisruptionBudget").spec.minAvailable, 1);
  assertEquals(
    find(chart, "ResourceQuota").spec.hard.pods,
    "4",
    "two replicas and a surge fit",
  );

  const hard = await template({
    set: { replicaCount: 3, podAntiAffinityPreset: "hard" },
  });
  assertEquals(
    podSpec(hard).affinity.podAntiAffinity
      .requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey,
    "kubernetes.io/hostname",
  );
  assertEquals(find(hard, "ResourceQuota").spec.hard.pods, "4");
  const none = await template({
    set: { replicaCount: 5, podAntiAffinityPreset: "none" },
  });
  assertEquals(podSpec(none).affinity.podAntiAffinity, undefined);
  assertEquals(find(none, "ResourceQuota").spec.hard.pods, "6");
});

Deno.test("chart: hostNetwork.enabled is deploy/components/host-network: host network, port 10271, no surge", async () => {
  const [chart, kustomize] = await Promise.all([
    template({ set: { hostNetwork: { enabled: true } } }),
    renderDeployWith("deploy", ["deploy/components/host-network"]),
  ]);
  assertEquivalent(chart, kustomize);
  const pod = podSpec(chart);
  assertEquals(pod.hostNetwork, true);
  assertEquals(pod.dnsPolicy, "Default");
  assertEquals(pod.containers[0].ports[0].containerPort, 10271);
  assertEquals(args(chart)[0], "--listen=:10271");
  // The component also lowers the namespace's Pod Security enforce level,
  // which the chart leaves to whoever creates the namespace (README).
  assertEquals(
    find(kustomize, "Namespace").metadata.labels[
      "pod-security.kubernetes.io/enforce"
    ],
    "privileged",
  );
});

Deno.test("chart: serviceMonitor, prometheusRule and dashboard are deploy/components/monitoring", async () => {
  const set = {
    serviceMonitor: { enabled: true },
    prometheusRule: { enabled: true },
    dashboard: { enabled: true },
  };
  const [chart, kustomize, alone] = await Promise.all([
    template({ set }),
    renderDeployWith("deploy", ["deploy/components/monitoring"]),
    Promise.all(
      Object.keys(set).map((k) =>
        template({ set: { [k]: { enabled: true } } })
      ),
    ),
  ]);
  assertEquivalent(chart, kustomize);
  // Each toggle adds its own object only.
  const base = (await template()).length;
  assertEquals(alone.map((o) => o.length), [base + 1, base + 1, base + 1]);
  assert(kinds(alone[0]).includes("ServiceMonitor"));
  assert(kinds(alone[1]).includes("PrometheusRule"));
  assertEquals(
    find(alone[2], "ConfigMap").metadata.labels.grafana_dashboard,
    "1",
  );

  // Labels for the Prometheus Operator's selectors, the dashboard elsewhere.
  const custom = await template({
    set: {
      serviceMonitor: { enabled: true, labels: { release: "kps" } },
      prometheusRule: { enabled: true, labels: { release: "kps" } },
      dashboard: {
        enabled: true,
        namespace: "monitoring",
        annotations: { grafana_folder: "Kubernetes" },
      },
    },
  });
  assertEquals(find(custom, "ServiceMonitor").metadata.labels.release, "kps");
  assertEquals(find(custom, "PrometheusRule").metadata.labels.release, "kps");
  const dashboard = find(custom, "ConfigMap");
  assertEquals(dashboard.metadata.namespace, "monitoring");
  assertEquals(dashboard.metadata.annotations.grafana_folder, "Kubernetes");
});

Deno.test("chart: files/ holds the same alerts and dashboard as deploy/components/monitoring", async () => {
  for (const file of ["prometheusrule.yaml", "dashboard.yaml"]) {
    const [copy, source] = await Promise.all([
      Deno.readTextFile(`${CHART}/files/${file}`),
      Deno.readTextFile(`${MONITORING}/${file}`),
    ]);
    assertEquals(
      parseYaml(copy),
      parseYaml(source),
      `charts/kubelet-rubber-stamp/files/${file} differs from deploy/components/monitoring/${file}: copy it over`,
    );
  }
});

Deno.test("chart: autoApproval.enabled=false drops the selfnodeserver binding and keeps the ClusterRole", async () => {
  const off = await template({ set: { autoApproval: { enabled: false } } });
  const name = "kubelet-rubber-stamp:selfnodeserver";
  assert(!off.some((o) => key(o) === `ClusterRoleBinding//${name}`));
  find(off, "ClusterRole", name);
  find(off, "ClusterRoleBinding", "kubelet-rubber-stamp");

  const narrow = await template({
    set: {
      "autoApproval.subjects": [{
        apiGroup: "rbac.authorization.k8s.io",
        kind: "Group",
        name: "workers",
      }],
    },
  });
  assertEquals(
    find(narrow, "ClusterRoleBinding", name).subjects.map((
      s: { name: string },
    ) => s.name),
    ["workers"],
  );
});

/** A value the schema accepts for a flag of this kind, and its flag text. */
function sample(kind: string): [unknown, string] {
  switch (kind) {
    case "bool":
      return [false, "false"];
    case "list":
      return [["10.0.0.0/8", "fd00::/8"], "10.0.0.0/8,fd00::/8"];
    case "int":
    case "number":
      // Large enough to come out in exponent form if printed as a float.
      return [31536000, "31536000"];
    case "duration":
      return ["1m30s", "1m30s"];
    default:
      return ["^[a-z0-9.-]+\\.example\\.org$", "^[a-z0-9.-]+\\.example\\.org$"];
  }
}

const camel = (flag: string) =>
  flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

Deno.test("chart: every policy flag has a value in policy, and each value becomes its flag", async () => {
  const values = parseYaml(await Deno.readTextFile(`${CHART}/values.yaml`));
  const policyFlags = FLAGS.filter((f) => f.scope === "policy");
  assertEquals(
    Object.keys(values.policy).sort(),
    policyFlags.map((f) => camel(f.name)).sort(),
    "values.yaml policy keys: one per policy flag (src/cli/flag_table.ts)",
  );
  for (const [k, v] of Object.entries(values.policy)) {
    assertEquals(v, null, `policy.${k} defaults to the daemon's default`);
  }
  const policy: Record<string, unknown> = {};
  const expected: string[] = [];
  for (const f of policyFlags) {
    const [value, text] = sample(f.kind);
    policy[camel(f.name)] = value;
    expected.push(`--${f.name}=${text}`);
  }
  const rendered = args(
    await template({
      set: {
        policy,
        dryRun: true,
        denyInvalid: true,
        logLevel: "debug",
        logFormat: "json",
        extraArgs: ["--kube-api-qps=50", "--workers=4"],
      },
    }),
  );
  for (const e of expected) {
    assert(rendered.includes(e), `${e} in ${JSON.stringify(rendered)}`);
  }
  for (
    const e of [
      "--dry-run=true",
      "--deny-invalid=true",
      "--log-level=debug",
      "--log-format=json",
    ]
  ) assert(rendered.includes(e), `${e} in ${JSON.stringify(rendered)}`);
  assertEquals(rendered.slice(-2), ["--kube-api-qps=50", "--workers=4"]);
  // Only flags the daemon has.
  const known = new Set(
    FLAGS.filter((f) => f.scope !== "check").map((f) => f.name),
  );
  for (const a of rendered) {
    const name = a.match(/^--([a-z-]+)=/)?.[1];
    assert(name && known.has(name), `${a} is a daemon flag`);
  }

  // An empty allowedCidrs list is "no IP SAN", not "any".
  const none = args(await template({ set: { policy: { allowedCidrs: [] } } }));
  assert(none.includes("--allowed-cidrs="), JSON.stringify(none));
  // Leader election off: said explicitly (in a pod it defaults to on).
  const single = await template({
    set: { leaderElection: { enabled: false } },
  });
  assertEquals(args(single), ["--listen=:8080", "--leader-elect=false"]);
  assert(
    !single.some((o) => o.kind === "Role" && o.metadata?.namespace === NS),
  );
});

Deno.test("chart: image tag and digest", async () => {
  const version = await deployVersion();
  const image = async (set: Record<string, unknown>) =>
    podSpec(await template({ set })).containers[0].image;
  const repo = "ghcr.io/kubelet-rubber-stamp/kubelet-rubber-stamp";
  assertEquals(await image({}), `${repo}:${version}`);
  assertEquals(
    await image({ "image.digest": DIGEST }),
    `${repo}:${version}@${DIGEST}`,
  );
  assertEquals(
    await image({
      image: { repository: "registry.example/krs", tag: "1.2.3" },
    }),
    "registry.example/krs:1.2.3",
  );
});

Deno.test("chart: another release name and namespace rename every reference consistently", async () => {
  const objects = await template({
    release: "approver",
    namespace: "security",
  });
  const name = "approver-kubelet-rubber-stamp";
  for (const o of objects) {
    assert(String(o.metadata?.name).startsWith(name), key(o));
    if (o.metadata?.namespace !== undefined) {
      assert(
        ["security", "default"].includes(String(o.metadata.namespace)),
        key(o),
      );
    }
  }
  for (const o of objects) {
    for (const s of (o as Json).subjects ?? []) {
      if (s.kind === "ServiceAccount") {
        assertEquals(s, {
          kind: "ServiceAccount",
          name,
          namespace: "security",
        });
      }
    }
  }
  find(objects, "Role", name); // Events and the kubernetes Service...
  assertEquals(find(objects, "Role", name).metadata.namespace, "default");
  assertEquals(podSpec(objects).serviceAccountName, name);
  // The Lease the daemon uses is the one its Role names.
  assert(args(objects).includes(`--leader-elect-lease-name=${name}`));
  assertEquals(
    find(objects, "Role", `${name}-leader-election`).rules[1].resourceNames,
    [name],
  );
  // Alerts and dashboard follow the metrics Service's name (the job label).
  const monitored = await template({
    release: "approver",
    namespace: "security",
    set: { prometheusRule: { enabled: true }, dashboard: { enabled: true } },
  });
  const service = find(monitored, "Service").metadata.name;
  assertEquals(service, `${name}-metrics`);
  const rules = JSON.stringify(find(monitored, "PrometheusRule").spec);
  assert(rules.includes(`up{job=\\"${service}\\"}`), rules);
  const dashboard = find(monitored, "ConfigMap").data[
    "kubelet-rubber-stamp.json"
  ];
  assert(!dashboard.includes('"kubelet-rubber-stamp-metrics"'));
  assert(dashboard.includes(`"${service}"`));
});

Deno.test("chart: placement and pod values reach the Pod", async () => {
  const objects = await template({
    set: {
      podLabels: { team: "platform" },
      podAnnotations: { "example.org/note": "x" },
      nodeSelector: { "kubernetes.io/os": "linux" },
      tolerations: [{ operator: "Exists" }],
      // Maps merge with the defaults: null drops the control-plane preference.
      affinity: null,
      priorityClassName: "",
      resources: { requests: { cpu: "10m" } },
      imagePullSecrets: [{ name: "pull" }],
      extraEnv: [{ name: "KUBERNETES_SERVICE_HOST", value: "10.0.0.1" }],
      extraObjects: [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "extra", namespace: "{{ .Release.Namespace }}" },
        },
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-extra\n",
      ],
    },
  });
  const deployment = find(objects, "Deployment");
  const pod = deployment.spec.template;
  assertEquals(pod.metadata.labels.team, "platform");
  assertEquals(
    deployment.spec.selector.matchLabels.team,
    undefined,
    "pod labels stay out of the selector",
  );
  assertEquals(pod.metadata.annotations, { "example.org/note": "x" });
  assertEquals(pod.spec.nodeSelector, { "kubernetes.io/os": "linux" });
  assertEquals(pod.spec.tolerations, [{ operator: "Exists" }]);
  assertEquals(pod.spec.affinity, undefined);
  assertEquals(pod.spec.priorityClassName, undefined);
  assertEquals(pod.spec.imagePullSecrets, [{ name: "pull" }]);
  // Merged with the defaults, as Helm merges maps.
  assertEquals(pod.spec.containers[0].resources, {
    requests: { cpu: "10m", memory: "96Mi" },
    limits: { memory: "384Mi" },
  });
  assertEquals(pod.spec.containers[0].env.at(-1), {
    name: "KUBERNETES_SERVICE_HOST",
    value: "10.0.0.1",
  });
  assert(!kinds(objects).includes("ResourceQuota"), "no quota without a class");
  assertEquals(find(objects, "ConfigMap", "extra").metadata.namespace, NS);
  find(objects, "Secret", `${RELEASE}-extra`);
});

Deno.test("chart: the schema refuses bad values, naming them", async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ logFormat: "xml" }, /logFormat/],
    [{ logLevel: "verbose" }, /logLevel/],
    [{ replicaCount: -1 }, /replicaCount/],
    [{ replicaCount: 2, leaderElection: { enabled: false } }, /enabled/],
    [{ replicas: 2 }, /replicas/],
    [{ policy: { maxDnsName: 3 } }, /maxDnsName/],
    [{ policy: { maxPendingAge: "forever" } }, /maxPendingAge/],
    [{ policy: { protectedCidrs: "10.0.0.0/8" } }, /protectedCidrs/],
    [{ image: { digest: "sha256:abc" } }, /digest/],
    [{ hostNetwork: true }, /hostNetwork/],
    [{ podAntiAffinityPreset: "sometimes" }, /podAntiAffinityPreset/],
    [{ extraArgs: ["dry-run"] }, /extraArgs/],
  ];
  const errors = await Promise.all(
    cases.map(([set]) => templateFails({ set })),
  );
  cases.forEach(([set, pattern], i) => {
    assertMatch(errors[i], /schema/i, JSON.stringify(set));
    assertMatch(errors[i], pattern, JSON.stringify(set));
  });
  // Without the schema, the template still refuses replicas that would all
  // approve.
  const err = await templateFails({
    set: { replicaCount: 2, leaderElection: { enabled: false } },
    extra: ["--skip-schema-validation"],
  });
  assertMatch(err, /replicaCount > 1 needs leaderElection\.enabled=true/);
});
