/**
 * Builds the real control plane the cluster suite runs against, from Go
 * modules (the only source reachable here): kube-apiserver and
 * kube-controller-manager from `k8s.io/kubernetes`, etcd from
 * `go.etcd.io/etcd/server/v3` at the version Kubernetes pins. The binaries
 * go to a cache outside the repository,
 * `${XDG_CACHE_HOME:-~/.cache}/kubelet-rubber-stamp/control-plane/<version>/`,
 * and a build is skipped when the binaries are there and the stamp file
 * written after the last build matches the module that would be built.
 *
 * The pinned version builds the committed wrapper module
 * `tests/cluster/controlplane/` (go.mod + go.sum, `-mod=readonly`). Any other
 * version (`CLUSTER_K8S_VERSION=v1.36.3` or `--version v1.36.3`) gets a
 * wrapper module generated from that version's own go.mod, in the cache.
 *
 *   deno task build:control-plane [--version vX.Y.Z]
 *
 * Fails with one line when Go is missing or the module proxy cannot be
 * reached.
 *
 * @module
 */

const HERE = new URL(".", import.meta.url).pathname;
/** The committed wrapper module. */
export const WRAPPER_DIR = `${HERE}controlplane`;

/** Where the binaries of one version live, and what they are. */
export interface ControlPlaneBinaries {
  version: string;
  etcdVersion: string;
  goVersion: string;
  dir: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  etcd: string;
  /** True when this call built them; false when the cache was used. */
  built: boolean;
  /** Seconds the build took (0 when cached). */
  buildSeconds: number;
}

/** A failure reported as exactly one line. */
export class BuildError extends Error {
  override name = "BuildError";
}

const BINARIES = ["kube-apiserver", "kube-controller-manager", "etcd"];

/** The version pinned by the committed wrapper module's go.mod. */
export async function pinnedVersion(): Promise<string> {
  const mod = await Deno.readTextFile(`${WRAPPER_DIR}/go.mod`);
  const m = /^\s*(?:require\s+)?k8s\.io\/kubernetes (v\S+)/m.exec(mod);
  if (!m) {
    throw new BuildError(`${WRAPPER_DIR}/go.mod pins no k8s.io/kubernetes`);
  }
  return m[1];
}

/** `--version X`, else `CLUSTER_K8S_VERSION`, else the pinned version. */
export async function requestedVersion(
  args: string[] = [],
): Promise<string> {
  const i = args.indexOf("--version");
  const fromFlag = i >= 0
    ? args[i + 1]
    : args.find((a) => a.startsWith("--version="))?.slice("--version=".length);
  const version = fromFlag || Deno.env.get("CLUSTER_K8S_VERSION") ||
    await pinnedVersion();
  if (!/^v1\.\d+\.\d+$/.test(version)) {
    throw new BuildError(
      `Kubernetes version must look like v1.37.2, got "${version}"`,
    );
  }
  return version;
}

