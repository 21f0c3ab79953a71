/**
 * `deno task demo`: the approver against an in-process API server double and
 * a handful of simulated kubelets, over real HTTPS on loopback, through the
 * very same daemon code a cluster runs.
 *
 * @module
 */
import { runDaemon } from "../../src/cli/daemon.ts";
import { parseFlags } from "../../src/cli/parse_flags.ts";
import type { ReconcileResult } from "../../src/controller/approver.ts";
import type { CertificateSigningRequest } from "../../src/core/types.ts";
import { staticTokenSource } from "../../src/kube/token_source.ts";
import { createLogger } from "../../src/log.ts";
import { startApiServer } from "./api_server.ts";
import { makeServingCsr, type ServingCsrOptions } from "./csr_factory.ts";
import { deployRbacAuthorizers } from "./fixture.ts";

/** One simulated kubelet (or impostor) and the outcome the demo expects. */
interface Scenario {
  title: string;
  token: string;
  csr: ServingCsrOptions;
  expect: "approved" | "denied" | "ignored";
}

const NODE_GROUPS = ["system:nodes", "system:authenticated"];

const SCENARIOS: Scenario[] = [
  {
    title: "worker-1, ECDSA P-256 key (the kubelet's default)",
    token: "kubelet-worker-1",
    csr: { node: "worker-1", key: "ecdsa-p256", ipAddresses: ["10.0.0.11"] },
    expect: "approved",
  },
  {
    title: "worker-2, RSA 2048 key with key encipherment",
    token: "kubelet-worker-2",
    csr: { node: "worker-2", key: "rsa-2048", ipAddresses: ["10.0.0.12"] },
    expect: "approved",
  },
  {
    title: "worker-3, IP-only request (hostname overridden to an IP)",
    token: "kubelet-worker-3",
    csr: { node: "worker-3", dnsNames: [], ipAddresses: ["10.0.0.13"] },
    expect: "approved",
  },
  {
    title: "worker-2 impersonating worker-1 (CN is not its own)",
    token: "kubelet-worker-2",
    csr: { node: "worker-1", ipAddresses: ["10.0.0.11"] },
    expect: "denied",
  },
  {
    title: "worker-3 asking for an email SAN",
    token: "kubelet-worker-3",
    csr: { node: "worker-3", emails: ["admin@example.com"] },
    expect: "denied",
  },
  {
    title: "a kubelet client-certificate request (another signer)",
    token: "kubelet-worker-1",
    csr: {
      node: "worker-1",
      signerName: "kubernetes.io/kube-apiserver-client-kubelet",
      dnsNames: [],
      ipAddresses: [],
      usages: ["digital signature", "client auth"],
    },
    expect: "ignored",
  },
  {
    title:
      "a bootstrap token (not a node) asking for a node's serving certificate",
    token: "bootstrap-abcdef",
    csr: { node: "worker-1" },
    expect: "ignored",
  },
];

/** The demo's result. */
export interface DemoSummary {
  results: {
    title: string;
    csr: string;
    action: string;
    reason: string;
    expected: string;
  }[];
  ok: boolean;
}

/**
 * Runs the demo; `write` receives each output line.
 *
 * @example
 * Not run: the whole demo, several seconds of output (`deno task demo`).
 * ```ts ignore
 * import { runDemo } from "./demo.ts";
 * const summary = await runDemo(console.log);
 * ```
 */
