/**
 * Computes the container image tags for a release, and refuses to release
 * anything that is not exactly the version in `deno.json`.
 *
 * Rules:
 * - `refs/tags/vX.Y.Z` → `X.Y.Z` and the moving alias `X.Y`.
 * - `refs/tags/vX.Y.Z-PRE` (a SemVer 2.0.0 pre-release) → only `X.Y.Z-PRE`:
 *   a release candidate never moves an alias.
 * - `refs/heads/main` → `latest` only.
 * - The tag must be `v` + a strict SemVer 2.0.0 version (no leading zeros,
 *   exactly three numbers) and must equal `deno.json`'s `version`.
 * - Build metadata (`v1.2.3+build.1`) is rejected: a docker tag cannot
 *   contain `+`, and SemVer ignores build metadata for precedence, so two
 *   such tags would silently fight over one image tag.
 *
 * CLI (used by `.github/workflows/release.yml`):
 *
 * ```sh
 * deno run --allow-read=deno.json scripts/release_tags.ts \
 *   --ref refs/tags/v1.2.3 --image ghcr.io/owner/repo --version-file deno.json
 * # ghcr.io/owner/repo:1.2.3
 * # ghcr.io/owner/repo:1.2
 * ```
 *
 * With `--github-output` it prints `tags<<DELIMITER … DELIMITER` and
 * `version=…` in the `$GITHUB_OUTPUT` format instead. Exit codes: 0 success,
 * 1 the ref/version check failed, 2 bad command-line usage.
 *
 * @module
 */

/** The `ref` that publishes the `latest` tag. */
export const MAIN_REF = "refs/heads/main";

const TAG_REF_PREFIX = "refs/tags/";

/** Docker limits a tag to 128 characters (`[\w][\w.-]{0,127}`). */
const MAX_DOCKER_TAG_LENGTH = 128;

/**
 * A release check failed: the ref, the tag, the version or the image name is
 * not what a release needs. The message says what was expected and found.
 *
 * @example Telling a release failure from a bug
 * ```ts
 * try {
 *   releaseTags({ ref: "refs/tags/v1.2", version: "1.2.0" });
 * } catch (err) {
 *   if (err instanceof ReleaseTagError) console.error(err.message);
 * }
 * ```
 */
export class ReleaseTagError extends Error {
  override name = "ReleaseTagError";
}

/** A SemVer 2.0.0 version split into its parts (numbers kept as text). */
export interface SemVer {
  /** MAJOR, as written (no leading zero). */
  major: string;
  /** MINOR, as written. */
  minor: string;
  /** PATCH, as written. */
  patch: string;
  /** Dot-separated pre-release identifiers; empty for a release. */
  prerelease: string[];
  /** Dot-separated build-metadata identifiers; empty if none. */
  build: string[];
}

const NUMERIC = /^(0|[1-9][0-9]*)$/;
const IDENTIFIER = /^[0-9A-Za-z-]+$/;

function checkNumber(name: string, value: string, text: string): void {
  if (!/^[0-9]+$/.test(value)) {
    throw new ReleaseTagError(
      `${name} must be a non-negative integer in "${text}", found "${value}"`,
    );
  }
  if (!NUMERIC.test(value)) {
    throw new ReleaseTagError(
      `${name} must not have a leading zero (SemVer 2.0.0 §2) in "${text}", found "${value}"`,
    );
  }
}

function splitIdentifiers(kind: string, part: string, text: string): string[] {
  const identifiers = part.split(".");
  for (const id of identifiers) {
    if (id === "") {
      throw new ReleaseTagError(
        `${kind} identifiers must not be empty in "${text}"`,
      );
    }
    if (!IDENTIFIER.test(id)) {
      throw new ReleaseTagError(
        `${kind} identifiers may use only [0-9A-Za-z-] in "${text}", found "${id}"`,
      );
    }
  }
  return identifiers;
}

