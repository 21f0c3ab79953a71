/**
 * The daemon: load the cluster connection, serve the status endpoints, keep
 * the Node and CSR caches, elect a leader, and let the leader approve, until
 * the signal aborts; then shut down in order (stop deciding, finish in-flight
 * writes, release the Lease, close the listener).
 *
 * This file only wires: each piece lives with its concept (storm guard,
 * health, the Event table, client metrics in `src/controller/`; the
 * elector and the recorder in `src/kube/`). {@linkcode runDaemon} reads top
 * to bottom; the helpers below it each do one start-up or shutdown step.
 *
 * About 560 lines of wiring: each start-up and shutdown step is a small
 * function; the length is the number of pieces a daemon has, not one long
 * function.
 *
 * @module
 */
import { discoverApiServiceIps } from "../controller/api_service.ts";
import {
  type Approver,
  createApprover,
  type ReconcileResult,
} from "../controller/approver.ts";
import { createClientObserver } from "../controller/client_observer.ts";
import { type Controller, startController } from "../controller/controller.ts";
import {
  createCsrEventRecorder,
  decisionEvent,
  registerEventMetrics,
  stormGuardEvent,
} from "../controller/csr_events.ts";
import {
  type HealthSnapshot,
  liveness,
  readiness,
} from "../controller/health.ts";
import {
  type ControllerMetrics,
  createControllerMetrics,
} from "../controller/metrics.ts";
import { type NodeCache, startNodeCache } from "../controller/nodes.ts";
import { createStormGuard } from "../controller/storm_guard.ts";
import {
  type CompiledPolicy,
  compileServingPolicy,
  type ServingPolicy,
} from "../core/policy.ts";
import { createKubeClient } from "../kube/client.ts";
import {
  type ClusterConnection,
  loadClusterConnection,
} from "../kube/config.ts";
import type { EventRecorder } from "../kube/events.ts";
import {
  type LeaderElector,
  makeIdentity,
  startLeaderElection,
  validateLeaderElectionTimings,
} from "../kube/leader_election.ts";
import type { KubeClient } from "../kube/types.ts";
import { createLogger, type Logger } from "../log.ts";
import { suppressRepeats } from "../log_repeats.ts";
import { createRegistry, type Gauge, type Registry } from "../metrics.ts";
import { registerProcessMetrics } from "../process_metrics.ts";
import { type HttpServer, startHttpServer } from "../serve/http.ts";
import { errorText } from "../util/error_text.ts";
import { DENO_VERSION, VERSION } from "../version.ts";
import type { DaemonFlags } from "./flag_types.ts";
import { parseListen } from "./flag_values.ts";
import { servingPolicyFromFlags } from "./flags_policy.ts";
import { leaderElectionFlag, policySettingFlag } from "./setting_labels.ts";

/** Things a caller (tests, the demo) may supply instead of the defaults. */
export interface DaemonDeps {
  /** Use this connection instead of loading --kubeconfig / in-cluster config. */
  connection?: ClusterConnection;
  log?: Logger;
  /** Aborting it shuts the daemon down. */
  signal?: AbortSignal;
  /** Called once the HTTP listener is bound. */
  onListening?: (port: number) => void;
  /** Called after each reconcile (demo output, tests). */
  onReconciled?: (name: string, result: ReconcileResult) => void;
  /** Reflector tuning (tests shorten these). */
  watchTimeoutSeconds?: () => number;
  watchGraceMs?: number;
  backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number };
  retry?: { baseDelayMs?: number; maxDelayMs?: number };
  /** Liveness: the watch may be silent this long before /healthz fails. Default 15 min. */
  maxSilenceMs?: number;
  /** Leader-election identity (default: pod name or hostname + a unique suffix). */
  identity?: string;
  /** `KUBERNETES_SERVICE_HOST` (default: from the environment). */
  serviceHost?: string;
  /** Record Events (default true; tests compare with them off). */
  recordEvents?: boolean;
}

