/**
 * `spec.request` (base64 of PEM text of a PKCS#10 request) → the facts the
 * rules reason about, or a typed failure. Pure: no I/O, no clock; the only
 * side-effect-free capability used is Web Crypto for the self-signature.
 *
 * The DER is walked by a small strict reader here rather than through
 * `@peculiar/x509`'s typed accessors: those parse the whole extension list
 * eagerly and throw on SAN kinds they do not model (e.g. an arbitrary
 * otherName), which would turn a countable fact into an opaque failure. The
 * library is still used for what it does well: verifying the signature.
 *
 * @module
 */
import { formatIp as formatIpBytes } from "./ip.ts";
// Type only: @peculiar/x509 (with reflect-metadata and tsyringe, a few MiB
// of heap) is loaded on first use, by the rare signature algorithms Web
// Crypto is not given directly (see DIRECT below).
import type * as X509 from "../x509.ts";
import type { ReasonCode } from "./types.ts";
import { errorText } from "./error_text.ts";

/** Facts read from a PKCS#10 certificate request. */
export interface ParsedRequest {
  /** Size in bytes of the decoded PEM text. */
  pemBytes: number;
  /** Every CN attribute of the subject, in order. */
  commonNames: string[];
  /** Every O attribute of the subject, in order. */
  organizations: string[];
  /** The subject as text, for messages (e.g. `O=system:nodes, CN=system:node:a`). */
  subject: string;
  /** DNS SANs from the extensionRequest attribute. */
  dnsNames: string[];
  /** IP SANs in canonical text form (IPv4 dotted, IPv6 RFC 5952 compressed lower-case). */
  ipAddresses: string[];
  /** Email (rfc822Name) SANs. */
  emailAddresses: string[];
  /** URI SANs. */
  uris: string[];
  /** Count of SANs of any other kind (otherName, directoryName, registeredID, x400Address, ediPartyName). */
  otherNames: number;
  /** The subject public key. */
  publicKey: {
    algorithm: "RSA" | "ECDSA" | "Ed25519" | "unknown";
    /** The SubjectPublicKeyInfo algorithm OID. */
    oid: string;
    /** Modulus size for RSA keys. */
    rsaBits?: number;
    /** `P-256`, `P-384`, `P-521`, `P-224`, or the curve OID when unknown, for ECDSA keys. */
    namedCurve?: string;
  };
  /** The signature algorithm OID of the request. */
  signatureAlgorithm?: string;
  /** True only when Web Crypto verified the self-signature with the request's own key. */
  signatureValid: boolean;
  /** Why the signature could not be verified at all (unsupported algorithm, unusable key). */
  signatureError?: string;
}

/** The result of {@linkcode parseCertificateRequest}. */
export type ParseResult =
  | { ok: true; request: ParsedRequest }
  | { ok: false; reason: ReasonCode; message: string };

/** Bounds applied before any parsing or cryptography. */
export interface ParseLimits {
  /** Largest accepted PEM text, in bytes. Default 16384. */
  maxPemBytes?: number;
  /** Largest accepted number of SANs. Default 100. */
  maxSans?: number;
}

/** Default largest PEM text accepted (a kubelet request is well under 2 KiB). */
export const DEFAULT_MAX_PEM_BYTES = 16384;
/** Default largest SAN count accepted. */
export const DEFAULT_MAX_SANS = 100;

// Largest RSA key whose signature we try to verify; beyond it (or with a huge
// public exponent) verification cost grows fast, so we refuse before crypto.
const MAX_VERIFIABLE_RSA_BITS = 8192;
const MAX_RSA_EXPONENT_BYTES = 4;

const OID = {
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  extensionRequest: "1.2.840.113549.1.9.14",
  subjectAltName: "2.5.29.17",
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsaPss: "1.2.840.113549.1.1.10",
  ecPublicKey: "1.2.840.10045.2.1",
  ed25519: "1.3.101.112",
} as const;

