import * as x509 from "../../../src/x509.ts";
import {
  type AuthorizationFact,
  decideServingRequest,
} from "../../../src/core/decision.ts";
import { inspectServingRequest } from "../../../src/core/inspect.ts";
import {
  type CompiledPolicy,
  compileServingPolicy,
  defaultServingPolicy,
  type ServingPolicy,
} from "../../../src/core/policy.ts";
import {
  checkPendingAge,
  checkProtectedNames,
  SERVING_POLICY_RULES,
} from "../../../src/core/policy_checks.ts";
import {
  createNodeFacts,
  type NodeAddress,
  type NodeFacts,
} from "../../../src/core/node_facts.ts";
import { formatDuration } from "../../../src/core/duration.ts";
import { policySettingFlag } from "../../../src/cli/setting_labels.ts";
import type {
  CertificateSigningRequest,
  Decision,
  Outcome,
  ReasonCode,
} from "../../../src/core/types.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import {
  makeServingCsr,
  type ServingCsrOptions,
} from "../../support/csr_factory.ts";

const CREATED = "2026-01-01T00:00:00Z";
/** One minute after creation: inside every wait. */
const SOON = new Date("2026-01-01T00:01:00Z");
/** Sixteen minutes after creation: the default 15 min Node wait is over. */
const LATER = new Date("2026-01-01T00:16:00Z");
const API_SERVICE_IP = "10.96.0.1";

const NODE_A: NodeAddress[] = [
  { type: "Hostname", address: "node-a" },
  { type: "InternalIP", address: "10.0.0.1" },
  { type: "InternalIP", address: "fd00::a" },
  { type: "ExternalDNS", address: "Node-A.Example.COM" },
  { type: "ExternalIP", address: "203.0.113.10" },
];
const NODE_B: NodeAddress[] = [
  { type: "Hostname", address: "node-b" },
  { type: "InternalIP", address: "10.0.0.2" },
  { type: "InternalDNS", address: "node-b.internal" },
];
// A node that put protected names among its own addresses (a node may edit
// its own status): owning them must not make them approvable.
const LIAR: NodeAddress[] = [
  { type: "Hostname", address: "kubernetes.default.svc" },
  { type: "InternalIP", address: "127.0.0.1" },
  { type: "InternalIP", address: API_SERVICE_IP },
  { type: "InternalDNS", address: "*.liar" },
  { type: "InternalIP", address: "10.0.0.66" },
];

const NODES = createNodeFacts([
  ["node-a", NODE_A],
  ["node-b", NODE_B],
  ["liar", LIAR],
  ["empty", []],
]);

/**
 * A compiled policy that names settings by their flags, as the daemon and
 * `check` compile it: the messages below are the texts they print.
 */
function compiled(overrides: Partial<ServingPolicy> = {}): CompiledPolicy {
  const result = compileServingPolicy({
    ...defaultServingPolicy(),
    apiServiceIps: [API_SERVICE_IP],
    ...overrides,
  }, { settingLabel: policySettingFlag });
  if ("error" in result) throw new Error(result.error);
  return result;
}

interface Facts {
  policy?: CompiledPolicy;
  nodes?: NodeFacts | null;
  now?: Date;
  authorization?: AuthorizationFact;
}

async function decide(
  csr: CertificateSigningRequest,
  facts: Facts = {},
): Promise<Decision> {
  const inspection = await inspectServingRequest(csr);
  return decideServingRequest(inspection, {
    authorization: facts.authorization ?? { allowed: true },
    policy: facts.policy ?? compiled(),
    nodes: facts.nodes === null ? undefined : facts.nodes ?? NODES,
    now: facts.now ?? SOON,
  });
}

/** A kubelet-like CSR for node-a; SANs default to node-a's own. */
function forNodeA(opts: ServingCsrOptions = {}): ServingCsrOptions {
  return {
    node: "node-a",
    dnsNames: ["node-a"],
    ipAddresses: ["10.0.0.1"],
    creationTimestamp: CREATED,
    ...opts,
  };
}

function der(tag: number, content: Uint8Array): Uint8Array<ArrayBuffer> {
  if (content.length > 127) throw new Error("test helper: short form only");
  return new Uint8Array([tag, content.length, ...content]);
}

/**
 * A real signed CSR whose SAN extension is raw DER: @peculiar/x509 cannot
 * encode an IPv4-mapped IPv6 SAN, so the GeneralNames are built by hand
 * (`[2]` dNSName, `[7]` iPAddress of 16 bytes).
 */
async function csrWithRawSans(
  node: string,
  sans: Array<{ dns: string } | { ip: number[] }>,
): Promise<CertificateSigningRequest> {
  const names = sans.map((s) =>
    "dns" in s
      ? der(0x82, new TextEncoder().encode(s.dns))
      : der(0x87, new Uint8Array(s.ip))
  );
  const value = der(
    0x30,
    new Uint8Array(names.flatMap((n) => Array.from(n))),
  );
  const keys = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ O: ["system:nodes"] }, { CN: [`system:node:${node}`] }],
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
    extensions: [new x509.Extension("2.5.29.17", false, value)],
  });
  const csr = await makeServingCsr(forNodeA({ node }));
  csr.spec.request = new TextEncoder().encode(request.toString("pem"))
    .toBase64();
  return csr;
}

