/**
 * The CSR controller: a reflector keeps a cache of pending kubelet-serving
 * CSRs, every change enqueues the CSR's name, and workers reconcile names
 * from the queue with the approver. Terminal CSRs leave the cache.
 *
 * @module
 */
import { KUBELET_SERVING_SIGNER } from "../core/inspect.ts";
import { isTerminal } from "../core/terminal.ts";
import type { CertificateSigningRequest } from "../core/types.ts";
import { linkSignals } from "../kube/abort.ts";
import { type RestartCause, runReflector } from "../kube/reflector.ts";
import type { KubeClient } from "../kube/types.ts";
import type { Logger } from "../log.ts";
import { errorText } from "../util/error_text.ts";
import { type Approver, CSR_PATH, type ReconcileResult } from "./approver.ts";
import { trimForCache } from "./csr_trim.ts";
import { createWorkQueue, type WorkQueue } from "./queue.ts";

/** Options of {@linkcode startController}. */
export interface ControllerOptions {
  client: KubeClient;
  approver: Approver;
  log: Logger;
  signal: AbortSignal;
  /** Parallel reconciles. Default 4. */
  concurrency?: number;
  /** Reflector tuning (tests shorten these). */
  watchTimeoutSeconds?: () => number;
  watchGraceMs?: number;
  backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number };
  retry?: { baseDelayMs?: number; maxDelayMs?: number };
  pageSize?: number;
  onRestart?: (kind: "relist" | "watch", cause: RestartCause) => void;
  onReconciled?: (name: string, result: ReconcileResult) => void;
  /** Reconcile only while this holds (leader election); default always. */
  isLeader?: () => boolean;
  /** Decide waiting CSRs again when their wait ends. Default true (off for --once). */
  requeueWaits?: boolean;
}

/** A running controller. */
export interface Controller {
  /** True once the first list has been received. */
  synced(): boolean;
  /** Resolves on first sync (or never, if it never syncs). */
  whenSynced(): Promise<void>;
  /** Time (ms epoch) of the last sign of life from the watch. */
  lastProgress(): number;
  /** Pending kubelet-serving CSRs known now. */
  pending(): CertificateSigningRequest[];
  /** Number of pending kubelet-serving CSRs known now. */
  pendingCount(): number;
  /** Queues every cached CSR again (on becoming leader). */
  resync(): void;
  /** Queues the CSRs waiting for Node facts again (a Node changed). */
  nodesChanged(): void;
  queue: WorkQueue;
  /** Stops the watch and drains in-flight work (bounded). */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * True when a Node change may change the verdict: a CSR waiting for its Node,
 * or left pending because a SAN is contested or another Node's (the claim
 * may be withdrawn). These are decided again on every Node change.
 */
function dependsOnNodes(result: ReconcileResult): boolean {
  if (result.action === "waiting") return true;
  const reason = result.decision?.reason;
  return result.action === "left-pending" &&
    (reason === "SANContested" || reason === "SANNotOwnedByNode");
}

/**
 * Starts watching and reconciling.
 *
 * @example
 * Not run: needs a client of a live API server (tests/unit/controller/controller_test.ts uses a fake one).
 * ```ts ignore
 * import { startController } from "./controller.ts";
 * const controller = startController({ client, approver, log, signal });
 * await controller.whenSynced();
 * ```
 */
