/**
 * fast-check arbitraries of Kubernetes worlds for the decision core's
 * property tests: a random Node (DNS-1123 name, random `status.addresses` in
 * every form the kubelet reads) plus other Nodes, the CSR a genuine kubelet
 * sends for it (SANs as `addressesToHostnamesAndIPs` in
 * `pkg/kubelet/certificate/kubelet.go` derives them), and
 * {@linkcode Mutation}s of either that may or may not break a rule.
 *
 * Request-level arbitraries (hostile objects, byte-mutated, re-signed and
 * crafted requests) live in `request_arbitraries.ts`.
 *
 * Every arbitrary yields plain data, so a counterexample printed by
 * fast-check can be pasted back into a test.
 *
 * @module
 */
import fc from "fast-check";
import type * as x509 from "../../src/x509.ts";
import type { NodeAddress } from "../../src/core/node_facts.ts";
import type { CertificateSigningRequest } from "../../src/core/types.ts";
import {
  type KeyType,
  kubeletUsages,
  makeServingCsr,
  type ServingCsrOptions,
} from "./csr_factory.ts";
import {
  canonicalDns,
  ipKey,
  isProtectedDnsName,
  isProtectedIp,
  type OracleNode,
  parseIpText,
} from "./decision_oracle.ts";

/** The API server's Service IPs the property tests protect. */
export const API_SERVICE_IPS: readonly string[] = [
  "10.96.0.1",
  "fd00:10:96::1",
];

// ---------------------------------------------------------------------------
// Addresses and Nodes

/** What the kubelet makes of one Node address: a DNS SAN, an IP SAN, or nothing. */
export type SanOf =
  | { kind: "dns"; name: string }
  | { kind: "ip"; bytes: number[] };

/** One `status.addresses` entry and the SAN it yields (generator knowledge). */
export interface AddressSpec extends NodeAddress {
  /** The SAN the kubelet derives from it; absent when it yields none. */
  san?: SanOf;
}

/** A Node: its name and addresses. */
export interface NodeSpec {
  name: string;
  addresses: AddressSpec[];
}

/** Key types a kubelet may use that the approver must accept. */
export type ValidKeyType = "ecdsa-p256" | "ecdsa-p384" | "ed25519" | "rsa-2048";

/** A random Node, its neighbours, and the kubelet's CSR parameters. */
export interface World {
  node: NodeSpec;
  others: NodeSpec[];
  key: ValidKeyType;
  /** Rotation applied to the kubelet's usage list (order is not meaningful). */
  usageRotation: number;
  /** Whether the two groups are listed in reverse order. */
  groupsReversed: boolean;
  /** The clock, ISO 8601. */
  now: string;
  /** `metadata.creationTimestamp`, ISO 8601 with second precision. */
  createdAt: string;
}

function ipv4Text(bytes: readonly number[], variant: number): string {
  const plain = bytes.join(".");
  switch (variant % 3) {
    case 1: // Go's ParseIPSloppy reads leading zeros as decimal; so must we.
      return bytes.map((b, i) => (i % 2 ? String(b).padStart(3, "0") : b))
        .join(".");
    case 2: // IPv4-mapped text: the kubelet still sends a 4-byte IP SAN.
      return `::ffff:${plain}`;
    default:
      return plain;
  }
}

/**
 * RFC 5952 text of 16 address bytes (via the WHATWG URL serialiser).
 *
 * @example
 * ```ts
 * import { ipv6Compressed } from "./arbitraries.ts";
 * ipv6Compressed([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]); // "2001:db8::1"
 * ```
 */
export function ipv6Compressed(bytes: readonly number[]): string {
  const full = [];
  for (let i = 0; i < 16; i += 2) {
    full.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  }
  return new URL(`http://[${full.join(":")}]/`).hostname.slice(1, -1);
}

function ipv6Text(bytes: readonly number[], variant: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  }
  switch (variant % 4) {
    case 1:
      return ipv6Compressed(bytes).toUpperCase();
    case 2:
      return groups.map((g) => g.padStart(4, "0")).join(":");
    case 3:
      return groups.join(":");
    default:
      return ipv6Compressed(bytes);
  }
}

/** SAN text of address bytes, as the factory takes it. */
function ipSanText(bytes: readonly number[]): string {
  return bytes.length === 4 ? bytes.join(".") : ipv6Compressed(bytes);
}

/**
 * A DNS-1123 label starting with a letter (so no name reads as an IP).
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { dnsLabel } from "./arbitraries.ts";
 * fc.sample(dnsLabel, 3);
 * ```
 */
export const dnsLabel: fc.Arbitrary<string> = fc.stringMatching(
  /^[a-z]([a-z0-9-]{0,12}[a-z0-9])?$/,
);

/**
 * A DNS-1123 subdomain that is not a protected name (a valid Node name).
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { dnsName } from "./arbitraries.ts";
 * fc.sample(dnsName, 3);
 * ```
 */
