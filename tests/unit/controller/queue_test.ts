import { createWorkQueue } from "../../../src/controller/queue.ts";
import { assert, assertEquals } from "../../support/assert.ts";

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

Deno.test("work queue deduplicates a key queued many times before it runs", async () => {
  const runs: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const q = createWorkQueue({
    concurrency: 1,
    async process(k) {
      if (k === "block") await gate;
      runs.push(k);
    },
  });
  q.add("block");
  await tick();
  for (let i = 0; i < 10; i++) q.add("csr-a");
  q.add("csr-b");
  release();
  await q.idle();
  await q.shutdown();
  assertEquals(runs, ["block", "csr-a", "csr-b"]);
});

Deno.test("work queue never runs one key in two workers and re-runs a key added during its run", async () => {
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  const q: ReturnType<typeof createWorkQueue> = createWorkQueue({
    concurrency: 4,
    async process() {
      active++;
      maxActive = Math.max(maxActive, active);
      runs++;
      if (runs === 1) q.add("same"); // arrives while processing
      await tick(5);
      active--;
    },
  });
  q.add("same");
  await tick(1);
  q.add("same");
  await q.idle();
  await q.shutdown();
  assertEquals(maxActive, 1);
  assertEquals(runs, 2);
});

Deno.test("work queue bounds concurrency", async () => {
  let active = 0;
  let maxActive = 0;
  const q = createWorkQueue({
    concurrency: 3,
    async process() {
      active++;
      maxActive = Math.max(maxActive, active);
      await tick(2);
      active--;
    },
  });
  for (let i = 0; i < 20; i++) q.add(`k${i}`);
  await q.idle();
  await q.shutdown();
  assertEquals(maxActive, 3);
});

Deno.test("work queue retries failures with growing backoff, then forgets on success", async () => {
  const delays: number[] = [];
  let calls = 0;
  const q = createWorkQueue({
    baseDelayMs: 2,
    maxDelayMs: 8,
    onRetry: (_k, _e, d) => delays.push(d),
    process() {
      calls++;
      if (calls <= 4) return Promise.reject(new Error("transient"));
      return Promise.resolve();
    },
  });
  q.add("k");
  await q.idle();
  await q.shutdown();
  assertEquals(calls, 5);
  assertEquals(delays, [2, 4, 8, 8]);
});

Deno.test("work queue honours a retry-after longer than its backoff", async () => {
  const delays: number[] = [];
  let calls = 0;
  const q = createWorkQueue({
    baseDelayMs: 1,
    onRetry: (_k, _e, d) => delays.push(d),
    process() {
      calls++;
      return Promise.resolve(
        calls === 1 ? { retry: true as const, retryAfterMs: 30 } : undefined,
      );
    },
  });
  const start = Date.now();
  q.add("k");
  await q.idle();
  await q.shutdown();
  assertEquals(delays, [30]);
  assert(Date.now() - start >= 29, "the retry waited for retry-after");
});

Deno.test("work queue shutdown drops queued work and clears timers", async () => {
  const runs: string[] = [];
  const q = createWorkQueue({
    concurrency: 1,
    async process(k) {
      runs.push(k);
      await tick(10);
    },
  });
  q.add("a");
  q.add("b");
  q.addAfter("c", 10_000);
  await tick(1);
  await q.shutdown(1000);
  q.add("d");
  assertEquals(runs, ["a"]);
  assertEquals(q.length, 0);
});
