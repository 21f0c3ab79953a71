/**
 * Policy beyond Kubernetes' own rules, as pure synchronous checks:
 *
 * - `pending-age`: CSRs older than `--max-pending-age` are ignored (the
 *   kubelet abandoned them after 15 minutes and asked again);
 * - `protected-names`: SANs that must never be in a node's serving
 *   certificate (the API server's names and Service IP, loopback, wildcards,
 *   ...), because with kubeadm the kubelet-serving CA is the cluster CA and
 *   such a certificate is a man-in-the-middle credential;
 * - `operator-policy`: the operator's own limits (name pattern, CIDRs,
 *   counts, lifetime);
 * - `dns-name-syntax`: every DNS SAN is a valid DNS name (LDH labels);
 * - `san-ownership`: every SAN is an address of the Node named by the CN, as
 *   the kubelet builds its SANs from exactly those addresses, and of no other
 *   Node (an address two Nodes list is contested and belongs to neither).
 *
 * Each check returns a {@linkcode PolicyResult}: the reported
 * {@linkcode CheckResult} plus the effect it has on the outcome.
 *
 * @module
 */
import type { CheckResult, ReasonCode } from "./types.ts";
import {
  canonicalIp,
  type Cidr,
  cidrContains,
  embeddedIpv4,
  foldIpv4Mapped,
  formatIp,
  parseCidr,
  tryParseIp,
} from "./ip.ts";
import { canonicalDnsName, dnsNameSyntaxError } from "./dns_name.ts";
import { quote, quoteList } from "./rules.ts";
import { formatDuration } from "./duration.ts";

export { canonicalDnsName } from "./dns_name.ts";
export { formatDuration } from "./duration.ts";

/** One entry of a Node's `status.addresses`. */
export interface NodeAddress {
  /** `Hostname`, `InternalIP`, `ExternalIP`, `InternalDNS` or `ExternalDNS`. */
  type: string;
  address: string;
}

/** The operator's serving-certificate policy, as flags give it. */
export interface ServingPolicy {
  /** Check SAN ownership against Node addresses. `false` is unsafe. Default true. */
  verifyNodeAddresses: boolean;
  /** The cluster DNS domain. Default `cluster.local`. */
  clusterDomain: string;
  /** Extra protected DNS names: exact, case-insensitive, trailing dot ignored. */
  protectedNames: string[];
  /** Extra protected CIDRs or single IPs. */
  protectedCidrs: string[];
  /** The `kubernetes` Service ClusterIP(s); protected. */
  apiServiceIps: string[];
  /** Regex source each DNS SAN (lower-cased, no trailing dot) must fully match. */
  dnsNamePattern?: string;
  /** Every IP SAN must be inside one of these (`[]`: no IP SAN allowed). */
  allowedCidrs?: string[];
  /**
   * IPs inside these may be listed by several Nodes (e.g. a NAT gateway's
   * ExternalIP) and still be approved for each of them. Outside them an
   * address that more than one Node lists belongs to none. Default none.
   */
  sharedAddressCidrs?: string[];
  /** Most DNS SANs allowed. */
  maxDnsNames?: number;
  /** Most IP SANs allowed. */
  maxIpAddresses?: number;
  /** Largest `spec.expirationSeconds` allowed (unset in the CSR always passes). */
  maxExpirationSeconds?: number;
  /** How long a CSR may wait for its Node's addresses, in ms. Default 15 min. */
  nodeAddressWaitMs: number;
  /** CSRs older than this (ms) are ignored. Default 1 h; undefined or 0: off. */
  maxPendingAgeMs?: number;
}

/** Default cluster DNS domain. */
export const DEFAULT_CLUSTER_DOMAIN = "cluster.local";
/** Default wait for Node addresses: the kubelet's own CSR wait (15 min). */
export const DEFAULT_NODE_ADDRESS_WAIT_MS = 15 * 60_000;
/** Default largest age of a CSR worth deciding (1 h). */
export const DEFAULT_MAX_PENDING_AGE_MS = 60 * 60_000;

/**
 * The default policy: Node addresses verified, `cluster.local`, no operator
 * extras, 15 min Node wait, 1 h pending age.
 *
 * @example
 * ```ts
 * import { defaultServingPolicy } from "./policy.ts";
 * const policy = { ...defaultServingPolicy(), maxDnsNames: 4 };
 * ```
 */
export function defaultServingPolicy(): ServingPolicy {
  return {
    verifyNodeAddresses: true,
    clusterDomain: DEFAULT_CLUSTER_DOMAIN,
    protectedNames: [],
    protectedCidrs: [],
    apiServiceIps: [],
    nodeAddressWaitMs: DEFAULT_NODE_ADDRESS_WAIT_MS,
    maxPendingAgeMs: DEFAULT_MAX_PENDING_AGE_MS,
  };
}

/** A protected address range and why it is protected. */
interface ProtectedRange {
  cidr: Cidr;
  label: string;
}

