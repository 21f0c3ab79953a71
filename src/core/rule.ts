/**
 * What a rule is: the input every kubelet-serving rule reads, and the
 * {@linkcode CheckResult}s rules and the decision steps build. The rules
 * themselves live by concept (`rules.ts`, `requester.ts`, `key_policy.ts`);
 * this file is what they share, so that none of them imports another.
 *
 * @module
 */
import type { CheckResult, ReasonCode } from "./types.ts";
import type { ParsedRequest } from "./request.ts";

/** What the rules read: the parsed request and the requester fields of `spec`. */
export interface RuleInput {
  request: ParsedRequest;
  spec: {
    username?: string;
    groups?: string[];
    usages?: string[];
  };
}

/** A named rule. */
export interface Rule {
  /** Stable kebab-case id, the `rule` of its results. */
  id: string;
  check(input: RuleInput): CheckResult;
}

/**
 * One check's result; `reason` is left out when not given (a pass or skip).
 *
 * @example
 * ```ts
 * import { checkResult } from "./rule.ts";
 * checkResult("state", "pass", "CSR is pending"); // { rule: "state", result: "pass", message: "CSR is pending" }
 * ```
 */
export function checkResult(
  rule: string,
  result: CheckResult["result"],
  message: string,
  reason?: ReasonCode,
): CheckResult {
  return reason === undefined
    ? { rule, result, message }
    : { rule, result, reason, message };
}

/**
 * A passing result of `rule`.
 *
 * @example
 * ```ts
 * import { pass } from "./rule.ts";
 * pass("usages", "usages are fine").result; // "pass"
 * ```
 */
export function pass(rule: string, message: string): CheckResult {
  return { rule, result: "pass", message };
}

/**
 * A failing result of `rule`, with its reason code.
 *
 * @example
 * ```ts
 * import { fail } from "./rule.ts";
 * fail("usages", "UsageMismatch", "usages are [client auth]").reason; // "UsageMismatch"
 * ```
 */
export function fail(
  rule: string,
  reason: ReasonCode,
  message: string,
): CheckResult {
  return { rule, result: "fail", reason, message };
}
