/**
 * The HTTP face of the API server double: TLS, authentication,
 * authorization, request recording, fault injection and routing to the
 * per-type endpoints; plus the direct state access tests use.
 *
 * @module
 */
import type { CertificateSigningRequest } from "../../../src/core/types.ts";
import { createTestCa } from "../tls.ts";
import { csrEndpoint, stampRequester } from "./csr.ts";
import { eventEndpoints } from "./events.ts";
import { leaseEndpoint } from "./leases.ts";
import { generateName } from "./names.ts";
import { nodeEndpoint } from "./nodes.ts";
import { handleCollectionGet } from "./collection.ts";
import { parseRequestInfo, type RequestInfo } from "./request_info.ts";
import {
  type Ctx,
  type Endpoint,
  handleCreate,
  handleDelete,
  handleGet,
  handlePatch,
  handleUpdate,
  type OpenWatch,
} from "./rest.ts";
import { defaultSarPolicy, handleSubjectAccessReview } from "./sar.ts";
import { kubernetesService, serviceEndpoint } from "./services.ts";
import {
  forbidden,
  internalError,
  jsonResponse,
  methodNotAllowed,
  pathNotFound,
  serviceUnavailable,
  StatusError,
  statusResponse,
  unauthorized,
} from "./status.ts";
import { type Clock, createTable, type Obj, type Table } from "./store.ts";
import { rfc3339 } from "./time.ts";
import type {
  ApiServer,
  ApiServerOptions,
  Faults,
  NodeInput,
  RequestAttributes,
  UserInfo,
} from "./types.ts";
import { type NoDelayFront, startNoDelayFront } from "./nodelay_front.ts";
import { DroppedConnection, openWatch, type WatchStream } from "./watch.ts";

const DEFAULT_TOKENS: Record<string, UserInfo> = {
  "admin-token": {
    username: "admin",
    groups: ["system:masters", "system:authenticated"],
  },
};

function withAuthenticatedGroup(user: UserInfo): UserInfo {
  // The apiserver's AuthenticatedGroupAdder: every authenticated user is in
  // system:authenticated.
  const groups = [...(user.groups ?? [])];
  if (!groups.includes("system:authenticated")) {
    groups.push("system:authenticated");
  }
  return { ...user, groups };
}

