/**
 * The benchmark harness's pure parts: percentile math, /proc parsing, the
 * report tables and target checks, the kubeconfig it writes (read back by
 * the daemon's own loader), the daemon command line and argument parsing.
 * Nothing here is timed.
 */
import { loadClusterConnection } from "../../../src/kube/config.ts";
import { daemonArgs } from "../../../bench/daemon_process.ts";
import { parseFloorStatus } from "../../../bench/runtime_floor.ts";
import { kubeconfigText } from "../../../bench/kubeconfig.ts";
import {
  clockTicks,
  parseLoadAvg,
  parseMemTotal,
  parseProcStat,
  parseProcStatus,
} from "../../../bench/proc.ts";
import {
  checkTargets,
  coreTable,
  cpuModel,
  detailsTable,
  formatMs,
  formatQps,
  limitCell,
  machineLine,
  markdownTable,
  parseBenchJson,
  resultsTable,
  type ScenarioResult,
} from "../../../bench/report.ts";
import {
  DEFAULT_ARGS,
  parseBenchArgs,
  quickAckCommand,
  startTaskEnv,
  startTaskV8Flags,
} from "../../../bench/run.ts";
import { ipFor } from "../../../bench/scenarios.ts";
import { percentile, summarize } from "../../../bench/stats.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertThrows,
} from "../../support/assert.ts";
import { createTestCa } from "../../support/tls.ts";

Deno.test("percentile: nearest rank, never interpolated", () => {
  const cases: { values: number[]; p: number; want: number }[] = [
    { values: [7], p: 50, want: 7 },
    { values: [7], p: 99, want: 7 },
    { values: [5, 1, 4, 2, 3], p: 50, want: 3 },
    { values: [5, 1, 4, 2, 3], p: 20, want: 1 },
    { values: [5, 1, 4, 2, 3], p: 21, want: 2 },
    { values: [5, 1, 4, 2, 3], p: 100, want: 5 },
    { values: [1, 2, 3, 4], p: 50, want: 2 },
    { values: [1, 2, 3, 4], p: 51, want: 3 },
    // 100 values 1..100: p99 is the 99th, not the max.
    { values: Array.from({ length: 100 }, (_, i) => 100 - i), p: 99, want: 99 },
    { values: Array.from({ length: 1000 }, (_, i) => i), p: 99, want: 989 },
    { values: [0.5, 0.25], p: 1, want: 0.25 },
  ];
  for (const c of cases) {
    assertEquals(
      percentile(c.values, c.p),
      c.want,
      `p${c.p} of ${c.values.length} values`,
    );
  }
});

Deno.test("percentile: leaves its input unsorted", () => {
  const values = [3, 1, 2];
  percentile(values, 50);
  assertEquals(values, [3, 1, 2]);
});

Deno.test("percentile and summarize refuse what they cannot measure", () => {
  const bad: [number[], number, string][] = [
    [[], 50, "empty sample"],
    [[1], 0, "0 < p ≤ 100"],
    [[1], 101, "0 < p ≤ 100"],
    [[1], NaN, "0 < p ≤ 100"],
  ];
  for (const [values, p, message] of bad) {
    assertThrows(() => percentile(values, p), RangeError, message);
  }
  assertThrows(() => summarize([]), RangeError, "empty sample");
});

Deno.test("summarize: count, min, mean, p50, p99, max", () => {
  assertEquals(summarize([10, 20, 30, 40]), {
    count: 4,
    min: 10,
    mean: 25,
    p50: 20,
    p99: 40,
    max: 40,
  });
  const many = Array.from({ length: 200 }, (_, i) => i + 1);
  const s = summarize(many);
  assertEquals([s.p50, s.p99, s.max, s.min], [100, 198, 200, 1]);
});

const STATUS = `Name:\tdeno
Umask:\t0022
State:\tS (sleeping)
VmPeak:\t 3412344 kB
VmSize:\t 3380000 kB
VmHWM:\t  108224 kB
VmRSS:\t   97000 kB
Threads:\t9
`;

Deno.test("parseProcStatus reads VmHWM and VmRSS, not VmPeak", () => {
  assertEquals(parseProcStatus(STATUS), {
    peakRssKib: 108224,
    rssKib: 97000,
  });
});

Deno.test("parseProcStatus fails when a field is missing", () => {
  assertThrows(
    () => parseProcStatus("Name:\tkthreadd\nState:\tS\n"),
    Error,
    '"VmHWM: <n> kB"',
  );
  assertThrows(
    () => parseProcStatus("VmHWM:\t 1 kB\n"),
    Error,
    '"VmRSS: <n> kB"',
  );
});

