/**
 * Leader election on a `coordination.k8s.io/v1` Lease, following client-go's
 * `tools/leaderelection` (`leaderelection.go`, `resourcelock/leaselock.go`):
 *
 * - Candidates poll the Lease every `retryPeriod × (1 + rand × 1.2)`. A Lease
 *   held by someone else counts as expired only when its record has not
 *   changed for `leaseDurationSeconds` **by the local clock** (the time we
 *   *observed* the change), so clock skew between replicas does not matter.
 * - Every write is a PUT of the whole object last read, so it carries
 *   `metadata.resourceVersion`: of two racing candidates one gets 409.
 * - The leader renews every `retryPeriod`; a renewal that does not succeed
 *   within `renewDeadline` (or before its own lease would have expired by the
 *   local clock) ends leadership at once, and the elector campaigns again.
 * - When the caller's signal aborts, a leader releases the Lease
 *   (`holderIdentity: ""`, `leaseDurationSeconds: 1`) so another replica can
 *   take over within about one retry period instead of a whole lease.
 *
 * Generic Kubernetes code: it knows nothing of what the leader does.
 *
 * @module
 */
import { isApiError } from "./errors.ts";
import type { KubeClient } from "./types.ts";
import { formatDurationUnit } from "../util/duration.ts";
import { errorText } from "../util/error_text.ts";
import { sleep } from "../util/sleep.ts";
import { microTime } from "../util/time.ts";

/** `spec` of a `coordination.k8s.io/v1` Lease (the fields leader election uses). */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** MicroTime: RFC 3339 with exactly 6 fractional digits. */
  acquireTime?: string;
  /** MicroTime: RFC 3339 with exactly 6 fractional digits. */
  renewTime?: string;
  leaseTransitions?: number;
  [field: string]: unknown;
}

/** A `coordination.k8s.io/v1` Lease as read from and written to the API. */
export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    [field: string]: unknown;
  };
  spec?: LeaseSpec;
  [field: string]: unknown;
}

/** Options of {@linkcode startLeaderElection}. */
export interface LeaderElectionOptions {
  client: KubeClient;
  /** Namespace of the Lease. */
  namespace: string;
  /** Name of the Lease (the caller picks the default). */
  name: string;
  /** Unique per process; see {@linkcode makeIdentity}. */
  identity: string;
  /**
   * How long a candidate waits, after last seeing the record change, before
   * taking over. Default 15 000. Written to the Lease rounded *up* to whole
   * seconds (the field is an integer ≥ 1), so other candidates never wait
   * less than this.
   */
  leaseDurationMs?: number;
  /** How long the leader keeps retrying a renewal before giving up leadership. Default 10 000. */
  renewDeadlineMs?: number;
  /** Pause between attempts. Default 2 000. */
  retryPeriodMs?: number;
  /**
   * Abort to stop campaigning. A leader first aborts its leadership signal,
   * then releases the Lease (unless `releaseOnCancel` is false); `done`
   * resolves after that.
   */
  signal: AbortSignal;
  /**
   * Called each time leadership is gained. `leadership` aborts the instant
   * leadership is lost, released or stopped: stop acting on it then.
   */
  onStartedLeading: (leadership: AbortSignal) => void;
  /** Called each time leadership ends (never when it was not held). */
  onStoppedLeading?: () => void;
  /** Called when a different holder is observed (never with an empty identity). */
  onNewLeader?: (identity: string) => void;
  log?: {
    info(msg: string, f?: Record<string, unknown>): void;
    warn(msg: string, f?: Record<string, unknown>): void;
  };
  /** Clock in ms. Default `Date.now`. */
  now?: () => number;
  /** Source of jitter in [0, 1). Default `Math.random`. */
  random?: () => number;
  /**
   * Release the Lease when `signal` aborts (client-go's `ReleaseOnCancel`).
   * Default true; false lets the Lease expire instead (tests simulate a crash).
   */
  releaseOnCancel?: boolean;
}

/** Handle returned by {@linkcode startLeaderElection}. */
export interface LeaderElector {
  /**
   * True while this process holds leadership and its last renewal is no older
   * than the lease duration by the local clock.
   */
  isLeader(): boolean;
  /**
   * Last successful acquire or renew time (ms, start of that request), 0 if
   * never, for /healthz: a leader that hasn't renewed for leaseDuration +
   * tolerance is unhealthy.
   */
  lastRenew(): number;
  /** Identity of the last observed holder ("" if none yet). */
  leader(): string;
  /** Resolves when the loop has exited (after release on abort). Never rejects. */
  done: Promise<void>;
}

