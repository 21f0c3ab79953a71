/**
 * `spec.request` (base64 of PEM text of a PKCS#10 request) → the facts the
 * rules reason about, or a typed failure. Pure: no I/O, no clock; the only
 * side-effect-free capability used is Web Crypto for the self-signature.
 *
 * The layers, each in its own module: strict base64 and PEM (`pem.ts`),
 * strict DER (`der.ts`), the PKCS#10 structure (here: subject, key, the
 * order of the checks), the requested extensions and their SANs
 * (`extension_request.ts`), the self-signature (`signature.ts`).
 *
 * The DER is walked by a small strict reader rather than through
 * `@peculiar/x509`'s typed accessors: those parse the whole extension list
 * eagerly and throw on SAN kinds they do not model (e.g. an arbitrary
 * otherName), which would turn a countable fact into an opaque failure. The
 * library is still used for what it does well: verifying the signature.
 *
 * About 450 lines: the PKCS#10 structure is one concept, read top to bottom
 * (the request, its subject, its key), and its result types are documented
 * field by field here.
 *
 * @example
 * ```ts
 * import { parseCertificateRequest } from "./request.ts";
 * const result = await parseCertificateRequest("bm90IGEgcmVxdWVzdA==");
 * result.ok; // false
 * ```
 *
 * @module
 */
import type { ReasonCode } from "./types.ts";
import { errorText } from "./error_text.ts";
import {
  BIT_STRING,
  children,
  decodeOid,
  decodeString,
  DerError,
  expectTag,
  INTEGER,
  OBJECT_IDENTIFIER,
  readOnly,
  readTlv,
  SEQUENCE,
  SET,
  type Tlv,
} from "./der.ts";
import { parseAttributes, TooManySansError } from "./extension_request.ts";
import { decodeBase64Strict, decodedBase64Length, readPem } from "./pem.ts";
import {
  checkEcdsaSignature,
  ECDSA_SIGNATURE_PREFIX,
  verifySelfSignature,
} from "./signature.ts";

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
      decodedBase64Length(specRequest) > maxPemBytes
    ) {
      return fail(
        "RequestTooLarge",
        `request is about ${
          Math.max(0, decodedBase64Length(specRequest))
        } bytes of PEM, expected at most ${maxPemBytes}`,
      );
    }
    const pemBytes = decodeBase64Strict(specRequest);
    if (!pemBytes) {
      return fail("InvalidRequestEncoding", "spec.request is not valid base64");
    }
    const der = readPem(pemBytes, PEM_TYPE, "request");
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

type RequestFacts = Omit<ParsedRequest, "signatureValid" | "signatureError">;

/** The facts and the byte spans the self-signature is checked over. */
interface RequestStructure {
  facts: RequestFacts;
  /** Why the key is beyond the verification bound, if it is. */
  unverifiable?: string;
  tbs: Uint8Array;
  spki: Uint8Array;
  signature: Uint8Array;
}

/**
 * Reads the whole PKCS#10 structure; throws `DerError` (or
 * `TooManySansError`) on the first problem. The checks run in a fixed
 * order, so that one malformed request always gets the same message.
 */
function readStructure(
  der: Uint8Array,
  pemBytes: number,
  maxSans: number,
): RequestStructure {
  const top = expectTag(
    readOnly(der, "certification request"),
    SEQUENCE,
    "certification request",
  );
  const [info, sigAlg, signature, extra] = children(top.value);
  const tbs = top.value.subarray(0, readTlv(top.value, 0).next);
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
  // The span of the third element (the key), read before the structure
  // check below: fewer than three elements is a truncated DER element.
  const iv = info.value;
  const keyStart = readTlv(iv, readTlv(iv, 0).next).next;
  const spkiBytes = iv.subarray(keyStart, readTlv(iv, keyStart).next);
  if (!spki || more) {
    throw new DerError("certification request info: unexpected structure");
  }
  const v = expectTag(version, INTEGER, "version").value;
  if (v.length !== 1 || v[0] !== 0) {
    throw new DerError("version: expected v1 (0)");
  }
  const subject = parseName(name);
  const { verifiable, ...publicKey } = parsePublicKey(spki);
  const sans = parseAttributes(attributes, maxSans);
  return {
    facts: { pemBytes, ...subject, ...sans, publicKey, signatureAlgorithm },
    unverifiable: verifiable,
    tbs,
    spki: spkiBytes,
    signature: signatureBits.subarray(1),
  };
}

async function parseDer(
  der: Uint8Array,
  pemBytes: number,
  maxSans: number,
): Promise<ParseResult> {
  let structure: RequestStructure;
  try {
    structure = readStructure(der, pemBytes, maxSans);
  } catch (error) {
    if (error instanceof TooManySansError) {
      return fail("TooManySANs", `request has ${error.message}`);
    }
    return fail(
      "InvalidRequest",
      `request is not a valid PKCS#10 certificate request: ${errorText(error)}`,
    );
  }
  const { facts } = structure;
  const verdict = await verifySelfSignature({
    der,
    tbs: structure.tbs,
    spki: structure.spki,
    signature: structure.signature,
    signatureAlgorithm: facts.signatureAlgorithm as string,
    key: facts.publicKey,
    unverifiable: structure.unverifiable,
  });
  if ("unreadable" in verdict) {
    return fail(
      "InvalidRequest",
      `request is not a valid PKCS#10 certificate request: ${
        errorText(verdict.unreadable)
      }`,
    );
  }
  const signatureError = "refused" in verdict
    ? verdict.refused
    : "error" in verdict
    // A key or signature Web Crypto refuses is a request we cannot vouch
    // for, reported with the algorithm and key.
    ? `cannot verify a ${facts.signatureAlgorithm} signature with a ${
      describeKey(facts.publicKey)
    } key: ${errorText(verdict.error)}`
    : undefined;
  return signatureError === undefined
    ? { ok: true, request: { ...facts, signatureValid: verdict.valid } }
    : {
      ok: true,
      request: { ...facts, signatureValid: false, signatureError },
    };
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
