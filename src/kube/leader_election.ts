/**
 * Leader election on a `coordination.k8s.io/v1` Lease, following client-go's
 * `tools/leaderelection` (`leaderelection.go`, `resourcelock/leaselock.go`):
 *
 * - Candidates poll the Lease every `retryPeriod × (1 + rand × 1.2)`. A Lease
 *   held by someone else counts as expired only when its record has not
 *   changed for `leaseDurationSeconds` **by the local clock** (the time we
 *   *observed* the change), so clock skew between replicas does not matter.
 * - Every write is a PUT of the whole object last read, so it carries
 *   `metadata.resourceVersion`: of two racing candidates one gets 409 (the
 *   Lease lock, `lease_lock.ts`, does the reads and writes).
 * - The leader renews every `retryPeriod`; a renewal that does not succeed
 *   within `renewDeadline` (or before its own lease would have expired by the
 *   local clock) ends leadership at once, and the elector campaigns again.
 * - When the caller's signal aborts, a leader releases the Lease
 *   (`holderIdentity: ""`, `leaseDurationSeconds: 1`) so another replica can
 *   take over within about one retry period instead of a whole lease.
 *
 * This file is the elector's loop: acquire, renew, lose, release. It stays
 * one file of about 600 lines, half of them documentation, because those
 * steps share one state and read best side by side, as in client-go's
 * `leaderelection.go`. Generic Kubernetes code: it knows nothing of what
 * the leader does.
 *
 * @module
 */
import { isApiError } from "./errors.ts";
import {
  createLeaseLock,
  type LeaseLock,
  type LeaseSpec,
} from "./lease_lock.ts";
import type { KubeClient } from "./types.ts";
import { formatDurationUnit } from "../util/duration.ts";
import { errorText } from "../util/error_text.ts";
import { sleep } from "../util/sleep.ts";
import { microTime } from "../util/time.ts";

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
 * import { JITTER_FACTOR } from "./leader_election.ts";
 * const longestAcquireWaitMs = 2_000 * (1 + JITTER_FACTOR); // 4400
 * ```
 */
export const JITTER_FACTOR = 1.2;

/** How long a release may take in total, retries included. */
const RELEASE_BUDGET_MS = 2_000;

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
 * import { makeIdentity } from "./leader_election.ts";
 * makeIdentity("approver-7d9f-abcde"); // e.g. "approver-7d9f-abcde_1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b"
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
 * import { validateLeaderElectionTimings } from "./leader_election.ts";
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

/** A `log` option that says nothing. */
const SILENT = { info() {}, warn() {} };

/** One elector's state, shared by the steps below. */
interface Elector {
  lock: LeaseLock;
  options: LeaderElectionOptions;
  identity: string;
  signal: AbortSignal;
  now: () => number;
  random: () => number;
  log: NonNullable<LeaderElectionOptions["log"]>;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** What we write: the lease duration rounded up to whole seconds, at least 1. */
  leaseDurationSeconds: number;
  /** The record last observed, its JSON and the LOCAL time it was observed to change. */
  observed: LeaseSpec;
  observedRaw: string;
  observedTime: number;
  reportedLeader: string;
  leading: boolean;
  lastRenewAt: number;
  leadership?: AbortController;
  watchdog?: ReturnType<typeof setTimeout>;
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
 * Not run: needs a client of a live API server (tests/unit/kube/leader_election_test.ts uses a fake one).
 * ```ts ignore
 * import { makeIdentity, startLeaderElection } from "./leader_election.ts";
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
  const e: Elector = {
    lock: createLeaseLock(options),
    options,
    identity: options.identity,
    signal: options.signal,
    now: options.now ?? Date.now,
    random: options.random ?? Math.random,
    log: options.log ?? SILENT,
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    leaseDurationSeconds: Math.max(1, Math.ceil(leaseDurationMs / 1000)),
    observed: {},
    observedRaw: "",
    observedTime: 0,
    reportedLeader: "",
    leading: false,
    lastRenewAt: 0,
  };
  const done = run(e);
  return {
    isLeader: () => e.leading && e.now() - e.lastRenewAt <= leaseDurationMs,
    lastRenew: () => e.lastRenewAt,
    leader: () => e.observed.holderIdentity ?? "",
    done,
  };
}