/** A validated {@linkcode ServingPolicy}, ready for the checks. */
export interface CompiledPolicy {
  /** Marks a successful compilation (the error result has `error`). */
  readonly compiled: true;
  /** A copy of the source policy. */
  readonly policy: Readonly<ServingPolicy>;
  /** Canonical protected DNS names → why. */
  readonly protectedNames: ReadonlyMap<string, string>;
  /** Built-in and operator protected ranges, API service IPs included. */
  readonly protectedRanges: readonly ProtectedRange[];
  /** `^(?:pattern)$`, when a pattern is set. */
  readonly dnsNamePattern?: RegExp;
  /** Parsed `allowedCidrs`, when set. */
  readonly allowedCidrs?: readonly Cidr[];
  /** Parsed `sharedAddressCidrs` (empty: no address may be shared). */
  readonly sharedAddressCidrs: readonly Cidr[];
}

// Addresses that never belong in a node's serving certificate, whatever the
// Node object says (a node can edit its own status.addresses).
const BUILTIN_RANGES: ReadonlyArray<[string, string]> = [
  ["127.0.0.0/8", "a loopback address"],
  ["::1/128", "a loopback address"],
  ["0.0.0.0/8", "an unspecified (this-network) address"],
  ["::/128", "an unspecified address"],
  ["169.254.0.0/16", "a link-local address"],
  ["fe80::/10", "a link-local address"],
  ["224.0.0.0/4", "a multicast address"],
  ["ff00::/8", "a multicast address"],
  ["255.255.255.255/32", "the broadcast address"],
  ["::/96", "a deprecated IPv4-compatible IPv6 address"],
];