const MAPPED_LOOPBACK = [
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0xff,
  0xff,
  127,
  0,
  0,
  1,
];
const MAPPED_NODE_A_IP = [
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0xff,
  0xff,
  10,
  0,
  0,
  1,
];

interface Case {
  name: string;
  csr: () => Promise<CertificateSigningRequest>;
  facts?: Facts;
  outcome: Outcome;
  reason: ReasonCode;
  message?: RegExp;
}

const hostile: Case[] = [
  {
    name: "another node's IP",
    csr: () => makeServingCsr(forNodeA({ ipAddresses: ["10.0.0.2"] })),
    outcome: "deny",
    reason: "SANNotOwnedByNode",
    message: /^IP "10\.0\.0\.2" belongs to node "node-b", not to "node-a"$/,
  },
  {
    name: "another node's hostname",
    csr: () => makeServingCsr(forNodeA({ dnsNames: ["node-a", "node-b"] })),
    outcome: "deny",
    reason: "SANNotOwnedByNode",
    message: /DNS name "node-b" belongs to node "node-b"/,
  },
  {
    name: "another node's InternalDNS, other case and trailing dot",
    csr: () => makeServingCsr(forNodeA({ dnsNames: ["NODE-B.internal."] })),
    outcome: "deny",
    reason: "SANNotOwnedByNode",
    message: /belongs to node "node-b"/,
  },
  {
    name: "another node's IP, even before this node exists",
    csr: () =>
      makeServingCsr(
        forNodeA({ node: "newcomer", dnsNames: [], ipAddresses: ["10.0.0.2"] }),
      ),
    outcome: "deny",
    reason: "SANNotOwnedByNode",
    message: /belongs to node "node-b", not to "newcomer"/,
  },
  {
    name: "a name sharing only a prefix with the node's name waits…",
    csr: () => makeServingCsr(forNodeA({ dnsNames: ["node-a.evil.example"] })),
    outcome: "wait",
    reason: "SANNotOwnedByNode",
    message:
      /DNS name "node-a\.evil\.example" is not an address of node "node-a" .*nor of any other node; waiting until 2026-01-01T00:15:00\.000Z$/,
  },
  {
    name: "…and is denied when the wait is over",
    csr: () => makeServingCsr(forNodeA({ dnsNames: ["node-a.evil.example"] })),
    facts: { now: LATER },
    outcome: "deny",
    reason: "SANNotOwnedByNode",
    message: /\(waited 15m since the CSR was created\)$/,
  },
  {
    name: "KUBERNETES.default.svc.",
    csr: () =>
      makeServingCsr(
        forNodeA({ dnsNames: ["node-a", "KUBERNETES.default.svc."] }),
      ),
    outcome: "deny",
    reason: "ProtectedName",
    message:
      /^DNS name "KUBERNETES\.default\.svc\." is a name of the API server's kubernetes Service: never approved$/,
  },
  {
    name: "kubernetes",
    csr: () => makeServingCsr(forNodeA({ dnsNames: ["kubernetes"] })),
    outcome: "deny",
    reason: "ProtectedName",
  },
  {
    name: "kubernetes.default.svc.cluster.local",
    csr: () =>
      makeServingCsr(
        forNodeA({ dnsNames: ["kubernetes.default.svc.cluster.local"] }),
      ),
    outcome: "deny",
    reason: "ProtectedName",
  },
  {
    name: "kubernetes.default.svc.<custom cluster domain>",
    csr: () =>
      makeServingCsr(
        forNodeA({ dnsNames: ["kubernetes.default.svc.corp.k8s"] }),
      ),
    facts: { policy: compiled({ clusterDomain: "Corp.K8s." }) },
    outcome: "deny",
    reason: "ProtectedName",
  },
  {
    name: "any in-cluster Service name",
    csr: () => makeServingCsr(forNodeA({ dnsNames: ["vault.secrets.svc"] })),
    outcome: "deny",
    reason: "ProtectedName",
    message: /an in-cluster Service name/,
  },
  {
    name: "localhost",
    csr: () => makeServingCsr(forNodeA({ dnsNames: ["LocalHost"] })),
    outcome: "deny",
    reason: "ProtectedName",
    message: /a loopback name/,
  },
  {
    name: "a .localhost name",
    csr: () => makeServingCsr(forNodeA({ dnsNames: ["app.localhost"] })),
    outcome: "deny",
    reason: "ProtectedName",
  },
  {
    name: "127.0.0.1",
    csr: () => makeServingCsr(forNodeA({ ipAddresses: ["127.0.0.1"] })),
    outcome: "deny",
    reason: "ProtectedName",
    message: /^IP "127\.0\.0\.1" is a loopback address: never approved$/,
  },
  {
    name: "127.0.0.1 spelled as a DNS name",
    csr: () => makeServingCsr(forNodeA({ dnsNames: ["127.0.0.1"] })),
    outcome: "deny",
    reason: "ProtectedName",
    message: /spelled as an IP, a loopback address/,
  },
  {
    name: "::ffff:127.0.0.1 (IPv4-mapped loopback, raw SAN bytes)",
    csr: () =>
      csrWithRawSans("node-a", [{ dns: "node-a" }, { ip: MAPPED_LOOPBACK }]),
    outcome: "deny",
    reason: "ProtectedName",
    message: /^IP "::ffff:127\.0\.0\.1" \(127\.0\.0\.1\) is a loopback address/,
  },
  {
    name: "::1",
    csr: () => makeServingCsr(forNodeA({ ipAddresses: ["::1"] })),
    outcome: "deny",
    reason: "ProtectedName",
  },
  {
    name: "unspecified 0.0.0.0 and ::",
    csr: () => makeServingCsr(forNodeA({ ipAddresses: ["0.0.0.0", "::"] })),
    outcome: "deny",
    reason: "ProtectedName",
    message: /"0\.0\.0\.0" is an unspecified .*; IP "::" is an unspecified/,
  },
  {
    name: "the API service IP",
    csr: () => makeServingCsr(forNodeA({ ipAddresses: [API_SERVICE_IP] })),
    outcome: "deny",
    reason: "ProtectedName",
    message: /"10\.96\.0\.1" is the API server's Service IP/,
  },
  {
    name: "a wildcard",
    csr: () => makeServingCsr(forNodeA({ dnsNames: ["*.node-a.example.com"] })),
    outcome: "deny",
    reason: "ProtectedName",
    message: /a wildcard name/,
  },
  {
    name: "link-local IPv4 (cloud metadata address)",
    csr: () => makeServingCsr(forNodeA({ ipAddresses: ["169.254.169.254"] })),
    outcome: "deny",
    reason: "ProtectedName",
    message: /a link-local address/,
  },
  {
    name: "link-local IPv6",
    csr: () => makeServingCsr(forNodeA({ ipAddresses: ["fe80::1"] })),
    outcome: "deny",
    reason: "ProtectedName",
  },
  {
    name: "operator --protected-names (case and trailing dot ignored)",
    csr: () => makeServingCsr(forNodeA({ dnsNames: ["API.corp.example."] })),
    facts: { policy: compiled({ protectedNames: ["api.corp.example"] }) },
    outcome: "deny",
    reason: "ProtectedName",
    message: /listed in --protected-names/,
  },
  {
    name: "operator --protected-cidrs",
    csr: () => makeServingCsr(forNodeA({ ipAddresses: ["192.0.2.7"] })),
    facts: { policy: compiled({ protectedCidrs: ["192.0.2.0/24"] }) },
    outcome: "deny",
    reason: "ProtectedName",
    message: /inside --protected-cidrs 192\.0\.2\.0\/24/,
  },
  {
    name: "protected names even when the node lists them as its addresses",
    csr: () =>
      makeServingCsr(
        forNodeA({
          node: "liar",
          dnsNames: ["kubernetes.default.svc"],
          ipAddresses: ["10.0.0.66"],
        }),
      ),
    outcome: "deny",
    reason: "ProtectedName",
  },
  {
    name: "protected IP even when the node lists it as its address",
    csr: () =>
      makeServingCsr(
        forNodeA({ node: "liar", dnsNames: [], ipAddresses: [API_SERVICE_IP] }),
      ),
    outcome: "deny",
    reason: "ProtectedName",
  },
  {
    name: "protected names even with --verify-node-addresses=false",
    csr: () => makeServingCsr(forNodeA({ ipAddresses: ["127.0.0.1"] })),
    facts: { policy: compiled({ verifyNodeAddresses: false }) },
    outcome: "deny",
    reason: "ProtectedName",
  },
  {
    name: "RSA 1024",
    csr: () => makeServingCsr(forNodeA({ key: "rsa-1024" })),
    outcome: "deny",
    reason: "UnsupportedKey",
  },
  {
    name: "an oversized request",
    csr: async () => {
      const csr = await makeServingCsr(forNodeA());
      csr.spec.request = "A".repeat(40_000);
      return csr;
    },
    outcome: "deny",
    reason: "RequestTooLarge",
  },
  {
    name: "--dns-name-pattern not matched",
    csr: () => makeServingCsr(forNodeA()),
    facts: {
      policy: compiled({ dnsNamePattern: "[a-z0-9-]+\\.example\\.com" }),
    },
    outcome: "deny",
    reason: "PolicyViolation",
    message: /DNS name \["node-a"\] does not match --dns-name-pattern/,
  },
  {
    name: "--dns-name-pattern is anchored (a prefix match is not enough)",
    csr: () => makeServingCsr(forNodeA({ dnsNames: ["node-a.example.com"] })),
    facts: { policy: compiled({ dnsNamePattern: "node-a|node-b" }) },
    outcome: "deny",
    reason: "PolicyViolation",
  },
  {
    name: "--allowed-cidrs not matched (IPv4)",
    csr: () => makeServingCsr(forNodeA()),
    facts: { policy: compiled({ allowedCidrs: ["192.168.0.0/16"] }) },
    outcome: "deny",
    reason: "PolicyViolation",
    message: /IP address \["10\.0\.0\.1"\] not inside --allowed-cidrs/,
  },
  {
    name: "--allowed-cidrs not matched (IPv6)",
    csr: () =>
      makeServingCsr(forNodeA({ ipAddresses: ["10.0.0.1", "fd00::a"] })),
    facts: { policy: compiled({ allowedCidrs: ["10.0.0.0/8", "fd01::/16"] }) },
    outcome: "deny",
    reason: "PolicyViolation",
    message: /\["fd00::a"\]/,
  },
  {
    name: "--max-dns-names",
    csr: () =>
      makeServingCsr(forNodeA({ dnsNames: ["node-a", "node-a.example.com"] })),
    facts: { policy: compiled({ maxDnsNames: 1 }) },
    outcome: "deny",
    reason: "PolicyViolation",
    message: /^request has 2 DNS names, --max-dns-names allows 1$/,
  },
  {
    name: "--max-ip-addresses",
    csr: () =>
      makeServingCsr(forNodeA({ ipAddresses: ["10.0.0.1", "fd00::a"] })),
    facts: { policy: compiled({ maxIpAddresses: 1 }) },
    outcome: "deny",
    reason: "PolicyViolation",
  },
  {
    name: "--max-expiration-seconds",
    csr: () => makeServingCsr(forNodeA({ expirationSeconds: 365 * 86400 })),
    facts: { policy: compiled({ maxExpirationSeconds: 86400 }) },
    outcome: "deny",
    reason: "ExpirationTooLong",
    message:
      /^spec\.expirationSeconds is 31536000, --max-expiration-seconds allows at most 86400$/,
  },
  {
    name: "the Node does not exist yet: wait",
    csr: () =>
      makeServingCsr(
        forNodeA({
          node: "ghost",
          dnsNames: ["ghost"],
          ipAddresses: ["10.0.0.50"],
        }),
      ),
    outcome: "wait",
    reason: "NodeNotFound",
    message: /^node "ghost" does not exist; waiting until/,
  },
  {
    name: "the Node never appeared: deny",
    csr: () =>
      makeServingCsr(
        forNodeA({
          node: "ghost",
          dnsNames: ["ghost"],
          ipAddresses: ["10.0.0.50"],
        }),
      ),
    facts: { now: LATER },
    outcome: "deny",
    reason: "NodeNotFound",
  },
  {
    name: "the Node has no addresses yet: wait",
    csr: () =>
      makeServingCsr(
        forNodeA({
          node: "empty",
          dnsNames: ["empty"],
          ipAddresses: ["10.0.0.51"],
        }),
      ),
    outcome: "wait",
    reason: "NodeAddressesUnknown",
  },
  {
    name: "the Node never got addresses: deny",
    csr: () =>
      makeServingCsr(
        forNodeA({
          node: "empty",
          dnsNames: ["empty"],
          ipAddresses: ["10.0.0.51"],
        }),
      ),
    facts: { now: LATER },
    outcome: "deny",
    reason: "NodeAddressesUnknown",
  },
  {
    name: "an IP on no node: wait",
    csr: () => makeServingCsr(forNodeA({ ipAddresses: ["10.0.0.99"] })),
    outcome: "wait",
    reason: "SANNotOwnedByNode",
  },
  {
    name: "a shorter --node-address-wait ends sooner",
    csr: () => makeServingCsr(forNodeA({ ipAddresses: ["10.0.0.99"] })),
    facts: { policy: compiled({ nodeAddressWaitMs: 30_000 }) },
    outcome: "deny",
    reason: "SANNotOwnedByNode",
    message: /waited 30s/,
  },
  {
    name: "older than --max-pending-age: ignored",
    csr: () => makeServingCsr(forNodeA()),
    facts: { now: new Date("2026-01-01T01:00:01Z") },
    outcome: "ignore",
    reason: "TooOld",
    message: /^CSR was created 1h1s ago .*more than --max-pending-age 1h/,
  },
  {
    name: "too old beats an invalid request (never written)",
    csr: () => makeServingCsr(forNodeA({ tamper: true })),
    facts: { now: new Date("2026-01-02T00:00:00Z") },
    outcome: "ignore",
    reason: "TooOld",
  },
  {
    name: "too old beats a protected name",
    csr: () => makeServingCsr(forNodeA({ ipAddresses: ["127.0.0.1"] })),
    facts: { now: new Date("2026-01-02T00:00:00Z") },
    outcome: "ignore",
    reason: "TooOld",
  },
  {
    name: "a final deny beats a wait",
    csr: () =>
      makeServingCsr(forNodeA({ ipAddresses: ["10.0.0.99", "10.0.0.2"] })),
    outcome: "deny",
    reason: "SANNotOwnedByNode",
    message: /belongs to node "node-b"/,
  },
];

