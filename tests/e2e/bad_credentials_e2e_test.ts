/**
 * A daemon whose credentials the API server refuses says so once, clearly,
 * stays not ready and approves nothing; repeated warnings are said once.
 */
import { runDaemon } from "../../src/cli/daemon.ts";
import { parseFlags } from "../../src/cli/parse_flags.ts";
import { staticTokenSource } from "../../src/kube/token_source.ts";
import { createLogger } from "../../src/log.ts";
import { suppressRepeats } from "../../src/log_repeats.ts";
import { startApiServer } from "../support/api_server.ts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { makeServingCsr } from "../support/csr_factory.ts";

Deno.test("bad token: one clear error line, not ready, nothing approved, no warning per retry", async () => {
  const api = await startApiServer({});
  // A pending CSR the daemon must not touch (stored directly: the daemon is
  // the only client here).
  api.createCsr(await makeServingCsr({ name: "pending" }));
  const ac = new AbortController();
  const lines: string[] = [];
  let port = 0;
  const daemon = runDaemon(parseFlags(["--listen=127.0.0.1:0"]), {
    connection: {
      server: api.url,
      caPem: api.caPem,
      tokenSource: staticTokenSource("not-a-token"),
      source: "test",
    },
    log: createLogger({
      format: "json",
      level: "info",
      write: (l) => lines.push(l),
    }),
    signal: ac.signal,
    onListening: (p) => port = p,
    backoff: { initialMs: 20, maxMs: 100 },
    retry: { baseDelayMs: 20, maxDelayMs: 100 },
  });
  try {
    await new Promise((r) => setTimeout(r, 3_000));
    const http = Deno.createHttpClient({});
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`, {
      client: http,
    });
    await ready.body?.cancel();
    http.close();
    assert(ready.status !== 200, `readyz ${ready.status}`);
    const records = lines.map((l) => JSON.parse(l));
    const errors = records.filter((r) => r.level === "error");
    assertEquals(errors.length, 1, lines.join("\n"));
    assertMatch(
      errors[0].msg,
      /rejects this client's credentials \(401 Unauthorized\)/,
    );
    // Many retries in 3 s; each distinct warning written once.
    const warnings = records.filter((r) => r.level === "warn");
    const distinct = new Set(
      warnings.map((r) => `${r.msg} ${r.resource ?? ""}`),
    );
    assertEquals(warnings.length, distinct.size, lines.join("\n"));
    assert(warnings.length <= 3, lines.join("\n"));
    const attempts = api.requests.filter((r) => r.resource === "nodes").length;
    assert(attempts >= 5, `the daemon kept retrying (${attempts} Node lists)`);
    assertEquals(
      api.requests.filter((r) => r.subresource === "approval").length,
      0,
    );
  } finally {
    ac.abort();
    await daemon;
    await api.stop();
  }
});

Deno.test("suppressRepeats: the same warning once per window; other fields, levels and later times are new", () => {
  const lines: string[] = [];
  let t = 0;
  const log = suppressRepeats(
    createLogger({
      format: "json",
      level: "info",
      write: (l) => lines.push(l),
    }),
    { windowMs: 1_000, now: () => t },
  );
  log.warn("list failed", {
    resource: "nodes",
    error: "401",
    attempt: 1,
    delayMs: 20,
  });
  log.warn("list failed", {
    resource: "nodes",
    error: "401",
    attempt: 2,
    delayMs: 40,
  });
  log.warn("list failed", { resource: "csrs", error: "401" });
  log.error("list failed", { resource: "nodes", error: "401" });
  log.with({ component: "events" }).warn("list failed", {
    resource: "nodes",
    error: "401",
  });
  log.warn("decision", { csr: "a", reason: "X" });
  log.warn("decision", { csr: "b", reason: "X" });
  // A state change without an error is said every time.
  log.warn("lost leadership");
  log.warn("lost leadership");
  t = 1_500;
  log.warn("list failed", { resource: "nodes", error: "401", attempt: 9 });
  assertEquals(lines.length, 9, lines.join("\n"));
  const debug = suppressRepeats(
    createLogger({
      format: "json",
      level: "debug",
      write: (l) => lines.push(l),
    }),
    { now: () => t },
  );
  debug.warn("x", { error: "e" });
  debug.warn("x", { error: "e" });
  const last = JSON.parse(lines.at(-1)!);
  assertEquals([last.level, last.repeated], ["debug", 1]);
});
