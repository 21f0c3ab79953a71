/**
 * Verifies a PKCS#10 request's self-signature: the request's own key over
 * its `certificationRequestInfo`. Pure but for Web Crypto (no I/O, no clock).
 *
 * The common algorithms (ECDSA P-256/P-384, RSA PKCS#1 v1.5 with SHA-2) go
 * straight to Web Crypto. Anything else falls back to `@peculiar/x509`,
 * which is loaded lazily: with reflect-metadata and tsyringe it costs a few
 * MiB of heap that a daemon seeing only kubelet requests never pays.
 *
 * @example
 * ```ts
 * import { checkEcdsaSignature } from "./signature.ts";
 * // SEQUENCE { INTEGER 1, INTEGER 1 }: strict DER, accepted
 * checkEcdsaSignature(new Uint8Array([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]));
 * ```
 *
 * @module
 */
// Type only: the module itself is imported on first use (see loadX509).
import type * as X509 from "../x509.ts";
import {
  checkPositiveInteger,
  children,
  DerError,
  expectTag,
  readOnly,
  SEQUENCE,
} from "./der.ts";

const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1";

/** Signature algorithm OIDs of ECDSA (`ecdsa-with-*`) start with this. */
export const ECDSA_SIGNATURE_PREFIX = "1.2.840.10045.4.";

/**
 * ECDSA signatures are DER `SEQUENCE { r INTEGER, s INTEGER }`. Web Crypto
 * takes raw r‖s and the library's conversion is lenient, so enforce strict
 * DER here (as Go's `ecdsa.VerifyASN1` does): one encoding per signature.
 * Throws a {@linkcode DerError} otherwise.
 *
 * @example
 * ```ts
 * import { checkEcdsaSignature } from "./signature.ts";
 * try {
 *   checkEcdsaSignature(new Uint8Array([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01]));
 * } catch (error) {
 *   console.log((error as Error).message); // "ECDSA signature r: zero"
 * }
 * ```
 */
export function checkEcdsaSignature(bytes: Uint8Array): void {
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

/** What {@linkcode verifySelfSignature} needs, as the request reader found it. */
export interface SignedRequest {
  /** The whole request DER (for the library fallback). */
  der: Uint8Array;
  /** The signed bytes: the encoded `certificationRequestInfo`. */
  tbs: Uint8Array;
  /** The encoded `subjectPublicKeyInfo`. */
  spki: Uint8Array;
  /** The signature BIT STRING's bytes (after the unused-bits octet). */
  signature: Uint8Array;
  /** The signature algorithm OID. */
  signatureAlgorithm: string;
  /** The key's algorithm OID and, for ECDSA, its curve name. */
  key: { oid: string; namedCurve?: string };
  /**
   * Why the key is not worth verifying with (e.g. an RSA key beyond the
   * bound); the library must still read the request.
   */
  unverifiable?: string;
}

/**
 * The verdict: `valid` (true only when the signature verified), or why it
 * could not be verified at all (`error`, the thrown cause; `refused`, the
 * request's own reason), or `unreadable` when the library fallback could not
 * read the request (a malformed request, not an unverifiable one).
 */
export type SignatureVerdict =
  | { valid: boolean }
  | { valid: false; error: unknown }
  | { valid: false; refused: string }
  | { unreadable: unknown };

/**
 * Verifies the self-signature. Never throws: every failure is a verdict.
 *
 * @example
 * Not run: needs the signed parts of a real request (tests/unit/core/signature_test.ts builds them).
 * ```ts ignore
 * import { verifySelfSignature } from "./signature.ts";
 * const verdict = await verifySelfSignature(parts);
 * if ("valid" in verdict && verdict.valid) console.log("signed by its own key");
 * ```
 */
export async function verifySelfSignature(
  parts: SignedRequest,
): Promise<SignatureVerdict> {
  const direct = DIRECT[parts.signatureAlgorithm];
  if (
    !parts.unverifiable && direct &&
    parts.key.oid === direct.keyOid &&
    (direct.key.name !== "ECDSA" ||
      parts.key.namedCurve === (direct.key as EcKeyImportParams).namedCurve)
  ) {
    try {
      const key = await crypto.subtle.importKey(
        "spki",
        parts.spki as BufferSource,
        direct.key,
        false,
        ["verify"],
      );
      const sig = direct.size
        ? ecdsaRaw(parts.signature, direct.size)
        : parts.signature;
      const valid = sig !== undefined &&
        await crypto.subtle.verify(
          direct.verify,
          key,
          sig as BufferSource,
          parts.tbs as BufferSource,
        );
      return { valid };
    } catch (error) {
      return { valid: false, error };
    }
  }
  let request: X509.Pkcs10CertificateRequest;
  try {
    const x509 = await loadX509();
    request = new x509.Pkcs10CertificateRequest(new Uint8Array(parts.der));
  } catch (error) {
    return { unreadable: error };
  }
  if (parts.unverifiable) return { valid: false, refused: parts.unverifiable };
  try {
    return { valid: await request.verify() === true };
  } catch (error) {
    return { valid: false, error };
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
    keyOid: OID_EC_PUBLIC_KEY,
    key: { name: "ECDSA", namedCurve: "P-256" },
    verify: { name: "ECDSA", hash: "SHA-256" },
    size: 32,
  },
  "1.2.840.10045.4.3.3": {
    keyOid: OID_EC_PUBLIC_KEY,
    key: { name: "ECDSA", namedCurve: "P-384" },
    verify: { name: "ECDSA", hash: "SHA-384" },
    size: 48,
  },
  "1.2.840.113549.1.1.11": {
    keyOid: OID_RSA_ENCRYPTION,
    key: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    verify: { name: "RSASSA-PKCS1-v1_5" },
  },
  "1.2.840.113549.1.1.12": {
    keyOid: OID_RSA_ENCRYPTION,
    key: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-384" },
    verify: { name: "RSASSA-PKCS1-v1_5" },
  },
  "1.2.840.113549.1.1.13": {
    keyOid: OID_RSA_ENCRYPTION,
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
