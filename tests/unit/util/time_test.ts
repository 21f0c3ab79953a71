import { microTime, rfc3339 } from "../../../src/util/time.ts";
import { createBody } from "../../../src/kube/event_sink.ts";
import type { EventSeries } from "../../../src/kube/event_series.ts";
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

Deno.test("Event bodies are stamped with the one microTime and rfc3339", () => {
  const first = new Date("2026-11-28T08:49:48.123Z");
  const last = new Date("2026-11-28T08:50:01.5Z");
  const series: EventSeries = {
    key: undefined,
    name: "csr-1.1",
    firstSeen: first,
    lastObserved: last,
    count: 2,
    sentCount: 0,
    busy: false,
    event: {
      namespace: "default",
      regarding: { apiVersion: "v1", kind: "Node", name: "worker-1" },
      type: "Normal",
      reason: "Seen",
      action: "Look",
      note: "",
    },
  };
  const v1 = createBody(series, "events", "example.com/c", "pod") as {
    eventTime: string;
    series: { lastObservedTime: string };
  };
  assertEquals(v1.eventTime, microTime(first));
  assertEquals(v1.series.lastObservedTime, microTime(last));
  const core = createBody(series, "core", "example.com/c", "pod") as {
    firstTimestamp: string;
    lastTimestamp: string;
  };
  assertEquals(core.firstTimestamp, rfc3339(first));
  assertEquals(core.lastTimestamp, rfc3339(last));
});
