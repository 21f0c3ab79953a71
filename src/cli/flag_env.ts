/**
 * The environment variables that set flags: every flag but `--help` and
 * `--version` can also come from `RUBBER_STAMP_<FLAG>` (upper snake case:
 * `--protected-cidrs` ↔ `RUBBER_STAMP_PROTECTED_CIDRS`). The name is made
 * here; `parse_flags.ts` reads them and `help.ts` lists them.
 *
 * @module
 */
import type { FlagDef } from "./flag_types.ts";

/** Prefix of the environment variables that set flags. */
export const ENV_PREFIX = "RUBBER_STAMP_";

// Actions, not settings: never taken from the environment.
const NOT_FROM_ENV = new Set(["help", "version"]);

/**
 * The environment variable that sets a flag, or `undefined` for `--help`
 * and `--version`.
 *
 * @example
 * ```ts
 * import { envVariableName } from "./flag_env.ts";
 * import { FLAG_TABLE } from "./flag_table.ts";
 * envVariableName(FLAG_TABLE.find((f) => f.name === "dry-run")!); // "RUBBER_STAMP_DRY_RUN"
 * ```
 */
export function envVariableName(def: FlagDef): string | undefined {
  if (NOT_FROM_ENV.has(def.name)) return undefined;
  return ENV_PREFIX + def.name.toUpperCase().replaceAll("-", "_");
}