Deno.test("parseProcStat counts fields after the last parenthesis", () => {
  const tail = "S 1 42 42 0 -1 4194560 100 0 0 0 250 30 5 6 20 0 9 0 777";
  const cases: [string, number, number][] = [
    [`42 (deno) ${tail}`, 250, 30],
    // A command name may hold spaces and parentheses.
    [`42 (my (odd) proc) ${tail}`, 250, 30],
    [`42 (a) b) ${tail}`, 250, 30],
    [
      "7 (x) R 1 7 7 0 -1 0 0 0 0 0 123456 789 0 0 20 0 1 0 5",
      123456,
      789,
    ],
  ];
  for (const [line, utime, stime] of cases) {
    assertEquals(parseProcStat(line), {
      utimeTicks: utime,
      stimeTicks: stime,
    }, line);
  }
});

Deno.test("parseProcStat rejects what is not /proc/<pid>/stat", () => {
  assertThrows(() => parseProcStat("no parens here"), Error, "no `)`");
  assertThrows(
    () => parseProcStat("1 (x) S 1 2"),
    Error,
    "utime and stime",
  );
  assertThrows(
    () => parseProcStat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 a b"),
    Error,
    '"a" and "b"',
  );
});

Deno.test("parseMemTotal reads kB into bytes", () => {
  assertEquals(
    parseMemTotal("MemTotal:        4028440 kB\nMemFree:  1 kB\n"),
    4028440 * 1024,
  );
  assertThrows(() => parseMemTotal("MemFree: 1 kB\n"), Error, "MemTotal");
});

Deno.test("parseLoadAvg reads the 1-minute figure", () => {
  assertEquals(parseLoadAvg("0.52 0.48 0.46 1/83 29300\n"), 0.52);
  assertEquals(parseLoadAvg("12.00 3 1 2/3 4"), 12);
  assertThrows(() => parseLoadAvg(""), Error, "/proc/loadavg");
  assertThrows(() => parseLoadAvg("abc 1 1"), Error, '"abc 1 1"');
});

Deno.test("clockTicks answers a positive whole number", async () => {
  const { hz } = await clockTicks();
  assert(Number.isInteger(hz) && hz > 0, `CLK_TCK ${hz}`);
});

Deno.test("cpuModel takes the first model name", () => {
  assertEquals(
    cpuModel(
      "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n",
    ),
    "AMD EPYC 7B13",
  );
  assertEquals(cpuModel("processor : 0\n"), "unknown");
});

Deno.test("markdownTable: header, alignment rule, escaped cells", () => {
  assertEquals(
    markdownTable(["a", "b|c"], [["1", "x|y"], ["22", ""]], ["l", "r"]),
    "| a | b\\|c |\n| :-- | --: |\n| 1 | x\\|y |\n| 22 |  |",
  );
  assertThrows(
    () => markdownTable(["a", "b"], [["only one"]]),
    RangeError,
    "row 0 has 1 cells, expected 2",
  );
});

Deno.test("formatMs and formatQps", () => {
  const ms: [number, string][] = [
    [0.04, "0.0 ms"],
    [3.14159, "3.1 ms"],
    [9.96, "10.0 ms"],
    [10, "10 ms"],
    [99.5, "100 ms"],
    [9999, "9999 ms"],
    [12345, "12.3 s"],
  ];
  for (const [value, want] of ms) assertEquals(formatMs(value), want);
  assertEquals(formatQps(0, 30), "unlimited");
  assertEquals(formatQps(20, 30), "20 (burst 30)");
});

function result(overrides: Partial<ScenarioResult>): ScenarioResult {
  return {
    scenario: "backlog",
    n: 5000,
    qps: 0,
    burst: 30,
    durationS: 10,
    approvalsPerS: 500,
    peakRssBytes: 100e6,
    cpuPer1000: 2.5,
    harnessCpuPer1000: 3,
    requestsPerCsr: {},
    duplicates: 0,
    missing: 0,
    ...overrides,
  };
}

