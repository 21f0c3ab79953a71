/**
 * An error's text for a log field or a message. Pure; nothing from the
 * project.
 *
 * `src/core/error_text.ts` holds the same `errorText` for `core/`, which
 * may import nothing outside `core/` (and `kube/` may not import `core/`);
 * keep the two alike.
 *
 * @module
 */

/**
 * `error.message` for an `Error`, else `String(error)`.
 *
 * @example
 * ```ts
 * import { errorText } from "./error_text.ts";
 * errorText(new TypeError("bad header")); // "bad header"
 * errorText("timeout"); // "timeout"
 * ```
 */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The first line of {@linkcode errorText}: parsers (YAML, Deno's file
 * errors) may append an excerpt or a stack on later lines.
 *
 * @example
 * ```ts
 * import { errorFirstLine } from "./error_text.ts";
 * errorFirstLine(new SyntaxError("bad indentation at line 2\n  a: b\n  ^")); // "bad indentation at line 2"
 * ```
 */
export function errorFirstLine(error: unknown): string {
  return errorText(error).split("\n")[0];
}
