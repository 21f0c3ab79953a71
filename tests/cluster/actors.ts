/**
 * The actors of the cluster suite: simulated kubelets (each with its own
 * client certificate, writing its own Node and serving CSR as the kubelet
 * does) and the approver daemon run as users run it.
 *
 * @module
 */
import {
  type KeyType,
  kubeletUsages,
  makeCertificateRequestPem,
} from "../support/csr_factory.ts";
import type { CertificateSigningRequest } from "../../src/core/types.ts";
import {
  type ApiClient,
  type ApiResponse,
  type ControlPlane,
  writeKubeconfig,
} from "./control_plane.ts";
import { freePort, type Proc, spawn } from "./processes.ts";

/** A Node address as the kubelet reports it. */
export interface NodeAddress {
  type:
    | "Hostname"
    | "InternalIP"
    | "ExternalIP"
    | "InternalDNS"
    | "ExternalDNS";
  address: string;
}

/** The SANs the kubelet derives from its addresses (kubelet `certificate.NewKubeletServerCertificateManager`). */
export function sansOf(addresses: NodeAddress[]): {
  dnsNames: string[];
  ipAddresses: string[];
} {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const a of addresses) {
    if (a.type === "InternalIP" || a.type === "ExternalIP") {
      ipAddresses.push(a.address);
    } else if (!dnsNames.includes(a.address)) dnsNames.push(a.address);
  }
  return { dnsNames, ipAddresses };
}

/** What a kubelet puts into its serving CSR; overrides make it lie. */
export interface CsrRequest {
  key?: KeyType;
  dnsNames?: string[];
  ipAddresses?: string[];
  commonName?: string;
  usages?: string[];
  signerName?: string;
}

/** A simulated kubelet. */
export interface Kubelet {
  name: string;
  client: ApiClient;
  addresses: NodeAddress[];
  /** PATCHes `nodes/<name>/status` with these addresses. */
  setAddresses(addresses: NodeAddress[]): Promise<ApiResponse>;
  /** `performance.now()` just before the last CSR was sent. */
  lastSentAt: number;
  /** Creates a serving CSR (default: the honest one from its addresses). */
  requestCertificate(
    request?: CsrRequest,
  ): Promise<ApiResponse<CertificateSigningRequest>>;
}

/** Registers a kubelet: its own Node, then its own status.addresses. */
export async function startKubelet(
  cp: ControlPlane,
  name: string,
  addresses: NodeAddress[],
): Promise<Kubelet> {
  const client = await cp.clientFor(`system:node:${name}`, ["system:nodes"]);
  const created = await client.request("POST", "/api/v1/nodes", {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels: { "kubernetes.io/hostname": name } },
  });
  if (created.status !== 201) {
    throw new Error(
      `node ${name}: creating its Node: HTTP ${created.status}: ${created.text}`,
    );
  }
  const kubelet: Kubelet = {
    name,
    client,
    addresses,
    lastSentAt: 0,
    async setAddresses(next) {
      const res = await client.request(
        "PATCH",
        `/api/v1/nodes/${name}/status`,
        { status: { addresses: next } },
        "application/merge-patch+json",
      );
      if (res.status === 200) kubelet.addresses = next;
      return res;
    },
    async requestCertificate(request = {}) {
      const honest = sansOf(kubelet.addresses);
      const key = request.key ?? "ecdsa-p256";
      const pem = await makeCertificateRequestPem({
        node: name,
        key,
        commonName: request.commonName,
        dnsNames: request.dnsNames ?? honest.dnsNames,
        ipAddresses: request.ipAddresses ?? honest.ipAddresses,
      });
      kubelet.lastSentAt = performance.now();
      return await client.request<CertificateSigningRequest>(
        "POST",
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
        {
          apiVersion: "certificates.k8s.io/v1",
          kind: "CertificateSigningRequest",
          metadata: { generateName: "csr-" },
          spec: {
            request: new TextEncoder().encode(pem).toBase64(),
            signerName: request.signerName ?? "kubernetes.io/kubelet-serving",
            usages: request.usages ?? kubeletUsages(key),
          },
        },
      );
    },
  };
  const status = await kubelet.setAddresses(addresses);
  if (status.status !== 200) {
    throw new Error(
      `node ${name}: writing its status.addresses: HTTP ${status.status}: ${status.text}`,
    );
  }
  return kubelet;
}

