/**
 * The two load scenarios against the real daemon process:
 *
 * - **backlog**: N valid pending CSRs (and their Nodes) exist before the
 *   daemon starts; measured from spawn until every one is approved.
 * - **storm**: the daemon is running and ready; N CSRs (each right after its
 *   Node) are created at a fixed rate; each CSR's latency runs from its
 *   creation to the answer to its approval write, both stamped in this
 *   process with `performance.now()`.
 *
 * The API server double runs in this process; its CPU is measured too, so a
 * slow double shows up as such instead of as a slow daemon.
 *
 * @module
 */
import type { CertificateSigningRequest } from "../src/core/types.ts";
import {
  type ApiServer,
  type NodeInput,
  startApiServer,
  type SubjectAccessReviewSpec,
} from "../tests/support/api_server.ts";
import { checkCertificateRequest } from "../tests/support/api_server/csr_validation.ts";
import { type KeyType, makeServingCsr } from "../tests/support/csr_factory.ts";
import { type DaemonProcess, freePort, spawnDaemon } from "./daemon_process.ts";
import { kubeconfigText } from "./kubeconfig.ts";
import { readProc } from "./proc.ts";
import type { ScenarioResult } from "./report.ts";
import { summarize } from "./stats.ts";

/** The approver's identity in the double, as deploy/ names it. */
const APPROVER = {
  username: "system:serviceaccount:kubelet-rubber-stamp:kubelet-rubber-stamp",
  groups: [
    "system:serviceaccounts",
    "system:serviceaccounts:kubelet-rubber-stamp",
  ],
};
const TOKEN = "bench-approver-token";

/**
 * A unique IPv4 address for fleet member `i` (1-based), inside 10.0.0.0/8.
 *
 * @example
 * ```ts
 * import { ipFor } from "./scenarios.ts";
 * ipFor(1); // "10.0.0.1"
 * ipFor(258); // "10.0.1.2"
 * ```
 */
