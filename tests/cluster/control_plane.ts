/**
 * A real control plane on loopback for the cluster suite: etcd,
 * kube-apiserver (Node,RBAC authorization, NodeRestriction admission,
 * service-account issuer and keys) and kube-controller-manager running only
 * the CSR signing controller, with temporary PKI, random free ports and a
 * temporary directory that teardown removes.
 *
 * @module
 */
import * as x509 from "../../src/x509.ts";
import { createTestCa, type PemPair, type TestCa } from "../support/tls.ts";
import type { ControlPlaneBinaries } from "./build_control_plane.ts";
import {
  freePort,
  onInterrupt,
  type Proc,
  spawn,
  watchDir,
} from "./processes.ts";

/** An HTTP answer of the API server. */
export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
  text: string;
}

/** A client that talks to the API server with one identity. */
export interface ApiClient {
  request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
    /** Extra request headers (e.g. `Impersonate-User`). */
    headers?: Record<string, string>,
  ): Promise<ApiResponse<T>>;
  close(): void;
}

/** The running control plane. */
export interface ControlPlane {
  server: string;
  /** etcd's client URL (plain HTTP on loopback; its JSON gateway is under /v3). */
  etcdUrl: string;
  dir: string;
  /** PEM of the CA that signs the API server's serving certificate. */
  servingCaPem: string;
  /** PEM of the cluster signing CA kube-controller-manager signs CSRs with. */
  signingCaPem: string;
  /** system:masters client. */
  admin: ApiClient;
  /** A client authenticating with a fresh certificate of the client CA. */
  clientFor(commonName: string, organizations: string[]): Promise<ApiClient>;
  /** A fresh client certificate and key of the client CA (for streaming clients). */
  clientPair(commonName: string, organizations: string[]): Promise<PemPair>;
  /** `kube-apiserver`, `etcd` and `kube-controller-manager` versions as they report them. */
  versions: Record<string, string>;
  procs: Record<string, Proc>;
  /**
   * Stops kube-apiserver (SIGTERM, SIGKILL after `graceMs`, default 10 s)
   * and starts it again on the same port; resolves to how the old process
   * ended and when.
   */
  restartApiServer(graceMs?: number): Promise<string>;
  stop(): Promise<void>;
}

function clientOf(
  server: string,
  caPem: string,
  pair?: PemPair,
  token?: string,
): ApiClient {
  const http = Deno.createHttpClient({
    caCerts: [caPem],
    ...(pair ? { cert: pair.cert, key: pair.key } : {}),
  });
  return {
    async request<T>(
      method: string,
      path: string,
      body?: unknown,
      contentType = "application/json",
      headers: Record<string, string> = {},
    ): Promise<ApiResponse<T>> {
      // GET and DELETE are retried once on a connection error: after a
      // kube-apiserver restart, a pooled keep-alive connection is dead.
      const send = () =>
        fetch(`${server}${path}`, {
          method,
          client: http,
          headers: {
            Accept: "application/json",
            ...(body === undefined ? {} : { "Content-Type": contentType }),
            ...(token ? { Authorization: `Bearer ${token}` } : {}),
            ...headers,
          },
          body: body === undefined
            ? undefined
            : typeof body === "string"
            ? body
            : JSON.stringify(body),
        });
      let res: Response;
      try {
        res = await send();
      } catch (e) {
        if (method !== "GET" && method !== "DELETE") throw e;
        res = await send();
      }
      const text = await res.text();
      let parsed: unknown = undefined;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { raw: text };
      }
      return { status: res.status, body: parsed as T, text };
    },
    close: () => http.close(),
  };
}

/** A client with a bearer token (for the approver's ServiceAccount token). */
export function tokenClient(
  cp: ControlPlane,
  token: string,
): ApiClient {
  return clientOf(cp.server, cp.servingCaPem, undefined, token);
}

async function pemKeyPair(): Promise<
  { privatePem: string; publicPem: string }