/**
 * Parses a strict SemVer 2.0.0 version (no `v` prefix).
 *
 * @throws {ReleaseTagError} naming the offending part when `text` is not a
 * valid version.
 *
 * @example Parsing a release candidate
 * ```ts
 * parseSemVer("1.3.0-rc.1");
 * // { major: "1", minor: "3", patch: "0", prerelease: ["rc", "1"], build: [] }
 * ```
 */
export function parseSemVer(text: string): SemVer {
  const plus = text.indexOf("+");
  const beforeBuild = plus === -1 ? text : text.slice(0, plus);
  const build = plus === -1
    ? []
    : splitIdentifiers("build-metadata", text.slice(plus + 1), text);
  const dash = beforeBuild.indexOf("-");
  const core = dash === -1 ? beforeBuild : beforeBuild.slice(0, dash);
  const prerelease = dash === -1
    ? []
    : splitIdentifiers("pre-release", beforeBuild.slice(dash + 1), text);
  for (const id of prerelease) {
    if (/^[0-9]+$/.test(id) && !NUMERIC.test(id)) {
      throw new ReleaseTagError(
        `numeric pre-release identifiers must not have a leading zero (SemVer 2.0.0 §9) in "${text}", found "${id}"`,
      );
    }
  }
  const numbers = core.split(".");
  if (numbers.length !== 3) {
    throw new ReleaseTagError(
      `expected MAJOR.MINOR.PATCH (three numbers) in "${text}", found ${numbers.length} part(s) "${core}"`,
    );
  }
  const [major, minor, patch] = numbers;
  checkNumber("MAJOR", major, text);
  checkNumber("MINOR", minor, text);
  checkNumber("PATCH", patch, text);
  return { major, minor, patch, prerelease, build };
}

/**
 * Formats a parsed version back to text.
 *
 * @example Round trip
 * ```ts
 * formatSemVer(parseSemVer("1.2.3-rc.1")); // "1.2.3-rc.1"
 * ```
 */
export function formatSemVer(v: SemVer): string {
  let text = `${v.major}.${v.minor}.${v.patch}`;
  if (v.prerelease.length > 0) text += `-${v.prerelease.join(".")}`;
  if (v.build.length > 0) text += `+${v.build.join(".")}`;
  return text;
}

/** Parses a version that is about to become a docker tag. */
function parseReleaseVersion(text: string, what: string): SemVer {
  let v: SemVer;
  try {
    v = parseSemVer(text);
  } catch (err) {
    if (err instanceof ReleaseTagError) {
      throw new ReleaseTagError(
        `${what} is not a valid version: ${err.message}`,
      );
    }
    throw err;
  }
  if (v.build.length > 0) {
    throw new ReleaseTagError(
      `${what} has build metadata "+${
        v.build.join(".")
      }", which is not allowed: a docker tag cannot contain "+" ` +
        `and SemVer ignores build metadata, so it cannot tell two images apart`,
    );
  }
  if (text.length > MAX_DOCKER_TAG_LENGTH) {
    throw new ReleaseTagError(
      `${what} is ${text.length} characters long; a docker tag allows at most ${MAX_DOCKER_TAG_LENGTH}`,
    );
  }
  return v;
}

/** What {@linkcode releaseTags} needs. */
export interface ReleaseTagInput {
  /** The git ref that triggered the workflow (`github.ref`). */
  ref: string;
  /** The version from `deno.json`. */
  version: string;
}

/**
 * Computes the docker tags (without the image name) for a git ref.
 *
 * @throws {ReleaseTagError} when the ref is neither `refs/heads/main` nor a
 * strict `vX.Y.Z[-PRE]` tag, or when the tag differs from `version`.
 *
 * @example A release, a release candidate and main
 * ```ts
 * releaseTags({ ref: "refs/tags/v1.2.3", version: "1.2.3" }); // ["1.2.3", "1.2"]
 * releaseTags({ ref: "refs/tags/v1.3.0-rc.1", version: "1.3.0-rc.1" }); // ["1.3.0-rc.1"]
 * releaseTags({ ref: "refs/heads/main", version: "1.3.0" }); // ["latest"]
 * ```
 */
