import {
  describeSans,
  hasInvisible,
  quote,
  quoteList,
} from "../../../src/core/text.ts";
import { assertEquals, assertMatch } from "../../support/assert.ts";

Deno.test("quote and describeSans: untrusted values cannot forge text", () => {
  const table: Array<[unknown, string]> = [
    ["plain", '"plain"'],
    ["a\nb", '"a\\nb"'],
    ["a\u202eb", '"a\\u202eb"'],
    ["a\u2028b", '"a\\u2028b"'],
    ["a\u0085b", '"a\\u0085b"'],
    [undefined, "(none)"],
    [42, "42"],
    [["x"], '["x"]'],
  ];
  for (const [value, text] of table) assertEquals(quote(value), text);
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  assertEquals(quote(cycle), "[object Object]");
  assertEquals(quote(10n), "10");
  assertMatch(quote("x".repeat(1000)), /^"x{128}…"$/);
  assertEquals(
    describeSans({ dnsNames: ["a\r\nb", "c"], ipAddresses: [] }),
    "DNS a\\u000d\\u000ab, c",
  );
  assertEquals(describeSans({ dnsNames: [], ipAddresses: [] }), "none");
});

Deno.test("quoteList shows 16 values at most; hasInvisible finds what quote escapes", () => {
  const many = Array.from({ length: 18 }, (_, i) => `n${i}`);
  assertMatch(quoteList(many), /,"n15",… 2 more\]$/);
  assertEquals(quoteList([]), "[]");
  assertEquals(hasInvisible("worker\u202e1"), true);
  assertEquals(hasInvisible("a\u2028b"), true);
  assertEquals(hasInvisible("worker-1"), false);
  // The regular expression is global: a second call must not resume mid-string.
  assertEquals(hasInvisible("x\u0000"), true);
  assertEquals(hasInvisible("x\u0000"), true);
});
