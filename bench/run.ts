/**
 * `deno task bench`: the real daemon, as a separate process with the `start`
 * task's V8 flags and environment (what the image ships), against the
 * in-repo API server double over loopback TLS. With default flags against the double with its
 * API Priority and Fairness headers (so no client-side limit, as against
 * kube-apiserver): a backlog, a storm, and an idle run (RSS after syncing
 * and approving 1,000 Nodes and CSRs); then the same default flags against
 * the double without APF headers (20 qps, burst 30); then the decision-core
 * `deno bench`. Prints Markdown tables, the machine, and the issue's
 * targets with whether each is met.
 *
 * It needs `--allow-all`: Deno grants reads under `/proc` (the daemon's CPU
 * and peak RSS, the CPU model) only with all permissions, and the harness
 * spawns processes anyway, which `--allow-run` would allow just the same.
 *
 * ```sh
 * deno run --allow-all bench/run.ts [--backlog=5000] [--storm=2000] [--rate=200]
 *   [--idle=1000] [--default-backlog=500] [--default-storm=200] [--default-rate=20]
 *   [--timeout=300] [--no-default-qps] [--no-core] [--no-start-flags] [--quickack]
 *   [--entry=OTHER/mod.ts] [--daemon-flag=--workers=16]... [--deno-flag=--v8-flags=...]...
 * ```
 *
 * A size of 0 skips that run. `--no-default-qps` skips the runs without APF
 * headers. `--entry` runs another checkout's daemon (to compare a change);
 * `--daemon-flag`/`--deno-flag` pass flags through; `--no-start-flags`
 * drops the `start` task's V8 flags and environment; `--quickack` is
 * explained at {@linkcode quickAckCommand}.
 *
 * @module
 */
import {
  checkTargets,
  type CoreBench,
  coreTable,
  cpuModel,
  detailsTable,
  formatMiB,
  type Machine,
  machineLine,
  parseBenchJson,
  resultsTable,
  type ScenarioResult,
} from "./report.ts";
import { clockTicks, parseLoadAvg, parseMemTotal } from "./proc.ts";
import { measureRuntimeFloor, type RuntimeFloor } from "./runtime_floor.ts";
import { buildFleet, runBacklog, runStorm } from "./scenarios.ts";

/** What the command line asks for. */
export interface BenchArgs {
  backlog: number;
  storm: number;
  rate: number;
  defaultBacklog: number;
  defaultStorm: number;
  defaultRate: number;
  /** Backlog size of the idle run (RSS measured once idle); 0 skips it. */
  idle: number;
  /** Also run against the double without APF headers (default flags: 20 qps, burst 30). */
  defaultQps: boolean;
  /** Run the daemon with the `start` task's V8 flags and environment (ships). */
  startFlags: boolean;
  /** Run the decision-core `deno bench`. */
  core: boolean;
  /** The daemon's entry module; default this checkout's `mod.ts` (another tree's, to compare a change). */
  entry?: string;
  /** Extra daemon flags (`--daemon-flag=--workers=8`, repeatable). */
  daemonFlags: string[];
  /** Extra `deno run` flags for the daemon (`--deno-flag=--v8-flags=...`, repeatable). */
  denoFlags: string[];
  /** Give up on a run with the QPS limit lifted after this many seconds. */
  timeoutS: number;
  /**
   * Run in a private network namespace whose loopback sends ACKs at once
   * (`ip route ... quickack 1`): see {@linkcode reexecWithQuickAck}.
   */
  quickAck: boolean;
}

/** Defaults: the issue's sizes, and smaller default-QPS runs (≈ 1.5 min). */
export const DEFAULT_ARGS: BenchArgs = {
  backlog: 5000,
  storm: 2000,
  rate: 200,
  defaultBacklog: 500,
  defaultStorm: 200,
  defaultRate: 20,
  idle: 1000,
  defaultQps: true,
  startFlags: true,
  core: true,
  daemonFlags: [],
  denoFlags: [],
  timeoutS: 300,
  quickAck: false,
};

const NUMERIC: Record<string, keyof BenchArgs> = {
  "backlog": "backlog",
  "storm": "storm",
  "rate": "rate",
  "default-backlog": "defaultBacklog",
  "default-storm": "defaultStorm",
  "default-rate": "defaultRate",
  "idle": "idle",
  "timeout": "timeoutS",
};

/**
 * Parses the command line; throws a message naming the bad argument.
 * A size of 0 skips that run.
 *
 * @example
 * ```ts
 * import { parseBenchArgs } from "./run.ts";
 * parseBenchArgs(["--backlog=100", "--no-core"]).backlog; // 100
 * ```
 */