export const dnsName: fc.Arbitrary<string> = fc
  .array(dnsLabel, { minLength: 1, maxLength: 4 })
  .map((labels) => labels.join("."))
  .filter((name) => !isProtectedDnsName(name, API_SERVICE_IPS));

/**
 * Four bytes of an IPv4 address a node may own (nothing protected).
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { ipv4Bytes } from "./arbitraries.ts";
 * fc.sample(ipv4Bytes, 1); // e.g. [[10, 3, 7, 200]]
 * ```
 */
export const ipv4Bytes: fc.Arbitrary<number[]> = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 })
  .filter((bytes) => !isProtectedIp(bytes, API_SERVICE_IPS));

/**
 * Sixteen bytes of an IPv6 address a node may own: nothing protected, and
 * nothing in `::/80` (so no IPv4-mapped or -compatible forms, which the
 * x509 library cannot encode faithfully). Zero groups are frequent so that
 * `::` compression is exercised.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { ipv6Bytes } from "./arbitraries.ts";
 * fc.sample(ipv6Bytes, 1);
 * ```
 */
export const ipv6Bytes: fc.Arbitrary<number[]> = fc
  .array(
    fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
    { minLength: 8, maxLength: 8 },
  )
  .map((groups) => groups.flatMap((g) => [g >> 8, g & 0xff]))
  .filter((bytes) =>
    bytes.slice(0, 10).some((b) => b !== 0) &&
    !isProtectedIp(bytes, API_SERVICE_IPS)
  );

const variant = fc.nat({ max: 11 });

function caseVariant(name: string, mask: number, dot: boolean): string {
  const cased = [...name].map((c, i) =>
    (mask >> (i % 8)) & 1 ? c.toUpperCase() : c
  ).join("");
  return dot ? `${cased}.` : cased;
}

/**
 * One `status.addresses` entry of the Node `nodeName`, in any form the
 * kubelet reads, with the SAN it yields.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { nodeAddress } from "./arbitraries.ts";
 * fc.sample(nodeAddress("worker-1"), 3);
 * ```
 */
export function nodeAddress(nodeName: string): fc.Arbitrary<AddressSpec> {
  const ip = (type: string, bytes: fc.Arbitrary<number[]>) =>
    fc.tuple(bytes, variant).map(([b, v]): AddressSpec => ({
      type,
      address: b.length === 4 ? ipv4Text(b, v) : ipv6Text(b, v),
      san: { kind: "ip", bytes: b },
    }));
  const dns = (type: string, name: fc.Arbitrary<string>) =>
    fc.tuple(name, fc.nat({ max: 255 }), fc.nat({ max: 7 })).map(
      ([n, mask, dot]): AddressSpec => {
        // Mostly lower-case as real Nodes are; sometimes mixed case or a
        // trailing dot, which the approver compares case-insensitively.
        const address = dot === 0 ? caseVariant(n, mask, mask % 3 === 0) : n;
        return { type, address, san: { kind: "dns", name: address } };
      },
    );
  const noSan: AddressSpec[] = [
    { type: "InternalIP", address: "not-an-ip" },
    { type: "ExternalIP", address: "" },
    { type: "InternalDNS", address: "" },
    { type: "LoopbackAddress", address: "127.0.0.1" },
    { type: "", address: "10.96.0.1" },
  ];
  return fc.oneof(
    { arbitrary: dns("Hostname", fc.constant(nodeName)), weight: 4 },
    { arbitrary: dns("Hostname", dnsName), weight: 1 },
    { arbitrary: ip("Hostname", ipv4Bytes), weight: 1 },
    { arbitrary: ip("Hostname", ipv6Bytes), weight: 1 },
    { arbitrary: ip("InternalIP", ipv4Bytes), weight: 4 },
    { arbitrary: ip("ExternalIP", ipv4Bytes), weight: 2 },
    { arbitrary: ip("InternalIP", ipv6Bytes), weight: 2 },
    { arbitrary: ip("ExternalIP", ipv6Bytes), weight: 1 },
    { arbitrary: dns("InternalDNS", dnsName), weight: 2 },
    { arbitrary: dns("ExternalDNS", dnsName), weight: 2 },
    { arbitrary: fc.constantFrom(...noSan), weight: 1 },
    {
      // A DNS-typed address spelled as an IP stays a DNS SAN for the kubelet.
      // (Only IPv4: IPv6 text has colons, never a valid DNS name, so the
      // approver refuses such a SAN with InvalidDNSName.)
      arbitrary: dns("InternalDNS", ipv4Bytes.map((b) => ipSanText(b))),
      weight: 1,
    },
  );
}

function keyOf(san: SanOf): string {
  return san.kind === "dns"
    ? `dns:${canonicalDns(san.name)}`
    : `ip:${ipKey(san.bytes)}`;
}

