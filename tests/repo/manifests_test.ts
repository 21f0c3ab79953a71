/**
 * The manifests in `deploy/`: they parse, the kustomizations are complete,
 * the approver's ServiceAccount may make exactly the requests the daemon
 * makes (and nothing that would widen the blast radius), and the Deployment
 * is hardened and placed as documented.
 */

import {
  assertAllowedByDeploy,
  authorizeRequest,
  isAuthorizedForSignerName,
  type KubeObject,
  loadDeployPolicy,
  parseManifests,
  type PolicyRule,
  type RbacPolicy,
  renderKustomization,
  requestAttributesFromPath,
} from "../support/rbac.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { FLAGS } from "../../src/cli/flag_table.ts";

const NS = "kubelet-rubber-stamp";
const SA = { namespace: NS, name: "kubelet-rubber-stamp" };
const SA_USER = `system:serviceaccount:${NS}:${SA.name}`;
const LEASE = "kubelet-rubber-stamp";
const DEPLOY_DIR = new URL("../../deploy/", import.meta.url).pathname;

/** The flags the daemon's CLI accepts (src/cli). */
// The Deployment may only pass flags the daemon really has.
const KNOWN_FLAGS = FLAGS.map((f) => `--${f.name}`);

const base = await renderKustomization("deploy");
const ha = await renderKustomization("deploy/ha");
const basePolicy = await loadDeployPolicy("deploy");

function find(objects: KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.filter((o) =>
    o.kind === kind && o.metadata?.name === name
  );
  assertEquals(found.length, 1, `expected one ${kind} ${name}`);
  return found[0];
}

// deno-lint-ignore no-explicit-any
type Json = any;

function podSpec(objects: KubeObject[]): Json {
  return (find(objects, "Deployment", "kubelet-rubber-stamp") as Json).spec
    .template.spec;
}

function container(objects: KubeObject[]): Json {
  const containers = podSpec(objects).containers;
  assertEquals(containers.length, 1, "one container");
  return containers[0];
}

async function yamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir.replace(/\/$/, "")}/${entry.name}`;
    if (entry.isDirectory) out.push(...await yamlFiles(path));
    else if (/\.ya?ml$/.test(entry.name)) out.push(path);
  }
  return out.sort();
}

// ---------------------------------------------------------------------------
// Files and kustomizations
// ---------------------------------------------------------------------------

const NAMESPACED = new Set([
  "ServiceAccount",
  "Role",
  "RoleBinding",
  "Deployment",
  "Service",
  "PodDisruptionBudget",
  "ResourceQuota",
  "ConfigMap",
  "ServiceMonitor",
  "PrometheusRule",
]);

Deno.test("every manifest under deploy/ parses and names its object", async () => {
  const files = await yamlFiles(DEPLOY_DIR);
  assert(files.length >= 10, `expected the manifests, found ${files}`);
  for (const file of files) {
    const docs = parseManifests([await Deno.readTextFile(file)], file);
    assert(docs.length > 0, `${file}: expected at least one document`);
    if (file.endsWith("/kustomization.yaml")) continue;
    for (const doc of docs) {
      const where = `${file}: ${doc.kind}`;
      assert(typeof doc.apiVersion === "string", `${where}: apiVersion`);
      assert(typeof doc.kind === "string", `${where}: kind`);
      assert(typeof doc.metadata?.name === "string", `${where}: name`);
      assertEquals(
        typeof doc.metadata?.namespace === "string",
        NAMESPACED.has(doc.kind!),
        `${where}: namespaced objects carry a namespace, others none`,
      );
    }
  }
});

Deno.test("every kustomization lists existing files, and every manifest is listed", async () => {
  const files = await yamlFiles(DEPLOY_DIR);
  const listed = new Set<string>();
  for (const k of files.filter((f) => f.endsWith("/kustomization.yaml"))) {
    const dir = k.slice(0, k.lastIndexOf("/"));
    const [doc] = parseManifests([await Deno.readTextFile(k)], k) as Json[];
    for (
      const rel of [...(doc.resources ?? []), ...(doc.components ?? [])]
    ) {
      const path = new URL(rel, `file://${dir}/`).pathname.replace(/\/$/, "");
      const stat = await Deno.stat(path).catch(() => null);
      assert(stat, `${k}: lists ${rel}, which does not exist`);
      if (stat.isDirectory) {
        await Deno.stat(`${path}/kustomization.yaml`).catch(() => {
          throw new Error(`${k}: ${rel} has no kustomization.yaml`);
        });
      } else listed.add(path);
    }
  }
  const orphans = files.filter((f) =>
    !f.endsWith("/kustomization.yaml") && !listed.has(f)
  );
  assertEquals(orphans, [], "manifests no kustomization lists");
});

