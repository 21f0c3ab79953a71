/**
 * A small strict DER reader: one valid encoding only (definite, minimal
 * lengths; minimal OID arcs and INTEGERs), so that two readers of the same
 * bytes can never disagree about what they say. Pure; no I/O.
 *
 * Every structural problem throws a {@linkcode DerError}; callers turn it into
 * a typed failure. Only what PKCS#10 needs is read: low tag numbers, lengths
 * of at most three octets, the string types Go's `crypto/x509` accepts.
 *
 * @example
 * ```ts
 * import { children, decodeOid, readOnly, SEQUENCE, expectTag } from "./der.ts";
 * // SEQUENCE { OBJECT IDENTIFIER 2.5.4.3 }
 * const der = new Uint8Array([0x30, 0x05, 0x06, 0x03, 0x55, 0x04, 0x03]);
 * const [oid] = children(expectTag(readOnly(der, "name"), SEQUENCE, "name").value);
 * decodeOid(oid, "type"); // "2.5.4.3"
 * ```
 *
 * @module
 */

/** A DER structure error; becomes an `InvalidRequest` failure. */
export class DerError extends Error {
  override name = "DerError";
}

/** One DER TLV: the identifier octet and the content bytes. */
export interface Tlv {
  tag: number;
  value: Uint8Array;
}

/** Universal tag: BOOLEAN. */
export const BOOLEAN = 0x01;
/** Universal tag: INTEGER. */
export const INTEGER = 0x02;
/** Universal tag: BIT STRING. */
export const BIT_STRING = 0x03;
/** Universal tag: OCTET STRING. */
export const OCTET_STRING = 0x04;
/** Universal tag: OBJECT IDENTIFIER. */
export const OBJECT_IDENTIFIER = 0x06;
/** Universal tag, constructed: SEQUENCE. */
export const SEQUENCE = 0x30;
/** Universal tag, constructed: SET. */
export const SET = 0x31;

/**
 * Reads one TLV at `offset`; strict DER (definite, minimal lengths). Returns
 * the TLV and the offset just past it, so a caller can take the span of
 * bytes an element covers (`buf.subarray(offset, next)`).
 *
 * @example
 * ```ts
 * import { readTlv } from "./der.ts";
 * const { tlv, next } = readTlv(new Uint8Array([0x02, 0x01, 0x05, 0xff]), 0);
 * // tlv.tag === 0x02, tlv.value: [5], next === 3
 * ```
 */
export function readTlv(
  buf: Uint8Array,
  offset: number,
): { tlv: Tlv; next: number } {
  if (offset + 2 > buf.length) throw new DerError("truncated DER element");
  const tag = buf[offset];
  // High tag numbers never occur in PKCS#10; refusing them keeps the reader small.
  if ((tag & 0x1f) === 0x1f) {
    throw new DerError("multi-byte DER tag is not supported");
  }
  let length = buf[offset + 1];
  let pos = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0) throw new DerError("indefinite length is not DER");
    if (count > 3) {
      throw new DerError(`DER length of ${count} octets is too large`);
    }
    if (pos + count > buf.length) throw new DerError("truncated DER length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[pos + i];
    if (buf[pos] === 0 || length < 0x80) {
      throw new DerError("non-minimal DER length");
    }
    pos += count;
  }
  if (pos + length > buf.length) {
    throw new DerError(
      `DER element claims ${length} bytes, only ${buf.length - pos} remain`,
    );
  }
  return {
    tlv: { tag, value: buf.subarray(pos, pos + length) },
    next: pos + length,
  };
}

/**
 * Reads exactly one TLV spanning the whole buffer (trailing bytes are an
 * error: they would be bytes nobody reads).
 *
 * @example
 * ```ts
 * import { readOnly } from "./der.ts";
 * readOnly(new Uint8Array([0x05, 0x00]), "NULL").tag; // 5
 * ```
 */
export function readOnly(buf: Uint8Array, what: string): Tlv {
  const { tlv, next } = readTlv(buf, 0);
  if (next !== buf.length) {
    throw new DerError(`${buf.length - next} trailing bytes after ${what}`);
  }
  return tlv;
}

/**
 * Splits a constructed value into its child TLVs. With `limit`, calls
 * `onLimit` (which throws) as soon as one more child than `limit` is about
 * to be read, so a huge list is never split in full.
 *
 * @example
 * ```ts
 * import { children } from "./der.ts";
 * children(new Uint8Array([0x05, 0x00, 0x05, 0x00])).length; // 2
 * ```
 */
export function children(
  value: Uint8Array,
  limit = Infinity,
  onLimit?: () => never,
): Tlv[] {
  const out: Tlv[] = [];
  let offset = 0;
  while (offset < value.length) {
    if (out.length >= limit) onLimit?.();
    const { tlv, next } = readTlv(value, offset);
    out.push(tlv);
    offset = next;
  }
  return out;
}

/**
 * The TLV, when present and of the expected tag; else a {@linkcode DerError}
 * naming `what`.
 *
 * @example
 * ```ts
 * import { expectTag, INTEGER } from "./der.ts";
 * expectTag({ tag: 0x02, value: new Uint8Array([1]) }, INTEGER, "version").value; // [1]
 * ```
 */
