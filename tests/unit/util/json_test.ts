import * as util from "../../../src/util/json.ts";
import * as core from "../../../src/core/json.ts";
import { assertEquals } from "../../support/assert.ts";

Deno.test("isObject: non-null, non-array objects only; core and util alike", () => {
  const cases: [unknown, boolean][] = [
    [{}, true],
    [{ kind: "Node" }, true],
    [Object.create(null), true],
    [new Date(0), true],
    [[], false],
    [[1, 2], false],
    [null, false],
    [undefined, false],
    ["{}", false],
    [0, false],
    [true, false],
  ];
  for (const [value, expected] of cases) {
    assertEquals(util.isObject(value), expected, JSON.stringify(value));
    assertEquals(core.isObject(value), expected, JSON.stringify(value));
  }
});