Deno.test("deploy/ renders the base once: 14 objects, no duplicates", () => {
  const keys = base.map((o) =>
    `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`
  );
  assertEquals(new Set(keys).size, keys.length);
  assertEquals(base.length, 14);
});

async function kubectlAvailable(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("kubectl", {
      args: ["version", "--client"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

const KUBECTL = await kubectlAvailable();

async function kubectlKustomize(dir: string): Promise<KubeObject[]> {
  const out = await new Deno.Command("kubectl", {
    args: ["kustomize", dir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert(out.success, new TextDecoder().decode(out.stderr));
  return parseManifests([text], `kubectl kustomize ${dir}`);
}

function byKey(objects: KubeObject[]): KubeObject[] {
  const key = (o: KubeObject) =>
    `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`;
  return [...objects].sort((a, b) => key(a) < key(b) ? -1 : 1);
}

/** A temporary overlay: the HA variant plus the host-network component. */
async function withHostNetworkOverlay(
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "host_network_" });
  try {
    // kustomize accepts only relative paths between kustomizations.
    const up = "../".repeat(dir.split("/").filter(Boolean).length);
    const deploy = `${up}${DEPLOY_DIR.replace(/^\//, "")}`;
    await Deno.writeTextFile(
      `${dir}/kustomization.yaml`,
      `resources: [${deploy}ha]\ncomponents: [${deploy}components/host-network]\n`,
    );
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "the renderer agrees with `kubectl kustomize` (when kubectl exists)",
  ignore: !KUBECTL,
  async fn() {
    for (const dir of ["deploy", "deploy/ha"]) {
      assertEquals(
        byKey(await kubectlKustomize(`${DEPLOY_DIR}../${dir}`)),
        byKey(await renderKustomization(dir)),
        dir,
      );
    }
    await withHostNetworkOverlay(async (dir) => {
      assertEquals(
        byKey(await kubectlKustomize(dir)),
        byKey(await renderKustomization(dir)),
        "host-network overlay",
      );
    });
  },
});

// ---------------------------------------------------------------------------
// RBAC: what the approver may do
// ---------------------------------------------------------------------------

const CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
const SELECTOR =
  "fieldSelector=spec.signerName%3Dkubernetes.io%2Fkubelet-serving";
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;

/** The exact requests the daemon makes, as method and URL. */
const DAEMON_REQUESTS: [string, string][] = [
  ["GET", `${CSRS}?limit=500&${SELECTOR}`],
  [
    "GET",
    `${CSRS}?watch=1&resourceVersion=7&allowWatchBookmarks=true&${SELECTOR}`,
  ],
  ["GET", `${CSRS}/csr-abcde`],
  ["PUT", `${CSRS}/csr-abcde/approval`],
  ["POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews"],
  ["GET", "/api/v1/nodes?limit=500"],
  ["GET", "/api/v1/nodes?watch=1&resourceVersion=9&allowWatchBookmarks=true"],
  ["GET", "/api/v1/nodes/worker-1"],
  ["POST", "/apis/events.k8s.io/v1/namespaces/default/events"],
  ["PATCH", "/apis/events.k8s.io/v1/namespaces/default/events/csr-abcde.1"],
  ["POST", "/api/v1/namespaces/default/events"],
  ["PATCH", "/api/v1/namespaces/default/events/csr-abcde.1"],
  ["GET", `${LEASES}/${LEASE}`],
  ["POST", LEASES],
  ["PUT", `${LEASES}/${LEASE}`],
  ["GET", "/api/v1/namespaces/default/services/kubernetes"],
];

Deno.test("the approver may make every request the daemon makes", () => {
  for (const [method, path] of DAEMON_REQUESTS) {
    const a = requestAttributesFromPath(method, path);
    const decision = authorizeRequest(basePolicy, {
      user: SA_USER,
      groups: [],
      ...a,
    });
    assert(decision.allowed, `${method} ${path} → ${JSON.stringify(a)}`);
  }
  // The same through the helper the end-to-end tests use, including the
  // CertificateApproval admission check on the approval write.
  assertAllowedByDeploy(
    DAEMON_REQUESTS.map(([method, path]) => ({
      user: SA_USER,
      groups: [],
      verb: "",
      apiGroup: "",
      resource: "",
      subresource: "",
      name: "",
      namespace: "",
      path,
      method,
      status: 200,
      signerName: "kubernetes.io/kubelet-serving",
    })),
    basePolicy,
  );
});

Deno.test("the approver may approve only the kubelet-serving signer", () => {
  const who = { user: SA_USER, groups: [] };
  const table: [string, boolean][] = [
    ["kubernetes.io/kubelet-serving", true],
    ["kubernetes.io/kube-apiserver-client", false],
    ["kubernetes.io/kube-apiserver-client-kubelet", false],
    ["kubernetes.io/legacy-unknown", false],
    ["example.com/kubelet-serving", false],
  ];
  for (const [signer, allowed] of table) {
    assertEquals(
      isAuthorizedForSignerName(basePolicy, who, "approve", signer).allowed,
      allowed,
      signer,
    );
  }
  assertEquals(
    isAuthorizedForSignerName(
      basePolicy,
      who,
      "sign",
      "kubernetes.io/kubelet-serving",
    ).allowed,
    false,
    "the approver must not sign",
  );
});

const FORBIDDEN: [string, Partial<Parameters<typeof authorizeRequest>[1]>][] = [
  ["delete a CSR", {
    verb: "delete",
    apiGroup: "certificates.k8s.io",
    resource: "certificatesigningrequests",
    name: "csr-1",
  }],
  ["delete all CSRs", {
    verb: "deletecollection",
    apiGroup: "certificates.k8s.io",
    resource: "certificatesigningrequests",
  }],
  ["create a CSR", {
    verb: "create",
    apiGroup: "certificates.k8s.io",
    resource: "certificatesigningrequests",
  }],
  ["update a CSR", {
    verb: "update",
    apiGroup: "certificates.k8s.io",
    resource: "certificatesigningrequests",
    name: "csr-1",
  }],
  ["update a CSR's status (issue a certificate)", {
    verb: "update",
    apiGroup: "certificates.k8s.io",
    resource: "certificatesigningrequests",
    subresource: "status",
    name: "csr-1",
  }],
  ["patch a CSR's approval", {
    verb: "patch",
    apiGroup: "certificates.k8s.io",
    resource: "certificatesigningrequests",
    subresource: "approval",
    name: "csr-1",
  }],
  ["approve the kube-apiserver-client signer", {
    verb: "approve",
    apiGroup: "certificates.k8s.io",
    resource: "signers",
    name: "kubernetes.io/kube-apiserver-client",
  }],
  ["approve every kubernetes.io signer", {
    verb: "approve",
    apiGroup: "certificates.k8s.io",
    resource: "signers",
    name: "kubernetes.io/*",
  }],
  ["create selfnodeserver itself", {
    verb: "create",
    apiGroup: "certificates.k8s.io",
    resource: "certificatesigningrequests",
    subresource: "selfnodeserver",
  }],
  ["get a Secret in its namespace", {
    resource: "secrets",
    name: "s",
    namespace: NS,
  }],
  ["list Secrets cluster-wide", { verb: "list", resource: "secrets" }],
  ["list Services in default", {
    verb: "list",
    resource: "services",
    namespace: "default",
  }],
  ["get another Service in default", {
    resource: "services",
    name: "other",
    namespace: "default",
  }],
  ["get the kubernetes Service elsewhere", {
    resource: "services",
    name: "kubernetes",
    namespace: "kube-system",
  }],
  ["create Events outside default", {
    verb: "create",
    apiGroup: "events.k8s.io",
    resource: "events",
    namespace: "kube-system",
  }],
  ["delete Events in default", {
    verb: "delete",
    apiGroup: "events.k8s.io",
    resource: "events",
    name: "e",
    namespace: "default",
  }],
  ["update another Lease in its namespace", {
    verb: "update",
    apiGroup: "coordination.k8s.io",
    resource: "leases",
    name: "other",
    namespace: NS,
  }],
  ["take over kube-controller-manager's Lease", {
    verb: "update",
    apiGroup: "coordination.k8s.io",
    resource: "leases",
    name: "kube-controller-manager",
    namespace: "kube-system",
  }],
  ["delete its Lease", {
    verb: "delete",
    apiGroup: "coordination.k8s.io",
    resource: "leases",
    name: LEASE,
    namespace: NS,
  }],
  ["update a Node", { verb: "update", resource: "nodes", name: "worker-1" }],
  ["patch a Node's status", {
    verb: "patch",
    resource: "nodes",
    subresource: "status",
    name: "worker-1",
  }],
  ["impersonate a node", {
    verb: "impersonate",
    resource: "users",
    name: "system:node:worker-1",
  }],
  ["bind a ClusterRole", {
    verb: "bind",
    apiGroup: "rbac.authorization.k8s.io",
    resource: "clusterroles",
    name: "cluster-admin",
  }],
  ["read a non-resource URL", { verb: "get", path: "/metrics" }],
];

for (const [what, partial] of FORBIDDEN) {
  Deno.test(`the approver may not ${what}`, () => {
    const decision = authorizeRequest(basePolicy, {
      user: SA_USER,
      groups: [],
      verb: "get",
      apiGroup: "",
      resource: "",
      subresource: "",
      name: "",
      namespace: "",
      ...partial,
    });
    assertEquals(decision, { allowed: false });
  });
}

/** Every rule granted to `user`, with where it applies. */
function grantsOf(policy: RbacPolicy, user: string): string[] {
  const out: string[] = [];
  const show = (scope: string, r: PolicyRule) =>
    `${scope} ${r.apiGroups.map((g) => g || '""').join(",")}|${
      r.resources.join(",")
    }|${r.resourceNames.join(",")}|${r.verbs.join(",")}`;
  const matches = (s: { kind: string; name: string; namespace?: string }) =>
    s.kind === "ServiceAccount" &&
    `system:serviceaccount:${s.namespace}:${s.name}` === user;
  for (
    const b of policy.clusterRoleBindings.filter((b) =>
      b.subjects.some(matches)
    )
  ) {
    const role = policy.clusterRoles.find((r) => r.name === b.roleRef.name);
    for (const r of role?.rules ?? []) out.push(show("cluster", r));
  }
  for (const b of policy.roleBindings.filter((b) => b.subjects.some(matches))) {
    const rules = b.roleRef.kind === "Role"
      ? policy.roles.find((r) =>
        r.name === b.roleRef.name && r.namespace === b.namespace
      )?.rules
      : policy.clusterRoles.find((r) => r.name === b.roleRef.name)?.rules;
    for (const r of rules ?? []) out.push(show(b.namespace, r));
  }
  return out.sort();
}

Deno.test("the approver's grants are exactly the least-privilege set", () => {
  assertEquals(
    grantsOf(basePolicy, SA_USER),
    [
      'cluster ""|nodes||get,list,watch',
      "cluster authorization.k8s.io|subjectaccessreviews||create",
      "cluster certificates.k8s.io|certificatesigningrequests/approval||update",
      "cluster certificates.k8s.io|certificatesigningrequests||get,list,watch",
      "cluster certificates.k8s.io|signers|kubernetes.io/kubelet-serving|approve",
      'default ""|services|kubernetes|get',
      'default events.k8s.io,""|events||create,patch',
      `${NS} coordination.k8s.io|leases|${LEASE}|get,update`,
      `${NS} coordination.k8s.io|leases||create`,
    ].sort(),
  );
});

Deno.test("no RBAC rule in deploy/ uses a wildcard", () => {
  const rules = [...basePolicy.clusterRoles, ...basePolicy.roles].flatMap((
    r,
  ) => r.rules);
  for (const r of rules) {
    const all = [...r.apiGroups, ...r.resources, ...r.verbs];
    assert(!all.some((x) => x.includes("*")), JSON.stringify(r));
  }
});

Deno.test("bindings name only the approver and the group system:nodes", () => {
  const subjects = [
    ...basePolicy.clusterRoleBindings,
    ...basePolicy.roleBindings,
  ].flatMap((b) =>
    b.subjects.map((s) => `${s.kind}:${s.namespace ?? ""}:${s.name}`)
  );
  assertEquals([...new Set(subjects)].sort(), [
    "Group::system:nodes",
    `ServiceAccount:${NS}:${SA.name}`,
  ]);
});

// ---------------------------------------------------------------------------
// RBAC: selfnodeserver
// ---------------------------------------------------------------------------

const selfNodeServer = (user: string, groups: string[], verb = "create") => ({
  user,
  groups,
  verb,
  apiGroup: "certificates.k8s.io",
  resource: "certificatesigningrequests",
  subresource: "selfnodeserver",
  name: "",
  namespace: "",
});

Deno.test("system:nodes may create certificatesigningrequests/selfnodeserver", () => {
  const decision = authorizeRequest(
    basePolicy,
    selfNodeServer("system:node:worker-1", ["system:nodes"]),
  );
  assertEquals(decision, {
    allowed: true,
    by:
      'ClusterRoleBinding "kubelet-rubber-stamp:selfnodeserver" of ClusterRole "kubelet-rubber-stamp:selfnodeserver" to Group "system:nodes"',
  });
});

Deno.test("selfnodeserver: nobody else, nothing else, and revocable", () => {
  const denied = [
    selfNodeServer("system:node:worker-1", []),
    selfNodeServer("mallory", ["system:authenticated"]),
    selfNodeServer("system:node:worker-1", ["system:nodes"], "get"),
    {
      ...selfNodeServer("system:node:worker-1", ["system:nodes"]),
      subresource: "selfnodeclient",
    },
    {
      ...selfNodeServer("system:node:worker-1", ["system:nodes"]),
      subresource: "",
    },
  ];
  for (const r of denied) {
    assertEquals(
      authorizeRequest(basePolicy, r).allowed,
      false,
      JSON.stringify(r),
    );
  }
  // Deleting the binding revokes auto-approval.
  const revoked: RbacPolicy = {
    ...basePolicy,
    clusterRoleBindings: basePolicy.clusterRoleBindings.filter((b) =>
      b.name !== "kubelet-rubber-stamp:selfnodeserver"
    ),
  };
  assertEquals(
    authorizeRequest(
      revoked,
      selfNodeServer("system:node:worker-1", ["system:nodes"]),
    ).allowed,
    false,
  );
});

Deno.test("selfnodeserver is the subresource the daemon asks about by default", () => {
  const flag = FLAGS.find((f) => f.name === "authorization-subresource");
  assert(flag, "the daemon has --authorization-subresource");
  const role = basePolicy.clusterRoles.find((r) =>
    r.name === "kubelet-rubber-stamp:selfnodeserver"
  );
  assertEquals(role?.rules.map((r) => r.resources), [
    [`certificatesigningrequests/${flag.default}`],
  ]);
});

Deno.test("the HA variant grants exactly what the base grants", async () => {
  assertEquals(await loadDeployPolicy("deploy/ha"), basePolicy);
});

// ---------------------------------------------------------------------------
// Namespace, Deployment, Service, PDB
// ---------------------------------------------------------------------------

Deno.test("the Namespace enforces, audits and warns Pod Security restricted", () => {
  const labels = find(base, "Namespace", NS).metadata?.labels as Json;
  for (const mode of ["enforce", "audit", "warn"]) {
    assertEquals(labels[`pod-security.kubernetes.io/${mode}`], "restricted");
  }
});

/** The Pod Security Standards "restricted" checks that apply to a spec. */
function restrictedViolations(spec: Json): string[] {
  const v: string[] = [];
  for (const host of ["hostNetwork", "hostPID", "hostIPC"]) {
    if (spec[host]) v.push(host);
  }
  const allowedVolumes = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
  ];
  for (const vol of spec.volumes ?? []) {
    const type = Object.keys(vol).find((k) => k !== "name");
    if (!allowedVolumes.includes(type!)) v.push(`volume ${type}`);
  }
  const pod = spec.securityContext ?? {};
  for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
    const sc = c.securityContext ?? {};
    if (sc.privileged) v.push("privileged");
    if (sc.allowPrivilegeEscalation !== false) {
      v.push("allowPrivilegeEscalation");
    }
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) v.push("runAsNonRoot");
    if ((sc.runAsUser ?? pod.runAsUser) === 0) v.push("runAsUser 0");
    const seccomp = (sc.seccompProfile ?? pod.seccompProfile)?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") {
      v.push("seccompProfile");
    }
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) v.push("drop ALL");
    for (const cap of sc.capabilities?.add ?? []) {
      if (cap !== "NET_BIND_SERVICE") v.push(`add ${cap}`);
    }
    for (const p of c.ports ?? []) if (p.hostPort) v.push("hostPort");
  }
  return v;
}

