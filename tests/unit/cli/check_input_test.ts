import {
  InputError,
  isList,
  loadCsr,
  parseDocument,
  readInput,
} from "../../../src/cli/check_input.ts";
import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../support/assert.ts";

const reader = (text: string) => ({
  readFile: () => Promise.resolve(text),
  readStdin: () => Promise.resolve(`stdin:${text}`),
});

Deno.test("readInput: a file or stdin, bounded; errors name the file", async () => {
  assertEquals(await readInput("csr.yaml", reader("x"), "CSR file"), "x");
  assertEquals(await readInput("-", reader("x"), "CSR file"), "stdin:x");
  const tooLong = await assertRejects(
    () => readInput("csr.yaml", reader("xxxx"), "CSR file", 3),
    InputError,
  );
  assertEquals(
    tooLong.message,
    'CSR file "csr.yaml" is 4 characters, expected at most 3',
  );
  const missing = await assertRejects(
    () =>
      readInput("-", {
        readFile: () => Promise.reject(new Error("no")),
        readStdin: () => Promise.reject(new Error("closed")),
      }, "Node file"),
    InputError,
  );
  assertEquals(missing.message, "cannot read Node file from stdin: closed");
});

Deno.test("parseDocument and isList: JSON or YAML; Lists by kind", () => {
  assertEquals(parseDocument('{"kind":"Node"}', "n.json", "Node file"), {
    kind: "Node",
  });
  assertEquals(parseDocument("kind: Node", "n.yaml", "Node file"), {
    kind: "Node",
  });
  assertThrows(() => parseDocument("{", "n.json", "Node file"), InputError);
  assertEquals(isList({ kind: "List", items: [] }, "Node"), true);
  assertEquals(isList({ kind: "NodeList", items: [] }, "Node"), true);
  assertEquals(isList({ kind: "PodList", items: [] }, "Node"), false);
  assertEquals(isList({ kind: "NodeList" }, "Node"), false);
});

Deno.test("loadCsr: any CSR object is decided; what is no CSR is an InputError", async () => {
  const now = new Date("2026-01-01T00:00:00Z");
  const loaded = await loadCsr("spec: {request: x}", "csr.yaml", now);
  assertEquals(loaded.notes, []);
  const list = await loadCsr(
    '{"kind":"List","items":[{"kind":"CertificateSigningRequest","metadata":{"name":"a"}}]}',
    "csr.json",
    now,
  );
  assertEquals(list.csr.metadata.name, "a");
  const wrongKind = await assertRejects(
    () => loadCsr("kind: Node", "csr.yaml", now),
    InputError,
  );
  assertEquals(
    wrongKind.message,
    'CSR file "csr.yaml" holds a "Node", expected a CertificateSigningRequest',
  );
  await assertRejects(
    () => loadCsr("metadata: {name: a}", "csr.yaml", now),
    InputError,
  );
  await assertRejects(
    () => loadCsr("-----BEGIN CERTIFICATE REQUEST-----\nxx\n", "c.pem", now),
    InputError,
  );
});
