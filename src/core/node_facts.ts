/**
 * Node addresses → the canonical keys they make a Node own, and
 * {@linkcode NodeFacts}: which Node has which addresses, and which Nodes own
 * a given name or IP (an address more than one Node lists is contested).
 * Pure; no I/O. The daemon's Node cache (`controller/nodes.ts`) indexes
 * live Nodes by {@linkcode nodeAddressKeys}; {@linkcode createNodeFacts}
 * does the same over a fixed set (`check --node`, tests, benchmarks).
 *
 * @example
 * ```ts
 * import { createNodeFacts } from "./node_facts.ts";
 * const nodes = createNodeFacts([
 *   ["node-a", [{ type: "InternalIP", address: "10.0.0.1" }]],
 *   ["node-b", [{ type: "InternalIP", address: "10.0.0.1" }]],
 * ]);
 * nodes.ownersOf("ip", "10.0.0.1"); // ["node-a", "node-b"]: contested
 * ```
 *
 * @module
 */
import { foldIpv4Mapped, formatIp, tryParseIp } from "./ip.ts";
import { canonicalDnsName, dnsNameSyntaxError } from "./dns_name.ts";

/** One entry of a Node's `status.addresses`. */
export interface NodeAddress {
  /** `Hostname`, `InternalIP`, `ExternalIP`, `InternalDNS` or `ExternalDNS`. */
  type: string;
  address: string;
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
 * import { nodeAddressKeys } from "./node_facts.ts";
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
 * import { createNodeFacts } from "./node_facts.ts";
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