export function ipFor(i: number): string {
  if (!Number.isInteger(i) || i < 1 || i >= 1 << 24) {
    throw new RangeError(`ipFor: expected 1 ≤ i < 2^24, found ${i}`);
  }
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/** A Node and the serving CSR its kubelet sends. */
export interface Member {
  node: NodeInput;
  csr: CertificateSigningRequest;
}

/**
 * Builds `n` Nodes and their kubelets' serving CSRs (DNS SAN = node name, IP
 * SAN = its unique InternalIP). The CSR factory signs with one cached key
 * per key type: verification costs the same as with distinct keys, and
 * generation stays fast.
 *
 * @example
 * ```ts
 * import { buildFleet } from "./scenarios.ts";
 * const fleet = await buildFleet(10, "storm");
 * fleet.length; // 10
 * ```
 */
export async function buildFleet(
  n: number,
  prefix: string,
  key: KeyType = "ecdsa-p256",
): Promise<Member[]> {
  const fleet: Member[] = [];
  for (let i = 1; i <= n; i++) {
    const name = `${prefix}-node-${String(i).padStart(5, "0")}`;
    const ip = ipFor(i);
    const csr = await makeServingCsr({
      key,
      node: name,
      name: `csr-${name}`,
      dnsNames: [name],
      ipAddresses: [ip],
    });
    // Let the double stamp creation time when the CSR is really created.
    delete csr.metadata.creationTimestamp;
    // kube-apiserver verifies a request's signature when the CSR is
    // created, before anyone can see it; the double's in-process create
    // does not, and would verify it (@peculiar/x509, on the harness's one
    // thread) inside the approval write the bench times. Verify it now,
    // outside every measured window: the double caches the answer by
    // request bytes.
    const problem = await checkCertificateRequest(csr.spec.request);
    if (problem !== undefined) {
      throw new Error(`bench CSR ${name} does not verify: ${problem}`);
    }
    fleet.push({
      node: {
        metadata: { name },
        status: {
          addresses: [
            { type: "Hostname", address: name },
            { type: "InternalIP", address: ip },
          ],
        },
      },
      csr,
    });
  }
  return fleet;
}

/** Watches the double's request log for approval writes. */
interface Tracker {
  approvedAt: Map<string, number>;
  writes: Map<string, number>;
  requests: Map<string, number>;
  /** Resolves true once `n` CSRs are approved, false on timeout or daemon exit. */
  waitFor(
    n: number,
    timeoutMs: number,
    daemon: DaemonProcess,
  ): Promise<boolean>;
}

function track(api: ApiServer): Tracker {
  const approvedAt = new Map<string, number>();
  const writes = new Map<string, number>();
  const requests = new Map<string, number>();
  api.onRequest = (a) => {
    const kind = `${a.method} ${a.resource}${
      a.subresource ? "/" + a.subresource : ""
    }`;
    requests.set(kind, (requests.get(kind) ?? 0) + 1);
    if (
      a.resource === "certificatesigningrequests" &&
      a.subresource === "approval" && a.verb === "update" && a.status === 200
    ) {
      const t = performance.now();
      if (!approvedAt.has(a.name)) approvedAt.set(a.name, t);
      writes.set(a.name, (writes.get(a.name) ?? 0) + 1);
    }
  };
  return {
    approvedAt,
    writes,
    requests,
    async waitFor(n, timeoutMs, daemon) {
      let exited = false;
      daemon.exited.then(() => exited = true);
      const deadline = performance.now() + timeoutMs;
      while (approvedAt.size < n) {
        if (exited || performance.now() > deadline) return false;
        await new Promise((r) => setTimeout(r, 10));
      }
      return true;
    },
  };
}

/** Options shared by both scenarios. */
export interface ScenarioOptions {
  n: number;
  /** `--kube-api-qps`/`--kube-api-burst`; both undefined: not given (automatic, the default). */
  qps?: number;
  burst?: number;
  /** Whether the double sends API Priority and Fairness headers (as kube-apiserver does). Default true. */
  apf?: boolean;
  /** Backlog only: after the last approval, wait this long and sample the idle RSS. */
  idleMs?: number;
  /** Path of `mod.ts`. */
  entry: string;
  clockTicks: number;
  /** Give up waiting for approvals after this long. */
  timeoutMs: number;
  /** Progress lines. */
  log: (line: string) => void;
  /** More daemon flags and `deno run` flags (experiments). */
  daemonFlags?: string[];
  denoFlags?: string[];
  /** Environment for the daemon on top of the harness's (the start task's). */
  denoEnv?: Record<string, string>;
}

interface Env {
  api: ApiServer;
  tracker: Tracker;
  dir: string;
  kubeconfig: string;
}

/**
 * The SubjectAccessReview answer deploy/'s RBAC gives: nodes may create
 * `certificatesigningrequests/selfnodeserver`. Written out rather than
 * evaluated from the manifests so that the double spends no CPU on RBAC.
 */
function selfNodeServer(spec: SubjectAccessReviewSpec) {
  const ra = spec.resourceAttributes;
  const allowed = (spec.groups ?? []).includes("system:nodes") &&
    ra?.group === "certificates.k8s.io" &&
    ra.resource === "certificatesigningrequests" &&
    ra.verb === "create" && ra.subresource === "selfnodeserver";
  return allowed
    ? {
      allowed,
      reason: "RBAC: allowed by ClusterRoleBinding of selfnodeserver",
    }
    : { allowed };
}

async function startEnv(apf = true): Promise<Env> {
  const api = await startApiServer({
    tokens: { [TOKEN]: APPROVER },
    sarAuthorize: selfNodeServer,
    apfHeaders: apf,
  });
  const dir = await Deno.makeTempDir({ prefix: "krs-bench-" });
  const kubeconfig = `${dir}/kubeconfig`;
  await Deno.writeTextFile(
    kubeconfig,
    kubeconfigText({ server: api.url, caPem: api.caPem, token: TOKEN }),
  );
  return { api, tracker: track(api), dir, kubeconfig };
}

async function stopEnv(env: Env, daemon?: DaemonProcess): Promise<void> {
  const status = await daemon?.stop();
  if (status && status.code !== 0 && status.signal !== "SIGKILL") {
    console.error(
      `warning: daemon exited with code ${status.code}:\n${
        daemon!.tail().slice(-20).join("\n")
      }`,
    );
  }
  await env.api.stop();
  await Deno.remove(env.dir, { recursive: true });
}

function perCsr(requests: Map<string, number>, n: number) {
  const out: Record<string, number> = {};
  for (const [kind, count] of requests) {
    // Only what scales with the CSRs: lists, watches and discovery are noise.
    if (count >= n / 100) out[kind] = count / n;
  }
  return out;
}

function counts(tracker: Tracker, names: readonly string[]) {
  let duplicates = 0;
  let missing = 0;
  for (const name of names) {
    const w = tracker.writes.get(name) ?? 0;
    if (w === 0) missing++;
    if (w > 1) duplicates++;
  }
  return { duplicates, missing };
}

/**
 * Backlog: `fleet` exists before the daemon starts.
 *
 * @example
 * Not run: a benchmark run of its own, a daemon process and minutes (`deno task bench`).
 * ```ts ignore
 * import { buildFleet, runBacklog } from "./scenarios.ts";
 * const r = await runBacklog(await buildFleet(100, "b"), { n: 100, qps: 0, burst: 30, entry: "mod.ts", clockTicks: 100, timeoutMs: 60_000, log: console.log });
 * ```
 */
export async function runBacklog(
  fleet: readonly Member[],
  options: ScenarioOptions,
): Promise<ScenarioResult> {
  const env = await startEnv(options.apf);
  let daemon: DaemonProcess | undefined;
  try {
    for (const m of fleet) {
      env.api.upsertNode(m.node);
      env.api.createCsr(m.csr);
    }
    const names = fleet.map((m) => m.csr.metadata.name);
    const harness0 = await readProc("self", options.clockTicks);
    const t0 = performance.now();
    daemon = spawnDaemon({
      kubeconfig: env.kubeconfig,
      port: freePort(),
      qps: options.qps,
      burst: options.burst,
      entry: options.entry,
      extraFlags: options.daemonFlags,
      denoFlags: options.denoFlags,
      env: options.denoEnv,
    }, options.clockTicks);
    let readyAt: number | undefined;
    const ready = daemon.waitReady(options.timeoutMs).then(
      () => readyAt = performance.now(),
      () => undefined,
    );
    const ok = await env.tracker.waitFor(
      fleet.length,
      options.timeoutMs,
      daemon,
    );
    const end = performance.now();
    const sample = await daemon.sample();
    const harness1 = await readProc("self", options.clockTicks);
    await ready;
    if (!ok) {
      options.log(
        `  backlog: only ${env.tracker.approvedAt.size}/${fleet.length} approved before giving up\n${
          daemon.tail().slice(-10).join("\n")
        }`,
      );
    }
    const times = [...env.tracker.approvedAt.values()];
    await new Promise((r) => setTimeout(r, 300)); // late duplicates
    let idleRssBytes: number | undefined;
    if (options.idleMs && ok) {
      // Idle: caches synced, everything approved, Events written.
      await new Promise((r) => setTimeout(r, options.idleMs));
      idleRssBytes = (await daemon.sample()).rssBytes;
    }
    const durationS = ((ok ? Math.max(...times) : end) - t0) / 1000;
    return {
      scenario: "backlog",
      n: fleet.length,
      qps: options.qps,
      burst: options.burst,
      apf: options.apf ?? true,
      idleRssBytes,
      durationS,
      approvalsPerS: env.tracker.approvedAt.size / durationS,
      peakRssBytes: sample.peakRssBytes,
      cpuPer1000: sample.cpuSeconds /
        Math.max(1, env.tracker.approvedAt.size) * 1000,
      harnessCpuPer1000: (harness1.cpuSeconds - harness0.cpuSeconds) /
        Math.max(1, env.tracker.approvedAt.size) * 1000,
      readyS: readyAt === undefined ? undefined : (readyAt - t0) / 1000,
      firstApprovalS: times.length > 0
        ? (Math.min(...times) - t0) / 1000
        : undefined,
      requestsPerCsr: perCsr(env.tracker.requests, fleet.length),
      ...counts(env.tracker, names),
    };
  } finally {
    await stopEnv(env, daemon);
  }
}

/**
 * Storm: the daemon is ready, then `fleet` arrives at `rate` per second.
 *
 * @example
 * Not run: a benchmark run of its own, a daemon process and minutes (`deno task bench`).
 * ```ts ignore
 * import { buildFleet, runStorm } from "./scenarios.ts";
 * const r = await runStorm(await buildFleet(100, "s"), 200, { n: 100, qps: 0, burst: 30, entry: "mod.ts", clockTicks: 100, timeoutMs: 60_000, log: console.log });
 * ```
 */
export async function runStorm(
  fleet: readonly Member[],
  rate: number,
  options: ScenarioOptions,
): Promise<ScenarioResult> {
  const env = await startEnv(options.apf);
  let daemon: DaemonProcess | undefined;
  try {
    daemon = spawnDaemon({
      kubeconfig: env.kubeconfig,
      port: freePort(),
      qps: options.qps,
      burst: options.burst,
      entry: options.entry,
      extraFlags: options.daemonFlags,
      denoFlags: options.denoFlags,
      env: options.denoEnv,
    }, options.clockTicks);
    await daemon.waitReady(60_000);
    // Let start-up work (module compilation, first lists) settle so that
    // the CPU window holds the storm only.
    await new Promise((r) => setTimeout(r, 1000));
    env.tracker.requests.clear();
    const daemon0 = await daemon.sample();
    const harness0 = await readProc("self", options.clockTicks);
    const createdAt = new Map<string, number>();
    const start = performance.now();
    let i = 0;
    while (i < fleet.length) {
      const due = Math.min(
        fleet.length,
        Math.floor((performance.now() - start) * rate / 1000) + 1,
      );
      for (; i < due; i++) {
        const m = fleet[i];
        env.api.upsertNode(m.node);
        createdAt.set(m.csr.metadata.name, performance.now());
        env.api.createCsr(m.csr);
      }
      const next = start + (i * 1000) / rate;
      await new Promise((r) =>
        setTimeout(r, Math.max(0, next - performance.now()))
      );
    }
    const creationS = (performance.now() - start) / 1000;
    const ok = await env.tracker.waitFor(
      fleet.length,
      options.timeoutMs,
      daemon,
    );
    const end = performance.now();
    const daemon1 = await daemon.sample();
    const harness1 = await readProc("self", options.clockTicks);
    if (!ok) {
      options.log(
        `  storm: only ${env.tracker.approvedAt.size}/${fleet.length} approved before giving up\n${
          daemon.tail().slice(-10).join("\n")
        }`,
      );
    }
    await new Promise((r) => setTimeout(r, 300)); // late duplicates
    const latencies: number[] = [];
    for (const [name, created] of createdAt) {
      const approved = env.tracker.approvedAt.get(name);
      if (approved !== undefined) latencies.push(approved - created);
    }
    const last = ok ? Math.max(...env.tracker.approvedAt.values()) : end;
    const durationS = (last - start) / 1000;
    options.log(
      `  storm: ${fleet.length} created in ${creationS.toFixed(1)} s`,
    );
    return {
      scenario: "storm",
      n: fleet.length,
      qps: options.qps,
      burst: options.burst,
      apf: options.apf ?? true,
      rate,
      durationS,
      approvalsPerS: env.tracker.approvedAt.size / durationS,
      latencyMs: latencies.length > 0 ? summarize(latencies) : undefined,
      peakRssBytes: daemon1.peakRssBytes,
      cpuPer1000: (daemon1.cpuSeconds - daemon0.cpuSeconds) /
        Math.max(1, env.tracker.approvedAt.size) * 1000,
      harnessCpuPer1000: (harness1.cpuSeconds - harness0.cpuSeconds) /
        Math.max(1, env.tracker.approvedAt.size) * 1000,
      requestsPerCsr: perCsr(env.tracker.requests, fleet.length),
      ...counts(env.tracker, fleet.map((m) => m.csr.metadata.name)),
    };
  } finally {
    await stopEnv(env, daemon);
  }
}
