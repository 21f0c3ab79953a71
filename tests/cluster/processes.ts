/**
 * Child processes of the cluster suite: each runs in its own process group
 * (so that everything it forks goes with it), its output is kept in memory
 * and, on failure, shown; all of them are killed on teardown, on Ctrl-C and
 * on SIGTERM.
 *
 * @module
 */

/** A running child and its output. */
export interface Proc {
  name: string;
  pid: number;
  /** Lines of stdout and stderr, interleaved as they arrived. */
  lines: string[];
  status: Promise<Deno.CommandStatus>;
  /** Resolves once both output streams are drained. */
  drained: Promise<void>;
  exited: boolean;
  /** SIGTERM the group, then SIGKILL after `graceMs`; resolves when it is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL the group at once. */
  kill(): Promise<void>;
  /** Waits for a line matching `pattern`, at or after line `from`. */
  waitForLine(
    pattern: RegExp | ((line: string) => boolean),
    timeoutMs: number,
    from?: number,
  ): Promise<string>;
}

const running = new Set<Proc>();
/** Every process spawned, running or not, for the failure log dump. */
const spawned: Proc[] = [];
let handlersInstalled = false;

function killGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Kills every child still running (used by the signal handlers and teardown). */
export function killAll(): void {
  for (const p of running) if (!p.exited) killGroup(p.pid, "SIGKILL");
}

const cleanups: (() => void)[] = [];

/** Registers a synchronous cleanup (e.g. removing a temp dir) run on Ctrl-C. */
export function onInterrupt(fn: () => void): () => void {
  cleanups.push(fn);
  return () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/**
 * A watchdog outside this process: `deno test` handles SIGINT itself and
 * exits, and nothing runs after a SIGKILL, so a shell that polls this
 * process kills every registered process group and removes every
 * registered directory once it is gone. Groups and directories are
 * unregistered when they are cleaned up normally (a recycled pid is never
 * killed by mistake).
 */
let watchdogDir: string | undefined;
const watched = { groups: new Set<number>(), dirs: new Set<string>() };

function writeWatchList(): void {
  if (!watchdogDir) return;
  Deno.writeTextFileSync(
    `${watchdogDir}/groups`,
    [...watched.groups].join("\n") + "\n",
  );
  Deno.writeTextFileSync(
    `${watchdogDir}/dirs`,
    [...watched.dirs].join("\n") + "\n",
  );
}

function startWatchdog(): void {
  if (watchdogDir) return;
  watchdogDir = Deno.makeTempDirSync({ prefix: "rubber-stamp-watchdog-" });
  writeWatchList();
  const script = [
    'while kill -0 "$0" 2>/dev/null; do sleep 1; done',
    'for g in $(cat "$1/groups"); do kill -KILL "-$g" 2>/dev/null; done',
    'while IFS= read -r d; do [ -n "$d" ] && rm -rf -- "$d"; done < "$1/dirs"',
    'rm -rf -- "$1"',
  ].join("\n");
  const dog = new Deno.Command("sh", {
    args: ["-c", script, String(Deno.pid), watchdogDir],
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  dog.unref();
}

/** Has the watchdog remove `dir` if this process dies before it does. */
export function watchDir(dir: string): () => void {
  startWatchdog();
  watched.dirs.add(dir);
  writeWatchList();
  return () => {
    watched.dirs.delete(dir);
    writeWatchList();
  };
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      console.error(`\ncluster suite: ${sig}: killing the control plane`);
      killAll();
      for (const fn of cleanups.splice(0)) {
        try {
          fn();
        } catch {
          // best effort
        }
      }
      Deno.exit(130);
    });
  }
  globalThis.addEventListener("unload", () => killAll());
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  lines: string[],
  onLine: () => void,
): Promise<void> {
  let rest = "";
  for await (
    const chunk of stream.pipeThrough(new TextDecoderStream())
  ) {
    rest += chunk;
    const parts = rest.split("\n");
    rest = parts.pop()!;
    if (parts.length) {
      lines.push(...parts);
      onLine();
    }
  }
  if (rest) {
    lines.push(rest);
    onLine();
  }
}

/** Starts `cmd` in its own process group. */
export function spawn(
  name: string,
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Proc {
  installHandlers();
  startWatchdog();
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  const lines: string[] = [];
  let waiters: (() => void)[] = [];
  const notify = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const drained = Promise.all([
    pump(child.stdout, lines, notify),
    pump(child.stderr, lines, notify),
  ]).then(() => {});
  const proc: Proc = {
    name,
    pid: child.pid,
    lines,
    drained,
    exited: false,
    status: child.status.then((s) => {
      proc.exited = true;
      running.delete(proc);
      // Reap the group's stragglers, then forget the pgid before it can be
      // recycled.
      killGroup(child.pid, "SIGKILL");
      watched.groups.delete(child.pid);
      writeWatchList();
      notify();
      return s;
    }),
    async stop(graceMs = 5_000) {
      if (!proc.exited) {
        killGroup(child.pid, "SIGTERM");
        const timer = setTimeout(
          () => killGroup(child.pid, "SIGKILL"),
          graceMs,
        );
        await proc.status;
        clearTimeout(timer);
      }
      // Whatever the leader forked is in the same group.
      killGroup(child.pid, "SIGKILL");
      await drained;
    },
    async kill() {
      killGroup(child.pid, "SIGKILL");
      await proc.status;
      await drained;
    },
    async waitForLine(pattern, timeoutMs, from = 0) {
      const test = typeof pattern === "function"
        ? pattern
        : (l: string) => pattern.test(l);
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const found = lines.slice(from).find(test);
        if (found !== undefined) return found;
        if (proc.exited) {
          throw new Error(
            `${name} exited before printing ${pattern}; last lines:\n${
              lines.slice(-15).join("\n")
            }`,
          );
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(
            `${name}: no line matching ${pattern} within ${timeoutMs} ms; last lines:\n${
              lines.slice(-15).join("\n")
            }`,
          );
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 500));
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
  };
  running.add(proc);
  spawned.push(proc);
  watched.groups.add(child.pid);
  writeWatchList();
  return proc;
}

/** A free TCP port on 127.0.0.1 (bound and released; the race is accepted). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Writes the output of every process spawned to `<dir>/<n>-<name>.log`. */
export async function dumpLogs(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Promise.all(spawned.map((p, i) =>
    Deno.writeTextFile(
      `${dir}/${String(i).padStart(2, "0")}-${p.name}.log`,
      p.lines.join("\n") + "\n",
    )
  ));
}