export function releaseTags(input: ReleaseTagInput): string[] {
  // Checked on every ref, so a broken deno.json version fails on main, long
  // before someone tries to tag it.
  parseReleaseVersion(input.version, `deno.json version "${input.version}"`);
  if (input.ref === MAIN_REF) return ["latest"];
  if (!input.ref.startsWith(TAG_REF_PREFIX)) {
    throw new ReleaseTagError(
      `expected a ref "${TAG_REF_PREFIX}vX.Y.Z" or "${MAIN_REF}", found "${input.ref}"`,
    );
  }
  const tag = input.ref.slice(TAG_REF_PREFIX.length);
  if (!tag.startsWith("v")) {
    throw new ReleaseTagError(
      `expected a tag of the form vX.Y.Z[-PRERELEASE], found "${tag}" (missing the "v" prefix)`,
    );
  }
  const v = parseReleaseVersion(tag.slice(1), `tag "${tag}"`);
  const tagVersion = formatSemVer(v);
  if (tagVersion !== input.version) {
    throw new ReleaseTagError(
      `tag "${tag}" (version ${tagVersion}) does not match deno.json version ${input.version}: ` +
        `bump deno.json's "version" or fix the tag`,
    );
  }
  if (v.prerelease.length > 0) return [tagVersion];
  return [tagVersion, `${v.major}.${v.minor}`];
}