Deno.test("resultsTable: one row per run with the issue's columns", () => {
  const table = resultsTable([
    result({ readyS: 0.5, firstApprovalS: 0.7 }),
    result({
      scenario: "storm",
      n: 2000,
      rate: 200,
      durationS: 10.2,
      approvalsPerS: 196,
      latencyMs: {
        count: 2000,
        min: 2,
        mean: 9,
        p50: 8.04,
        p99: 47.6,
        max: 120,
      },
      peakRssBytes: 91.4e6,
      cpuPer1000: 1.234,
    }),
    result({ qps: 20, n: 500, durationS: 80, approvalsPerS: 6.25 }),
  ]);
  const lines = table.split("\n");
  assertEquals(lines.length, 5);
  assertMatch(lines[0], /^\| scenario \| N \| --kube-api-qps \| duration/);
  assertEquals(
    lines[2],
    "| backlog | 5000 | unlimited | 10.0 s | 500 | – | – | – | 95.4 MiB | – | 2.50 |",
  );
  assertEquals(
    lines[3],
    "| storm (200/s) | 2000 | unlimited | 10.2 s | 196 | 8.0 ms | 48 ms | 120 ms | 87.2 MiB | – | 1.23 |",
  );
  assertMatch(
    lines[4],
    /^\| backlog \| 500 \| 20 \(burst 30\) \| 80\.0 s \| 6 \|/,
  );
});

Deno.test("detailsTable: start-up, requests per CSR, correctness", () => {
  const table = detailsTable([
    result({
      readyS: 0.512,
      firstApprovalS: 0.7,
      requestsPerCsr: {
        "PUT certificatesigningrequests/approval": 1,
        "POST subjectaccessreviews": 1.02,
      },
      duplicates: 1,
      missing: 2,
    }),
  ]);
  const row = table.split("\n")[2];
  assertEquals(
    row,
    "| backlog 5000 @ unlimited | 0.51 s | 0.70 s | POST subjectaccessreviews 1.02, PUT certificatesigningrequests/approval 1.00 | 3.00 | 1 / 2 |",
  );
});

Deno.test("machineLine says when CLK_TCK was assumed", () => {
  const m = {
    cpus: 2,
    cpuModel: "AMD EPYC",
    memoryGib: 4,
    deno: "2.9.6",
    os: "linux x86_64",
    clockTicks: 100,
    clockTicksMeasured: true,
  };
  assertEquals(
    machineLine(m),
    "2 CPUs (AMD EPYC), 4.0 GiB RAM, linux x86_64, Deno 2.9.6",
  );
  assertMatch(
    machineLine({ ...m, clockTicksMeasured: false }),
    /CLK_TCK assumed 100\)$/,
  );
});

Deno.test("checkTargets judges unlimited runs, idle RSS and the core", () => {
  const core = [
    { name: "ecdsa", n: 10, avgMs: 1.0, minMs: 1, p75Ms: 1, p99Ms: 2 },
    { name: "rsa", n: 10, avgMs: 1.1, minMs: 1, p75Ms: 1, p99Ms: 2 },
  ];
  const MiB = 2 ** 20;
  const checks = checkTargets([
    // The default flags against a server with APF: no limit, judged.
    result({ qps: undefined, burst: undefined, durationS: 8 }),
    result({
      scenario: "storm",
      n: 2000,
      rate: 200,
      latencyMs: { count: 1, min: 1, mean: 1, p50: 1, p99: 51, max: 1 },
      peakRssBytes: 80 * MiB + 1,
    }),
    // Idle RSS is judged wherever measured.
    result({ n: 1000, durationS: 1, idleRssBytes: 45 * MiB }),
    // The default without APF (20 qps), and explicit limits: never judged.
    result({ qps: undefined, burst: undefined, apf: false, durationS: 1000 }),
    result({ qps: 20, durationS: 1000, peakRssBytes: 500e6 }),
  ], core);
  assertEquals(
    checks.map((c) => [c.target, c.met]),
    [
      ["backlog of 5000 in ≤ 8 s", true],
      ["backlog 5000: peak RSS ≤ 80.0 MiB", false],
      ["storm p99 ≤ 50 ms", false],
      ["storm 2000: peak RSS ≤ 80.0 MiB", false],
      ["backlog of 5000 in ≤ 8 s", true],
      ["backlog 1000: peak RSS ≤ 80.0 MiB", false],
      ["idle after 1000 Nodes and CSRs: RSS ≤ 45.0 MiB", true],
      ["decision core ≤ 1 ms per CSR", true],
      ["decision core ≤ 1 ms per CSR", false],
    ],
  );
});

Deno.test("limitCell names how the default limit came out", () => {
  assertEquals(limitCell({ apf: true }), "default (APF: unlimited)");
  assertEquals(limitCell({ apf: false }), "default (no APF: 20, burst 30)");
  assertEquals(limitCell({ qps: 0, burst: 30 }), "unlimited");
  assertEquals(limitCell({ qps: 5, burst: 7, apf: true }), "5 (burst 7)");
});

