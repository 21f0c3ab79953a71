/**
 * The daemon: load the cluster connection, serve the status endpoints, keep
 * the Node and CSR caches, elect a leader, and let the leader approve, until
 * the signal aborts; then shut down in order (stop deciding, finish in-flight
 * writes, release the Lease, close the listener).
 *
 * @module
 */
import { discoverApiServiceIps } from "../controller/api_service.ts";
import {
  createApprover,
  type ReconcileResult,
} from "../controller/approver.ts";
import { startController } from "../controller/controller.ts";
import {
  createEventRecorder,
  DEFAULT_REPORTING_CONTROLLER,
} from "../controller/events.ts";
import { createControllerMetrics } from "../controller/metrics.ts";
import { startNodeCache } from "../controller/nodes.ts";
import {
  type CompiledPolicy,
  compileServingPolicy,
  type ServingPolicy,
} from "../core/policy.ts";
import { createKubeClient, type RateLimitInfo } from "../kube/client.ts";
import type { KubeClient } from "../kube/types.ts";
import {
  type ClusterConnection,
  loadClusterConnection,
} from "../kube/config.ts";
import {
  type LeaderElector,
  makeIdentity,
  startLeaderElection,
  validateLeaderElectionTimings,
} from "../kube/lease.ts";
import type { CertificateSigningRequest } from "../core/types.ts";
import { createLogger, type Logger } from "../log.ts";
import { suppressRepeats } from "../log_repeats.ts";
import { createRegistry } from "../metrics.ts";
import { registerProcessMetrics } from "../process_metrics.ts";
import { trackAccessRefusals } from "../controller/access_refusals.ts";
import { startHttpServer } from "../serve/http.ts";
import { errorText } from "../util/error_text.ts";
import { DENO_VERSION, VERSION } from "../version.ts";
import {
  type DaemonFlags,
  parseListen,
  servingPolicyFromFlags,
} from "./flags.ts";
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
 */
export function policyFromFlags(
  flags: DaemonFlags,
  apiServiceIps: string[] = [],
): ServingPolicy {
  return servingPolicyFromFlags(flags, apiServiceIps);
}

/** The resource (and subresource) a request path names, for metric labels. */
export function resourceOf(path: string): string {
  const parts = path.split("?")[0].split("/").filter((p) => p !== "");
  // /api/v1/... or /apis/group/version/...; skip namespaces/<ns>.
  let rest = parts[0] === "api" ? parts.slice(2) : parts.slice(3);
  if (rest[0] === "namespaces" && rest.length > 2) rest = rest.slice(2);
  const [resource = "unknown", , sub] = rest;
  return sub ? `${resource}/${sub}` : resource;
}