const allowed: Case[] = [
  {
    name: "the node's own addresses",
    csr: () =>
      makeServingCsr(
        forNodeA({
          dnsNames: ["node-a", "node-a.example.com"],
          ipAddresses: ["10.0.0.1", "fd00::a", "203.0.113.10"],
        }),
      ),
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "DNS compared case-insensitively, trailing dot ignored",
    csr: () => makeServingCsr(forNodeA({ dnsNames: ["NODE-A.example.com."] })),
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "IPv6 in long form equals the node's compressed address",
    csr: () =>
      makeServingCsr(forNodeA({ ipAddresses: ["fd00:0:0:0:0:0:0:A"] })),
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "IPv4-mapped form of the node's own IP (raw SAN bytes)",
    csr: () =>
      csrWithRawSans("node-a", [{ dns: "node-a" }, { ip: MAPPED_NODE_A_IP }]),
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "IP-valued Hostname owns an IP SAN",
    csr: async () => {
      const csr = await makeServingCsr(
        forNodeA({ node: "ip-host", dnsNames: [], ipAddresses: ["10.1.1.1"] }),
      );
      return csr;
    },
    facts: {
      nodes: createNodeFacts([["ip-host", [{
        type: "Hostname",
        address: "10.1.1.1",
      }]]]),
    },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "unowned but unprotected SAN with --verify-node-addresses=false",
    csr: () => makeServingCsr(forNodeA({ dnsNames: ["node-a.evil.example"] })),
    facts: { policy: compiled({ verifyNodeAddresses: false }) },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "another node's IP with --verify-node-addresses=false",
    csr: () => makeServingCsr(forNodeA({ ipAddresses: ["10.0.0.2"] })),
    facts: { policy: compiled({ verifyNodeAddresses: false }) },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "--dns-name-pattern matched (compared lower-case)",
    csr: () =>
      makeServingCsr(forNodeA({ dnsNames: ["node-a", "Node-A.Example.com"] })),
    facts: {
      policy: compiled({ dnsNamePattern: "node-[a-z]+(\\.example\\.com)?" }),
    },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "--allowed-cidrs matched, IPv4 and IPv6",
    csr: () =>
      makeServingCsr(forNodeA({ ipAddresses: ["10.0.0.1", "fd00::a"] })),
    facts: { policy: compiled({ allowedCidrs: ["10.0.0.0/24", "fd00::/64"] }) },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "counts within --max-dns-names and --max-ip-addresses",
    csr: () => makeServingCsr(forNodeA()),
    facts: { policy: compiled({ maxDnsNames: 1, maxIpAddresses: 1 }) },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "expirationSeconds within --max-expiration-seconds",
    csr: () => makeServingCsr(forNodeA({ expirationSeconds: 3600 })),
    facts: { policy: compiled({ maxExpirationSeconds: 86400 }) },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "expirationSeconds unset passes --max-expiration-seconds",
    csr: () => makeServingCsr(forNodeA()),
    facts: { policy: compiled({ maxExpirationSeconds: 86400 }) },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "a name merely containing 'kubernetes' is not protected",
    csr: () =>
      makeServingCsr(
        forNodeA({
          node: "kubernetes-worker",
          dnsNames: ["kubernetes-worker"],
        }),
      ),
    facts: {
      nodes: createNodeFacts([["kubernetes-worker", [
        { type: "Hostname", address: "kubernetes-worker" },
        { type: "InternalIP", address: "10.0.0.1" },
      ]]]),
    },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "no clock: pending-age not checked",
    csr: () => makeServingCsr(forNodeA()),
    facts: { now: undefined },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "--max-pending-age off",
    csr: () => makeServingCsr(forNodeA()),
    facts: {
      policy: compiled({ maxPendingAgeMs: 0 }),
      now: new Date("2026-06-01T00:00:00Z"),
    },
    // The ownership wait is long over, but the SANs are owned: approvable.
    outcome: "approve",
    reason: "AutoApproved",
  },
];

