/**
 * The RBAC evaluator in `tests/support/rbac.ts`, against hand-written
 * policies: it must allow exactly what Kubernetes' RBAC authorizer allows.
 */

import {
  type ApiRequestRecord,
  applyJsonPatch,
  assertAllowedByDeploy,
  authorizeRequest,
  isAuthorizedForSignerName,
  loadRbacPolicy,
  type RbacPolicy,
  RbacPolicyError,
  type RbacRequest,
  renderKustomization,
  requestAttributesFromPath,
} from "../../support/rbac.ts";
import {
  assert,
  assertEquals,
  AssertionError,
  assertMatch,
  assertRejects,
  assertThrows,
} from "../../support/assert.ts";

const POLICY_YAML = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
  - apiGroups: [""]
    resources: [nodes, pods]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: status-writer}
rules:
  - apiGroups: ["*"]
    resources: ["*/status"]
    verbs: [update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: csr-approver}
rules:
  - apiGroups: [certificates.k8s.io]
    resources: [certificatesigningrequests/approval]
    verbs: [update]
  - apiGroups: [certificates.k8s.io]
    resources: [signers]
    resourceNames: ["example.com/*"]
    verbs: [approve]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: everything}
rules:
  - apiGroups: ["*"]
    resources: ["*"]
    verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: health}
rules:
  - nonResourceURLs: [/healthz, "/metrics/*"]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: named-configmap}
rules:
  - apiGroups: [""]
    resources: [configmaps]
    resourceNames: [app-config]
    verbs: [get, update, create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: lease, namespace: team-a}
rules:
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-reads, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: builder-lease, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: lease}
subjects:
  # No namespace: defaults to the RoleBinding's (team-a).
  - {kind: ServiceAccount, name: builder}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dangling, namespace: team-b}
# Role "lease" exists in team-a only: this binding grants nothing.
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: lease}
subjects:
  - {kind: ServiceAccount, name: builder, namespace: team-a}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-reads}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: team-c-reads}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:serviceaccounts:team-c"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ctrl-status}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: status-writer}
subjects:
  - {kind: ServiceAccount, name: ctrl, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: approvers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: csr-approver}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: approvers}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: everything}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: admins}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: health}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: health}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:authenticated"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: carol-config}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: named-configmap}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}