Deno.test("the Pod passes Pod Security restricted (base and HA)", () => {
  assertEquals(restrictedViolations(podSpec(base)), []);
  assertEquals(restrictedViolations(podSpec(ha)), []);
});

Deno.test("the Deployment's security context", () => {
  const spec = podSpec(base);
  assertEquals(spec.securityContext, {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    seccompProfile: { type: "RuntimeDefault" },
  });
  assertEquals(container(base).securityContext, {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  });
});

Deno.test("the Deployment's image, args, env, resources", () => {
  const c = container(base);
  assertEquals(
    c.image,
    "ghcr.io/kubelet-rubber-stamp/kubelet-rubber-stamp:0.1.0",
  );
  assertEquals(c.args, [
    "--listen=:8080",
    "--leader-elect=true",
    `--leader-elect-lease-name=${LEASE}`,
  ]);
  for (const arg of c.args) {
    assert(KNOWN_FLAGS.includes(arg.split("=")[0]), `unknown flag ${arg}`);
  }
  const env = Object.fromEntries(
    c.env.map((e: Json) => [e.name, e.valueFrom?.fieldRef?.fieldPath]),
  );
  assertEquals(env.POD_NAME, "metadata.name");
  assertEquals(env.POD_NAMESPACE, "metadata.namespace");
  assertEquals(c.resources, {
    requests: { cpu: "50m", memory: "96Mi" },
    limits: { memory: "384Mi" },
  });
  assertEquals(podSpec(base).serviceAccountName, SA.name);
  find(base, "ServiceAccount", SA.name);
});

