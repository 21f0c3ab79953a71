/**
 * Who may do what on the API server double in end-to-end tests: the
 * approver exactly the RBAC deploy/ ships, nodes what the Node authorizer
 * gives a kubelet, `system:masters` anything, everyone else Kubernetes'
 * default bindings. Shared by the fixture, the cluster of daemons and the
 * demo.
 *
 * @module
 */
import type {
  ApiServer,
  ApiServerOptions,
  RequestAttributes,
  UserInfo,
} from "./api_server.ts";
import {
  authorizeRequest,
  loadDeployPolicy,
  policyFromObjects,
  type RbacPolicy,
} from "./rbac.ts";

let deployPolicy: Promise<RbacPolicy> | undefined;

const CSR_GROUP = "certificates.k8s.io";
const CSRS = "certificatesigningrequests";

/**
 * The part of Kubernetes' default (bootstrap) RBAC that matters here, beside
 * what deploy/ ships: `cluster-admin` for `system:masters`, the
 * `system:node-bootstrapper` ClusterRole (create and read CSRs) for
 * `system:bootstrappers`, and kubeadm's
 * `system:certificates.k8s.io:certificatesigningrequests:selfnodeclient`
 * binding for `system:nodes` (client certificate renewal: a different
 * virtual subresource than the approver's `selfnodeserver`).
 */
const KUBERNETES_DEFAULTS = policyFromObjects([
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: "cluster-admin" },
    rules: [
      { apiGroups: ["*"], resources: ["*"], verbs: ["*"] },
      { nonResourceURLs: ["*"], verbs: ["*"] },
    ],
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: "cluster-admin" },
    roleRef: {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "cluster-admin",
    },
    subjects: [{
      apiGroup: "rbac.authorization.k8s.io",
      kind: "Group",
      name: "system:masters",
    }],
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: "system:node-bootstrapper" },
    rules: [{
      apiGroups: [CSR_GROUP],
      resources: [CSRS],
      verbs: ["create", "get", "list", "watch"],
    }],
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: "kubeadm:kubelet-bootstrap" },
    roleRef: {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "system:node-bootstrapper",
    },
    subjects: [{
      apiGroup: "rbac.authorization.k8s.io",
      kind: "Group",
      name: "system:bootstrappers",
    }],
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: {
      name:
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
    },
    rules: [{
      apiGroups: [CSR_GROUP],
      resources: [`${CSRS}/selfnodeclient`],
      verbs: ["create"],
    }],
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: "kubeadm:node-autoapprove-certificate-rotation" },
    roleRef: {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name:
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
    },
    subjects: [{
      apiGroup: "rbac.authorization.k8s.io",
      kind: "Group",
      name: "system:nodes",
    }],
  },
]);

function union(a: RbacPolicy, b: RbacPolicy): RbacPolicy {
  return {
    roles: [...a.roles, ...b.roles],
    clusterRoles: [...a.clusterRoles, ...b.clusterRoles],
    roleBindings: [...a.roleBindings, ...b.roleBindings],
    clusterRoleBindings: [...a.clusterRoleBindings, ...b.clusterRoleBindings],
  };
}

/**
 * Non-node identities a test let create CSRs (as an admin binding
 * `system:node-bootstrapper` to that user would), per double.
 */
const requesterGrants = new WeakMap<ApiServer, Set<string>>();

const isCsrRead = (a: RequestAttributes) =>
  a.apiGroup === CSR_GROUP && a.resource === CSRS && a.subresource === "" &&
  ["get", "list", "watch"].includes(a.verb);
const isCsrCreate = (a: RequestAttributes) =>
  a.apiGroup === CSR_GROUP && a.resource === CSRS && a.subresource === "" &&
  a.verb === "create";

/**
 * What a node may do with CSRs, as the Node authorizer and the `system:node`
 * role allow a kubelet: create them, and read its own (by name: a get, or a
 * list/watch with a `metadata.name` field selector, as the kubelet's
 * certificate manager does). Stricter than Kubernetes, which lets a node read
 * every CSR. `undefined`: not a node request, ask RBAC.
 */
function nodeAuthorizer(
  attrs: RequestAttributes,
  user: UserInfo,
  server: ApiServer,
): boolean | undefined {
  if (
    !user.username.startsWith("system:node:") ||
    !(user.groups ?? []).includes("system:nodes")
  ) return undefined;
  if (isCsrCreate(attrs)) return true;
  if (isCsrRead(attrs) && attrs.name !== "") {
    return server.getCsr(attrs.name)?.spec.username === user.username;
  }
  return undefined;
}

/**
 * Authorizers for the API double for every identity: the approver gets
 * exactly the RBAC that deploy/ ships (so a request the manifests do not
 * allow fails the tests); nodes may create CSRs and read their own;
 * `system:masters` may do anything; everyone else only what Kubernetes'
 * default bindings and deploy/ give them. SubjectAccessReviews are answered
 * from the same rules (so nodes are auto-approved only through the
 * selfnodeserver binding deploy/ grants).
 *
 * @example
 * ```ts
 * import { startApiServer } from "./api_server.ts";
 * import { deployRbacAuthorizers } from "./deploy_rbac.ts";
 * await using api = await startApiServer({ ...(await deployRbacAuthorizers()) });
 * ```
 */
export async function deployRbacAuthorizers(): Promise<
  Pick<ApiServerOptions, "authorize" | "sarAuthorize">
> {
  const policy = union(
    await (deployPolicy ??= loadDeployPolicy("deploy")),
    KUBERNETES_DEFAULTS,
  );
  return {
    authorize: (attrs, user, server) => {
      const byNode = nodeAuthorizer(attrs, user, server);
      if (byNode !== undefined) return byNode;
      if (
        requesterGrants.get(server)?.has(user.username) &&
        (isCsrCreate(attrs) || isCsrRead(attrs))
      ) return true;
      return authorizeRequest(policy, {
        user: user.username,
        groups: user.groups ?? [],
        verb: attrs.verb,
        apiGroup: attrs.apiGroup,
        resource: attrs.resource,
        subresource: attrs.subresource,
        name: attrs.name,
        namespace: attrs.namespace,
        path: attrs.path,
      }).allowed;
    },
    sarAuthorize: (spec) => {
      const ra = spec.resourceAttributes ?? {};
      const d = authorizeRequest(policy, {
        user: spec.user ?? "",
        groups: spec.groups ?? [],
        verb: ra.verb ?? "",
        apiGroup: ra.group ?? "",
        resource: ra.resource ?? "",
        subresource: ra.subresource ?? "",
        name: ra.name ?? "",
        namespace: ra.namespace ?? "",
      });
      return { allowed: d.allowed, reason: d.by };
    },
  };
}

/**
 * Lets `username` (not a node) create and read CSRs on `api`, as an admin
 * binding `system:node-bootstrapper` to that user would.
 *
 * @example
 * ```ts
 * import { startApiServer } from "./api_server.ts";
 * import { grantCsrRequester } from "./deploy_rbac.ts";
 * await using api = await startApiServer();
 * grantCsrRequester(api, "system:bootstrap:abcdef");
 * ```
 */
export function grantCsrRequester(api: ApiServer, username: string): void {
  let granted = requesterGrants.get(api);
  if (!granted) requesterGrants.set(api, granted = new Set());
  granted.add(username);
}
