import { isStringArray, malformation } from "../../../src/core/malformation.ts";
import { assertEquals } from "../../support/assert.ts";

Deno.test("malformation: the first bad field, named with what it is", () => {
  const ok = { metadata: { name: "csr-1" }, spec: { request: "" } };
  const table: Array<[Record<string, unknown>, string | undefined]> = [
    [ok, undefined],
    [{ ...ok, metadata: [] }, "metadata is not an object"],
    [{ ...ok, metadata: { name: "" } }, "metadata.name is missing"],
    [{ ...ok, spec: null }, "spec is not an object"],
    [
      { ...ok, spec: { request: null } },
      "spec.request is null, expected a string",
    ],
    [
      { ...ok, spec: { request: "", usages: "server auth" } },
      "spec.usages is string, expected a list of strings",
    ],
    [
      { ...ok, spec: { request: "", username: {} } },
      "spec.username is an object, expected a string",
    ],
    [
      { ...ok, spec: { request: "", groups: [1] } },
      "spec.groups is a list, expected a list of strings",
    ],
    [
      { ...ok, spec: { request: "", expirationSeconds: 1.5 } },
      "spec.expirationSeconds is 1.5, expected a whole number of seconds",
    ],
    [{ ...ok, spec: { request: "", expirationSeconds: null } }, undefined],
    [{ ...ok, status: "x" }, "status is string, expected an object"],
    [
      { ...ok, status: { conditions: {} } },
      "status.conditions is an object, expected a list",
    ],
    [{ ...ok, status: null }, undefined],
  ];
  for (const [csr, expected] of table) {
    assertEquals(malformation(csr), expected, JSON.stringify(csr));
  }
  assertEquals(isStringArray([]), true);
  assertEquals(isStringArray("a"), false);
});
