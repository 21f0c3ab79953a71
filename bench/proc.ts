/**
 * Resource usage of a Linux process from `/proc`: peak and current resident
 * memory (`/proc/<pid>/status`) and CPU time (`/proc/<pid>/stat`). The
 * parsers are pure; the readers do the I/O.
 *
 * @module
 */

/** Memory figures from `/proc/<pid>/status`, in kibibytes. */
export interface ProcMemory {
  /** `VmHWM`: peak resident set size ("high water mark"). */
  peakRssKib: number;
  /** `VmRSS`: resident set size now. */
  rssKib: number;
}

/**
 * Parses `/proc/<pid>/status` text for `VmHWM` and `VmRSS`. Throws when
 * either is missing (a kernel thread, or not Linux): a benchmark must not
 * report a zero it did not measure.
 *
 * @example
 * ```ts
 * import { parseProcStatus } from "./proc.ts";
 * parseProcStatus("Name:\tdeno\nVmHWM:\t  81234 kB\nVmRSS:\t  70000 kB\n").peakRssKib; // 81234
 * ```
 */
export function parseProcStatus(text: string): ProcMemory {
  return {
    peakRssKib: procStatusField(text, "VmHWM"),
    rssKib: procStatusField(text, "VmRSS"),
  };
}

/**
 * One `<name>: <n> kB` line of `/proc/<pid>/status` text, in kibibytes.
 * Throws when it is missing.
 *
 * @example
 * ```ts
 * import { procStatusField } from "./proc.ts";
 * procStatusField("RssFile:\t 34540 kB\n", "RssFile"); // 34540
 * ```
 */
export function procStatusField(text: string, name: string): number {
  const m = new RegExp(`^${name}:\\s*(\\d+)\\s*kB\\s*$`, "m").exec(text);
  if (!m) {
    throw new Error(
      `/proc status: expected a "${name}: <n> kB" line, found none`,
    );
  }
  return Number(m[1]);
}

/** CPU time from `/proc/<pid>/stat`, in clock ticks. */
export interface ProcCpu {
  /** Field 14: time scheduled in user mode. */
  utimeTicks: number;
  /** Field 15: time scheduled in kernel mode. */
  stimeTicks: number;
}

/**
 * Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses
 * and may itself contain spaces and `)`, so fields are counted from the
 * last `)`, as proc(5) advises.
 *
 * @example
 * ```ts
 * import { parseProcStat } from "./proc.ts";
 * const line = "42 (deno) S 1 42 42 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 9 0";
 * parseProcStat(line); // { utimeTicks: 250, stimeTicks: 30 }
 * ```
 */
export function parseProcStat(text: string): ProcCpu {
  const close = text.lastIndexOf(")");
  if (close < 0) {
    throw new Error(
      "/proc stat: expected `pid (comm) state ...`, found no `)`",
    );
  }
  // After ")": field 3 (state) is index 0, so field n is index n - 3.
  const rest = text.slice(close + 1).trim().split(/\s+/);
  const utime = Number(rest[14 - 3]);
  const stime = Number(rest[15 - 3]);
  if (!Number.isInteger(utime) || !Number.isInteger(stime)) {
    throw new Error(
      `/proc stat: expected whole utime and stime (fields 14 and 15), found ${
        JSON.stringify(rest[14 - 3])
      } and ${JSON.stringify(rest[15 - 3])}`,
    );
  }
  return { utimeTicks: utime, stimeTicks: stime };
}

/**
 * Clock ticks per second (`getconf CLK_TCK`). Falls back to 100, the value
 * on every mainstream Linux architecture, when `getconf` cannot run; the
 * second field says which.
 *
 * @example
 * ```ts
 * import { clockTicks } from "./proc.ts";
 * const { hz, measured } = await clockTicks(); // { hz: 100, measured: true } on Linux
 * ```
 */
export async function clockTicks(): Promise<{ hz: number; measured: boolean }> {
  try {
    const out = await new Deno.Command("getconf", {
      args: ["CLK_TCK"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const hz = Number(new TextDecoder().decode(out.stdout).trim());
    if (out.success && Number.isInteger(hz) && hz > 0) {
      return { hz, measured: true };
    }
  } catch {
    // Not found or not permitted: use the default below.
  }
  return { hz: 100, measured: false };
}

/** One reading of a process's resource usage. */
export interface ProcSample {
  /** User + system CPU, in seconds. */
  cpuSeconds: number;
  /** Peak resident set size so far, in bytes. */
  peakRssBytes: number;
  /** Resident set size now, in bytes. */
  rssBytes: number;
}

/**
 * Reads CPU and memory of `pid` (`"self"` for this process).
 *
 * @example
 * Not run: Linux only (reads /proc); tests/unit/bench/harness_test.ts covers the parsing.
 * ```ts ignore
 * import { readProc } from "./proc.ts";
 * const { cpuSeconds, peakRssBytes } = await readProc("self", 100);
 * ```
 */
export async function readProc(
  pid: number | "self",
  hz: number,
): Promise<ProcSample> {
  const [stat, status] = await Promise.all([
    Deno.readTextFile(`/proc/${pid}/stat`),
    Deno.readTextFile(`/proc/${pid}/status`),
  ]);
  const cpu = parseProcStat(stat);
  const mem = parseProcStatus(status);
  return {
    cpuSeconds: (cpu.utimeTicks + cpu.stimeTicks) / hz,
    peakRssBytes: mem.peakRssKib * 1024,
    rssBytes: mem.rssKib * 1024,
  };
}

/**
 * Total memory from `/proc/meminfo` text (`MemTotal`), in bytes; throws when
 * the line is missing.
 *
 * @example
 * ```ts
 * import { parseMemTotal } from "./proc.ts";
 * parseMemTotal("MemTotal:        4028440 kB\nMemFree: 1 kB\n"); // 4125122560
 * ```
 */
export function parseMemTotal(meminfo: string): number {
  const m = /^MemTotal:\s*(\d+)\s*kB\s*$/m.exec(meminfo);
  if (!m) {
    throw new Error(
      '/proc/meminfo: expected a "MemTotal: <n> kB" line, found none',
    );
  }
  return Number(m[1]) * 1024;
}

/**
 * The 1-minute load average from `/proc/loadavg` text. The benchmark prints
 * it before and after: on a shared machine it says how much of the CPUs the
 * runs really had.
 *
 * @example
 * ```ts
 * import { parseLoadAvg } from "./proc.ts";
 * parseLoadAvg("0.52 0.48 0.46 1/83 29300\n"); // 0.52
 * ```
 */
export function parseLoadAvg(text: string): number {
  const field = text.trim().split(/\s+/)[0];
  if (!/^\d+(\.\d+)?$/.test(field)) {
    throw new Error(
      `/proc/loadavg: expected "<1m> <5m> <15m> ...", found ${
        JSON.stringify(text.slice(0, 40))
      }`,
    );
  }
  return Number(field);
}
