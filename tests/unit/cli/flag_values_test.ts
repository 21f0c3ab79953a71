import { FLAG_TABLE } from "../../../src/cli/flag_table.ts";
import { FlagError } from "../../../src/cli/flag_types.ts";
import {
  convertFlagValue,
  parseDuration,
  parseListen,
  splitList,
} from "../../../src/cli/flag_values.ts";
import { assertEquals, assertThrows } from "../../support/assert.ts";

Deno.test("--listen parses host:port, :port and bracketed IPv6", () => {
  assertEquals(parseListen(":8080"), { hostname: "0.0.0.0", port: 8080 });
  assertEquals(parseListen("127.0.0.1:0"), { hostname: "127.0.0.1", port: 0 });
  assertEquals(parseListen("[::1]:9000"), { hostname: "::1", port: 9000 });
  assertEquals(parseListen("localhost"), undefined);
});

Deno.test("splitList and parseDuration: commas trimmed and dropped; Go durations summed", () => {
  assertEquals(splitList(" a, b,,c "), ["a", "b", "c"]);
  assertEquals(splitList(""), []);
  assertEquals(parseDuration("1m30s"), 90_000);
  assertEquals(parseDuration("1.5s"), 1_500);
  assertEquals(parseDuration("0"), 0);
  assertEquals(parseDuration("1m 30s"), undefined);
});

Deno.test("convertFlagValue: by kind, one error naming the source", () => {
  const def = (name: string) => FLAG_TABLE.find((f) => f.name === name)!;
  assertEquals(convertFlagValue(def("workers"), "8", "--workers"), 8);
  assertEquals(convertFlagValue(def("dry-run"), "0", "--dry-run"), false);
  assertEquals(convertFlagValue(def("node"), "a,b.yaml", "--node"), [
    "a,b.yaml",
  ]);
  const error = assertThrows(
    () =>
      convertFlagValue(
        def("workers"),
        "1e3",
        "RUBBER_STAMP_WORKERS (--workers)",
      ),
    FlagError,
  );
  assertEquals(
    error.message,
    'invalid value "1e3" for RUBBER_STAMP_WORKERS (--workers): expected an integer (decimal digits)',
  );
});
