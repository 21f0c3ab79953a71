/**
 * The runtime floor: the idle RSS of a `deno run` process that does only what
 * the daemon cannot avoid doing (HTTP/2 over TLS with `fetch`, JSON, ECDSA
 * signature checks with Web Crypto) and none of the project's code, started
 * with the same V8 flags and left idle as long as the daemon's idle run.
 * `deno task bench` prints it next to the daemon's idle RSS, so that the part
 * of the daemon's memory that is the runtime's own is measured, not guessed.
 *
 * The process is `bench/floor_script.ts`, which imports nothing: it does
 * the work against the API double's SubjectAccessReview endpoint, idles, and
 * prints its `/proc/self/status` memory lines.
 *
 * @module
 */
import { startApiServer } from "../tests/support/api_server.ts";
import { procStatusField } from "./proc.ts";

/** Memory of the floor process once idle, in kibibytes. */
export interface RuntimeFloor {
  rssKib: number;
  anonKib: number;
  fileKib: number;
}

/**
 * Reads the `VmRSS`, `RssAnon` and `RssFile` lines of `/proc/<pid>/status`.
 *
 * @example
 * ```ts
 * import { parseFloorStatus } from "./runtime_floor.ts";
 * parseFloorStatus("VmRSS:\t 49508 kB\nRssAnon:\t 14968 kB\nRssFile:\t 34540 kB\n").fileKib; // 34540
 * ```
 */
export function parseFloorStatus(status: string): RuntimeFloor {
  // floor_script.ts prints the status lines as they are.
  return {
    rssKib: procStatusField(status, "VmRSS"),
    anonKib: procStatusField(status, "RssAnon"),
    fileKib: procStatusField(status, "RssFile"),
  };
}

/**
 * Starts the API double, runs `floor_script.ts` as its own `deno run`
 * process with `denoFlags` and `env` (the daemon's), and returns its memory
 * after `idleMs` idle.
 *
 * @example
 * Not run: a process of its own and `idleMs` of waiting (`deno task bench` runs it).
 * ```ts ignore
 * import { measureRuntimeFloor } from "./runtime_floor.ts";
 * const floor = await measureRuntimeFloor(["--v8-flags=--lite-mode"], 30_000);
 * ```
 */
export async function measureRuntimeFloor(
  denoFlags: readonly string[],
  idleMs: number,
  env: Record<string, string> = {},
): Promise<RuntimeFloor> {
  await using api = await startApiServer();
  const dir = await Deno.makeTempDir({ prefix: "krs-floor-" });
  try {
    const caFile = `${dir}/ca.pem`;
    await Deno.writeTextFile(caFile, api.caPem);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        // Deno lets a process read its own /proc status only with every
        // permission; permissions do not change what the runtime maps.
        "--allow-all",
        ...denoFlags,
        new URL("./floor_script.ts", import.meta.url).pathname,
        `${api.url}/apis/authorization.k8s.io/v1/subjectaccessreviews`,
        caFile,
        String(idleMs),
      ],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success) {
      throw new Error(
        `runtime floor exited ${out.code}: ${
          new TextDecoder().decode(out.stderr).trim()
        }`,
      );
    }
    return parseFloorStatus(text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