/**
 * client-go's `JitterFactor`: acquire retries wait `retryPeriod × (1 + rand × 1.2)`,
 * and the renew deadline must exceed `retryPeriod × 1.2`.
 *
 * @example
 * ```ts
 * import { JITTER_FACTOR } from "./lease.ts";
 * const longestAcquireWaitMs = 2_000 * (1 + JITTER_FACTOR); // 4 400
 * ```
 */
export const JITTER_FACTOR = 1.2;

/** How long a release may take in total, retries included. */
const RELEASE_BUDGET_MS = 2_000;

/** Re-exported from `src/util/time.ts`, where it lives. */
export { microTime };

function hostnameFromEnv(): string {
  try {
    // In a pod HOSTNAME is the pod name; POD_NAME is the usual downward-API variable.
    return Deno.env.get("POD_NAME") || Deno.env.get("HOSTNAME") || "";
  } catch {
    // No --allow-env: fall through to a generic prefix, the suffix stays unique.
    return "";
  }
}

/**
 * A leader-election identity: `<hostname>_<uuid>`, as client-go's callers
 * build it. Without `hostname`, `$POD_NAME` or `$HOSTNAME` is used
 * (`Deno.hostname()` would need `--allow-sys`), else `"unknown"`.
 *
 * @example
 * ```ts
 * import { makeIdentity } from "./lease.ts";
 * makeIdentity("approver-7d9f-abcde"); // "approver-7d9f-abcde_1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b"
 * ```
 */
export function makeIdentity(hostname?: string): string {
  const host = (hostname ?? hostnameFromEnv()).trim() || "unknown";
  return `${host}_${crypto.randomUUID()}`;
}

/** Whole seconds or milliseconds (`60s`, `2400ms`), as the flags take them. */
const formatDuration = (ms: number) => formatDurationUnit(ms, "s");

/** A leader-election timing, by its option name in {@linkcode LeaderElectionOptions}. */
export type LeaderElectionTiming =
  | "leaseDurationMs"
  | "renewDeadlineMs"
  | "retryPeriodMs";

/**
 * Checks leader-election timings as client-go's `NewLeaderElector` does:
 * each positive, `lease > renew`, `renew > 1.2 × retry`. Returns an error
 * message, or `undefined` when they are fine. The message names each
 * timing by `label` (default: its option name, e.g. `leaseDurationMs`); a
 * command line passes its flag names.
 *
 * @example
 * ```ts
 * import { validateLeaderElectionTimings } from "./lease.ts";
 * validateLeaderElectionTimings(15_000, 10_000, 2_000); // undefined
 * validateLeaderElectionTimings(10_000, 10_000, 2_000);
 * // "leaseDurationMs (10s) must be greater than renewDeadlineMs (10s)"
 * ```
 */
export function validateLeaderElectionTimings(
  leaseMs: number,
  renewMs: number,
  retryMs: number,
  label: (timing: LeaderElectionTiming) => string = (timing) => timing,
): string | undefined {
  const timings: [LeaderElectionTiming, number][] = [
    ["leaseDurationMs", leaseMs],
    ["renewDeadlineMs", renewMs],
    ["retryPeriodMs", retryMs],
  ];
  for (const [timing, value] of timings) {
    if (!Number.isFinite(value) || value <= 0) {
      return `${label(timing)} must be a positive duration; found ${value}ms`;
    }
  }
  if (leaseMs <= renewMs) {
    return `${label("leaseDurationMs")} (${
      formatDuration(leaseMs)
    }) must be greater than ${label("renewDeadlineMs")} (${
      formatDuration(renewMs)
    })`;
  }
  if (renewMs <= JITTER_FACTOR * retryMs) {
    return `${label("renewDeadlineMs")} (${
      formatDuration(renewMs)
    }) must be greater than ${JITTER_FACTOR} × ${label("retryPeriodMs")} (${
      formatDuration(retryMs)
    } × ${JITTER_FACTOR} = ${formatDuration(JITTER_FACTOR * retryMs)})`;
  }
  return undefined;
}