function keysOf(node: NodeSpec): Set<string> {
  return new Set(node.addresses.flatMap((a) => a.san ? [keyOf(a.san)] : []));
}

/**
 * A Node with at least one SAN-yielding address; sometimes an address is
 * listed twice in another form (the kubelet de-duplicates).
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { nodeSpec } from "./arbitraries.ts";
 * fc.sample(nodeSpec, 1);
 * ```
 */
export const nodeSpec: fc.Arbitrary<NodeSpec> = dnsName.chain((name) =>
  fc.tuple(
    fc.array(nodeAddress(name), { minLength: 1, maxLength: 6 }),
    fc.option(fc.tuple(fc.nat(), fc.nat({ max: 11 })), { freq: 4 }),
  ).map(([addresses, dup]) => {
    const list = [...addresses];
    if (dup) {
      const source = list[dup[0] % list.length];
      if (source.san?.kind === "ip") {
        const b = source.san.bytes;
        list.push({
          type: source.type === "InternalIP" ? "ExternalIP" : "InternalIP",
          address: b.length === 4 ? ipv4Text(b, dup[1]) : ipv6Text(b, dup[1]),
          san: source.san,
        });
      } else if (source.san) list.push({ ...source, type: "InternalDNS" });
    }
    return { name, addresses: list };
  })
).filter((node) => node.addresses.some((a) => a.san !== undefined));

const BASE_TIME = Date.parse("2026-01-01T00:00:00Z");

/**
 * A random Node with the kubelet's CSR parameters, plus up to three other
 * Nodes whose addresses never overlap the first one's.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { world } from "./arbitraries.ts";
 * fc.sample(world, 1);
 * ```
 */
export const world: fc.Arbitrary<World> = fc.record({
  node: nodeSpec,
  others: fc.uniqueArray(nodeSpec, {
    maxLength: 3,
    selector: (n) => n.name,
  }),
  key: fc.constantFrom<ValidKeyType>(
    "ecdsa-p256",
    "ecdsa-p384",
    "ed25519",
    "rsa-2048",
  ),
  usageRotation: fc.nat({ max: 2 }),
  groupsReversed: fc.boolean(),
  nowOffset: fc.integer({ min: 0, max: 3 * 365 * 86_400 }),
  age: fc.integer({ min: 0, max: 59 * 60 }),
}).map(({ node, others, nowOffset, age, ...rest }) => {
  const own = keysOf(node);
  const now = BASE_TIME + nowOffset * 1000;
  return {
    ...rest,
    node,
    // Neighbours never share the node's name or addresses in a valid world.
    others: others.filter((o) => o.name !== node.name).map((o) => ({
      name: o.name,
      addresses: o.addresses.filter((a) => !a.san || !own.has(keyOf(a.san))),
    })),
    now: new Date(now).toISOString(),
    createdAt: new Date(now - age * 1000).toISOString().replace(
      /\.\d{3}Z$/,
      "Z",
    ),
  };
});

/**
 * The SANs a kubelet requests for these addresses, as
 * `addressesToHostnamesAndIPs` computes them: `Hostname` is an IP when it
 * parses as one, else a DNS name; `InternalIP`/`ExternalIP` give IPs;
 * `InternalDNS`/`ExternalDNS` give DNS names; empty values and other types
 * give nothing. DNS names are de-duplicated exactly (not case-folded) and
 * sorted; IPs are de-duplicated and sorted by their 16-byte form.
 *
 * @example
 * ```ts
 * import { kubeletSans } from "./arbitraries.ts";
 * kubeletSans([{ type: "InternalIP", address: "10.0.0.1", san: { kind: "ip", bytes: [10, 0, 0, 1] } }]);
 * // { dnsNames: [], ipAddresses: ["10.0.0.1"] }
 * ```
 */
export function kubeletSans(
  addresses: readonly AddressSpec[],
): { dnsNames: string[]; ipAddresses: string[] } {
  const dns = new Set<string>();
  const ips = new Map<string, number[]>();
  for (const { san } of addresses) {
    if (san?.kind === "dns") dns.add(san.name);
    if (san?.kind === "ip") {
      const sixteen = san.bytes.length === 4
        ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...san.bytes]
        : san.bytes;
      ips.set(ipKey(san.bytes), sixteen);
    }
  }
  const compare = (a: number[], b: number[]) => {
    for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return 0;
  };
  const sorted = [...ips.values()].sort(compare).map((b) =>
    ipSanText(
      b.slice(0, 12).join() === "0,0,0,0,0,0,0,0,0,0,255,255" ? b.slice(12) : b,
    )
  );
  return { dnsNames: [...dns].sort(), ipAddresses: sorted };
}

