/**
 * A cluster of N daemons: one API server double that authorizes with the
 * RBAC in deploy/ (see `deploy_rbac.ts`), and any number of in-process
 * daemons against it with the timings tests use (2 s watches, 20–200 ms
 * backoff). The single-daemon fixture, the leader-election tests and the
 * shutdown tests (whose daemon is a process) all start from here, so that
 * "the approver's identity", "who holds the Lease" and "exactly one approval
 * write per CSR" mean the same everywhere.
 *
 * @module
 */
import { type DaemonDeps, runDaemon } from "../../src/cli/daemon.ts";
import { parseFlags } from "../../src/cli/parse_flags.ts";
import type { ReconcileResult } from "../../src/controller/approver.ts";
import { staticTokenSource } from "../../src/kube/token_source.ts";
import { createLogger } from "../../src/log.ts";
import {
  type ApiServer,
  type ApiServerOptions,
  type RequestAttributes,
  startApiServer,
} from "./api_server.ts";
import { deployRbacAuthorizers } from "./deploy_rbac.ts";

/** The approver's namespace (and its Lease's), as in deploy/. */
export const APPROVER_NAMESPACE = "kubelet-rubber-stamp";

/** The approver's identity, as in deploy/. */
export const APPROVER_USER =
  `system:serviceaccount:${APPROVER_NAMESPACE}:kubelet-rubber-stamp`;

/** The groups a ServiceAccount token of the approver carries. */
export const APPROVER_GROUPS: readonly string[] = [
  "system:serviceaccounts",
  `system:serviceaccounts:${APPROVER_NAMESPACE}`,
  "system:authenticated",
];

/** The token every cluster accepts for the approver (one shared identity). */
export const APPROVER_TOKEN = "approver-token";

/** One in-process daemon of a {@linkcode Cluster}. */
export interface Daemon {
  name: string;
  /** Its leader-election identity, when the test set one. */
  identity?: string;
  /** The extra group its own token carries: attributes its requests. */
  group?: string;
  /** Port of its status listener (0 if it exited before listening). */
  port: number;
  logs: string[];
  reconciled: { name: string; result: ReconcileResult }[];
  /** Settles with the exit code once the daemon has returned. */
  exit: Promise<number>;
  /** Graceful stop (what SIGTERM does); resolves to the exit code. */
  stop(): Promise<number>;
  /** Fetches a status endpoint of the daemon. */
  status(path: string): Promise<{ status: number; body: string }>;
}

/** Options of {@linkcode Cluster.start}. */
export interface DaemonOptions {
  /** Names the daemon (and its token and group). Default `d<n>`. */
  name?: string;
  /** Flags after the cluster's defaults (listen on :0, JSON debug logs). */
  flags?: string[];
  /** Dependencies over the cluster's defaults (connection, timings). */
  deps?: Partial<DaemonDeps>;
  /**
   * The daemon's own token, mapped to the approver's identity plus the group
   * `test:replica:<name>`, so that the double's request log attributes its
   * requests. Default true; false: the shared {@linkcode APPROVER_TOKEN}.
   */
  ownToken?: boolean;
  /** Reject when the daemon exits before it listens. Default true. */
  mustListen?: boolean;
}

/** Options of {@linkcode startCluster}. */
export interface ClusterOptions {
  /** Options of the double, over deploy/'s authorizers and the approver's token. */
  api?: ApiServerOptions;
  /**
   * Fail {@linkcode Cluster.stop} when a CSR got more than one approval write
   * attempt. Default true; false for tests that make writes fail on purpose.
   */
  exactlyOnce?: boolean;
}