export async function runDemo(
  write: (line: string) => void,
): Promise<DemoSummary> {
  const tokens: Record<string, { username: string; groups: string[] }> = {
    "approver-token": {
      username:
        "system:serviceaccount:kubelet-rubber-stamp:kubelet-rubber-stamp",
      groups: ["system:serviceaccounts", "system:authenticated"],
    },
    // A kubelet's bootstrap token: may create CSRs (system:node-bootstrapper)
    // but is not a node.
    "bootstrap-abcdef": {
      username: "system:bootstrap:abcdef",
      groups: ["system:bootstrappers", "system:authenticated"],
    },
  };
  for (const n of [1, 2, 3]) {
    tokens[`kubelet-worker-${n}`] = {
      username: `system:node:worker-${n}`,
      groups: NODE_GROUPS,
    };
  }
  // The API double authorizes with the RBAC in deploy/: nodes are
  // auto-approved through the selfnodeserver binding shipped there.
  const api = await startApiServer({
    tokens,
    ...(await deployRbacAuthorizers()),
    // The impostor scenario shows what the approver does where the API
    // server lets a node create a CSR for another node's CN (before 1.31,
    // or with the AllowInsecureKubeletCertificateSigningRequests gate).
    nodeRestriction: false,
    // `task demo` runs without --allow-write: Deno.serve listens on TCP
    // itself (no Unix-socket front; a handful of CSRs needs no TCP_NODELAY).
    noDelay: false,
  });
  for (const n of [1, 2, 3]) {
    api.upsertNode({
      metadata: { name: `worker-${n}` },
      status: {
        addresses: [
          { type: "Hostname", address: `worker-${n}` },
          { type: "InternalIP", address: `10.0.0.1${n}` },
        ],
      },
    });
  }
  const http = Deno.createHttpClient({ caCerts: [api.caPem] });
  const stop = new AbortController();
  const byName = new Map<string, Scenario>();
  const results: DemoSummary["results"] = [];
  let resolveAll!: () => void;
  const allDone = new Promise<void>((r) => resolveAll = r);
  const report = (
    name: string,
    s: Scenario,
    action: string,
    reason: string,
    message: string,
  ) => {
    results.push({
      title: s.title,
      csr: name,
      action,
      reason,
      expected: s.expect,
    });
    write(
      `${action === s.expect ? "✔" : "✘"} ${action.padEnd(8)} ${
        reason.padEnd(20)
      } ${s.title}`,
    );
    write(`    ${message}`);
  };
  // Requests that are ours end in a decision; the others are never looked at
  // (another signer is not even watched), so they are judged at the end.
  const ours = SCENARIOS.filter((s) => s.expect !== "ignored").length;
  // The watch may deliver a CSR before its creator has read the POST's
  // answer: keep early results until the name is known.
  const early = new Map<string, ReconcileResult>();
  const onReconciled = (name: string, result: ReconcileResult) => {
    if (result.action === "waiting" || result.action === "not-leader") return;
    const s = byName.get(name);
    if (!s) {
      early.set(name, result);
      return;
    }
    if (results.some((r) => r.csr === name)) return;
    report(
      name,
      s,
      result.action,
      result.decision?.reason ?? "-",
      result.decision?.message ?? "",
    );
    if (results.length === ours) resolveAll();
  };
  write(`API server double listening on ${api.url}`);
  write("starting the approver (--deny-invalid) ...\n");
  const daemon = runDaemon(
    parseFlags(["--listen=127.0.0.1:0", "--deny-invalid", "--log-level=error"]),
    {
      connection: {
        server: api.url,
        caPem: api.caPem,
        tokenSource: staticTokenSource("approver-token"),
        source: "demo API server double",
      },
      log: createLogger({
        level: Deno.env.get("DEMO_LOG") === "debug" ? "debug" : "error",
      }),
      signal: stop.signal,
      onReconciled,
    },
  );
  try {
    for (const s of SCENARIOS) {
      const csr = await makeServingCsr(s.csr);
      const body: CertificateSigningRequest = {
        apiVersion: "certificates.k8s.io/v1",
        kind: "CertificateSigningRequest",
        metadata: { name: "", generateName: "csr-" },
        spec: {
          request: csr.spec.request,
          signerName: csr.spec.signerName,
          usages: csr.spec.usages,
        },
      };
      // A kubelet creates its CSR with its own credentials: the API server
      // fills spec.username and spec.groups from them.
      const res = await fetch(
        `${api.url}/apis/certificates.k8s.io/v1/certificatesigningrequests`,
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${s.token}`,
            "content-type": "application/json",
          },
          body: JSON.stringify(body),
          client: http,
        },
      );
      const created = await res.json();
      if (res.status !== 201) {
        throw new Error(`create failed: ${res.status} ${created.message}`);
      }
      byName.set(created.metadata.name, s);
      const result = early.get(created.metadata.name);
      if (result) onReconciled(created.metadata.name, result);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      allDone,
      new Promise((_, reject) =>
        timer = setTimeout(
          () => reject(new Error("demo timed out after 20s")),
          20_000,
        )
      ),
    ]);
    clearTimeout(timer);
    await new Promise((r) => setTimeout(r, 300));
    for (const [name, s] of byName) {
      if (results.some((r) => r.csr === name)) continue;
      const conditions = api.getCsr(name)?.status?.conditions ?? [];
      const action = conditions.length === 0
        ? "ignored"
        : conditions.map((c) => c.type).join(",");
      report(name, s, action, "-", "not ours: never written");
    }
  } finally {
    stop.abort();
    await daemon;
    http.close();
    await api.stop();
  }
  const ok = results.every((r) => r.action === r.expected);
  const count = (a: string) => results.filter((r) => r.action === a).length;
  write(
    `\n${results.length} CSRs: ${count("approved")} approved, ${
      count("denied")
    } denied, ${count("ignored")} ignored (not ours). ${
      ok ? "All as expected." : "UNEXPECTED OUTCOMES."
    }`,
  );
  return { results, ok };
}

if (import.meta.main) {
  const summary = await runDemo((l) => console.log(l));
  Deno.exit(summary.ok ? 0 : 1);
}
