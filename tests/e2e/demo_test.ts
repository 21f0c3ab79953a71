/** The demo is the main job on a built-in default: it must pass as documented. */
import { runDemo } from "../support/demo.ts";
import { assert, assertEquals } from "../support/assert.ts";

Deno.test("demo: every simulated kubelet gets the expected outcome and the daemon shuts down cleanly", async () => {
  const lines: string[] = [];
  const started = Date.now();
  const summary = await runDemo((l) => lines.push(l));
  assert(summary.ok, lines.join("\n"));
  const by = (a: string) =>
    summary.results.filter((r) => r.action === a).length;
  assertEquals([by("approved"), by("denied"), by("ignored")], [3, 2, 2]);
  assert(lines.at(-1)?.includes("All as expected."), "summary line");
  // The daemon runs with the production watch timeout (minutes): shutting
  // down must abort the open watches rather than wait for them to end.
  assert(Date.now() - started < 15_000, "demo finished promptly");
});