/** `${XDG_CACHE_HOME:-$HOME/.cache}/kubelet-rubber-stamp/control-plane`. */
export function cacheRoot(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME");
  if (!xdg && !home) {
    throw new BuildError("neither XDG_CACHE_HOME nor HOME is set");
  }
  return `${xdg || `${home}/.cache`}/kubelet-rubber-stamp/control-plane`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The go binary: PATH first, then the usual install location. */
export async function findGo(): Promise<string> {
  const candidates = [
    ...(Deno.env.get("PATH") ?? "").split(":").filter((p) => p !== "").map((
      p,
    ) => `${p}/go`),
    "/usr/local/go/bin/go",
  ];
  for (const c of candidates) {
    try {
      const info = await Deno.stat(c);
      if (info.isFile) return c;
    } catch {
      // next
    }
  }
  throw new BuildError(
    "Go is not installed: no `go` in PATH or /usr/local/go/bin; install Go >= 1.26 (https://go.dev/dl/) to build the control plane",
  );
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** Turns a failed go command into one line, naming the proxy when it is the cause. */
function goFailure(what: string, r: Run, proxy: string): BuildError {
  const lines = (r.stderr + r.stdout).split("\n").map((l) => l.trim()).filter(
    (l) => l !== "" && !l.startsWith("go: downloading"),
  );
  const network = lines.find((l) =>
    /dial tcp|module lookup disabled|no such host|connection refused|i\/o timeout|TLS handshake|network is unreachable|proxyconnect|Forbidden|403|404 Not Found|unexpected EOF/
      .test(l)
  );
  if (network) {
    return new BuildError(
      `cannot download Go modules (GOPROXY=${proxy}) while trying to ${what}: ${network}`,
    );
  }
  return new BuildError(
    `${what} failed (exit ${r.code}): ${lines.slice(0, 3).join(" | ")}`,
  );
}

function ldflags(version: string): string {
  const [major, minor] = version.slice(1).split(".");
  const x = (pkg: string) => [
    `-X ${pkg}.gitVersion=${version}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
  ];
  return [
    "-s -w",
    ...x("k8s.io/component-base/version"),
    ...x("k8s.io/client-go/pkg/version"),
  ].join(" ");
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return new Uint8Array(digest).toHex();
}

/**
 * The staging replaces and the etcd version for `version`, from that
 * version's own go.mod.
 */
export function wrapperGoMod(upstreamGoMod: string, version: string): {
  goMod: string;
  etcdVersion: string;
} {
  const [, minor] = version.slice(1).split(".");
  const patch = version.split(".")[2];
  const require = /^require \(\n([\s\S]*?)^\)/m.exec(upstreamGoMod)?.[1] ?? "";
  const staging = [...require.matchAll(/^\s+(k8s\.io\/[\w.-]+) v0\.0\.0$/gm)]
    .map((m) => m[1]);
  const etcd = /^\s+go\.etcd\.io\/etcd\/server\/v3 (v\S+)/m.exec(upstreamGoMod)
    ?.[1];
  const go = /^go (\S+)$/m.exec(upstreamGoMod)?.[1];
  if (staging.length === 0 || !etcd || !go) {
    throw new BuildError(
      `k8s.io/kubernetes ${version}: go.mod has no staging modules, etcd server or go directive`,
    );
  }
  const stagingVersion = `v0.${minor}.${patch}`;
  const goMod = [
    "module kubelet-rubber-stamp/controlplane",
    "",
    `go ${go}`,
    "",
    `require (`,
    `\tk8s.io/kubernetes ${version}`,
    `\tgo.etcd.io/etcd/server/v3 ${etcd}`,
    `)`,
    "",
    "replace (",
    ...staging.map((m) => `\t${m} => ${m} ${stagingVersion}`),
    ")",
    "",
    "tool (",
    "\tk8s.io/kubernetes/cmd/kube-apiserver",
    "\tk8s.io/kubernetes/cmd/kube-controller-manager",
    ")",
    "",
  ].join("\n");
  return { goMod, etcdVersion: etcd };
}

/** Prepares the module to build: the committed one, or one generated in the cache. */
async function moduleFor(
  version: string,
  go: string,
  env: Record<string, string>,
  proxy: string,
  log: (line: string) => void,
): Promise<{ dir: string; etcdVersion: string; fingerprint: string }> {
  const main = await Deno.readTextFile(`${WRAPPER_DIR}/cmd/etcd/main.go`);
  if (version === await pinnedVersion()) {
    const goMod = await Deno.readTextFile(`${WRAPPER_DIR}/go.mod`);
    const goSum = await Deno.readTextFile(`${WRAPPER_DIR}/go.sum`);
    const etcdVersion =
      /^\s*(?:require\s+)?go\.etcd\.io\/etcd\/server\/v3 (v\S+)/m.exec(goMod)
        ?.[1] ??
        "unknown";
    return {
      dir: WRAPPER_DIR,
      etcdVersion,
      fingerprint: await sha256(goMod + goSum + main),
    };
  }
  // Another version: generate the wrapper from that version's own go.mod.
  log(`generating a wrapper module for k8s.io/kubernetes ${version}`);
  const info = await run(go, [
    "mod",
    "download",
    "-json",
    `k8s.io/kubernetes@${version}`,
  ], { env, cwd: "/" });
  if (info.code !== 0) {
    throw goFailure(`download k8s.io/kubernetes@${version}`, info, proxy);
  }
  const { GoMod } = JSON.parse(info.stdout) as { GoMod: string };
  const { goMod, etcdVersion } = wrapperGoMod(
    await Deno.readTextFile(GoMod),
    version,
  );
  const dir = `${cacheRoot()}/${version}/module`;
  await Deno.mkdir(`${dir}/cmd/etcd`, { recursive: true });
  await Deno.writeTextFile(`${dir}/go.mod`, goMod);
  await Deno.writeTextFile(`${dir}/cmd/etcd/main.go`, main);
  const tidy = await run(go, ["mod", "tidy"], {
    cwd: dir,
    env: { ...env, GOFLAGS: "" },
  });
  if (tidy.code !== 0) throw goFailure("go mod tidy", tidy, proxy);
  const goSum = await Deno.readTextFile(`${dir}/go.sum`);
  return {
    dir,
    etcdVersion,
    fingerprint: await sha256(goMod + goSum + main),
  };
}

function formatSeconds(s: number): string {
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${Math.round(s - m * 60)}s` : `${s.toFixed(1)}s`;
}

/**
 * Makes sure the binaries of `version` are in the cache, building them if
 * needed; returns their paths.
 */
export async function ensureControlPlane(
  version: string,
  log: (line: string) => void = (l) => console.log(l),
): Promise<ControlPlaneBinaries> {
  const go = await findGo();
  const goVersion = (await run(go, ["env", "GOVERSION"])).stdout.trim() ||
    "unknown";
  const proxy = (await run(go, ["env", "GOPROXY"])).stdout.trim();
  const env: Record<string, string> = { GOFLAGS: "-mod=readonly" };
  const dir = `${cacheRoot()}/${version}`;
  const paths = Object.fromEntries(
    BINARIES.map((b) => [b, `${dir}/bin/${b}`]),
  );
  const stampPath = `${dir}/stamp.json`;

  // A cached build is trusted only if its stamp names this exact module
  // (for the pinned version, the committed go.mod/go.sum) and flags.
  let cachedStamp: Record<string, string> | undefined;
  try {
    cachedStamp = JSON.parse(await Deno.readTextFile(stampPath));
  } catch {
    cachedStamp = undefined;
  }
  const pinned = version === await pinnedVersion();
  const expectedFingerprint = pinned
    ? (await moduleFor(version, go, env, proxy, log)).fingerprint
    : cachedStamp?.fingerprint;
  const allThere = (await Promise.all(BINARIES.map((b) => exists(paths[b]))))
    .every(Boolean);
  if (
    allThere && cachedStamp && cachedStamp.version === version &&
    cachedStamp.fingerprint === expectedFingerprint &&
    cachedStamp.ldflags === ldflags(version)
  ) {
    log(
      `control plane ${version} (etcd ${cachedStamp.etcdVersion}): cached in ${dir}/bin, built ${cachedStamp.builtAt} with ${cachedStamp.goVersion} in ${
        formatSeconds(Number(cachedStamp.buildSeconds))
      }; not rebuilding`,
    );
    return {
      version,
      etcdVersion: cachedStamp.etcdVersion,
      goVersion: cachedStamp.goVersion,
      dir,
      kubeApiserver: paths["kube-apiserver"],
      kubeControllerManager: paths["kube-controller-manager"],
      etcd: paths.etcd,
      built: false,
      buildSeconds: 0,
    };
  }

  const started = performance.now();
  log(
    `control plane ${version}: ${
      allThere ? "stamp does not match the module, rebuilding" : "not cached"
    }; building kube-apiserver, kube-controller-manager and etcd with ${goVersion} (GOPROXY=${proxy}) into ${dir}/bin`,
  );
  const module = await moduleFor(version, go, env, proxy, log);
  log(`  module: ${module.dir} (etcd ${module.etcdVersion})`);
  const download = await run(go, ["mod", "download"], {
    cwd: module.dir,
    env,
  });
  if (download.code !== 0) {
    throw goFailure("download the modules", download, proxy);
  }
  log(
    `  modules present after ${
      formatSeconds((performance.now() - started) / 1000)
    }; compiling (this is the long part on a cold Go build cache)`,
  );
  await Deno.mkdir(dir, { recursive: true });
  const staging = await Deno.makeTempDir({ dir, prefix: "build-" });
  try {
    const build = await run(go, [
      "build",
      "-trimpath",
      "-ldflags",
      ldflags(version),
      "-o",
      `${staging}/`,
      "k8s.io/kubernetes/cmd/kube-apiserver",
      "k8s.io/kubernetes/cmd/kube-controller-manager",
      "./cmd/etcd",
    ], { cwd: module.dir, env });
    if (build.code !== 0) throw goFailure("go build", build, proxy);
    await Deno.mkdir(`${dir}/bin`, { recursive: true });
    for (const b of BINARIES) await Deno.rename(`${staging}/${b}`, paths[b]);
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
  const buildSeconds = (performance.now() - started) / 1000;
  const stamp = {
    version,
    etcdVersion: module.etcdVersion,
    goVersion,
    fingerprint: module.fingerprint,
    ldflags: ldflags(version),
    builtAt: new Date().toISOString(),
    buildSeconds: buildSeconds.toFixed(1),
  };
  await Deno.writeTextFile(stampPath, JSON.stringify(stamp, null, 2) + "\n");
  log(
    `control plane ${version} (etcd ${module.etcdVersion}) built in ${
      formatSeconds(buildSeconds)
    }`,
  );
  return {
    version,
    etcdVersion: module.etcdVersion,
    goVersion,
    dir,
    kubeApiserver: paths["kube-apiserver"],
    kubeControllerManager: paths["kube-controller-manager"],
    etcd: paths.etcd,
    built: true,
    buildSeconds,
  };
}

if (import.meta.main) {
  try {
    await ensureControlPlane(await requestedVersion(Deno.args));
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    console.error(`build-control-plane: ${text.split("\n")[0]}`);
    Deno.exit(1);
  }
}