Deno.test("the lease name in the args is the one the Role allows", () => {
  const arg = container(base).args.find((a: string) =>
    a.startsWith("--leader-elect-lease-name=")
  );
  const name = arg.split("=")[1];
  const role = basePolicy.roles.find((r) =>
    r.namespace === NS && r.name === "kubelet-rubber-stamp-leader-election"
  );
  assert(role, "leader election Role");
  assert(
    role.rules.some((r) =>
      r.resourceNames.includes(name) && r.verbs.includes("update")
    ),
    `Role must allow updating Lease ${name}`,
  );
});

Deno.test("probes and the http port", () => {
  const c = container(base);
  assertEquals(c.ports, [{
    name: "http",
    containerPort: 8080,
    protocol: "TCP",
  }]);
  assertEquals(c.livenessProbe.httpGet, { path: "/healthz", port: "http" });
  assertEquals(c.readinessProbe.httpGet, { path: "/readyz", port: "http" });
  assertEquals(c.startupProbe.httpGet, { path: "/healthz", port: "http" });
  assert(
    c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 30,
    "startup gets at least 30 s",
  );
  const listen = c.args.find((a: string) => a.startsWith("--listen="));
  assertEquals(listen, `--listen=:${c.ports[0].containerPort}`);
});

Deno.test("tolerations, priority class, DNS policy and placement", () => {
  const spec = podSpec(base);
  assertEquals(spec.priorityClassName, "system-cluster-critical");
  assertEquals(spec.dnsPolicy, "Default");
  assertEquals(spec.hostNetwork, undefined);
  assertEquals(spec.tolerations, [
    {
      key: "node-role.kubernetes.io/control-plane",
      operator: "Exists",
      effect: "NoSchedule",
    },
    {
      key: "node.kubernetes.io/not-ready",
      operator: "Exists",
      effect: "NoSchedule",
    },
    {
      key: "node.kubernetes.io/not-ready",
      operator: "Exists",
      effect: "NoExecute",
    },
    {
      key: "node.cloudprovider.kubernetes.io/uninitialized",
      operator: "Equal",
      value: "true",
      effect: "NoSchedule",
    },
    {
      key: "node.kubernetes.io/unreachable",
      operator: "Exists",
      effect: "NoExecute",
      tolerationSeconds: 60,
    },
  ]);
  assertEquals(
    spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution,
    [{
      weight: 100,
      preference: {
        matchExpressions: [{
          key: "node-role.kubernetes.io/control-plane",
          operator: "Exists",
        }],
      },
    }],
  );
  // Critical pods outside kube-system need quota on some clusters.
  const quota = find(
    base,
    "ResourceQuota",
    "kubelet-rubber-stamp-critical-pods",
  )
    .spec as Json;
  assertEquals(quota.scopeSelector.matchExpressions[0].values, [
    "system-cluster-critical",
  ]);
});

