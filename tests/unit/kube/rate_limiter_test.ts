import { createRateLimiter } from "../../../src/kube/rate_limiter.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../support/assert.ts";

/** A manual clock and a sleep that records the wait and returns at once. */
function fakeTime() {
  const state = { now: 0, sleeps: [] as number[] };
  return {
    state,
    now: () => state.now,
    sleep: (ms: number) => {
      state.sleeps.push(ms);
      return Promise.resolve();
    },
  };
}

Deno.test("rate limiter: token bucket waits follow qps and burst", async (t) => {
  const cases: {
    name: string;
    qps: number;
    burst: number;
    /** [clock in ms at the acquire, expected sleep in ms (0 = immediate)] */
    steps: [number, number][];
  }[] = [
    {
      name: "burst is served at once, then one per 1/qps",
      qps: 10,
      burst: 3,
      steps: [[0, 0], [0, 0], [0, 0], [0, 100], [0, 200], [0, 300]],
    },
    {
      name: "tokens refill with time, capped at burst",
      qps: 10,
      burst: 2,
      steps: [[0, 0], [0, 0], [50, 50], [10_000, 0], [10_000, 0], [
        10_000,
        100,
      ]],
    },
    {
      name: "fractional refill counts",
      qps: 4,
      burst: 1,
      steps: [[0, 0], [125, 125], [500, 0]],
    },
    {
      name: "a clock going backwards mints no tokens",
      qps: 10,
      burst: 1,
      steps: [[1000, 0], [500, 100]],
    },
    {
      name: "qps <= 0 is unlimited",
      qps: 0,
      burst: 0,
      steps: [[0, 0], [0, 0], [0, 0], [0, 0]],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const time = fakeTime();
      time.state.now = c.steps[0][0];
      const limiter = createRateLimiter(c.qps, c.burst, time.now, time.sleep);
      const got: number[] = [];
      for (const [at] of c.steps) {
        time.state.now = at;
        const before = time.state.sleeps.length;
        await limiter.acquire();
        got.push(
          time.state.sleeps.length > before
            ? Math.round(time.state.sleeps[before])
            : 0,
        );
      }
      assertEquals(got, c.steps.map(([, wait]) => wait));
    });
  }
});

Deno.test("rate limiter: concurrent callers are queued in order", async () => {
  const time = fakeTime();
  const limiter = createRateLimiter(5, 1, time.now, time.sleep);
  await Promise.all([1, 2, 3, 4].map(() => limiter.acquire()));
  assertEquals(time.state.sleeps.map(Math.round), [200, 400, 600]);
});

Deno.test("rate limiter: an aborted wait rejects and gives its slot back", async () => {
  const limiter = createRateLimiter(1, 1); // real clock and timer: the 2nd call waits ~1 s
  await limiter.acquire();
  const controller = new AbortController();
  const started = performance.now();
  const pending = limiter.acquire(controller.signal);
  setTimeout(() => controller.abort(), 10);
  const error = await assertRejects(() => pending, DOMException);
  assertEquals(error.name, "AbortError");
  assert(
    performance.now() - started < 500,
    "abort must not wait for the token",
  );
  // Already-aborted signals are refused without touching the bucket.
  await assertRejects(() => limiter.acquire(AbortSignal.abort()), DOMException);
});

Deno.test("rate limiter: the real timer really waits", async () => {
  const limiter = createRateLimiter(100, 1);
  const started = performance.now();
  for (let i = 0; i < 4; i++) await limiter.acquire();
  const elapsed = performance.now() - started;
  assert(
    elapsed >= 25,
    `4 acquires at 100 qps, burst 1 took only ${elapsed} ms`,
  );
});

Deno.test("rate limiter: rejects a burst below 1", () => {
  assertThrows(() => createRateLimiter(10, 0), RangeError, "burst");
  assertThrows(() => createRateLimiter(10, Number.NaN), RangeError, "burst");
});