/**
 * Starts campaigning for the Lease `namespace/name` and keeps doing so until
 * `options.signal` aborts. Losing leadership is not fatal: the elector goes
 * back to campaigning and the caller decides whether to exit.
 *
 * @throws {RangeError} when the timings fail {@linkcode validateLeaderElectionTimings}
 * or `identity` is empty.
 *
 * @example
 * ```ts ignore
 * import { makeIdentity, startLeaderElection } from "./lease.ts";
 * const stop = new AbortController();
 * const elector = startLeaderElection({
 *   client, namespace: "kube-system", name: "kubelet-rubber-stamp",
 *   identity: makeIdentity(), signal: stop.signal,
 *   onStartedLeading: (leadership) => runController(leadership),
 * });
 * Deno.addSignalListener("SIGTERM", () => stop.abort());
 * await elector.done; // released
 * ```
 */
export function startLeaderElection(
  options: LeaderElectionOptions,
): LeaderElector {
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = options.retryPeriodMs ?? 2_000;
  const invalid = validateLeaderElectionTimings(
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
  );
  if (invalid) throw new RangeError(`leader election: ${invalid}`);
  if (options.identity === "") {
    throw new RangeError(
      "leader election: expected a non-empty identity, found an empty string",
    );
  }
  const { client, identity, signal } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const releaseOnCancel = options.releaseOnCancel ?? true;
  const log = options.log ?? { info() {}, warn() {} };
  const leaseDurationSeconds = Math.max(1, Math.ceil(leaseDurationMs / 1000));
  const namespace = encodeURIComponent(options.namespace);
  const name = encodeURIComponent(options.name);
  const collectionPath =
    `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
  const objectPath = `${collectionPath}/${name}`;
  const describe = `${options.namespace}/${options.name}`;

  /** The whole Lease last read or written: the next PUT carries its resourceVersion. */
  let lease: Lease | undefined;
  /** The record last observed, its JSON and the LOCAL time it was observed to change. */
  let observed: LeaseSpec = {};
  let observedRaw = "";
  let observedTime = 0;
  let reportedLeader = "";
  let leading = false;
  let lastRenewAt = 0;
  let leadership: AbortController | undefined;
  let watchdog: ReturnType<typeof setTimeout> | undefined;

  const holderIsMe = () => observed.holderIdentity === identity;
  /** client-go's isLeaseValid: the record changed less than its leaseDurationSeconds ago. */
  const leaseValid = (t: number) =>
    observedTime + (observed.leaseDurationSeconds ?? 0) * 1000 > t;

  function setObserved(spec: LeaseSpec | undefined) {
    observed = { ...(spec ?? {}) };
    observedRaw = JSON.stringify(spec ?? {});
    observedTime = now();
  }

  function reportTransition() {
    const holder = observed.holderIdentity ?? "";
    if (holder === reportedLeader) return;
    reportedLeader = holder;
    if (holder === "") return;
    log.info("new leader observed", { lease: describe, leader: holder });
    try {
      options.onNewLeader?.(holder);
    } catch (error) {
      log.warn("onNewLeader callback threw", { error: errorText(error) });
    }
  }

  function clearWatchdog() {
    if (watchdog !== undefined) clearTimeout(watchdog);
    watchdog = undefined;
  }

  /** Defence in depth: leadership ends when our own lease would have expired by the local clock. */
  function armWatchdog() {
    clearWatchdog();
    watchdog = setTimeout(() => {
      watchdog = undefined;
      loseLeadership(
        `no successful renewal within the lease duration (${leaseDurationMs} ms) by the local clock`,
      );
    }, Math.max(0, lastRenewAt + leaseDurationMs - now()));
  }

  function becomeLeader(renewedAt: number) {
    leading = true;
    lastRenewAt = renewedAt;
    leadership = new AbortController();
    armWatchdog();
    log.info("acquired leadership", { lease: describe, identity });
    try {
      options.onStartedLeading(leadership.signal);
    } catch (error) {
      log.warn("onStartedLeading callback threw", { error: errorText(error) });
    }
  }

  /** Ends leadership now: abort the leadership signal first so callers stop acting. Idempotent. */
  function loseLeadership(reason: string) {
    if (!leading) return;
    leading = false;
    clearWatchdog();
    leadership?.abort(new Error(`leadership of ${describe} ended: ${reason}`));
    log.warn("leadership ended", { lease: describe, identity, reason });
    try {
      options.onStoppedLeading?.();
    } catch (error) {
      log.warn("onStoppedLeading callback threw", { error: errorText(error) });
    }
  }

  const onCallerAbort = () => loseLeadership("stopping: signal aborted");
  signal.addEventListener("abort", onCallerAbort, { once: true });

  function put(
    body: Lease,
    spec: LeaseSpec,
    reqSignal: AbortSignal | undefined,
    timeoutMs: number,
  ): Promise<Lease> {
    return client.request<Lease>({
      method: "PUT",
      path: objectPath,
      body: {
        ...body,
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        spec,
      },
      signal: reqSignal,
      timeoutMs,
    });
  }

  /**
   * One round of client-go's tryAcquireOrRenew. Returns the time the written
   * record was stamped with on success, undefined otherwise (errors are logged,
   * never thrown). Requests stop at `deadlineAt`.
   */
  async function tryAcquireOrRenew(
    reqSignal: AbortSignal,
    deadlineAt: number,
  ): Promise<number | undefined> {
    const remaining = () => Math.max(1, deadlineAt - now());
    const t = now();
    const stamp = microTime(new Date(t));
    const mine: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds,
      acquireTime: stamp,
      renewTime: stamp,
    };

    // 1. Fast path: the leader updates the object it last wrote, assuming it is current.
    if (lease && holderIsMe() && leaseValid(t)) {
      try {
        const written = await put(
          lease,
          {
            ...(lease.spec ?? {}),
            ...mine,
            acquireTime: observed.acquireTime ?? stamp,
            leaseTransitions: observed.leaseTransitions ?? 0,
          },
          reqSignal,
          remaining(),
        );
        lease = written;
        setObserved(written.spec);
        return t;
      } catch (error) {
        if (reqSignal.aborted) return undefined;
        log.warn("optimistic lease update failed, falling back to GET", {
          lease: describe,
          error: errorText(error),
        });
      }
    }

    // 2. Read the Lease, creating it when missing.
    let current: Lease;
    try {
      current = await client.request<Lease>({
        method: "GET",
        path: objectPath,
        signal: reqSignal,
        timeoutMs: remaining(),
      });
    } catch (error) {
      if (reqSignal.aborted) return undefined;
      if (!isApiError(error, 404)) {
        log.warn("reading the lease failed", {
          lease: describe,
          error: errorText(error),
        });
        return undefined;
      }
      try {
        const created = await client.request<Lease>({
          method: "POST",
          path: collectionPath,
          body: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name: options.name, namespace: options.namespace },
            spec: { ...mine, leaseTransitions: 0 },
          },
          signal: reqSignal,
          timeoutMs: remaining(),
        });
        lease = created;
        setObserved(created.spec);
        return t;
      } catch (createError) {
        if (!reqSignal.aborted) {
          log.warn("creating the lease failed", {
            lease: describe,
            error: errorText(createError),
          });
        }
        return undefined;
      }
    }
    if (
      typeof current !== "object" || current === null ||
      typeof current.metadata !== "object" || current.metadata === null
    ) {
      log.warn("reading the lease gave no object", { lease: describe });
      return undefined;
    }
    lease = current;

    // 3. Note the LOCAL time whenever the record changes: expiry is judged from it.
    const spec = current.spec ?? {};
    if (JSON.stringify(spec) !== observedRaw) setObserved(spec);
    const holder = spec.holderIdentity ?? "";
    if (holder !== "" && holder !== identity && leaseValid(now())) {
      return undefined;
    }

    // 4. Take over (or renew): the PUT carries the resourceVersion just read.
    const next: LeaseSpec = holder === identity
      ? {
        ...spec,
        ...mine,
        acquireTime: spec.acquireTime ?? stamp,
        leaseTransitions: spec.leaseTransitions ?? 0,
      }
      : {
        ...spec,
        ...mine,
        leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
      };
    try {
      const written = await put(current, next, reqSignal, remaining());
      lease = written;
      setObserved(written.spec);
      return t;
    } catch (error) {
      if (!reqSignal.aborted) {
        log.warn(
          isApiError(error, 409)
            ? "lost the race for the lease"
            : "updating the lease failed",
          { lease: describe, error: errorText(error) },
        );
      }
      return undefined;
    }
  }

  /** Polls with jitter until the Lease is ours (true) or the caller aborts (false). */
  async function acquire(): Promise<boolean> {
    log.info("attempting to acquire leader lease", { lease: describe });
    while (!signal.aborted) {
      const acquiredAt = await tryAcquireOrRenew(
        signal,
        now() + renewDeadlineMs,
      );
      reportTransition();
      if (acquiredAt !== undefined && !signal.aborted) {
        becomeLeader(acquiredAt);
        return true;
      }
      const wait = retryPeriodMs * (1 + random() * JITTER_FACTOR);
      if (!await sleep(wait, signal)) return false;
    }
    return false;
  }

  /** Renews every retry period until leadership is lost or the caller aborts. */
  async function renew(term: AbortSignal): Promise<void> {
    const stop = AbortSignal.any([signal, term]);
    while (leading) {
      if (!await sleep(retryPeriodMs, stop)) return;
      // A round gives up at renewDeadline, or earlier if our lease would lapse first.
      const deadlineAt = Math.min(
        now() + renewDeadlineMs,
        lastRenewAt + leaseDurationMs,
      );
      let renewed = false;
      while (leading && !renewed) {
        if (now() >= deadlineAt) break;
        const renewedAt = await tryAcquireOrRenew(stop, deadlineAt);
        reportTransition();
        if (stop.aborted) return;
        if (renewedAt !== undefined) {
          renewed = true;
          lastRenewAt = renewedAt;
          armWatchdog();
          break;
        }
        if (!holderIsMe()) {
          // Stricter than client-go, which retries until the deadline: another
          // holder in the Lease means we are not the leader, whatever our timers say.
          loseLeadership(
            `the lease is held by "${observed.holderIdentity ?? ""}"`,
          );
          return;
        }
        if (now() >= deadlineAt) break;
        if (
          !await sleep(Math.min(retryPeriodMs, deadlineAt - now()), stop)
        ) return;
      }
      if (!renewed) {
        loseLeadership(
          `failed to renew within the renew deadline (${renewDeadlineMs} ms)`,
        );
      }
    }
  }

  /** PUTs an empty holder, keeping leaseTransitions; retries 409 by re-reading, within a small budget. */
  async function release(): Promise<void> {
    const deadlineAt = now() + RELEASE_BUDGET_MS;
    const remaining = () => Math.max(1, deadlineAt - now());
    let current = lease;
    for (let attempt = 0; attempt < 5 && now() < deadlineAt; attempt++) {
      if (!current || (current.spec?.holderIdentity ?? "") !== identity) {
        return; // not ours (any more): nothing to release
      }
      const stamp = microTime(new Date(now()));
      try {
        const written = await put(
          current,
          {
            ...(current.spec ?? {}),
            holderIdentity: "",
            leaseDurationSeconds: 1,
            acquireTime: stamp,
            renewTime: stamp,
            leaseTransitions: current.spec?.leaseTransitions ?? 0,
          },
          undefined,
          remaining(),
        );
        lease = written;
        setObserved(written.spec);
        log.info("released leader lease", { lease: describe, identity });
        return;
      } catch (error) {
        if (isApiError(error, 404)) return;
        log.warn("releasing the lease failed", {
          lease: describe,
          error: errorText(error),
        });
        if (!isApiError(error, 409)) return;
      }
      try {
        current = await client.request<Lease>({
          method: "GET",
          path: objectPath,
          timeoutMs: remaining(),
        });
      } catch (error) {
        log.warn("re-reading the lease for release failed", {
          lease: describe,
          error: errorText(error),
        });
        return;
      }
    }
  }

  async function run(): Promise<void> {
    try {
      while (!signal.aborted) {
        if (!await acquire()) break;
        if (leadership) await renew(leadership.signal);
      }
    } catch (error) {
      // Never expected (every call above catches), but an elector must not crash its process.
      log.warn("leader election loop failed", { error: errorText(error) });
    } finally {
      loseLeadership("stopping: signal aborted");
      signal.removeEventListener("abort", onCallerAbort);
      clearWatchdog();
      if (releaseOnCancel && lease && holderIsMe()) {
        try {
          await release();
        } catch (error) {
          log.warn("releasing the lease failed", { error: errorText(error) });
        }
      }
    }
  }

  const done = run();
  return {
    isLeader: () => leading && now() - lastRenewAt <= leaseDurationMs,
    lastRenew: () => lastRenewAt,
    leader: () => observed.holderIdentity ?? "",
    done,
  };
}