function matchesSelector(selector: Json, labels: Json): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

Deno.test("Deployment, Service and PDB select the same Pods", () => {
  const deployment = find(base, "Deployment", "kubelet-rubber-stamp") as Json;
  const labels = deployment.spec.template.metadata.labels;
  assert(matchesSelector(deployment.spec.selector.matchLabels, labels));
  const service = find(base, "Service", "kubelet-rubber-stamp-metrics") as Json;
  assert(matchesSelector(service.spec.selector, labels), "Service selector");
  assertEquals(service.spec.ports, [
    { name: "http", port: 8080, targetPort: "http", protocol: "TCP" },
  ]);
  const pdb = find(base, "PodDisruptionBudget", "kubelet-rubber-stamp") as Json;
  assert(
    matchesSelector(pdb.spec.selector.matchLabels, labels),
    "PDB selector",
  );
  assertEquals(pdb.spec, { ...pdb.spec, maxUnavailable: 1 });
  assertEquals(pdb.spec.minAvailable, undefined);
  assertEquals(deployment.spec.replicas, 1);
});

Deno.test("only the default-namespace Role and binding leave the approver's namespace", () => {
  const elsewhere = base.filter((o) =>
    o.metadata?.namespace !== undefined && o.metadata.namespace !== NS
  ).map((o) => `${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`);
  assertEquals(elsewhere.sort(), [
    "Role/default/kubelet-rubber-stamp",
    "RoleBinding/default/kubelet-rubber-stamp",
  ]);
});