/** Campaigns and leads in turn until the caller aborts; then releases. Never rejects. */
async function run(e: Elector): Promise<void> {
  const onCallerAbort = () => loseLeadership(e, "stopping: signal aborted");
  e.signal.addEventListener("abort", onCallerAbort, { once: true });
  try {
    while (!e.signal.aborted) {
      if (!await acquire(e)) break;
      if (e.leadership) await renew(e, e.leadership.signal);
    }
  } catch (error) {
    // Never expected (every call above catches), but an elector must not crash its process.
    e.log.warn("leader election loop failed", { error: errorText(error) });
  } finally {
    loseLeadership(e, "stopping: signal aborted");
    e.signal.removeEventListener("abort", onCallerAbort);
    clearWatchdog(e);
    if (
      (e.options.releaseOnCancel ?? true) && e.lock.current() && holderIsMe(e)
    ) {
      try {
        await release(e);
      } catch (error) {
        e.log.warn("releasing the lease failed", { error: errorText(error) });
      }
    }
  }
}

const holderIsMe = (e: Elector) => e.observed.holderIdentity === e.identity;

/** client-go's isLeaseValid: the record changed less than its leaseDurationSeconds ago. */
const leaseValid = (e: Elector, t: number) =>
  e.observedTime + (e.observed.leaseDurationSeconds ?? 0) * 1000 > t;

function setObserved(e: Elector, spec: LeaseSpec | undefined): void {
  e.observed = { ...(spec ?? {}) };
  e.observedRaw = JSON.stringify(spec ?? {});
  e.observedTime = e.now();
}

/** Calls a caller's callback; one that throws is logged, never fatal. */
function callBack(e: Elector, name: string, fn: () => void): void {
  try {
    fn();
  } catch (error) {
    e.log.warn(`${name} callback threw`, { error: errorText(error) });
  }
}

function reportTransition(e: Elector): void {
  const holder = e.observed.holderIdentity ?? "";
  if (holder === e.reportedLeader) return;
  e.reportedLeader = holder;
  if (holder === "") return;
  e.log.info("new leader observed", {
    lease: e.lock.describe,
    leader: holder,
  });
  callBack(e, "onNewLeader", () => e.options.onNewLeader?.(holder));
}

function clearWatchdog(e: Elector): void {
  if (e.watchdog !== undefined) clearTimeout(e.watchdog);
  e.watchdog = undefined;
}

/** Defence in depth: leadership ends when our own lease would have expired by the local clock. */
function armWatchdog(e: Elector): void {
  clearWatchdog(e);
  e.watchdog = setTimeout(() => {
    e.watchdog = undefined;
    loseLeadership(
      e,
      `no successful renewal within the lease duration (${e.leaseDurationMs} ms) by the local clock`,
    );
  }, Math.max(0, e.lastRenewAt + e.leaseDurationMs - e.now()));
}

function becomeLeader(e: Elector, renewedAt: number): void {
  e.leading = true;
  e.lastRenewAt = renewedAt;
  const leadership = e.leadership = new AbortController();
  armWatchdog(e);
  e.log.info("acquired leadership", {
    lease: e.lock.describe,
    identity: e.identity,
  });
  callBack(
    e,
    "onStartedLeading",
    () => e.options.onStartedLeading(leadership.signal),
  );
}

/** Ends leadership now: abort the leadership signal first so callers stop acting. Idempotent. */
function loseLeadership(e: Elector, reason: string): void {
  if (!e.leading) return;
  e.leading = false;
  clearWatchdog(e);
  const describe = e.lock.describe;
  e.leadership?.abort(new Error(`leadership of ${describe} ended: ${reason}`));
  e.log.warn("leadership ended", {
    lease: describe,
    identity: e.identity,
    reason,
  });
  callBack(e, "onStoppedLeading", () => e.options.onStoppedLeading?.());
}

