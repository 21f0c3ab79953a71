import { abortableSleep, sleep } from "../../../src/util/sleep.ts";
import { abortableSleep as rateLimiterSleep } from "../../../src/kube/rate_limiter.ts";
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";

// The test sanitizers (--sanitize-ops/--sanitize-resources) fail any test
// here that leaves a timer or a pending op behind.

Deno.test("sleep resolves true once the time has passed", async () => {
  const stop = new AbortController();
  const started = performance.now();
  assertEquals(await sleep(20, stop.signal), true);
  assert(performance.now() - started >= 15, "waited about 20ms");
});

Deno.test("sleep resolves false at once when the signal has already aborted", async () => {
  const stop = new AbortController();
  stop.abort();
  const started = performance.now();
  assertEquals(await sleep(60_000, stop.signal), false);
  assert(performance.now() - started < 1_000, "did not wait");
});

Deno.test("sleep resolves false when the signal aborts mid-sleep, clearing its timer", async () => {
  const stop = new AbortController();
  const pending = sleep(60_000, stop.signal);
  setTimeout(() => stop.abort(), 5);
  assertEquals(await pending, false);
});

Deno.test("sleep treats a negative wait as no wait", async () => {
  const stop = new AbortController();
  assertEquals(await sleep(-5, stop.signal), true);
});

Deno.test("sleep removes its abort listener when the time passes", async () => {
  const stop = new AbortController();
  assertEquals(await sleep(1, stop.signal), true);
  // An abort afterwards reaches no leftover listener (and no late resolve).
  stop.abort();
  assertEquals(await sleep(1, stop.signal), false);
});

Deno.test("abortableSleep resolves after the time, with or without a signal", async () => {
  assertEquals(await abortableSleep(1), undefined);
  assertEquals(
    await abortableSleep(1, new AbortController().signal),
    undefined,
  );
});

Deno.test("abortableSleep rejects with the signal's reason, before or during the sleep", async () => {
  const before = new AbortController();
  before.abort(new Error("stopped before"));
  await assertRejects(
    () => abortableSleep(60_000, before.signal),
    Error,
    "stopped before",
  );

  const during = new AbortController();
  const pending = abortableSleep(60_000, during.signal);
  setTimeout(() => during.abort(new Error("stopped during")), 5);
  await assertRejects(() => pending, Error, "stopped during");
});

Deno.test("the rate limiter re-exports the one abortableSleep", () => {
  assertEquals(rateLimiterSleep, abortableSleep);
});
