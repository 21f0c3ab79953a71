import { microTime, rfc3339 } from "../../../src/util/time.ts";
import { microTime as leaseMicroTime } from "../../../src/kube/lease.ts";
import { formatMicroTime } from "../../../src/controller/events.ts";
import { assertEquals, assertThrows } from "../../support/assert.ts";

Deno.test("rfc3339 writes UTC in whole seconds, dropping the milliseconds", () => {
  const cases: [string, string][] = [
    ["2026-11-28T08:49:48.000Z", "2026-11-28T08:49:48Z"],
    ["2026-11-28T08:49:48.999Z", "2026-11-28T08:49:48Z"],
    ["2026-11-28T10:49:48.5+02:00", "2026-11-28T08:49:48Z"],
    ["1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"],
  ];
  for (const [input, text] of cases) {
    assertEquals(rfc3339(new Date(input)), text, input);
  }
  assertThrows(() => rfc3339(new Date(NaN)), RangeError);
});

Deno.test("microTime writes UTC with exactly six fractional digits", () => {
  const cases: [string, string][] = [
    ["2026-11-28T08:49:48.123Z", "2026-11-28T08:49:48.123000Z"],
    ["2026-11-28T08:49:48Z", "2026-11-28T08:49:48.000000Z"],
    ["2026-11-28T09:49:48.007+01:00", "2026-11-28T08:49:48.007000Z"],
    ["+010000-01-01T00:00:00.001Z", "+010000-01-01T00:00:00.001000Z"],
  ];
  for (const [input, text] of cases) {
    assertEquals(microTime(new Date(input)), text, input);
  }
  assertThrows(() => microTime(new Date(NaN)), RangeError);
});

Deno.test("lease.ts and events.ts export the one microTime", () => {
  assertEquals(leaseMicroTime, microTime);
  assertEquals(formatMicroTime, microTime);
});
