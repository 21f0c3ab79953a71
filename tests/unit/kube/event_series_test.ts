/**
 * The Event dedupe cache on a hand-driven clock: identical events within the
 * window join a series, others do not, and the cache stays bounded.
 */
import type { NormalizedEvent } from "../../../src/kube/event_fields.ts";
import {
  createEventSeriesCache,
  type EventSeries,
} from "../../../src/kube/event_series.ts";
import { assert, assertEquals } from "../../support/assert.ts";

const event = (name: string, note = "hello"): NormalizedEvent => ({
  namespace: "default",
  regarding: { apiVersion: "v1", kind: "Node", name },
  type: "Normal",
  reason: "Seen",
  action: "Look",
  note,
});

function series(e: NormalizedEvent, key: string, at: number): EventSeries {
  return {
    key,
    event: e,
    name: `${e.regarding.name}.${at}`,
    firstSeen: new Date(at),
    lastObserved: new Date(at),
    count: 1,
    sentCount: 1,
    busy: false,
  };
}

Deno.test("event series: identical events within the window share a series", () => {
  const cache = createEventSeriesCache({ windowMs: 1_000, maxSeries: 10 });
  const key = cache.keyOf(event("a"))!;
  assertEquals(cache.keyOf(event("a")), key);
  assert(cache.keyOf(event("a", "other note")) !== key, "the note counts");
  assert(cache.keyOf(event("b")) !== key, "the object counts");
  const s = series(event("a"), key, 0);
  cache.remember(s, 0);
  assertEquals(cache.find(key, 1_000), s);
  assertEquals(cache.find(key, 1_001), undefined);
});

Deno.test("event series: a window of 0 turns dedupe off", () => {
  const cache = createEventSeriesCache({ windowMs: 0, maxSeries: 10 });
  assertEquals(cache.keyOf(event("a")), undefined);
});

Deno.test("event series: past maxSeries the oldest is forgotten, a busy one kept while fresh", () => {
  const cache = createEventSeriesCache({ windowMs: 60_000, maxSeries: 2 });
  const keys = ["a", "b", "c"].map((n) => cache.keyOf(event(n))!);
  const all = keys.map((k, i) => series(event("abc"[i]), k, i));
  for (const [i, s] of all.entries()) cache.remember(s, i);
  assertEquals(cache.find(keys[0], 10), undefined);
  assertEquals(cache.find(keys[1], 10), all[1]);
  assertEquals(cache.find(keys[2], 10), all[2]);
  cache.clear();
  assertEquals(cache.find(keys[2], 10), undefined);
});
