/**
 * `deno task bench:cluster`: the approver's backlog and storm on a real
 * control plane (kube-apiserver, etcd and the kube-controller-manager CSR
 * signer built by tests/cluster/build_control_plane.ts), deployed with
 * `deploy/`'s RBAC and run as the `start` task runs it: default flags, the
 * shipped V8 flags, a ServiceAccount token.
 *
 *   deno task bench:cluster [--backlog 5000] [--storm 2000] [--rate 200]
 *     [--deno-flags "--v8-flags=…"] [--daemon-arg --workers=8]… [--daemon-log FILE]
 *
 * Each CSR is created by its own Node's identity (the admin impersonates
 * `system:node:<name>` in group `system:nodes`), so the real server fills
 * `spec.username`/`groups`, NodeRestriction checks the CN and the approver's
 * SubjectAccessReview is answered by real RBAC. Latency is measured from just
 * before the create request to the watch event carrying the `Approved`
 * condition, seen by this process's own CSR watch.
 *
 * Runs with `--allow-all` (as `deno task bench` does): Deno reads
 * `/proc/<pid>/` only with every permission.
 *
 * Reports approvals/s, latency percentiles, the daemon's CPU seconds per
 * 1,000 CSRs and peak RSS, and kube-apiserver's CPU in the same run; checks
 * that every CSR was approved exactly once.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  ensureControlPlane,
  requestedVersion,
} from "../tests/cluster/build_control_plane.ts";
import {
  type ApiClient,
  type ControlPlane,
  startControlPlane,
} from "../tests/cluster/control_plane.ts";
import {
  applyManifests,
  renderKustomization,
} from "../tests/cluster/deploy.ts";
import {
  type Approver,
  serviceAccountToken,
  startApprover,
} from "../tests/cluster/actors.ts";
import { killAll } from "../tests/cluster/processes.ts";
import {
  kubeletUsages,
  makeCertificateRequestPem,
} from "../tests/support/csr_factory.ts";
import { readLines } from "../src/kube/read_lines.ts";
import { ipFor } from "./scenarios.ts";
import { clockTicks, readProc } from "./proc.ts";
import { percentile } from "./stats.ts";
import { startTaskEnv, startTaskV8Flags } from "./run.ts";

const REPO = new URL("../", import.meta.url).pathname;
const CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
const log = (line: string) => console.log(`[bench:cluster] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

interface Member {
  node: string;
  ip: string;
  request: string;
}

/** Nodes (with their addresses) and their kubelets' serving CSRs (PEM, base64). */
async function makeFleet(
  from: number,
  count: number,
  ipOffset: number,
): Promise<Member[]> {
  const out: Member[] = [];
  for (let i = from; i < from + count; i++) {
    const node = `bench-${i}`;
    const ip = ipFor(i + ipOffset);
    const pem = await makeCertificateRequestPem({
      node,
      dnsNames: [node],
      ipAddresses: [ip],
    });
    out.push({ node, ip, request: new TextEncoder().encode(pem).toBase64() });
  }
  return out;
}

async function createNodes(admin: ApiClient, fleet: Member[]): Promise<void> {
  await pool(fleet, 16, async (m) => {
    const res = await admin.request("POST", "/api/v1/nodes", {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: m.node, labels: { "kubernetes.io/hostname": m.node } },
    });
    if (res.status !== 201) {
      throw new Error(`create node ${m.node}: ${res.status} ${res.text}`);
    }
    const st = await admin.request(
      "PATCH",
      `/api/v1/nodes/${m.node}/status`,
      {
        status: {
          addresses: [
            { type: "Hostname", address: m.node },
            { type: "InternalIP", address: m.ip },
          ],
        },
      },
      "application/merge-patch+json",
    );
    if (st.status !== 200) {
      throw new Error(`node ${m.node} status: ${st.status} ${st.text}`);
    }
  });
}

