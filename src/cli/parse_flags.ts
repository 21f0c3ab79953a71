/**
 * The one parser of the daemon's and `check`'s command lines, against the
 * flag table (`flag_table.ts`), so that the policy flags mean exactly the
 * same in `check` as in the daemon.
 *
 * Rules shared by both commands:
 * - `--flag value`, `--flag=value`, and bare boolean flags (`--dry-run`);
 * - booleans are `true`, `false`, `1` or `0`;
 * - integers are plain decimal (`1e3`, `0x10` or ` 5` are refused), numbers
 *   plain decimal with an optional fraction, durations Go-style (`1m30s`);
 * - list flags split on commas (trimmed, empty items dropped) and append on
 *   every occurrence;
 * - a bare `--` is skipped (Deno's task runner passes it through:
 *   `deno task start -- --kubeconfig x`);
 * - every flag but `--help` and `--version` can also come from the
 *   environment variable `RUBBER_STAMP_<FLAG>` (upper snake case:
 *   `--protected-cidrs` ↔ `RUBBER_STAMP_PROTECTED_CIDRS`), parsed the same
 *   way; a flag on the command line overrides its variable (a list flag
 *   replaces the variable's list); an unknown `RUBBER_STAMP_*` variable is
 *   an error naming it (a daemon-only variable is not an error for `check`,
 *   which runs in the same environment).
 *
 * @module
 */
import { quote } from "../core/text.ts";
import { ENV_PREFIX, envVariableName } from "./flag_env.ts";
import { CHECK_FLAGS, FLAG_TABLE, FLAGS } from "./flag_table.ts";
import {
  type Command,
  type DaemonFlags,
  type FlagDef,
  FlagError,
} from "./flag_types.ts";
import { convertFlagValue } from "./flag_values.ts";

/** How a value's source is named in errors: `--flag` or `VAR (--flag)`. */
function sourceOf(def: FlagDef, variable?: string): string {
  return variable === undefined
    ? `--${def.name}`
    : `${variable} (--${def.name})`;
}

function initialValue(def: FlagDef): unknown {
  return Array.isArray(def.default) ? [...def.default] : def.default;
}

/** The flag values and the positional arguments of one command line. */
export interface ParsedCommandLine {
  /** Every flag of the command, by key: its default unless given. */
  values: Record<string, unknown>;
  /** Arguments that are not flags (`-` included), in order. */
  positionals: string[];
}

/**
 * Parses `args` against the flags `command` accepts: the one parser of both
 * the daemon and `check` (see the module doc for the rules). Throws
 * {@linkcode FlagError} with a one-line message.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./parse_flags.ts";
 * const { values, positionals } = parseCommandLine(
 *   ["csr.yaml", "--protected-cidrs", "10.0.0.0/8", "--protected-cidrs=fd00::/8"],
 *   "check",
 * );
 * // values.protectedCidrs: ["10.0.0.0/8", "fd00::/8"]; positionals: ["csr.yaml"]
 * ```
 */
export function parseCommandLine(
  args: readonly string[],
  command: Command,
  env: Readonly<Record<string, string>> = {},
): ParsedCommandLine {
  const defs = command === "daemon" ? FLAGS : CHECK_FLAGS;
  const values: Record<string, unknown> = {};
  for (const def of defs) values[def.key] = initialValue(def);
  // Unknown variables are refused before the command line is read.
  const fromEnv = environmentFlags(env, defs);
  const fromCommandLine = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    // Deno's task runner passes `--` through; it separates nothing here.
    if (arg === "--") continue;
    if (arg === "-" || !arg.startsWith("-")) {
      positionals.push(arg);
      continue;
    }
    const { def, raw, next } = readFlag(args, i, defs);
    i = next;
    const value = checkedValue(def, raw, sourceOf(def));
    if (def.kind === "list" || def.kind === "files") {
      // Every occurrence appends; `--allowed-cidrs=` still makes it `[]`.
      const previous = values[def.key] as string[] | undefined;
      values[def.key] = [...(previous ?? []), ...(value as string[])];
    } else {
      values[def.key] = value;
    }
    fromCommandLine.add(def.key);
  }
  for (const [def, variable] of fromEnv) {
    if (fromCommandLine.has(def.key)) continue; // the command line wins
    values[def.key] = checkedValue(
      def,
      env[variable],
      sourceOf(def, variable),
    );
  }
  return { values, positionals };
}

/** A flag's value, converted and then checked by the flag's own rule. */
function checkedValue(def: FlagDef, raw: string, source: string): unknown {
  const value = convertFlagValue(def, raw, source);
  const problem = def.check?.(value);
  if (problem) {
    throw new FlagError(
      `invalid value ${quote(raw)} for ${source}: ${problem}`,
    );
  }
  return value;
}

/**
 * The `RUBBER_STAMP_*` variables of `env` that set one of `defs`, with their
 * flag. Unknown ones are refused, sorted, so that of several the same one is
 * always named; the other command's variables are skipped (both commands run
 * in the same environment).
 */
function environmentFlags(
  env: Readonly<Record<string, string>>,
  defs: readonly FlagDef[],
): Array<[FlagDef, string]> {
  const fromEnv: Array<[FlagDef, string]> = [];
  for (const variable of Object.keys(env).sort()) {
    if (!variable.startsWith(ENV_PREFIX)) continue;
    const def = FLAG_TABLE.find((f) => envVariableName(f) === variable);
    if (!def) {
      throw new FlagError(
        `unknown environment variable ${variable} (see --help for the ${ENV_PREFIX}* variables)`,
      );
    }
    if (defs.includes(def)) fromEnv.push([def, variable]);
  }
  return fromEnv;
}

/**
 * The flag at `args[i]` and its raw value (after `=`, the next argument, or
 * `true` for a bare boolean); `next` is the index of the last argument read.
 */
function readFlag(
  args: readonly string[],
  i: number,
  defs: readonly FlagDef[],
): { def: FlagDef; raw: string; next: number } {
  const arg = args[i];
  const m = /^--?([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
  if (!m) {
    throw new FlagError(
      `unexpected argument ${quote(arg)} (flags start with --)`,
    );
  }
  const def = defs.find((f) => f.name === m[1] || f.alias === m[1]);
  if (!def) throw new FlagError(`unknown flag --${m[1]} (see --help)`);
  if (m[2] !== undefined) return { def, raw: m[2], next: i };
  if (def.kind === "bool") return { def, raw: "true", next: i };
  if (i + 1 >= args.length) {
    throw new FlagError(`flag --${def.name} needs a value`);
  }
  return { def, raw: args[i + 1], next: i + 1 };
}

/**
 * Parses daemon flags. Accepts `--flag value`, `--flag=value`, and bare
 * boolean flags; skips a bare `--`. Throws {@linkcode FlagError} with a
 * one-line message.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./parse_flags.ts";
 * const flags = parseFlags(["--dry-run", "--listen=127.0.0.1:9090"]);
 * console.log(flags.listen, flags.dryRun);
 * ```
 */
export function parseFlags(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): DaemonFlags {
  const { values, positionals } = parseCommandLine(args, "daemon", env);
  if (positionals.length > 0) {
    throw new FlagError(
      `unexpected argument ${quote(positionals[0])} (flags start with --)`,
    );
  }
  return values as unknown as DaemonFlags;
}
