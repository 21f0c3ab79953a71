/**
 * A logger that says a repeated failure once: the same warning or error
 * carrying an `error` field (message and fields, apart from counters and
 * delays that change with each retry) within `windowMs` of its last
 * appearance is written at debug level instead, so a daemon retrying against
 * an API server that keeps refusing it (a bad token, missing RBAC) writes one
 * line per problem, not one per retry.
 *
 * @module
 */
import type { LogFields, Logger } from "./log.ts";

// Fields that change from one retry of the same problem to the next.
const VOLATILE = new Set(["attempt", "delayMs", "retryAfterMs", "repeated"]);

function identity(fields: LogFields | undefined): string {
  if (!fields) return "";
  try {
    return JSON.stringify(
      Object.keys(fields).filter((k) => !VOLATILE.has(k)).sort().map((k) => {
        const v = fields[k];
        return [k, v instanceof Error ? v.message : v];
      }),
    );
  } catch {
    return String(Math.random()); // unprintable: never a repeat
  }
}

/** Options of {@linkcode suppressRepeats}. */
export interface SuppressRepeatsOptions {
  /** How long a warning stays "already said". Default 10 minutes. */
  windowMs?: number;
  /** The clock (ms). Default `Date.now`. */
  now?: () => number;
}

/**
 * Wraps `log` so that repeated warnings and errors are demoted to debug
 * (with `repeated: N`, the count since it was last written at its level).
 * Every `with()` child shares the memory of what was said.
 *
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * import { suppressRepeats } from "./log_repeats.ts";
 * const lines: string[] = [];
 * const log = suppressRepeats(createLogger({ write: (l) => lines.push(l) }));
 * log.warn("list failed", { error: "401 Unauthorized" });
 * log.warn("list failed", { error: "401 Unauthorized" }); // debug: not written at info level
 * lines.length; // 1
 * ```
 */
export function suppressRepeats(
  log: Logger,
  options: SuppressRepeatsOptions = {},
): Logger {
  const windowMs = options.windowMs ?? 10 * 60_000;
  const now = options.now ?? Date.now;
  const said = new Map<string, { at: number; repeated: number }>();
  const wrap = (inner: Logger, bound: string): Logger => {
    const loud =
      (level: "warn" | "error") => (msg: string, fields?: LogFields) => {
        // Only failures repeat; a state change (lost leadership, storm
        // guard on) is said every time it happens.
        if (fields?.error === undefined) {
          inner[level](msg, fields);
          return;
        }
        const key = `${level}\u0000${bound}\u0000${msg}\u0000${
          identity(fields)
        }`;
        const at = now();
        const last = said.get(key);
        if (last && at - last.at < windowMs) {
          last.repeated++;
          inner.debug(msg, { ...fields, repeated: last.repeated });
          return;
        }
        said.set(key, { at, repeated: 0 });
        if (said.size > 1_000) said.delete(said.keys().next().value!);
        inner[level](msg, fields);
      };
    return {
      debug: (m, f) => inner.debug(m, f),
      info: (m, f) => inner.info(m, f),
      warn: loud("warn"),
      error: loud("error"),
      with: (f) => wrap(inner.with(f), `${bound}${JSON.stringify(f)}`),
    };
  };
  return wrap(log, "");
}
