/**
 * Polling until a condition holds, for tests that watch a daemon, a cache or
 * the API server double change state asynchronously.
 *
 * @module
 */

/**
 * Waits until `predicate` holds, polling every 10 ms; throws after
 * `timeoutMs`, naming `what` and appending `context()` (recent logs, say) so
 * that a timeout explains itself.
 *
 * @example
 * ```ts
 * import { until } from "./until.ts";
 * const logs: string[] = [];
 * setTimeout(() => logs.push("synced"), 20);
 * await until(() => logs.length === 1, 5_000, "one log line", () => logs.join("\n"));
 * ```
 */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = "condition",
  context?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await predicate()) {
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs}ms waiting for ${what}${
          context ? `\n${context()}` : ""
        }`,
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