export function startController(options: ControllerOptions): Controller {
  const { log } = options;
  const cache = new Map<string, CertificateSigningRequest>();
  let synced = false;
  let lastProgress = Date.now();
  let resolveSynced!: () => void;
  const syncedPromise = new Promise<void>((r) => resolveSynced = r);
  // Stopping is its own abort, linked to the caller's (see kube/abort.ts).
  const stopping = linkSignals(options.signal);
  const waiting = new Set<string>();
  // CSRs the storm guard held back: decided again whenever the backlog
  // shrinks or the Nodes change, rather than polled.
  const held = new Set<string>();
  const releaseHeld = () => {
    for (const name of held) queue.add(name);
    held.clear();
  };
  const isLeader = options.isLeader ?? (() => true);
  const signal = stopping.signal;

  const queue = createWorkQueue({
    concurrency: options.concurrency ?? 4,
    baseDelayMs: options.retry?.baseDelayMs,
    maxDelayMs: options.retry?.maxDelayMs,
    onRetry: (key, error, delayMs, attempt) =>
      log.warn("reconcile failed; retrying", {
        csr: key,
        error: errorText(error),
        delayMs: Math.round(delayMs),
        attempt,
      }),
    async process(name) {
      const csr = cache.get(name);
      if (!csr) {
        waiting.delete(name);
        return;
      }
      // A follower keeps its cache warm but decides nothing: the leader does.
      if (!isLeader()) return;
      const result = await options.approver.reconcile(csr);
      options.onReconciled?.(name, result);
      if (dependsOnNodes(result)) waiting.add(name);
      else waiting.delete(name);
      if (result.decision?.reason === "StormGuard") held.add(name);
      if (result.action === "gone") {
        forget(name);
      } else if (result.object) {
        observe(trimForCache(result.object), false);
      }
      if (result.retry) {
        return {
          retry: true,
          error: result.error,
          retryAfterMs: result.retryAfterMs,
        };
      }
      if (
        result.requeueAfterMs !== undefined && options.requeueWaits !== false
      ) {
        return { requeueAfterMs: result.requeueAfterMs };
      }
    },
  });

  /** Drops a CSR that is no longer pending; the backlog shrank. */
  function forget(name: string) {
    const had = cache.delete(name);
    waiting.delete(name);
    held.delete(name);
    if (had && held.size > 0) releaseHeld();
  }

  /** Caches `csr` while it is pending, and queues it when asked. */
  function observe(csr: CertificateSigningRequest, enqueue: boolean) {
    const name = csr?.metadata?.name;
    if (typeof name !== "string") return;
    if (csr.spec?.signerName !== KUBELET_SERVING_SIGNER || isTerminal(csr)) {
      forget(name);
      return;
    }
    const known = cache.get(name);
    if (
      known &&
      known.metadata.resourceVersion === csr.metadata.resourceVersion &&
      !enqueue
    ) return;
    cache.set(name, csr);
    if (enqueue) queue.add(name);
  }

  const reflector = runReflector<CertificateSigningRequest>({
    client: options.client,
    path: CSR_PATH,
    fieldSelector: `spec.signerName=${KUBELET_SERVING_SIGNER}`,
    signal,
    pageSize: options.pageSize,
    watchTimeoutSeconds: options.watchTimeoutSeconds,
    watchGraceMs: options.watchGraceMs,
    backoff: options.backoff,
    transform: trimForCache,
    handler: {
      replace(items) {
        const seen = new Set<string>();
        for (const csr of items) {
          seen.add(csr.metadata.name);
          observe(csr, true);
        }
        for (const name of [...cache.keys()]) {
          if (!seen.has(name)) forget(name);
        }
      },
      added: (csr) => observe(csr, true),
      modified: (csr) => observe(csr, true),
      deleted: (csr) => forget(csr.metadata.name),
    },
    onSynced() {
      synced = true;
      resolveSynced();
      log.info("CSR cache synced", { pending: cache.size });
    },
    onProgress() {
      lastProgress = Date.now();
    },
    onError(phase, error) {
      log.warn(`${phase} failed`, {
        resource: "certificatesigningrequests",
        error: errorText(error),
      });
    },
    onRestart(kind, cause) {
      lastProgress = Date.now();
      if (cause !== "closed") {
        log.info(kind === "relist" ? "listing CSRs" : "restarting CSR watch", {
          cause,
        });
      }
      options.onRestart?.(kind, cause);
    },
  });

  return {
    synced: () => synced,
    whenSynced: () => syncedPromise,
    lastProgress: () => lastProgress,
    pending: () => [...cache.values()],
    pendingCount: () => cache.size,
    resync() {
      for (const name of cache.keys()) queue.add(name);
    },
    nodesChanged() {
      for (const name of waiting) queue.add(name);
      releaseHeld();
    },
    queue,
    async stop(timeoutMs = 4_000) {
      stopping.abort();
      await Promise.all([reflector, queue.shutdown(timeoutMs)]);
    },
  };
}