export function parseBenchArgs(args: readonly string[]): BenchArgs {
  const out: BenchArgs = {
    ...DEFAULT_ARGS,
    daemonFlags: [],
    denoFlags: [],
  };
  const lists: Record<string, string[]> = {
    "--daemon-flag=": out.daemonFlags,
    "--deno-flag=": out.denoFlags,
  };
  for (const arg of args) {
    const list = Object.entries(lists).find(([p]) =>
      arg.startsWith(p) && arg.length > p.length
    );
    if (list) {
      list[1].push(arg.slice(list[0].length));
      continue;
    }
    if (arg === "--quickack") {
      out.quickAck = true;
      continue;
    }
    if (arg === "--no-default-qps") {
      out.defaultQps = false;
      continue;
    }
    if (arg === "--no-core") {
      out.core = false;
      continue;
    }
    if (arg === "--no-start-flags") {
      out.startFlags = false;
      continue;
    }
    if (arg.startsWith("--entry=") && arg.length > "--entry=".length) {
      out.entry = arg.slice("--entry=".length);
      continue;
    }
    const m = /^--([a-z-]+)=(.*)$/.exec(arg);
    const key = m ? NUMERIC[m[1]] : undefined;
    if (!m || !key) {
      throw new Error(
        `unknown argument ${JSON.stringify(arg)}; expected --${
          Object.keys(NUMERIC).join("=N, --")
        }=N, --entry=PATH, --daemon-flag=F, --deno-flag=F, --quickack, --no-default-qps, --no-start-flags or --no-core`,
      );
    }
    const value = Number(m[2]);
    const isRate = key === "rate" || key === "defaultRate" ||
      key === "timeoutS";
    if (!Number.isInteger(value) || value < (isRate ? 1 : 0)) {
      throw new Error(
        `--${m[1]}: expected a whole number ${isRate ? "≥ 1" : "≥ 0"}, found ${
          JSON.stringify(m[2])
        }`,
      );
    }
    (out as unknown as Record<string, number>)[key] = value;
  }
  return out;
}

/**
 * The `--v8-flags=...` arguments of the `start` task in deno.json: the V8
 * flags the image is compiled with (tests/repo/dockerfile_test.ts keeps the two
 * equal), so that the bench measures what ships.
 *
 * @example
 * ```ts
 * import { startTaskV8Flags } from "./run.ts";
 * startTaskV8Flags('{"tasks":{"start":"deno run --v8-flags=--max-semi-space-size=1 mod.ts"}}');
 * // ["--v8-flags=--max-semi-space-size=1"]
 * ```
 */
export function startTaskV8Flags(denoJson: string): string[] {
  return startTaskWords(denoJson).filter((a) => a.startsWith("--v8-flags="));
}

/**
 * The `NAME=value` words before `deno` in the `start` task: the environment
 * it runs the daemon in (glibc's malloc settings; the Dockerfile's `ENV`,
 * which tests/repo/dockerfile_test.ts keeps equal).
 *
 * @example
 * ```ts
 * import { startTaskEnv } from "./run.ts";
 * startTaskEnv('{"tasks":{"start":"MALLOC_ARENA_MAX=2 deno run mod.ts"}}');
 * // { MALLOC_ARENA_MAX: "2" }
 * ```
 */
export function startTaskEnv(denoJson: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const word of startTaskWords(denoJson)) {
    const m = word.match(/^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/);
    if (!m) break;
    env[m[1]] = m[2];
  }
  return env;
}

function startTaskWords(denoJson: string): string[] {
  const tasks = (JSON.parse(denoJson) as { tasks?: Record<string, unknown> })
    .tasks ?? {};
  const start = tasks.start;
  const command = typeof start === "string"
    ? start
    : typeof start === "object" && start !== null &&
        typeof (start as { command?: unknown }).command === "string"
    ? (start as { command: string }).command
    : "";
  return command.trim().split(/\s+/).filter((w) => w !== "");
}

async function machine(hz: number, measured: boolean): Promise<Machine> {
  let model = "unknown";
  let memory = NaN;
  try {
    model = cpuModel(await Deno.readTextFile("/proc/cpuinfo"));
    memory = parseMemTotal(await Deno.readTextFile("/proc/meminfo"));
  } catch {
    // Not Linux: say unknown.
  }
  return {
    cpus: navigator.hardwareConcurrency,
    cpuModel: model,
    memoryGib: memory / 2 ** 30,
    deno: Deno.version.deno,
    os: `${Deno.build.os} ${Deno.build.arch}`,
    clockTicks: hz,
    clockTicksMeasured: measured,
  };
}