// ---------------------------------------------------------------------------
// HA overlay and host-network component
// ---------------------------------------------------------------------------

Deno.test("HA: two replicas, leader election, spread, PDB minAvailable 1", () => {
  const deployment = find(ha, "Deployment", "kubelet-rubber-stamp") as Json;
  assertEquals(deployment.spec.replicas, 2);
  assert(container(ha).args.includes("--leader-elect=true"));
  const labels = deployment.spec.template.metadata.labels;
  const [term] = podSpec(ha).affinity.podAntiAffinity
    .preferredDuringSchedulingIgnoredDuringExecution;
  assertEquals(term.podAffinityTerm.topologyKey, "kubernetes.io/hostname");
  assert(
    matchesSelector(term.podAffinityTerm.labelSelector.matchLabels, labels),
  );
  const pdb = find(ha, "PodDisruptionBudget", "kubelet-rubber-stamp") as Json;
  assertEquals(pdb.spec.minAvailable, 1);
  assertEquals(pdb.spec.maxUnavailable, undefined);
  // Two replicas plus a rolling-update surge fit the critical-pod quota.
  const quota = find(ha, "ResourceQuota", "kubelet-rubber-stamp-critical-pods")
    .spec as Json;
  const surge = deployment.spec.strategy.rollingUpdate.maxSurge;
  assert(Number(quota.hard.pods) >= 2 + surge, "quota covers the rollout");
  // Everything else is the base, unchanged.
  const strip = (objects: KubeObject[]) =>
    objects.filter((o) =>
      o.kind !== "Deployment" && o.kind !== "PodDisruptionBudget"
    );
  assertEquals(strip(ha), strip(base));
});