---
# Not RBAC: ignored.
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config, namespace: team-a}
`;

const policy = loadRbacPolicy([POLICY_YAML]);

function req(partial: Partial<RbacRequest>): RbacRequest {
  return {
    user: "",
    groups: [],
    verb: "get",
    apiGroup: "",
    resource: "",
    subresource: "",
    name: "",
    namespace: "",
    ...partial,
  };
}

const CASES: {
  name: string;
  request: RbacRequest;
  allowed: boolean;
  by?: string;
}[] = [
  // Verbs, groups, resources.
  {
    name: "ClusterRoleBinding to a user allows a listed verb",
    request: req({
      user: "alice",
      resource: "pods",
      name: "p",
      namespace: "x",
    }),
    allowed: true,
    by:
      'ClusterRoleBinding "alice-reads" of ClusterRole "reader" to User "alice"',
  },
  {
    name: "a verb the rule does not list is denied",
    request: req({ user: "alice", verb: "delete", resource: "pods" }),
    allowed: false,
  },
  {
    name: "the same resource name in another API group is denied",
    request: req({ user: "alice", apiGroup: "apps", resource: "pods" }),
    allowed: false,
  },
  {
    name: "a subresource is not covered by its parent resource",
    request: req({ user: "alice", resource: "pods", subresource: "log" }),
    allowed: false,
  },
  {
    name: "cluster-scoped list through a ClusterRoleBinding",
    request: req({ user: "alice", verb: "list", resource: "nodes" }),
    allowed: true,
  },
  {
    name: "another user is denied",
    request: req({ user: "alicia", resource: "pods" }),
    allowed: false,
  },
  // */subresource.
  {
    name: "*/status matches any resource's status",
    request: req({
      user: "system:serviceaccount:kube-system:ctrl",
      verb: "update",
      apiGroup: "apps",
      resource: "deployments",
      subresource: "status",
      name: "d",
      namespace: "x",
    }),
    allowed: true,
    by:
      'ClusterRoleBinding "ctrl-status" of ClusterRole "status-writer" to ServiceAccount "ctrl/kube-system"',
  },
  {
    name: "the combined resource/subresource form is accepted",
    request: req({
      user: "system:serviceaccount:kube-system:ctrl",
      verb: "update",
      apiGroup: "apps",
      resource: "deployments/status",
    }),
    allowed: true,
  },
  {
    name: "*/status does not match the main resource",
    request: req({
      serviceAccount: { namespace: "kube-system", name: "ctrl" },
      verb: "update",
      apiGroup: "apps",
      resource: "deployments",
    }),
    allowed: false,
  },
  {
    name: "*/status does not match a mere suffix of it",
    request: req({
      serviceAccount: { namespace: "kube-system", name: "ctrl" },
      verb: "update",
      resource: "pods",
      subresource: "tatus",
    }),
    allowed: false,
  },
  {
    name: "a ServiceAccount of the same name in another namespace is denied",
    request: req({
      serviceAccount: { namespace: "other", name: "ctrl" },
      verb: "update",
      resource: "pods",
      subresource: "status",
    }),
    allowed: false,
  },
  // RoleBindings.
  {
    name: "RoleBinding to a ClusterRole grants it in the binding's namespace",
    request: req({ user: "bob", resource: "pods", namespace: "team-a" }),
    allowed: true,
    by: 'RoleBinding "bob-reads/team-a" of ClusterRole "reader" to User "bob"',
  },
  {
    name: "RoleBinding grants nothing in another namespace",
    request: req({ user: "bob", resource: "pods", namespace: "team-b" }),
    allowed: false,
  },
  {
    name: "RoleBinding grants nothing cluster-wide",
    request: req({ user: "bob", verb: "list", resource: "pods" }),
    allowed: false,
  },
  {
    name: "RoleBinding to a Role; SA subject defaults to the binding namespace",
    request: req({
      serviceAccount: { namespace: "team-a", name: "builder" },
      apiGroup: "coordination.k8s.io",
      resource: "leases",
      name: "l",
      namespace: "team-a",
    }),
    allowed: true,
    by:
      'RoleBinding "builder-lease/team-a" of Role "lease" to ServiceAccount "builder/team-a"',
  },
  {
    name: "a RoleBinding to a Role missing in its namespace grants nothing",
    request: req({
      serviceAccount: { namespace: "team-a", name: "builder" },
      apiGroup: "coordination.k8s.io",
      resource: "leases",
      name: "l",
      namespace: "team-b",
    }),
    allowed: false,
  },
  // Groups.
  {
    name: "ServiceAccounts get their namespace's group",
    request: req({
      user: "system:serviceaccount:team-c:anyone",
      resource: "pods",
    }),
    allowed: true,
    by:
      'ClusterRoleBinding "team-c-reads" of ClusterRole "reader" to Group "system:serviceaccounts:team-c"',
  },
  {
    name: "that group is not given to other namespaces' ServiceAccounts",
    request: req({
      user: "system:serviceaccount:team-d:anyone",
      resource: "pods",
    }),
    allowed: false,
  },
  {
    name: "a group membership grants the group's roles",
    request: req({
      user: "eve",
      groups: ["admins"],
      verb: "delete",
      resource: "secrets",
      name: "s",
      namespace: "x",
    }),
    allowed: true,
  },
  {
    name: "without the group, nothing",
    request: req({
      user: "eve",
      groups: ["admin"],
      verb: "delete",
      resource: "secrets",
    }),
    allowed: false,
  },
  // resourceNames.
  {
    name: "resourceNames allow the named object",
    request: req({
      user: "carol",
      resource: "configmaps",
      name: "app-config",
      namespace: "x",
    }),
    allowed: true,
  },
  {
    name: "resourceNames deny another name",
    request: req({
      user: "carol",
      resource: "configmaps",
      name: "db-config",
      namespace: "x",
    }),
    allowed: false,
  },
  {
    name: "resourceNames deny a list (no name)",
    request: req({ user: "carol", verb: "list", resource: "configmaps" }),
    allowed: false,
  },
  {
    name: "resourceNames cannot allow create (the name is not known)",
    request: req({
      user: "carol",
      verb: "create",
      resource: "configmaps",
      namespace: "x",
    }),
    allowed: false,
  },
  // Non-resource URLs; system:authenticated.
  {
    name: "every authenticated user gets system:authenticated",
    request: req({ user: "dave", path: "/healthz" }),
    allowed: true,
  },
  {
    name: "a trailing * matches by prefix",
    request: req({ user: "dave", path: "/metrics/cadvisor" }),
    allowed: true,
  },
  {
    name: "the prefix itself without its slash is not matched",
    request: req({ user: "dave", path: "/metrics" }),
    allowed: false,
  },
  {
    name: "a non-resource verb not listed is denied",
    request: req({ user: "dave", verb: "post", path: "/healthz" }),
    allowed: false,
  },
  {
    name: "anonymous is not authenticated",
    request: req({ user: "system:anonymous", path: "/healthz" }),
    allowed: false,
  },
  {
    name: "a resource rule never matches a non-resource request",
    request: req({ user: "alice", path: "/api/v1/pods" }),
    allowed: false,
  },
];

for (const c of CASES) {
  Deno.test(`authorizeRequest: ${c.name}`, () => {
    const decision = authorizeRequest(policy, c.request);
    assertEquals(decision.allowed, c.allowed, JSON.stringify(c.request));
    if (c.by) assertEquals(decision.by, c.by);
    if (!c.allowed) assertEquals(decision.by, undefined);
  });
}

Deno.test("authorizeRequest: user and serviceAccount must agree", () => {
  assertThrows(
    () =>
      authorizeRequest(
        policy,
        req({ user: "alice", serviceAccount: { namespace: "a", name: "b" } }),
      ),
    RbacPolicyError,
    "agree",
  );
});

Deno.test("isAuthorizedForSignerName: exact name, then <domain>/*", () => {
  const who = { user: "frank", groups: ["approvers"] };
  const table: [string, boolean][] = [
    ["example.com/issuer", true],
    ["example.com/other", true],
    ["kubernetes.io/kubelet-serving", false],
    ["example.org/issuer", false],
  ];
  for (const [signer, allowed] of table) {
    assertEquals(
      isAuthorizedForSignerName(policy, who, "approve", signer).allowed,
      allowed,
      signer,
    );
  }
  assertEquals(
    isAuthorizedForSignerName(policy, who, "sign", "example.com/issuer")
      .allowed,
    false,
  );
});

const INVALID: { name: string; yaml: string; message: string }[] = [
  {
    name: "a RoleBinding without a namespace",
    yaml: `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: x}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}`,
    message: "expected metadata.namespace",
  },
  {
    name: "a resource rule without apiGroups",
    yaml: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: x}
rules: [{resources: [pods], verbs: [get]}]`,
    message: "at least one api group",
  },
  {
    name: "a rule without verbs",
    yaml: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: x}
