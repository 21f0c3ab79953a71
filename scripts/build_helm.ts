/**
 * Builds the Helm binary the chart tests use (tests/chart/chart_cases.ts, run by `deno task test:chart`) from its
 * Go module, into a cache outside the repository:
 * `~/.cache/kubelet-rubber-stamp/tools/helm-<version>/helm`
 * (`$XDG_CACHE_HOME` instead of `~/.cache` when set). A binary already there
 * that reports the pinned version is kept; otherwise
 * `go install -ldflags=-X=… helm.sh/helm/v4/cmd/helm@<version>` builds it
 * (minutes on a cold Go module cache), stamping the version as Helm's own
 * release build does (without it, `helm version` says only `v4.3`). Needs Go
 * and the Go module proxy, nothing else.
 *
 * ```sh
 * deno run --allow-run --allow-env --allow-read --allow-write scripts/build_helm.ts
 * ```
 *
 * Prints what it does and how long it took on stderr and the binary's path on
 * stdout. Exit codes: 0 built or present, 1 failed (one line saying why: Go
 * missing, the proxy unreachable, or the build failing).
 *
 * @module
 */

/** The Helm release the chart is linted and rendered with. */
export const HELM_VERSION = "v4.3.2";
/** The Go package built. */
export const HELM_PACKAGE = "helm.sh/helm/v4/cmd/helm";

/** Why Helm could not be provided; its message is one line. */
export class HelmBuildError extends Error {
  override name = "HelmBuildError";
}

/** The directory holding the cached binary. */
export function helmDir(version = HELM_VERSION): string {
  const cache = Deno.env.get("XDG_CACHE_HOME") ||
    `${Deno.env.get("HOME") ?? "/tmp"}/.cache`;
  return `${cache}/kubelet-rubber-stamp/tools/helm-${version}`;
}

/** Where the cached binary is (it may not exist yet). */
export function helmPath(version = HELM_VERSION): string {
  return `${helmDir(version)}/helm`;
}

async function run(
  cmd: string,
  args: string[],
  env?: Record<string, string>,
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    ok: out.success,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** The version a helm binary reports, or undefined if it does not run. */
export async function helmReportedVersion(
  path: string,
): Promise<string | undefined> {
  try {
    const r = await run(path, ["version", "--template", "{{.Version}}"]);
    return r.ok ? r.stdout.trim() : undefined;
  } catch {
    return undefined;
  }
}

/** `go` from PATH, else /usr/local/go/bin/go; undefined if neither runs. */
async function findGo(): Promise<{ go: string; version: string } | undefined> {
  for (const go of ["go", "/usr/local/go/bin/go"]) {
    try {
      const r = await run(go, ["env", "GOVERSION"]);
      if (r.ok) return { go, version: r.stdout.trim() };
    } catch {
      // not there: try the next one
    }
  }
  return undefined;
}

// Lines of `go install` output that mean the module could not be fetched.
const FETCH_FAILURE =
  /dial tcp|no such host|lookup |connection refused|i\/o timeout|TLS handshake|reading https?:\/\/|unrecognized import path|403 Forbidden|404 Not Found|410 Gone|module lookup disabled/i;

/** One line explaining a failed `go install`. */
function explainFailure(stderr: string, version: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) =>
    l !== "" && !l.startsWith("go: downloading")
  );
  const fetch = lines.find((l) => FETCH_FAILURE.test(l));
  if (fetch) {
    return `cannot download ${HELM_PACKAGE}@${version} from the Go module proxy (${
      Deno.env.get("GOPROXY") || "GOPROXY default"
    }): ${fetch}`;
  }
  return `go install ${HELM_PACKAGE}@${version} failed: ${
    lines.at(-1) ?? "no output"
  }`;
}

/**
 * Returns the path of a helm binary of `version`, building it when missing.
 * Progress goes to `log`; failures throw a one-line {@linkcode HelmBuildError}.
 *
 * @example
 * Not run: downloads and builds Helm (`deno task test:chart` does).
 * ```ts ignore
 * const helm = await ensureHelm();
 * ```
 */
export async function ensureHelm(
  version = HELM_VERSION,
  log: (line: string) => void = (l) => console.error(l),
): Promise<string> {
  const path = helmPath(version);
  const found = await helmReportedVersion(path);
  if (found === version) {
    log(`build_helm: helm ${version} present at ${path}, not rebuilt`);
    return path;
  }
  const go = await findGo();
  if (!go) {
    throw new HelmBuildError(
      `Go not found (neither \`go\` in PATH nor /usr/local/go/bin/go): it is needed to build helm ${version} (${HELM_PACKAGE}) for the chart tests`,
    );
  }
  const dir = helmDir(version);
  await Deno.mkdir(dir, { recursive: true });
  log(
    `build_helm: ${
      found ? `${path} reports ${found}, ` : ""
    }building helm ${version} with ${go.version}: GOBIN=${dir} go install ${HELM_PACKAGE}@${version} (minutes on a cold Go module cache)`,
  );
  const started = performance.now();
  // Where Helm's Makefile puts the release version (helm.sh/helm/v4/...).
  const versionVar = `${
    HELM_PACKAGE.replace(/\/cmd\/helm$/, "")
  }/internal/version.version=${version}`;
  const r = await run(go.go, [
    "install",
    `-ldflags=-X=${versionVar}`,
    `${HELM_PACKAGE}@${version}`,
  ], {
    GOBIN: dir,
    CGO_ENABLED: "0",
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  if (!r.ok) {
    throw new HelmBuildError(
      `${explainFailure(r.stderr, version)} (after ${seconds} s)`,
    );
  }
  const built = await helmReportedVersion(path);
  if (built !== version) {
    throw new HelmBuildError(
      `go install ${HELM_PACKAGE}@${version} succeeded but ${path} reports ${
        built ?? "nothing"
      }`,
    );
  }
  log(`build_helm: built helm ${version} in ${seconds} s: ${path}`);
  return path;
}

if (import.meta.main) {
  try {
    console.log(await ensureHelm());
  } catch (e) {
    console.error(
      `build_helm: ${e instanceof HelmBuildError ? e.message : String(e)}`,
    );
    Deno.exit(1);
  }
}