Deno.test("policy: hostile requests fail with their exact reason", async () => {
  for (const c of hostile) {
    const decision = await decide(await c.csr(), c.facts);
    assertEquals(
      [decision.outcome, decision.reason],
      [c.outcome, c.reason],
      `${c.name}: ${decision.message}`,
    );
    if (c.message) assertMatch(decision.message, c.message, c.name);
    // The deciding check is reported with the same reason and message.
    const deciding = decision.checks.find((check) =>
      check.result === "fail" && check.reason === c.reason &&
      check.message === decision.message
    );
    assert(
      deciding,
      `${c.name}: deciding check in ${JSON.stringify(decision.checks)}`,
    );
    assertEquals(decision.retryAt !== undefined, c.outcome === "wait", c.name);
  }
});

Deno.test("policy: the same kind of requests pass where policy allows them", async () => {
  for (const c of allowed) {
    const decision = await decide(await c.csr(), c.facts);
    assertEquals(
      [decision.outcome, decision.reason],
      [c.outcome, c.reason],
      `${c.name}: ${decision.message}`,
    );
    assert(
      decision.checks.every((check) => check.result !== "fail"),
      `${c.name}: no failed check`,
    );
  }
});

Deno.test("policy: every policy rule is reported once, in order", async () => {
  const decision = await decide(await makeServingCsr(forNodeA()));
  const rules = decision.checks.map((c) => c.rule);
  assertEquals(rules.slice(-(SERVING_POLICY_RULES.length + 1)), [
    ...SERVING_POLICY_RULES.map((r) => r.id),
    "authorization",
  ]);
  const byRule = Object.fromEntries(
    decision.checks.map((c) => [c.rule, [c.result, c.message]]),
  );
  assertEquals(byRule["pending-age"], ["pass", "CSR is 1m old, within 1h"]);
  assertEquals(byRule["dns-name-syntax"], ["pass", "every DNS name is valid"]);
  assertEquals(byRule["protected-names"], [
    "pass",
    "no SAN is a protected name or address",
  ]);
  assertEquals(byRule["operator-policy"], [
    "skip",
    "no operator policy configured",
  ]);
  assertEquals(byRule["san-ownership"], [
    "pass",
    'every SAN is an address of node "node-a"',
  ]);
  // An invalid request keeps its own reason; policy results still explain.
  const invalid = await decide(
    await makeServingCsr(
      forNodeA({ usages: ["client auth"], ipAddresses: ["127.0.0.1"] }),
    ),
  );
  assertEquals([invalid.outcome, invalid.reason], ["deny", "UsageMismatch"]);
  assertEquals(
    invalid.checks.find((c) => c.rule === "protected-names")?.reason,
    "ProtectedName",
  );
  assert(!invalid.checks.some((c) => c.rule === "authorization"), "no SAR");
});