rules: [{apiGroups: [""], resources: [pods]}]`,
    message: "at least one verb",
  },
  {
    name: "a rule mixing resources and nonResourceURLs",
    yaml: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: x}
rules: [{apiGroups: [""], resources: [pods], nonResourceURLs: [/x], verbs: [get]}]`,
    message: "both regular resources and non-resource URLs",
  },
  {
    name: "nonResourceURLs in a namespaced Role",
    yaml: `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: x, namespace: y}
rules: [{nonResourceURLs: [/x], verbs: [get]}]`,
    message: "namespaced rules cannot apply to non-resource URLs",
  },
  {
    name: "a ClusterRoleBinding to a Role",
    yaml: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: x}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}`,
    message: "expected roleRef.kind ClusterRole",
  },
  {
    name: "a ServiceAccount subject without namespace in a ClusterRoleBinding",
    yaml: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: x}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}
subjects: [{kind: ServiceAccount, name: sa}]`,
    message: "expected a namespace for a ServiceAccount",
  },
  {
    name: "a Group subject without apiGroup",
    yaml: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: x}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}
subjects: [{kind: Group, name: g}]`,
    message: "expected apiGroup rbac.authorization.k8s.io for a Group",
  },
  {
    name: "an unknown subject kind",
    yaml: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: x}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}
subjects: [{kind: Robot, name: g}]`,
    message: "expected kind User, Group or ServiceAccount",
  },
  {
    name: "the removed v1beta1 API",
    yaml: `apiVersion: rbac.authorization.k8s.io/v1beta1
kind: ClusterRole
metadata: {name: x}`,
    message: "expected apiVersion rbac.authorization.k8s.io/v1",
  },
  {
    name: "the same object twice",
    yaml: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: x}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: x}`,
    message: "expected one object, found two",
  },
  {
    name: "broken YAML",
    yaml: "kind: [ClusterRole",
    message: "expected valid YAML",
  },
];

for (const c of INVALID) {
  Deno.test(`loadRbacPolicy rejects ${c.name}`, () => {
    assertThrows(() => loadRbacPolicy([c.yaml]), RbacPolicyError, c.message);
  });
}

Deno.test("loadRbacPolicy reads every RBAC kind and ignores the rest", () => {
  assertEquals(policy.clusterRoles.length, 6);
  assertEquals(policy.roles.map((r) => `${r.namespace}/${r.name}`), [
    "team-a/lease",
  ]);
  assertEquals(policy.roleBindings.length, 3);
  assertEquals(policy.clusterRoleBindings.length, 7);
  assertEquals(policy.roleBindings[1].subjects, [
    { kind: "ServiceAccount", name: "builder" },
  ]);
});

const PATHS: {
  method: string;
  path: string;
  want: Partial<ReturnType<typeof requestAttributesFromPath>>;
}[] = [
  {
    method: "GET",
    path:
      "/apis/certificates.k8s.io/v1/certificatesigningrequests?limit=500&fieldSelector=spec.signerName%3Dkubernetes.io%2Fkubelet-serving",
    want: {
      verb: "list",
      apiGroup: "certificates.k8s.io",
      resource: "certificatesigningrequests",
      name: "",
      namespace: "",
    },
  },
  {
    method: "GET",
    path:
      "/apis/certificates.k8s.io/v1/certificatesigningrequests?watch=1&resourceVersion=5",
    want: { verb: "watch", resource: "certificatesigningrequests" },
  },
  {
    method: "GET",
    path: "/api/v1/nodes?watch=true",
    want: { verb: "watch", apiGroup: "", resource: "nodes" },
  },
  {
    method: "GET",
    path: "/api/v1/watch/nodes",
    want: { verb: "watch", resource: "nodes" },
  },
  {
    method: "GET",
    path: "/api/v1/nodes?fieldSelector=metadata.name%3Dworker-1&watch=1",
    want: { verb: "watch", resource: "nodes", name: "worker-1" },
  },
  {
    method: "PUT",
    path:
      "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval",
    want: {
      verb: "update",
      resource: "certificatesigningrequests",
      subresource: "approval",
      name: "csr-1",
    },
  },
  {
    method: "POST",
    path: "/apis/authorization.k8s.io/v1/subjectaccessreviews",
    want: {
      verb: "create",
      apiGroup: "authorization.k8s.io",
      resource: "subjectaccessreviews",
      name: "",
    },
  },
  {
    method: "POST",
    path: "/apis/events.k8s.io/v1/namespaces/default/events",
    want: { verb: "create", resource: "events", namespace: "default" },
  },
  {
    method: "PATCH",
    path: "/api/v1/namespaces/default/events/csr-1.abc",
    want: { verb: "patch", resource: "events", name: "csr-1.abc" },
  },
  {
    method: "GET",
    path:
      "/apis/coordination.k8s.io/v1/namespaces/kubelet-rubber-stamp/leases/kubelet-rubber-stamp",
    want: {
      verb: "get",
      resource: "leases",
      name: "kubelet-rubber-stamp",
      namespace: "kubelet-rubber-stamp",
    },
  },
  {
    method: "DELETE",
    path: "/api/v1/namespaces/x/pods",
    want: { verb: "deletecollection", resource: "pods", namespace: "x" },
  },
  {
    method: "GET",
    path: "/api/v1/namespaces/kube-system",
    want: { resource: "namespaces", name: "kube-system" },
  },
  {
    method: "PUT",
    path: "/api/v1/namespaces/x/finalize",
    want: { resource: "namespaces", name: "x", subresource: "finalize" },
  },
  {
    method: "GET",
    path: "/version",
    want: { verb: "get", resource: "", path: "/version" },
  },
  {
    method: "GET",
    path: "/apis/certificates.k8s.io/v1",
    want: { verb: "get", resource: "", path: "/apis/certificates.k8s.io/v1" },
  },
];

Deno.test("requestAttributesFromPath derives the authorizer's attributes", () => {
  for (const { method, path, want } of PATHS) {
    const got = requestAttributesFromPath(method, path);
    const picked = Object.fromEntries(
      Object.keys(want).map((k) => [k, got[k as keyof typeof got]]),
    );
    assertEquals(picked, want, `${method} ${path}`);
  }
});

Deno.test("applyJsonPatch: add, replace, remove, move, copy, test", () => {
  const doc = { a: { "b/c": 1, list: [1, 2] }, keep: true };
  const out = applyJsonPatch(doc, [
    { op: "add", path: "/a/list/-", value: 3 },
    { op: "add", path: "/a/list/0", value: 0 },
    { op: "replace", path: "/a/b~1c", value: 2 },
    { op: "copy", from: "/a/b~1c", path: "/copied" },
    { op: "move", from: "/keep", path: "/moved" },
    { op: "remove", path: "/a/list/1" },
    { op: "test", path: "/a/list", value: [0, 2, 3] },
  ]);
  assertEquals(out, {
    a: { "b/c": 2, list: [0, 2, 3] },
    copied: 2,
    moved: true,
  });
  assertEquals(doc.a.list, [1, 2], "the input is not modified");
  assertThrows(
    () => applyJsonPatch(doc, [{ op: "test", path: "/keep", value: false }]),
    RbacPolicyError,
    "expected false, found true",
  );
  assertThrows(
    () => applyJsonPatch(doc, [{ op: "replace", path: "/nope", value: 1 }]),
    RbacPolicyError,
    'expected "nope" to exist',
  );
  assertThrows(
    () => applyJsonPatch(doc, [{ op: "merge", path: "/a" }]),
    RbacPolicyError,
    "expected one of",
  );
});

async function withTree(
  files: Record<string, string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "rbac_test_" });
  try {
    for (const [name, text] of Object.entries(files)) {
      const path = `${dir}/${name}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), {
        recursive: true,
      });
      await Deno.writeTextFile(path, text);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const CM = (name: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}, namespace: n}\ndata: {k: v}\n`;

Deno.test("renderKustomization: files, directories, components, patches", async () => {
  await withTree({
    "base/kustomization.yaml": "resources: [a.yaml, sub]\n",
    "base/a.yaml": CM("a"),
    "base/sub/kustomization.yaml": "resources: [b.yaml]\n",
    "base/sub/b.yaml": CM("b"),
    "comp/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
  - target: {kind: ConfigMap, name: b}
    patch: |-
      - op: add
        path: /data/fromComponent
        value: "yes"
`,
    "overlay/kustomization.yaml": `resources: [../base]
components: [../comp]
patches:
  - target: {version: v1, kind: ConfigMap, name: a, namespace: n}
    patch: |-
      - op: replace
        path: /data/k
        value: patched
`,
  }, async (dir) => {
    const objects = await renderKustomization(`${dir}/overlay`);
    assertEquals(objects.map((o) => o.metadata?.name), ["a", "b"]);
    assertEquals(objects[0].data, { k: "patched" });
    assertEquals(objects[1].data, { k: "v", fromComponent: "yes" });
  });
});

