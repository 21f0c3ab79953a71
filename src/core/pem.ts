/**
 * Strict base64 and PEM: exactly one block of the expected type, nothing
 * around it but whitespace, a body of canonical base64. Pure; no I/O.
 *
 * Strict because what is signed is the DER, not its text: a lenient reader
 * would let many texts stand for one request and hide bytes nobody checks.
 * (`kube/config.ts` decodes kubeconfig `*-data` fields leniently, as
 * client-go does, and `kube/` may not import `core/`: that is a different
 * contract, not a copy of this one.)
 *
 * @example
 * ```ts
 * import { decodeBase64Strict, readPem } from "./pem.ts";
 * const text = "-----BEGIN THING-----\nAQID\n-----END THING-----\n";
 * readPem(new TextEncoder().encode(text), "THING", "input"); // Uint8Array [1, 2, 3]
 * decodeBase64Strict("AQI"); // undefined (not padded)
 * ```
 *
 * @module
 */

// Whitespace may wrap base64 (PEM bodies, hand-made YAML); nothing else may appear.
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const WRAPPING = /[ \t\r\n]+/g;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Canonical, padded base64 (whitespace wrapping allowed) → bytes, or
 * `undefined` for anything else (missing padding, stray characters,
 * non-zero trailing bits).
 *
 * @example
 * ```ts
 * import { decodeBase64Strict } from "./pem.ts";
 * decodeBase64Strict("aGk=\n"); // Uint8Array [104, 105]
 * decodeBase64Strict("aGl="); // undefined (non-zero trailing bits)
 * ```
 */
export function decodeBase64Strict(text: string): Uint8Array | undefined {
  const compact = text.replace(WRAPPING, "");
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) return undefined;
  try {
    return Uint8Array.fromBase64(compact, { lastChunkHandling: "strict" });
  } catch {
    return undefined;
  }
}

/**
 * How many bytes `text` would decode to, computed without decoding: lets a
 * size bound be checked before any work.
 *
 * @example
 * ```ts
 * import { decodedBase64Length } from "./pem.ts";
 * decodedBase64Length("aGk=\n"); // 2
 * ```
 */
export function decodedBase64Length(text: string): number {
  const compact = text.replace(WRAPPING, "");
  const padding = compact.endsWith("==") ? 2 : compact.endsWith("=") ? 1 : 0;
  return Math.floor(compact.length / 4) * 3 - padding;
}

/** An untrusted label for a message: quoted, invisible characters escaped, cut at 64. */
function show(value: string): string {
  const cut = value.length > 64 ? `${value.slice(0, 64)}…` : value;
  return JSON.stringify(cut).replace(
    /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu,
    (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, "0")}`,
  );
}

/**
 * PEM text bytes → the DER of its one block of `type`, or a message saying
 * what was wrong (`what` names the input in it, e.g. `request`). Exactly one
 * block; only whitespace around it; a non-empty, strict base64 body.
 *
 * @example
 * ```ts
 * import { readPem } from "./pem.ts";
 * readPem(new TextEncoder().encode("hello"), "CERTIFICATE REQUEST", "request");
 * // 'request has no PEM block, expected one "CERTIFICATE REQUEST" block'
 * ```
 */
export function readPem(
  bytes: Uint8Array,
  type: string,
  what: string,
): Uint8Array | string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return `${what} is not PEM text (invalid UTF-8)`;
  }
  const begins = [...text.matchAll(/-----BEGIN ([^\r\n]*?)-----/g)];
  if (begins.length === 0) {
    return `${what} has no PEM block, expected one "${type}" block`;
  }
  if (begins.length > 1) {
    return `${what} has ${begins.length} PEM blocks (${
      begins.slice(0, 4).map((m) => show(m[1])).join(", ")
    }), expected exactly one "${type}" block`;
  }
  const found = begins[0][1];
  if (found !== type) {
    return `PEM block type is ${show(found)}, expected "${type}"`;
  }
  const match = blockPattern(type).exec(text);
  if (!match) {
    return `"${type}" PEM block is malformed or surrounded by other text`;
  }
  const der = decodeBase64Strict(match[1]);
  if (!der) return `"${type}" PEM body is not valid base64`;
  if (der.length === 0) return `"${type}" PEM block is empty`;
  return der;
}

const patterns = new Map<string, RegExp>();

/** The whole-text pattern of one `type` block, built once per type. */
function blockPattern(type: string): RegExp {
  let pattern = patterns.get(type);
  if (!pattern) {
    const t = type.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    pattern = new RegExp(
      `^\\s*-----BEGIN ${t}-----\\r?\\n([A-Za-z0-9+/=\\s]*?)-----END ${t}-----\\s*$`,
    );
    patterns.set(type, pattern);
  }
  return pattern;
}
