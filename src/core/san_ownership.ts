/**
 * `san-ownership`: every SAN of a kubelet serving request is an address of
 * the Node named by its CN, and of no other Node. The kubelet builds its
 * SANs from exactly those addresses; a node writes its own status, so an
 * address two Nodes list proves neither claim and belongs to none. Pure;
 * no I/O: the Node facts are given (`NodeFacts`, `node_facts.ts`).
 *
 * @example
 * ```ts
 * import { compileServingPolicy, defaultServingPolicy, type CompiledPolicy } from "./policy.ts";
 * import { createNodeFacts } from "./node_facts.ts";
 * import { checkSanOwnership } from "./san_ownership.ts";
 * const policy = compileServingPolicy(defaultServingPolicy()) as CompiledPolicy;
 * const nodes = createNodeFacts([["node-b", [{ type: "Hostname", address: "node-a" }]]]);
 * checkSanOwnership(policy, { node: "node-a", dnsNames: ["node-a"], nodes }).check.reason; // "SANNotOwnedByNode"
 * ```
 *
 * @module
 */
import type { ReasonCode } from "./types.ts";
import { canonicalIp, cidrContains, tryParseIp } from "./ip.ts";
import { canonicalDnsName } from "./dns_name.ts";
import { quote } from "./text.ts";
import { formatDuration } from "./duration.ts";
import type { CompiledPolicy } from "./policy.ts";
import {
  type NodeAddress,
  nodeAddressKeys,
  type NodeFacts,
} from "./node_facts.ts";
import {
  createdMs,
  failing,
  none,
  type PolicyInput,
  type PolicyResult,
} from "./policy_result.ts";

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

/** A SAN as the ownership check compares it: kind, text, canonical key. */
interface San {
  kind: "dns" | "ip";
  /** For messages, e.g. `DNS name "node-a"`. */
  shown: string;
  /** Canonical form; undefined for an IP that does not parse. */
  key?: string;
}

function sanKeys(input: PolicyInput): San[] {
  return [
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
}

function nodeList(names: readonly string[]): string {
  return `${names.length === 1 ? "node" : "nodes"} ${
    names.slice(0, 4).map(quote).join(", ")
  }${names.length > 4 ? ` and ${names.length - 4} more` : ""}`;
}

/**
 * SANs other Nodes list: `foreign` when the requester does not (another
 * Node's address), `contested` when it does too (outside the shared CIDRs).
 */
function otherClaims(
  policy: CompiledPolicy,
  nodes: NodeFacts,
  node: string,
  sans: readonly San[],
  owned: (san: San) => boolean,
): { foreign: string[]; contested: string[] } {
  const shared = (s: San) => {
    if (s.kind !== "ip" || s.key === undefined) return false;
    const bytes = tryParseIp(s.key);
    return bytes !== undefined &&
      policy.sharedAddressCidrs.some((cidr) => cidrContains(cidr, bytes));
  };
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
  return { foreign, contested };
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
 * import { compileServingPolicy, defaultServingPolicy, type CompiledPolicy } from "./policy.ts";
 * import { createNodeFacts } from "./node_facts.ts";
 * import { checkSanOwnership } from "./san_ownership.ts";
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
      `not checked: ${policy.labels.verifyNodeAddresses}=false (unsafe: any SAN a node asks for is accepted)`,
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
  const sans = sanKeys(input);
  const ownDns = new Set(own.dns);
  const ownIp = new Set(own.ip);
  const owned = (s: San) =>
    s.key !== undefined && (s.kind === "dns" ? ownDns : ownIp).has(s.key);
  const { foreign, contested } = otherClaims(policy, nodes, node, sans, owned);
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
        `wrong claim, or allow a legitimately shared range with ${policy.labels.sharedAddressCidrs}`,
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
