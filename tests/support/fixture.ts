/**
 * An API server double plus a running daemon wired to it, for end-to-end
 * tests of the approver: a cluster of one daemon (see `cluster.ts`), and
 * what a kubelet does to it (`createKubeletCsr`, `submitCsr`).
 *
 * @module
 */
import type { DaemonDeps } from "../../src/cli/daemon.ts";
import type { ReconcileResult } from "../../src/controller/approver.ts";
import type { CertificateSigningRequest } from "../../src/core/types.ts";
import type { ApiServer, ApiServerOptions, UserInfo } from "./api_server.ts";
import { startCluster } from "./cluster.ts";
import { grantCsrRequester } from "./deploy_rbac.ts";
import { until } from "./until.ts";
import { makeServingCsr, type ServingCsrOptions } from "./csr_factory.ts";

export { APPROVER_USER } from "./cluster.ts";
export { deployRbacAuthorizers } from "./deploy_rbac.ts";

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
 * ```ts
 * import { startFixture } from "./fixture.ts";
 * const f = await startFixture({ flags: ["--deny-invalid"] });
 * await f.stop();
 * ```
 */
export async function startFixture(
  options: FixtureOptions = {},
): Promise<Fixture> {
  // A cluster of one daemon, on the approver's shared token.
  const cluster = await startCluster({
    api: options.api,
    exactlyOnce: !options.retriedApprovalWrites,
  });
  const { api } = cluster;
  await options.before?.(api);
  const daemon = await cluster.start({
    name: "fixture",
    flags: options.flags,
    deps: options.deps,
    ownToken: false,
    mustListen: false,
  });
  return {
    api,
    port: daemon.port,
    logs: daemon.logs,
    reconciled: daemon.reconciled,
    stopDaemon: () => daemon.stop(),
    stop: () => cluster.stop(),
    until: (predicate, timeoutMs = 10_000, what = "condition") =>
      until(
        predicate,
        timeoutMs,
        what,
        () => daemon.logs.slice(-30).join("\n"),
      ),
    approvalWrites: () =>
      cluster.approvalAttempts((status) => status >= 200 && status < 300),
    approvalAttempts: () => cluster.approvalAttempts(),
    status: (path) => daemon.status(path),
  };
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
 * ```ts
 * import { startApiServer } from "./api_server.ts";
 * import { makeServingCsr } from "./csr_factory.ts";
 * import { submitCsr } from "./fixture.ts";
 * await using api = await startApiServer();
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
    grantCsrRequester(api, identity.username);
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
 * ```ts
 * import { startApiServer } from "./api_server.ts";
 * import { createKubeletCsr } from "./fixture.ts";
 * await using api = await startApiServer();
 * const csr = await createKubeletCsr(api, { name: "csr-1", node: "worker-7" });
 * csr.spec.username; // "system:node:worker-7"
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