const BAD_TREES: {
  name: string;
  files: Record<string, string>;
  message: string;
}[] = [
  {
    name: "a missing resource",
    files: { "kustomization.yaml": "resources: [gone.yaml]\n" },
    message: "to exist",
  },
  {
    name: "an unmodelled field",
    files: {
      "kustomization.yaml": "resources: [a.yaml]\nnamespace: other\n",
      "a.yaml": CM("a"),
    },
    message: 'found "namespace"',
  },
  {
    name: "a strategic merge patch",
    files: {
      "kustomization.yaml": `resources: [a.yaml]
patches:
  - target: {kind: ConfigMap}
    patch: |-
      data: {k: w}
`,
      "a.yaml": CM("a"),
    },
    message: "strategic merge",
  },
  {
    name: "a patch target that matches nothing",
    files: {
      "kustomization.yaml": `resources: [a.yaml]
patches:
  - target: {kind: ConfigMap, name: typo}
    patch: |-
      - {op: remove, path: /data}
`,
      "a.yaml": CM("a"),
    },
    message: "to match an object, found none",
  },
  {
    name: "a failing test operation",
    files: {
      "kustomization.yaml": `resources: [a.yaml]
patches:
  - target: {kind: ConfigMap}
    patch: |-
      - {op: test, path: /data/k, value: other}
`,
      "a.yaml": CM("a"),
    },
    message: 'expected "other", found "v"',
  },
];

