/**
 * An API server double plus a running daemon wired to it, for end-to-end
 * tests of the approver.
 *
 * @module
 */
import { type DaemonDeps, runDaemon } from "../../src/cli/daemon.ts";
import { parseFlags } from "../../src/cli/flags.ts";
import type { ReconcileResult } from "../../src/controller/approver.ts";
import type { CertificateSigningRequest } from "../../src/core/types.ts";
import { staticTokenSource } from "../../src/kube/token_source.ts";
import { createLogger } from "../../src/log.ts";
import {
  type ApiServer,
  type ApiServerOptions,
  type RequestAttributes,
  startApiServer,
  type UserInfo,
} from "./api_server.ts";
import {
  authorizeRequest,
  loadDeployPolicy,
  policyFromObjects,
  type RbacPolicy,
} from "./rbac.ts";
import { makeServingCsr, type ServingCsrOptions } from "./csr_factory.ts";

let deployPolicy: Promise<RbacPolicy> | undefined;

/** The approver's identity in the fixture, as in deploy/. */
export const APPROVER_USER =
  "system:serviceaccount:kubelet-rubber-stamp:kubelet-rubber-stamp";

/** A running double + daemon. */
export interface Fixture {
  api: ApiServer;
  /** Port of the daemon's status listener. */
  port: number;
  logs: string[];
  reconciled: { name: string; result: ReconcileResult }[];
  /** Stops the daemon (graceful) and then the API server. */
  stop(): Promise<void>;
  /** Stops only the daemon; resolves to its exit code. */
  stopDaemon(): Promise<number>;
  /** Waits until `predicate` holds, polling; throws after `timeoutMs`. */
  until(
    predicate: () => boolean,
    timeoutMs?: number,
    what?: string,
  ): Promise<void>;
  /**
   * Number of successful approval writes per CSR name: what to wait for.
   * Exactly-once checks use {@linkcode Fixture.approvalAttempts}.
   */
  approvalWrites(): Map<string, number>;
  /**
   * Number of approval write attempts per CSR name (every PUT or PATCH of
   * `/approval`, whatever the answer: refused and injected ones included).
   */
  approvalAttempts(): Map<string, number>;
  /** Fetches a status endpoint of the daemon. */
  status(path: string): Promise<{ status: number; body: string }>;
}

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
 * ```ts ignore
 * const api = await startApiServer({ ...(await deployRbacAuthorizers()) });
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

/** Options of {@linkcode startFixture}. */
export interface FixtureOptions {
  flags?: string[];
  api?: ApiServerOptions;
  /** Start the daemon only after this ran (e.g. to create a backlog). */
  before?: (api: ApiServer) => void | Promise<void>;
  deps?: Partial<DaemonDeps>;
  /**
   * The test makes approval writes fail on purpose (409, 5xx, 429) and
   * asserts the exact number of attempts itself. Otherwise `stop()` fails
   * the test if any CSR got more than one approval write attempt.
   */
  retriedApprovalWrites?: boolean;
}

/**
 * Starts an API double and the daemon against it (watch timeouts shortened).
 *
 * @example
 * ```ts ignore
 * import { startFixture } from "./fixture.ts";
 * const f = await startFixture({ flags: ["--deny-invalid"] });
 * await f.stop();
 * ```
 */
export async function startFixture(
  options: FixtureOptions = {},
): Promise<Fixture> {
  const api = await startApiServer({
    ...(await deployRbacAuthorizers()),
    tokens: {
      "approver-token": {
        username: APPROVER_USER,
        groups: [
          "system:serviceaccounts",
          "system:serviceaccounts:kubelet-rubber-stamp",
          "system:authenticated",
        ],
      },
    },
    ...options.api,
  });
  await options.before?.(api);
  const logs: string[] = [];
  const reconciled: Fixture["reconciled"] = [];
  const ac = new AbortController();
  let port = 0;
  let listening!: () => void;
  const bound = new Promise<void>((r) => listening = r);
  const daemon = runDaemon(
    parseFlags([
      "--listen=127.0.0.1:0",
      "--log-format=json",
      "--log-level=debug",
      ...(options.flags ?? []),
    ]),
    {
      connection: {
        server: api.url,
        caPem: api.caPem,
        tokenSource: staticTokenSource("approver-token"),
        source: "test API server double",
      },
      log: createLogger({
        format: "json",
        level: "debug",
        write: (l) => logs.push(l),
      }),
      signal: ac.signal,
      onListening: (p) => {
        port = p;
        listening();
      },
      onReconciled: (name, result) => reconciled.push({ name, result }),
      watchTimeoutSeconds: () => 2,
      watchGraceMs: 500,
      backoff: { initialMs: 20, maxMs: 200 },
      retry: { baseDelayMs: 20, maxDelayMs: 200 },
      ...options.deps,
    },
  );
  await Promise.race([bound, daemon]);
  let exit: number | undefined;
  const stopDaemon = async () => {
    ac.abort();
    exit = await daemon;
    return exit;
  };
  const http = Deno.createHttpClient({});
  return {
    api,
    get port() {
      return port;
    },
    logs,
    reconciled,
    stopDaemon,
    async stop() {
      if (exit === undefined) await stopDaemon();
      http.close();
      await api.stop();
      if (!options.retriedApprovalWrites) {
        const repeated = [...attemptsOf(api)].filter(([, n]) => n > 1);
        if (repeated.length > 0) {
          throw new Error(
            `approval write attempts beyond the first: ${
              repeated.map(([name, n]) => `${name}: ${n}`).join(", ")
            }`,
          );
        }
      }
    },
    async until(predicate, timeoutMs = 10_000, what = "condition") {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) {
          throw new Error(
            `timed out after ${timeoutMs}ms waiting for ${what}\n${
              logs.slice(-30).join("\n")
            }`,
          );
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    approvalWrites() {
      return attemptsOf(api, (status) => status >= 200 && status < 300);
    },
    approvalAttempts() {
      return attemptsOf(api);
    },
    async status(path) {
      const r = await fetch(`http://127.0.0.1:${port}${path}`, {
        client: http,
      });
      return { status: r.status, body: await r.text() };
    },
  };
}

