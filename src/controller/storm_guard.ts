/**
 * The storm guard: while more kubelet-serving CSRs are pending than there are
 * Nodes plus `--max-pending-surplus`, approvals are held back. A flood of
 * requests is not what a healthy cluster sends (each kubelet asks for one
 * certificate at a time), so approving it wholesale is the riskier choice.
 *
 * Apart from the daemon so the rule and its on/off episodes can be tested
 * from plain numbers: {@linkcode stormVerdict} is the rule,
 * {@linkcode createStormGuard} remembers whether an episode is on and says
 * each change once.
 *
 * @module
 */
import type { CertificateSigningRequest } from "../core/types.ts";
import type { Logger } from "../log.ts";

/** What the guard says about the backlog now. */
export interface StormVerdict {
  /** Approvals are held back. */
  active: boolean;
  /** The reason given to held-back CSRs (and in the episode's Event). */
  message: string;
}

/**
 * The rule: held back when `pending > nodes + maxPendingSurplus`.
 *
 * @example
 * ```ts
 * import { stormVerdict } from "./storm_guard.ts";
 * stormVerdict(12, 10, 1).active; // true
 * stormVerdict(11, 10, 1).active; // false
 * ```
 */
export function stormVerdict(
  pending: number,
  nodes: number,
  maxPendingSurplus: number,
): StormVerdict {
  return {
    active: pending > nodes + maxPendingSurplus,
    message:
      `${pending} pending kubelet-serving CSRs exceed ${nodes} Nodes + ` +
      `${maxPendingSurplus} (--max-pending-surplus); approvals are held back until the backlog shrinks`,
  };
}

/** Options of {@linkcode createStormGuard}. */
export interface StormGuardOptions {
  /** Pending kubelet-serving CSRs known now. */
  pendingCount: () => number;
  /** Nodes known now. */
  nodeCount: () => number;
  maxPendingSurplus: number;
  log: Logger;
  /**
   * Called when an episode starts (`active` true, with the CSR that tripped
   * it) or ends: the gauge and the episode's one Event.
   */
  onChange?: (
    active: boolean,
    csr: CertificateSigningRequest,
    message: string,
  ) => void;
}

/** The approver's `stormGuard`: the hold-back message, or undefined to go on. */
export type StormGuard = (csr: CertificateSigningRequest) => string | undefined;

/**
 * Creates the guard the approver asks before each approval.
 *
 * @example
 * ```ts
 * import { createLogger } from "../log.ts";
 * import { createStormGuard } from "./storm_guard.ts";
 * let pending = 5;
 * const guard = createStormGuard({
 *   pendingCount: () => pending, nodeCount: () => 3, maxPendingSurplus: 1,
 *   log: createLogger({ level: "error", write: () => {} }),
 * });
 * const csr = { metadata: { name: "csr-1" } } as never;
 * guard(csr); // "5 pending kubelet-serving CSRs exceed 3 Nodes + 1 …"
 * pending = 4;
 * guard(csr); // undefined
 * ```
 */
export function createStormGuard(options: StormGuardOptions): StormGuard {
  const { log, maxPendingSurplus } = options;
  let on = false;
  return (csr) => {
    const pending = options.pendingCount();
    const nodes = options.nodeCount();
    const { active, message } = stormVerdict(pending, nodes, maxPendingSurplus);
    if (active !== on) {
      on = active;
      const fields = { pending, nodes, maxPendingSurplus };
      if (active) log.error("storm guard on: approvals held back", fields);
      else log.info("storm guard off: approving again", fields);
      options.onChange?.(active, csr, message);
    }
    return active ? message : undefined;
  };
}