/**
 * The oracle's view of Nodes: the SAN keys each one owns.
 *
 * @example
 * ```ts
 * import { oracleNodes } from "./arbitraries.ts";
 * oracleNodes([{ name: "a", addresses: [{ type: "Hostname", address: "A", san: { kind: "dns", name: "A" } }] }]);
 * // [{ name: "a", dns: ["a"], ips: [] }]
 * ```
 */
export function oracleNodes(nodes: readonly NodeSpec[]): OracleNode[] {
  return nodes.map((node) => ({
    name: node.name,
    dns: node.addresses.flatMap((a) =>
      a.san?.kind === "dns" ? [canonicalDns(a.san.name)] : []
    ),
    ips: node.addresses.flatMap((a) =>
      a.san?.kind === "ip" ? [ipKey(a.san.bytes)] : []
    ),
  }));
}

/**
 * Node entries for `createNodeFacts` (generator knowledge stripped).
 *
 * @example
 * ```ts
 * import { createNodeFacts } from "../../src/core/node_facts.ts";
 * import { nodeEntries } from "./arbitraries.ts";
 * const facts = createNodeFacts(nodeEntries([]));
 * ```
 */
export function nodeEntries(
  nodes: readonly NodeSpec[],
): Array<[string, NodeAddress[]]> {
  return nodes.map((n) => [
    n.name,
    n.addresses.map(({ type, address }) => ({ type, address })),
  ]);
}