function isNonNegativeInteger(v: unknown): boolean {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

/**
 * Validates a policy once (regex, CIDRs, IPs, numbers) so the checks never
 * fail on configuration. The error names the flag to fix.
 *
 * @example
 * ```ts
 * import { compileServingPolicy, defaultServingPolicy } from "./policy.ts";
 * const compiled = compileServingPolicy({ ...defaultServingPolicy(), allowedCidrs: ["10.0.0.0/8"] });
 * if ("error" in compiled) throw new Error(compiled.error);
 * ```
 */
export function compileServingPolicy(
  p: ServingPolicy,
): CompiledPolicy | { error: string } {
  const domain = canonicalDnsName(String(p.clusterDomain ?? ""));
  if (dnsNameSyntaxError(domain) !== undefined) {
    return {
      error: `--cluster-domain: ${
        quote(p.clusterDomain)
      } is not a DNS domain, expected e.g. "cluster.local"`,
    };
  }
  const names = new Map<string, string>([
    ["kubernetes", "a name of the API server's kubernetes Service"],
    ["kubernetes.default", "a name of the API server's kubernetes Service"],
    ["kubernetes.default.svc", "a name of the API server's kubernetes Service"],
    [
      `kubernetes.default.svc.${domain}`,
      "a name of the API server's kubernetes Service",
    ],
    ["localhost", "a loopback name"],
    // Loopback aliases of common /etc/hosts files.
    ["localhost.localdomain", "a loopback name"],
    ["ip6-localhost", "a loopback name"],
    ["ip6-loopback", "a loopback name"],
    // RHEL-family /etc/hosts.
    ["localhost4", "a loopback name"],
    ["localhost6", "a loopback name"],
    ["localhost4.localdomain4", "a loopback name"],
    ["localhost6.localdomain6", "a loopback name"],
  ]);
  for (const name of p.protectedNames ?? []) {
    const canonical = typeof name === "string" ? canonicalDnsName(name) : "";
    if (canonical === "" || /\s/.test(canonical)) {
      return {
        error: `--protected-names: ${
          quote(name)
        } is not a DNS name, expected e.g. "api.example.com"`,
      };
    }
    if (!names.has(canonical)) {
      names.set(canonical, "listed in --protected-names");
    }
  }
  const ranges: ProtectedRange[] = BUILTIN_RANGES.map(([text, label]) => ({
    cidr: parseCidr(text),
    label,
  }));
  for (const ip of p.apiServiceIps ?? []) {
    try {
      ranges.unshift({
        cidr: parseCidr(ip, { allowBareIp: true }),
        label: "the API server's Service IP",
      });
    } catch (error) {
      return { error: `--api-service-ip: ${(error as Error).message}` };
    }
  }
  for (const text of p.protectedCidrs ?? []) {
    try {
      const cidr = parseCidr(text, { allowBareIp: true });
      ranges.push({ cidr, label: `inside --protected-cidrs ${cidr.text}` });
    } catch (error) {
      return { error: `--protected-cidrs: ${(error as Error).message}` };
    }
  }
  let dnsNamePattern: RegExp | undefined;
  if (p.dnsNamePattern !== undefined) {
    if (typeof p.dnsNamePattern !== "string" || p.dnsNamePattern === "") {
      return { error: "--dns-name-pattern: the pattern is empty" };
    }
    try {
      // Compiling the source alone first rejects unbalanced groups such as
      // `a)|(b`, which would otherwise escape the anchors added below.
      new RegExp(p.dnsNamePattern);
      dnsNamePattern = new RegExp(`^(?:${p.dnsNamePattern})$`);
    } catch (error) {
      return {
        error: `--dns-name-pattern: ${
          quote(p.dnsNamePattern)
        } is not a valid regular expression: ${(error as Error).message}`,
      };
    }
  }
  let allowedCidrs: Cidr[] | undefined;
  if (p.allowedCidrs !== undefined) {
    allowedCidrs = [];
    for (const text of p.allowedCidrs) {
      try {
        allowedCidrs.push(parseCidr(text, { allowBareIp: true }));
      } catch (error) {
        return { error: `--allowed-cidrs: ${(error as Error).message}` };
      }
    }
  }
  const sharedAddressCidrs: Cidr[] = [];
  for (const text of p.sharedAddressCidrs ?? []) {
    try {
      sharedAddressCidrs.push(parseCidr(text, { allowBareIp: true }));
    } catch (error) {
      return { error: `--shared-address-cidrs: ${(error as Error).message}` };
    }
  }
  const counts: Array<[keyof ServingPolicy, string]> = [
    ["maxDnsNames", "--max-dns-names"],
    ["maxIpAddresses", "--max-ip-addresses"],
  ];
  for (const [key, flag] of counts) {
    if (p[key] !== undefined && !isNonNegativeInteger(p[key])) {
      return {
        error: `${flag}: ${quote(p[key])} is not a whole number of 0 or more`,
      };
    }
  }
  if (
    p.maxExpirationSeconds !== undefined &&
    !(isNonNegativeInteger(p.maxExpirationSeconds) &&
      p.maxExpirationSeconds > 0)
  ) {
    return {
      error: `--max-expiration-seconds: ${
        quote(p.maxExpirationSeconds)
      } is not a whole number of seconds greater than 0`,
    };
  }
  if (!(Number.isFinite(p.nodeAddressWaitMs) && p.nodeAddressWaitMs >= 0)) {
    return {
      error: `--node-address-wait: ${
        quote(p.nodeAddressWaitMs)
      } ms is not a duration of 0 or more`,
    };
  }
  if (
    p.maxPendingAgeMs !== undefined &&
    !(Number.isFinite(p.maxPendingAgeMs) && p.maxPendingAgeMs >= 0)
  ) {
    return {
      error: `--max-pending-age: ${
        quote(p.maxPendingAgeMs)
      } ms is not a duration of 0 or more`,
    };
  }
  return {
    compiled: true,
    policy: {
      ...p,
      clusterDomain: domain,
      protectedNames: [...(p.protectedNames ?? [])],
      protectedCidrs: [...(p.protectedCidrs ?? [])],
      apiServiceIps: [...(p.apiServiceIps ?? [])],
      sharedAddressCidrs: [...(p.sharedAddressCidrs ?? [])],
      ...(p.allowedCidrs === undefined
        ? {}
        : { allowedCidrs: [...p.allowedCidrs] }),
    },
    protectedNames: names,
    protectedRanges: ranges,
    sharedAddressCidrs,
    ...(dnsNamePattern === undefined ? {} : { dnsNamePattern }),
    ...(allowedCidrs === undefined ? {} : { allowedCidrs }),
  };
}

/** The canonical keys a Node's addresses make it own, for indexing. */
export interface AddressKeys {
  /** Canonical DNS names (see {@linkcode canonicalDnsName}). */
  dns: string[];
  /** Canonical IPs (see {@linkcode canonicalIp}). */
  ip: string[];
  /**
   * Entries of a known type that are neither a valid DNS name nor an IP
   * where one is expected: they give the Node no ownership of anything.
   */
  ignored: NodeAddress[];
}

const DNS_TYPES = ["Hostname", "InternalDNS", "ExternalDNS"];
const IP_TYPES = ["InternalIP", "ExternalIP"];

/**
 * The DNS names and IPs a Node owns, canonical, as the kubelet turns its
 * addresses into SANs: `Hostname` (an IP when it parses as one, else a DNS
 * name), `InternalIP`/`ExternalIP`, `InternalDNS`/`ExternalDNS`. An entry
 * that is not a valid DNS name or IP where one is expected is `ignored`
 * (a node writes its own status, so it may write anything); entries of other
 * types and non-string entries are skipped. Linear in the addresses' length.
 * A Node cache can index Nodes by these keys to answer
 * {@linkcode NodeFacts.ownersOf}.
 *
 * @example
 * ```ts
 * import { nodeAddressKeys } from "./policy.ts";
 * nodeAddressKeys([{ type: "Hostname", address: "Node-A" }, { type: "InternalIP", address: "10.0.0.1" }]);
 * // { dns: ["node-a"], ip: ["10.0.0.1"], ignored: [] }
 * ```
 */
export function nodeAddressKeys(
  addresses: readonly NodeAddress[],
): AddressKeys {
  const dns = new Set<string>();
  const ip = new Set<string>();
  const ignored: NodeAddress[] = [];
  for (const entry of Array.isArray(addresses) ? addresses : []) {
    if (typeof entry !== "object" || entry === null) continue;
    const { type, address } = entry as Partial<NodeAddress>;
    if (typeof type !== "string" || typeof address !== "string") continue;
    if (address === "") continue;
    const isIpType = IP_TYPES.includes(type);
    if (!isIpType && type !== "Hostname" && !DNS_TYPES.includes(type)) continue;
    // The kubelet reads addresses with ParseIPSloppy; so do we. (parseIp
    // refuses anything over 64 characters before looking inside.)
    if (type === "Hostname" || isIpType) {
      const bytes = tryParseIp(address, { sloppy: true });
      if (bytes) {
        ip.add(formatIp(foldIpv4Mapped(bytes)));
        continue;
      }
      if (isIpType) {
        ignored.push({ type, address });
        continue;
      }
    }
    if (dnsNameSyntaxError(address) !== undefined) {
      ignored.push({ type, address });
      continue;
    }
    dns.add(canonicalDnsName(address));
  }
  return { dns: [...dns], ip: [...ip], ignored };
}

/** Facts about Nodes, from the daemon's Node cache (name → addresses only). */
export interface NodeFacts {
  /** Addresses of a node, `undefined` if there is no such Node. */
  addressesOf(name: string): readonly NodeAddress[] | undefined;
  /**
   * Names of every node having this DNS name or IP among its addresses
   * (`canonicalValue` as {@linkcode canonicalDnsName} / {@linkcode canonicalIp}
   * give it; see {@linkcode nodeAddressKeys}). The requesting node may be
   * among them; the checks exclude it themselves.
   */
  ownersOf(kind: "dns" | "ip", canonicalValue: string): readonly string[];
}

/**
 * {@linkcode NodeFacts} over a fixed set of Nodes (for `check --node`, tests,
 * or a snapshot of a cache).
 *
 * @example
 * ```ts
 * import { createNodeFacts } from "./policy.ts";
 * const nodes = createNodeFacts([["worker-1", [{ type: "InternalIP", address: "10.0.0.1" }]]]);
 * nodes.ownersOf("ip", "10.0.0.1"); // ["worker-1"]
 * ```
 */
export function createNodeFacts(
  nodes: Iterable<readonly [string, readonly NodeAddress[]]>,
): NodeFacts {
  const byName = new Map<string, readonly NodeAddress[]>();
  const owners = new Map<string, Set<string>>();
  for (const [name, addresses] of nodes) {
    byName.set(name, [...addresses]);
    const keys = nodeAddressKeys(addresses);
    for (
      const [kind, values] of [["dns", keys.dns], ["ip", keys.ip]] as const
    ) {
      for (const value of values) {
        const key = `${kind}:${value}`;
        if (!owners.has(key)) owners.set(key, new Set());
        owners.get(key)!.add(name);
      }
    }
  }
  return {
    addressesOf: (name) => byName.get(name),
    ownersOf: (kind, value) =>
      [...(owners.get(`${kind}:${value}`) ?? [])].sort(),
  };
}

/** What the policy checks read about one CSR. */
export interface PolicyInput {
  /** Node name from the CN. */
  node?: string;
  /** DNS SANs as requested. */
  dnsNames?: readonly string[];
  /** IP SANs as the request parser wrote them. */
  ipAddresses?: readonly string[];
  /** `spec.expirationSeconds`, when set. */
  expirationSeconds?: number;
  /** `metadata.creationTimestamp`. */
  createdAt?: string;
  /** The clock; without it, time-based checks do not conclude. */
  now?: Date;
  /** Node facts; without them ownership is not checked. */
  nodes?: NodeFacts;
}

/** How a policy result bears on the outcome. */
export type PolicyEffect = "none" | "ignore" | "deny" | "wait";

/** One policy check's result and its effect. */
export interface PolicyResult {
  check: CheckResult;
  effect: PolicyEffect;
  /** For `wait`: when waiting ends and the verdict becomes final (ISO time). */
  retryAt?: string;
}

/** A named policy check. */
export interface PolicyRule {
  /** Stable rule id, the `rule` of its results. */
  id: string;
  check(policy: CompiledPolicy, input: PolicyInput): PolicyResult;
}

function none(rule: string, result: "pass" | "skip", message: string) {
  return { check: { rule, result, message }, effect: "none" as const };
}

function failing(
  rule: string,
  effect: Exclude<PolicyEffect, "none">,
  reason: ReasonCode,
  message: string,
  retryAt?: string,
): PolicyResult {
  return {
    check: { rule, result: "fail", reason, message },
    effect,
    ...(retryAt === undefined ? {} : { retryAt }),
  };
}

function createdMs(input: PolicyInput): number | undefined {
  if (typeof input.createdAt !== "string") return undefined;
  const ms = Date.parse(input.createdAt);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * `pending-age`: a CSR older than `maxPendingAgeMs` is ignored (`TooOld`):
 * never written, the kubelet has given up on it and asked again.
 *
 * @example
 * ```ts
 * import { checkPendingAge, compileServingPolicy, defaultServingPolicy, type CompiledPolicy } from "./policy.ts";
 * const policy = compileServingPolicy(defaultServingPolicy()) as CompiledPolicy;
 * checkPendingAge(policy, { createdAt: "2026-01-01T00:00:00Z", now: new Date("2026-01-01T02:00:00Z") }).effect; // "ignore"
 * ```
 */
export function checkPendingAge(
  policy: CompiledPolicy,
  input: PolicyInput,
): PolicyResult {
  const rule = "pending-age";
  const max = policy.policy.maxPendingAgeMs;
  if (max === undefined || max === 0) {
    return none(rule, "skip", "not checked (--max-pending-age is off)");
  }
  if (!(input.now instanceof Date) || !Number.isFinite(input.now.getTime())) {
    return none(rule, "skip", "not checked (no clock)");
  }
  const created = createdMs(input);
  if (created === undefined) {
    return none(
      rule,
      "skip",
      `not checked (creationTimestamp ${quote(input.createdAt)} is unreadable)`,
    );
  }
  const age = input.now.getTime() - created;
  if (age > max) {
    return failing(
      rule,
      "ignore",
      "TooOld",
      `CSR was created ${formatDuration(age)} ago (at ${
        quote(input.createdAt)
      }), more than --max-pending-age ${
        formatDuration(max)
      }; the kubelet has given up on it and asks again with a new CSR`,
    );
  }
  return none(
    rule,
    "pass",
    `CSR is ${formatDuration(Math.max(0, age))} old, within ${
      formatDuration(max)
    }`,
  );
}

/**
 * Why an address is protected, if it is: by itself, or by the IPv4 address
 * an IPv6 one embeds (`64:ff9b::7f00:1` reaches 127.0.0.1 through NAT64).
 */
function protectedIp(
  policy: CompiledPolicy,
  bytes: Uint8Array,
): string | undefined {
  const inRanges = (ip: Uint8Array) =>
    policy.protectedRanges.find((r) => cidrContains(r.cidr, ip))?.label;
  const direct = inRanges(bytes);
  if (direct) return direct;
  for (const { ipv4, scheme } of embeddedIpv4(bytes)) {
    const label = inRanges(ipv4);
    if (label) {
      return `${label} (it embeds IPv4 ${formatIp(ipv4)}, ${scheme})`;
    }
  }
  return undefined;
}

/** Why a DNS name is protected, if it is. */
function protectedDnsName(
  policy: CompiledPolicy,
  name: string,
): string | undefined {
  if (name.includes("*")) return "a wildcard name";
  const canonical = canonicalDnsName(name);
  const listed = policy.protectedNames.get(canonical);
  if (listed) return listed;
  if (canonical.endsWith(".localhost")) return "a loopback name";
  const domain = policy.policy.clusterDomain;
  if (
    canonical.endsWith(".svc") || canonical.endsWith(`.svc.${domain}`)
  ) {
    return "an in-cluster Service name";
  }
  // A DNS SAN spelled as an IP is matched as text by some clients.
  const bytes = tryParseIp(canonical);
  if (bytes) {
    const label = protectedIp(policy, bytes);
    return label ? `spelled as an IP, ${label}` : undefined;
  }
  // No real host name ends in an all-numeric label (RFC 3696 §2), but
  // getaddrinfo reads such names as IPv4 in any notation: 127.1, 0177.0.0.1,
  // 2130706433, 0x7f.1 all mean loopback. (A plain dotted quad is judged as
  // the address it is, above: a kubelet copies such InternalDNS verbatim.)
  const lastLabel = canonical.slice(canonical.lastIndexOf(".") + 1);
  if (/^(0x[0-9a-f]*|[0-9]+)$/.test(lastLabel)) {
    return "an IP address in loose notation (its last label is numeric)";
  }
  return undefined;
}

/**
 * `dns-name-syntax`: every DNS SAN is a valid DNS name: LDH labels of 1 to
 * 63 characters, at most 253 in all, one optional trailing dot; a leading
 * `*.` is left to the wildcard rule of `protected-names`. Anything else (NUL
 * bytes, spaces, brackets, empty or over-long labels) is a final deny,
 * `InvalidDNSName`, listing every bad name.
 *
 * @example
 * ```ts
 * import { checkDnsNameSyntax, compileServingPolicy, defaultServingPolicy, type CompiledPolicy } from "./policy.ts";
 * const policy = compileServingPolicy(defaultServingPolicy()) as CompiledPolicy;
 * checkDnsNameSyntax(policy, { dnsNames: ["[::1]"] }).check.reason; // "InvalidDNSName"
 * ```
 */
export function checkDnsNameSyntax(
  _policy: CompiledPolicy,
  input: PolicyInput,
): PolicyResult {
  const rule = "dns-name-syntax";
  const names = input.dnsNames ?? [];
  const bad: string[] = [];
  for (const name of names) {
    const rest = typeof name === "string" && name.startsWith("*.")
      ? name.slice(2)
      : name;
    const problem = dnsNameSyntaxError(rest);
    if (problem !== undefined) {
      bad.push(`DNS name ${quote(name)} is not a valid DNS name: ${problem}`);
    }
  }
  if (bad.length > 0) {
    const more = bad.length > 8 ? `; … ${bad.length - 8} more` : "";
    return failing(
      rule,
      "deny",
      "InvalidDNSName",
      `${bad.slice(0, 8).join("; ")}${more}`,
    );
  }
  return none(
    rule,
    names.length === 0 ? "skip" : "pass",
    names.length === 0 ? "no DNS names" : "every DNS name is valid",
  );
}

/**
 * `protected-names`: no SAN is a protected name or address (final deny,
 * `ProtectedName`). Protected: `kubernetes`, `kubernetes.default`,
 * `kubernetes.default.svc`, `kubernetes.default.svc.<cluster domain>`,
 * `localhost` and `*.localhost`, any name with `*`, any `*.svc` or
 * `*.svc.<cluster domain>` name, loopback, unspecified, link-local,
 * multicast and broadcast IPs (IPv4-mapped forms folded first, and IPv6
 * addresses that embed a protected IPv4 one: see `embeddedIpv4`), the API
 * Service IPs, and the operator's names and CIDRs.
 *
 * @example
 * ```ts
 * import { checkProtectedNames, compileServingPolicy, defaultServingPolicy, type CompiledPolicy } from "./policy.ts";
 * const policy = compileServingPolicy(defaultServingPolicy()) as CompiledPolicy;
 * checkProtectedNames(policy, { dnsNames: ["KUBERNETES.default.svc."] }).check.reason; // "ProtectedName"
 * ```
 */
export function checkProtectedNames(
  policy: CompiledPolicy,
  input: PolicyInput,
): PolicyResult {
  const rule = "protected-names";
  const found: string[] = [];
  for (const name of input.dnsNames ?? []) {
    const why = protectedDnsName(policy, name);
    if (why) found.push(`DNS name ${quote(name)} is ${why}`);
  }
  for (const ip of input.ipAddresses ?? []) {
    const bytes = tryParseIp(ip);
    if (!bytes) {
      found.push(`IP ${quote(ip)} is not a readable address`);
      continue;
    }
    const folded = foldIpv4Mapped(bytes);
    const why = protectedIp(policy, folded);
    if (why) {
      const shown = folded === bytes
        ? quote(ip)
        : `${quote(ip)} (${formatIp(folded)})`;
      found.push(`IP ${shown} is ${why}`);
    }
  }
  if (found.length > 0) {
    const more = found.length > 8 ? `; … ${found.length - 8} more` : "";
    return failing(
      rule,
      "deny",
      "ProtectedName",
      `${found.slice(0, 8).join("; ")}${more}: never approved`,
    );
  }
  return none(rule, "pass", "no SAN is a protected name or address");
}

/**
 * `operator-policy`: `dnsNamePattern`, `allowedCidrs`, `maxDnsNames`,
 * `maxIpAddresses` (`PolicyViolation`) and `maxExpirationSeconds`
 * (`ExpirationTooLong`); final deny. Every violation is listed; the first
 * gives the reason.
 *
 * @example
 * ```ts
 * import { checkOperatorPolicy, compileServingPolicy, defaultServingPolicy, type CompiledPolicy } from "./policy.ts";
 * const policy = compileServingPolicy({ ...defaultServingPolicy(), maxDnsNames: 1 }) as CompiledPolicy;
 * checkOperatorPolicy(policy, { dnsNames: ["a", "b"] }).check.reason; // "PolicyViolation"
 * ```
 */
export function checkOperatorPolicy(
  policy: CompiledPolicy,
  input: PolicyInput,
): PolicyResult {
  const rule = "operator-policy";
  const p = policy.policy;
  const dnsNames = input.dnsNames ?? [];
  const ips = input.ipAddresses ?? [];
  const violations: Array<[ReasonCode, string]> = [];
  const passed: string[] = [];
  if (p.maxExpirationSeconds !== undefined) {
    const asked = input.expirationSeconds;
    if (asked !== undefined && !(asked <= p.maxExpirationSeconds)) {
      violations.push([
        "ExpirationTooLong",
        `spec.expirationSeconds is ${
          quote(asked)
        }, --max-expiration-seconds allows at most ${p.maxExpirationSeconds}`,
      ]);
    } else {
      passed.push(
        `expirationSeconds ${asked ?? "unset"} ≤ ${p.maxExpirationSeconds}`,
      );
    }
  }
  if (p.maxDnsNames !== undefined) {
    if (dnsNames.length > p.maxDnsNames) {
      violations.push([
        "PolicyViolation",
        `request has ${dnsNames.length} DNS names, --max-dns-names allows ${p.maxDnsNames}`,
      ]);
    } else passed.push(`${dnsNames.length} DNS names ≤ ${p.maxDnsNames}`);
  }
  if (p.maxIpAddresses !== undefined) {
    if (ips.length > p.maxIpAddresses) {
      violations.push([
        "PolicyViolation",
        `request has ${ips.length} IP addresses, --max-ip-addresses allows ${p.maxIpAddresses}`,
      ]);
    } else passed.push(`${ips.length} IP addresses ≤ ${p.maxIpAddresses}`);
  }
  const pattern = policy.dnsNamePattern;
  if (pattern) {
    const bad = dnsNames.filter((name) => {
      const canonical = canonicalDnsName(name);
      // Bounded input for an operator-supplied regex.
      return canonical.length > 253 || !pattern.test(canonical);
    });
    if (bad.length > 0) {
      violations.push([
        "PolicyViolation",
        `DNS ${bad.length === 1 ? "name" : "names"} ${quoteList(bad)} ${
          bad.length === 1 ? "does" : "do"
        } not match --dns-name-pattern ${quote(p.dnsNamePattern)}`,
      ]);
    } else {
      passed.push(`DNS names match ${quote(p.dnsNamePattern)}`);
    }
  }
  const allowed = policy.allowedCidrs;
  if (allowed) {
    const bad = ips.filter((ip) => {
      const bytes = tryParseIp(ip);
      return !bytes || !allowed.some((cidr) => cidrContains(cidr, bytes));
    });
    const list = allowed.map((c) => c.text);
    if (bad.length > 0) {
      violations.push([
        "PolicyViolation",
        `IP ${bad.length === 1 ? "address" : "addresses"} ${
          quoteList(bad)
        } not inside --allowed-cidrs ${quoteList(list)}`,
      ]);
    } else {
      passed.push(`IPs inside ${quoteList(list)}`);
    }
  }
  if (violations.length > 0) {
    return failing(
      rule,
      "deny",
      violations[0][0],
      violations.map(([, message]) => message).join("; "),
    );
  }
  if (passed.length === 0) {
    return none(rule, "skip", "no operator policy configured");
  }
  return none(rule, "pass", passed.join("; "));
}

function describeAddresses(addresses: readonly NodeAddress[]): string {
  const shown = addresses.slice(0, 8).map((a) =>
    `${quote(a?.type)} ${quote(a?.address)}`
  );
  if (addresses.length > 8) shown.push(`… ${addresses.length - 8} more`);
  return shown.join(", ");
}

/**
 * Turns a not-yet-final ownership problem into `wait` (with the time it
 * becomes final) or, once `nodeAddressWaitMs` since creation has passed,
 * into a final `deny`.
 */
function waitOrDeny(
  policy: CompiledPolicy,
  input: PolicyInput,
  reason: ReasonCode,
  message: string,
): PolicyResult {
  const rule = "san-ownership";
  const wait = policy.policy.nodeAddressWaitMs;
  const created = createdMs(input);
  const hasClock = input.now instanceof Date &&
    Number.isFinite(input.now.getTime());
  if (created === undefined) {
    if (!hasClock) return failing(rule, "wait", reason, message);
    // Waiting needs a deadline; without a creation time there is none.
    return failing(
      rule,
      "deny",
      reason,
      `${message} (creation time unknown, so no wait)`,
    );
  }
  const deadline = new Date(created + wait);
  if (hasClock && input.now!.getTime() >= deadline.getTime()) {
    return failing(
      rule,
      "deny",
      reason,
      `${message} (waited ${formatDuration(wait)} since the CSR was created)`,
    );
  }
  const retryAt = deadline.toISOString();
  return failing(
    rule,
    "wait",
    reason,
    `${message}; waiting until ${retryAt}`,
    retryAt,
  );
}

/**
 * `san-ownership`: every DNS SAN equals a `Hostname`/`InternalDNS`/
 * `ExternalDNS` address, and every IP SAN an `InternalIP`/`ExternalIP` or
 * IP-valued `Hostname` address, of the Node named by the CN (exact canonical
 * equality: `node-a.evil.example` is not `node-a`). A SAN owned by another
 * Node is a final deny (`SANNotOwnedByNode`); a SAN the requester's Node
 * lists but another Node lists too is contested and a final deny
 * (`SANContested`), unless it is an IP inside `sharedAddressCidrs`; a missing Node
 * (`NodeNotFound`), a Node without addresses (`NodeAddressesUnknown`) or a
 * SAN on no Node (`SANNotOwnedByNode`) waits up to `nodeAddressWaitMs` after
 * creation, then denies.
 *
 * @example
 * ```ts
 * import { checkSanOwnership, compileServingPolicy, createNodeFacts, defaultServingPolicy, type CompiledPolicy } from "./policy.ts";
 * const policy = compileServingPolicy(defaultServingPolicy()) as CompiledPolicy;
 * const nodes = createNodeFacts([["node-a", [{ type: "Hostname", address: "node-a" }]]]);
 * checkSanOwnership(policy, { node: "node-a", dnsNames: ["node-a"], nodes }).check.result; // "pass"
 * ```
 */
export function checkSanOwnership(
  policy: CompiledPolicy,
  input: PolicyInput,
): PolicyResult {
  const rule = "san-ownership";
  if (!policy.policy.verifyNodeAddresses) {
    return none(
      rule,
      "skip",
      "not checked: --verify-node-addresses=false (unsafe: any SAN a node asks for is accepted)",
    );
  }
  const nodes = input.nodes;
  if (!nodes) return none(rule, "skip", "not checked (no Node facts)");
  const node = input.node;
  if (node === undefined) {
    return failing(
      rule,
      "deny",
      "SANNotOwnedByNode",
      "no node name in the CN to check SANs against",
    );
  }
  const addresses = nodes.addressesOf(node);
  const own = nodeAddressKeys(addresses ?? []);
  const sans: Array<{ kind: "dns" | "ip"; shown: string; key?: string }> = [
    ...(input.dnsNames ?? []).map((name) => ({
      kind: "dns" as const,
      shown: `DNS name ${quote(name)}`,
      key: canonicalDnsName(name),
    })),
    ...(input.ipAddresses ?? []).map((ip) => {
      let key: string | undefined;
      try {
        key = canonicalIp(ip);
      } catch {
        key = undefined;
      }
      return { kind: "ip" as const, shown: `IP ${quote(ip)}`, key };
    }),
  ];
  const ownDns = new Set(own.dns);
  const ownIp = new Set(own.ip);
  const owned = (s: (typeof sans)[number]) =>
    s.key !== undefined && (s.kind === "dns" ? ownDns : ownIp).has(s.key);
  const shared = (s: (typeof sans)[number]) => {
    if (s.kind !== "ip" || s.key === undefined) return false;
    const bytes = tryParseIp(s.key);
    return bytes !== undefined &&
      policy.sharedAddressCidrs.some((cidr) => cidrContains(cidr, bytes));
  };
  const nodeList = (names: readonly string[]) =>
    `${names.length === 1 ? "node" : "nodes"} ${
      names.slice(0, 4).map(quote).join(", ")
    }${names.length > 4 ? ` and ${names.length - 4} more` : ""}`;

  // Another Node's address is final at once, whatever else is unknown. So is
  // an address the requester lists that another Node lists too: a node can
  // write any address into its own status, so two claims prove neither.
  const foreign: string[] = [];
  const contested: string[] = [];
  for (const san of sans) {
    if (san.key === undefined) continue;
    const others = nodes.ownersOf(san.kind, san.key).filter((n) => n !== node);
    if (others.length === 0) continue;
    if (!owned(san)) {
      foreign.push(
        `${san.shown} belongs to ${nodeList(others)}, not to ${quote(node)}`,
      );
    } else if (!shared(san)) {
      contested.push(
        `${san.shown} is listed by ${quote(node)} and also by ${
          nodeList(others)
        }`,
      );
    }
  }
  if (foreign.length > 0) {
    return failing(
      rule,
      "deny",
      "SANNotOwnedByNode",
      [...foreign, ...contested].slice(0, 8).join("; "),
    );
  }
  if (contested.length > 0) {
    const more = contested.length > 8 ? `; … ${contested.length - 8} more` : "";
    return failing(
      rule,
      "deny",
      "SANContested",
      `${
        contested.slice(0, 8).join("; ")
      }${more}: an address more than one Node lists belongs to none of them ` +
        "(a node can write any address into its own status); remove the " +
        "wrong claim, or allow a legitimately shared range with --shared-address-cidrs",
    );
  }
  if (addresses === undefined) {
    return waitOrDeny(
      policy,
      input,
      "NodeNotFound",
      `node ${quote(node)} does not exist`,
    );
  }
  if (addresses.length === 0) {
    return waitOrDeny(
      policy,
      input,
      "NodeAddressesUnknown",
      `node ${quote(node)} has no addresses in its status`,
    );
  }
  const unowned = sans.filter((s) => !owned(s));
  if (unowned.length > 0) {
    return waitOrDeny(
      policy,
      input,
      "SANNotOwnedByNode",
      `${unowned.slice(0, 8).map((s) => s.shown).join(", ")}${
        unowned.length > 8 ? ` and ${unowned.length - 8} more` : ""
      } ${unowned.length === 1 ? "is" : "are"} not ${
        unowned.length === 1 ? "an address" : "addresses"
      } of node ${quote(node)} (its addresses: ${
        describeAddresses(addresses)
      }) nor of any other node`,
    );
  }
  return none(
    rule,
    "pass",
    `every SAN is an address of node ${quote(node)}`,
  );
}

/**
 * Every policy check, in evaluation order.
 *
 * @example
 * ```ts
 * import { SERVING_POLICY_RULES } from "./policy.ts";
 * console.log(SERVING_POLICY_RULES.map((rule) => rule.id));
 * ```
 */
export const SERVING_POLICY_RULES: readonly PolicyRule[] = [
  { id: "pending-age", check: checkPendingAge },
  { id: "dns-name-syntax", check: checkDnsNameSyntax },
  { id: "protected-names", check: checkProtectedNames },
  { id: "operator-policy", check: checkOperatorPolicy },
  { id: "san-ownership", check: checkSanOwnership },
];

/**
 * Runs every policy check, in order, and returns all results.
 *
 * @example
 * ```ts
 * import { compileServingPolicy, defaultServingPolicy, evaluateServingPolicy, type CompiledPolicy } from "./policy.ts";
 * const policy = compileServingPolicy(defaultServingPolicy()) as CompiledPolicy;
 * const results = evaluateServingPolicy(policy, { node: "a", dnsNames: ["a"] });
 * ```
 */
export function evaluateServingPolicy(
  policy: CompiledPolicy,
  input: PolicyInput,
): PolicyResult[] {
  return SERVING_POLICY_RULES.map((rule) => rule.check(policy, input));
}