/** One JSON log record of the daemon. */
export interface LogRecord {
  ts: string;
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** The approver daemon running as a process. */
export interface Approver {
  proc: Proc;
  port: number;
  identity: string;
  records(): LogRecord[];
  /** `decision` records for one CSR. */
  decisions(csr: string): LogRecord[];
  /** Successful approval writes, as the daemon logs them (`outcome=approved`). */
  approvals(csr?: string): number;
  status(path: string): Promise<{ status: number; body: string }>;
  /** Sum of `kubelet_rubber_stamp_api_requests_total` for PUT …/approval, any code. */
  approvalRequests(): Promise<number>;
}

/** Asks the TokenRequest API for a token of the approver's ServiceAccount. */
export async function serviceAccountToken(
  cp: ControlPlane,
  namespace: string,
  name: string,
  expirationSeconds = 3600,
): Promise<string> {
  const res = await cp.admin.request<{ status?: { token?: string } }>(
    "POST",
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds },
    },
  );
  const token = res.body.status?.token;
  if (res.status !== 201 || !token) {
    throw new Error(`TokenRequest: HTTP ${res.status}: ${res.text}`);
  }
  return token;
}

/**
 * The same ServiceAccount token, expired: its claims with `exp` an hour ago
 * (and `iat`/`nbf` before it), signed again with the control plane's
 * service-account key (ES256), as a token the kubelet-rubber-stamp Pod kept
 * past its expiry would be.
 */
export async function expiredCopy(
  cp: ControlPlane,
  token: string,
): Promise<string> {
  const [header, payload] = token.split(".");
  const fromB64url = (s: string) =>
    JSON.parse(new TextDecoder().decode(Uint8Array.fromBase64(s, {
      alphabet: "base64url",
    })));
  const toB64url = (v: unknown) =>
    new TextEncoder().encode(JSON.stringify(v)).toBase64({
      alphabet: "base64url",
      omitPadding: true,
    });
  const claims = fromB64url(payload);
  const now = Math.floor(Date.now() / 1000);
  claims.iat = now - 7200;
  claims.nbf = now - 7200;
  claims.exp = now - 3600;
  const pem = await Deno.readTextFile(`${cp.dir}/pki/sa.key`);
  const der = Uint8Array.fromBase64(
    pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""),
  );
  const key = await crypto.subtle.importKey(
    "pkcs8",
    der,
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  const signingInput = `${toB64url(fromB64url(header))}.${toB64url(claims)}`;
  const signature = new Uint8Array(
    await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      key,
      new TextEncoder().encode(signingInput),
    ),
  );
  return `${signingInput}.${
    signature.toBase64({ alphabet: "base64url", omitPadding: true })
  }`;
}

const REPO = new URL("../../", import.meta.url).pathname;

/**
 * Runs the daemon as `deno task start` does (same permissions), with a
 * kubeconfig holding only the server, the cluster CA and a tokenFile: the
 * in-cluster configuration, spelled as a kubeconfig.
 */
export async function startApprover(
  cp: ControlPlane,
  options: {
    name: string;
    tokenFile: string;
    args?: string[];
    /** Deno flags before the permissions (e.g. the start task's `--v8-flags=…`). */
    denoFlags?: string[];
    /** More environment (e.g. the start task's `MALLOC_*` settings). */
    env?: Record<string, string>;
  },
): Promise<Approver> {
  const kubeconfig = await writeKubeconfig(
    cp,
    `approver-${options.name}`,
    { tokenFile: options.tokenFile },
    "kubelet-rubber-stamp",
  );
  const port = freePort();
  const identity = `approver-${options.name}`;
  const proc = spawn(
    identity,
    Deno.execPath(),
    [
      "run",
      ...(options.denoFlags ?? []),
      "--allow-net",
      "--allow-read",
      "--allow-env",
      "mod.ts",
      `--kubeconfig=${kubeconfig}`,
      `--listen=127.0.0.1:${port}`,
      "--log-format=json",
      // As deploy/base/deployment.yaml runs it.
      "--leader-elect=true",
      "--leader-elect-lease-name=kubelet-rubber-stamp",
      ...(options.args ?? []),
    ],
    {
      cwd: REPO,
      env: {
        ...options.env,
        NO_COLOR: "1",
        POD_NAME: identity,
        POD_NAMESPACE: "kubelet-rubber-stamp",
      },
    },
  );
  const records = (): LogRecord[] =>
    proc.lines.flatMap((l) => {
      if (!l.startsWith("{")) return [];
      try {
        return [JSON.parse(l) as LogRecord];
      } catch {
        return [];
      }
    });
  const status = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, body: await res.text() };
  };
  return {
    proc,
    port,
    identity,
    records,
    decisions: (csr) =>
      records().filter((r) => r.msg === "decision" && r.csr === csr),
    approvals: (csr) =>
      records().filter((r) =>
        r.msg === "decision" && r.outcome === "approved" &&
        (csr === undefined || r.csr === csr)
      ).length,
    status,
    async approvalRequests() {
      const { body } = await status("/metrics");
      let sum = 0;
      for (const line of body.split("\n")) {
        if (
          line.startsWith("kubelet_rubber_stamp_api_requests_total{") &&
          line.includes('verb="PUT"') &&
          line.includes('resource="certificatesigningrequests/approval"')
        ) {
          sum += Number(line.split(" ").pop());
        }
      }
      return sum;
    },
  };
}