function forbiddenMessage(a: RequestAttributes): string {
  if (a.resource === "") {
    return `User ${JSON.stringify(a.user)} cannot ${a.verb} path ${
      JSON.stringify(a.path)
    }`;
  }
  const resource = a.subresource
    ? `${a.resource}/${a.subresource}`
    : a.resource;
  const where = a.namespace
    ? `in the namespace ${JSON.stringify(a.namespace)}`
    : "at the cluster scope";
  return `User ${JSON.stringify(a.user)} cannot ${a.verb} resource ${
    JSON.stringify(resource)
  } in API group ${JSON.stringify(a.apiGroup)} ${where}`;
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

const APF_FLOW_SCHEMA_HEADER = "X-Kubernetes-PF-FlowSchema-UID";
const APF_PRIORITY_LEVEL_HEADER = "X-Kubernetes-PF-PriorityLevel-UID";
// Fixed UIDs, as a real cluster's "service-accounts" FlowSchema and
// "workload-low" priority level would have.
const APF_FLOW_SCHEMA_UID = "8b9d4a40-5c61-4d0e-9a3f-6f1c2e0f7a11";
const APF_PRIORITY_LEVEL_UID = "1f0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";

/**
 * Starts an API server double.
 *
 * @example
 * ```ts
 * import { startApiServer } from "./server.ts";
 * const server = await startApiServer({ tls: false });
 * const res = await fetch(`${server.url}/api/v1/nodes`, { headers: { authorization: "Bearer admin-token" } });
 * await res.body?.cancel();
 * await server.stop();
 * ```
 */
export async function startApiServer(
  options: ApiServerOptions = {},
): Promise<ApiServer> {
  const tls = options.tls ?? true;
  const hostname = options.hostname ?? "127.0.0.1";
  const historySize = options.watchCacheSize ?? 1000;
  const bookmarkIntervalMs = options.bookmarkIntervalMs ?? 1000;
  const queueLimit = options.watchQueueLimit ?? 100_000;
  const authorizeFn = options.authorize ?? (() => true);
  const sarPolicy = options.sarAuthorize ?? defaultSarPolicy;
  const apfHeaders = options.apfHeaders ?? true;
  let tokens = { ...(options.tokens ?? DEFAULT_TOKENS) };

  let caPem = "";
  let certKey: { cert: string; key: string } | undefined;
  if (tls) {
    const ca = await createTestCa("kubernetes API server double CA");
    caPem = ca.cert;
    certKey = await ca.issue({
      subject: "CN=kube-apiserver",
      dnsNames: [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
      ],
      ips: ["127.0.0.1"],
      server: true,
    });
  }

  const clock: Clock = { rv: 0 };
  const table = (): Table => createTable(clock, historySize);
  const csrTable = table();
  const nodeTable = table();
  const leaseTable = table();
  const eventTable = table();
  const serviceTable = table();
  const tables = [csrTable, nodeTable, leaseTable, eventTable, serviceTable];

  const faults: Faults = {};
  const requests: RequestAttributes[] = [];
  const watchers = new Set<WatchStream>();

  const endpoints = new Map<string, Endpoint>();
  for (
    const ep of [
      csrEndpoint(csrTable, {
        faults,
        nodeRestriction: options.nodeRestriction ?? true,
      }),
      nodeEndpoint(nodeTable),
      leaseEndpoint(leaseTable),
      ...eventEndpoints(eventTable),
      serviceEndpoint(serviceTable),
    ]
  ) {
    endpoints.set(`${ep.group}/${ep.version}/${ep.resource}`, ep);
  }

  const open: OpenWatch = (o) => {
    // onClose can run inside openWatch (a stream that ends at once).
    const slot: { stream?: WatchStream; closedEarly?: boolean } = {};
    const stream = openWatch({
      ...o,
      faults,
      queueLimit,
      bookmarkIntervalMs: o.bookmarks ? bookmarkIntervalMs : 0,
      onClose: () => {
        if (slot.stream) watchers.delete(slot.stream);
        else slot.closedEarly = true;
      },
    });
    slot.stream = stream;
    if (!slot.closedEarly) watchers.add(stream);
    return stream;
  };

  function authenticate(header: string | null): UserInfo | undefined {
    const m = /^bearer\s+(\S+)\s*$/i.exec(header ?? "");
    if (!m) return undefined;
    const user = tokens[m[1]];
    return user ? withAuthenticatedGroup(clone(user)) : undefined;
  }

  async function route(
    req: Request,
    url: URL,
    info: RequestInfo,
    ctx: Ctx,
  ): Promise<Response> {
    const method = req.method;
    if (
      info.apiGroup === "authorization.k8s.io" &&
      info.resource === "subjectaccessreviews"
    ) {
      if (
        info.apiVersion !== "v1" || info.name !== "" || info.namespace !== ""
      ) {
        return statusResponse(pathNotFound());
      }
      if (method !== "POST") return statusResponse(methodNotAllowed());
      return await handleSubjectAccessReview(req, sarPolicy);
    }
    const ep = endpoints.get(
      `${info.apiGroup}/${info.apiVersion}/${info.resource}`,
    );
    if (
      !ep || (info.namespace !== "" && !ep.namespaced) || info.parts.length > 3
    ) {
      return statusResponse(pathNotFound());
    }
    // The object name comes from the path: for a list, RequestInfo also takes
    // it from a `metadata.name=` field selector, which must not make it a GET.
    const { namespace } = info;
    const name = info.parts[1] ?? "";
    const subresource = info.parts[2] ?? "";
    if (subresource !== "") {
      const sub = ep.subresources?.[subresource];
      if (!sub) return statusResponse(pathNotFound());
      if (method === "GET" && sub.get) return handleGet(ep, namespace, name);
      if (method === "PUT" && sub.update) {
        return await handleUpdate(ep, sub.update, req, namespace, name, ctx);
      }
      if (method === "PATCH" && sub.update) {
        return await handlePatch(ep, sub.update, req, namespace, name, ctx);
      }
      return statusResponse(methodNotAllowed());
    }
    if (name === "") {
      if (method === "GET" && ep.verbs.has("list")) {
        return handleCollectionGet(ep, url, namespace, open);
      }
      if (
        method === "POST" && ep.create && (!ep.namespaced || namespace !== "")
      ) {
        return await handleCreate(ep, req, namespace, ctx);
      }
      return statusResponse(methodNotAllowed());
    }
    if (ep.namespaced && namespace === "") {
      return statusResponse(pathNotFound());
    }
    if (method === "GET" && ep.verbs.has("get")) {
      return handleGet(ep, namespace, name);
    }
    if (method === "PUT" && ep.update) {
      return await handleUpdate(ep, ep.update, req, namespace, name, ctx);
    }
    if (method === "PATCH" && ep.update) {
      return await handlePatch(ep, ep.update, req, namespace, name, ctx);
    }
    if (method === "DELETE" && ep.verbs.has("delete")) {
      return await handleDelete(ep, req, namespace, name);
    }
    return statusResponse(methodNotAllowed());
  }

  async function dispatch(
    req: Request,
    url: URL,
    info: RequestInfo,
    attrs: RequestAttributes,
    user: UserInfo | undefined,
  ): Promise<Response> {
    const down = faults.unavailable;
    if (down === true || (typeof down === "function" && down(attrs))) {
      return statusResponse(serviceUnavailable());
    }
    if (faults.intercept) {
      const injected = await faults.intercept(req, attrs);
      if (injected) return injected;
    }
    if (!info.isResourceRequest && req.method === "GET") {
      if (["/healthz", "/livez", "/readyz"].includes(url.pathname)) {
        return new Response("ok", {
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      }
      if (url.pathname === "/version") {
        return jsonResponse(200, {
          major: "1",
          minor: "34",
          gitVersion: "v1.34.0-double",
          platform: `${Deno.build.os}/${Deno.build.arch}`,
        });
      }
    }
    if (!user) return statusResponse(unauthorized());
    if (!authorizeFn(attrs, user, api)) {
      return statusResponse(
        forbidden(
          { group: attrs.apiGroup, resource: attrs.resource },
          attrs.name,
          forbiddenMessage(attrs),
        ),
      );
    }
    if (!info.isResourceRequest) return statusResponse(pathNotFound());
    const ctx: Ctx = {
      user,
      attrs,
      authorize: (partial) => authorizeFn({ ...attrs, ...partial }, user, api),
      warnings: [],
    };
    return await route(req, url, info, ctx);
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const info = parseRequestInfo(req.method, url);
    const user = authenticate(req.headers.get("authorization"));
    const attrs: RequestAttributes = {
      user: user?.username ?? "",
      groups: user?.groups ?? [],
      verb: info.verb,
      apiGroup: info.apiGroup,
      apiVersion: info.apiVersion,
      resource: info.resource,
      subresource: info.subresource,
      name: info.name,
      namespace: info.namespace,
      path: url.pathname,
      method: req.method,
      status: 0,
    };
    requests.push(attrs);
    let res: Response;
    try {
      res = await dispatch(req, url, info, attrs, user);
    } catch (e) {
      if (e instanceof StatusError) res = statusResponse(e.status, e.headers);
      else {
        console.error("API server double: unexpected error", e);
        res = statusResponse(internalError(String(e)));
      }
    }
    attrs.status = res.status;
    // APF classifies what authentication let through, as the real filter
    // chain does (authentication runs first).
    if (apfHeaders && user) {
      try {
        res.headers.set(APF_FLOW_SCHEMA_HEADER, APF_FLOW_SCHEMA_UID);
        res.headers.set(APF_PRIORITY_LEVEL_HEADER, APF_PRIORITY_LEVEL_UID);
      } catch {
        // Immutable headers (an injected Response.error() or redirect).
      }
    }
    try {
      api.onRequest?.(attrs);
    } catch (e) {
      console.error("API server double: onRequest threw", e);
    }
    return res;
  }

  let server: Deno.HttpServer<Deno.Addr> | undefined;
  let front: NoDelayFront | undefined;
  let port = options.port ?? 0;
  const noDelay = options.noDelay ?? true;
  const socketDir = noDelay ? await Deno.makeTempDir() : undefined;

  const onError = (error: unknown) => {
    if (!(error instanceof DroppedConnection)) {
      console.error("API server double: response error", error);
    }
    return statusResponse(internalError(String(error)));
  };

  async function listen(): Promise<void> {
    if (socketDir !== undefined) {
      // Plain HTTP on a Unix socket behind a TCP_NODELAY front (see
      // nodelay_front.ts): what clients see is TLS on `port`, as before.
      const upstreamPath = `${socketDir}/double.sock`;
      await Deno.mkdir(socketDir, { recursive: true });
      await Deno.remove(upstreamPath).catch(() => {});
      server = Deno.serve(
        { transport: "unix", path: upstreamPath, onListen() {}, onError },
        handle,
      );
      front = await startNoDelayFront({
        hostname,
        port,
        upstreamPath,
        tls: certKey,
      });
      port = front.port;
      return;
    }
    const base = { hostname, port, onListen() {}, onError };
    const tcp = certKey
      ? Deno.serve({ ...base, cert: certKey.cert, key: certKey.key }, handle)
      : Deno.serve(base, handle);
    server = tcp;
    port = tcp.addr.port;
  }

  async function shutdown(endStreams: (w: WatchStream) => void): Promise<void> {
    for (const w of [...watchers]) endStreams(w);
    watchers.clear();
    const s = server;
    server = undefined;
    if (s) {
      await s.shutdown();
      await s.finished;
    }
    const f = front;
    front = undefined;
    await f?.close();
  }

  await listen();
  const url = `${tls ? "https" : "http"}://${
    hostname.includes(":") ? `[${hostname}]` : hostname
  }:${port}`;
  serviceTable.put(
    "default/kubernetes",
    kubernetesService(options.serviceClusterIP ?? "10.96.0.1", port),
  );

  function newMeta(meta: Obj["metadata"], old?: Obj): Obj["metadata"] {
    const m = { ...clone(meta) };
    delete m.resourceVersion;
    m.uid = old?.metadata.uid ?? m.uid ?? crypto.randomUUID();
    m.creationTimestamp = old?.metadata.creationTimestamp ??
      m.creationTimestamp ?? rfc3339();
    return m;
  }

  const api: ApiServer = {
    url,
    caPem,
    requests,
    faults,
    setTokens(next) {
      tokens = { ...next };
    },
    addToken(token, user) {
      tokens[token] = clone(user);
    },
    createCsr(csr, opts) {
      const metadata = newMeta(csr.metadata as Obj["metadata"]);
      if (!metadata.name && metadata.generateName) {
        metadata.name = generateName(metadata.generateName);
      }
      if (csrTable.get(metadata.name)) {
        throw new Error(
          `certificatesigningrequests.certificates.k8s.io ${
            JSON.stringify(metadata.name)
          } already exists`,
        );
      }
      const spec = opts?.as
        ? stampRequester(clone(csr.spec), withAuthenticatedGroup(opts.as))
        : clone(csr.spec);
      const stored = csrTable.put(metadata.name, {
        apiVersion: "certificates.k8s.io/v1",
        kind: "CertificateSigningRequest",
        metadata,
        spec,
        status: clone(csr.status ?? {}),
      });
      return clone(stored) as unknown as CertificateSigningRequest;
    },
    getCsr(name) {
      const o = csrTable.get(name);
      return o ? clone(o) as unknown as CertificateSigningRequest : undefined;
    },
    listCsrs() {
      return clone(
        csrTable.snapshot(clock.rv)!,
      ) as unknown as CertificateSigningRequest[];
    },
    updateCsr(csr) {
      const old = csrTable.get(csr.metadata.name);
      if (!old) {
        throw new Error(
          `certificatesigningrequests.certificates.k8s.io ${
            JSON.stringify(csr.metadata.name)
          } not found`,
        );
      }
      const stored = csrTable.put(csr.metadata.name, {
        apiVersion: "certificates.k8s.io/v1",
        kind: "CertificateSigningRequest",
        metadata: newMeta(csr.metadata as Obj["metadata"], old),
        spec: clone(csr.spec),
        status: clone(csr.status ?? {}),
      });
      return clone(stored) as unknown as CertificateSigningRequest;
    },
    deleteCsr(name) {
      csrTable.remove(name);
    },
    upsertNode(node: NodeInput) {
      const old = nodeTable.get(node.metadata.name);
      nodeTable.put(node.metadata.name, {
        apiVersion: "v1",
        kind: "Node",
        metadata: newMeta(node.metadata as Obj["metadata"], old),
        spec: clone(node.spec ?? {}),
        status: clone(node.status ?? {}),
      });
    },
    deleteNode(name) {
      nodeTable.remove(name);
    },
    getNode(name) {
      const o = nodeTable.get(name);
      return o ? clone(o) : undefined;
    },
    events: () => clone(eventTable.snapshot(clock.rv)!),
    leases: () => clone(leaseTable.snapshot(clock.rv)!),
    currentResourceVersion: () => String(clock.rv),
    compact() {
      for (const t of tables) t.compact();
    },
    dropConnections() {
      for (const w of [...watchers]) w.drop();
      watchers.clear();
    },
    async stop() {
      await shutdown((w) => w.end());
      if (socketDir !== undefined) {
        await Deno.remove(socketDir, { recursive: true }).catch(() => {});
      }
    },
    async restart(downMs = 0) {
      await shutdown((w) => w.drop());
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await listen();
    },
    watchers: () => watchers.size,
    async [Symbol.asyncDispose]() {
      await api.stop();
    },
  };
  return api;
}
