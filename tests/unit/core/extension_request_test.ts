import {
  formatIp,
  parseAttributes,
  TooManySansError,
} from "../../../src/core/extension_request.ts";
import { DerError } from "../../../src/core/der.ts";
import { assert, assertEquals, assertThrows } from "../../support/assert.ts";

/** DER TLV with a short length (enough for these small fixtures). */
const tlv = (
  tag: number,
  ...content: number[]
) => [tag, content.length, ...content];
const text = (s: string) => [...new TextEncoder().encode(s)];
/** OID 2.5.29.17 (subjectAltName) and 1.2.840.113549.1.9.14 (extensionRequest). */
const SAN_OID = tlv(0x06, 0x55, 0x1d, 0x11);
const EXT_REQ_OID = tlv(
  0x06,
  0x2a,
  0x86,
  0x48,
  0x86,
  0xf7,
  0x0d,
  0x01,
  0x09,
  0x0e,
);

/** `[0] { SEQUENCE { extensionRequest, SET { SEQUENCE { extensions } } } }`. */
function attributes(...extensions: number[][]) {
  const list = tlv(0x30, ...extensions.flat());
  const attribute = tlv(0x30, ...EXT_REQ_OID, ...tlv(0x31, ...list));
  return { tag: 0xa0, value: new Uint8Array(attribute) };
}

function sanExtension(...names: number[][]) {
  const value = tlv(0x30, ...names.flat());
  return tlv(0x30, ...SAN_OID, ...tlv(0x04, ...value));
}

Deno.test("formatIp: canonical IPv4 and RFC 5952 IPv6", () => {
  const v6 = (...groups: number[]) => {
    const bytes = new Uint8Array(16);
    groups.forEach((g, i) => {
      bytes[2 * i] = g >> 8;
      bytes[2 * i + 1] = g & 0xff;
    });
    return bytes;
  };
  const table: Array<[Uint8Array, string]> = [
    [new Uint8Array([10, 0, 0, 1]), "10.0.0.1"],
    [new Uint8Array([255, 255, 255, 255]), "255.255.255.255"],
    [v6(0, 0, 0, 0, 0, 0, 0, 0), "::"],
    [v6(0, 0, 0, 0, 0, 0, 0, 1), "::1"],
    [v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), "2001:db8::1"],
    [v6(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1), "2001:db8:0:1:1:1:1:1"], // one zero group stays
    [v6(0x2001, 0, 0, 1, 0, 0, 0, 1), "2001:0:0:1::1"], // longest run wins
    [v6(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1), "2001:db8::1:0:0:1"], // first on ties
    [v6(0xfe80, 0, 0, 0, 0, 0, 0, 0xab), "fe80::ab"],
    [v6(1, 0, 0, 0, 0, 0, 0, 0), "1::"],
    [v6(0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001), "::ffff:10.0.0.1"], // IPv4-mapped
    [
      v6(0xabcd, 0xef01, 0x2345, 0x6789, 0xabcd, 0xef01, 0x2345, 0x6789),
      "abcd:ef01:2345:6789:abcd:ef01:2345:6789",
    ],
  ];
  for (const [bytes, text] of table) assertEquals(formatIp(bytes), text);
  let threw = false;
  try {
    formatIp(new Uint8Array(5));
  } catch {
    threw = true;
  }
  assert(threw, "a 5-byte IP must be refused");
});

Deno.test("parseAttributes: no attributes, no SANs", () => {
  assertEquals(parseAttributes(undefined, 100), {
    dnsNames: [],
    ipAddresses: [],
    emailAddresses: [],
    uris: [],
    otherNames: 0,
  });
});

Deno.test("parseAttributes: SANs of every kind are collected", () => {
  const sans = parseAttributes(
    attributes(sanExtension(
      tlv(0x82, ...text("node-a")),
      tlv(0x87, 10, 0, 0, 1),
      tlv(0x81, ...text("a@example.com")),
      tlv(0x86, ...text("spiffe://x")),
      tlv(0x88, 0x2a),
    )),
    100,
  );
  assertEquals(sans, {
    dnsNames: ["node-a"],
    ipAddresses: ["10.0.0.1"],
    emailAddresses: ["a@example.com"],
    uris: ["spiffe://x"],
    otherNames: 1,
  });
});

Deno.test("parseAttributes: stops at the SAN limit, refuses ambiguity", () => {
  const three = attributes(sanExtension(
    tlv(0x82, ...text("a")),
    tlv(0x82, ...text("b")),
    tlv(0x82, ...text("c")),
  ));
  assertThrows(
    () => parseAttributes(three, 2),
    TooManySansError,
    "more than 2",
  );
  assertEquals(parseAttributes(three, 3).dnsNames, ["a", "b", "c"]);
  const twice = attributes(sanExtension(), sanExtension());
  assertThrows(
    () => parseAttributes(twice, 100),
    DerError,
    "duplicate extension 2.5.29.17",
  );
  const unknownTag = attributes(sanExtension(tlv(0x89, 1)));
  assertThrows(
    () => parseAttributes(unknownTag, 100),
    DerError,
    "unknown GeneralName tag 0x89",
  );
  assertThrows(
    () => parseAttributes(attributes(sanExtension(tlv(0x82, 0xc3, 0xa9))), 100),
    DerError,
    "DNS SAN: SAN is not an IA5String",
  );
});