Deno.test("startTaskEnv reads the NAME=value words before deno, and nothing after", () => {
  assertEquals(
    startTaskEnv(
      '{"tasks":{"start":"MALLOC_ARENA_MAX=2 MALLOC_TOP_PAD_=0 deno run --v8-flags=--lite-mode X=1 mod.ts"}}',
    ),
    { MALLOC_ARENA_MAX: "2", MALLOC_TOP_PAD_: "0" },
  );
  assertEquals(startTaskEnv('{"tasks":{"start":"deno run mod.ts"}}'), {});
  assertEquals(startTaskEnv("{}"), {});
});

Deno.test("startTaskV8Flags reads the start task's --v8-flags", () => {
  assertEquals(
    startTaskV8Flags(
      '{"tasks":{"start":"deno run --v8-flags=--lite-mode,--max-semi-space-size=1 --allow-net mod.ts"}}',
    ),
    ["--v8-flags=--lite-mode,--max-semi-space-size=1"],
  );
  assertEquals(startTaskV8Flags('{"tasks":{"start":"deno run mod.ts"}}'), []);
  assertEquals(startTaskV8Flags("{}"), []);
});

Deno.test("checkTargets scales a smaller backlog and fails a lossy run", () => {
  const [scaled] = checkTargets([result({ n: 1000, durationS: 4 })], []);
  assertEquals(scaled.met, false); // ≈ 20 s for 5000
  assertMatch(scaled.measured, /4\.0 s for 1000 \(≈ 20\.0 s for 5000/);
  const [lossy] = checkTargets([result({ durationS: 1, missing: 1 })], []);
  assertEquals(lossy.met, false);
});

Deno.test("parseBenchJson converts nanoseconds and names failures", () => {
  const ok = JSON.stringify({
    benches: [{
      name: "parse + verify + decide (ecdsa-p256)",
      results: [{
        ok: { n: 1000, avg: 1_234_567, min: 900_000, p75: 1.3e6, p99: 2.5e6 },
      }],
    }],
  });
  assertEquals(parseBenchJson(ok), [{
    name: "parse + verify + decide (ecdsa-p256)",
    n: 1000,
    avgMs: 1.234567,
    minMs: 0.9,
    p75Ms: 1.3,
    p99Ms: 2.5,
  }]);
  const failed = JSON.stringify({
    benches: [{ name: "x", results: [{ failed: "boom" }] }],
  });
  assertThrows(() => parseBenchJson(failed), Error, '"x" failed: "boom"');
  assertThrows(() => parseBenchJson("{}"), Error, "`benches` list");
  assertMatch(
    coreTable(parseBenchJson(ok)).split("\n")[2],
    /\| 1000 \| 1\.23 ms \| 0\.90 ms \| 1\.30 ms \| 2\.50 ms \|$/,
  );
});

Deno.test("the kubeconfig the harness writes is what the daemon loads", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bench-harness-test-" });
  try {
    const path = `${dir}/kubeconfig`;
    const caPem = (await createTestCa("bench harness test CA")).cert;
    await Deno.writeTextFile(
      path,
      kubeconfigText({
        server: "https://127.0.0.1:6443",
        caPem,
        token: "bench-token",
      }),
    );
    const connection = await loadClusterConnection({ kubeconfig: path });
    assertEquals(connection.server, "https://127.0.0.1:6443");
    assertEquals(connection.caPem, caPem);
    assertEquals(await connection.tokenSource?.token(), "bench-token");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("daemonArgs: production permissions and the bench flags", () => {
  // Default flags (what the bench measures): no --kube-api-* flag at all.
  const defaults = daemonArgs({
    kubeconfig: "/tmp/kc",
    port: 9123,
    entry: "/repo/mod.ts",
  });
  assert(
    !defaults.some((a) => a.startsWith("--kube-api-")),
    defaults.join(" "),
  );
  const args = daemonArgs({
    kubeconfig: "/tmp/kc",
    port: 9123,
    qps: 0,
    burst: 30,
    entry: "/repo/mod.ts",
    extraFlags: ["--workers=8"],
  });
  assertEquals(args.slice(0, 5), [
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "/repo/mod.ts",
  ]);
  for (
    const flag of [
      "--kubeconfig=/tmp/kc",
      "--listen=127.0.0.1:9123",
      "--kube-api-qps=0",
      "--kube-api-burst=30",
      "--leader-elect=false",
    ]
  ) {
    assert(args.includes(flag), `missing ${flag} in ${args.join(" ")}`);
  }
  assertEquals(args.at(-1), "--workers=8");
  assert(!args.some((a) => a.startsWith("--allow-all") || a === "-A"));
});

Deno.test("parseBenchArgs: defaults, overrides and errors", () => {
  assertEquals(parseBenchArgs([]), DEFAULT_ARGS);
  const a = parseBenchArgs([
    "--backlog=100",
    "--storm=0",
    "--rate=50",
    "--default-backlog=10",
    "--no-default-qps",
    "--no-core",
    "--entry=/other/mod.ts",
  ]);
  assertEquals(
    [a.backlog, a.storm, a.rate, a.defaultBacklog, a.defaultQps, a.core],
    [100, 0, 50, 10, false, false],
  );
  assertEquals(a.entry, "/other/mod.ts");
  const b = parseBenchArgs([
    "--daemon-flag=--workers=8",
    "--daemon-flag=--log-level=error",
    "--deno-flag=--v8-flags=--max-old-space-size=64",
    "--timeout=30",
    "--quickack",
  ]);
  assertEquals(b.daemonFlags, ["--workers=8", "--log-level=error"]);
  assertEquals(b.denoFlags, ["--v8-flags=--max-old-space-size=64"]);
  assertEquals([b.timeoutS, b.quickAck], [30, true]);
  // Lists are fresh per call: parsing never leaks into the defaults.
  assertEquals(DEFAULT_ARGS.daemonFlags, []);
  const bad: [string, string][] = [
    ["--backlog=-1", "expected a whole number ≥ 0"],
    ["--backlog=1.5", "expected a whole number ≥ 0"],
    ["--rate=0", "expected a whole number ≥ 1"],
    ["--timeout=0", "expected a whole number ≥ 1"],
    ["--daemon-flag=", 'unknown argument "--daemon-flag="'],
    ["--frobnicate=1", 'unknown argument "--frobnicate=1"'],
    ["backlog", 'unknown argument "backlog"'],
  ];
  for (const [arg, message] of bad) {
    assertThrows(() => parseBenchArgs([arg]), Error, message);
  }
});

Deno.test("ipFor: unique addresses inside 10.0.0.0/8", () => {
  assertEquals(
    [ipFor(1), ipFor(255), ipFor(256), ipFor(258), ipFor(65536)],
    ["10.0.0.1", "10.0.0.255", "10.0.1.0", "10.0.1.2", "10.1.0.0"],
  );
  const seen = new Set(Array.from({ length: 7000 }, (_, i) => ipFor(i + 1)));
  assertEquals(seen.size, 7000);
  for (const i of [0, -1, 1.5, 1 << 24]) {
    assertThrows(() => ipFor(i), RangeError, "1 ≤ i < 2^24");
  }
});

Deno.test("quickAckCommand: a private netns with quickack loopback routes", () => {
  const root = quickAckCommand("/usr/bin/deno", ["bench/run.ts", "--x"], 0);
  assertEquals(root.slice(0, 3), ["unshare", "--net", "--"]);
  const script = root[root.indexOf("-c") + 1];
  assertMatch(script, /^ip link set lo up && /);
  assertMatch(script, /ip route change local 127\.0\.0\.0\/8 .* quickack 1/);
  assertMatch(script, /ip route change local 127\.0\.0\.1 .* quickack 1/);
  assertMatch(script, /&& exec "\$@"$/);
  assertEquals(root.slice(-5), [
    "/usr/bin/deno",
    "run",
    "--allow-all",
    "bench/run.ts",
    "--x",
  ]);
  const user = quickAckCommand("/usr/bin/deno", [], 1000);
  assertEquals(user.slice(0, 5), [
    "unshare",
    "--user",
    "--map-root-user",
    "--net",
    "--",
  ]);
});

Deno.test("parseFloorStatus reads VmRSS, RssAnon and RssFile; a missing line is an error", () => {
  assertEquals(
    parseFloorStatus(
      "Name:\tdeno\nVmHWM:\t 60000 kB\nVmRSS:\t 49508 kB\nRssAnon:\t 14968 kB\nRssFile:\t 34540 kB\nRssShmem:\t 0 kB\n",
    ),
    { rssKib: 49508, anonKib: 14968, fileKib: 34540 },
  );
  assertThrows(
    () => parseFloorStatus("VmRSS:\t 49508 kB\nRssAnon:\t 14968 kB\n"),
    Error,
    "RssFile",
  );
});

Deno.test("the runtime floor's process imports nothing, so that it measures the runtime alone", async () => {
  const text = await Deno.readTextFile(
    new URL("../../../bench/floor_script.ts", import.meta.url),
  );
  assertEquals(text.match(/^\s*(import|export)\b.*from\s/m), null);
  assertEquals(/\bimport\(/.test(text), false);
});
