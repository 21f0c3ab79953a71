/**
 * The serving policy's settings ({@linkcode ServingPolicy}), their defaults,
 * and {@linkcode compileServingPolicy}: validated once, every error reported,
 * so that the checks (`policy_checks.ts`, `san_ownership.ts`) never fail on
 * configuration. Pure; no I/O.
 *
 * Core names a setting by its own name (`maxDnsNames`). A caller that shows
 * settings otherwise (the CLI: `--max-dns-names`) passes `settingLabel`;
 * the labels are kept in the compiled policy, so the checks' messages use
 * them too.
 *
 * About 440 lines, half of them documentation: the settings, their defaults
 * and their validation are one concept, checked side by side.
 *
 * @example
 * ```ts
 * import { compileServingPolicy, defaultServingPolicy } from "./policy.ts";
 * const result = compileServingPolicy({ ...defaultServingPolicy(), maxDnsNames: -1, allowedCidrs: ["ten"] });
 * if ("errors" in result) console.log(result.errors.length); // 2
 * ```
 *
 * @module
 */
import { type Cidr, parseCidr } from "./ip.ts";
import { canonicalDnsName, dnsNameSyntaxError } from "./dns_name.ts";
import { quote } from "./text.ts";

/** The operator's serving-certificate policy: its settings, by their own names. */
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

/** One setting of {@linkcode ServingPolicy}, by its own name. */
export type PolicySetting = keyof ServingPolicy;

/** How a caller shows a setting in messages (default: its own name). */
export type SettingLabel = (setting: PolicySetting) => string;

// Every setting, once: the compiler checks that none is missing.
const SETTINGS: Record<PolicySetting, true> = {
  verifyNodeAddresses: true,
  clusterDomain: true,
  protectedNames: true,
  protectedCidrs: true,
  apiServiceIps: true,
  dnsNamePattern: true,
  allowedCidrs: true,
  sharedAddressCidrs: true,
  maxDnsNames: true,
  maxIpAddresses: true,
  maxExpirationSeconds: true,
  nodeAddressWaitMs: true,
  maxPendingAgeMs: true,
};

/**
 * Every setting's name, in declaration order.
 *
 * @example
 * ```ts
 * import { POLICY_SETTINGS } from "./policy.ts";
 * POLICY_SETTINGS.includes("maxDnsNames"); // true
 * ```
 */
export const POLICY_SETTINGS: readonly PolicySetting[] = Object.keys(
  SETTINGS,
) as PolicySetting[];

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
  /** Marks a successful compilation (the error result has `errors`). */
  readonly compiled: true;
  /** A copy of the source policy. */
  readonly policy: Readonly<ServingPolicy>;
  /** How messages name each setting (see {@linkcode CompileOptions}). */
  readonly labels: Readonly<Record<PolicySetting, string>>;
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

/** Every problem {@linkcode compileServingPolicy} found. */
export interface PolicyErrors {
  /** One message per bad setting or value, in the settings' order. */
  readonly errors: readonly string[];
  /** The same on one line (`; `-joined): exactly the message when there is one. */
  readonly error: string;
}

