/**
 * Untrusted values in messages: every CSR field, Node address or flag value
 * that reaches a log line, an Event or `check`'s report goes through here, so
 * that a hostile value can neither forge a line (newlines, bidi overrides,
 * zero-width characters) nor flood it (long values are cut). Pure; no I/O.
 *
 * @module
 */

const MAX_QUOTED = 128;
const MAX_LISTED = 16;

// C0/C1 controls, DEL, Unicode format characters (bidi overrides, zero-width
// joiners, ...) and line/paragraph separators.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/**
 * Quotes an untrusted value for a message: JSON string syntax, with every
 * control or invisible formatting character escaped (so a value cannot forge
 * log lines or reorder text) and long values cut.
 *
 * @example
 * ```ts
 * import { quote } from "./text.ts";
 * quote("system:node:a\n"); // "\"system:node:a\\n\""
 * quote(undefined); // "(none)"
 * ```
 */
export function quote(value: unknown): string {
  if (value === undefined) return "(none)";
  let text = typeof value === "string" ? value : stringify(value);
  if (text.length > MAX_QUOTED) text = `${text.slice(0, MAX_QUOTED)}…`;
  const json = typeof value === "string" ? JSON.stringify(text) : text;
  return escapeInvisible(json);
}

/** JSON text of any value; never throws (BigInt, cycles, hostile toString). */
function stringify(value: unknown): string {
  try {
    return String(JSON.stringify(value));
  } catch {
    try {
      return String(value);
    } catch {
      return "(unprintable)";
    }
  }
}

/**
 * Quotes a list of untrusted values with {@linkcode quote}, at most 16 shown.
 *
 * @example
 * ```ts
 * import { quoteList } from "./text.ts";
 * quoteList(["system:nodes", "evil"]); // "[\"system:nodes\",\"evil\"]"
 * ```
 */
export function quoteList(values: readonly unknown[]): string {
  const shown = values.slice(0, MAX_LISTED).map(quote);
  if (values.length > MAX_LISTED) {
    shown.push(`… ${values.length - MAX_LISTED} more`);
  }
  return `[${shown.join(",")}]`;
}

/**
 * Escapes every control or invisible formatting character as `\uXXXX`,
 * leaving the rest of `text` as it is (no quotes added, nothing cut).
 *
 * @example
 * ```ts
 * import { escapeInvisible } from "./text.ts";
 * escapeInvisible("a\nb"); // "a\\u000ab"
 * ```
 */
export function escapeInvisible(text: string): string {
  return text.replace(
    INVISIBLE,
    (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, "0")}`,
  );
}

/**
 * True when `text` contains a control or invisible formatting character.
 *
 * @example
 * ```ts
 * import { hasInvisible } from "./text.ts";
 * hasInvisible("worker\u202e1"); // true
 * hasInvisible("worker-1"); // false
 * ```
 */
export function hasInvisible(text: string): boolean {
  INVISIBLE.lastIndex = 0;
  const found = INVISIBLE.test(text);
  INVISIBLE.lastIndex = 0;
  return found;
}

/**
 * `DNS a, b; IP 10.0.0.1` with every value escaped, for messages.
 *
 * @example
 * ```ts
 * import { describeSans } from "./text.ts";
 * describeSans({ dnsNames: ["worker-1"], ipAddresses: ["10.0.0.1"] }); // "DNS worker-1; IP 10.0.0.1"
 * ```
 */
export function describeSans(
  sans: { dnsNames: readonly string[]; ipAddresses: readonly string[] },
): string {
  const list = (values: readonly string[]) => {
    const shown = values.slice(0, MAX_LISTED).map((v) =>
      escapeInvisible(v.length > MAX_QUOTED ? `${v.slice(0, MAX_QUOTED)}…` : v)
    );
    if (values.length > MAX_LISTED) {
      shown.push(`… ${values.length - MAX_LISTED} more`);
    }
    return shown.join(", ");
  };
  const parts: string[] = [];
  if (sans.dnsNames.length > 0) parts.push(`DNS ${list(sans.dnsNames)}`);
  if (sans.ipAddresses.length > 0) parts.push(`IP ${list(sans.ipAddresses)}`);
  return parts.length > 0 ? parts.join("; ") : "none";
}