function rotate<T>(list: readonly T[], by: number): T[] {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/**
 * Factory options for exactly the CSR a genuine kubelet sends for `w`.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { kubeletCsrOptions, world } from "./arbitraries.ts";
 * const [w] = fc.sample(world, 1);
 * const options = kubeletCsrOptions(w);
 * ```
 */
export function kubeletCsrOptions(w: World): ServingCsrOptions {
  const groups = ["system:nodes", "system:authenticated"];
  return {
    key: w.key,
    node: w.node.name,
    ...kubeletSans(w.node.addresses),
    usages: rotate(kubeletUsages(w.key), w.usageRotation),
    groups: w.groupsReversed ? groups.reverse() : groups,
    creationTimestamp: w.createdAt,
  };
}

// ---------------------------------------------------------------------------
// Mutations of a valid world

/** Stands for "remove this field" in a {@linkcode Mutation}. */
export const ABSENT = "<absent>";

/**
 * Operator policy flags on top of the defaults (the `ServingPolicy` fields
 * the operator sets); absent fields keep their defaults.
 */
export interface PolicySpec {
  dnsNamePattern?: string;
  allowedCidrs?: string[];
  maxDnsNames?: number;
  maxIpAddresses?: number;
  maxExpirationSeconds?: number;
  verifyNodeAddresses?: boolean;
  protectedNames?: string[];
  protectedCidrs?: string[];
}

/**
 * One change to a valid world. Some break a rule, some do not (e.g. a
 * shuffled usage list, an uppercase DNS SAN, a SAN subset); the oracle,
 * not the mutation, says which.
 */
export type Mutation =
  | { kind: "username"; value: unknown }
  | { kind: "groups"; value: unknown }
  | { kind: "usages"; value: unknown }
  | { kind: "signer"; value: unknown }
  | { kind: "condition"; type: string }
  | { kind: "certificate"; value: unknown }
  | { kind: "deleting" }
  | { kind: "created"; value: string }
  /** `spec.expirationSeconds`, and `--max-expiration-seconds` when `max` is set. */
  | { kind: "expiration"; value: unknown; max?: number }
  | { kind: "metadataName"; value: unknown }
  | { kind: "junk"; path: "metadata" | "spec" | "status"; value: unknown }
  /** The node lists `address` among its own and requests `request`. */
  | { kind: "claim"; address: AddressSpec; request: SanOf }
  | { kind: "addDns"; name: string }
  | { kind: "addIp"; ip: string }
  /** Keep DNS SAN i when bit i%4 is set, IP SAN i when bit 4+i%4 is. */
  | { kind: "keepSans"; mask: number }
  | { kind: "otherSan"; san: "email" | "uri" | "upn" | "id" }
  | { kind: "organizations"; value: string[] }
  | { kind: "commonName"; value: string }
  | { kind: "twoCommonNames" }
  | { kind: "cnFirst" }
  | { kind: "key"; key: KeyType }
  | { kind: "tamper" }
  /** CN and username both name another node; SANs stay this node's. */
  | { kind: "impersonate"; who: string }
  | { kind: "nodeMissing" }
  | { kind: "nodeWithoutAddresses" }
  | { kind: "dropAddress"; index: number }
  | { kind: "shareAddress"; index: number }
  | { kind: "moveAddress"; index: number }
  | { kind: "policy"; spec: PolicySpec };

const PROTECTED_DNS = [
  "kubernetes",
  "kubernetes.default",
  "KUBERNETES.default.svc.",
  "kubernetes.default.svc.cluster.local",
  "localhost",
  "LocalHost.",
  "api.localhost",
  "*",
  "my-svc.my-ns.svc",
  "my-svc.my-ns.svc.cluster.local",
  "127.0.0.1",
  "10.96.0.1",
  "::1",
];

const PROTECTED_IPS = [
  "127.0.0.1",
  "127.8.9.10",
  "::1",
  "0.0.0.0",
  "0.1.2.3",
  "::",
  "169.254.169.254",
  "169.254.0.1",
  "fe80::1",
  "febf::1",
  "ff02::1",
  "224.0.0.251",
  "239.255.255.250",
  "255.255.255.255",
  "10.96.0.1",
  "fd00:10:96::1",
  "::a00:1",
];

function sanTexts(node: NodeSpec): { dns: string[]; ips: string[] } {
  const sans = kubeletSans(node.addresses);
  return { dns: sans.dnsNames, ips: sans.ipAddresses };
}

function cidrAround(bytes: readonly number[], prefix: number): string {
  const masked = bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  return `${ipSanText(masked)}/${prefix}`;
}

/** For each operator flag, the values worth trying. */
export type PolicyOptions = {
  [K in keyof PolicySpec]-?: Array<NonNullable<PolicySpec[K]>>;
};

/**
 * Values worth trying for each operator flag in world `w`: values the
 * node's own SANs satisfy and values they violate, boundaries included (a
 * count equal to and one below the SAN count, a CIDR around the node's IP
 * and one elsewhere, a pattern of its names and one they miss).
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { policyOptions, world } from "./arbitraries.ts";
 * const [w] = fc.sample(world, 1);
 * policyOptions(w).maxDnsNames;
 * ```
 */
export function policyOptions(w: World): PolicyOptions {
  const own = kubeletSans(w.node.addresses);
  const ips = w.node.addresses.flatMap((a) =>
    a.san?.kind === "ip" ? [a.san.bytes] : []
  );
  const names = [...new Set(own.dnsNames.map(canonicalDns))];
  const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const counts = (n: number) =>
    [...new Set([0, n - 1, n, 4])].filter((c) => c >= 0);
  return {
    dnsNamePattern: [
      "[a-z0-9.-]+",
      "[a-z0-9]([a-z0-9-]*[a-z0-9])?",
      ".*\\.example\\.com",
      ...names.slice(0, 2).map(escape),
      names.map(escape).join("|") || "x",
    ],
    allowedCidrs: [
      [],
      ["192.0.2.0/24"],
      ["2001:db8::/32", "198.51.100.0/24"],
      ...ips.slice(0, 3).flatMap((b) =>
        (b.length === 4 ? [8, 24, 32] : [16, 64, 128]).map((p) => [
          cidrAround(b, p),
        ])
      ),
      ips.map((b) => cidrAround(b, b.length === 4 ? 16 : 64)),
    ],
    maxDnsNames: counts(own.dnsNames.length),
    maxIpAddresses: counts(own.ipAddresses.length),
    maxExpirationSeconds: [600, 3600, 86_400 * 365],
    verifyNodeAddresses: [false],
    protectedNames: [
      ["api.example.com"],
      ...own.dnsNames.slice(0, 2).map((d) => [`${d.toUpperCase()}.`]),
    ],
    protectedCidrs: [
      ["192.0.2.0/24"],
      ...ips.slice(0, 2).map((b) => [
        cidrAround(b, b.length === 4 ? 24 : 64),
      ]),
      ...ips.slice(0, 2).map((b) => [ipSanText(b)]),
    ],
  };
}

/**
 * Every mutation worth trying on `w`, grouped by kind. The random property
 * draws from it; the CI test applies each entry alone, so a rule that only
 * one specific value exercises is exercised on every run.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { mutationCatalog, world } from "./arbitraries.ts";
 * const [w] = fc.sample(world, 1);
 * mutationCatalog(w).flat().length; // a few hundred
 * ```
 */
export function mutationCatalog(w: World): Mutation[][] {
  const own = sanTexts(w.node);
  const foreign = w.others.map(sanTexts);
  const other = w.others[0]?.name ?? "ghost-node";
  const name = w.node.name;
  const now = Date.parse(w.now);
  const at = (offsetMs: number) => new Date(now + offsetMs).toISOString();
  const dnsClaim = (type: string, address: string): Mutation => ({
    kind: "claim",
    address: { type, address, san: { kind: "dns", name: address } },
    request: { kind: "dns", name: address },
  });
  const ipClaim = (type: string, address: string): Mutation => {
    const bytes = Array.from(parseIpText(address)!);
    return {
      kind: "claim",
      address: { type, address, san: { kind: "ip", bytes } },
      request: { kind: "ip", bytes },
    };
  };
  // Addresses the kubelet ignores (no SAN), requested anyway.
  const sneak = (type: string, address: string, request: SanOf): Mutation => ({
    kind: "claim",
    address: { type, address },
    request,
  });
  const indices = w.node.addresses.map((_, i) => i);
  const options = policyOptions(w);
  const policies = (Object.keys(options) as Array<keyof PolicySpec>).flatMap(
    (key) =>
      (options[key] as unknown[]).map((value): Mutation => ({
        kind: "policy",
        spec: { [key]: value },
      })),
  );
  const usages: unknown[] = [
    ["digital signature", "key encipherment", "server auth"],
    ["server auth", "digital signature"],
    ["digital signature", "key encipherment", "server auth", "client auth"],
    ["digital signature", "server auth", "server auth"],
    ["digital signature", "client auth"],
    ["key encipherment", "server auth"],
    ["server auth"],
    [],
    "server auth",
    ABSENT,
    [1, 2],
  ];
  const expirations: Array<[unknown, number?]> = [
    [3600],
    [86_400 * 365],
    [1.5],
    ["3600"],
    [null],
    [ABSENT],
    [3600, 3600],
    [3601, 3600],
    [600, 600],
    [601, 600],
    [ABSENT, 600],
  ];
  const catalog: Mutation[][] = [
    [
      `system:node:${other}`,
      `system:node:${name.toUpperCase()}`,
      "system:node:",
      "system:serviceaccount:kube-system:node-controller",
      "",
      ABSENT,
      42,
    ].map((value) => ({ kind: "username", value })),
    [
      ["system:authenticated"],
      [],
      ["system:nodes", "system:masters"],
      ["system:nodes"],
      ["System:Nodes"],
      "system:nodes",
      ["system:nodes", 7],
      ABSENT,
    ].map((value) => ({ kind: "groups", value })),
    usages.map((value) => ({ kind: "usages", value })),
    [
      "kubernetes.io/kube-apiserver-client-kubelet",
      "kubernetes.io/kubelet-serving ",
      "example.com/serving",
      ABSENT,
    ].map((value) => ({ kind: "signer", value })),
    ["Approved", "Denied", "Failed", "Pending", "approved"].map((type) => ({
      kind: "condition",
      type,
    })),
    ["", null, "LS0tLS1CRUdJTg==", 0].map((value) => ({
      kind: "certificate",
      value,
    })),
    [{ kind: "deleting" }],
    [
      at(-2 * 3600_000),
      at(-3600_000 - 1000),
      at(-3600_000),
      at(10 * 60_000),
      "not a time",
    ].map((value) => ({ kind: "created", value })),
    expirations.map(([value, max]) =>
      max === undefined
        ? { kind: "expiration", value }
        : { kind: "expiration", value, max }
    ),
    ["", ABSENT, 7].map((value) => ({ kind: "metadataName", value })),
    [
      { kind: "junk", path: "metadata", value: { labels: { a: "b" } } },
      { kind: "junk", path: "spec", value: [1, "x"] },
      { kind: "junk", path: "status", value: null },
    ],
    [
      ...PROTECTED_DNS.map((d) => dnsClaim("InternalDNS", d)),
      ...PROTECTED_IPS.map((ip) => ipClaim("InternalIP", ip)),
      dnsClaim("Hostname", "localhost"),
      dnsClaim("ExternalDNS", `*.${name}`),
      ipClaim("Hostname", "127.0.0.1"),
      sneak("ExternalHostname", "sneaky.example", {
        kind: "dns",
        name: "sneaky.example",
      }),
      sneak("InternalIP", "sneaky.example", {
        kind: "dns",
        name: "sneaky.example",
      }),
      sneak("InternalDNS", "192.0.2.9", { kind: "ip", bytes: [192, 0, 2, 9] }),
      sneak("", "192.0.2.9", { kind: "ip", bytes: [192, 0, 2, 9] }),
    ],
    [
      ...own.dns.flatMap((d) => [d.toUpperCase(), `${d}.`, d]),
      ...foreign.flatMap((f) => f.dns),
      ...PROTECTED_DNS,
      `${name}.evil.example`,
      `evil-${name}`,
      `*.${name}`,
    ].map((n) => ({ kind: "addDns", name: n })),
    [
      ...own.ips,
      ...foreign.flatMap((f) => f.ips),
      ...PROTECTED_IPS,
      "192.0.2.77",
      "2001:db8::dead:beef",
    ].map((ip) => ({ kind: "addIp", ip })),
    [0, 0x01, 0x02, 0x10, 0x20, 0x0f, 0xf0, 0x55, 0xaa].map((mask) => ({
      kind: "keepSans",
      mask,
    })),
    (["email", "uri", "upn", "id"] as const).map((san) => ({
      kind: "otherSan",
      san,
    })),
    [
      [],
      ["system:nodes", "system:masters"],
      ["system:masters"],
      ["System:Nodes"],
      ["system:nodes", "system:nodes"],
    ].map((value) => ({ kind: "organizations", value })),
    [
      "system:node:",
      `system:node:${other}`,
      `node:${name}`,
      `system:node:${name.toUpperCase()}`,
      `system:node:${name}\u202e`,
      `system:node:${name} `,
    ].map((value) => ({ kind: "commonName", value })),
    [{ kind: "twoCommonNames" }, { kind: "cnFirst" }, { kind: "tamper" }],
    ([
      "rsa-1024",
      "ecdsa-p521",
      "rsa-pss-2048",
      "ed25519",
      "ecdsa-p256",
    ] as const)
      .map((key) => ({ kind: "key", key })),
    [other, "ghost-node"].map((who) => ({ kind: "impersonate", who })),
    [{ kind: "nodeMissing" }, { kind: "nodeWithoutAddresses" }],
    indices.map((index) => ({ kind: "dropAddress", index })),
    indices.map((index) => ({ kind: "shareAddress", index })),
    indices.map((index) => ({ kind: "moveAddress", index })),
    policies,
  ];
  return catalog.filter((group) => group.length > 0);
}

/**
 * One mutation of `w`: a kind uniformly, then one of its catalog entries.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { mutation, world } from "./arbitraries.ts";
 * const [w] = fc.sample(world, 1);
 * fc.sample(mutation(w), 3);
 * ```
 */
export function mutation(w: World): fc.Arbitrary<Mutation> {
  return fc.oneof(
    ...mutationCatalog(w).map((choices) => fc.constantFrom(...choices)),
  );
}

function rarely<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 4 },
    { arbitrary, weight: 1 },
  );
}