/** Options of {@linkcode compileServingPolicy}. */
export interface CompileOptions {
  /**
   * How messages (compile errors, and the checks' messages) name a setting.
   * Default: its own name (`maxDnsNames`); the CLI passes its flag names.
   */
  settingLabel?: SettingLabel;
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

const API_SERVICE_NAME = "a name of the API server's kubernetes Service";
const LOOPBACK_NAME = "a loopback name";

function isNonNegativeInteger(v: unknown): boolean {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

/** The labels of every setting; a label that fails falls back to the name. */
function settingLabels(
  settingLabel: SettingLabel | undefined,
): Record<PolicySetting, string> {
  const labels = {} as Record<PolicySetting, string>;
  for (const setting of POLICY_SETTINGS) {
    let label: unknown;
    try {
      label = settingLabel?.(setting);
    } catch {
      label = undefined;
    }
    labels[setting] = typeof label === "string" && label !== ""
      ? label
      : setting;
  }
  return labels;
}

/** Collects compile errors, each prefixed with its setting's label. */
class Problems {
  readonly errors: string[] = [];
  constructor(readonly labels: Readonly<Record<PolicySetting, string>>) {}
  add(setting: PolicySetting, message: string): void {
    this.errors.push(`${this.labels[setting]}: ${message}`);
  }
  /** Runs `fn`; a throw is an error of `setting` with the thrown message. */
  parse<T>(setting: PolicySetting, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (error) {
      this.add(setting, (error as Error).message);
      return undefined;
    }
  }
}

/**
 * Validates a policy once (regex, CIDRs, IPs, numbers) so the checks never
 * fail on configuration. Every bad setting is reported, each message
 * starting with the setting's label (see {@linkcode CompileOptions}).
 *
 * @example
 * ```ts
 * import { compileServingPolicy, defaultServingPolicy } from "./policy.ts";
 * const compiled = compileServingPolicy({ ...defaultServingPolicy(), allowedCidrs: ["10.0.0.0/8"] });
 * if ("errors" in compiled) throw new Error(compiled.errors.join("\n"));
 * const flagged = compileServingPolicy(
 *   { ...defaultServingPolicy(), maxDnsNames: -1 },
 *   { settingLabel: (setting) => setting === "maxDnsNames" ? "--max-dns-names" : setting },
 * );
 * // flagged.error: '--max-dns-names: -1 is not a whole number of 0 or more'
 * ```
 */
export function compileServingPolicy(
  p: ServingPolicy,
  options: CompileOptions = {},
): CompiledPolicy | PolicyErrors {
  const labels = settingLabels(options.settingLabel);
  const problems = new Problems(labels);
  const domain = canonicalDnsName(String(p.clusterDomain ?? ""));
  if (dnsNameSyntaxError(domain) !== undefined) {
    problems.add(
      "clusterDomain",
      `${
        quote(p.clusterDomain)
      } is not a DNS domain, expected e.g. "cluster.local"`,
    );
  }
  const names = compileProtectedNames(p, domain, problems);
  const ranges = compileProtectedRanges(p, problems);
  const dnsNamePattern = compilePattern(p, problems);
  const allowedCidrs = p.allowedCidrs === undefined
    ? undefined
    : compileCidrs("allowedCidrs", p.allowedCidrs, problems);
  const sharedAddressCidrs = compileCidrs(
    "sharedAddressCidrs",
    p.sharedAddressCidrs ?? [],
    problems,
  );
  checkNumbers(p, problems);
  if (problems.errors.length > 0) {
    return { errors: problems.errors, error: problems.errors.join("; ") };
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
    labels,
    protectedNames: names,
    protectedRanges: ranges,
    sharedAddressCidrs,
    ...(dnsNamePattern === undefined ? {} : { dnsNamePattern }),
    ...(allowedCidrs === undefined ? {} : { allowedCidrs }),
  };
}

/** Built-in protected names (with the cluster domain), then the operator's. */
function compileProtectedNames(
  p: ServingPolicy,
  domain: string,
  problems: Problems,
): Map<string, string> {
  const names = new Map<string, string>([
    ["kubernetes", API_SERVICE_NAME],
    ["kubernetes.default", API_SERVICE_NAME],
    ["kubernetes.default.svc", API_SERVICE_NAME],
    [`kubernetes.default.svc.${domain}`, API_SERVICE_NAME],
    ["localhost", LOOPBACK_NAME],
    // Loopback aliases of common /etc/hosts files.
    ["localhost.localdomain", LOOPBACK_NAME],
    ["ip6-localhost", LOOPBACK_NAME],
    ["ip6-loopback", LOOPBACK_NAME],
    // RHEL-family /etc/hosts.
    ["localhost4", LOOPBACK_NAME],
    ["localhost6", LOOPBACK_NAME],
    ["localhost4.localdomain4", LOOPBACK_NAME],
    ["localhost6.localdomain6", LOOPBACK_NAME],
  ]);
  for (const name of p.protectedNames ?? []) {
    const canonical = typeof name === "string" ? canonicalDnsName(name) : "";
    if (canonical === "" || /\s/.test(canonical)) {
      problems.add(
        "protectedNames",
        `${quote(name)} is not a DNS name, expected e.g. "api.example.com"`,
      );
      continue;
    }
    if (!names.has(canonical)) {
      names.set(canonical, `listed in ${problems.labels.protectedNames}`);
    }
  }
  return names;
}

/** API Service IPs first, then the built-in ranges, then the operator's. */
function compileProtectedRanges(
  p: ServingPolicy,
  problems: Problems,
): ProtectedRange[] {
  const ranges: ProtectedRange[] = BUILTIN_RANGES.map(([text, label]) => ({
    cidr: parseCidr(text),
    label,
  }));
  for (const ip of p.apiServiceIps ?? []) {
    const cidr = problems.parse(
      "apiServiceIps",
      () => parseCidr(ip, { allowBareIp: true }),
    );
    if (cidr) ranges.unshift({ cidr, label: "the API server's Service IP" });
  }
  for (const text of p.protectedCidrs ?? []) {
    const cidr = problems.parse(
      "protectedCidrs",
      () => parseCidr(text, { allowBareIp: true }),
    );
    if (cidr) {
      ranges.push({
        cidr,
        label: `inside ${problems.labels.protectedCidrs} ${cidr.text}`,
      });
    }
  }
  return ranges;
}

/** `^(?:pattern)$`, or undefined when unset or invalid (an error then). */
function compilePattern(
  p: ServingPolicy,
  problems: Problems,
): RegExp | undefined {
  if (p.dnsNamePattern === undefined) return undefined;
  if (typeof p.dnsNamePattern !== "string" || p.dnsNamePattern === "") {
    problems.add("dnsNamePattern", "the pattern is empty");
    return undefined;
  }
  try {
    // Compiling the source alone first rejects unbalanced groups such as
    // `a)|(b`, which would otherwise escape the anchors added below.
    new RegExp(p.dnsNamePattern);
    return new RegExp(`^(?:${p.dnsNamePattern})$`);
  } catch (error) {
    problems.add(
      "dnsNamePattern",
      `${quote(p.dnsNamePattern)} is not a valid regular expression: ${
        (error as Error).message
      }`,
    );
    return undefined;
  }
}

function compileCidrs(
  setting: "allowedCidrs" | "sharedAddressCidrs",
  texts: readonly string[],
  problems: Problems,
): Cidr[] {
  const cidrs: Cidr[] = [];
  for (const text of texts) {
    const cidr = problems.parse(
      setting,
      () => parseCidr(text, { allowBareIp: true }),
    );
    if (cidr) cidrs.push(cidr);
  }
  return cidrs;
}

/** Counts, the lifetime bound and the two durations. */
function checkNumbers(p: ServingPolicy, problems: Problems): void {
  for (const key of ["maxDnsNames", "maxIpAddresses"] as const) {
    if (p[key] !== undefined && !isNonNegativeInteger(p[key])) {
      problems.add(key, `${quote(p[key])} is not a whole number of 0 or more`);
    }
  }
  if (
    p.maxExpirationSeconds !== undefined &&
    !(isNonNegativeInteger(p.maxExpirationSeconds) &&
      p.maxExpirationSeconds > 0)
  ) {
    problems.add(
      "maxExpirationSeconds",
      `${
        quote(p.maxExpirationSeconds)
      } is not a whole number of seconds greater than 0`,
    );
  }
  if (!(Number.isFinite(p.nodeAddressWaitMs) && p.nodeAddressWaitMs >= 0)) {
    problems.add(
      "nodeAddressWaitMs",
      `${quote(p.nodeAddressWaitMs)} ms is not a duration of 0 or more`,
    );
  }
  if (
    p.maxPendingAgeMs !== undefined &&
    !(Number.isFinite(p.maxPendingAgeMs) && p.maxPendingAgeMs >= 0)
  ) {
    problems.add(
      "maxPendingAgeMs",
      `${quote(p.maxPendingAgeMs)} ms is not a duration of 0 or more`,
    );
  }
}
