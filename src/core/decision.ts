/**
 * The decision for one CSR, in two pure steps:
 *
 * 1. `inspectServingRequest` (`inspect.ts`): everything that can be
 *    known from the object alone (is it ours, is it already decided, is it
 *    well-formed, do Kubernetes' kubelet-serving rules hold). Async only for
 *    Web Crypto.
 * 2. {@linkcode decideServingRequest} (here): adds the facts the caller
 *    gathered (Node addresses, the clock, the SubjectAccessReview), applies
 *    the serving policy (`policy_checks.ts`), and returns the final
 *    {@linkcode Decision}.
 *
 * Neither throws, whatever the input: one odd CSR must never stop the
 * controller, and doubt never turns into an approval.
 *
 * @module
 */
import type { CheckResult, Decision, ReasonCode } from "./types.ts";
import { errorText } from "./error_text.ts";
import type { Inspection } from "./inspect.ts";
import { isObject } from "./json.ts";
import {
  type CompiledPolicy,
  compileServingPolicy,
  defaultServingPolicy,
} from "./policy.ts";
import type { NodeFacts } from "./node_facts.ts";
import type { PolicyInput, PolicyResult } from "./policy_result.ts";
import { evaluateServingPolicy } from "./policy_checks.ts";
import { checkResult } from "./rule.ts";
import { quote } from "./text.ts";

/** The outcome of the SubjectAccessReview, or `unchecked` when offline. */
export type AuthorizationFact =
  | "unchecked"
  | { allowed: true }
  | { allowed: false; reason: string }
  | { error: string };

/** Facts gathered by I/O that the final decision needs. */
export interface DecisionFacts {
  /** The SubjectAccessReview result, or `unchecked` (first pass, or offline). */
  authorization: AuthorizationFact;
  /**
   * The compiled serving policy. Default: the compiled
   * {@linkcode defaultServingPolicy} (protected names always apply).
   */
  policy?: CompiledPolicy;
  /** Node address facts; without them `san-ownership` is `skip`. */
  nodes?: NodeFacts;
  /** The clock; without it `pending-age` is `skip` and waits never end. */
  now?: Date;
}

// Compiling the built-in defaults cannot fail.
const DEFAULT_POLICY = compileServingPolicy(
  defaultServingPolicy(),
) as CompiledPolicy;

function isCompiledPolicy(value: unknown): value is CompiledPolicy {
  return isObject(value) && value.compiled === true;
}

/**
 * Final decision: the inspection's verdict, the serving policy
 * (`policy_checks.ts`) and the authorization fact. Pure and synchronous; never
 * throws.
 *
 * Evaluation: inspection `ignore` (or internal `pending`) is returned as is;
 * otherwise every policy check runs (`pending-age`, `protected-names`,
 * `operator-policy`, `san-ownership`) and the outcome follows the precedence
 * ignore > final deny > wait > authorization:
 *
 * - `pending-age` fails → `ignore` (`TooOld`), even for an invalid request;
 * - the inspection denied → that deny, unchanged (policy results explain);
 * - a policy check denies → `deny` with its reason;
 * - `san-ownership` waits → `wait`, with `retryAt` when it becomes final;
 * - then authorization: `{ allowed: true }` → approve (`AutoApproved`);
 *   `{ allowed: false }` → `pending` (`Unauthorized`), never denied;
 *   `{ error }` → `pending` (`AuthorizationError`), the caller retries;
 *   `"unchecked"` → approve with the authorization check `skip`.
 *
 * The daemon calls this with `authorization: "unchecked"` first and makes
 * the SubjectAccessReview only when that returns `approve`.
 *
 * @example
 * ```ts
 * import { decideServingRequest } from "./decision.ts";
 * import { inspectServingRequest } from "./inspect.ts";
 * const inspection = await inspectServingRequest({
 *   metadata: { name: "csr-1" },
 *   spec: { signerName: "kubernetes.io/kubelet-serving", username: "system:node:a", request: 42 },
 * });
 * const first = decideServingRequest(inspection, { authorization: "unchecked", now: new Date() });
 * first.outcome; // "deny": spec.request is no string (MalformedObject)
 * ```
 */
export function decideServingRequest(
  inspection: Inspection,
  facts: DecisionFacts,
): Decision {
  const verdict = inspection.verdict;
  if (
    verdict.outcome !== "deny" &&
    !(verdict.outcome === "approve" && inspection.needsAuthorization)
  ) {
    return { ...verdict, checks: [...verdict.checks] };
  }
  try {
    return decideWithPolicy(inspection, facts);
  } catch (error) {
    // A throwing NodeFacts or a bad policy object: leave the CSR for a human
    // rather than decide on half the facts.
    const message = `internal error while deciding: ${quote(errorText(error))}`;
    return {
      outcome: "pending",
      reason: "MalformedObject",
      message,
      ...(inspection.node === undefined ? {} : { node: inspection.node }),
      checks: [
        ...verdict.checks,
        checkResult("internal", "fail", message, "MalformedObject"),
      ],
    };
  }
}