const IMAGE_NAME =
  /^(?:[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/**
 * Joins an image name with tags. The name is lower-cased first because
 * `ghcr.io/${{ github.repository }}` keeps the owner's capitals and docker
 * repository names must be lower-case.
 *
 * @throws {ReleaseTagError} when `image` is not a plain repository name (for
 * example, it already carries a tag or a digest).
 *
 * @example Full references for build-push-action
 * ```ts
 * imageReferences("ghcr.io/Owner/Repo", ["1.2.3", "1.2"]);
 * // ["ghcr.io/owner/repo:1.2.3", "ghcr.io/owner/repo:1.2"]
 * ```
 */
export function imageReferences(image: string, tags: string[]): string[] {
  const name = image.toLowerCase();
  if (!IMAGE_NAME.test(name)) {
    throw new ReleaseTagError(
      `expected an image name without tag or digest, like "ghcr.io/owner/repo", found "${image}"`,
    );
  }
  return tags.map((tag) => `${name}:${tag}`);
}

/**
 * Formats outputs for `$GITHUB_OUTPUT`: multi-line values use a heredoc with
 * a random delimiter (so no value can end it early), single values use
 * `name=value`.
 *
 * @example Writing the tags
 * ```ts
 * githubOutput({ tags: ["img:1.2.3", "img:1.2"], version: "1.2.3" }, "EOF");
 * // "tags<<EOF\nimg:1.2.3\nimg:1.2\nEOF\nversion=1.2.3\n"
 * ```
 */
export function githubOutput(
  outputs: Record<string, string | string[]>,
  delimiter = `ghadelimiter_${crypto.randomUUID()}`,
): string {
  let text = "";
  for (const [name, value] of Object.entries(outputs)) {
    if (typeof value === "string") {
      if (/[\r\n]/.test(value)) {
        throw new ReleaseTagError(
          `output "${name}" must be a single line, found ${
            JSON.stringify(value)
          }`,
        );
      }
      text += `${name}=${value}\n`;
      continue;
    }
    if (value.some((line) => line === delimiter || /[\r\n]/.test(line))) {
      throw new ReleaseTagError(
        `output "${name}" has a line break or the delimiter in a value`,
      );
    }
    text += `${name}<<${delimiter}\n${value.join("\n")}\n${delimiter}\n`;
  }
  return text;
}

/** Command-line options of the script. */
export interface CliOptions {
  /** `--ref`: the git ref, e.g. `refs/tags/v1.2.3`. */
  ref: string;
  /** `--image`: the image name, e.g. `ghcr.io/owner/repo`. */
  image: string;
  /** `--version-file`: the JSON file with a `version` field (`deno.json`). */
  versionFile: string;
  /** `--github-output`: print the `$GITHUB_OUTPUT` format. */
  githubOutput: boolean;
}

/** A command-line mistake (exit code 2), as opposed to a failed check. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The `--help` text. */
export const USAGE =
  `usage: deno run --allow-read=deno.json scripts/release_tags.ts \\
  --ref <refs/tags/vX.Y.Z | refs/heads/main> --image <registry/owner/repo> \\
  --version-file <deno.json> [--github-output]`;

/**
 * Parses the command line (`--flag value` or `--flag=value`).
 *
 * @throws {UsageError} on an unknown flag, a missing value or a missing
 * required flag.
 *
 * @example Parsing the release workflow's arguments
 * ```ts
 * parseArgs(["--ref", "refs/heads/main", "--image", "ghcr.io/o/r", "--version-file", "deno.json"]);
 * // { ref: "refs/heads/main", image: "ghcr.io/o/r", versionFile: "deno.json", githubOutput: false }
 * ```
 */
export function parseArgs(args: string[]): CliOptions {
  const values: Record<string, string> = {};
  let githubOutputFlag = false;
  const valued = new Set(["--ref", "--image", "--version-file"]);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--github-output") {
      githubOutputFlag = true;
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    if (!valued.has(flag)) {
      throw new UsageError(`unknown argument "${arg}"`);
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else value = args[++i];
    // "--ref --image x" must not read "--image" as the ref.
    if (value === undefined || value === "" || value.startsWith("--")) {
      throw new UsageError(`${flag} needs a value`);
    }
    if (flag in values) throw new UsageError(`${flag} was given twice`);
    values[flag] = value;
  }
  for (const flag of valued) {
    if (!(flag in values)) throw new UsageError(`missing ${flag}`);
  }
  return {
    ref: values["--ref"],
    image: values["--image"],
    versionFile: values["--version-file"],
    githubOutput: githubOutputFlag,
  };
}

/**
 * Reads the `version` field of a JSON file such as `deno.json`.
 *
 * @throws {ReleaseTagError} when the file is unreadable, not JSON, or has no
 * string `version`.
 *
 * @example
 * ```ts
 * const version = await readVersionFile("deno.json"); // "0.1.0"
 * ```
 */
export async function readVersionFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new ReleaseTagError(
      `cannot read the version file "${path}": ${(err as Error).message}`,
    );
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw new ReleaseTagError(
      `expected JSON in the version file "${path}": ${(err as Error).message}`,
    );
  }
  const version = (config as { version?: unknown } | null)?.version;
  if (typeof version !== "string") {
    throw new ReleaseTagError(
      `expected a string "version" field in "${path}", found ${
        JSON.stringify(version) ?? "nothing"
      }`,
    );
  }
  return version;
}

/**
 * Runs the CLI and returns the exit code (0 ok, 1 check failed, 2 usage).
 * Output goes to `write`/`writeError` so tests can run it in-process.
 *
 * @example
 * ```ts
 * const code = await runCli(["--ref", "refs/heads/main", "--image", "ghcr.io/o/r", "--version-file", "deno.json"]);
 * ```
 */
export async function runCli(
  args: string[],
  write: (text: string) => void = (t) => writeAll(Deno.stdout, t),
  writeError: (text: string) => void = (t) => writeAll(Deno.stderr, t),
): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    write(`${USAGE}\n`);
    return 0;
  }
  try {
    const options = parseArgs(args);
    const version = await readVersionFile(options.versionFile);
    const tags = releaseTags({ ref: options.ref, version });
    const refs = imageReferences(options.image, tags);
    write(
      options.githubOutput
        ? githubOutput({ tags: refs, version })
        : `${refs.join("\n")}\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      writeError(`release_tags: error: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ReleaseTagError) {
      writeError(`release_tags: error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

function writeAll(file: { writeSync(p: Uint8Array): number }, text: string) {
  const bytes = new TextEncoder().encode(text);
  let written = 0;
  while (written < bytes.length) {
    written += file.writeSync(bytes.subarray(written));
  }
}

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
