/**
 * Reconciles one CSR: inspect it with the pure core, ask the API server
 * whether the requester may have its serving certificate auto-approved (a
 * SubjectAccessReview), decide, and make at most one write: an `Approved`
 * condition, or a `Denied` one when `--deny-invalid` is on.
 *
 * @module
 */
import {
  type AuthorizationFact,
  decideServingRequest,
} from "../core/decision.ts";
import { inspectServingRequest } from "../core/inspect.ts";
import type {
  CertificateSigningRequest,
  CertificateSigningRequestCondition,
  Decision,
} from "../core/types.ts";
import { ApiError, isApiError } from "../kube/errors.ts";
import type { CompiledPolicy } from "../core/policy.ts";
import type { NodeFacts } from "../core/node_facts.ts";
import type { KubeClient } from "../kube/types.ts";
import type { Logger } from "../log.ts";
import { errorText } from "../util/error_text.ts";
import { rfc3339 } from "../util/time.ts";

/** Path of the CSR collection. */
export const CSR_PATH =
  "/apis/certificates.k8s.io/v1/certificatesigningrequests";

/** What reconciling one CSR did. */
export type ReconcileAction =
  | "approved"
  | "denied"
  | "left-pending"
  | "ignored"
  | "waiting"
  | "gone"
  | "not-leader";

/** The result of {@linkcode Approver.reconcile}. */
export interface ReconcileResult {
  action: ReconcileAction;
  decision?: Decision;
  /** The object after the write (or the fresher one read after a conflict). */
  object?: CertificateSigningRequest;
  /** True when the caller should retry later with backoff (transient failure). */
  retry?: boolean;
  /** With `retry`: not sooner than this (the server's `Retry-After`). */
  retryAfterMs?: number;
  /** Decide again after this many ms (a `wait` that becomes final then, or the storm guard). */
  requeueAfterMs?: number;
  error?: unknown;
}

/** Observes decisions (metrics). */
export interface DecisionObserver {
  decided(
    action: ReconcileAction,
    decision: Decision | undefined,
    csr: CertificateSigningRequest,
  ): void;
}

/** Options of {@linkcode createApprover}. */
export interface ApproverOptions {
  client: KubeClient;
  log: Logger;
  /** Decide and log, write nothing. */
  dryRun?: boolean;
  /** Write `Denied` on invalid requests from node requesters. */
  denyInvalid?: boolean;
  /** Virtual subresource checked by SubjectAccessReview. Default `selfnodeserver`. */
  subresource?: string;
  /** Name used in condition messages. */
  controllerName?: string;
  observer?: DecisionObserver;
  now?: () => Date;
  /** How many conflict refetches before giving up to the queue's backoff. */
  maxConflictRetries?: number;
  /** The compiled serving policy (default: the core's defaults). */
  policy?: CompiledPolicy;
  /** Node address facts; without them SAN ownership is not checked. */
  nodes?: NodeFacts;
  /** Writes are made only while this holds (leader election). Default: always. */
  mayWrite?: () => boolean;
  /** A message while the storm guard holds approvals back, else undefined. */
  stormGuard?: (csr: CertificateSigningRequest) => string | undefined;
  /** Called after each decision with what was done (Events). */
  onDecision?: (
    action: ReconcileAction,
    decision: Decision,
    csr: CertificateSigningRequest,
  ) => void;
}

/** A CSR reconciler. */
export interface Approver {
  reconcile(csr: CertificateSigningRequest): Promise<ReconcileResult>;
}

/** Longest `Retry-After` honoured: a bogus header must not park a CSR for hours. */
const MAX_RETRY_AFTER_MS = 60_000;

/** The server's `Retry-After` (429, some 503s) in ms, if `e` carries one. */
function retryAfterOf(e: unknown): number | undefined {
  return isApiError(e) && e.retryAfterSeconds !== undefined
    ? Math.min(MAX_RETRY_AFTER_MS, e.retryAfterSeconds * 1000)
    : undefined;
}

/**
 * The spec an approval write sends: only the signer's name. kube-apiserver
 * keeps the stored spec on `/approval` (its `csrApprovalStrategy`
 * `PrepareForUpdate` copies the old object's spec, before validation and
 * admission look at it), so nothing else needs to travel back, and the rest
 * (the request bytes above all) is most of the body: Deno's `fetch` sends a
 * body of 1 KiB or more in a second write, which Nagle's algorithm holds
 * until the server's delayed ACK (~40 ms on Linux; measured with 16
 * concurrent POSTs to `Deno.serve` over TLS: p50 3 ms with a 1,023-byte
 * body, 47 ms with 1,024). What is left is the metadata (its
 * resourceVersion, and labels and annotations, which a PUT would otherwise
 * clear) and the conditions.
 */
