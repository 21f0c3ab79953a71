/**
 * A strict-enough parser of Prometheus text exposition for tests.
 *
 * @module
 */

/**
 * Parses Prometheus text exposition strictly enough to catch format slips;
 * returns sample name with labels → value.
 *
 * @example
 * ```ts
 * import { parsePrometheus } from "./prometheus.ts";
 * parsePrometheus("# TYPE x counter\nx 1\n").get("x"); // 1
 * ```
 */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# HELP ")) continue;
    const t =
      /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/
        .exec(line);
    if (t) {
      types.set(t[1], t[2]);
      continue;
    }
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+)$/
        .exec(line);
    if (!m) {
      throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    }
    const family = m[1].replace(/_(bucket|sum|count)$/, "");
    if (!types.has(m[1]) && !types.has(family)) {
      throw new Error(`sample before TYPE: ${line}`);
    }
    const v = m[3] === "+Inf" ? Infinity : Number(m[3]);
    if (Number.isNaN(v) && m[3] !== "NaN") {
      throw new Error(`bad value in ${line}`);
    }
    out.set(m[1] + (m[2] ?? ""), v);
  }
  return out;
}