/**
 * One round of client-go's tryAcquireOrRenew. Returns the time the written
 * record was stamped with on success, undefined otherwise (errors are logged,
 * never thrown). Requests stop at `deadlineAt`.
 */
async function tryAcquireOrRenew(
  e: Elector,
  reqSignal: AbortSignal,
  deadlineAt: number,
): Promise<number | undefined> {
  const request = () => ({
    signal: reqSignal,
    timeoutMs: Math.max(1, deadlineAt - e.now()),
  });
  const describe = e.lock.describe;
  const t = e.now();
  const stamp = microTime(new Date(t));
  const mine: LeaseSpec = {
    holderIdentity: e.identity,
    leaseDurationSeconds: e.leaseDurationSeconds,
    acquireTime: stamp,
    renewTime: stamp,
  };

  // 1. Fast path: the leader updates the object it last wrote, assuming it is current.
  const last = e.lock.current();
  if (last && holderIsMe(e) && leaseValid(e, t)) {
    try {
      const written = await e.lock.update({
        ...(last.spec ?? {}),
        ...mine,
        acquireTime: e.observed.acquireTime ?? stamp,
        leaseTransitions: e.observed.leaseTransitions ?? 0,
      }, request());
      setObserved(e, written.spec);
      return t;
    } catch (error) {
      if (reqSignal.aborted) return undefined;
      e.log.warn("optimistic lease update failed, falling back to GET", {
        lease: describe,
        error: errorText(error),
      });
    }
  }

  // 2. Read the Lease, creating it when missing.
  const current = await readOrCreate(e, mine, reqSignal, request);
  if (current === "created") return t;
  if (current === undefined) return undefined;

  // 3. Note the LOCAL time whenever the record changes: expiry is judged from it.
  const spec = current.spec ?? {};
  if (JSON.stringify(spec) !== e.observedRaw) setObserved(e, spec);
  const holder = spec.holderIdentity ?? "";
  if (holder !== "" && holder !== e.identity && leaseValid(e, e.now())) {
    return undefined;
  }

  // 4. Take over (or renew): the PUT carries the resourceVersion just read.
  const next: LeaseSpec = holder === e.identity
    ? {
      ...spec,
      ...mine,
      acquireTime: spec.acquireTime ?? stamp,
      leaseTransitions: spec.leaseTransitions ?? 0,
    }
    : { ...spec, ...mine, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 };
  try {
    const written = await e.lock.update(next, request());
    setObserved(e, written.spec);
    return t;
  } catch (error) {
    if (!reqSignal.aborted) {
      e.log.warn(
        isApiError(error, 409)
          ? "lost the race for the lease"
          : "updating the lease failed",
        { lease: describe, error: errorText(error) },
      );
    }
    return undefined;
  }
}

/**
 * Step 2 of a round: reads the Lease; when there is none, creates it with
 * us as the holder ("created"). Undefined when neither worked (logged).
 */
async function readOrCreate(
  e: Elector,
  mine: LeaseSpec,
  reqSignal: AbortSignal,
  request: () => { signal: AbortSignal; timeoutMs: number },
) {
  const describe = e.lock.describe;
  try {
    const current = await e.lock.get(request());
    if (current === undefined) {
      e.log.warn("reading the lease gave no object", { lease: describe });
    }
    return current;
  } catch (error) {
    if (reqSignal.aborted) return undefined;
    if (!isApiError(error, 404)) {
      e.log.warn("reading the lease failed", {
        lease: describe,
        error: errorText(error),
      });
      return undefined;
    }
  }
  try {
    const created = await e.lock.create(
      { ...mine, leaseTransitions: 0 },
      request(),
    );
    setObserved(e, created.spec);
    return "created" as const;
  } catch (createError) {
    if (!reqSignal.aborted) {
      e.log.warn("creating the lease failed", {
        lease: describe,
        error: errorText(createError),
      });
    }
    return undefined;
  }
}