/** Creates `m`'s CSR as its kubelet would (impersonated), returns its name. */
async function createCsr(admin: ApiClient, m: Member): Promise<string> {
  const res = await admin.request<{ metadata: { name: string } }>(
    "POST",
    CSRS,
    {
      apiVersion: "certificates.k8s.io/v1",
      kind: "CertificateSigningRequest",
      metadata: { generateName: "csr-" },
      spec: {
        request: m.request,
        signerName: "kubernetes.io/kubelet-serving",
        usages: kubeletUsages("ecdsa-p256"),
      },
    },
    "application/json",
    {
      "Impersonate-User": `system:node:${m.node}`,
      "Impersonate-Group": "system:nodes",
    },
  );
  if (res.status !== 201) {
    throw new Error(`create CSR for ${m.node}: ${res.status} ${res.text}`);
  }
  return res.body.metadata.name;
}

/**
 * This process's own watch of CSRs: when each was first seen approved
 * (`performance.now()`) and how many Approved conditions it carries.
 */
interface ApprovalWatch {
  approvedAt: Map<string, number>;
  approvedConditions: Map<string, number>;
  /** Resolves once `names` are all approved (or rejects after `timeoutMs`). */
  until(names: readonly string[], timeoutMs: number): Promise<void>;
  stop(): void;
}

function watchApprovals(cp: ControlPlane, adminPair: {
  cert: string;
  key: string;
}): ApprovalWatch {
  const approvedAt = new Map<string, number>();
  const approvedConditions = new Map<string, number>();
  const abort = new AbortController();
  const http = Deno.createHttpClient({
    caCerts: [cp.servingCaPem],
    cert: adminPair.cert,
    key: adminPair.key,
  });
  let wake: (() => void) | undefined;
  const seen = (obj: {
    metadata: { name: string };
    status?: { conditions?: { type: string }[] };
  }) => {
    const n =
      (obj.status?.conditions ?? []).filter((c) => c.type === "Approved")
        .length;
    if (n > 0 && !approvedAt.has(obj.metadata.name)) {
      approvedAt.set(obj.metadata.name, performance.now());
      wake?.();
    }
    approvedConditions.set(obj.metadata.name, n);
  };
  const run = async () => {
    let rv = "";
    while (!abort.signal.aborted) {
      try {
        if (rv === "") {
          const res = await fetch(`${cp.server}${CSRS}`, {
            client: http,
            signal: abort.signal,
          });
          const list = await res.json() as {
            metadata: { resourceVersion: string };
            items: Parameters<typeof seen>[0][];
          };
          for (const item of list.items) seen(item);
          rv = list.metadata.resourceVersion;
        }
        const res = await fetch(
          `${cp.server}${CSRS}?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`,
          { client: http, signal: abort.signal },
        );
        if (!res.body) continue;
        for await (
          const line of readLines(res.body, { signal: abort.signal })
        ) {
          const ev = JSON.parse(line) as {
            type: string;
            object: Parameters<typeof seen>[0] & {
              metadata: { resourceVersion: string };
              code?: number;
            };
          };
          if (ev.type === "ERROR") {
            // Expired: relist (leaving the loop cancels the stream).
            rv = "";
            break;
          }
          rv = ev.object.metadata.resourceVersion;
          if (ev.type !== "BOOKMARK") seen(ev.object);
        }
      } catch (e) {
        if (abort.signal.aborted) return;
        log(`bench watch: ${(e as Error).message}; again`);
        await sleep(200);
      }
    }
  };
  const done = run();
  return {
    approvedAt,
    approvedConditions,
    async until(names, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      while (names.some((n) => !approvedAt.has(n))) {
        const left = names.filter((n) => !approvedAt.has(n)).length;
        if (performance.now() > deadline) {
          throw new Error(
            `${left} of ${names.length} CSRs not approved within ${timeoutMs} ms`,
          );
        }
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 500);
        });
      }
    },
    stop() {
      abort.abort();
      done.finally(() => http.close());
    },
  };
}

