/**
 * Structured logging: one line per record, JSON or `key=value` text.
 *
 * @module
 */

/** Severity levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";
/** Output formats accepted by `--log-format`. */
export type LogFormat = "json" | "text";

/** Fields attached to a record. Values are printed as JSON in text mode when not strings. */
export type LogFields = Record<string, unknown>;

/** A logger bound to a level and format. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every record. */
  with(fields: LogFields): Logger;
}

/** The log levels in order, for flag validation. */
export const LOG_LEVELS: readonly LogLevel[] = [
  "debug",
  "info",
  "warn",
  "error",
];

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; defaults to standard error. */
  write?: (line: string) => void;
  now?: () => Date;
}

const encoder = new TextEncoder();

function textValue(v: unknown): string {
  if (typeof v === "string") {
    return /^[\w.:/@\-+]*$/.test(v) && v !== "" ? v : JSON.stringify(v);
  }
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(v) ?? "undefined";
}

/**
 * Creates a logger.
 *
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * const lines: string[] = [];
 * const log = createLogger({ format: "json", write: (l) => lines.push(l) });
 * log.info("decided", { csr: "csr-1", outcome: "approve" });
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = LOG_LEVELS.indexOf(options.level ?? "info");
  const format = options.format ?? "text";
  const write = options.write ??
    ((line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n")));
  const now = options.now ?? (() => new Date());
  const make = (bound: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
      if (LOG_LEVELS.indexOf(level) < min) return;
      const all = { ...bound, ...fields };
      for (const [k, v] of Object.entries(all)) {
        if (v instanceof Error) all[k] = v.message;
      }
      const ts = now().toISOString();
      if (format === "json") {
        write(JSON.stringify({ ts, level, msg, ...all }));
      } else {
        const kv = Object.entries(all)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k}=${textValue(v)}`)
          .join(" ");
        write(`${ts} ${level.toUpperCase()} ${msg}${kv ? " " + kv : ""}`);
      }
    };
    return {
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
      with: (f) => make({ ...bound, ...f }),
    };
  };
  return make({});
}
