/**
 * The standard `process_*` metrics every Prometheus client library exports
 * (resident and virtual memory, CPU seconds, start time, open and maximum
 * file descriptors), so that dashboards and alerts need nothing else.
 *
 * CPU time, resident memory and start time come from the runtime and are
 * always there. Virtual memory and file descriptors come from `/proc/self`,
 * which Deno's permission sandbox opens only to a process with every
 * permission (`--allow-all`): the shipped daemon runs with
 * `--allow-net --allow-read --allow-env`, so those three are left out of its
 * /metrics rather than widening its permissions for them.
 *
 * @module
 */
import type { Registry } from "./metrics.ts";

/** Where process facts come from; replaceable for tests. */
export interface ProcessSource {
  /** Text of `/proc/self/stat`, or `undefined` where there is none. */
  stat(): string | undefined;
  /** Text of `/proc/self/limits`, or `undefined`. */
  limits(): string | undefined;
  /** Number of open file descriptors, or `undefined`. */
  openFds(): number | undefined;
  /** Resident set size in bytes. */
  rss(): number;
  /** User + system CPU time in seconds, or `undefined`. */
  cpuSeconds(): number | undefined;
  /** Process start, seconds since the epoch. */
  startTime(): number;
}

// Linux reports CPU times in clock ticks of USER_HZ, which is 100 on every
// architecture the image is built for (the Go client assumes the same).
const USER_HZ = 100;

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** The process facts of this process. */
export function selfProcessSource(): ProcessSource {
  return {
    stat: () => readText("/proc/self/stat"),
    limits: () => readText("/proc/self/limits"),
    openFds() {
      try {
        let n = 0;
        for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
        return n;
      } catch {
        return undefined;
      }
    },
    rss: () => Deno.memoryUsage().rss,
    cpuSeconds() {
      // Node's process object, read on the first scrape only: Deno builds
      // it lazily (a few MB), and it needs no permission, unlike /proc.
      const usage = (globalThis as {
        process?: { cpuUsage?: () => { user: number; system: number } };
      }).process?.cpuUsage?.();
      return usage ? (usage.user + usage.system) / 1e6 : undefined;
    },
    startTime: () => performance.timeOrigin / 1000,
  };
}

/**
 * The fields of `/proc/<pid>/stat` after the command name, which may itself
 * hold spaces and parentheses: field 3 (state) is index 0.
 */
function statFields(stat: string): string[] | undefined {
  const end = stat.lastIndexOf(")");
  if (end < 0) return undefined;
  return stat.slice(end + 2).trim().split(" ");
}

/**
 * Parses the CPU seconds (user + system) and virtual memory size (bytes)
 * from the text of `/proc/<pid>/stat`.
 *
 * @example
 * ```ts
 * import { parseProcStat } from "./process_metrics.ts";
 * const stat = "42 (deno run) S 1 42 42 0 -1 0 0 0 0 0 150 50 0 0 20 0 5 0 100 104857600 2560";
 * parseProcStat(stat); // { cpuSeconds: 2, virtualBytes: 104857600 }
 * ```
 */
export function parseProcStat(
  stat: string,
): { cpuSeconds: number; virtualBytes: number } | undefined {
  const f = statFields(stat);
  // utime is field 14, stime 15, vsize 23 (1-based, see proc(5)).
  if (!f || f.length < 21) return undefined;
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  const vsize = Number(f[20]);
  if (![utime, stime, vsize].every(Number.isFinite)) return undefined;
  return { cpuSeconds: (utime + stime) / USER_HZ, virtualBytes: vsize };
}

/**
 * The soft limit of open files from the text of `/proc/<pid>/limits`.
 *
 * @example
 * ```ts
 * import { parseMaxFds } from "./process_metrics.ts";
 * parseMaxFds("Limit Soft Limit Hard Limit Units\nMax open files 1024 4096 files\n"); // 1024
 * ```
 */
export function parseMaxFds(limits: string): number | undefined {
  const line = limits.split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
  if (soft === undefined) return undefined;
  if (soft === "unlimited") return Infinity;
  const n = Number(soft);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Registers `process_cpu_seconds_total`, `process_resident_memory_bytes`,
 * `process_virtual_memory_bytes`, `process_start_time_seconds`,
 * `process_open_fds` and `process_max_fds` on `registry`.
 *
 * @example
 * ```ts
 * import { createRegistry } from "./metrics.ts";
 * import { registerProcessMetrics } from "./process_metrics.ts";
 * const registry = createRegistry();
 * registerProcessMetrics(registry);
 * registry.render().includes("process_resident_memory_bytes"); // true
 * ```
 */
export function registerProcessMetrics(
  registry: Registry,
  source: ProcessSource = selfProcessSource(),
): void {
  const stat = () => {
    const text = source.stat();
    return text === undefined ? undefined : parseProcStat(text);
  };
  registry.func(
    "process_cpu_seconds_total",
    "Total user and system CPU time spent in seconds.",
    "counter",
    () => source.cpuSeconds() ?? stat()?.cpuSeconds,
  );
  registry.func(
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
    "gauge",
    () => source.rss(),
  );
  registry.func(
    "process_virtual_memory_bytes",
    "Virtual memory size in bytes.",
    "gauge",
    () => stat()?.virtualBytes,
  );
  registry.func(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
    "gauge",
    () => source.startTime(),
  );
  registry.func(
    "process_open_fds",
    "Number of open file descriptors.",
    "gauge",
    () => source.openFds(),
  );
  registry.func(
    "process_max_fds",
    "Maximum number of open file descriptors.",
    "gauge",
    () => {
      const text = source.limits();
      return text === undefined ? undefined : parseMaxFds(text);
    },
  );
}