/** Node facts, clock and policy read defensively from `facts`. */
function policyResults(
  inspection: Inspection,
  facts: DecisionFacts,
): PolicyResult[] {
  const supplied: unknown = isObject(facts) ? facts.policy : undefined;
  if (supplied !== undefined && !isCompiledPolicy(supplied)) {
    throw new Error(
      "facts.policy is not a compiled policy (use compileServingPolicy)",
    );
  }
  const policy = supplied ?? DEFAULT_POLICY;
  const now = isObject(facts) && facts.now instanceof Date
    ? facts.now
    : undefined;
  const nodes = isObject(facts)
    ? facts.nodes as NodeFacts | undefined
    : undefined;
  const request = inspection.request;
  const input: PolicyInput = {
    node: inspection.node,
    dnsNames: request?.dnsNames,
    ipAddresses: request?.ipAddresses,
    expirationSeconds: inspection.expirationSeconds,
    createdAt: inspection.createdAt,
    now,
    nodes,
  };
  // Without a readable request and node name only the age can be judged.
  return request && inspection.node !== undefined
    ? evaluateServingPolicy(policy, input)
    : evaluateServingPolicy(policy, input).filter((r) =>
      r.check.rule === "pending-age"
    );
}

/** The precedence: ignore > the inspection's deny > policy deny > wait > authorization. */
function decideWithPolicy(
  inspection: Inspection,
  facts: DecisionFacts,
): Decision {
  const verdict = inspection.verdict;
  const results = policyResults(inspection, facts);
  const node = inspection.node === undefined ? {} : { node: inspection.node };
  const checks = [...verdict.checks, ...results.map((r) => r.check)];
  const from = (
    result: PolicyResult,
    outcome: Decision["outcome"],
    extra: CheckResult[] = [],
  ): Decision => ({
    outcome,
    reason: result.check.reason ?? "PolicyViolation",
    message: result.check.message,
    ...node,
    ...(result.retryAt === undefined ? {} : { retryAt: result.retryAt }),
    checks: [...checks, ...extra],
  });

  const ignored = results.find((r) => r.effect === "ignore");
  if (ignored) return from(ignored, "ignore");
  if (verdict.outcome === "deny") return { ...verdict, checks };
  const rule = "authorization";
  const denied = results.find((r) => r.effect === "deny");
  if (denied) {
    return from(denied, "deny", [
      checkResult(rule, "skip", `not checked (${denied.check.rule} denied)`),
    ]);
  }
  const waiting = results.find((r) => r.effect === "wait");
  if (waiting) {
    return from(waiting, "wait", [
      checkResult(
        rule,
        "skip",
        `not checked (${waiting.check.rule} is waiting)`,
      ),
    ]);
  }
  const auth: unknown = isObject(facts) ? facts.authorization : undefined;
  const decided = authorize(auth, verdict);
  return {
    outcome: decided.outcome,
    reason: decided.reason,
    message: decided.message,
    ...node,
    checks: [...checks, decided.check],
  };
}

/** The last step: the authorization fact, read defensively, decides. */
function authorize(
  auth: unknown,
  verdict: Decision,
): Pick<Decision, "outcome" | "reason" | "message"> & { check: CheckResult } {
  const rule = "authorization";
  if (auth === "unchecked") {
    return {
      outcome: verdict.outcome,
      reason: verdict.reason,
      message: verdict.message,
      check: checkResult(rule, "skip", "not checked (offline)"),
    };
  }
  if (isObject(auth) && auth.allowed === true) {
    return {
      outcome: "approve",
      reason: "AutoApproved",
      message: verdict.message,
      check: checkResult(
        rule,
        "pass",
        "requester is authorized to have kubelet serving certificates approved",
      ),
    };
  }
  if (isObject(auth) && auth.allowed === false) {
    const message = `requester is not authorized for automatic approval (${
      quote(
        typeof auth.reason === "string" && auth.reason !== ""
          ? auth.reason
          : "no reason given",
      )
    }); left for a human`;
    return pending("Unauthorized", message);
  }
  const error = isObject(auth) && typeof auth.error === "string"
    ? auth.error
    : `unrecognized authorization fact ${quote(auth)}`;
  const message = `authorization could not be checked: ${
    quote(error)
  }; will retry`;
  return pending("AuthorizationError", message);
}

/** Left pending: the authorization check failed with `reason`. */
function pending(reason: ReasonCode, message: string) {
  return {
    outcome: "pending" as const,
    reason,
    message,
    check: checkResult("authorization", "fail", message, reason),
  };
}