/**
 * Operator policy for `w`: each flag unset in most cases, otherwise one of
 * {@linkcode policyOptions}.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { policySpec, world } from "./arbitraries.ts";
 * const [w] = fc.sample(world, 1);
 * fc.sample(policySpec(w), 3);
 * ```
 */
export function policySpec(w: World): fc.Arbitrary<PolicySpec> {
  const model = Object.fromEntries(
    Object.entries(policyOptions(w)).map(([key, values]) => [
      key,
      rarely(fc.constantFrom(...(values as unknown[]))),
    ]),
  );
  return fc.record(model).map((spec) =>
    Object.fromEntries(
      Object.entries(spec).filter(([, v]) => v !== undefined),
    ) as PolicySpec
  );
}

/**
 * A valid world, 0 to 3 mutations of it (none in about a quarter of the
 * cases, so approvals stay frequent), and the operator policy it is judged
 * under (defaults in about half of the cases).
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { mutatedWorld } from "./arbitraries.ts";
 * fc.sample(mutatedWorld, 1);
 * ```
 */
export const mutatedWorld: fc.Arbitrary<
  { world: World; mutations: Mutation[]; policy: PolicySpec }
> = world.chain((w) =>
  fc.record({
    world: fc.constant(w),
    mutations: fc.oneof(
      { arbitrary: fc.constant<Mutation[]>([]), weight: 1 },
      {
        arbitrary: fc.array(mutation(w), { minLength: 1, maxLength: 3 }),
        weight: 3,
      },
    ),
    policy: fc.oneof(fc.constant<PolicySpec>({}), policySpec(w)),
  })
);