/** CPU seconds and peak RSS of a process, sampled; absent when it is gone. */
async function sample(pid: number, hz: number) {
  try {
    return await readProc(pid, hz);
  } catch {
    return undefined;
  }
}

/** One row of the results table. */
export interface Row {
  scenario: string;
  csrs: number;
  seconds: number;
  perSecond: number;
  p50?: number;
  p95?: number;
  p99?: number;
  max?: number;
  daemonCpuPer1000: number;
  daemonPeakMiB: number;
  apiserverCpu: number;
}

/** The results as a Markdown table. */
export function table(rows: Row[]): string {
  const f = (n: number | undefined, d = 0) =>
    n === undefined ? "—" : n.toFixed(d);
  return [
    "| scenario | CSRs | time s | approvals/s | p50 ms | p95 ms | p99 ms | max ms | daemon CPU s / 1,000 | daemon peak RSS MiB | kube-apiserver CPU s |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) =>
      `| ${r.scenario} | ${r.csrs} | ${f(r.seconds, 1)} | ${
        f(r.perSecond, 0)
      } | ${f(r.p50)} | ${f(r.p95)} | ${f(r.p99)} | ${f(r.max)} | ${
        f(r.daemonCpuPer1000, 2)
      } | ${f(r.daemonPeakMiB, 1)} | ${f(r.apiserverCpu, 1)} |`
    ),
  ].join("\n");
}

/** Options of {@linkcode runClusterBench}. */
export interface ClusterBenchOptions {
  backlog: number;
  storm: number;
  /** Storm CSRs created per second. */
  rate: number;
  /** The approver's ServiceAccount token file. */
  tokenFile: string;
  /** Deno flags for the daemon (the `start` task's V8 flags). */
  denoFlags: string[];
  /** Environment for the daemon (the `start` task's `MALLOC_*` settings). */
  denoEnv?: Record<string, string>;
  /** Extra daemon flags after the defaults (measurements: e.g. `--workers=8`). */
  daemonArgs?: string[];
  /** Writes the daemon's output lines here when it stops (e.g. `--trace-gc`'s). */
  daemonLog?: string;
  /** Added to each member's index for its InternalIP (`ipFor`): keeps clear of other Nodes' addresses. */
  ipOffset?: number;
  log: (line: string) => void;
}

/** What {@linkcode runClusterBench} measured and checked. */
export interface ClusterBenchResult {
  rows: Row[];
  csrs: number;
  approvalWrites: number;
  approvedLogged: number;
  /** CSRs without exactly one Approved condition. */
  notOnce: number;
  /** How the daemon chose its client-side limit (its log line). */
  rateLimit: string;
  ok: boolean;
}

/**
 * The backlog, then the storm, against a running control plane on which
 * `deploy/` is applied and no other approver runs: one daemon process, with
 * default flags, started for it and stopped after.
 */