/**
 * Builds the serving policy the flags describe: the same mapping `check`
 * uses ({@linkcode servingPolicyFromFlags}), plus discovered API Service IPs.
 *
 * @example
 * ```ts
 * import { policyFromFlags } from "./daemon.ts";
 * import { parseFlags } from "./parse_flags.ts";
 * policyFromFlags(parseFlags([]), ["10.96.0.1"]).apiServiceIps; // ["10.96.0.1"]
 * ```
 */
export function policyFromFlags(
  flags: DaemonFlags,
  apiServiceIps: string[] = [],
): ServingPolicy {
  return servingPolicyFromFlags(flags, apiServiceIps);
}

/** Everything a running daemon holds; the optional parts are set once start-up gets that far. */
interface Daemon {
  flags: DaemonFlags;
  deps: DaemonDeps;
  log: Logger;
  client: KubeClient;
  registry: Registry;
  metrics: ControllerMetrics;
  leaderGauge: Gauge;
  /** Internal lifecycle: aborted on shutdown, after which nothing new starts. */
  life: AbortController;
  identity: string;
  nodes: NodeCache;
  events: EventRecorder;
  approver: Approver;
  /** May write: leading, or no leader election. */
  leading: boolean;
  policy?: CompiledPolicy;
  controller?: Controller;
  elector?: LeaderElector;
  /** What the API server refuses now (credentials, permissions), for readiness. */
  refused: () => string[];
}

/**
 * Runs the approver until `deps.signal` aborts (or, with `--once`, until what
 * was pending has been decided). Resolves to the process exit code: 0 after a
 * clean shutdown, 1 when it cannot start, 2 for a bad policy flag.
 *
 * @example
 * Not run: the daemon runs until aborted against a live API server (tests/e2e/ runs it against the double).
 * ```ts ignore
 * import { runDaemon } from "./daemon.ts";
 * import { parseFlags } from "./parse_flags.ts";
 * const ac = new AbortController();
 * const code = await runDaemon(parseFlags(["--dry-run"]), { signal: ac.signal });
 * ```
 */
export async function runDaemon(
  flags: DaemonFlags,
  deps: DaemonDeps = {},
): Promise<number> {
  // A problem that every retry meets (a bad token, missing RBAC) is said
  // once, not once per retry.
  const log = suppressRepeats(
    deps.log ??
      createLogger({ format: flags.logFormat, level: flags.logLevel }),
  );
  const signal = deps.signal ?? new AbortController().signal;
  const invalid = checkFlags(flags, log);
  if (invalid !== undefined) return invalid;
  const registry = createRegistry();
  const cluster = await connect(flags, deps, log, registry);
  if (typeof cluster === "number") return cluster;
  const { connection, client, refused } = cluster;
  const leaderElect = !flags.once &&
    (flags.leaderElect ?? connection.source === "in-cluster");

  const d = wire(flags, deps, log, registry, client, !leaderElect);
  d.refused = refused;
  const onAbort = () => d.life.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  let server: HttpServer;
  try {
    server = serveStatus(d);
  } catch (e) {
    signal.removeEventListener("abort", onAbort);
    d.life.abort();
    await d.nodes.done;
    await d.events.close(0);
    client.close();
    log.error("cannot listen", { listen: flags.listen, error: errorText(e) });
    return 1;
  }
  deps.onListening?.(server.port);
  logStarting(d, connection, server, leaderElect);

  const controller = await startCsrController(d);
  const electorStop = new AbortController();
  if (leaderElect) d.elector = elect(d, connection, electorStop.signal);

  let exit = 0;
  if (flags.once) {
    exit = await runOnce(controller, d.nodes, d.life.signal, log);
    d.life.abort();
  } else if (!d.life.signal.aborted) {
    await new Promise<void>((r) =>
      d.life.signal.addEventListener("abort", () => r(), { once: true })
    );
  }
  signal.removeEventListener("abort", onAbort);
  await shutdown(d, controller, electorStop, server);
  log.info("stopped", { exit });
  return exit;
}