async function loadAvg(): Promise<string> {
  try {
    return parseLoadAvg(await Deno.readTextFile("/proc/loadavg")).toFixed(2);
  } catch {
    return "unknown";
  }
}

async function coreBench(root: URL): Promise<CoreBench[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "bench",
      "--json",
      "--allow-read",
      new URL("./decision_bench.ts", import.meta.url).pathname,
    ],
    cwd: root.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `deno bench failed (exit ${out.code}):\n${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return parseBenchJson(new TextDecoder().decode(out.stdout));
}

/**
 * How long the idle run waits before it reads the RSS: V8's memory reducer
 * shrinks the heap ~8 s after activity stops (measured: 69.9 MiB at 5 s,
 * 61.3 MiB at 30 s, 64.0 MiB at 90 s after a 1,000-CSR backlog), and an
 * operator's idle daemon has been idle far longer than 5 s.
 */
const IDLE_MS = 30_000;

/** Set in the re-executed harness inside the network namespace. */
const NETNS_ENV = "KRS_BENCH_IN_NETNS";

/**
 * The command that re-runs the harness in a private network namespace whose
 * loopback routes carry `quickack 1`, so that the kernel acknowledges every
 * segment at once instead of delaying ACKs up to 40 ms.
 *
 * Why: `Deno.serve` (the API double) leaves Nagle's algorithm on and, with
 * TLS, writes a response's headers and body separately; the body then waits
 * for the client's delayed ACK, ~40 ms per request. kube-apiserver (Go) sets
 * TCP_NODELAY and never waits like that, so figures taken without this
 * measure the double's sockets more than the daemon. As root it uses
 * `unshare --net`; otherwise an unprivileged user namespace as well.
 *
 * @example
 * ```ts
 * import { quickAckCommand } from "./run.ts";
 * quickAckCommand("/usr/bin/deno", ["bench/run.ts", "--quickack"], 0)[0]; // "unshare"
 * ```
 */
export function quickAckCommand(
  deno: string,
  harnessArgs: readonly string[],
  uid: number | null,
): string[] {
  const routes = [
    "ip link set lo up",
    ...["127.0.0.0/8", "127.0.0.1"].map((dst) =>
      `ip route change local ${dst} dev lo table local proto kernel scope host src 127.0.0.1 quickack 1`
    ),
  ].join(" && ");
  return [
    "unshare",
    ...(uid === 0 ? ["--net"] : ["--user", "--map-root-user", "--net"]),
    "--",
    "sh",
    "-c",
    `${routes} && exec "$@"`,
    "sh",
    deno,
    "run",
    "--allow-all",
    ...harnessArgs,
  ];
}

/** Runs the harness again inside the namespace; `unshare` and `ip` print their own errors. */
async function reexecWithQuickAck(): Promise<number> {
  const [cmd, ...rest] = quickAckCommand(
    Deno.execPath(),
    [new URL(import.meta.url).pathname, ...Deno.args],
    Deno.uid(),
  );
  const status = await new Deno.Command(cmd, {
    args: rest,
    env: { [NETNS_ENV]: "1" },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  return status.code;
}

async function main(args: BenchArgs): Promise<number> {
  if (args.quickAck && !Deno.env.get(NETNS_ENV)) {
    return await reexecWithQuickAck();
  }
  const root = new URL("../", import.meta.url);
  const entry = args.entry ?? new URL("./mod.ts", root).pathname;
  const ticks = await clockTicks();
  const m = await machine(ticks.hz, ticks.measured);
  const log = (line: string) => console.error(line);
  const loadBefore = await loadAvg();
  log(`machine: ${machineLine(m)}; load average ${loadBefore}`);
  const denoJson = await Deno.readTextFile(new URL("./deno.json", root));
  const denoFlags = [
    ...(args.startFlags ? startTaskV8Flags(denoJson) : []),
    ...args.denoFlags,
  ];
  const denoEnv = args.startFlags ? startTaskEnv(denoJson) : {};
  const envWords = Object.entries(denoEnv).map(([k, v]) => `${k}=${v} `)
    .join("");
  log(
    `daemon: ${envWords}deno run ${denoFlags.join(" ")} ${entry} ${
      args.daemonFlags.join(" ")
    }`,
  );

  const plans: {
    scenario: "backlog" | "storm";
    n: number;
    apf: boolean;
    rate?: number;
    idleMs?: number;
  }[] = [
    { scenario: "backlog", n: args.backlog, apf: true },
    { scenario: "storm", n: args.storm, apf: true, rate: args.rate },
    { scenario: "backlog", n: args.idle, apf: true, idleMs: IDLE_MS },
  ];
  if (args.defaultQps) {
    plans.push(
      { scenario: "backlog", n: args.defaultBacklog, apf: false },
      {
        scenario: "storm",
        n: args.defaultStorm,
        apf: false,
        rate: args.defaultRate,
      },
    );
  }
  const runs = plans.filter((p) => p.n > 0);

  // Every CSR is signed before any daemon runs, so that signing never
  // competes with the daemon for the CPUs.
  const t = performance.now();
  const fleets = [];
  for (const [i, p] of runs.entries()) {
    fleets.push(await buildFleet(p.n, `r${i}-${p.scenario}`));
  }
  log(
    `generated ${fleets.reduce((s, f) => s + f.length, 0)} CSRs in ${
      ((performance.now() - t) / 1000).toFixed(1)
    } s`,
  );

  const results: ScenarioResult[] = [];
  for (const [i, p] of runs.entries()) {
    // Generous: at 20 QPS each CSR costs 2 requests (SAR, approval; Events
    // have their own budget); unlimited, a minute is far beyond the targets.
    const timeoutMs = !p.apf
      ? (p.n * 3 / 20 + (p.rate ? p.n / p.rate : 0) + 60) * 1000
      : args.timeoutS * 1000;
    log(
      `running ${p.idleMs ? "idle after a backlog" : p.scenario} of ${p.n}${
        p.rate ? ` at ${p.rate}/s` : ""
      }, default flags, ${p.apf ? "APF headers" : "no APF headers"} ...`,
    );
    const options = {
      daemonFlags: args.daemonFlags,
      denoFlags,
      denoEnv,
      n: p.n,
      apf: p.apf,
      idleMs: p.idleMs,
      entry,
      clockTicks: ticks.hz,
      timeoutMs,
      log,
    };
    const r = p.scenario === "backlog"
      ? await runBacklog(fleets[i], options)
      : await runStorm(fleets[i], p.rate!, options);
    log(
      `  ${r.durationS.toFixed(1)} s, ${r.approvalsPerS.toFixed(0)}/s${
        r.latencyMs ? `, p99 ${r.latencyMs.p99.toFixed(1)} ms` : ""
      }, peak RSS ${formatMiB(r.peakRssBytes)}${
        r.idleRssBytes === undefined
          ? ""
          : `, idle RSS ${formatMiB(r.idleRssBytes)}`
      }`,
    );
    results.push(r);
    fleets[i] = []; // let the CSRs go before the next run
  }

  let floor: RuntimeFloor | undefined;
  if (args.idle > 0) {
    log("running the runtime floor (no project code) ...");
    floor = await measureRuntimeFloor(denoFlags, IDLE_MS, denoEnv);
  }

  let core: CoreBench[] = [];
  if (args.core) {
    log("running the decision-core deno bench ...");
    core = await coreBench(root);
  }

  const out: string[] = [];
  out.push(
    `Machine: ${
      machineLine(m)
    }; 1-min load average ${loadBefore} before, ${await loadAvg()} after`,
  );
  out.push(
    `Loopback: ${
      Deno.env.get(NETNS_ENV)
        ? "private network namespace, delayed ACKs off (--quickack)"
        : "host, delayed ACKs on (Linux default)"
    }${
      args.daemonFlags.length + denoFlags.length + envWords.length > 0
        ? `; daemon: ${envWords}${
          [...denoFlags, ...args.daemonFlags].join(" ")
        }`
        : ""
    }\n`,
  );
  if (results.length > 0) {
    out.push(resultsTable(results), "");
    out.push(detailsTable(results), "");
  }
  if (floor) {
    out.push(
      `Runtime floor, idle ${
        IDLE_MS / 1000
      } s with the same V8 flags and environment: ${
        formatMiB(floor.rssKib * 1024)
      } RSS (${
        formatMiB(floor.fileKib * 1024)
      } of it the deno executable's own pages, ${
        formatMiB(floor.anonKib * 1024)
      } anonymous) for \`bench/floor_script.ts\`, which imports nothing: HTTP/2 fetch over TLS, JSON and ECDSA checks.\n`,
    );
  }
  if (core.length > 0) out.push(coreTable(core), "");
  const checks = checkTargets(results, core);
  for (const c of checks) {
    out.push(`- ${c.met ? "✔" : "✘"} ${c.target}: ${c.measured}`);
  }
  console.log(out.join("\n"));
  const broken = results.some((r) => r.duplicates > 0 || r.missing > 0);
  return broken ? 1 : 0;
}

if (import.meta.main) {
  let args: BenchArgs;
  try {
    args = parseBenchArgs(Deno.args);
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    Deno.exit(2);
  }
  Deno.exit(await main(args));
}
