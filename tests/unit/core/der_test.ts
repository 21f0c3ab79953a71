import {
  checkPositiveInteger,
  children,
  decodeIa5,
  decodeOid,
  decodeString,
  DerError,
  expectTag,
  INTEGER,
  readOnly,
  readTlv,
  SEQUENCE,
} from "../../../src/core/der.ts";
import { assertEquals, assertThrows } from "../../support/assert.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

Deno.test("readTlv: short and long definite lengths, and the span read", () => {
  const { tlv, next } = readTlv(bytes(0x02, 0x01, 0x05, 0xff), 0);
  assertEquals([tlv.tag, [...tlv.value], next], [0x02, [5], 3]);
  const long = new Uint8Array(3 + 200);
  long.set([0x04, 0x81, 200]);
  const read = readTlv(long, 0);
  assertEquals([read.tlv.value.length, read.next], [200, 203]);
});

Deno.test("readTlv: only one encoding is accepted", () => {
  const cases: Array<[Uint8Array, string]> = [
    [bytes(0x02), "truncated DER element"],
    [bytes(0x1f, 0x01, 0x00), "multi-byte DER tag is not supported"],
    [bytes(0x30, 0x80, 0x00, 0x00), "indefinite length is not DER"],
    [bytes(0x04, 0x84, 1, 0, 0, 0), "DER length of 4 octets is too large"],
    [bytes(0x04, 0x82, 0x01), "truncated DER length"],
    [bytes(0x04, 0x81, 0x05, 1, 2, 3, 4, 5), "non-minimal DER length"],
    [bytes(0x04, 0x82, 0x00, 0x81), "non-minimal DER length"],
    [bytes(0x04, 0x03, 1), "DER element claims 3 bytes, only 1 remain"],
  ];
  for (const [input, message] of cases) {
    assertThrows(() => readTlv(input, 0), DerError, message);
  }
});

Deno.test("readOnly refuses trailing bytes; children splits and bounds", () => {
  assertEquals(readOnly(bytes(0x05, 0x00), "NULL").tag, 0x05);
  assertThrows(
    () => readOnly(bytes(0x05, 0x00, 0x00), "NULL"),
    DerError,
    "1 trailing bytes after NULL",
  );
  assertEquals(children(bytes(0x05, 0x00, 0x01, 0x01, 0xff)).length, 2);
  assertThrows(
    () =>
      children(bytes(0x05, 0x00, 0x05, 0x00, 0x05, 0x00), 2, () => {
        throw new RangeError("over the limit");
      }),
    RangeError,
    "over the limit",
  );
});

Deno.test("expectTag names what was expected", () => {
  assertThrows(
    () => expectTag(undefined, SEQUENCE, "subject"),
    DerError,
    "missing subject",
  );
  assertThrows(
    () => expectTag({ tag: 0x31, value: bytes() }, SEQUENCE, "subject"),
    DerError,
    "subject: expected DER tag 0x30, found 0x31",
  );
});

Deno.test("decodeOid: dotted text, minimal arcs only", () => {
  const oid = (...b: number[]) => ({ tag: 0x06, value: bytes(...b) });
  assertEquals(decodeOid(oid(0x55, 0x04, 0x03), "t"), "2.5.4.3");
  assertEquals(
    decodeOid(oid(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e), "t"),
    "1.2.840.113549.1.9.14",
  );
  assertEquals(decodeOid(oid(0x88, 0x37), "t"), "2.999");
  assertThrows(
    () => decodeOid(oid(), "t"),
    DerError,
    "t: empty OBJECT IDENTIFIER",
  );
  assertThrows(
    () => decodeOid(oid(0x55, 0x80, 0x01), "t"),
    DerError,
    "t: non-minimal OID arc",
  );
  assertThrows(
    () => decodeOid(oid(0x55, 0x84), "t"),
    DerError,
    "t: truncated OID",
  );
  assertThrows(
    () => decodeOid(oid(0x55, ...new Array(9).fill(0xff), 0x7f), "t"),
    DerError,
    "t: OID arc too large",
  );
  assertThrows(
    () => decodeOid({ tag: 0x04, value: bytes(1) }, "t"),
    DerError,
    "expected DER tag 0x6",
  );
});

Deno.test("checkPositiveInteger: strict, positive, non-zero", () => {
  const int = (...b: number[]) => ({ tag: INTEGER, value: bytes(...b) });
  checkPositiveInteger(int(0x01), "r");
  checkPositiveInteger(int(0x00, 0x80), "r");
  assertThrows(
    () => checkPositiveInteger(int(), "r"),
    DerError,
    "r: empty INTEGER",
  );
  assertThrows(
    () => checkPositiveInteger(int(0x80), "r"),
    DerError,
    "r: negative INTEGER",
  );
  assertThrows(
    () => checkPositiveInteger(int(0x00, 0x01), "r"),
    DerError,
    "r: non-minimal INTEGER",
  );
  assertThrows(() => checkPositiveInteger(int(0x00), "r"), DerError, "r: zero");
});

Deno.test("decodeString: the string types Go accepts, and only those", () => {
  const str = (tag: number, ...b: number[]) => ({ tag, value: bytes(...b) });
  assertEquals(decodeString(str(0x0c, 0xc3, 0xa9), "CN"), "é");
  assertEquals(decodeString(str(0x13, 0x41), "CN"), "A");
  assertEquals(decodeString(str(0x14, 0xe9), "CN"), "é"); // T61 as Latin-1
  assertEquals(decodeString(str(0x1e, 0x00, 0xe9), "CN"), "é"); // BMP
  assertThrows(
    () => decodeString(str(0x0c, 0xff), "CN"),
    DerError,
    "CN: invalid UTF-8 in UTF8String",
  );
  assertThrows(
    () => decodeString(str(0x13, 0xe9), "CN"),
    DerError,
    "non-ASCII byte",
  );
  assertThrows(
    () => decodeString(str(0x1e, 0x00), "CN"),
    DerError,
    "CN: odd-length BMPString",
  );
  assertThrows(
    () => decodeString(str(0x04, 0x41), "CN"),
    DerError,
    "CN: unsupported string type 0x4",
  );
  assertEquals(decodeIa5(str(0x82, 0x61), "DNS SAN"), "a");
  assertThrows(
    () => decodeIa5(str(0x82, 0xe9), "DNS SAN"),
    DerError,
    "DNS SAN: SAN is not an IA5String",
  );
});
