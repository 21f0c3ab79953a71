import * as util from "../../../src/util/error_text.ts";
import * as core from "../../../src/core/error_text.ts";
import { assertEquals } from "../../support/assert.ts";

const CASES: [unknown, string][] = [
  [new Error("boom"), "boom"],
  [new TypeError("bad header"), "bad header"],
  [new Error("first\nsecond"), "first\nsecond"],
  [new Error(""), ""],
  ["timeout", "timeout"],
  [42, "42"],
  [undefined, "undefined"],
  [null, "null"],
  [{ message: "not an Error" }, "[object Object]"],
];

Deno.test("errorText: an Error's message, else String(value); core and util alike", () => {
  for (const [error, text] of CASES) {
    assertEquals(util.errorText(error), text, String(error));
    assertEquals(core.errorText(error), text, String(error));
  }
});

Deno.test("errorFirstLine keeps the first line only", () => {
  assertEquals(
    util.errorFirstLine(new SyntaxError("bad indentation\n  a: b\n  ^")),
    "bad indentation",
  );
  assertEquals(util.errorFirstLine("one line"), "one line");
  assertEquals(util.errorFirstLine(new Error("")), "");
  assertEquals(util.errorFirstLine("\nafter"), "");
});