function approvalSpec(
  spec: CertificateSigningRequest["spec"],
): Pick<CertificateSigningRequest["spec"], "signerName"> {
  return { signerName: spec.signerName };
}

function csrPath(name: string, sub?: string): string {
  return `${CSR_PATH}/${encodeURIComponent(name)}${sub ? "/" + sub : ""}`;
}

/**
 * Creates an approver bound to a client.
 *
 * @example
 * Not run: needs a client of a live API server (tests/unit/controller/approver_test.ts uses a fake one).
 * ```ts ignore
 * import { createApprover } from "./approver.ts";
 * const approver = createApprover({ client, log });
 * const result = await approver.reconcile(csr);
 * console.log(result.action);
 * ```
 */
export function createApprover(options: ApproverOptions): Approver {
  const { client, log } = options;
  const subresource = options.subresource ?? "selfnodeserver";
  const controller = options.controllerName ?? "kubelet-rubber-stamp";
  const now = options.now ?? (() => new Date());
  const maxConflicts = options.maxConflictRetries ?? 5;
  const reported = new Map<string, string>();

  const authorize = async (
    csr: CertificateSigningRequest,
    onRetryAfter: (ms: number) => void,
  ): Promise<AuthorizationFact> => {
    try {
      const review = await client.request<
        {
          status?: {
            allowed?: boolean;
            denied?: boolean;
            reason?: string;
            evaluationError?: string;
          };
        }
      >({
        method: "POST",
        path: "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        body: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user: csr.spec.username,
            uid: csr.spec.uid,
            groups: csr.spec.groups,
            extra: csr.spec.extra,
            resourceAttributes: {
              group: "certificates.k8s.io",
              resource: "certificatesigningrequests",
              verb: "create",
              subresource,
            },
          },
        },
      });
      if (review?.status?.allowed === true) return { allowed: true };
      const why = review?.status?.reason || review?.status?.evaluationError ||
        "no RBAC rule allows it";
      return {
        allowed: false,
        reason:
          `${csr.spec.username} may not create certificatesigningrequests/${subresource}: ${why}`,
      };
    } catch (e) {
      const retryAfterMs = retryAfterOf(e);
      if (retryAfterMs !== undefined) onRetryAfter(retryAfterMs);
      return { error: errorText(e) };
    }
  };

  const write = async (
    csr: CertificateSigningRequest,
    condition: CertificateSigningRequestCondition,
  ): Promise<CertificateSigningRequest> => {
    const body = {
      ...csr,
      apiVersion: "certificates.k8s.io/v1",
      kind: "CertificateSigningRequest",
      spec: approvalSpec(csr.spec),
      status: {
        ...csr.status,
        conditions: [...(csr.status?.conditions ?? []), condition],
      },
    };
    return await client.request<CertificateSigningRequest>({
      method: "PUT",
      path: csrPath(csr.metadata.name, "approval"),
      body,
    });
  };

  const logDecision = (
    action: ReconcileAction,
    csr: CertificateSigningRequest,
    d: Decision,
    level: "info" | "debug" | "warn" = "info",
  ) => {
    log[level]("decision", {
      csr: csr.metadata.name,
      node: d.node,
      requester: csr.spec?.username,
      outcome: action,
      reason: d.reason,
      message: d.message,
      dryRun: options.dryRun || undefined,
    });
  };

  /** Logs a non-written verdict only once per resourceVersion. */
  const once = (csr: CertificateSigningRequest, d: Decision): boolean => {
    const key = `${d.outcome}/${d.reason}/${csr.metadata.resourceVersion}`;
    if (reported.get(csr.metadata.name) === key) return false;
    reported.set(csr.metadata.name, key);
    if (reported.size > 10_000) reported.delete(reported.keys().next().value!);
    return true;
  };

  const reconcileOnce = async (
    csr: CertificateSigningRequest,
  ): Promise<ReconcileResult | "conflict"> => {
    const at = now();
    // Set when the review was throttled: the retry must wait that long.
    let sarRetryAfterMs: number | undefined;
    const inspection = await inspectServingRequest(csr, { now: at });
    const facts = { policy: options.policy, nodes: options.nodes, now: at };
    // The pure decision first; only a request that would be approved costs
    // a SubjectAccessReview.
    let decision = decideServingRequest(inspection, {
      ...facts,
      authorization: "unchecked",
    });
    if (decision.outcome === "approve") {
      const storm = options.stormGuard?.(csr);
      if (storm) {
        decision = {
          ...decision,
          outcome: "pending",
          reason: "StormGuard",
          message: storm,
        };
        if (once(csr, decision)) {
          logDecision("left-pending", csr, decision, "warn");
        }
        options.observer?.decided("left-pending", decision, csr);
        return { action: "left-pending", decision };
      }
      decision = decideServingRequest(inspection, {
        ...facts,
        authorization: await authorize(csr, (ms) => sarRetryAfterMs = ms),
      });
    }
    const observe = (action: ReconcileAction) => {
      options.observer?.decided(action, decision, csr);
      options.onDecision?.(action, decision, csr);
    };
    switch (decision.outcome) {
      case "ignore":
        if (once(csr, decision)) logDecision("ignored", csr, decision, "debug");
        observe("ignored");
        return { action: "ignored", decision };
      case "wait": {
        const first = once(csr, decision);
        if (first) logDecision("waiting", csr, decision);
        if (first) observe("waiting");
        const retryAt = decision.retryAt ? Date.parse(decision.retryAt) : NaN;
        const requeueAfterMs = Number.isFinite(retryAt)
          ? Math.max(0, retryAt - at.getTime()) + 1000
          : undefined;
        return { action: "waiting", decision, requeueAfterMs };
      }
      case "pending":
        if (decision.reason === "AuthorizationError") {
          log.warn("authorization check failed; will retry", {
            csr: csr.metadata.name,
            error: decision.message,
          });
          return {
            action: "left-pending",
            decision,
            retry: true,
            error: decision.message,
            retryAfterMs: sarRetryAfterMs,
          };
        }
        if (once(csr, decision)) {
          logDecision("left-pending", csr, decision, "warn");
        }
        observe("left-pending");
        return { action: "left-pending", decision };
      case "deny":
        if (!options.denyInvalid) {
          if (once(csr, decision)) {
            logDecision("left-pending", csr, decision, "warn");
          }
          observe("left-pending");
          return { action: "left-pending", decision };
        }
        break;
      case "approve":
        break;
    }
    const approve = decision.outcome === "approve";
    const action: ReconcileAction = approve ? "approved" : "denied";
    if (options.dryRun) {
      if (once(csr, decision)) logDecision(action, csr, decision);
      observe(action);
      return { action, decision };
    }
    if (options.mayWrite && !options.mayWrite()) {
      // Leadership was lost while deciding: the new leader decides again.
      return { action: "not-leader", decision };
    }
    const condition: CertificateSigningRequestCondition = {
      type: approve ? "Approved" : "Denied",
      status: "True",
      reason: decision.reason,
      message: `${
        approve ? "Auto-approved" : "Denied"
      } by ${controller}: ${decision.message}`,
      lastUpdateTime: rfc3339(now()),
    };
    try {
      const updated = await write(csr, condition);
      logDecision(action, csr, decision, approve ? "info" : "warn");
      observe(action);
      return { action, decision, object: updated };
    } catch (e) {
      if (isApiError(e, 409)) return "conflict";
      if (isApiError(e, 404)) return { action: "gone", decision };
      return {
        action: "left-pending",
        decision,
        retry: true,
        error: e,
        retryAfterMs: retryAfterOf(e),
      };
    }
  };

  return {
    async reconcile(csr) {
      let current = csr;
      for (let attempt = 0; attempt <= maxConflicts; attempt++) {
        const result = await reconcileOnce(current);
        if (result !== "conflict") return result;
        // Someone else changed the CSR since we read it (maybe a human
        // denied it): read it again and decide again from scratch.
        try {
          current = await client.request<CertificateSigningRequest>({
            method: "GET",
            path: csrPath(current.metadata.name),
          });
        } catch (e) {
          if (isApiError(e, 404)) return { action: "gone" };
          return {
            action: "left-pending",
            retry: true,
            error: e,
            retryAfterMs: retryAfterOf(e),
          };
        }
      }
      return {
        action: "left-pending",
        object: current,
        retry: true,
        error: new ApiError({
          status: 409,
          reason: "Conflict",
          message: `still conflicting after ${maxConflicts} refetches`,
          method: "PUT",
          path: csrPath(current.metadata.name, "approval"),
        }),
      };
    },
  };
}