/** A CSR object and the Nodes, clock and policy it is decided against. */
export interface BuiltCase {
  csr: unknown;
  nodes: NodeSpec[];
  now: Date;
  /** The base policy with the mutations' policy changes applied. */
  policy: PolicySpec;
}

// Signing dominates the cost of a case, and most mutations leave the signed
// request alone: reuse it (per options) and hand out copies.
const signed = new Map<string, Promise<CertificateSigningRequest>>();

async function signedCsr(
  options: ServingCsrOptions,
): Promise<CertificateSigningRequest> {
  const key = JSON.stringify(options);
  let csr = signed.get(key);
  if (!csr) {
    if (signed.size > 1000) signed.clear();
    csr = makeServingCsr(options);
    signed.set(key, csr);
  }
  return structuredClone(await csr);
}

function setField(
  target: Record<string, unknown>,
  key: string,
  value: unknown,
): void {
  if (value === ABSENT) delete target[key];
  else target[key] = value;
}

/**
 * Builds the CSR object (a real signed request) and Node list for a world
 * with its mutations applied.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { buildCase, world } from "./arbitraries.ts";
 * const [w] = fc.sample(world, 1);
 * const { csr, nodes, now } = await buildCase(w, []);
 * ```
 */
export async function buildCase(
  w: World,
  mutations: readonly Mutation[] = [],
  basePolicy: PolicySpec = {},
): Promise<BuiltCase> {
  const options: ServingCsrOptions = kubeletCsrOptions(w);
  let policy: PolicySpec = { ...basePolicy };
  const nodes: NodeSpec[] = structuredClone([w.node, ...w.others]);
  const main = nodes[0];
  const neighbour = (): NodeSpec => {
    if (nodes.length < 2) {
      nodes.push({ name: `${w.node.name}-neighbour`, addresses: [] });
    }
    return nodes[1];
  };
  let organizations = ["system:nodes"];
  let commonName = `system:node:${w.node.name}`;
  let subjectShape: "normal" | "two-cns" | "cn-first" = "normal";
  for (const m of mutations) {
    switch (m.kind) {
      case "claim":
        main.addresses.push(structuredClone(m.address));
        if (m.request.kind === "dns") {
          options.dnsNames = [...options.dnsNames!, m.request.name];
        } else {
          options.ipAddresses = [
            ...options.ipAddresses!,
            ipSanText(m.request.bytes),
          ];
        }
        break;
      case "policy":
        policy = { ...policy, ...m.spec };
        break;
      case "expiration":
        if (m.max !== undefined) {
          policy = { ...policy, maxExpirationSeconds: m.max };
        }
        break;
      case "addDns":
        options.dnsNames = [...options.dnsNames!, m.name];
        break;
      case "addIp":
        options.ipAddresses = [...options.ipAddresses!, m.ip];
        break;
      case "keepSans":
        options.dnsNames = options.dnsNames!.filter((_, i) =>
          (m.mask >> (i % 4)) & 1
        );
        options.ipAddresses = options.ipAddresses!.filter((_, i) =>
          (m.mask >> (4 + i % 4)) & 1
        );
        break;
      case "otherSan":
        if (m.san === "email") options.emails = ["admin@example.com"];
        if (m.san === "uri") options.uris = ["spiffe://cluster/ns/a/sa/b"];
        if (m.san === "upn") {
          options.otherSans = [{ type: "upn", value: "node@example.com" }];
        }
        if (m.san === "id") {
          options.otherSans = [{ type: "id", value: "1.2.3.4" }];
        }
        break;
      case "organizations":
        organizations = m.value;
        break;
      case "commonName":
        commonName = m.value;
        break;
      case "twoCommonNames":
        subjectShape = "two-cns";
        break;
      case "cnFirst":
        subjectShape = "cn-first";
        break;
      case "key":
        options.key = m.key;
        break;
      case "tamper":
        options.tamper = true;
        break;
      case "impersonate":
        commonName = `system:node:${m.who}`;
        options.username = commonName;
        break;
      case "nodeMissing":
        nodes.shift();
        nodes.unshift({ name: `${w.node.name}-gone`, addresses: [] });
        break;
      case "nodeWithoutAddresses":
        main.addresses = [];
        break;
      case "dropAddress":
        if (main.addresses.length > 0) {
          main.addresses.splice(m.index % main.addresses.length, 1);
        }
        break;
      case "shareAddress":
      case "moveAddress": {
        if (main.addresses.length === 0) break;
        const at = m.index % main.addresses.length;
        neighbour().addresses.push(structuredClone(main.addresses[at]));
        if (m.kind === "moveAddress") main.addresses.splice(at, 1);
        break;
      }
    }
  }
  const subject: x509.JsonName = subjectShape === "two-cns"
    ? [
      ...organizations.map((o) => ({ O: [o] })),
      { CN: [commonName] },
      { CN: [commonName] },
    ]
    : subjectShape === "cn-first"
    ? [{ CN: [commonName] }, ...organizations.map((o) => ({ O: [o] }))]
    : [...organizations.map((o) => ({ O: [o] })), { CN: [commonName] }];
  const csr = await signedCsr({ ...options, subject }) as unknown as {
    metadata: Record<string, unknown>;
    spec: Record<string, unknown>;
    status: Record<string, unknown>;
  };
  for (const m of mutations) {
    switch (m.kind) {
      case "username":
        setField(csr.spec, "username", m.value);
        break;
      case "groups":
        setField(csr.spec, "groups", m.value);
        break;
      case "usages":
        setField(csr.spec, "usages", m.value);
        break;
      case "signer":
        setField(csr.spec, "signerName", m.value);
        break;
      case "condition":
        csr.status.conditions = [{
          type: m.type,
          status: "True",
          reason: "Fuzz",
          lastUpdateTime: w.now,
        }];
        break;
      case "certificate":
        csr.status.certificate = m.value;
        break;
      case "deleting":
        csr.metadata.deletionTimestamp = w.now;
        break;
      case "created":
        csr.metadata.creationTimestamp = m.value;
        break;
      case "expiration":
        setField(csr.spec, "expirationSeconds", m.value);
        break;
      case "metadataName":
        setField(csr.metadata, "name", m.value);
        break;
      case "junk":
        csr[m.path]["x-fuzz"] = m.value;
        break;
    }
  }
  return { csr, nodes, now: new Date(w.now), policy };
}
