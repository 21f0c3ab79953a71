/**
 * The real daemon as a separate process, as production runs it:
 * `deno run --allow-net --allow-read --allow-env mod.ts ...`, with its own
 * kubeconfig, status port and a bounded tail of its output for diagnostics.
 *
 * @module
 */
import { type ProcSample, readProc } from "./proc.ts";

/** Options of {@linkcode daemonArgs} and {@linkcode spawnDaemon}. */
export interface DaemonOptions {
  /** Path of the kubeconfig file. */
  kubeconfig: string;
  /** Status port on 127.0.0.1. */
  port: number;
  /** `--kube-api-qps` (0 = unlimited); undefined: not given (the default, automatic). */
  qps?: number;
  /** `--kube-api-burst`; undefined: not given. */
  burst?: number;
  /** Path of `mod.ts`. */
  entry: string;
  /** More daemon flags, appended last. */
  extraFlags?: string[];
  /** `deno run` flags before the entry (e.g. `--v8-flags=...`). */
  denoFlags?: string[];
  /** Environment on top of the harness's (e.g. the start task's `MALLOC_*`). */
  env?: Record<string, string>;
}

/**
 * The `deno` arguments that start the daemon (without the executable).
 *
 * @example
 * ```ts
 * import { daemonArgs } from "./daemon_process.ts";
 * daemonArgs({ kubeconfig: "/tmp/kc", port: 9000, qps: 0, burst: 30, entry: "mod.ts" })[0]; // "run"
 * ```
 */
export function daemonArgs(options: DaemonOptions): string[] {
  return [
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    ...(options.denoFlags ?? []),
    options.entry,
    `--kubeconfig=${options.kubeconfig}`,
    `--listen=127.0.0.1:${options.port}`,
    ...(options.qps === undefined ? [] : [`--kube-api-qps=${options.qps}`]),
    ...(options.burst === undefined
      ? []
      : [`--kube-api-burst=${options.burst}`]),
    "--log-level=warn",
    "--leader-elect=false",
    ...(options.extraFlags ?? []),
  ];
}

/** A running daemon process. */
export interface DaemonProcess {
  readonly pid: number;
  readonly port: number;
  /** Resolves with the exit status once the process ends. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** The last lines the daemon wrote (stdout and stderr interleaved). */
  tail(): string[];
  /** CPU and memory of the process now. */
  sample(): Promise<ProcSample>;
  /** Resolves once `/readyz` answers 200; throws on exit or after `timeoutMs`. */
  waitReady(timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit status. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
}

/**
 * A free TCP port on 127.0.0.1 (bound, read, released: another process
 * could take it in between, which on a benchmark machine it will not).
 *
 * @example
 * ```ts
 * import { freePort } from "./daemon_process.ts";
 * const port = freePort();
 * if (!(port > 0 && port < 65536)) throw new Error(`not a port: ${port}`);
 * ```
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

const TAIL_LINES = 200;

async function pump(
  stream: ReadableStream<Uint8Array>,
  lines: string[],
): Promise<void> {
  let partial = "";
  for await (
    const chunk of stream.pipeThrough(new TextDecoderStream())
  ) {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop()!;
    lines.push(...parts);
    if (lines.length > TAIL_LINES) lines.splice(0, lines.length - TAIL_LINES);
  }
  if (partial) lines.push(partial);
}

/**
 * Starts the daemon. The environment is the harness's minus anything that
 * would point the daemon at another cluster (`KUBECONFIG`,
 * `KUBERNETES_SERVICE_*`).
 *
 * @example
 * Not run: spawns the daemon against a running API double (bench/run.ts does).
 * ```ts ignore
 * import { spawnDaemon } from "./daemon_process.ts";
 * const d = spawnDaemon({ kubeconfig, port, qps: 0, burst: 30, entry: "mod.ts" }, 100);
 * await d.waitReady(30_000);
 * await d.stop();
 * ```
 */
export function spawnDaemon(
  options: DaemonOptions,
  clockTicks: number,
): DaemonProcess {
  const env = { ...Deno.env.toObject(), ...options.env };
  for (const key of Object.keys(env)) {
    if (key === "KUBECONFIG" || key.startsWith("KUBERNETES_SERVICE_")) {
      delete env[key];
    }
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: daemonArgs(options),
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const pumps = Promise.all([
    pump(child.stdout, lines),
    pump(child.stderr, lines),
  ]);
  const exited = child.status.then(async (status) => {
    await pumps;
    return status;
  });
  let done: Deno.CommandStatus | undefined;
  exited.then((s) => done = s);
  const http = Deno.createHttpClient({});

  return {
    pid: child.pid,
    port: options.port,
    exited,
    tail: () => [...lines],
    sample: () => readProc(child.pid, clockTicks),
    async waitReady(timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        if (done) {
          throw new Error(
            `daemon exited with code ${done.code} before /readyz answered 200:\n${
              lines.slice(-20).join("\n")
            }`,
          );
        }
        try {
          const res = await fetch(`http://127.0.0.1:${options.port}/readyz`, {
            client: http,
          });
          await res.body?.cancel();
          if (res.status === 200) return;
        } catch {
          // Not listening yet.
        }
        if (performance.now() > deadline) {
          throw new Error(
            `daemon not ready after ${timeoutMs} ms (expected /readyz 200):\n${
              lines.slice(-20).join("\n")
            }`,
          );
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop(graceMs = 10_000) {
      if (!done) {
        try {
          child.kill("SIGTERM");
        } catch {
          // Already gone.
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        const killed = await Promise.race([
          exited.then(() => false),
          new Promise<boolean>((r) =>
            timer = setTimeout(() => r(true), graceMs)
          ),
        ]);
        clearTimeout(timer);
        if (killed) {
          try {
            child.kill("SIGKILL");
          } catch {
            // Exited meanwhile.
          }
        }
      }
      const status = await exited;
      http.close();
      return status;
    },
  };
}
