/**
 * DNS names for policy: the syntax a serving certificate's DNS SAN (and a
 * Node's DNS address) must have, and the one form two names are compared in.
 * Pure, and linear in the length of the input: Node addresses and SANs are
 * written by the node being judged, so nothing here may backtrack.
 *
 * @module
 */
import { quote } from "./text.ts";

/** Longest DNS name, without its optional trailing dot (RFC 1035 §2.3.4). */
export const MAX_DNS_NAME_LENGTH = 253;
/** Longest DNS label (RFC 1035 §2.3.4). */
export const MAX_DNS_LABEL_LENGTH = 63;

function isLetterOrDigit(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || // 0-9
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x61 && code <= 0x7a); // a-z
}

/**
 * Why `name` is not a valid DNS name, or `undefined` when it is: LDH labels
 * (ASCII letters, digits and hyphens, not starting or ending with a hyphen)
 * of 1 to 63 characters, at most 253 characters in all, one optional trailing
 * dot. Wildcards are not names: a caller that accepts `*.` strips it first.
 *
 * @example
 * ```ts
 * import { dnsNameSyntaxError } from "./dns_name.ts";
 * dnsNameSyntaxError("worker-1.example.com."); // undefined
 * dnsNameSyntaxError("localhost\u0000"); // 'character "\\u0000" at 9 is not a letter, digit, hyphen or dot'
 * ```
 */
export function dnsNameSyntaxError(name: string): string | undefined {
  if (typeof name !== "string") return `${typeof name} is not a DNS name`;
  if (name === "") return "the name is empty";
  const end = name.endsWith(".") ? name.length - 1 : name.length;
  if (end > MAX_DNS_NAME_LENGTH) {
    return `${end} characters long, expected at most ${MAX_DNS_NAME_LENGTH}`;
  }
  let labelStart = 0;
  for (let i = 0; i <= end; i++) {
    const code = i < end ? name.charCodeAt(i) : 0x2e;
    if (code === 0x2e) { // "."
      const label = name.slice(labelStart, i);
      if (label === "") {
        return i === 0 && end === 0
          ? "the name is only a dot"
          : `empty label at ${labelStart} (two dots in a row, or a leading dot)`;
      }
      if (label.length > MAX_DNS_LABEL_LENGTH) {
        return `label ${
          quote(label)
        } is ${label.length} characters long, expected 1 to ${MAX_DNS_LABEL_LENGTH}`;
      }
      if (label.startsWith("-") || label.endsWith("-")) {
        return `label ${quote(label)} starts or ends with a hyphen`;
      }
      labelStart = i + 1;
      continue;
    }
    if (!isLetterOrDigit(code) && code !== 0x2d) {
      return `character ${
        quote(name[i])
      } at ${i} is not a letter, digit, hyphen or dot`;
    }
  }
  return undefined;
}

/**
 * True when `name` is a valid DNS name (see {@linkcode dnsNameSyntaxError}).
 *
 * @example
 * ```ts
 * import { isValidDnsName } from "./dns_name.ts";
 * isValidDnsName("node-a"); // true
 * isValidDnsName("[::1]"); // false
 * ```
 */
export function isValidDnsName(name: string): boolean {
  return dnsNameSyntaxError(name) === undefined;
}

/**
 * The form DNS names are compared in: ASCII letters lower-cased (only ASCII:
 * `toLowerCase` would turn the Kelvin sign into `k`), trailing dots removed.
 * Linear in the length of `name`.
 *
 * @example
 * ```ts
 * import { canonicalDnsName } from "./dns_name.ts";
 * canonicalDnsName("KUBERNETES.default.svc."); // "kubernetes.default.svc"
 * ```
 */
export function canonicalDnsName(name: string): string {
  let end = name.length;
  while (end > 0 && name.charCodeAt(end - 1) === 0x2e) end--;
  const trimmed = end === name.length ? name : name.slice(0, end);
  return trimmed.replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
}