Deno.test("policy: a CSR that arrives before its Node's addresses is approved when they appear", async () => {
  const csr = await makeServingCsr(
    forNodeA({ node: "fresh", dnsNames: ["fresh"], ipAddresses: ["10.0.0.7"] }),
  );
  const addresses: NodeAddress[] = [
    { type: "Hostname", address: "fresh" },
    { type: "InternalIP", address: "10.0.0.7" },
  ];
  const steps: Array<[NodeFacts, Date, Outcome, ReasonCode]> = [
    [createNodeFacts([]), SOON, "wait", "NodeNotFound"],
    [createNodeFacts([["fresh", []]]), SOON, "wait", "NodeAddressesUnknown"],
    [
      createNodeFacts([["fresh", addresses.slice(0, 1)]]),
      SOON,
      "wait",
      "SANNotOwnedByNode",
    ],
    [createNodeFacts([["fresh", addresses]]), SOON, "approve", "AutoApproved"],
    // Even after the wait: ownership is what counts, not the clock.
    [createNodeFacts([["fresh", addresses]]), LATER, "approve", "AutoApproved"],
    [createNodeFacts([["fresh", []]]), LATER, "deny", "NodeAddressesUnknown"],
  ];
  for (const [nodes, now, outcome, reason] of steps) {
    const decision = await decide(csr, { nodes, now });
    assertEquals([decision.outcome, decision.reason], [outcome, reason]);
    if (outcome === "wait") {
      assertEquals(decision.retryAt, "2026-01-01T00:15:00.000Z");
      assertEquals(decision.checks.at(-1)?.result, "skip");
    }
  }
});