/** Approval writes per CSR name, of every status or of those `status` picks. */
function attemptsOf(
  api: ApiServer,
  status: (code: number) => boolean = () => true,
): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of api.requests) {
    if (
      r.subresource === "approval" &&
      (r.verb === "update" || r.verb === "patch") && status(r.status)
    ) {
      m.set(r.name, (m.get(r.name) ?? 0) + 1);
    }
  }
  return m;
}

/**
 * Creates `csr` as its requester would: a POST over HTTPS with a bearer
 * token for `as` (default: the identity `spec` names). The double fills
 * `spec.username/uid/groups/extra` from that token, whatever the body says
 * (the body carries none of them, like a kubelet's), and validates the object
 * (request PEM and signature, usages, signer name, expirationSeconds). A
 * requester outside `system:nodes` is granted what `system:node-bootstrapper`
 * gives, as a cluster admin would bind it. Rejects on any non-201 answer.
 *
 * @example
 * ```ts ignore
 * await submitCsr(api, await makeServingCsr({ name: "csr-1", node: "worker-1" }));
 * ```
 */
export async function submitCsr(
  api: ApiServer,
  csr: CertificateSigningRequest,
  as?: UserInfo,
): Promise<CertificateSigningRequest> {
  const identity: UserInfo = as ?? {
    username: csr.spec.username ?? "",
    ...(csr.spec.uid ? { uid: csr.spec.uid } : {}),
    groups: (csr.spec.groups ?? []).filter((g) => g !== "system:authenticated"),
    ...(csr.spec.extra ? { extra: csr.spec.extra } : {}),
  };
  if (!(identity.groups ?? []).includes("system:nodes")) {
    let granted = requesterGrants.get(api);
    if (!granted) requesterGrants.set(api, granted = new Set());
    granted.add(identity.username);
  }
  const token = `requester-${crypto.randomUUID()}`;
  api.addToken(token, identity);
  const metadata: Record<string, unknown> = { name: csr.metadata.name };
  for (const k of ["generateName", "labels", "annotations"] as const) {
    if (csr.metadata[k] !== undefined) metadata[k] = csr.metadata[k];
  }
  const spec: Record<string, unknown> = {
    request: csr.spec.request,
    signerName: csr.spec.signerName,
    usages: csr.spec.usages,
  };
  if (csr.spec.expirationSeconds !== undefined) {
    spec.expirationSeconds = csr.spec.expirationSeconds;
  }
  const client = Deno.createHttpClient(
    api.caPem ? { caCerts: [api.caPem] } : {},
  );
  try {
    const res = await fetch(
      `${api.url}/apis/certificates.k8s.io/v1/certificatesigningrequests`,
      {
        client,
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          accept: "application/json",
        },
        body: JSON.stringify({
          apiVersion: "certificates.k8s.io/v1",
          kind: "CertificateSigningRequest",
          metadata,
          spec,
        }),
      },
    );
    const text = await res.text();
    if (res.status !== 201) {
      throw new Error(
        `creating CSR ${csr.metadata.name} as ${identity.username}: ${res.status} ${text}`,
      );
    }
    return JSON.parse(text) as CertificateSigningRequest;
  } finally {
    client.close();
  }
}