for (const c of BAD_TREES) {
  Deno.test(`renderKustomization refuses ${c.name}`, async () => {
    await withTree(c.files, async (dir) => {
      await assertRejects(
        () => renderKustomization(dir),
        RbacPolicyError,
        c.message,
      );
    });
  });
}

function record(partial: Partial<ApiRequestRecord>): ApiRequestRecord {
  return {
    user: "frank",
    groups: ["approvers"],
    verb: "",
    apiGroup: "",
    resource: "",
    subresource: "",
    name: "",
    namespace: "",
    path: "/",
    method: "GET",
    status: 200,
    ...partial,
  };
}

const approval = (signerName?: string) =>
  record({
    method: "PUT",
    path:
      "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval",
    signerName,
  });

Deno.test("assertAllowedByDeploy passes allowed requests", () => {
  assertAllowedByDeploy([approval("example.com/issuer")], policy);
  // The same from explicit record fields instead of the path.
  assertAllowedByDeploy([
    record({
      verb: "update",
      apiGroup: "certificates.k8s.io",
      resource: "certificatesigningrequests",
      subresource: "approval",
      name: "csr-1",
      path: "/ignored-when-resource-is-set",
      method: "PUT",
      signerName: "example.com/issuer",
    }),
  ], policy);
  // A 401 never reached authorization.
  assertAllowedByDeploy(
    [record({ path: "/api/v1/secrets", status: 401 })],
    {
      roles: [],
      clusterRoles: [],
      roleBindings: [],
      clusterRoleBindings: [],
    } satisfies RbacPolicy,
  );
});

