/**
 * The approver against a real Kubernetes control plane (kube-apiserver, etcd
 * and the kube-controller-manager CSR signer built from their Go modules by
 * build_control_plane.ts), deployed with its own manifests and fed by
 * simulated kubelets that authenticate with their own certificates.
 *
 *   deno task test:cluster          # CLUSTER_K8S_VERSION=v1.36.x for another version
 *
 * Not a `_test.ts` file on purpose: `deno task test` (tests/) must not start
 * a control plane.
 *
 * @module
 */
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import * as x509 from "../../src/x509.ts";
import type { CertificateSigningRequest } from "../../src/core/types.ts";
import { ensureControlPlane, requestedVersion } from "./build_control_plane.ts";
import {
  type ControlPlane,
  startControlPlane,
  tokenClient,
} from "./control_plane.ts";
import {
  applyManifests,
  type Manifest,
  renderKustomization,
} from "./deploy.ts";
import {
  type Approver,
  type CsrRequest,
  expiredCopy,
  type Kubelet,
  type NodeAddress,
  serviceAccountToken,
  startApprover,
  startKubelet,
} from "./actors.ts";
import { dumpLogs, killAll } from "./processes.ts";
import { runClusterBench, table } from "../../bench/cluster.ts";
import { startTaskEnv, startTaskV8Flags } from "../../bench/run.ts";
import { type FreezeProxy, startFreezeProxy } from "./freeze_proxy.ts";
import {
  type BookmarkProbe,
  describeBookmarks,
  startBookmarkProbe,
} from "./bookmarks.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
const log = (line: string) => console.log(`  [cluster] ${line}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getCsr(
  cp: ControlPlane,
  name: string,
): Promise<CertificateSigningRequest> {
  const res = await cp.admin.request<CertificateSigningRequest>(
    "GET",
    `${CSRS}/${name}`,
  );
  assertEquals(res.status, 200, `GET csr ${name}: ${res.text}`);
  return res.body;
}

const conditions = (csr: CertificateSigningRequest, type: string) =>
  (csr.status?.conditions ?? []).filter((c) => c.type === type);

/** Polls the CSR until `done` holds; returns it and the time it took. */
async function pollCsr(
  cp: ControlPlane,
  name: string,
  done: (csr: CertificateSigningRequest) => boolean,
  timeoutMs: number,
  what: string,
): Promise<{ csr: CertificateSigningRequest; ms: number }> {
  const t0 = performance.now();
  while (true) {
    const csr = await getCsr(cp, name);
    if (done(csr)) return { csr, ms: performance.now() - t0 };
    if (performance.now() - t0 > timeoutMs) {
      throw new Error(
        `csr ${name}: not ${what} within ${timeoutMs} ms: ${
          JSON.stringify(csr.status)
        }`,
      );
    }
    await sleep(50);
  }
}

function sansOfCertificate(
  cert: x509.X509Certificate | x509.Pkcs10CertificateRequest,
): string[] {
  const ext = cert.getExtension("2.5.29.17") as
    | x509.SubjectAlternativeNameExtension
    | null;
  return (ext?.names.toJSON() ?? []).map((n) => `${n.type}:${n.value}`)
    .sort();
}

async function waitUntil(
  what: string,
  timeoutMs: number,
  check: () => boolean | Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}

Deno.test({
  name: "real control plane",
  // The suite owns long-lived processes and HTTP clients that outlive steps;
  // it tears them all down itself in `finally`.
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const version = await requestedVersion();
  const onlyText = Deno.env.get("CLUSTER_ONLY");
  const only = onlyText ? new RegExp(onlyText) : undefined;
  const bin = await ensureControlPlane(version, log);
  let cp: ControlPlane | undefined;
  /** Every daemon started, in order; approvals are counted over all of them. */
  const daemons: Approver[] = [];
  let failed = false;
  const step = async (
    name: string,
    fn: () => Promise<void>,
    ignore = false,
  ) => {
    // CLUSTER_ONLY=<regex> runs only the matching cases (set-up always runs).
    if (only && !only.test(name)) ignore = true;
    // An ignored step reports false too.
    if (!(await t.step({ name, fn, ignore })) && !ignore) failed = true;
  };
  const probes: BookmarkProbe[] = [];
  let proxy: FreezeProxy | undefined;
  try {
    cp = await startControlPlane(bin, log);
    const plane = cp;
    console.log(
      `  [cluster] versions: kube-apiserver ${
        cp.versions["kube-apiserver"]
      }, ` +
        `kube-controller-manager "${
          cp.versions["kube-controller-manager"]
        }", ` +
        `etcd "${
          cp.versions.etcd.replace(/\s+/g, " ")
        }" (module ${bin.etcdVersion}), built with ${bin.goVersion}`,
    );
    assertEquals(cp.versions["kube-apiserver"], version);

    // --- The approver as users deploy it.
    const manifests = await renderKustomization(`${REPO}deploy`);
    await applyManifests(cp.admin, manifests);
    log(
      `applied deploy/ (${manifests.length} objects: ${
        manifests.map((m) => m.kind).join(", ")
      })`,
    );
    const token = await serviceAccountToken(
      cp,
      "kubelet-rubber-stamp",
      "kubelet-rubber-stamp",
    );
    const tokenFile = `${cp.dir}/approver.token`;
    await Deno.writeTextFile(tokenFile, token);

    const isReady = async (d: Approver) => {
      try {
        return (await d.status("/readyz")).status === 200;
      } catch {
        return false;
      }
    };
    const launch = async (name: string, file = tokenFile) => {
      const d = await startApprover(plane, { name, tokenFile: file });
      daemons.push(d);
      return d;
    };
    const untilLeading = async (d: Approver) => {
      const t0 = performance.now();
      await waitUntil(`${d.identity} /readyz 200`, 60_000, async () => {
        if (d.proc.exited) {
          throw new Error(
            `${d.identity} exited:\n${d.proc.lines.slice(-20).join("\n")}`,
          );
        }
        return await isReady(d);
      });
      await d.proc.waitForLine(/"msg":"became leader"/, 60_000);
      return performance.now() - t0;
    };
    /** Successful approval writes for a CSR (or all), over every daemon. */
    const approvals = (csr?: string) =>
      daemons.reduce((n, d) => n + d.approvals(csr), 0);
    const decisions = (csr: string) => daemons.flatMap((d) => d.decisions(csr));

    /** Sum of a metric's samples whose line contains every label. */
    const metric = async (d: Approver, name: string, labels: string[] = []) => {
      const { body } = await d.status("/metrics");
      let sum = 0;
      for (const line of body.split("\n")) {
        if (
          (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) &&
          labels.every((l) => line.includes(l))
        ) sum += Number(line.split(" ").pop());
      }
      return sum;
    };
    const csrRelists = (d: Approver) =>
      metric(d, "kubelet_rubber_stamp_watch_restarts_total", [
        'resource="certificatesigningrequests"',
        'kind="relist"',
      ]);
    /** The first record matching `msg` logged at or after `since` (epoch ms). */
    const recordSince = (d: Approver, msg: RegExp, since: number) =>
      d.records().find((r) => msg.test(r.msg) && Date.parse(r.ts) >= since);
    /** etcd's JSON gateway (v3). */
    const etcd = async (path: string, body: unknown) => {
      const res = await fetch(`${plane.etcdUrl}${path}`, {
        method: "POST",
        body: JSON.stringify(body),
      });
      const json = await res.json();
      assertEquals(res.status, 200, JSON.stringify(json));
      return json as { header: { revision: string } };
    };
    let daemon = await launch("a");
    log(
      `approver ready and leading after ${
        Math.round(await untilLeading(daemon))
      } ms`,
    );

    const kubelets = new Map<string, Kubelet>();
    const kubelet = async (name: string, addresses: NodeAddress[]) => {
      const k = await startKubelet(plane, name, addresses);
      kubelets.set(name, k);
      return k;
    };
    const create = async (k: Kubelet, request?: CsrRequest) => {
      const res = await k.requestCertificate(request);
      assertEquals(res.status, 201, `${k.name}: create CSR: ${res.text}`);
      return res.body.metadata.name;
    };
    /** Waits for approval and the signed certificate; checks both. */
    const expectIssued = async (
      k: Kubelet,
      name: string,
      timeoutMs = 30_000,
    ) => {
      const { csr } = await pollCsr(
        plane,
        name,
        (c) => Boolean(c.status?.certificate),
        timeoutMs,
        "approved and issued",
      );
      const approved = conditions(csr, "Approved");
      assertEquals(approved.length, 1, JSON.stringify(csr.status));
      assertEquals(approved[0].reason, "AutoApproved");
      assertEquals(conditions(csr, "Denied").length, 0);
      // Filled by the real server from the client certificate.
      assertEquals(csr.spec.username, `system:node:${k.name}`);
      assert(csr.spec.groups?.includes("system:nodes"));
      const requestPem = new TextDecoder().decode(
        Uint8Array.fromBase64(csr.spec.request),
      );
      const request = new x509.Pkcs10CertificateRequest(requestPem);
      const cert = new x509.X509Certificate(
        new TextDecoder().decode(
          Uint8Array.fromBase64(csr.status!.certificate!),
        ),
      );
      assertEquals(sansOfCertificate(cert), sansOfCertificate(request));
      assertEquals(cert.subject, request.subject);
      const signer = new x509.X509Certificate(plane.signingCaPem);
      assertEquals(cert.issuer, signer.subject);
      assert(await cert.verify({ publicKey: signer.publicKey }));
      await waitUntil(
        `the approving daemon logged ${name}`,
        5_000,
        () => approvals(name) > 0,
      );
      assertEquals(approvals(name), 1, `approval writes for ${name}`);
      return { csr, sans: sansOfCertificate(cert) };
    };
    const uniqueNode = async () => {
      const name = `barrier-${crypto.randomUUID().slice(0, 8)}`;
      return await kubelet(name, [{ type: "Hostname", address: name }]);
    };
    /**
     * Waits for the daemon's verdict on a CSR it must not approve, then for
     * an honest CSR created afterwards to be approved (so the daemon was
     * working), then checks nothing approved the first one.
     */
    const expectNeverApproved = async (
      name: string,
      reason: RegExp | undefined,
    ) => {
      if (reason) {
        await waitUntil(
          `a decision on ${name} with reason ${reason}`,
          20_000,
          () => decisions(name).some((d) => reason.test(String(d.reason))),
        );
      }
      const barrier = await uniqueNode();
      await expectIssued(barrier, await create(barrier));
      const csr = await getCsr(plane, name);
      assertEquals(
        conditions(csr, "Approved").length,
        0,
        `${name} must not be approved: ${JSON.stringify(csr.status)}`,
      );
      assertEquals(csr.status?.certificate, undefined);
      assertEquals(approvals(name), 0);
      return decisions(name);
    };

    const latencies: number[] = [];
    const honest = async (
      node: string,
      addresses: NodeAddress[],
      request: CsrRequest = {},
    ) => {
      const k = await kubelet(node, addresses);
      const name = await create(k, request);
      const sent = k.lastSentAt;
      const issued = await expectIssued(k, name);
      // Polled every 50 ms: the figure is within 50 ms of the truth.
      const ms = performance.now() - sent;
      latencies.push(ms);
      log(
        `${node}: ${name} approved and issued ${
          Math.round(ms)
        } ms after its creation, SANs ${issued.sans.join(", ")}`,
      );
    };

    await step(
      "honest node, IPv4 + hostname, ECDSA P-256",
      () =>
        honest("node-v4", [
          { type: "Hostname", address: "node-v4" },
          { type: "InternalIP", address: "10.0.1.1" },
        ]),
    );
    await step("honest node, IPv6 only", () =>
      honest("node-v6", [
        { type: "Hostname", address: "node-v6" },
        { type: "InternalIP", address: "fd00::11" },
      ]));
    await step("honest node, DNS names only", () =>
      honest("node-dns", [
        { type: "Hostname", address: "node-dns" },
        { type: "InternalDNS", address: "node-dns.example.internal" },
      ]));
    await step(
      "honest node, RSA 2048 (key encipherment usage)",
      () =>
        honest("node-rsa", [
          { type: "Hostname", address: "node-rsa" },
          { type: "InternalIP", address: "10.0.1.4" },
          { type: "ExternalIP", address: "192.0.2.4" },
        ], { key: "rsa-2048" }),
    );

    await step(
      "impostor: node A asks with node B's CN (NodeRestriction refuses it)",
      async () => {
        const a = await kubelet("node-imp", [
          { type: "Hostname", address: "node-imp" },
          { type: "InternalIP", address: "10.0.1.20" },
        ]);
        const res = await a.requestCertificate({
          commonName: "system:node:node-v4",
          dnsNames: ["node-v4"],
          ipAddresses: ["10.0.1.1"],
        });
        assertEquals(res.status, 403, res.text);
        assertMatch(
          res.text,
          /can only create a node CSR with CN=system:node:node-imp/,
        );
        const list = await plane.admin.request<
          { items: CertificateSigningRequest[] }
        >("GET", CSRS);
        assertEquals(
          list.body.items.filter((c) =>
            c.spec.username === "system:node:node-imp"
          ).length,
          0,
        );
      },
    );
    await step("another node's IP", async () => {
      const a = await kubelet("node-steal", [
        { type: "Hostname", address: "node-steal" },
        { type: "InternalIP", address: "10.0.1.30" },
      ]);
      const name = await create(a, {
        dnsNames: ["node-steal"],
        ipAddresses: ["10.0.1.30", "10.0.1.1"],
      });
      await expectNeverApproved(name, /^SANNotOwnedByNode$/);
    });
    await step("protected name kubernetes.default.svc", async () => {
      const a = await kubelet("node-prot", [
        { type: "Hostname", address: "node-prot" },
        { type: "InternalIP", address: "10.0.1.40" },
      ]);
      const name = await create(a, {
        dnsNames: ["node-prot", "kubernetes.default.svc"],
      });
      await expectNeverApproved(name, /^ProtectedName$/);
    });
    await step("client-auth usages", async () => {
      const a = await kubelet("node-client", [
        { type: "Hostname", address: "node-client" },
        { type: "InternalIP", address: "10.0.1.50" },
      ]);
      // The real server accepts it (usages are the signer's business).
      const name = await create(a, {
        usages: ["digital signature", "client auth"],
      });
      await expectNeverApproved(name, /^UsageMismatch$/);
    });
    await step("another signer", async () => {
      const a = await kubelet("node-signer", [
        { type: "Hostname", address: "node-signer" },
        { type: "InternalIP", address: "10.0.1.60" },
      ]);
      const name = await create(a, { signerName: "example.com/serving" });
      // The approver watches only its signer: it never even decides.
      assertEquals((await expectNeverApproved(name, undefined)).length, 0);
    });
    await step(
      "forged ownership: node A lists B's InternalIP in its own status",
      async () => {
        await kubelet("node-victim", [
          { type: "Hostname", address: "node-victim" },
          { type: "InternalIP", address: "10.0.1.70" },
        ]);
        const a = await kubelet("node-forger", [
          { type: "Hostname", address: "node-forger" },
          { type: "InternalIP", address: "10.0.1.71" },
        ]);
        // NodeRestriction lets a node write its own status, addresses included.
        const patched = await a.setAddresses([
          { type: "Hostname", address: "node-forger" },
          { type: "InternalIP", address: "10.0.1.71" },
          { type: "InternalIP", address: "10.0.1.70" },
        ]);
        assertEquals(patched.status, 200, patched.text);
        const node = await plane.admin.request<
          { status: { addresses: NodeAddress[] } }
        >("GET", "/api/v1/nodes/node-forger");
        assert(
          node.body.status.addresses.some((a) => a.address === "10.0.1.70"),
          "the real server stored the forged address",
        );
        const name = await create(a, {
          dnsNames: ["node-forger"],
          ipAddresses: ["10.0.1.70"],
        });
        const verdicts = await expectNeverApproved(name, /./);
        log(
          `forged ownership: ${name} left ${
            verdicts.map((d) => `${d.outcome}/${d.reason}`).join(", ")
          }`,
        );
      },
    );

    /**
     * Runs a daemon the API server refuses (credentials or a permission)
     * instead of the good one, while a CSR waits: it keeps running, says
     * what is refused in exactly one error line, repeats no warning, is
     * never ready once refused, and approves nothing; then a good daemon
     * approves the CSR.
     */
    const refusedDaemon = async (
      label: string,
      options: {
        tokenFile?: string;
        clear: RegExp;
        /** Apply before, undo after (a change to deploy/'s RBAC). */
        rbac?: Manifest[];
      },
    ) => {
      await daemon.proc.stop();
      if (options.rbac) await applyManifests(plane.admin, options.rbac);
      const k = await kubelet(`node-during-${label}`, [
        { type: "Hostname", address: `node-during-${label}` },
      ]);
      let name = "";
      let bad: Approver | undefined;
      try {
        bad = await launch(label, options.tokenFile ?? tokenFile);
        name = await create(k);
        await bad.proc.waitForLine(
          (l) => l.includes('"level":"error"') && options.clear.test(l),
          30_000,
        );
        const t0 = Date.now();
        while (Date.now() - t0 < 6_000) {
          assert(!bad.proc.exited, `the ${label} daemon keeps running`);
          assert(!(await isReady(bad)), `${label}: not ready once refused`);
          await sleep(250);
        }
        const errors = bad.records().filter((r) => r.level === "error");
        assertEquals(
          errors.filter((r) => options.clear.test(String(r.msg))).length,
          1,
          bad.proc.lines.join("\n"),
        );
        const warnings = bad.records().filter((r) => r.level === "warn");
        assertEquals(
          warnings.length,
          new Set(
            warnings.map((r) => JSON.stringify([r.msg, r.resource, r.csr])),
          ).size,
          bad.proc.lines.join("\n"),
        );
        const readyz = await bad.status("/readyz?verbose");
        log(
          `${label}: ${errors.length} error line(s), ${warnings.length} warning(s) in ${
            Math.round((Date.now() - t0) / 1000) + 6
          } s; the error: ${
            String(errors.find((r) => options.clear.test(String(r.msg)))?.msg)
              .slice(0, 160)
          }; /readyz ${readyz.status} ${
            readyz.body.replace(/\s+/g, " ").slice(0, 160)
          }`,
        );
        assertEquals(bad.approvals(), 0);
        assertEquals(
          (await getCsr(plane, name)).status?.conditions ?? [],
          [],
        );
      } finally {
        // Stopped before RBAC is restored, even when the case failed: a
        // refused daemon left running would approve once it is allowed.
        await bad?.proc.stop();
        // deploy/ applied again restores what the case removed.
        if (options.rbac) await applyManifests(plane.admin, manifests);
      }
      // A good daemon picks up what was left pending.
      daemon = await launch(`after-${label}`);
      await untilLeading(daemon);
      await expectIssued(k, name);
    };
    const credentialsRefused =
      /rejects this client's credentials \(401 Unauthorized\)/;

    await step(
      "a daemon with a bad token: one clear line, never ready, nothing approved",
      async () => {
        const badFile = `${plane.dir}/bad.token`;
        await Deno.writeTextFile(badFile, "not-a-valid-token");
        await refusedDaemon("bad-token", {
          tokenFile: badFile,
          clear: credentialsRefused,
        });
      },
    );
    await step(
      "a daemon with an expired token: one clear line, never ready, nothing approved",
      async () => {
        const expiredFile = `${plane.dir}/expired.token`;
        await Deno.writeTextFile(expiredFile, await expiredCopy(plane, token));
        // The real server refuses it (the daemon's case is not a fluke).
        const probe = tokenClient(plane, await Deno.readTextFile(expiredFile));
        try {
          const res = await probe.request("GET", CSRS);
          assertEquals(res.status, 401, res.text);
        } finally {
          probe.close();
        }
        await refusedDaemon("expired-token", {
          tokenFile: expiredFile,
          clear: credentialsRefused,
        });
      },
    );
    /** deploy/'s ClusterRole with `verb` taken off the rule for `resource`. */
    const withoutVerb = (resource: string, verb: string): Manifest[] => {
      const role = structuredClone(
        manifests.find((m) =>
          m.kind === "ClusterRole" && m.metadata.name === "kubelet-rubber-stamp"
        )!,
      ) as Manifest & {
        rules: { resources: string[]; verbs: string[] }[];
      };
      const rule = role.rules.find((r) => r.resources.includes(resource));
      if (!rule?.verbs.includes(verb)) {
        throw new Error(`deploy/ does not grant ${verb} ${resource}`);
      }
      rule.verbs = rule.verbs.filter((v) => v !== verb);
      // A rule left without verbs is invalid: it goes.
      role.rules = role.rules.filter((r) => r.verbs.length > 0);
      return [role];
    };
    await step(
      "RBAC without approve on the signer: one clear line, not ready, nothing approved",
      () =>
        refusedDaemon("no-approve", {
          rbac: withoutVerb("signers", "approve"),
          clear:
            /forbids update certificatesigningrequests\/approval \(403 Forbidden\)/,
        }),
    );
    await step(
      "RBAC without list on CSRs: one clear line, never ready, nothing approved",
      () =>
        refusedDaemon("no-list", {
          rbac: withoutVerb("certificatesigningrequests", "list"),
          clear: /forbids list certificatesigningrequests \(403 Forbidden\)/,
        }),
    );

    await step(
      "kube-apiserver restarted gracefully (SIGTERM, then it drains) mid-run: no CSR missed, none approved twice",
      async () => {
        const before = await uniqueNode();
        const first = await create(before);
        await expectIssued(before, first);
        const t0 = performance.now();
        const ended = await plane.restartApiServer(120_000);
        log(
          `kube-apiserver stopped (${ended}) and started again on the same port in ${
            Math.round(performance.now() - t0)
          } ms`,
        );
        const after = await uniqueNode();
        const second = await create(after);
        await expectIssued(after, second, 90_000);
        log(
          `${second} approved ${
            Math.round(performance.now() - t0)
          } ms after the restart began`,
        );
        assertEquals(approvals(first), 1);
      },
    );

    await step(
      "etcd compacted while the watches are open: no CSR missed, none approved twice",
      async () => {
        const early = await uniqueNode();
        const first = await create(early);
        await expectIssued(early, first);
        // Everything up to now is compacted away, physically.
        const { header } = await etcd("/v3/kv/range", { key: "AA==" });
        await etcd("/v3/kv/compaction", {
          revision: header.revision,
          physical: true,
        });
        // An old revision is gone for real.
        const old = await fetch(`${plane.etcdUrl}/v3/kv/range`, {
          method: "POST",
          body: JSON.stringify({ key: "AA==", revision: "2" }),
        });
        assertMatch(await old.text(), /compacted/);
        const later: { k: Kubelet; name: string }[] = [];
        for (let i = 0; i < 3; i++) {
          const k = await uniqueNode();
          later.push({ k, name: await create(k) });
        }
        for (const { k, name } of later) await expectIssued(k, name);
        assertEquals(approvals(first), 1);
        log(
          `etcd compacted at revision ${header.revision}; 3 later CSRs approved once each`,
        );
      },
    );

    await step(
      "etcd compacted past the daemon's resourceVersion, kube-apiserver killed (no final bookmark) and started again: the watch gets 410 Gone, the daemon relists, no CSR missed, none approved twice",
      async () => {
        const a = await uniqueNode();
        const first = await create(a);
        await expectIssued(a, first);
        const relists = await csrRelists(daemon);
        const t0 = Date.now();
        // Writes the CSR watch does not see move the revision on; then
        // everything up to here is compacted away.
        for (let i = 0; i < 3; i++) await uniqueNode();
        const { header } = await etcd("/v3/kv/range", { key: "AA==" });
        await etcd("/v3/kv/compaction", {
          revision: header.revision,
          physical: true,
        });
        // SIGKILL: a graceful stop sends every watch a last bookmark at the
        // newest revision, after which there is nothing to expire.
        const ended = await plane.restartApiServer(0);
        const b = await uniqueNode();
        const second = await create(b);
        await expectIssued(b, second, 90_000);
        const relisted = recordSince(daemon, /^listing CSRs$/, t0);
        const rewatched = recordSince(daemon, /^restarting CSR watch$/, t0);
        log(
          `compacted at revision ${header.revision}; kube-apiserver ${ended}; ` +
            `the daemon: ${
              rewatched ? `restarted its watch (${rewatched.cause})` : "—"
            }, ${
              relisted ? `relisted (${relisted.cause})` : "did not relist"
            }; CSR relists ${relists} → ${await csrRelists(
              daemon,
            )}; ${second} approved once`,
        );
        assert(relisted, "the daemon relisted");
        assertEquals(relisted.cause, "expired");
        assertEquals(await csrRelists(daemon), relists + 1);
        assertEquals(approvals(first), 1);
        assertEquals(await daemon.approvalRequests(), daemon.approvals());
      },
    );

    // Idle watches measured while the remaining cases run (see the last
    // step), opened after the last kube-apiserver restart (which ends every
    // watch): one the server ends after 70 s, one without a timeout that the
    // last step ends.
    probes.push(
      await startBookmarkProbe(plane, { timeoutSeconds: 70 }),
      await startBookmarkProbe(plane),
    );

    await step(
      "two daemons with a real Lease: kill -9 the leader mid-stream",
      async () => {
        const leader = daemon;
        const follower = await launch("c");
        await waitUntil(
          "the second daemon ready",
          60_000,
          () => isReady(follower),
        );
        await follower.proc.waitForLine(
          (l) => l.includes('"msg":"leader is"') && l.includes(leader.identity),
          30_000,
        );
        assert(!follower.records().some((r) => r.msg === "became leader"));
        const names: { k: Kubelet; name: string }[] = [];
        let killedAt = 0;
        for (let i = 0; i < 10; i++) {
          if (i === 4) {
            await leader.proc.kill();
            killedAt = Date.now();
          }
          const k = await uniqueNode();
          names.push({ k, name: await create(k) });
          await sleep(300);
        }
        for (const { k, name } of names) await expectIssued(k, name, 60_000);
        const became = follower.records().find((r) =>
          r.msg === "became leader"
        );
        assert(became, "the follower took over");
        const handover = Date.parse(became.ts) - killedAt;
        log(
          `leader killed (SIGKILL); ${follower.identity} leading ${
            Math.round(handover)
          } ms later; ${names.length} CSRs each approved once (${
            names.filter((n) => leader.approvals(n.name) > 0).length
          } by the old leader, ${
            names.filter((n) => follower.approvals(n.name) > 0).length
          } by the new one)`,
        );
        assertEquals(
          await follower.approvalRequests(),
          follower.approvals(),
        );
        daemon = follower;
      },
    );

    await step(
      "every approval write is accounted for",
      async () => {
        const list = await plane.admin.request<
          { items: CertificateSigningRequest[] }
        >("GET", CSRS);
        const approvedOnServer = list.body.items.filter((c) =>
          conditions(c, "Approved").length > 0
        );
        for (const c of approvedOnServer) {
          assertEquals(conditions(c, "Approved").length, 1);
          assertEquals(approvals(c.metadata.name), 1, c.metadata.name);
        }
        assertEquals(approvals(), approvedOnServer.length);
        // The live daemon's own count of approval PUTs (any answer) equals
        // its successful ones: no retried or refused writes.
        assertEquals(await daemon.approvalRequests(), daemon.approvals());
        log(
          `${approvedOnServer.length} CSRs approved with ${approvals()} approval writes over ${daemons.length} daemon processes; ` +
            `creation → certificate: min ${
              Math.round(Math.min(...latencies))
            } ms, max ${
              Math.round(Math.max(...latencies))
            } ms over ${latencies.length} honest nodes`,
        );
      },
    );

    await step(
      "deleting the selfnodeserver ClusterRoleBinding stops auto-approval",
      async () => {
        const del = await plane.admin.request(
          "DELETE",
          "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kubelet-rubber-stamp:selfnodeserver",
        );
        assertEquals(del.status, 200, del.text);
        const before = approvals();
        const k = await kubelet("node-revoked", [
          { type: "Hostname", address: "node-revoked" },
          { type: "InternalIP", address: "10.0.1.80" },
        ]);
        const name = await create(k);
        await waitUntil(
          `decision Unauthorized on ${name}`,
          20_000,
          () => decisions(name).some((d) => d.reason === "Unauthorized"),
        );
        const csr = await getCsr(plane, name);
        assertEquals(csr.status?.conditions ?? [], []);
        assertEquals(approvals(), before);
        assertEquals(await daemon.approvalRequests(), daemon.approvals());
      },
    );

    // --- Watch liveness (issue 10, item 7): the daemon talks to the API
    // server through a TCP proxy that can freeze connections without closing
    // them (packets dropped, no FIN).
    let proxied: Approver | undefined;

    await step(
      "the approver through a freezable TCP proxy (TLS passed through)",
      async () => {
        // The previous step deleted a binding: deploy/ applied again restores it.
        await applyManifests(plane.admin, manifests);
        await daemon.proc.stop(); // hands the Lease over
        const server = new URL(plane.server);
        proxy = startFreezeProxy({
          hostname: server.hostname,
          port: Number(server.port),
        });
        proxied = await startApprover({ ...plane, server: proxy.url }, {
          name: "proxied",
          tokenFile,
        });
        daemons.push(proxied);
        daemon = proxied;
        await untilLeading(proxied);
        const warm = await uniqueNode();
        await expectIssued(warm, await create(warm));
        log(
          `${proxied.identity} leading through ${proxy.url} → ${plane.server} over ${proxy.connections().length} connections`,
        );
      },
    );

    await step(
      "existing connections frozen (new ones pass): the silent watch is abandoned, re-established from its resourceVersion, and the CSR approved once within 2 min",
      async () => {
        const d = proxied!;
        const k = await uniqueNode();
        const warm = await uniqueNode();
        await expectIssued(warm, await create(warm));
        const relists = await csrRelists(d);
        const frozenAt = Date.now();
        const frozen = proxy!.freeze();
        const name = await create(k);
        try {
          await pollCsr(
            plane,
            name,
            (c) => conditions(c, "Approved").length > 0,
            120_000,
            `approved within 2 min of freezing ${frozen} connections`,
          );
        } finally {
          proxy!.thaw();
        }
        const approvedMs = Date.now() - frozenAt;
        await expectIssued(k, name);
        const abandoned = recordSince(d, /^restarting CSR watch$/, frozenAt);
        const decided = d.decisions(name)[0];
        assertEquals(await csrRelists(d), relists, "no relist");
        log(
          `frozen ${frozen} connections; watch abandoned after ${
            abandoned ? Date.parse(abandoned.ts) - frozenAt : "?"
          } ms (${abandoned?.cause}), ${name} decided after ${
            Date.parse(decided.ts) - frozenAt
          } ms, approved on the server after ≤${approvedMs} ms`,
        );
      },
    );

    await step(
      "a network partition (every connection frozen, new ones too, no FIN): the leader steps down, nothing is approved, and once healed the watch goes on from its resourceVersion and the CSR is approved once",
      async () => {
        const d = proxied!;
        const k = await uniqueNode();
        const warm = await uniqueNode();
        await expectIssued(warm, await create(warm));
        const relists = await csrRelists(d);
        const before = approvals();
        const from = d.proc.lines.length;
        const frozenAt = Date.now();
        const frozen = proxy!.freeze({ newConnections: true });
        const name = await create(k);
        const lost = await d.proc.waitForLine(
          /"msg":"lost leadership/,
          30_000,
          from,
        );
        const lostMs = Date.parse(JSON.parse(lost).ts) - frozenAt;
        assertEquals(await metric(d, "kubelet_rubber_stamp_leader"), 0);
        // Held for 30 s in all: three renew deadlines.
        await sleep(frozenAt + 30_000 - Date.now());
        assertEquals(conditions(await getCsr(plane, name), "Approved"), []);
        assertEquals(approvals(), before, "nothing approved while partitioned");
        const healedAt = Date.now();
        proxy!.thaw();
        await expectIssued(k, name, 60_000);
        const issuedMs = Date.now() - healedAt;
        const leading = recordSince(d, /^became leader$/, healedAt);
        assert(leading, "leading again after the heal");
        assertEquals(await csrRelists(d), relists, "no relist");
        assertEquals(await d.approvalRequests(), d.approvals());
        log(
          `partition of ${frozen} connections: leadership dropped ${lostMs} ms after the freeze; ` +
            `healed after ${healedAt - frozenAt} ms; leading again ${
              Date.parse(leading.ts) - healedAt
            } ms and ${name} approved and issued ≤${issuedMs} ms after the heal, once, without a relist ` +
            `(${proxy!.connections().length} proxied connections so far)`,
        );
      },
    );

    await step("kube-apiserver's bookmarks on an idle watch", async () => {
      const [limited, open] = probes;
      const r70 = await limited.result;
      open.stop();
      const rOpen = await open.result;
      log(`bookmarks, ${describeBookmarks(r70)}`);
      log(`bookmarks, ${describeBookmarks(rOpen)}`);
      for (const r of [r70, rOpen]) {
        assertEquals(r.others, [], "an idle watch gets only bookmarks");
        assert(r.error === undefined, r.error);
      }
      // About a minute after the watch began, then just before the timeout.
      assertEquals(r70.endedBy, "server");
      assert(r70.endedAt > 69 && r70.endedAt < 72, describeBookmarks(r70));
      assert(
        r70.bookmarksAt[0] > 50 && r70.bookmarksAt[0] < 66,
        describeBookmarks(r70),
      );
      assert(r70.bookmarksAt.at(-1)! > 66, describeBookmarks(r70));
      // Every minute without a timeout.
      assertEquals(rOpen.endedBy, "client");
      assert(
        rOpen.bookmarksAt.length >= Math.floor(rOpen.endedAt / 60) - 1,
        describeBookmarks(rOpen),
      );
      const at = [0, ...rOpen.bookmarksAt];
      for (let i = 1; i < at.length; i++) {
        const gap = at[i] - at[i - 1];
        assert(gap > 50 && gap < 70, describeBookmarks(rOpen));
      }
    });

    await step(
      "throughput on the real server: a small backlog and storm (full size: deno task bench:cluster)",
      async () => {
        // The bench starts its own daemon: no other may hold the Lease.
        for (const d of daemons) await d.proc.stop();
        const denoJson = await Deno.readTextFile(`${REPO}deno.json`);
        const v8 = startTaskV8Flags(denoJson);
        const result = await runClusterBench(plane, {
          backlog: 500,
          storm: 300,
          rate: 100,
          tokenFile,
          denoFlags: v8,
          denoEnv: startTaskEnv(denoJson),
          // 10.16.0.0 and up: clear of every address the cases above use.
          ipOffset: 0x100000,
          log,
        });
        log(
          `throughput (client-side limit ${result.rateLimit}, ${
            v8.join(" ")
          }):\n${table(result.rows)}`,
        );
        assertEquals(result.notOnce, 0, "each CSR approved exactly once");
        assertEquals(result.approvalWrites, result.csrs);
        assertEquals(result.approvedLogged, result.csrs);
      },
    );
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    for (const p of probes) p.stop();
    for (const d of daemons) await d.proc.stop();
    await proxy?.close();
    if (failed || Deno.env.get("CLUSTER_KEEP_LOGS")) {
      const dir = await Deno.makeTempDir({
        prefix: "rubber-stamp-cluster-logs-",
      });
      await dumpLogs(dir);
      console.log(`  [cluster] process logs kept in ${dir}`);
    }
    await cp?.stop();
    killAll();
  }
});