const CURVES: Record<string, string> = {
  "1.2.840.10045.3.1.7": "P-256",
  "1.3.132.0.34": "P-384",
  "1.3.132.0.35": "P-521",
  "1.3.132.0.33": "P-224",
};

const PEM_TYPE = "CERTIFICATE REQUEST";

/** A DER structure error; becomes an `InvalidRequest` failure. */
class DerError extends Error {
  override name = "DerError";
}

/** A SAN count over the limit; becomes a `TooManySANs` failure. */
class TooManySansError extends Error {
  override name = "TooManySansError";
}

/** One DER TLV: the identifier octet and the content bytes. */
interface Tlv {
  tag: number;
  value: Uint8Array;
}

/** Reads one TLV at `offset`; strict DER (definite, minimal lengths). */
function readTlv(buf: Uint8Array, offset: number): { tlv: Tlv; next: number } {
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

/** Reads exactly one TLV spanning the whole buffer. */
function readOnly(buf: Uint8Array, what: string): Tlv {
  const { tlv, next } = readTlv(buf, 0);
  if (next !== buf.length) {
    throw new DerError(`${buf.length - next} trailing bytes after ${what}`);
  }
  return tlv;
}

/** Splits a constructed value into its child TLVs. */
function children(
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

function expectTag(tlv: Tlv | undefined, tag: number, what: string): Tlv {
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

const SEQUENCE = 0x30;
const SET = 0x31;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const OBJECT_IDENTIFIER = 0x06;
const BOOLEAN = 0x01;

function decodeOid(tlv: Tlv, what: string): string {
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

const utf8 = new TextDecoder("utf-8", { fatal: true });

function isAscii(bytes: Uint8Array): boolean {
  return bytes.every((b) => b < 0x80);
}

/** Decodes a DirectoryString-like value as Go's crypto/x509 accepts it. */
function decodeString(tlv: Tlv, what: string): string {
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

function ascii(tlv: Tlv, what: string): string {
  if (!isAscii(tlv.value)) {
    throw new DerError(`${what}: SAN is not an IA5String`);
  }
  return String.fromCharCode(...tlv.value);
}

/**
 * Canonical IP text from the 4 or 16 bytes of an IP SAN: dotted IPv4, RFC 5952
 * IPv6 (compressed, lower-case; IPv4-mapped kept as `::ffff:a.b.c.d`).
 * Throws a DER error for any other length.
 *
 * @example
 * ```ts
 * import { formatIp } from "./request.ts";
 * formatIp(new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])); // "2001:db8::1"
 * ```
 */
export function formatIp(bytes: Uint8Array): string {
  // A SAN of another length is a malformed request, not a bad IP literal.
  if (bytes.length !== 4 && bytes.length !== 16) {
    throw new DerError(`IP SAN of ${bytes.length} bytes, expected 4 or 16`);
  }
  return formatIpBytes(bytes);
}

function parseName(name: Tlv) {
  const commonNames: string[] = [];
  const organizations: string[] = [];
  const parts: string[] = [];
  for (const rdn of children(expectTag(name, SEQUENCE, "subject").value)) {
    const attributes = children(expectTag(rdn, SET, "subject RDN").value);
    if (attributes.length === 0) throw new DerError("subject: empty RDN");
    const rdnParts: string[] = [];
    for (const attribute of attributes) {
      const [type, value, extra] = children(
        expectTag(attribute, SEQUENCE, "subject attribute").value,
      );
      if (!value || extra) {
        throw new DerError("subject attribute: expected a type and one value");
      }
      const oid = decodeOid(type, "subject attribute type");
      if (oid === OID.commonName) {
        const text = decodeString(value, "subject CN");
        commonNames.push(text);
        rdnParts.push(`CN=${text}`);
      } else if (oid === OID.organization) {
        const text = decodeString(value, "subject O");
        organizations.push(text);
        rdnParts.push(`O=${text}`);
      } else {
        let text: string;
        try {
          text = decodeString(value, "subject attribute");
        } catch {
          text = `#${value.value.toHex()}`;
        }
        rdnParts.push(`${oid}=${text}`);
      }
    }
    parts.push(rdnParts.join("+"));
  }
  return { commonNames, organizations, subject: parts.join(", ") };
}

function parsePublicKey(
  spki: Tlv,
): ParsedRequest["publicKey"] & { verifiable?: string } {
  const [algorithm, key, extra] = children(
    expectTag(spki, SEQUENCE, "subjectPublicKeyInfo").value,
  );
  if (!key || extra) {
    throw new DerError("subjectPublicKeyInfo: expected an algorithm and a key");
  }
  const [oidTlv, params] = children(
    expectTag(algorithm, SEQUENCE, "public key algorithm").value,
  );
  const oid = decodeOid(oidTlv, "public key algorithm");
  const bits = expectTag(key, BIT_STRING, "subjectPublicKey").value;
  if (bits.length === 0 || bits[0] !== 0) {
    throw new DerError("subjectPublicKey: not a whole number of bytes");
  }
  if (oid === OID.rsaEncryption || oid === OID.rsaPss) {
    const [modulus, exponent, more] = children(
      expectTag(
        readOnly(bits.subarray(1), "RSA public key"),
        SEQUENCE,
        "RSA public key",
      ).value,
    );
    const n = expectTag(modulus, INTEGER, "RSA modulus").value;
    const e = expectTag(exponent, INTEGER, "RSA exponent").value;
    if (more) throw new DerError("RSA public key: unexpected trailing field");
    let start = 0;
    while (start < n.length && n[start] === 0) start++;
    const rsaBits = start === n.length
      ? 0
      : (n.length - start - 1) * 8 + (32 - Math.clz32(n[start]));
    let eStart = 0;
    while (eStart < e.length && e[eStart] === 0) eStart++;
    const tooBig = rsaBits > MAX_VERIFIABLE_RSA_BITS ||
      e.length - eStart > MAX_RSA_EXPONENT_BYTES;
    return {
      algorithm: "RSA",
      oid,
      rsaBits,
      verifiable: tooBig
        ? `RSA key of ${rsaBits} bits with a ${
          (e.length - eStart) * 8
        }-bit exponent is beyond the verification bound (${MAX_VERIFIABLE_RSA_BITS} bits, 32-bit exponent)`
        : undefined,
    };
  }
  if (oid === OID.ecPublicKey) {
    const curveOid = params?.tag === OBJECT_IDENTIFIER
      ? decodeOid(params, "EC curve")
      : "explicit-parameters";
    return {
      algorithm: "ECDSA",
      oid,
      namedCurve: CURVES[curveOid] ?? curveOid,
    };
  }
  if (oid === OID.ed25519) return { algorithm: "Ed25519", oid };
  return { algorithm: "unknown", oid };
}

interface Sans {
  dnsNames: string[];
  ipAddresses: string[];
  emailAddresses: string[];
  uris: string[];
  otherNames: number;
}

function parseSans(extensionValue: Uint8Array, maxSans: number): Sans {
  const sans: Sans = {
    dnsNames: [],
    ipAddresses: [],
    emailAddresses: [],
    uris: [],
    otherNames: 0,
  };
  const seq = expectTag(
    readOnly(extensionValue, "subjectAltName"),
    SEQUENCE,
    "subjectAltName",
  );
  // Count-bounded split: stops reading as soon as the limit is crossed.
  const names = children(seq.value, maxSans, () => {
    throw new TooManySansError(
      `more than ${maxSans} subject alternative names`,
    );
  });
  for (const name of names) {
    switch (name.tag) {
      case 0x82:
        sans.dnsNames.push(ascii(name, "DNS SAN"));
        break;
      case 0x87:
        sans.ipAddresses.push(formatIp(name.value));
        break;
      case 0x81:
        sans.emailAddresses.push(ascii(name, "email SAN"));
        break;
      case 0x86:
        sans.uris.push(ascii(name, "URI SAN"));
        break;
      case 0xa0: // otherName
      case 0xa3: // x400Address
      case 0xa4: // directoryName
      case 0xa5: // ediPartyName
      case 0x88: // registeredID
        sans.otherNames++;
        break;
      default:
        throw new DerError(
          `subjectAltName: unknown GeneralName tag 0x${name.tag.toString(16)}`,
        );
    }
  }
  return sans;
}

function parseAttributes(attributes: Tlv | undefined, maxSans: number): Sans {
  const empty: Sans = {
    dnsNames: [],
    ipAddresses: [],
    emailAddresses: [],
    uris: [],
    otherNames: 0,
  };
  if (!attributes) return empty;
  let sans: Sans | undefined;
  let sawExtensionRequest = false;
  for (
    const attribute of children(expectTag(attributes, 0xa0, "attributes").value)
  ) {
    const [type, values, extra] = children(
      expectTag(attribute, SEQUENCE, "attribute").value,
    );
    if (!values || extra) {
      throw new DerError("attribute: expected a type and a value set");
    }
    if (decodeOid(type, "attribute type") !== OID.extensionRequest) continue;
    // More than one extension list would let two readers see different SANs.
    if (sawExtensionRequest) {
      throw new DerError("more than one extensionRequest attribute");
    }
    sawExtensionRequest = true;
    const list = children(
      expectTag(values, SET, "extensionRequest values").value,
    );
    if (list.length !== 1) {
      throw new DerError(
        `extensionRequest has ${list.length} values, expected 1`,
      );
    }
    const seen = new Set<string>();
    for (
      const extension of children(
        expectTag(list[0], SEQUENCE, "extensions").value,
      )
    ) {
      const parts = children(expectTag(extension, SEQUENCE, "extension").value);
      const oid = decodeOid(parts[0], "extension id");
      if (seen.has(oid)) throw new DerError(`duplicate extension ${oid}`);
      seen.add(oid);
      let index = 1;
      if (parts[index]?.tag === BOOLEAN) index++;
      const value = expectTag(
        parts[index],
        OCTET_STRING,
        `extension ${oid} value`,
      );
      if (parts.length !== index + 1) {
        throw new DerError(`extension ${oid}: unexpected trailing field`);
      }
      if (oid === OID.subjectAltName) sans = parseSans(value.value, maxSans);
    }
  }
  return sans ?? empty;
}

const ECDSA_SIGNATURE_PREFIX = "1.2.840.10045.4.";

function checkPositiveInteger(tlv: Tlv | undefined, what: string): void {
  const v = expectTag(tlv, INTEGER, what).value;
  if (v.length === 0) throw new DerError(`${what}: empty INTEGER`);
  if (v[0] & 0x80) throw new DerError(`${what}: negative INTEGER`);
  if (v.length > 1 && v[0] === 0 && !(v[1] & 0x80)) {
    throw new DerError(`${what}: non-minimal INTEGER`);
  }
  if (v.every((b) => b === 0)) throw new DerError(`${what}: zero`);
}

/**
 * ECDSA signatures are DER `SEQUENCE { r INTEGER, s INTEGER }`. Web Crypto
 * takes raw r‖s and the library's conversion is lenient, so enforce strict
 * DER here (as Go's `ecdsa.VerifyASN1` does): one encoding per signature.
 */
function checkEcdsaSignature(bytes: Uint8Array): void {
  const seq = expectTag(
    readOnly(bytes, "ECDSA signature"),
    SEQUENCE,
    "ECDSA signature",
  );
  const [r, sValue, extra] = children(seq.value);
  checkPositiveInteger(r, "ECDSA signature r");
  checkPositiveInteger(sValue, "ECDSA signature s");
  if (extra) throw new DerError("ECDSA signature: unexpected trailing field");
}

// Whitespace may wrap base64 (PEM bodies, hand-made YAML); nothing else may appear.
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeBase64Strict(text: string): Uint8Array | undefined {
  const compact = text.replace(/[ \t\r\n]+/g, "");
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) return undefined;
  try {
    return Uint8Array.fromBase64(compact, { lastChunkHandling: "strict" });
  } catch {
    return undefined;
  }
}

function decodedLength(text: string): number {
  const compact = text.replace(/[ \t\r\n]+/g, "");
  const padding = compact.endsWith("==") ? 2 : compact.endsWith("=") ? 1 : 0;
  return Math.floor(compact.length / 4) * 3 - padding;
}

function fail(reason: ReasonCode, message: string): ParseResult {
  return { ok: false, reason, message };
}

/**
 * Turns `spec.request` (base64 of the PEM text) into facts. Never throws.
 *
 * The size bound is checked before any decoding or cryptography; the SAN
 * count bound before the SANs are decoded.
 *
 * @example
 * ```ts
 * import { parseCertificateRequest } from "./request.ts";
 * const result = await parseCertificateRequest("bm90IGEgcmVxdWVzdA==");
 * if (!result.ok) console.log(result.reason); // "InvalidRequestPEM"
 * ```
 */
export async function parseCertificateRequest(
  specRequest: string,
  limits: ParseLimits = {},
): Promise<ParseResult> {
  const maxPemBytes = limits.maxPemBytes ?? DEFAULT_MAX_PEM_BYTES;
  const maxSans = limits.maxSans ?? DEFAULT_MAX_SANS;
  try {
    if (typeof specRequest !== "string") {
      return fail(
        "InvalidRequestEncoding",
        `spec.request is ${typeof specRequest}, expected a base64 string`,
      );
    }
    // Cheap bound on the raw text first (generous for wrapping whitespace),
    // then the exact decoded size, both before decoding anything.
    if (
      specRequest.length > 2 * Math.ceil(maxPemBytes * 4 / 3) + 64 ||
      decodedLength(specRequest) > maxPemBytes
    ) {
      return fail(
        "RequestTooLarge",
        `request is about ${
          Math.max(0, decodedLength(specRequest))
        } bytes of PEM, expected at most ${maxPemBytes}`,
      );
    }
    const pemBytes = decodeBase64Strict(specRequest);
    if (!pemBytes) {
      return fail("InvalidRequestEncoding", "spec.request is not valid base64");
    }
    const der = readPem(pemBytes);
    if (typeof der === "string") return fail("InvalidRequestPEM", der);
    return await parseDer(der, pemBytes.length, maxSans);
  } catch (error) {
    // parseDer handles its own errors; this guards the never-throws promise.
    return fail(
      "InvalidRequest",
      `request could not be parsed: ${errorText(error)}`,
    );
  }
}

/** An untrusted label for a message: quoted, invisible characters escaped, cut at 64. */
function show(value: string): string {
  const cut = value.length > 64 ? `${value.slice(0, 64)}…` : value;
  return JSON.stringify(cut).replace(
    /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu,
    (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, "0")}`,
  );
}

/** PEM bytes → DER, or a message saying what was wrong. */
function readPem(bytes: Uint8Array): Uint8Array | string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return "request is not PEM text (invalid UTF-8)";
  }
  const begins = [...text.matchAll(/-----BEGIN ([^\r\n]*?)-----/g)];
  if (begins.length === 0) {
    return `request has no PEM block, expected one "${PEM_TYPE}" block`;
  }
  if (begins.length > 1) {
    return `request has ${begins.length} PEM blocks (${
      begins.slice(0, 4).map((m) => show(m[1])).join(", ")
    }), expected exactly one "${PEM_TYPE}" block`;
  }
  const type = begins[0][1];
  if (type !== PEM_TYPE) {
    return `PEM block type is ${show(type)}, expected "${PEM_TYPE}"`;
  }
  const match =
    /^\s*-----BEGIN CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE REQUEST-----\s*$/
      .exec(text);
  if (!match) {
    return `"${PEM_TYPE}" PEM block is malformed or surrounded by other text`;
  }
  const der = decodeBase64Strict(match[1]);
  if (!der) return `"${PEM_TYPE}" PEM body is not valid base64`;
  if (der.length === 0) return `"${PEM_TYPE}" PEM block is empty`;
  return der;
}

async function parseDer(
  der: Uint8Array,
  pemBytes: number,
  maxSans: number,
): Promise<ParseResult> {
  let facts: Omit<ParsedRequest, "signatureValid" | "signatureError">;
  let unverifiable: string | undefined;
  let tbsBytes!: Uint8Array;
  let spkiBytes!: Uint8Array;
  let sigBytes!: Uint8Array;
  try {
    const top = expectTag(
      readOnly(der, "certification request"),
      SEQUENCE,
      "certification request",
    );
    const [info, sigAlg, signature, extra] = children(top.value);
    tbsBytes = top.value.subarray(0, readTlv(top.value, 0).next);
    if (!signature || extra) {
      throw new DerError(
        "certification request: expected info, algorithm and signature",
      );
    }
    const signatureBits = expectTag(signature, BIT_STRING, "signature").value;
    if (signatureBits.length < 2 || signatureBits[0] !== 0) {
      throw new DerError("signature: not a whole number of bytes");
    }
    const [sigOid, sigParams, sigExtra] = children(
      expectTag(sigAlg, SEQUENCE, "signature algorithm").value,
    );
    const signatureAlgorithm = decodeOid(sigOid, "signature algorithm");
    // The algorithm identifier is outside the signed bytes: allow only the
    // parameters the standards define (RSA-PSS: its own; others: none or NULL)
    // so that no unsigned variation of a request verifies.
    if (
      sigExtra ||
      (sigParams && signatureAlgorithm !== OID.rsaPss &&
        (sigParams.tag !== 0x05 || sigParams.value.length !== 0))
    ) {
      throw new DerError("signature algorithm: unexpected parameters");
    }
    if (signatureAlgorithm.startsWith(ECDSA_SIGNATURE_PREFIX)) {
      checkEcdsaSignature(signatureBits.subarray(1));
    }
    const [version, name, spki, attributes, more] = children(
      expectTag(info, SEQUENCE, "certification request info").value,
    );
    {
      const iv = info.value;
      let off = readTlv(iv, 0).next;
      off = readTlv(iv, off).next;
      spkiBytes = iv.subarray(off, readTlv(iv, off).next);
      sigBytes = signatureBits.subarray(1);
    }
    if (!spki || more) {
      throw new DerError("certification request info: unexpected structure");
    }
    const v = expectTag(version, INTEGER, "version").value;
    if (v.length !== 1 || v[0] !== 0) {
      throw new DerError("version: expected v1 (0)");
    }
    const subject = parseName(name);
    const { verifiable, ...publicKey } = parsePublicKey(spki);
    unverifiable = verifiable;
    const sans = parseAttributes(attributes, maxSans);
    facts = { pemBytes, ...subject, ...sans, publicKey, signatureAlgorithm };
  } catch (error) {
    if (error instanceof TooManySansError) {
      return fail("TooManySANs", `request has ${error.message}`);
    }
    return fail(
      "InvalidRequest",
      `request is not a valid PKCS#10 certificate request: ${errorText(error)}`,
    );
  }

  // Whatever path verifies, a key or signature Web Crypto refuses is a
  // request we cannot vouch for, reported with the algorithm and key.
  const unverified = (error: unknown): ParseResult => ({
    ok: true,
    request: {
      ...facts,
      signatureValid: false,
      signatureError:
        `cannot verify a ${facts.signatureAlgorithm} signature with a ${
          describeKey(facts.publicKey)
        } key: ${errorText(error)}`,
    },
  });
  const direct = DIRECT[facts.signatureAlgorithm as string];
  if (
    !unverifiable && direct &&
    facts.publicKey.oid === direct.keyOid &&
    (direct.key.name !== "ECDSA" ||
      facts.publicKey.namedCurve ===
        (direct.key as EcKeyImportParams).namedCurve)
  ) {
    try {
      const key = await crypto.subtle.importKey(
        "spki",
        spkiBytes as BufferSource,
        direct.key,
        false,
        ["verify"],
      );
      const sig = direct.size ? ecdsaRaw(sigBytes, direct.size) : sigBytes;
      const valid = sig !== undefined &&
        await crypto.subtle.verify(
          direct.verify,
          key,
          sig as BufferSource,
          tbsBytes as BufferSource,
        );
      return { ok: true, request: { ...facts, signatureValid: valid } };
    } catch (error) {
      return unverified(error);
    }
  }
  let request: X509.Pkcs10CertificateRequest;
  try {
    const x509 = await loadX509();
    request = new x509.Pkcs10CertificateRequest(new Uint8Array(der));
  } catch (error) {
    return fail(
      "InvalidRequest",
      `request is not a valid PKCS#10 certificate request: ${errorText(error)}`,
    );
  }
  if (unverifiable) {
    return {
      ok: true,
      request: {
        ...facts,
        signatureValid: false,
        signatureError: unverifiable,
      },
    };
  }
  try {
    const valid = await request.verify();
    return { ok: true, request: { ...facts, signatureValid: valid === true } };
  } catch (error) {
    return unverified(error);
  }
}

/**
 * Describes a public key for messages, e.g. `RSA 2048-bit`, `ECDSA P-256`.
 *
 * @example
 * ```ts
 * import { describeKey } from "./request.ts";
 * describeKey({ algorithm: "ECDSA", oid: "1.2.840.10045.2.1", namedCurve: "P-384" }); // "ECDSA P-384"
 * ```
 */
export function describeKey(key: ParsedRequest["publicKey"]): string {
  switch (key.algorithm) {
    case "RSA":
      return `RSA ${key.rsaBits}-bit`;
    case "ECDSA":
      return `ECDSA ${key.namedCurve}`;
    case "Ed25519":
      return "Ed25519";
    default:
      return `unknown key algorithm ${key.oid}`;
  }
}

let x509Module: Promise<typeof X509> | undefined;

/** `@peculiar/x509`, imported once, when first needed. */
function loadX509(): Promise<typeof X509> {
  return x509Module ??= import("../x509.ts");
}

/** Signature algorithms verified straight with Web Crypto (others: @peculiar/x509). */
const DIRECT: Record<string, {
  keyOid: string;
  key: EcKeyImportParams | RsaHashedImportParams;
  verify: EcdsaParams | Algorithm;
  /** ECDSA: bytes per coordinate (Web Crypto wants r‖s, X.509 has DER). */
  size?: number;
}> = {
  "1.2.840.10045.4.3.2": {
    keyOid: OID.ecPublicKey,
    key: { name: "ECDSA", namedCurve: "P-256" },
    verify: { name: "ECDSA", hash: "SHA-256" },
    size: 32,
  },
  "1.2.840.10045.4.3.3": {
    keyOid: OID.ecPublicKey,
    key: { name: "ECDSA", namedCurve: "P-384" },
    verify: { name: "ECDSA", hash: "SHA-384" },
    size: 48,
  },
  "1.2.840.113549.1.1.11": {
    keyOid: OID.rsaEncryption,
    key: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    verify: { name: "RSASSA-PKCS1-v1_5" },
  },
  "1.2.840.113549.1.1.12": {
    keyOid: OID.rsaEncryption,
    key: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-384" },
    verify: { name: "RSASSA-PKCS1-v1_5" },
  },
  "1.2.840.113549.1.1.13": {
    keyOid: OID.rsaEncryption,
    key: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" },
    verify: { name: "RSASSA-PKCS1-v1_5" },
  },
};

/** DER `SEQUENCE { r INTEGER, s INTEGER }` → fixed-width r‖s, or undefined. */
function ecdsaRaw(der: Uint8Array, size: number): Uint8Array | undefined {
  const [r, s, extra] = children(readOnly(der, "ECDSA signature").value);
  if (!r || !s || extra) return undefined;
  const out = new Uint8Array(size * 2);
  for (const [i, whole] of [r.value, s.value].entries()) {
    let v = whole;
    while (v.length > size && v[0] === 0) v = v.subarray(1);
    if (v.length > size) return undefined;
    out.set(v, i * size + size - v.length);
  }
  return out;
}