/** The double and its daemons. */
export interface Cluster {
  api: ApiServer;
  /** Every daemon started, in order (stopped ones included). */
  daemons: Daemon[];
  start(options?: DaemonOptions): Promise<Daemon>;
  /** Starts several daemons at once (they race for the Lease). */
  startAll(names: string[], flags: string[]): Promise<Daemon[]>;
  /** The daemon whose own token made a request, if any. */
  daemonOf(attrs: Pick<RequestAttributes, "groups">): Daemon | undefined;
  /** The live daemon the Lease names, once one does. */
  leader(timeoutMs?: number): Promise<Daemon>;
  /**
   * Simulates the process dying: from now on every request of its token is
   * answered 503 (it can neither renew nor release the Lease, nor write),
   * then it is stopped. Wraps the double's `faults.intercept` at the first
   * crash: set your own intercept before that.
   */
  crash(daemon: Daemon): Promise<number>;
  /** Approval writes per CSR name, of every status or of those `status` picks. */
  approvalAttempts(status?: (code: number) => boolean): Map<string, number>;
  /** Successful approval writes per daemon name. */
  approvalsBy(): Map<string, number>;
  /** True when every CSR of `names` is approved. */
  approved(names: string[]): boolean;
  /** Stops every daemon (gracefully), then the double; checks exactly-once. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The Lease the approver elects its leader with, as the double stores it.
 *
 * @example
 * ```ts
 * import { startApiServer } from "./api_server.ts";
 * import { leaseOf } from "./cluster.ts";
 * await using api = await startApiServer();
 * leaseOf(api); // undefined: no daemon has elected yet
 * // once a leader released it: leaseOf(api)?.spec?.holderIdentity === ""
 * ```
 */
export function leaseOf(
  api: ApiServer,
  namespace = APPROVER_NAMESPACE,
  name = "kubelet-rubber-stamp",
): { spec?: { holderIdentity?: string } } | undefined {
  return (api.leases() as {
    metadata: { name: string; namespace: string };
    spec?: { holderIdentity?: string };
  }[]).find((l) =>
    l.metadata.name === name && l.metadata.namespace === namespace
  );
}

/**
 * The Lease's holder: `undefined` without a Lease, `""` when released.
 *
 * @example
 * ```ts
 * import { startApiServer } from "./api_server.ts";
 * import { holderOf } from "./cluster.ts";
 * await using api = await startApiServer();
 * holderOf(api); // undefined (no Lease); "replica-a" while it leads
 * ```
 */
export function holderOf(api: ApiServer): string | undefined {
  const lease = leaseOf(api);
  return lease ? lease.spec?.holderIdentity ?? "" : undefined;
}

/**
 * Starts the double (deploy/'s RBAC, the approver's shared token) with no
 * daemon yet; {@linkcode Cluster.start} adds them.
 *
 * @example
 * Not run: starts daemons with leader election, seconds per case (tests/e2e/ does).
 * ```ts ignore
 * import { startCluster } from "./cluster.ts";
 * await using cluster = await startCluster();
 * const [a, b] = await cluster.startAll(["a", "b"], ["--leader-elect=true"]);
 * const leader = await cluster.leader();
 * ```
 */
export async function startCluster(
  options: ClusterOptions = {},
): Promise<Cluster> {
  const api = await startApiServer({
    ...(await deployRbacAuthorizers()),
    tokens: {
      [APPROVER_TOKEN]: {
        username: APPROVER_USER,
        groups: [...APPROVER_GROUPS],
      },
    },
    ...options.api,
  });
  const daemons: Daemon[] = [];
  const crashed = new Set<string>();
  const http = Deno.createHttpClient({});
  let crashSwitch = false;
  const daemonOf = (attrs: Pick<RequestAttributes, "groups">) =>
    daemons.find((d) =>
      d.group !== undefined && attrs.groups.includes(d.group)
    );

  const installCrashSwitch = () => {
    if (crashSwitch) return;
    crashSwitch = true;
    const inner = api.faults.intercept;
    api.faults.intercept = (req, attrs) => {
      const who = daemonOf(attrs);
      if (who && crashed.has(who.name)) {
        return Response.json({
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          reason: "ServiceUnavailable",
          message: "test: this replica has crashed",
          code: 503,
        }, { status: 503 });
      }
      return inner?.(req, attrs);
    };
  };

  const start = (o: DaemonOptions = {}) =>
    startDaemon(api, http, daemons, o, o.name ?? `d${daemons.length}`);

  const approvalAttempts = (status: (code: number) => boolean = () => true) => {
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
  };

  let stopped: Promise<void> | undefined;
  const stop = async () => {
    for (const d of daemons) d.stop();
    await Promise.all(daemons.map((d) => d.exit));
    http.close();
    await api.stop();
    if (options.exactlyOnce === false) return;
    // Exactly once means attempts, whoever led: no CSR may see a second
    // approval write, refused or not.
    const repeated = [...approvalAttempts()].filter(([, n]) => n > 1);
    if (repeated.length > 0) {
      throw new Error(
        `approval write attempts beyond the first: ${
          repeated.map(([name, n]) => `${name}: ${n}`).join(", ")
        }`,
      );
    }
  };

  return {
    api,
    daemons,
    start,
    startAll: (names, flags) =>
      Promise.all(names.map((name) => start({ name, flags }))),
    daemonOf,
    async leader(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const holder = holderOf(api);
        const found = daemons.find((d) =>
          d.identity === holder && !crashed.has(d.name)
        );
        if (found) return found;
        if (Date.now() > deadline) {
          throw new Error(
            `timed out after ${timeoutMs}ms waiting for a live replica to hold the Lease`,
          );
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    crash(daemon) {
      installCrashSwitch();
      crashed.add(daemon.name);
      return daemon.stop();
    },
    approvalAttempts,
    approvalsBy() {
      const m = new Map<string, number>();
      for (const r of api.requests) {
        if (
          r.subresource === "approval" && r.verb === "update" &&
          r.status === 200
        ) {
          const by = daemonOf(r)?.name ?? r.user;
          m.set(by, (m.get(by) ?? 0) + 1);
        }
      }
      return m;
    },
    approved: (names) =>
      names.every((n) =>
        api.getCsr(n)?.status?.conditions?.find((c) => c.type === "Approved")
          ?.status === "True"
      ),
    stop: () => stopped ??= stop(),
    [Symbol.asyncDispose]: () => stopped ??= stop(),
  };
}

/** Starts one daemon against `api` and adds it to `daemons`. */
async function startDaemon(
  api: ApiServer,
  http: Deno.HttpClient,
  daemons: Daemon[],
  options: DaemonOptions,
  name: string,
): Promise<Daemon> {
  let token = APPROVER_TOKEN;
  let group: string | undefined;
  if (options.ownToken !== false) {
    token = `token-${name}`;
    group = `test:replica:${name}`;
    api.addToken(token, {
      username: APPROVER_USER,
      groups: [...APPROVER_GROUPS, group],
    });
  }
  const ac = new AbortController();
  const logs: string[] = [];
  const reconciled: Daemon["reconciled"] = [];
  let bound!: (port: number) => void;
  const listening = new Promise<number>((r) => bound = r);
  const exit = runDaemon(
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
        tokenSource: staticTokenSource(token),
        source: "test API server double",
      },
      log: createLogger({
        format: "json",
        level: "debug",
        write: (l) => logs.push(l),
      }),
      signal: ac.signal,
      onListening: bound,
      onReconciled: (csr, result) => reconciled.push({ name: csr, result }),
      watchTimeoutSeconds: () => 2,
      watchGraceMs: 500,
      backoff: { initialMs: 20, maxMs: 200 },
      retry: { baseDelayMs: 20, maxDelayMs: 200 },
      ...options.deps,
    },
  );
  const port = await Promise.race([
    listening,
    exit.then((code) => {
      if (options.mustListen === false) return 0;
      throw new Error(
        `replica ${name} exited ${code} before listening\n${logs.join("\n")}`,
      );
    }),
  ]);
  const daemon: Daemon = {
    name,
    identity: options.deps?.identity,
    group,
    port,
    logs,
    reconciled,
    exit,
    stop() {
      ac.abort();
      return exit;
    },
    async status(path) {
      const r = await fetch(`http://127.0.0.1:${port}${path}`, {
        client: http,
      });
      return { status: r.status, body: await r.text() };
    },
  };
  daemons.push(daemon);
  return daemon;
}
