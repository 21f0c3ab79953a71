/**
 * The version the program reports (`--version`, the build-info metric, the
 * startup log line) and the Deno version the project pins.
 *
 * `deno.json` is the single source of the program version: the release
 * workflow refuses a tag that differs from it (see `scripts/release_tags.ts`).
 * A static JSON import (not a file read at run time) means a `deno compile`d
 * binary carries the value inside it and needs no `--allow-read` for it.
 *
 * @module
 */

import denoConfig from "../deno.json" with { type: "json" };

/** The program name used in the version line and in logs. */
export const PROGRAM_NAME = "kubelet-rubber-stamp";

/**
 * The program version, read from `deno.json`'s `version` field.
 *
 * @example Printing it
 * ```ts
 * import { VERSION } from "./version.ts";
 * console.log(VERSION); // "0.1.0"
 * ```
 */
export const VERSION: string = denoConfig.version;

/**
 * The version of the Deno runtime this process runs on.
 *
 * @example Printing it
 * ```ts
 * import { DENO_VERSION } from "./version.ts";
 * console.log(DENO_VERSION); // "2.9.6"
 * ```
 */
export const DENO_VERSION: string = Deno.version.deno;

/**
 * The Deno version the project pins: the Docker builder image, the README's
 * `npx -y deno@…` set-up and the CI workflows must all name this version
 * (`tests/repo/dockerfile_test.ts` and `tests/repo/workflows_test.ts` check it).
 *
 * @example Comparing with the running runtime
 * ```ts
 * import { DENO_VERSION, PINNED_DENO_VERSION } from "./version.ts";
 * if (DENO_VERSION !== PINNED_DENO_VERSION) console.warn("untested Deno");
 * ```
 */
export const PINNED_DENO_VERSION = "2.9.6";

/**
 * The one-line version banner, e.g.
 * `kubelet-rubber-stamp 0.1.0 (deno 2.9.6)`.
 *
 * @example Answering `--version`
 * ```ts
 * import { versionLine } from "./version.ts";
 * console.log(versionLine()); // "kubelet-rubber-stamp 0.1.0 (deno 2.9.6)"
 * ```
 */
export function versionLine(): string {
  return `${PROGRAM_NAME} ${VERSION} (deno ${DENO_VERSION})`;
}