let nextIp = 0;

/**
 * What a kubelet does: its Node exists with addresses, and it asks for a
 * serving certificate for exactly those addresses, creating the CSR over
 * HTTPS with its own credentials (see {@linkcode submitCsr}): the requester
 * is `username`/`groups`/`uid` when given (an impostor, a non-node), else
 * `system:node:<node>` in `system:nodes`. The Node gets a unique InternalIP
 * (unless `ipAddresses` is given) so that nodes never share one.
 * `withNode: false` skips creating the Node.
 *
 * @example
 * ```ts ignore
 * const csr = await createKubeletCsr(api, { name: "csr-1", node: "worker-7" });
 * ```
 */
export async function createKubeletCsr(
  api: ApiServer,
  opts: ServingCsrOptions & {
    withNode?: boolean;
    /**
     * Why this CSR cannot be created through the API here: it is then stored
     * directly (no validation, requester stamped from the same identity).
     */
    backDoor?: string;
  } = {},
): Promise<CertificateSigningRequest> {
  const node = opts.node ?? "worker-1";
  nextIp++;
  const ipAddresses = opts.ipAddresses ??
    [`10.${(nextIp >> 16) & 255}.${(nextIp >> 8) & 255}.${nextIp & 255}`];
  const dnsNames = opts.dnsNames ?? [node];
  if (opts.withNode !== false) {
    // Several CSRs for one node in a test: the Node keeps every address.
    const known = api.getNode(node) as
      | { status?: { addresses?: { type: string; address: string }[] } }
      | undefined;
    const existing = known?.status?.addresses ?? [];
    const wanted = [
      ...dnsNames.map((address) => ({ type: "Hostname", address })),
      ...ipAddresses.map((address) => ({ type: "InternalIP", address })),
    ];
    api.upsertNode({
      metadata: { name: node },
      status: {
        addresses: [
          ...existing,
          ...wanted.filter((w) =>
            !existing.some((e) => e.type === w.type && e.address === w.address)
          ),
        ],
      },
    });
  }
  const csr = await makeServingCsr({ ...opts, node, ipAddresses, dnsNames });
  const requester: UserInfo = {
    username: opts.username ?? `system:node:${node}`,
    groups: opts.groups ?? ["system:nodes"],
    ...(opts.uid ? { uid: opts.uid } : {}),
  };
  if (opts.backDoor !== undefined) {
    return api.createCsr(csr, { as: requester });
  }
  return await submitCsr(api, csr, requester);
}

/** The condition of `type` on a CSR, if any. */
export function conditionOf(
  csr: CertificateSigningRequest | undefined,
  type: string,
) {
  return csr?.status?.conditions?.find((c) => c.type === type);
}