Deno.test("policy: waits without a clock or creation time", async () => {
  const csr = await makeServingCsr(
    forNodeA({
      node: "ghost",
      dnsNames: ["ghost"],
      ipAddresses: ["10.0.0.50"],
    }),
  );
  const inspection = await inspectServingRequest(csr);
  const noClock = decideServingRequest(inspection, {
    authorization: "unchecked",
    nodes: NODES,
  });
  assertEquals([noClock.outcome, noClock.retryAt], [
    "wait",
    "2026-01-01T00:15:00.000Z",
  ]);
  delete (csr.metadata as Record<string, unknown>).creationTimestamp;
  const unknown = decideServingRequest(await inspectServingRequest(csr), {
    authorization: "unchecked",
    nodes: NODES,
    now: SOON,
  });
  // Without a creation time a wait has no end: decide now.
  assertEquals([unknown.outcome, unknown.reason], ["deny", "NodeNotFound"]);
  assertMatch(unknown.message, /creation time unknown/);
});

Deno.test("policy: the approver's two-pass pattern", async () => {
  const policy = compiled();
  const inspection = await inspectServingRequest(
    await makeServingCsr(forNodeA()),
  );
  const first = decideServingRequest(inspection, {
    authorization: "unchecked",
    policy,
    nodes: NODES,
    now: SOON,
  });
  assertEquals(first.outcome, "approve");
  assertEquals(first.checks.at(-1), {
    rule: "authorization",
    result: "skip",
    message: "not checked (offline)",
  });
  const table: Array<[AuthorizationFact, Outcome, ReasonCode]> = [
    [{ allowed: true }, "approve", "AutoApproved"],
    [{ allowed: false, reason: "no" }, "pending", "Unauthorized"],
    [{ error: "timeout" }, "pending", "AuthorizationError"],
  ];
  for (const [authorization, outcome, reason] of table) {
    const second = decideServingRequest(inspection, {
      authorization,
      policy,
      nodes: NODES,
      now: SOON,
    });
    assertEquals([second.outcome, second.reason], [outcome, reason]);
  }
  // A wait or a policy deny never needs the SubjectAccessReview.
  const waiting = decideServingRequest(
    await inspectServingRequest(
      await makeServingCsr(
        forNodeA({
          node: "ghost",
          dnsNames: ["ghost"],
          ipAddresses: ["10.0.0.50"],
        }),
      ),
    ),
    { authorization: "unchecked", policy, nodes: NODES, now: SOON },
  );
  assertEquals(waiting.outcome, "wait");
  assertEquals(
    waiting.checks.at(-1)?.message,
    "not checked (san-ownership is waiting)",
  );
});

