import {
  decodeBase64Strict,
  decodedBase64Length,
  readPem,
} from "../../../src/core/pem.ts";
import { assert, assertEquals } from "../../support/assert.ts";

const utf8 = (text: string) => new TextEncoder().encode(text);
const TYPE = "CERTIFICATE REQUEST";
const block = (body: string, type = TYPE) =>
  `-----BEGIN ${type}-----\n${body}\n-----END ${type}-----\n`;

Deno.test("decodeBase64Strict: canonical padded base64, wrapping allowed", () => {
  assertEquals([...decodeBase64Strict("aGk=")!], [104, 105]);
  assertEquals([...decodeBase64Strict(" aG\r\n\tk= ")!], [104, 105]);
  assertEquals([...decodeBase64Strict("")!], []);
  for (
    const bad of ["aGk", "aGl=", "a-k=", "aGk=aGk=", "aGk==", "aGk=\u00a0"]
  ) {
    assertEquals(decodeBase64Strict(bad), undefined, bad);
  }
});

Deno.test("decodedBase64Length: the decoded size without decoding", () => {
  assertEquals(decodedBase64Length("aGk="), 2);
  assertEquals(decodedBase64Length("aGk=\naGk="), 5);
  assertEquals(decodedBase64Length("aGlt"), 3);
  assertEquals(decodedBase64Length("YQ=="), 1);
});

Deno.test("readPem: exactly one block of the type, nothing around it", () => {
  const der = readPem(utf8(`\n${block("AQID")}\n`), TYPE, "request");
  assert(der instanceof Uint8Array);
  assertEquals([...der], [1, 2, 3]);
  const cases: Array<[Uint8Array, string]> = [
    [new Uint8Array([0xff]), "request is not PEM text (invalid UTF-8)"],
    [utf8("hello"), `request has no PEM block, expected one "${TYPE}" block`],
    [
      utf8(block("AQID") + block("AQID", "X")),
      `request has 2 PEM blocks ("${TYPE}", "X"), expected exactly one "${TYPE}" block`,
    ],
    [
      utf8(block("AQID", "CERTIFICATE")),
      `PEM block type is "CERTIFICATE", expected "${TYPE}"`,
    ],
    [
      utf8(block("AQID", "A\u0000B")),
      `PEM block type is "A\\u0000B", expected "${TYPE}"`,
    ],
    [
      utf8(`x${block("AQID")}`),
      `"${TYPE}" PEM block is malformed or surrounded by other text`,
    ],
    [utf8(block("AQI")), `"${TYPE}" PEM body is not valid base64`],
    [utf8(block("")), `"${TYPE}" PEM block is empty`],
  ];
  for (const [input, message] of cases) {
    assertEquals(readPem(input, TYPE, "request"), message);
  }
});

Deno.test("readPem: the type is matched literally, and names the input", () => {
  assertEquals([
    ...(readPem(utf8(block("AQID", "A.B")), "A.B", "key") as Uint8Array),
  ], [1, 2, 3]);
  assertEquals(
    readPem(utf8("nothing"), "A.B", "key"),
    'key has no PEM block, expected one "A.B" block',
  );
});
