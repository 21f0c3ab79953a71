import { createLogger } from "../../src/log.ts";
import { assertEquals } from "../support/assert.ts";

const at = () => new Date("2026-11-28T10:00:00.000Z");

Deno.test("json logs are one object per line with fields", () => {
  const lines: string[] = [];
  const log = createLogger({
    format: "json",
    write: (l) => lines.push(l),
    now: at,
  });
  log.with({ csr: "csr-1" }).info("decision", {
    outcome: "approved",
    error: new Error("x"),
  });
  assertEquals(lines.length, 1);
  assertEquals(JSON.parse(lines[0]), {
    ts: "2026-11-28T10:00:00.000Z",
    level: "info",
    msg: "decision",
    csr: "csr-1",
    outcome: "approved",
    error: "x",
  });
});

Deno.test("text logs quote values that need it and respect the level", () => {
  const lines: string[] = [];
  const log = createLogger({
    format: "text",
    level: "warn",
    write: (l) => lines.push(l),
    now: at,
  });
  log.info("hidden");
  log.warn("left pending", { csr: "csr-2", message: 'CN "x" bad' });
  assertEquals(lines, [
    '2026-11-28T10:00:00.000Z WARN left pending csr=csr-2 message="CN \\"x\\" bad"',
  ]);
});