/** Validates what can be validated before touching the network: 2 when a flag is wrong. */
function checkFlags(flags: DaemonFlags, log: Logger): number | undefined {
  const checked = compileServingPolicy(policyFromFlags(flags), {
    settingLabel: policySettingFlag,
  });
  if ("errors" in checked) {
    for (const error of checked.errors) {
      log.error("invalid policy flag", { error });
    }
    return 2;
  }
  const timings = validateLeaderElectionTimings(
    flags.leaderElectLeaseDuration,
    flags.leaderElectRenewDeadline,
    flags.leaderElectRetryPeriod,
    leaderElectionFlag,
  );
  if (timings) {
    log.error("invalid leader-election flags", { error: timings });
    return 2;
  }
  return undefined;
}

/** Loads the connection and builds the client (its metrics first): 1 when it cannot. */
async function connect(
  flags: DaemonFlags,
  deps: DaemonDeps,
  log: Logger,
  registry: Registry,
): Promise<
  {
    connection: ClusterConnection;
    client: KubeClient;
    refused: () => string[];
  } | number
> {
  let connection: ClusterConnection;
  try {
    connection = deps.connection ??
      await loadClusterConnection({
        kubeconfig: flags.kubeconfig,
        context: flags.context,
      });
  } catch (e) {
    log.error("cannot load cluster configuration", { error: errorText(e) });
    return 1;
  }
  registerProcessMetrics(registry);
  const observer = createClientObserver(registry, log);
  try {
    const client = createKubeClient(connection, {
      // Unset flags (undefined at run time) select the automatic mode.
      qps: flags.kubeApiQps,
      burst: flags.kubeApiBurst,
      onResponse: observer.onResponse,
      onRateLimit: observer.onRateLimit,
      timeoutMs: flags.kubeApiTimeout * 1000,
      userAgent: `kubelet-rubber-stamp/${VERSION}`,
    });
    return { connection, client, refused: observer.refused };
  } catch (e) {
    log.error("cannot load cluster configuration", { error: errorText(e) });
    return 1;
  }
}

/** Registers the daemon's metrics and starts the Node cache, the Event recorder and the approver. */
function wire(
  flags: DaemonFlags,
  deps: DaemonDeps,
  log: Logger,
  registry: Registry,
  client: KubeClient,
  leading: boolean,
): Daemon {
  const metrics = createControllerMetrics(registry);
  registry.gauge(
    "kubelet_rubber_stamp_build_info",
    "Build information; the value is always 1.",
  ).set(1, { version: VERSION, deno_version: DENO_VERSION });
  const leaderGauge = registry.gauge(
    "kubelet_rubber_stamp_leader",
    "1 while this replica holds the leader-election Lease (always 1 without leader election).",
  );
  const stormGauge = registry.gauge(
    "kubelet_rubber_stamp_storm_guard_active",
    "1 while approvals are held back because pending CSRs exceed Nodes + --max-pending-surplus.",
  );
  stormGauge.set(0); // exported from the start, so alerts see 0, not nothing
  const life = new AbortController();
  const d = {
    flags,
    deps,
    log,
    client,
    registry,
    metrics,
    leaderGauge,
    life,
    leading,
    identity: deps.identity ?? makeIdentity(),
  } as Daemon;
  d.nodes = startNodeCache({
    client,
    log,
    signal: life.signal,
    onChange: () => d.controller?.nodesChanged(),
    onIgnoredAddresses: (_name, count) => metrics.nodeAddressesIgnored(count),
    watchTimeoutSeconds: deps.watchTimeoutSeconds,
    watchGraceMs: deps.watchGraceMs,
    backoff: deps.backoff,
    onRestart: (kind, cause) => metrics.watchRestarted("nodes", kind, cause),
  });
  d.events = createCsrEventRecorder(
    client,
    log.with({ component: "events" }),
    d.identity,
  );
  const stormGuard = createStormGuard({
    pendingCount: () => d.controller?.pendingCount() ?? 0,
    nodeCount: () => d.nodes.size(),
    maxPendingSurplus: flags.maxPendingSurplus,
    log,
    onChange(active, csr, message) {
      stormGauge.set(active ? 1 : 0);
      // One Event per episode, on the CSR that tripped it.
      if (active) d.events.record(stormGuardEvent(csr, message));
    },
  });
  // Events say what was done; a dry run does nothing.
  const quiet = flags.dryRun || deps.recordEvents === false;
  d.approver = createApprover({
    client,
    log,
    dryRun: flags.dryRun,
    denyInvalid: flags.denyInvalid,
    subresource: flags.subresource,
    observer: metrics,
    get policy() {
      return d.policy;
    },
    nodes: flags.verifyNodeAddresses ? d.nodes : undefined,
    mayWrite: () => d.leading && !life.signal.aborted,
    stormGuard,
    onDecision(action, decision, csr) {
      const event = quiet ? undefined : decisionEvent(action, decision, csr);
      if (event) d.events.record(event);
    },
  });
  return d;
}