Deno.test("policy: without Node facts ownership is skipped, protection is not", async () => {
  const fine = await decide(
    await makeServingCsr(forNodeA({ dnsNames: ["anything"] })),
    {
      nodes: null,
    },
  );
  assertEquals(fine.outcome, "approve");
  assertEquals(
    fine.checks.find((c) => c.rule === "san-ownership"),
    {
      rule: "san-ownership",
      result: "skip",
      message: "not checked (no Node facts)",
    },
  );
  // The library default (no policy given) still protects.
  const inspection = await inspectServingRequest(
    await makeServingCsr(forNodeA({ dnsNames: ["kubernetes.default"] })),
  );
  const decision = decideServingRequest(inspection, {
    authorization: { allowed: true },
  });
  assertEquals([decision.outcome, decision.reason], ["deny", "ProtectedName"]);
});

Deno.test("policy: a throwing NodeFacts or a non-compiled policy leaves the CSR pending", async () => {
  const inspection = await inspectServingRequest(
    await makeServingCsr(forNodeA()),
  );
  const throwing: NodeFacts = {
    addressesOf() {
      throw new Error("cache exploded");
    },
    ownersOf() {
      return [];
    },
  };
  const broken = decideServingRequest(inspection, {
    authorization: { allowed: true },
    nodes: throwing,
    now: SOON,
  });
  assertEquals([broken.outcome, broken.reason], ["pending", "MalformedObject"]);
  assertMatch(broken.message, /cache exploded/);
  const uncompiled = decideServingRequest(inspection, {
    authorization: { allowed: true },
    policy: defaultServingPolicy() as unknown as CompiledPolicy,
  });
  assertEquals(uncompiled.outcome, "pending");
  assertMatch(uncompiled.message, /not a compiled policy/);
});

Deno.test("policy: compile errors name the flag", () => {
  const table: Array<[Partial<ServingPolicy>, RegExp]> = [
    [
      { dnsNamePattern: "(" },
      /^--dns-name-pattern: "\(" is not a valid regular expression/,
    ],
    [{ dnsNamePattern: "a)|(b" }, /^--dns-name-pattern: /],
    [{ dnsNamePattern: "" }, /^--dns-name-pattern: the pattern is empty$/],
    [
      { allowedCidrs: ["10.0.0.0/33"] },
      /^--allowed-cidrs: "10\.0\.0\.0\/33" is not a CIDR/,
    ],
    [{ allowedCidrs: ["ten"] }, /^--allowed-cidrs: /],
    [{ protectedCidrs: ["fd00::/200"] }, /^--protected-cidrs: /],
    [{ protectedNames: [""] }, /^--protected-names: "" is not a DNS name/],
    [{ apiServiceIps: ["10.96.0.300"] }, /^--api-service-ip: /],
    [{ clusterDomain: "bad domain" }, /^--cluster-domain: /],
    [{ clusterDomain: "" }, /^--cluster-domain: /],
    [{ maxDnsNames: -1 }, /^--max-dns-names: /],
    [{ maxIpAddresses: 1.5 }, /^--max-ip-addresses: /],
    [{ maxExpirationSeconds: 0 }, /^--max-expiration-seconds: /],
    [{ nodeAddressWaitMs: NaN }, /^--node-address-wait: /],
    [{ maxPendingAgeMs: -5 }, /^--max-pending-age: /],
  ];
  for (const [overrides, message] of table) {
    const result = compileServingPolicy({
      ...defaultServingPolicy(),
      ...overrides,
    }, { settingLabel: policySettingFlag });
    assert("errors" in result, JSON.stringify(overrides));
    assertEquals(result.errors.length, 1, JSON.stringify(overrides));
    assertEquals(result.error, result.errors[0]);
    assertMatch(result.error, message);
  }
  const ok = compileServingPolicy({
    ...defaultServingPolicy(),
    dnsNamePattern: "node-\\d+",
    allowedCidrs: ["10.0.0.0/8", "fd00::/8", "192.0.2.1"],
    protectedCidrs: ["192.0.2.0/24"],
    protectedNames: ["API.Example.com."],
    apiServiceIps: ["10.96.0.1", "fd00:96::1"],
  }, { settingLabel: policySettingFlag });
  assert(!("error" in ok), JSON.stringify(ok));
  assertEquals(ok.dnsNamePattern?.source, "^(?:node-\\d+)$");
  assertEquals(
    ok.protectedNames.get("api.example.com"),
    "listed in --protected-names",
  );
});