export function expectTag(
  tlv: Tlv | undefined,
  tag: number,
  what: string,
): Tlv {
  if (!tlv) throw new DerError(`missing ${what}`);
  if (tlv.tag !== tag) {
    throw new DerError(
      `${what}: expected DER tag 0x${tag.toString(16)}, found 0x${
        tlv.tag.toString(16)
      }`,
    );
  }
  return tlv;
}

/**
 * Dotted text of an OBJECT IDENTIFIER; minimal arcs only.
 *
 * @example
 * ```ts
 * import { decodeOid } from "./der.ts";
 * decodeOid({ tag: 0x06, value: new Uint8Array([0x2b, 0x65, 0x70]) }, "key"); // "1.3.101.112"
 * ```
 */
export function decodeOid(tlv: Tlv, what: string): string {
  expectTag(tlv, OBJECT_IDENTIFIER, what);
  const bytes = tlv.value;
  if (bytes.length === 0) {
    throw new DerError(`${what}: empty OBJECT IDENTIFIER`);
  }
  const arcs: number[] = [];
  let value = 0;
  let started = false;
  for (const byte of bytes) {
    if (!started && byte === 0x80) {
      throw new DerError(`${what}: non-minimal OID arc`);
    }
    value = value * 128 + (byte & 0x7f);
    started = true;
    if (value > Number.MAX_SAFE_INTEGER / 128) {
      throw new DerError(`${what}: OID arc too large`);
    }
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0;
      started = false;
    }
  }
  if (started) throw new DerError(`${what}: truncated OID`);
  const first = arcs[0] < 40 ? 0 : arcs[0] < 80 ? 1 : 2;
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join(".");
}

/**
 * Checks a strict DER INTEGER that must be positive: not empty, not
 * negative, minimal, not zero (as Go's `ecdsa.VerifyASN1` wants r and s).
 *
 * @example
 * ```ts
 * import { checkPositiveInteger } from "./der.ts";
 * checkPositiveInteger({ tag: 0x02, value: new Uint8Array([0x01]) }, "r"); // no error
 * ```
 */
export function checkPositiveInteger(tlv: Tlv | undefined, what: string): void {
  const v = expectTag(tlv, INTEGER, what).value;
  if (v.length === 0) throw new DerError(`${what}: empty INTEGER`);
  if (v[0] & 0x80) throw new DerError(`${what}: negative INTEGER`);
  if (v.length > 1 && v[0] === 0 && !(v[1] & 0x80)) {
    throw new DerError(`${what}: non-minimal INTEGER`);
  }
  if (v.every((b) => b === 0)) throw new DerError(`${what}: zero`);
}

/** Fatal UTF-8: invalid bytes are an error, never U+FFFD. */
export const utf8: TextDecoder = new TextDecoder("utf-8", { fatal: true });

function isAscii(bytes: Uint8Array): boolean {
  return bytes.every((b) => b < 0x80);
}

/**
 * Decodes a DirectoryString-like value as Go's crypto/x509 accepts it:
 * UTF8String, PrintableString, IA5String, NumericString (ASCII only),
 * T61String (as Latin-1) and BMPString (UTF-16BE).
 *
 * @example
 * ```ts
 * import { decodeString } from "./der.ts";
 * decodeString({ tag: 0x0c, value: new TextEncoder().encode("node-a") }, "CN"); // "node-a"
 * ```
 */
export function decodeString(tlv: Tlv, what: string): string {
  const bytes = tlv.value;
  switch (tlv.tag) {
    case 0x0c: // UTF8String
      try {
        return utf8.decode(bytes);
      } catch {
        throw new DerError(`${what}: invalid UTF-8 in UTF8String`);
      }
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x12: // NumericString
      if (!isAscii(bytes)) {
        throw new DerError(`${what}: non-ASCII byte in an ASCII string type`);
      }
      return String.fromCharCode(...bytes);
    case 0x14: // T61String, read as Latin-1 like Go does
      return String.fromCharCode(...bytes);
    case 0x1e: { // BMPString, UTF-16BE
      if (bytes.length % 2 !== 0) {
        throw new DerError(`${what}: odd-length BMPString`);
      }
      let text = "";
      for (let i = 0; i < bytes.length; i += 2) {
        text += String.fromCharCode(bytes[i] * 256 + bytes[i + 1]);
      }
      return text;
    }
    default:
      throw new DerError(
        `${what}: unsupported string type 0x${tlv.tag.toString(16)}`,
      );
  }
}

/**
 * The content of an IA5String-valued SAN (DNS, email, URI) as text; a
 * non-ASCII byte is an error.
 *
 * @example
 * ```ts
 * import { decodeIa5 } from "./der.ts";
 * decodeIa5({ tag: 0x82, value: new TextEncoder().encode("node-a") }, "DNS SAN"); // "node-a"
 * ```
 */
export function decodeIa5(tlv: Tlv, what: string): string {
  if (!isAscii(tlv.value)) {
    throw new DerError(`${what}: SAN is not an IA5String`);
  }
  return String.fromCharCode(...tlv.value);
}