/**
 * Runs the approver until `deps.signal` aborts (or, with `--once`, until what
 * was pending has been decided). Resolves to the process exit code: 0 after a
 * clean shutdown, 1 when it cannot start, 2 for a bad policy flag.
 *
 * @example
 * ```ts ignore
 * import { runDaemon } from "./daemon.ts";
 * import { parseFlags } from "./flags.ts";
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

  // Validate everything that can be validated before touching the network.
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
  const inCluster = connection.source === "in-cluster";
  const leaderElect = !flags.once && (flags.leaderElect ?? inCluster);
  const listen = parseListen(flags.listen)!;
  const registry = createRegistry();
  registerProcessMetrics(registry);
  const apiRequests = registry.counter(
    "kubelet_rubber_stamp_api_requests_total",
    "Requests to the Kubernetes API, by verb, resource and status code (0: no answer).",
  );
  const apiLatency = registry.histogram(
    "kubelet_rubber_stamp_api_request_duration_seconds",
    "Time to the API server's response headers, by verb and resource.",
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
  const limitQps = registry.gauge(
    "kubelet_rubber_stamp_client_rate_limit_qps",
    "Client-side limit of API requests per second in force; 0 = unlimited.",
  );
  const limitMode = registry.gauge(
    "kubelet_rubber_stamp_client_rate_limit_mode",
    "1 for how the client-side limit was chosen (flags: --kube-api-qps/--kube-api-burst; apf: none, the API server has Priority and Fairness; default: 20/30, it has not), 0 for the others.",
  );
  let limitLogged = false;
  const onRateLimit = (limit: RateLimitInfo) => {
    limitQps.set(limit.qps);
    for (const mode of ["flags", "apf", "default"] as const) {
      limitMode.set(mode === limit.mode ? 1 : 0, { mode });
    }
    // Automatic mode runs at 20/30 until the first successful answer says
    // whether the server has APF: that decision is logged, once; a later
    // change (the server gained or lost APF) is a warning.
    if (!limit.decided) return;
    (limitLogged ? log.warn : log.info)(
      limitLogged ? "client-side rate limit changed" : "client-side rate limit",
      {
        mode: limit.mode,
        qps: limit.qps === 0 ? "unlimited" : limit.qps,
        ...(limit.qps === 0 ? {} : { burst: limit.burst }),
        ...(limit.mode === "apf"
          ? { why: "the API server sends X-Kubernetes-PF-* headers" }
          : limit.mode === "default"
          ? { why: "the API server sends no X-Kubernetes-PF-* headers" }
          : {}),
      },
    );
    limitLogged = true;
  };
  // Unset flags (undefined at run time) select the automatic mode.
  const explicitQps = flags.kubeApiQps;
  const explicitBurst = flags.kubeApiBurst;
  const access = trackAccessRefusals(log);
  let client: KubeClient;
  try {
    client = createKubeClient(connection, {
      qps: explicitQps,
      burst: explicitBurst,
      onRateLimit,
      timeoutMs: flags.kubeApiTimeout * 1000,
      userAgent: `kubelet-rubber-stamp/${VERSION}`,
      onResponse({ method, path, status, seconds }) {
        const resource = resourceOf(path);
        access.observe({ method, path: path.split("?")[0], status });
        apiRequests.inc({ verb: method, resource, code: String(status) });
        apiLatency.observe(seconds, { verb: method, resource });
      },
    });
  } catch (e) {
    log.error("cannot load cluster configuration", { error: errorText(e) });
    return 1;
  }

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

  // Internal lifecycle: aborted on shutdown, after which nothing new starts.
  const life = new AbortController();
  const onAbort = () => life.abort();
  signal.addEventListener("abort", onAbort, { once: true });

  // Both are set once start-up gets that far; closures below read them late.
  let policy: CompiledPolicy | undefined = undefined;
  let controller: ReturnType<typeof startController> | undefined = undefined;
  let leading = !leaderElect;
  let elector: LeaderElector | undefined;
  const nodes = startNodeCache({
    client,
    log,
    signal: life.signal,
    onChange: () => controller?.nodesChanged(),
    onIgnoredAddresses: (_name, count) => metrics.nodeAddressesIgnored(count),
    watchTimeoutSeconds: deps.watchTimeoutSeconds,
    watchGraceMs: deps.watchGraceMs,
    backoff: deps.backoff,
    onRestart: (kind, cause) => metrics.watchRestarted("nodes", kind, cause),
  });

  const identity = deps.identity ?? makeIdentity();
  const events = createEventRecorder({
    client,
    log: log.with({ component: "events" }),
    reportingController: DEFAULT_REPORTING_CONTROLLER,
    reportingInstance: identity,
    // Memory, measured with `deno task bench`: at 10 Event writes/s a queue
    // of 256 drains in half a minute; past it a mass rotation's Events are
    // dropped and counted rather than held (each costs ~1 KiB).
    maxQueue: 256,
    maxSeries: 1024,
  });
  const regarding = (csr: CertificateSigningRequest) => ({
    apiVersion: "certificates.k8s.io/v1",
    kind: "CertificateSigningRequest",
    name: csr.metadata.name,
    uid: csr.metadata.uid,
    resourceVersion: csr.metadata.resourceVersion,
  });

  let stormActive = false;
  const stormGuard = (csr: CertificateSigningRequest) => {
    const pending = controller?.pendingCount() ?? 0;
    const limit = nodes.size() + flags.maxPendingSurplus;
    const active = pending > limit;
    const message =
      `${pending} pending kubelet-serving CSRs exceed ${nodes.size()} Nodes + ` +
      `${flags.maxPendingSurplus} (--max-pending-surplus); approvals are held back until the backlog shrinks`;
    if (active !== stormActive) {
      stormActive = active;
      stormGauge.set(active ? 1 : 0);
      const fields = {
        pending,
        nodes: nodes.size(),
        maxPendingSurplus: flags.maxPendingSurplus,
      };
      if (active) {
        log.error("storm guard on: approvals held back", fields);
        // One Event per episode, on the CSR that tripped it.
        events.record({
          regarding: regarding(csr),
          type: "Warning",
          reason: "StormGuard",
          action: "HoldBack",
          note: message,
        });
      } else {
        log.info("storm guard off: approving again", fields);
      }
    }
    return active ? message : undefined;
  };

  const approver = createApprover({
    client,
    log,
    dryRun: flags.dryRun,
    denyInvalid: flags.denyInvalid,
    subresource: flags.subresource,
    observer: metrics,
    get policy() {
      return policy;
    },
    nodes: flags.verifyNodeAddresses ? nodes : undefined,
    mayWrite: () => leading && !life.signal.aborted,
    stormGuard,
    onDecision(action, decision, csr) {
      const event = {
        approved: { type: "Normal", action: "Approve" },
        denied: { type: "Warning", action: "Deny" },
        "left-pending": { type: "Warning", action: "LeavePending" },
        waiting: { type: "Normal", action: "WaitForNode" },
      }[action as string] as
        | { type: "Normal" | "Warning"; action: string }
        | undefined;
      // Ignored CSRs are not ours: we say nothing about them.
      if (!event || flags.dryRun || deps.recordEvents === false) return;
      events.record({
        regarding: regarding(csr),
        ...event,
        reason: decision.reason,
        note: decision.message,
      });
    },
  });

  let server;
  try {
    server = startHttpServer({
      hostname: listen.hostname,
      port: listen.port,
      status: {
        healthy: () => {
          const silent = Date.now() -
            (controller?.lastProgress() ?? Date.now());
          const max = deps.maxSilenceMs ?? 15 * 60_000;
          if (silent >= max) {
            return {
              ok: false,
              detail: `CSR watch silent for ${Math.round(silent / 1000)}s`,
            };
          }
          if (
            elector?.isLeader() &&
            Date.now() - elector.lastRenew() >
              flags.leaderElectLeaseDuration + 10_000
          ) {
            return { ok: false, detail: "leading without renewing the Lease" };
          }
          return true;
        },
        ready: () => {
          const refused = access.refused();
          if (refused.length > 0) {
            return {
              ok: false,
              detail: `the API server refuses ${refused.join(", ")}`,
            };
          }
          if (!policy) {
            return { ok: false, detail: "API service IPs not discovered yet" };
          }
          if (!nodes.synced()) {
            return { ok: false, detail: "Node cache not synced" };
          }
          if (
            leading && controller &&
            Date.now() - controller.lastProgress() >=
              (deps.maxSilenceMs ?? 15 * 60_000)
          ) {
            return {
              ok: false,
              detail: "leading, but the CSR watch is not running",
            };
          }
          if (!controller?.synced()) {
            return { ok: false, detail: "CSR cache not synced" };
          }
          return true;
        },
        metrics: () => registry.render(),
      },
    });
  } catch (e) {
    signal.removeEventListener("abort", onAbort);
    life.abort();
    await nodes.done;
    await events.close(0);
    client.close();
    log.error("cannot listen", { listen: flags.listen, error: errorText(e) });
    return 1;
  }
  deps.onListening?.(server.port);

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

  const discovered = await discoverApiServiceIps({
    client,
    log,
    signal: life.signal,
    serviceHost: deps.serviceHost ?? Deno.env.get("KUBERNETES_SERVICE_HOST"),
  });
  const compiled = compileServingPolicy(policyFromFlags(flags, discovered), {
    settingLabel: policySettingFlag,
  });
  if ("errors" in compiled) throw new Error(`policy: ${compiled.error}`); // validated above
  policy = compiled;
  log.info("protecting API service IPs", {
    apiServiceIps: compiled.policy.apiServiceIps,
  });

  controller = startController({
    client,
    approver,
    log,
    signal: life.signal,
    concurrency: flags.workers,
    watchTimeoutSeconds: deps.watchTimeoutSeconds,
    watchGraceMs: deps.watchGraceMs,
    backoff: deps.backoff,
    retry: deps.retry,
    onRestart: (kind, cause) =>
      metrics.watchRestarted("certificatesigningrequests", kind, cause),
    onReconciled: deps.onReconciled,
    isLeader: () => leading,
    requeueWaits: !flags.once,
  });
  registry.onCollect(() =>
    metrics.setPending(controller!.pending(), new Date())
  );
  const eventsNotWritten = registry.counter(
    "kubelet_rubber_stamp_events_dropped_total",
    "Events not written, by reason: spam-filter (an object's burst of 25, refilled 1 per 5 min, as client-go), dropped (the Event budget's queue full, shutdown), failed (the API server refused).",
  );
  const eventsCounted = { "spam-filter": 0, dropped: 0, failed: 0 };
  registry.onCollect(() => {
    const st = events.stats();
    const now = {
      "spam-filter": st.filtered,
      dropped: st.dropped,
      failed: st.failed,
    };
    for (const reason of Object.keys(now) as (keyof typeof now)[]) {
      eventsNotWritten.inc({ reason }, now[reason] - eventsCounted[reason]);
      eventsCounted[reason] = now[reason];
    }
  });
  leaderGauge.set(leading ? 1 : 0);

  const electorStop = new AbortController();
  if (leaderElect) {
    const namespace = flags.leaderElectNamespace ?? connection.namespace ??
      "default";
    elector = startLeaderElection({
      client,
      namespace,
      name: flags.leaderElectLeaseName,
      identity,
      leaseDurationMs: flags.leaderElectLeaseDuration,
      renewDeadlineMs: flags.leaderElectRenewDeadline,
      retryPeriodMs: flags.leaderElectRetryPeriod,
      signal: electorStop.signal,
      log,
      onStartedLeading(leadership) {
        leading = true;
        leaderGauge.set(1);
        log.info("became leader", {
          lease: `${namespace}/${flags.leaderElectLeaseName}`,
        });
        leadership.addEventListener("abort", () => {
          leading = false;
          leaderGauge.set(0);
          if (!life.signal.aborted) {
            log.warn("lost leadership: approving stopped");
          }
        }, { once: true });
        // Whatever arrived while following is decided now.
        controller!.resync();
      },
      onNewLeader: (identity) => log.info("leader is", { identity }),
    });
  }

  let exit = 0;
  if (flags.once) {
    exit = await runOnce(controller, nodes, life.signal, log);
    life.abort();
  } else if (!life.signal.aborted) {
    await new Promise<void>((r) =>
      life.signal.addEventListener("abort", () => r(), { once: true })
    );
  }
  signal.removeEventListener("abort", onAbort);
  log.info("shutting down");
  // Stop deciding, let in-flight writes finish, then hand the Lease over so
  // the other replica takes over at once; all within one budget, so that the
  // process exits inside the 5 s a container runtime is usually given.
  const deadline = Date.now() + SHUTDOWN_BUDGET_MS;
  const left = () => Math.max(0, deadline - Date.now());
  await controller.stop(Math.min(2_000, left()));
  electorStop.abort();
  if (elector) await within(elector.done, left() - 400);
  await within(nodes.done, left() - 300);
  await events.close(Math.max(0, left() - 200));
  await server.shutdown();
  client.close();
  log.info("stopped", { exit });
  return exit;
}

/** Everything after SIGTERM, from "shutting down" to "stopped". */
const SHUTDOWN_BUDGET_MS = 4_200;

/** Waits for `p`, but no longer than `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    p,
    new Promise((r) => timer = setTimeout(r, Math.max(0, ms))),
  ]);
  clearTimeout(timer);
}

async function runOnce(
  controller: ReturnType<typeof startController>,
  nodes: ReturnType<typeof startNodeCache>,
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