> {
  const keys = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["sign", "verify"],
  );
  const wrap = (label: string, der: ArrayBuffer) =>
    `-----BEGIN ${label}-----\n${
      new Uint8Array(der).toBase64().replace(/.{64}/g, "$&\n").replace(
        /\n$/,
        "",
      )
    }\n-----END ${label}-----\n`;
  return {
    privatePem: wrap(
      "PRIVATE KEY",
      await crypto.subtle.exportKey("pkcs8", keys.privateKey),
    ),
    publicPem: wrap(
      "PUBLIC KEY",
      await crypto.subtle.exportKey("spki", keys.publicKey),
    ),
  };
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  proc?: Proc,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (proc?.exited) {
      throw new Error(
        `${proc.name} exited while waiting for ${what}:\n${
          proc.lines.slice(-20).join("\n")
        }`,
      );
    }
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${
      last ? `: ${last instanceof Error ? last.message : last}` : ""
    }${proc ? `\n${proc.lines.slice(-20).join("\n")}` : ""}`,
  );
}

function kubeconfig(
  server: string,
  caFile: string,
  user: Record<string, string>,
  namespace?: string,
): string {
  return JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "test",
        cluster: { server, "certificate-authority": caFile },
      }],
      users: [{ name: "u", user }],
      contexts: [{
        name: "test",
        context: {
          cluster: "test",
          user: "u",
          ...(namespace ? { namespace } : {}),
        },
      }],
      "current-context": "test",
    },
    null,
    2,
  );
}

/** Writes a kubeconfig (JSON is YAML) and returns its path. */
export async function writeKubeconfig(
  cp: ControlPlane,
  name: string,
  user: Record<string, string>,
  namespace?: string,
): Promise<string> {
  const path = `${cp.dir}/${name}.kubeconfig`;
  await Deno.writeTextFile(
    path,
    kubeconfig(cp.server, `${cp.dir}/pki/serving-ca.crt`, user, namespace),
  );
  return path;
}

/** Starts etcd, kube-apiserver and kube-controller-manager; `log` gets progress lines. */
export async function startControlPlane(
  bin: ControlPlaneBinaries,
  log: (line: string) => void,
): Promise<ControlPlane> {
  const dir = await Deno.makeTempDir({ prefix: "rubber-stamp-cluster-" });
  const removeOnInterrupt = onInterrupt(() =>
    Deno.removeSync(dir, { recursive: true })
  );
  const unwatchDir = watchDir(dir);
  const procs: Record<string, Proc> = {};
  const clients: ApiClient[] = [];
  const stopAll = async () => {
    for (const name of ["kube-controller-manager", "kube-apiserver", "etcd"]) {
      await procs[name]?.stop();
    }
    for (const c of clients) c.close();
    removeOnInterrupt();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    unwatchDir();
  };
  try {
    const t0 = performance.now();
    const pki = `${dir}/pki`;
    await Deno.mkdir(pki, { recursive: true });
    const write = (name: string, text: string) =>
      Deno.writeTextFile(`${pki}/${name}`, text, { mode: 0o600 });

    // --- PKI: four independent roots, as kubeadm lays them out.
    const servingCa = await createTestCa("rubber-stamp test apiserver CA");
    const clientCa: TestCa = await createTestCa("rubber-stamp test client CA");
    const signingCa = await createTestCa("rubber-stamp test cluster signer");
    const serving = await servingCa.issue({
      subject: "CN=kube-apiserver",
      dnsNames: [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
      ],
      ips: ["127.0.0.1", "10.96.0.1"],
      server: true,
    });
    const kcmServing = await servingCa.issue({
      subject: "CN=kube-controller-manager",
      ips: ["127.0.0.1"],
      server: true,
    });
    const admin = await clientCa.issue({
      subject: "O=system:masters, CN=rubber-stamp-admin",
      client: true,
    });
    const sa = await pemKeyPair();
    await Promise.all([
      write("serving-ca.crt", servingCa.cert),
      write("client-ca.crt", clientCa.cert),
      write("signing-ca.crt", signingCa.cert),
      write("signing-ca.key", signingCa.key),
      write("apiserver.crt", serving.cert),
      write("apiserver.key", serving.key),
      write("kcm.crt", kcmServing.cert),
      write("kcm.key", kcmServing.key),
      write("admin.crt", admin.cert),
      write("admin.key", admin.key),
      write("sa.key", sa.privatePem),
      write("sa.pub", sa.publicPem),
    ]);

    // --- etcd
    const etcdClientPort = freePort();
    const etcdPeerPort = freePort();
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    procs.etcd = spawn("etcd", bin.etcd, [
      "--name=default",
      `--data-dir=${dir}/etcd`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      "--unsafe-no-fsync",
      "--log-level=warn",
    ]);
    await waitFor("etcd /health", 30_000, async () => {
      const res = await fetch(`${etcdUrl}/health`);
      const body = await res.json() as { health?: string };
      return body.health === "true" ? true : undefined;
    }, procs.etcd);
    log(`etcd up on ${etcdUrl} after ${Math.round(performance.now() - t0)} ms`);

    // --- kube-apiserver
    const apiPort = freePort();
    const server = `https://127.0.0.1:${apiPort}`;
    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      // A loopback advertise address is refused by the endpoint reconciler;
      // the `kubernetes` Service (and its cluster IP) exists without it.
      "--endpoint-reconciler-type=none",
      `--secure-port=${apiPort}`,
      `--cert-dir=${dir}/apiserver-certs`,
      `--tls-cert-file=${pki}/apiserver.crt`,
      `--tls-private-key-file=${pki}/apiserver.key`,
      `--client-ca-file=${pki}/client-ca.crt`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${pki}/sa.pub`,
      `--service-account-signing-key-file=${pki}/sa.key`,
      "--service-cluster-ip-range=10.96.0.0/16",
      "--authorization-mode=Node,RBAC",
      "--enable-admission-plugins=NodeRestriction",
      "--v=1",
    ];
    const startApiServer = () =>
      spawn("kube-apiserver", bin.kubeApiserver, apiserverArgs);
    procs["kube-apiserver"] = startApiServer();
    const servingCaPem = servingCa.cert;
    const adminClient = clientOf(server, servingCaPem, admin);
    clients.push(adminClient);
    const waitReady = () =>
      waitFor("kube-apiserver /readyz", 120_000, async () => {
        const res = await adminClient.request("GET", "/readyz");
        return res.status === 200 ? true : undefined;
      }, procs["kube-apiserver"]);
    await waitReady();
    log(
      `kube-apiserver ready on ${server} after ${
        Math.round(performance.now() - t0)
      } ms`,
    );

    // --- kube-controller-manager: the CSR signer only.
    const kcmKubeconfig = `${dir}/kcm.kubeconfig`;
    await Deno.writeTextFile(
      kcmKubeconfig,
      kubeconfig(server, `${pki}/serving-ca.crt`, {
        "client-certificate": `${pki}/admin.crt`,
        "client-key": `${pki}/admin.key`,
      }),
    );
    const kcmPort = freePort();
    procs["kube-controller-manager"] = spawn(
      "kube-controller-manager",
      bin.kubeControllerManager,
      [
        `--kubeconfig=${kcmKubeconfig}`,
        `--authentication-kubeconfig=${kcmKubeconfig}`,
        `--authorization-kubeconfig=${kcmKubeconfig}`,
        "--controllers=csrsigning",
        `--cluster-signing-cert-file=${pki}/signing-ca.crt`,
        `--cluster-signing-key-file=${pki}/signing-ca.key`,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        `--secure-port=${kcmPort}`,
        `--tls-cert-file=${pki}/kcm.crt`,
        `--tls-private-key-file=${pki}/kcm.key`,
        "--v=1",
      ],
    );
    const kcmHttp = Deno.createHttpClient({ caCerts: [servingCaPem] });
    try {
      await waitFor("kube-controller-manager /healthz", 60_000, async () => {
        const res = await fetch(`https://127.0.0.1:${kcmPort}/healthz`, {
          client: kcmHttp,
        });
        await res.body?.cancel();
        return res.status === 200 ? true : undefined;
      }, procs["kube-controller-manager"]);
    } finally {
      kcmHttp.close();
    }
    log(
      `kube-controller-manager (csrsigning) healthy after ${
        Math.round(performance.now() - t0)
      } ms`,
    );

    const versionOf = async (binPath: string) => {
      const out = await new Deno.Command(binPath, { args: ["--version"] })
        .output();
      return new TextDecoder().decode(out.stdout).trim().split("\n")[0];
    };
    const apiVersion = await adminClient.request<{ gitVersion: string }>(
      "GET",
      "/version",
    );
    const versions = {
      "kube-apiserver": apiVersion.body.gitVersion,
      "kube-controller-manager": await versionOf(bin.kubeControllerManager),
      etcd: await versionOf(bin.etcd),
    };

    const cp: ControlPlane = {
      server,
      etcdUrl,
      dir,
      servingCaPem,
      signingCaPem: signingCa.cert,
      admin: adminClient,
      clientPair(commonName, organizations) {
        return clientCa.issue({
          subject: [
            ...organizations.map((o) => `O=${o}`),
            `CN=${commonName}`,
          ].join(", "),
          client: true,
        });
      },
      async clientFor(commonName, organizations) {
        const pair = await cp.clientPair(commonName, organizations);
        const c = clientOf(server, servingCaPem, pair);
        clients.push(c);
        return c;
      },
      versions,
      procs,
      async restartApiServer(graceMs = 10_000) {
        const old = procs["kube-apiserver"];
        const t0 = performance.now();
        await old.stop(graceMs);
        const status = await old.status;
        const ms = Math.round(performance.now() - t0);
        procs["kube-apiserver"] = startApiServer();
        await waitReady();
        return status.signal
          ? `killed by ${status.signal} ${ms} ms after SIGTERM`
          : `exited with code ${status.code} ${ms} ms after SIGTERM`;
      },
      stop: stopAll,
    };
    return cp;
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** Parses a PEM certificate chain's first certificate. */
export function parseCertificate(pem: string): x509.X509Certificate {
  return new x509.X509Certificate(pem);
}