Deno.test("host-network component: host network, node DNS, privileged enforce only", async () => {
  await withHostNetworkOverlay(async (dir) => {
    const objects = await renderKustomization(dir);
    const spec = podSpec(objects);
    assertEquals(spec.hostNetwork, true);
    assertEquals(spec.dnsPolicy, "Default");
    assertEquals(restrictedViolations(spec), ["hostNetwork"]);
    const labels = find(objects, "Namespace", NS).metadata?.labels as Json;
    assertEquals(labels["pod-security.kubernetes.io/enforce"], "privileged");
    assertEquals(labels["pod-security.kubernetes.io/audit"], "restricted");
    assertEquals(labels["pod-security.kubernetes.io/warn"], "restricted");
    const c = container(objects);
    const port = c.ports[0].containerPort;
    assert(port !== 8080, "moves off 8080");
    assert(c.args.includes(`--listen=:${port}`), "listens where it says");
    const service = find(
      objects,
      "Service",
      "kubelet-rubber-stamp-metrics",
    ) as Json;
    assertEquals(
      service.metadata.annotations["prometheus.io/port"],
      String(port),
    );
    const deployment = find(
      objects,
      "Deployment",
      "kubelet-rubber-stamp",
    ) as Json;
    assertEquals(deployment.spec.strategy.rollingUpdate, {
      maxSurge: 0,
      maxUnavailable: 1,
    });
    assertEquals(deployment.spec.replicas, 2, "composes with HA");
  });
});
