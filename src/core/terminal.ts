/**
 * Whether a CSR is already out of the approver's hands: decided (a terminal
 * condition or a certificate) or being deleted. Read defensively from any
 * value, since it runs before the object is known to be well-formed.
 *
 * @module
 */
import type { ReasonCode } from "./types.ts";
import { isObject, type Json } from "./json.ts";
import { quote, quoteList } from "./text.ts";

const TERMINAL_CONDITIONS = ["Approved", "Denied", "Failed"];

/**
 * Why the CSR is already decided or going away, if it is.
 *
 * @example
 * ```ts
 * import { terminalState } from "./terminal.ts";
 * terminalState({ status: { certificate: "LS0t" } })?.reason; // "AlreadyDecided"
 * terminalState({ metadata: { deletionTimestamp: "2024-01-01T00:00:00Z" } })?.reason; // "Deleting"
 * terminalState({ status: {} }); // undefined
 * ```
 */
export function terminalState(
  csr: Json,
): { reason: ReasonCode; message: string } | undefined {
  const status = csr.status;
  if (isObject(status)) {
    const conditions = Array.isArray(status.conditions)
      ? status.conditions
      : [];
    // Any of the three types counts whatever its status field says: the API
    // only allows "True", and when unsure, leaving the CSR alone is safe.
    const types = conditions.filter(isObject).map((c) => c.type)
      .filter((t): t is string =>
        typeof t === "string" && TERMINAL_CONDITIONS.includes(t)
      );
    if (types.length > 0) {
      return {
        reason: "AlreadyDecided",
        message: `CSR already has condition ${quoteList(types)}`,
      };
    }
    if (
      status.certificate !== undefined && status.certificate !== null &&
      status.certificate !== ""
    ) {
      return {
        reason: "AlreadyDecided",
        message: "CSR already has a certificate",
      };
    }
  }
  const metadata = csr.metadata;
  if (
    isObject(metadata) && metadata.deletionTimestamp !== undefined &&
    metadata.deletionTimestamp !== null
  ) {
    return {
      reason: "Deleting",
      message: `CSR is being deleted (since ${
        quote(metadata.deletionTimestamp)
      })`,
    };
  }
  return undefined;
}

/**
 * True when a CSR is decided for good: it has an `Approved`, `Denied` or
 * `Failed` condition, or a certificate. Reads defensively; any input is
 * accepted (a CSR being deleted but undecided is not terminal).
 *
 * @example
 * ```ts
 * import { isTerminal } from "./terminal.ts";
 * isTerminal({ status: { conditions: [{ type: "Denied", status: "True" }] } }); // true
 * isTerminal({ status: { conditions: "garbage" } }); // false
 * ```
 */
export function isTerminal(csr: unknown): boolean {
  return isObject(csr) && terminalState(csr)?.reason === "AlreadyDecided";
}