export async function runClusterBench(
  cp: ControlPlane,
  options: ClusterBenchOptions,
): Promise<ClusterBenchResult> {
  const { backlog: backlogSize, storm: stormSize, rate, log } = options;
  const ipOffset = options.ipOffset ?? 0;
  const { hz } = await clockTicks();
  let daemon: Approver | undefined;
  let watch: ApprovalWatch | undefined;
  try {
    let t = performance.now();
    const backlog = await makeFleet(1, backlogSize, ipOffset);
    const storm = await makeFleet(backlogSize + 1, stormSize, ipOffset);
    log(
      `generated ${backlogSize + stormSize} ECDSA P-256 requests in ${
        ((performance.now() - t) / 1000).toFixed(1)
      } s`,
    );
    t = performance.now();
    await createNodes(cp.admin, [...backlog, ...storm]);
    log(
      `created ${backlogSize + stormSize} Nodes with addresses in ${
        ((performance.now() - t) / 1000).toFixed(1)
      } s`,
    );
    t = performance.now();
    const backlogNames: string[] = [];
    await pool(backlog, 16, async (m) => {
      backlogNames.push(await createCsr(cp.admin, m));
    });
    log(
      `created ${backlogSize} CSRs (each as its node) in ${
        ((performance.now() - t) / 1000).toFixed(1)
      } s`,
    );

    const adminPair = await cp.clientPair("bench-watch", ["system:masters"]);
    watch = watchApprovals(cp, adminPair);
    const apiserverPid = cp.procs["kube-apiserver"].pid;
    const rows: Row[] = [];

    // --- Backlog: the daemon starts with every CSR pending.
    let api0 = (await sample(apiserverPid, hz))?.cpuSeconds ?? 0;
    const started = performance.now();
    daemon = await startApprover(cp, {
      name: `bench-${crypto.randomUUID().slice(0, 4)}`,
      tokenFile: options.tokenFile,
      denoFlags: options.denoFlags,
      env: options.denoEnv,
      args: options.daemonArgs,
    });
    const d = daemon;
    await watch.until(backlogNames, 600_000);
    const backlogMs = performance.now() - started;
    let ds = await sample(d.proc.pid, hz);
    let api1 = (await sample(apiserverPid, hz))?.cpuSeconds ?? 0;
    const mode = d.records().find((r) => r.msg === "client-side rate limit");
    const rateLimit = mode ? `${mode.mode} (qps ${mode.qps})` : "(not logged)";
    // No backlog (`--backlog 0`): the daemon only started; no row.
    if (backlogSize > 0) {
      rows.push({
        scenario: `backlog ${backlogSize} (from process start)`,
        csrs: backlogSize,
        seconds: backlogMs / 1000,
        perSecond: backlogSize / (backlogMs / 1000),
        daemonCpuPer1000: (ds?.cpuSeconds ?? NaN) / backlogSize * 1000,
        daemonPeakMiB: (ds?.peakRssBytes ?? NaN) / 1048576,
        apiserverCpu: api1 - api0,
      });
    }

    // --- Storm: CSRs arrive at `rate` per second while the daemon runs.
    await sleep(2_000);
    api0 = (await sample(apiserverPid, hz))?.cpuSeconds ?? 0;
    const cpu0 = (await sample(d.proc.pid, hz))?.cpuSeconds ?? NaN;
    const sentAt = new Map<string, number>();
    const stormNames: string[] = [];
    const stormStart = performance.now();
    const creates: Promise<void>[] = [];
    for (let i = 0; i < storm.length; i++) {
      const due = stormStart + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const m = storm[i];
      const at = performance.now();
      creates.push(
        createCsr(cp.admin, m).then((name) => {
          sentAt.set(name, at);
          stormNames.push(name);
        }),
      );
    }
    await Promise.all(creates);
    const sendMs = performance.now() - stormStart;
    await watch.until(stormNames, 300_000);
    const stormMs = performance.now() - stormStart;
    ds = await sample(d.proc.pid, hz);
    api1 = (await sample(apiserverPid, hz))?.cpuSeconds ?? 0;
    const latencies = stormNames.map((n) =>
      watch!.approvedAt.get(n)! - sentAt.get(n)!
    );
    if (stormSize > 0) {
      rows.push({
        scenario: `storm ${stormSize} at ${rate}/s (sent in ${
          (sendMs / 1000).toFixed(1)
        } s)`,
        csrs: stormSize,
        seconds: stormMs / 1000,
        perSecond: stormSize / (stormMs / 1000),
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        max: Math.max(...latencies),
        daemonCpuPer1000: ((ds?.cpuSeconds ?? NaN) - cpu0) / stormSize * 1000,
        daemonPeakMiB: (ds?.peakRssBytes ?? NaN) / 1048576,
        apiserverCpu: api1 - api0,
      });
    }

    // --- Exactly once: one Approved condition each, one approval write each.
    await sleep(1_000);
    const all = [...backlogNames, ...stormNames];
    const notOnce = all.filter((n) =>
      watch!.approvedConditions.get(n) !== 1
    ).length;
    const approvalWrites = await d.approvalRequests();
    const approvedLogged = d.approvals();
    return {
      rows,
      csrs: all.length,
      approvalWrites,
      approvedLogged,
      notOnce,
      rateLimit,
      ok: notOnce === 0 && approvalWrites === all.length &&
        approvedLogged === all.length,
    };
  } finally {
    watch?.stop();
    await daemon?.proc.stop();
    if (daemon && options.daemonLog) {
      await Deno.writeTextFile(
        options.daemonLog,
        daemon.proc.lines.join("\n") + "\n",
      );
    }
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      backlog: { type: "string", default: "5000" },
      storm: { type: "string", default: "2000" },
      rate: { type: "string", default: "200" },
      // Measurement aids: the daemon's Deno flags instead of the start
      // task's, extra daemon flags, and where to write its output.
      "deno-flags": { type: "string" },
      "daemon-arg": { type: "string", multiple: true },
      "daemon-log": { type: "string" },
    },
  });
  const backlog = Number(values.backlog);
  const storm = Number(values.storm);
  const rate = Number(values.rate);
  for (const [name, n] of [["backlog", backlog], ["storm", storm]]) {
    if (!Number.isInteger(n) || (n as number) < 0) {
      console.error(`bench:cluster: --${name}: expected a count, found ${n}`);
      return 2;
    }
  }
  if (!(rate > 0)) {
    console.error(`bench:cluster: --rate: expected > 0, found ${values.rate}`);
    return 2;
  }
  const version = await requestedVersion();
  const bin = await ensureControlPlane(version, log);
  const denoJson = await Deno.readTextFile(`${REPO}deno.json`);
  const v8 = values["deno-flags"] !== undefined
    ? values["deno-flags"].split(" ").filter((f) => f !== "")
    : startTaskV8Flags(denoJson);
  const denoEnv = startTaskEnv(denoJson);
  let cp: ControlPlane | undefined;
  try {
    cp = await startControlPlane(bin, log);
    log(
      `kube-apiserver ${cp.versions["kube-apiserver"]}, etcd ${
        cp.versions.etcd.replace(/\s+/g, " ")
      }; ${navigator.hardwareConcurrency} CPUs; daemon V8 flags ${
        v8.join(" ") || "none"
      }, environment ${
        Object.entries(denoEnv).map(([k, v]) => `${k}=${v}`).join(" ") ||
        "none"
      }`,
    );
    await applyManifests(cp.admin, await renderKustomization(`${REPO}deploy`));
    const tokenFile = `${cp.dir}/approver.token`;
    await Deno.writeTextFile(
      tokenFile,
      await serviceAccountToken(
        cp,
        "kubelet-rubber-stamp",
        "kubelet-rubber-stamp",
      ),
    );
    const result = await runClusterBench(cp, {
      backlog,
      storm,
      rate,
      tokenFile,
      denoFlags: v8,
      denoEnv,
      daemonArgs: values["daemon-arg"],
      daemonLog: values["daemon-log"],
      log,
    });
    log(
      `client-side rate limit: ${result.rateLimit}; approval PUTs ${result.approvalWrites}, approved decisions logged ${result.approvedLogged}, CSRs ${result.csrs}; not approved exactly once: ${result.notOnce}`,
    );
    console.log(
      `\nkube-apiserver ${
        cp.versions["kube-apiserver"]
      }, ${navigator.hardwareConcurrency} CPUs, ` +
        `\`deno task bench:cluster --backlog ${backlog} --storm ${storm} --rate ${rate}\`, ` +
        `daemon with default flags${
          (values["daemon-arg"] ?? []).map((a) => ` ${a}`).join("")
        } and ${v8.join(" ") || "no V8 flags"}\n`,
    );
    console.log(table(result.rows));
    if (!result.ok) {
      console.error("bench:cluster: approvals were not exactly once");
    }
    return result.ok ? 0 : 1;
  } finally {
    await cp?.stop();
    killAll();
  }
}

if (import.meta.main) Deno.exit(await main());
