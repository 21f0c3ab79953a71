/**
 * The test helpers themselves: `assertEquals` is exact (node:assert/strict's
 * deepStrictEqual), so no test can pass on a loose comparison.
 */
import {
  assertEquals,
  AssertionError,
  assertRejects,
  assertThrows,
} from "../../support/assert.ts";

Deno.test("assertEquals: undefined is not absent, Errors compare by type and message", () => {
  const unequal: [unknown, unknown][] = [
    [[1, undefined], [1]],
    [{ a: undefined }, {}],
    [new Error("a"), new Error("b")],
    [new Error("a"), new TypeError("a")],
    [-0, 0],
    ["1", 1],
    [Object.create(null), {}],
    [new Map([[1, { a: 1 }]]), new Map([[1, { a: 2 }]])],
    [new Uint8Array([1, 2]), new Uint8Array([1, 3])],
  ];
  for (const [a, b] of unequal) {
    assertThrows(() => assertEquals(a, b), AssertionError);
    assertThrows(() => assertEquals(b, a), AssertionError);
  }
  assertEquals(new Error("a"), new Error("a"));
  assertEquals({ a: [1, { b: new Set([2]) }] }, {
    a: [1, { b: new Set([2]) }],
  });
  assertEquals(NaN, NaN);
  const e = assertThrows(() => assertEquals(1, 2, "the count"), AssertionError);
  assertEquals(e.message.startsWith("the count: values are not equal"), true);
});

Deno.test("assertThrows and assertRejects check the class and the message", async () => {
  assertThrows(
    () =>
      assertThrows(() => {
        throw new TypeError("x");
      }, RangeError),
    AssertionError,
  );
  assertThrows(() => assertThrows(() => 1), AssertionError);
  await assertRejects(
    () => assertRejects(() => Promise.reject(new Error("abc")), Error, "xyz"),
    AssertionError,
  );
});
