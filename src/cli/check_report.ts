/**
 * `check`'s verdict as the operator reads it: the daemon's wait for a
 * missing Node made visible ({@linkcode withoutNodes}), the notes about the
 * input, and the two renderings, text ({@linkcode formatCheckReport}) and
 * JSON ({@linkcode formatCheckJson}).
 *
 * @module
 */
import { quote, quoteList } from "../core/text.ts";
import type { CheckResult, Decision } from "../core/types.ts";

/**
 * The verdict (and `san-ownership` line) when no `--node` was given: what
 * the daemon does without the Node, wait, and how to give it offline.
 */
export const OWNERSHIP_UNKNOWN =
  "waiting: ownership unknown, pass --node FILE (kubectl get nodes -o yaml)";

/**
 * Without Node facts the core skips `san-ownership`; the daemon, whose Node
 * cache always answers, would wait for the Node instead. So: an `approve`
 * becomes a `wait` (`NodeAddressesUnknown`), and the skipped line says why.
 * Any other verdict stands as the core decided it.
 *
 * @example
 * ```ts
 * import { withoutNodes } from "./check_report.ts";
 * const decision = withoutNodes({
 *   outcome: "approve",
 *   reason: "AutoApproved",
 *   message: "kubelet serving certificate for node worker-1 (DNS worker-1)",
 *   node: "worker-1",
 *   checks: [{ rule: "san-ownership", result: "skip", message: "no Node facts" }],
 * });
 * decision.reason; // "NodeAddressesUnknown"
 * ```
 */
export function withoutNodes(decided: Decision): Decision {
  const node = decided.node === undefined
    ? "the node"
    : `node ${quote(decided.node)}`;
  const message =
    `${OWNERSHIP_UNKNOWN} to check that every SAN is an address of ${node} and of no other Node`;
  const waits = decided.outcome === "approve";
  const checks: CheckResult[] = decided.checks.map((c) =>
    c.rule === "san-ownership" && c.result === "skip"
      ? waits
        ? {
          rule: c.rule,
          result: "fail",
          reason: "NodeAddressesUnknown",
          message,
        }
        : { rule: c.rule, result: "skip", message }
      : c
  );
  if (!waits) return { ...decided, checks };
  return {
    outcome: "wait",
    reason: "NodeAddressesUnknown",
    message,
    ...(decided.node === undefined ? {} : { node: decided.node }),
    checks,
  };
}

const OUTCOME_TEXT: Record<Decision["outcome"], string> = {
  approve: "approve",
  deny: "deny",
  wait: "wait",
  pending: "pending: left for a human",
  ignore: "ignore: not handled by the approver",
};

/**
 * The text report: the verdict line, then one line per check
 * (`  pass  rule  message`, `  FAIL  rule  Reason: message`), then notes.
 *
 * @example
 * ```ts
 * import { formatCheckReport } from "./check_report.ts";
 * const lines = formatCheckReport("csr-abc", {
 *   outcome: "deny",
 *   reason: "UsageMismatch",
 *   message: "usages are [client auth]",
 *   checks: [{ rule: "usages", result: "fail", reason: "UsageMismatch", message: "usages are [client auth]" }],
 * });
 * // lines[1] is "  FAIL  usages  UsageMismatch: usages are [client auth]"
 * ```
 */
export function formatCheckReport(
  name: string,
  decision: Decision,
  notes: readonly string[] = [],
): string[] {
  const shownName = quote(name).slice(1, -1);
  const verdict = decision.outcome === "approve"
    ? `APPROVABLE ${shownName}${
      decision.node === undefined
        ? ""
        : ` (node ${quote(decision.node).slice(1, -1)})`
    }: ${decision.message}`
    : `NOT APPROVABLE ${shownName}: ${decision.reason}: ${decision.message} (outcome ${
      OUTCOME_TEXT[decision.outcome] ?? decision.outcome
    }${decision.retryAt ? `, final at ${decision.retryAt}` : ""})`;
  const lines = [verdict];
  for (const c of decision.checks) {
    const result = c.result === "fail" ? "FAIL" : c.result;
    const message = c.result === "fail" && c.reason
      ? `${c.reason}: ${c.message}`
      : c.message;
    lines.push(`  ${result}  ${c.rule}  ${message}`);
  }
  for (const note of notes) lines.push(`note: ${note}`);
  return lines;
}

/**
 * The note when the `--node` files do not hold the CSR's node (at most 8 of
 * their names shown), or undefined when they do.
 *
 * @example
 * ```ts
 * import { missingNodeNote } from "./check_report.ts";
 * missingNodeNote("worker-1", ["worker-2"]); // 'no --node file holds node "worker-1", the CSR\'s node (they hold ["worker-2"])'
 * ```
 */
export function missingNodeNote(
  node: string,
  names: readonly string[],
): string | undefined {
  if (names.includes(node)) return undefined;
  return `no --node file holds node ${quote(node)}, the CSR's node (${
    names.length === 0
      ? "they hold no Node"
      : `they hold ${quoteList(names.slice(0, 8))}${
        names.length > 8 ? ` and ${names.length - 8} more` : ""
      }`
  })`;
}

/**
 * The JSON report (`--output json`): the CSR's name, the decision's fields,
 * and the notes when there are any; indented by two.
 *
 * @example
 * ```ts
 * import { formatCheckJson } from "./check_report.ts";
 * const json = formatCheckJson("csr-abc", {
 *   outcome: "deny",
 *   reason: "UsageMismatch",
 *   message: "usages are [client auth]",
 *   checks: [],
 * });
 * JSON.parse(json).csr; // "csr-abc"
 * ```
 */
export function formatCheckJson(
  name: string,
  decision: Decision,
  notes: readonly string[] = [],
): string {
  return JSON.stringify(
    {
      csr: name,
      ...decision,
      ...(notes.length > 0 ? { notes } : {}),
    },
    null,
    2,
  );
}
