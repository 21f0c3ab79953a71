/**
 * The `extensionRequest` attribute of a PKCS#10 request → the subject
 * alternative names it asks for. Pure; no I/O.
 *
 * Strict where two readers could disagree: one `extensionRequest` attribute
 * at most, one value in it, no extension twice. Bounded: SANs are counted
 * as they are split, and reading stops as soon as `maxSans` is crossed.
 *
 * @example
 * ```ts
 * import { formatIp } from "./extension_request.ts";
 * formatIp(new Uint8Array([10, 0, 0, 1])); // "10.0.0.1"
 * ```
 *
 * @module
 */
import { formatIp as formatIpBytes } from "./ip.ts";
import {
  BOOLEAN,
  children,
  decodeIa5,
  decodeOid,
  DerError,
  expectTag,
  OCTET_STRING,
  readOnly,
  SEQUENCE,
  SET,
  type Tlv,
} from "./der.ts";

const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const OID_SUBJECT_ALT_NAME = "2.5.29.17";

/** A SAN count over the limit; becomes a `TooManySANs` failure. */
export class TooManySansError extends Error {
  override name = "TooManySansError";
}

/**
 * Canonical IP text from the 4 or 16 bytes of an IP SAN: dotted IPv4, RFC 5952
 * IPv6 (compressed, lower-case; IPv4-mapped kept as `::ffff:a.b.c.d`).
 * Throws a DER error for any other length.
 *
 * @example
 * ```ts
 * import { formatIp } from "./extension_request.ts";
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

/** The SANs of a request, by kind. */
export interface Sans {
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
        sans.dnsNames.push(decodeIa5(name, "DNS SAN"));
        break;
      case 0x87:
        sans.ipAddresses.push(formatIp(name.value));
        break;
      case 0x81:
        sans.emailAddresses.push(decodeIa5(name, "email SAN"));
        break;
      case 0x86:
        sans.uris.push(decodeIa5(name, "URI SAN"));
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

/**
 * Reads the request's `attributes` (`[0]`, optional) and returns the SANs of
 * its `extensionRequest`, empty when there is none. Throws a `DerError` on
 * structure, a {@linkcode TooManySansError} past `maxSans`.
 *
 * @example
 * ```ts
 * import { parseAttributes } from "./extension_request.ts";
 * parseAttributes(undefined, 100).dnsNames; // []
 * ```
 */
export function parseAttributes(
  attributes: Tlv | undefined,
  maxSans: number,
): Sans {
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
    if (decodeOid(type, "attribute type") !== OID_EXTENSION_REQUEST) continue;
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
      if (oid === OID_SUBJECT_ALT_NAME) sans = parseSans(value.value, maxSans);
    }
  }
  return sans ?? empty;
}
