/**
 * The benchmark's printed output: one Markdown results table, a details
 * table, and a line describing the machine. Pure formatting.
 *
 * @module
 */
import type { Summary } from "./stats.ts";

/** What one backlog or storm run measured. */
export interface ScenarioResult {
  scenario: "backlog" | "storm";
  /** CSRs (each with its Node). */
  n: number;
  /** `--kube-api-qps` (0 = unlimited) and `--kube-api-burst`; undefined: not given (automatic). */
  qps?: number;
  burst?: number;
  /** Whether the double sent API Priority and Fairness headers. Default true. */
  apf?: boolean;
  /** Backlog with an idle wait: the daemon's RSS (VmRSS) once idle, bytes. */
  idleRssBytes?: number;
  /** Storm only: CSRs created per second. */
  rate?: number;
  /** Backlog: daemon spawn → last approval. Storm: first creation → last approval. Seconds. */
  durationS: number;
  /** `n / durationS`. */
  approvalsPerS: number;
  /** Storm only: creation → approval write answered, ms. */
  latencyMs?: Summary;
  /** Daemon VmHWM at the end, bytes. */
  peakRssBytes: number;
  /** Daemon user+system CPU over the measured window, per 1000 CSRs. */
  cpuPer1000: number;
  /** The harness process (API double + load generator) over the same window, per 1000 CSRs. */
  harnessCpuPer1000: number;
  /** Backlog: spawn → /readyz 200, seconds. */
  readyS?: number;
  /** Backlog: spawn → first approval, seconds. */
  firstApprovalS?: number;
  /** HTTP requests the daemon made during the window, per CSR, by kind. */
  requestsPerCsr: Record<string, number>;
  /** CSRs approved more than once (must be 0). */
  duplicates: number;
  /** CSRs not approved when the run ended (must be 0). */
  missing: number;
}

/** The machine and runtime the figures come from. */
export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGib: number;
  deno: string;
  os: string;
  clockTicks: number;
  clockTicksMeasured: boolean;
}

/**
 * A Markdown table; `align` is `l` or `r` per column (default left).
 *
 * @example
 * ```ts
 * import { markdownTable } from "./report.ts";
 * markdownTable(["a", "b"], [["1", "22"]], ["l", "r"]);
 * // "| a | b |\n| :-- | --: |\n| 1 | 22 |"
 * ```
 */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly ("l" | "r")[] = [],
): string {
  for (const [i, row] of rows.entries()) {
    if (row.length !== headers.length) {
      throw new RangeError(
        `table row ${i} has ${row.length} cells, expected ${headers.length}`,
      );
    }
  }
  const escape = (cell: string) => cell.replaceAll("|", "\\|");
  const line = (cells: readonly string[]) =>
    `| ${cells.map(escape).join(" | ")} |`;
  const rule = headers.map((_, i) => align[i] === "r" ? "--:" : ":--");
  return [line(headers), `| ${rule.join(" | ")} |`, ...rows.map(line)].join(
    "\n",
  );
}

/**
 * Milliseconds for a table cell: one decimal below 10 ms, whole above,
 * seconds from 10 s.
 *
 * @example
 * ```ts
 * import { formatMs } from "./report.ts";
 * formatMs(3.14159); // "3.1 ms"
 * formatMs(12345); // "12.3 s"
 * ```
 */
