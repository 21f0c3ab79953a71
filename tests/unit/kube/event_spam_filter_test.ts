/**
 * The per-object Event spam filter on a hand-driven clock: a burst per
 * object, refilled over time, objects apart, the least recent forgotten.
 */
import { createEventSpamFilter } from "../../../src/kube/event_spam_filter.ts";
import { assertEquals } from "../../support/assert.ts";

const node = (name: string, uid?: string) => ({
  apiVersion: "v1",
  kind: "Node",
  name,
  uid,
});

Deno.test("spam filter: a burst per object, then one per refill period", () => {
  const filter = createEventSpamFilter({ burst: 3, refillMs: 1_000 });
  const a = node("a");
  assertEquals([0, 0, 0, 0].map((t) => filter.allow(a, t)), [
    true,
    true,
    true,
    false,
  ]);
  assertEquals(filter.allow(a, 999), false);
  assertEquals(filter.allow(a, 1_000), true);
  assertEquals(filter.allow(a, 1_000), false);
  // Refills never exceed the burst.
  assertEquals([1, 2, 3, 4].map(() => filter.allow(a, 100_000)), [
    true,
    true,
    true,
    false,
  ]);
});

Deno.test("spam filter: objects are counted apart, by uid too; the oldest is forgotten past the bound", () => {
  const filter = createEventSpamFilter({
    burst: 1,
    refillMs: 60_000,
    maxObjects: 2,
  });
  assertEquals(filter.allow(node("a", "1"), 0), true);
  assertEquals(filter.allow(node("a", "2"), 0), true); // a new object, same name
  assertEquals(filter.allow(node("a", "1"), 0), false);
  assertEquals(filter.allow(node("b"), 0), true); // forgets a/1
  assertEquals(filter.allow(node("a", "1"), 0), true); // a full burst again
  filter.clear();
  assertEquals(filter.allow(node("b"), 0), true);
});

Deno.test("spam filter: client-go's defaults, burst 25 then 1 per 5 minutes", () => {
  const filter = createEventSpamFilter();
  assertEquals(filter.burst, 25);
  assertEquals(filter.refillMs, 300_000);
});