Deno.test("assertAllowedByDeploy lists every request it does not allow", () => {
  const error = assertThrows(
    () =>
      assertAllowedByDeploy([
        approval("example.com/issuer"),
        record({ path: "/api/v1/namespaces/x/secrets/s" }),
        approval("kubernetes.io/kube-apiserver-client"),
        approval(undefined),
        record({ method: "DELETE", path: "/api/v1/nodes/worker-1" }),
      ], policy),
    AssertionError,
  );
  assertMatch(error.message, /^4 problem\(s\) in 5 recorded/);
  assert(
    error.message.includes(
      'may not get core secrets "s" in namespace "x"',
    ),
    error.message,
  );
  assert(
    error.message.includes(
      'may not approve signer "kubernetes.io/kube-apiserver-client"',
    ),
    error.message,
  );
  assert(error.message.includes("expected a signerName"), error.message);
  assert(
    error.message.includes('may not delete core nodes "worker-1" cluster-wide'),
    error.message,
  );
});

Deno.test("assertAllowedByDeploy: defaultSignerName stands in for a missing one", () => {
  assertAllowedByDeploy([approval(undefined)], policy, {
    defaultSignerName: "example.com/issuer",
  });
  assertThrows(
    () =>
      assertAllowedByDeploy([approval(undefined)], policy, {
        defaultSignerName: "kubernetes.io/kubelet-serving",
      }),
    AssertionError,
    "may not approve signer",
  );
});
