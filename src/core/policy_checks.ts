/**
 * The serving-policy checks beyond Kubernetes' own rules, as pure
 * synchronous functions of a {@linkcode CompiledPolicy} and one CSR's
 * {@linkcode PolicyInput}, and the order they run in:
 *
 * - `pending-age`: CSRs older than the `maxPendingAgeMs` setting are ignored
 *   (the kubelet abandoned them after 15 minutes and asked again);
 * - `dns-name-syntax`: every DNS SAN is a valid DNS name (LDH labels);
 * - `protected-names`: SANs that must never be in a node's serving
 *   certificate (the API server's names and Service IP, loopback, wildcards,
 *   ...), because with kubeadm the kubelet-serving CA is the cluster CA and
 *   such a certificate is a man-in-the-middle credential;
 * - `operator-policy`: the operator's own limits (name pattern, CIDRs,
 *   counts, lifetime);
 * - `san-ownership` (`san_ownership.ts`): every SAN is an address of the
 *   Node named by the CN, and of no other Node.
 *
 * Messages name a setting as the policy was compiled to show it
 * (`CompiledPolicy.labels`: the setting's own name, or the CLI's flag).
 *
 * @example
 * ```ts
 * import { compileServingPolicy, defaultServingPolicy, type CompiledPolicy } from "./policy.ts";
 * import { evaluateServingPolicy } from "./policy_checks.ts";
 * const policy = compileServingPolicy(defaultServingPolicy()) as CompiledPolicy;
 * evaluateServingPolicy(policy, { dnsNames: ["localhost"] })[2].check.reason; // "ProtectedName"
 * ```
 *
 * @module
 */
import type { ReasonCode } from "./types.ts";
import {
  cidrContains,
  embeddedIpv4,
  foldIpv4Mapped,
  formatIp,
  tryParseIp,
} from "./ip.ts";
import { canonicalDnsName, dnsNameSyntaxError } from "./dns_name.ts";
import { quote, quoteList } from "./text.ts";
import { formatDuration } from "./duration.ts";
import type { CompiledPolicy } from "./policy.ts";
import {
  createdMs,
  failing,
  none,
  type PolicyInput,
  type PolicyResult,
  type PolicyRule,
} from "./policy_result.ts";
import { checkSanOwnership } from "./san_ownership.ts";

/**
 * `pending-age`: a CSR older than `maxPendingAgeMs` is ignored (`TooOld`):
 * never written, the kubelet has given up on it and asked again.
 *
 * @example
 * ```ts
 * import { compileServingPolicy, defaultServingPolicy, type CompiledPolicy } from "./policy.ts";
 * import { checkPendingAge } from "./policy_checks.ts";
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
    return none(
      rule,
      "skip",
      `not checked (${policy.labels.maxPendingAgeMs} is off)`,
    );
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
      }), more than ${policy.labels.maxPendingAgeMs} ${
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
 * import { compileServingPolicy, defaultServingPolicy, type CompiledPolicy } from "./policy.ts";
 * import { checkDnsNameSyntax } from "./policy_checks.ts";
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
 * import { compileServingPolicy, defaultServingPolicy, type CompiledPolicy } from "./policy.ts";
 * import { checkProtectedNames } from "./policy_checks.ts";
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
 * import { compileServingPolicy, defaultServingPolicy, type CompiledPolicy } from "./policy.ts";
 * import { checkOperatorPolicy } from "./policy_checks.ts";
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
        }, ${policy.labels.maxExpirationSeconds} allows at most ${p.maxExpirationSeconds}`,
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
        `request has ${dnsNames.length} DNS names, ${policy.labels.maxDnsNames} allows ${p.maxDnsNames}`,
      ]);
    } else passed.push(`${dnsNames.length} DNS names ≤ ${p.maxDnsNames}`);
  }
  if (p.maxIpAddresses !== undefined) {
    if (ips.length > p.maxIpAddresses) {
      violations.push([
        "PolicyViolation",
        `request has ${ips.length} IP addresses, ${policy.labels.maxIpAddresses} allows ${p.maxIpAddresses}`,
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
        } not match ${policy.labels.dnsNamePattern} ${quote(p.dnsNamePattern)}`,
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
        } not inside ${policy.labels.allowedCidrs} ${quoteList(list)}`,
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

/**
 * Every policy check, in evaluation order.
 *
 * @example
 * ```ts
 * import { SERVING_POLICY_RULES } from "./policy_checks.ts";
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
 * import { compileServingPolicy, defaultServingPolicy, type CompiledPolicy } from "./policy.ts";
 * import { evaluateServingPolicy } from "./policy_checks.ts";
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
