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
  startApiServer,
} from "./api_server.ts";
import { authorizeRequest, loadDeployPolicy, type RbacPolicy } from "./rbac.ts";
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
  /** Number of successful approval writes per CSR name. */
  approvalWrites(): Map<string, number>;
  /** Fetches a status endpoint of the daemon. */
  status(path: string): Promise<{ status: number; body: string }>;
}

/**
 * Authorizers for the API double built from the RBAC that deploy/ ships: the
 * approver's own requests are allowed only if the manifests allow them, and
 * SubjectAccessReviews are answered from the same rules (so nodes are
 * auto-approved only through the selfnodeserver binding deploy/ grants).
 *
 * @example
 * ```ts ignore
 * const api = await startApiServer({ ...(await deployRbacAuthorizers()) });
 * ```
 */
export async function deployRbacAuthorizers(): Promise<
  Pick<ApiServerOptions, "authorize" | "sarAuthorize">
> {
  const policy = await (deployPolicy ??= loadDeployPolicy("deploy"));
  return {
    authorize: (attrs, user) =>
      user.username !== APPROVER_USER ||
      authorizeRequest(policy, {
        user: user.username,
        groups: user.groups ?? [],
        verb: attrs.verb,
        apiGroup: attrs.apiGroup,
        resource: attrs.resource,
        subresource: attrs.subresource,
        name: attrs.name,
        namespace: attrs.namespace,
      }).allowed,
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
      const m = new Map<string, number>();
      for (const r of api.requests) {
        if (
          r.subresource === "approval" && r.verb === "update" &&
          r.status === 200
        ) {
          m.set(r.name, (m.get(r.name) ?? 0) + 1);
        }
      }
      return m;
    },
    async status(path) {
      const r = await fetch(`http://127.0.0.1:${port}${path}`, {
        client: http,
      });
      return { status: r.status, body: await r.text() };
    },
  };
}

let nextIp = 0;

/**
 * What a kubelet does: its Node exists with addresses, and it asks for a
 * serving certificate for exactly those addresses. The Node gets a unique
 * InternalIP (unless `ipAddresses` is given) so that nodes never share one.
 * `node: false` skips creating the Node.
 *
 * @example
 * ```ts ignore
 * const csr = await createKubeletCsr(api, { name: "csr-1", node: "worker-7" });
 * ```
 */
export async function createKubeletCsr(
  api: ApiServer,
  opts: ServingCsrOptions & { withNode?: boolean } = {},
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
  return api.createCsr(
    await makeServingCsr({ ...opts, node, ipAddresses, dnsNames }),
  );
}

/** The condition of `type` on a CSR, if any. */
export function conditionOf(
  csr: CertificateSigningRequest | undefined,
  type: string,
) {
  return csr?.status?.conditions?.find((c) => c.type === type);
}