Deno.test("policy: an address another node also lists is contested, approvable only inside sharedAddressCidrs", async () => {
  const nodes = createNodeFacts([
    ["node-a", NODE_A],
    ["nat-twin", [{ type: "ExternalIP", address: "203.0.113.10" }]],
  ]);
  const csr = await makeServingCsr(forNodeA({ ipAddresses: ["203.0.113.10"] }));
  const contested = await decide(csr, { nodes });
  assertEquals([contested.outcome, contested.reason], ["deny", "SANContested"]);
  assertMatch(contested.message, /"nat-twin"/);
  const shared = await decide(csr, {
    nodes,
    policy: compiled({ sharedAddressCidrs: ["203.0.113.0/24"] }),
  });
  assertEquals(shared.outcome, "approve");
  // A shared range makes no one else's address approvable.
  const other = await decide(
    await makeServingCsr(
      forNodeA({ dnsNames: ["node-a"], ipAddresses: ["203.0.113.11"] }),
    ),
    {
      nodes: createNodeFacts([
        ["node-a", NODE_A],
        ["nat-twin", [{ type: "ExternalIP", address: "203.0.113.11" }]],
      ]),
      policy: compiled({ sharedAddressCidrs: ["203.0.113.0/24"] }),
    },
  );
  assertEquals([other.outcome, other.reason], ["deny", "SANNotOwnedByNode"]);
});

Deno.test("policy: pending age and durations", () => {
  const policy = compiled({ maxPendingAgeMs: 60_000 });
  const table: Array<
    [string | undefined, Date | undefined, "pass" | "fail" | "skip"]
  > = [
    [CREATED, new Date("2026-01-01T00:00:59Z"), "pass"],
    [CREATED, new Date("2026-01-01T00:01:01Z"), "fail"],
    // Clock skew: a CSR "from the future" is not old.
    [CREATED, new Date("2025-12-31T23:00:00Z"), "pass"],
    [undefined, SOON, "skip"],
    ["yesterday", SOON, "skip"],
    [CREATED, undefined, "skip"],
  ];
  for (const [createdAt, now, result] of table) {
    assertEquals(
      checkPendingAge(policy, { createdAt, now }).check.result,
      result,
      `${createdAt} at ${now?.toISOString()}`,
    );
  }
  const durations: Array<[number, string]> = [
    [0, "0ms"],
    [250, "250ms"],
    [1000, "1s"],
    [90_000, "1m30s"],
    [3_600_000, "1h"],
    [3_661_000, "1h1m1s"],
  ];
  for (const [ms, text] of durations) assertEquals(formatDuration(ms), text);
});

Deno.test("protected-names: loopback aliases and IPv4 in loose notation are never approved", () => {
  const policy = compileServingPolicy(defaultServingPolicy());
  if ("error" in policy) throw new Error(policy.error);
  for (
    const name of [
      "localhost.localdomain",
      "ip6-localhost",
      "IP6-LOOPBACK.",
      "127.1",
      "127.000.000.001",
      "0177.0.0.1",
      "2130706433",
      "0x7f.1",
      "node.0x7f",
    ]
  ) {
    const result = checkProtectedNames(policy, {
      dnsNames: [name],
      ipAddresses: [],
    });
    assertEquals(result.effect, "deny", name);
    assertEquals(result.check.reason, "ProtectedName", name);
  }
  for (
    const name of ["node-1", "node-1.example.com", "10-0-0-1.nip.example", "n1"]
  ) {
    const result = checkProtectedNames(policy, {
      dnsNames: [name],
      ipAddresses: [],
    });
    assertEquals(result.effect, "none", name);
  }
});