export function formatMs(ms: number): string {
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

/**
 * The `--kube-api-qps` setting for a table cell.
 *
 * @example
 * ```ts
 * import { formatQps } from "./report.ts";
 * formatQps(0, 30); // "unlimited"
 * formatQps(20, 30); // "20 (burst 30)"
 * ```
 */
export function formatQps(qps: number, burst: number): string {
  return qps > 0 ? `${qps} (burst ${burst})` : "unlimited";
}

/**
 * The client-side limit of a run for a table cell: the flags given, or
 * what the automatic default became against the double (with or without
 * its API Priority and Fairness headers).
 *
 * @example
 * ```ts
 * import { limitCell } from "./report.ts";
 * limitCell({ apf: true }); // "default (APF: unlimited)"
 * limitCell({ apf: false }); // "default (no APF: 20, burst 30)"
 * limitCell({ qps: 0, burst: 30 }); // "unlimited"
 * ```
 */
export function limitCell(
  r: Pick<ScenarioResult, "qps" | "burst" | "apf">,
): string {
  if (r.qps === undefined && r.burst === undefined) {
    return r.apf === false
      ? "default (no APF: 20, burst 30)"
      : "default (APF: unlimited)";
  }
  return formatQps(r.qps ?? 20, r.burst ?? 30);
}

/** Whether a run had no client-side limit (flags 0, or the default with APF). */
export function unlimited(
  r: Pick<ScenarioResult, "qps" | "burst" | "apf">,
): boolean {
  return r.qps === undefined && r.burst === undefined
    ? r.apf !== false
    : r.qps === 0;
}

/**
 * Bytes as MiB for a table cell.
 *
 * @example
 * ```ts
 * import { formatMiB } from "./report.ts";
 * formatMiB(80 * 2 ** 20); // "80.0 MiB"
 * ```
 */
export function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Column headers of {@linkcode resultsTable}. */
export const RESULT_HEADERS = [
  "scenario",
  "N",
  "--kube-api-qps",
  "duration",
  "approvals/s",
  "p50",
  "p99",
  "max",
  "peak RSS",
  "idle RSS",
  "CPU s / 1000 CSRs",
] as const;

/**
 * The main results table, one row per run.
 *
 * @example
 * Not run: needs the results of a benchmark run (bench/run.ts collects them).
 * ```ts ignore
 * import { resultsTable } from "./report.ts";
 * console.log(resultsTable(results));
 * ```
 */
export function resultsTable(results: readonly ScenarioResult[]): string {
  const rows = results.map((r) => [
    r.scenario === "storm" ? `storm (${r.rate}/s)` : "backlog",
    String(r.n),
    limitCell(r),
    `${r.durationS.toFixed(1)} s`,
    r.approvalsPerS.toFixed(0),
    r.latencyMs ? formatMs(r.latencyMs.p50) : "–",
    r.latencyMs ? formatMs(r.latencyMs.p99) : "–",
    r.latencyMs ? formatMs(r.latencyMs.max) : "–",
    formatMiB(r.peakRssBytes),
    r.idleRssBytes === undefined ? "–" : formatMiB(r.idleRssBytes),
    r.cpuPer1000.toFixed(2),
  ]);
  return markdownTable(
    RESULT_HEADERS,
    rows,
    ["l", "r", "l", "r", "r", "r", "r", "r", "r", "r", "r"],
  );
}

/**
 * Secondary figures: start-up, API requests per CSR, the harness's own CPU
 * (to tell whether the API double was the bottleneck), correctness counts.
 *
 * @example
 * Not run: needs the results of a benchmark run (bench/run.ts collects them).
 * ```ts ignore
 * import { detailsTable } from "./report.ts";
 * console.log(detailsTable(results));
 * ```
 */
export function detailsTable(results: readonly ScenarioResult[]): string {
  const rows = results.map((r) => [
    `${r.scenario === "storm" ? `storm (${r.rate}/s)` : "backlog"} ${r.n} @ ${
      limitCell(r)
    }`,
    r.readyS === undefined ? "–" : `${r.readyS.toFixed(2)} s`,
    r.firstApprovalS === undefined ? "–" : `${r.firstApprovalS.toFixed(2)} s`,
    Object.entries(r.requestsPerCsr).sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ") || "–",
    r.harnessCpuPer1000.toFixed(2),
    `${r.duplicates} / ${r.missing}`,
  ]);
  return markdownTable(
    [
      "run",
      "ready after",
      "first approval after",
      "daemon requests per CSR",
      "harness CPU s / 1000",
      "duplicate / missing approvals",
    ],
    rows,
    ["l", "r", "r", "l", "r", "r"],
  );
}

/**
 * One line describing the machine.
 *
 * @example
 * ```ts
 * import { machineLine } from "./report.ts";
 * machineLine({ cpus: 2, cpuModel: "AMD EPYC", memoryGib: 4, deno: "2.9.6", os: "linux x86_64", clockTicks: 100, clockTicksMeasured: true });
 * // "2 CPUs (AMD EPYC), 4.0 GiB RAM, linux x86_64, Deno 2.9.6"
 * ```
 */
export function machineLine(m: Machine): string {
  return `${m.cpus} CPUs (${m.cpuModel}), ${
    m.memoryGib.toFixed(1)
  } GiB RAM, ${m.os}, Deno ${m.deno}${
    m.clockTicksMeasured ? "" : ` (CLK_TCK assumed ${m.clockTicks})`
  }`;
}

/**
 * The CPU model from `/proc/cpuinfo` text (first `model name`), or
 * `unknown`.
 *
 * @example
 * ```ts
 * import { cpuModel } from "./report.ts";
 * cpuModel("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n"); // "AMD EPYC 7B13"
 * ```
 */
export function cpuModel(cpuinfo: string): string {
  return /^model name\s*:\s*(.+?)\s*$/m.exec(cpuinfo)?.[1] ?? "unknown";
}

/** One `Deno.bench` result, in milliseconds. */
export interface CoreBench {
  name: string;
  n: number;
  avgMs: number;
  minMs: number;
  p75Ms: number;
  p99Ms: number;
}

/**
 * Reads `deno bench --json` output (times in nanoseconds) into
 * {@linkcode CoreBench} rows; a failed bench throws with its name.
 *
 * @example
 * ```ts
 * import { parseBenchJson } from "./report.ts";
 * const json = JSON.stringify({ benches: [{ name: "x", results: [{ ok: { n: 10, avg: 1e6, min: 5e5, p75: 1.1e6, p99: 2e6 } }] }] });
 * parseBenchJson(json)[0].avgMs; // 1
 * ```
 */
export function parseBenchJson(text: string): CoreBench[] {
  const doc = JSON.parse(text) as {
    benches?: {
      name: string;
      results: {
        ok?: { n: number; avg: number; min: number; p75: number; p99: number };
        failed?: unknown;
      }[];
    }[];
  };
  if (!Array.isArray(doc.benches)) {
    throw new Error("deno bench --json: expected a `benches` list, found none");
  }
  return doc.benches.map((b) => {
    const ok = b.results?.[0]?.ok;
    if (!ok) {
      throw new Error(
        `deno bench: ${JSON.stringify(b.name)} failed: ${
          JSON.stringify(b.results?.[0]?.failed ?? b.results)
        }`,
      );
    }
    return {
      name: b.name,
      n: ok.n,
      avgMs: ok.avg / 1e6,
      minMs: ok.min / 1e6,
      p75Ms: ok.p75 / 1e6,
      p99Ms: ok.p99 / 1e6,
    };
  });
}

/**
 * The decision-core table from {@linkcode parseBenchJson} rows.
 *
 * @example
 * ```ts
 * import { coreTable } from "./report.ts";
 * coreTable([{ name: "x", n: 10, avgMs: 1, minMs: 0.5, p75Ms: 1.1, p99Ms: 2 }]);
 * ```
 */
export function coreTable(rows: readonly CoreBench[]): string {
  return markdownTable(
    ["decision core (per CSR)", "iterations", "avg", "min", "p75", "p99"],
    rows.map((r) => [
      r.name,
      String(r.n),
      `${r.avgMs.toFixed(2)} ms`,
      `${r.minMs.toFixed(2)} ms`,
      `${r.p75Ms.toFixed(2)} ms`,
      `${r.p99Ms.toFixed(2)} ms`,
    ]),
    ["l", "r", "r", "r", "r", "r"],
  );
}

/** The issue's targets (2 CPUs, default flags against a server with APF). */
export const TARGETS = {
  /** A backlog of 5,000 approved in at most this many seconds. */
  backlogSeconds: 8,
  backlogN: 5000,
  /** Storm p99, creation → approval, ms. */
  stormP99Ms: 50,
  /** Daemon peak RSS through the backlog and the storm, bytes (80 MiB). */
  peakRssBytes: 80 * 2 ** 20,
  /** Daemon RSS when idle after syncing 1,000 Nodes and 1,000 CSRs, bytes (45 MiB). */
  idleRssBytes: 45 * 2 ** 20,
  /** Decision core, average per CSR, ms. */
  coreMs: 1.0,
} as const;

/** One target and whether the measured figure meets it. */
export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean;
}