/** Polls with jitter until the Lease is ours (true) or the caller aborts (false). */
async function acquire(e: Elector): Promise<boolean> {
  e.log.info("attempting to acquire leader lease", { lease: e.lock.describe });
  while (!e.signal.aborted) {
    const acquiredAt = await tryAcquireOrRenew(
      e,
      e.signal,
      e.now() + e.renewDeadlineMs,
    );
    reportTransition(e);
    if (acquiredAt !== undefined && !e.signal.aborted) {
      becomeLeader(e, acquiredAt);
      return true;
    }
    const wait = e.retryPeriodMs * (1 + e.random() * JITTER_FACTOR);
    if (!await sleep(wait, e.signal)) return false;
  }
  return false;
}

/** Renews every retry period until leadership is lost or the caller aborts. */
async function renew(e: Elector, term: AbortSignal): Promise<void> {
  const stop = AbortSignal.any([e.signal, term]);
  while (e.leading) {
    if (!await sleep(e.retryPeriodMs, stop)) return;
    // A round gives up at renewDeadline, or earlier if our lease would lapse first.
    const deadlineAt = Math.min(
      e.now() + e.renewDeadlineMs,
      e.lastRenewAt + e.leaseDurationMs,
    );
    const renewed = await renewWithin(e, stop, deadlineAt);
    if (renewed === "stop") return;
    if (!renewed) {
      loseLeadership(
        e,
        `failed to renew within the renew deadline (${e.renewDeadlineMs} ms)`,
      );
    }
  }
}

/**
 * Retries one renewal until `deadlineAt`: true when renewed, false when the
 * deadline passed, "stop" when aborted or another holder took the Lease.
 */
async function renewWithin(
  e: Elector,
  stop: AbortSignal,
  deadlineAt: number,
): Promise<boolean | "stop"> {
  while (e.leading) {
    if (e.now() >= deadlineAt) return false;
    const renewedAt = await tryAcquireOrRenew(e, stop, deadlineAt);
    reportTransition(e);
    if (stop.aborted) return "stop";
    if (renewedAt !== undefined) {
      e.lastRenewAt = renewedAt;
      armWatchdog(e);
      return true;
    }
    if (!holderIsMe(e)) {
      // Stricter than client-go, which retries until the deadline: another
      // holder in the Lease means we are not the leader, whatever our timers say.
      loseLeadership(
        e,
        `the lease is held by "${e.observed.holderIdentity ?? ""}"`,
      );
      return "stop";
    }
    if (e.now() >= deadlineAt) return false;
    if (
      !await sleep(Math.min(e.retryPeriodMs, deadlineAt - e.now()), stop)
    ) return "stop";
  }
  return false;
}

/** PUTs an empty holder, keeping leaseTransitions; retries 409 by re-reading, within a small budget. */
async function release(e: Elector): Promise<void> {
  const describe = e.lock.describe;
  const deadlineAt = e.now() + RELEASE_BUDGET_MS;
  const request = () => ({ timeoutMs: Math.max(1, deadlineAt - e.now()) });
  let current = e.lock.current();
  for (let attempt = 0; attempt < 5 && e.now() < deadlineAt; attempt++) {
    if (!current || (current.spec?.holderIdentity ?? "") !== e.identity) {
      return; // not ours (any more): nothing to release
    }
    const stamp = microTime(new Date(e.now()));
    try {
      const written = await e.lock.update({
        ...(current.spec ?? {}),
        holderIdentity: "",
        leaseDurationSeconds: 1,
        acquireTime: stamp,
        renewTime: stamp,
        leaseTransitions: current.spec?.leaseTransitions ?? 0,
      }, request());
      setObserved(e, written.spec);
      e.log.info("released leader lease", {
        lease: describe,
        identity: e.identity,
      });
      return;
    } catch (error) {
      if (isApiError(error, 404)) return;
      e.log.warn("releasing the lease failed", {
        lease: describe,
        error: errorText(error),
      });
      if (!isApiError(error, 409)) return;
    }
    try {
      current = await e.lock.get(request());
    } catch (error) {
      e.log.warn("re-reading the lease for release failed", {
        lease: describe,
        error: errorText(error),
      });
      return;
    }
  }
}