/** What /healthz and /readyz judge, read now. */
function snapshot(d: Daemon): HealthSnapshot {
  return {
    now: Date.now(),
    maxSilenceMs: d.deps.maxSilenceMs ?? 15 * 60_000,
    policyReady: d.policy !== undefined,
    nodesSynced: d.nodes.synced(),
    leading: d.leading,
    controller: d.controller && {
      lastProgress: d.controller.lastProgress(),
      synced: d.controller.synced(),
    },
    elector: d.elector && {
      isLeader: d.elector.isLeader(),
      lastRenew: d.elector.lastRenew(),
    },
    leaseDurationMs: d.flags.leaderElectLeaseDuration,
    refused: d.refused(),
  };
}

/** Binds the status endpoints; throws when it cannot listen. */
function serveStatus(d: Daemon): HttpServer {
  const listen = parseListen(d.flags.listen)!;
  return startHttpServer({
    hostname: listen.hostname,
    port: listen.port,
    status: {
      healthy: () => liveness(snapshot(d)),
      ready: () => readiness(snapshot(d)),
      metrics: () => d.registry.render(),
    },
  });
}

function logStarting(
  d: Daemon,
  connection: ClusterConnection,
  server: HttpServer,
  leaderElect: boolean,
): void {
  const { flags, log } = d;
  log.info("starting", {
    version: VERSION,
    deno: DENO_VERSION,
    server: connection.server,
    config: connection.source,
    listen: `${server.hostname}:${server.port}`,
    dryRun: flags.dryRun,
    denyInvalid: flags.denyInvalid,
    leaderElect,
    verifyNodeAddresses: flags.verifyNodeAddresses,
  });
  if (!flags.verifyNodeAddresses) {
    log.warn(
      "--verify-node-addresses=false: SANs are NOT checked against Node addresses; any node can get a certificate for another node's names",
    );
  }
}

/** Discovers the API service IPs, completes the policy with them, and starts deciding CSRs. */
async function startCsrController(d: Daemon): Promise<Controller> {
  const { flags, deps, log, metrics, registry } = d;
  const discovered = await discoverApiServiceIps({
    client: d.client,
    log,
    signal: d.life.signal,
    serviceHost: deps.serviceHost ?? Deno.env.get("KUBERNETES_SERVICE_HOST"),
  });
  const compiled = compileServingPolicy(policyFromFlags(flags, discovered), {
    settingLabel: policySettingFlag,
  });
  if ("errors" in compiled) throw new Error(`policy: ${compiled.error}`); // validated above
  d.policy = compiled;
  log.info("protecting API service IPs", {
    apiServiceIps: compiled.policy.apiServiceIps,
  });

  const controller = d.controller = startController({
    client: d.client,
    approver: d.approver,
    log,
    signal: d.life.signal,
    concurrency: flags.workers,
    watchTimeoutSeconds: deps.watchTimeoutSeconds,
    watchGraceMs: deps.watchGraceMs,
    backoff: deps.backoff,
    retry: deps.retry,
    onRestart: (kind, cause) =>
      metrics.watchRestarted("certificatesigningrequests", kind, cause),
    onReconciled: deps.onReconciled,
    isLeader: () => d.leading,
    requeueWaits: !flags.once,
  });
  registry.onCollect(() =>
    metrics.setPending(controller.pending(), new Date())
  );
  registerEventMetrics(registry, d.events);
  d.leaderGauge.set(d.leading ? 1 : 0);
  return controller;
}