/**
 * Compares the runs without a client-side limit (the default with APF, or
 * `--kube-api-qps=0`) and the decision core with {@linkcode TARGETS}. A
 * backlog smaller than 5,000 is scaled linearly and says so; limited runs
 * are not judged (the limiter sets their pace). An idle RSS is judged
 * wherever it was measured.
 *
 * @example
 * ```ts
 * import { checkTargets } from "./report.ts";
 * checkTargets([], [{ name: "x", n: 10, avgMs: 1, minMs: 1, p75Ms: 1, p99Ms: 1 }])[0].met; // true
 * ```
 */
export function checkTargets(
  results: readonly ScenarioResult[],
  core: readonly CoreBench[],
): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const lifted = results.filter(unlimited);
  for (const r of lifted) {
    if (r.scenario === "backlog") {
      const scaled = r.durationS * TARGETS.backlogN / r.n;
      checks.push({
        target:
          `backlog of ${TARGETS.backlogN} in ≤ ${TARGETS.backlogSeconds} s`,
        measured: r.n === TARGETS.backlogN
          ? `${r.durationS.toFixed(1)} s`
          : `${r.durationS.toFixed(1)} s for ${r.n} (≈ ${
            scaled.toFixed(1)
          } s for ${TARGETS.backlogN}, scaled)`,
        met: r.missing === 0 && scaled <= TARGETS.backlogSeconds,
      });
    } else {
      const p99 = r.latencyMs?.p99;
      checks.push({
        target: `storm p99 ≤ ${TARGETS.stormP99Ms} ms`,
        measured: p99 === undefined ? "no approvals" : formatMs(p99),
        met: r.missing === 0 && p99 !== undefined &&
          p99 <= TARGETS.stormP99Ms,
      });
    }
    checks.push({
      target: `${r.scenario} ${r.n}: peak RSS ≤ ${
        formatMiB(TARGETS.peakRssBytes)
      }`,
      measured: formatMiB(r.peakRssBytes),
      met: r.peakRssBytes <= TARGETS.peakRssBytes,
    });
  }
  for (const r of results) {
    if (r.idleRssBytes === undefined) continue;
    checks.push({
      target: `idle after ${r.n} Nodes and CSRs: RSS ≤ ${
        formatMiB(TARGETS.idleRssBytes)
      }`,
      measured: formatMiB(r.idleRssBytes),
      met: r.idleRssBytes <= TARGETS.idleRssBytes,
    });
  }
  for (const c of core) {
    checks.push({
      target: `decision core ≤ ${TARGETS.coreMs} ms per CSR`,
      measured: `${c.avgMs.toFixed(2)} ms (${c.name})`,
      met: c.avgMs <= TARGETS.coreMs,
    });
  }
  return checks;
}
