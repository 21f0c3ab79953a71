/**
 * What a serving-policy check reads ({@linkcode PolicyInput}) and returns
 * ({@linkcode PolicyResult}: the reported check plus its effect on the
 * outcome), and the small constructors every check builds its result with.
 * Pure; no I/O.
 *
 * @example
 * ```ts
 * import { failing, none } from "./policy_result.ts";
 * none("pending-age", "skip", "not checked (no clock)").effect; // "none"
 * failing("san-ownership", "deny", "NodeNotFound", "no such node").check.result; // "fail"
 * ```
 *
 * @module
 */
import type { CheckResult, ReasonCode } from "./types.ts";
import type { NodeFacts } from "./node_facts.ts";
import type { CompiledPolicy } from "./policy.ts";

/** What the policy checks read about one CSR. */
export interface PolicyInput {
  /** Node name from the CN. */
  node?: string;
  /** DNS SANs as requested. */
  dnsNames?: readonly string[];
  /** IP SANs as the request parser wrote them. */
  ipAddresses?: readonly string[];
  /** `spec.expirationSeconds`, when set. */
  expirationSeconds?: number;
  /** `metadata.creationTimestamp`. */
  createdAt?: string;
  /** The clock; without it, time-based checks do not conclude. */
  now?: Date;
  /** Node facts; without them ownership is not checked. */
  nodes?: NodeFacts;
}

/** How a policy result bears on the outcome. */
export type PolicyEffect = "none" | "ignore" | "deny" | "wait";

/** One policy check's result and its effect. */
export interface PolicyResult {
  check: CheckResult;
  effect: PolicyEffect;
  /** For `wait`: when waiting ends and the verdict becomes final (ISO time). */
  retryAt?: string;
}

/** A named policy check. */
export interface PolicyRule {
  /** Stable rule id, the `rule` of its results. */
  id: string;
  check(policy: CompiledPolicy, input: PolicyInput): PolicyResult;
}

/**
 * A result with no effect: `pass` or `skip`.
 *
 * @example
 * ```ts
 * import { none } from "./policy_result.ts";
 * none("operator-policy", "skip", "no operator policy configured").check.result; // "skip"
 * ```
 */
export function none(rule: string, result: "pass" | "skip", message: string) {
  return { check: { rule, result, message }, effect: "none" as const };
}

/**
 * A failing result with its effect (and, for `wait`, when waiting ends).
 *
 * @example
 * ```ts
 * import { failing } from "./policy_result.ts";
 * failing("pending-age", "ignore", "TooOld", "CSR is too old").effect; // "ignore"
 * ```
 */
export function failing(
  rule: string,
  effect: Exclude<PolicyEffect, "none">,
  reason: ReasonCode,
  message: string,
  retryAt?: string,
): PolicyResult {
  return {
    check: { rule, result: "fail", reason, message },
    effect,
    ...(retryAt === undefined ? {} : { retryAt }),
  };
}

/**
 * `createdAt` in epoch milliseconds, or `undefined` when absent or unreadable.
 *
 * @example
 * ```ts
 * import { createdMs } from "./policy_result.ts";
 * createdMs({ createdAt: "1970-01-01T00:00:01Z" }); // 1000
 * ```
 */
export function createdMs(input: PolicyInput): number | undefined {
  if (typeof input.createdAt !== "string") return undefined;
  const ms = Date.parse(input.createdAt);
  return Number.isFinite(ms) ? ms : undefined;
}