/** Campaigns for the Lease; only the leader writes. */
function elect(
  d: Daemon,
  connection: ClusterConnection,
  stop: AbortSignal,
): LeaderElector {
  const { flags, log } = d;
  const namespace = flags.leaderElectNamespace ?? connection.namespace ??
    "default";
  return startLeaderElection({
    client: d.client,
    namespace,
    name: flags.leaderElectLeaseName,
    identity: d.identity,
    leaseDurationMs: flags.leaderElectLeaseDuration,
    renewDeadlineMs: flags.leaderElectRenewDeadline,
    retryPeriodMs: flags.leaderElectRetryPeriod,
    signal: stop,
    log,
    onStartedLeading(leadership) {
      d.leading = true;
      d.leaderGauge.set(1);
      log.info("became leader", {
        lease: `${namespace}/${flags.leaderElectLeaseName}`,
      });
      leadership.addEventListener("abort", () => {
        d.leading = false;
        d.leaderGauge.set(0);
        if (!d.life.signal.aborted) {
          log.warn("lost leadership: approving stopped");
        }
      }, { once: true });
      // Whatever arrived while following is decided now.
      d.controller!.resync();
    },
    onNewLeader: (identity) => log.info("leader is", { identity }),
  });
}

/** Everything after SIGTERM, from "shutting down" to "stopped". */
const SHUTDOWN_BUDGET_MS = 4_200;

/**
 * Stops deciding, lets in-flight writes finish, then hands the Lease over so
 * the other replica takes over at once; all within one budget, so that the
 * process exits inside the 5 s a container runtime is usually given.
 */
async function shutdown(
  d: Daemon,
  controller: Controller,
  electorStop: AbortController,
  server: HttpServer,
): Promise<void> {
  d.log.info("shutting down");
  const deadline = Date.now() + SHUTDOWN_BUDGET_MS;
  const left = () => Math.max(0, deadline - Date.now());
  await controller.stop(Math.min(2_000, left()));
  electorStop.abort();
  if (d.elector) await within(d.elector.done, left() - 400);
  await within(d.nodes.done, left() - 300);
  await d.events.close(Math.max(0, left() - 200));
  await server.shutdown();
  d.client.close();
}

/** Waits for `p`, but no longer than `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    p,
    new Promise((r) => timer = setTimeout(r, Math.max(0, ms))),
  ]);
  clearTimeout(timer);
}

/** `--once`: waits for both caches, then for the queue to drain; 0 either way. */
async function runOnce(
  controller: Controller,
  nodes: NodeCache,
  signal: AbortSignal,
  log: Logger,
): Promise<number> {
  const aborted = new Promise<"aborted">((r) =>
    signal.addEventListener("abort", () => r("aborted"), { once: true })
  );
  const ready = await Promise.race([
    Promise.all([controller.whenSynced(), nodes.whenSynced()]).then(() =>
      "synced" as const
    ),
    aborted,
  ]);
  if (ready === "aborted") return 0;
  const settled = await Promise.race([
    controller.queue.idle().then(() => "idle" as const),
    aborted,
  ]);
  if (settled === "aborted") return 0;
  log.info("--once: everything pending has been decided", {
    pending: controller.pendingCount(),
  });
  return 0;
}
