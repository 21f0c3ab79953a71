/**
 * An independent oracle for "may this CSR be approved?", for the property
 * tests of the decision core.
 *
 * It is written from the rule list in README.md ("What gets approved") and
 * issue 5 (SAN ownership, protected names, pending age), deliberately not
 * from `src/core`: the request is read with `@peculiar/x509`'s ASN.1 parser
 * (the core walks the DER itself), IPs are compared as folded bytes (the core
 * compares canonical text), and IPv6 text is normalised through the WHATWG
 * URL parser. Two independent readers that agree are the point: where they
 * disagree, one of them is wrong.
 *
 * The oracle is lenient where leniency cannot make an approval unsafe
 * (whitespace in base64, text around the PEM block, BER quirks the library
 * accepts): the core may reject more than the oracle, but it must never
 * approve what the oracle rejects.
 *
 * @module
 */
import * as x509 from "../../src/x509.ts";

/** What the oracle knows about one Node: the SAN keys its addresses own. */
export interface OracleNode {
  /** `metadata.name` of the Node. */
  name: string;
  /** DNS names it owns, canonical (see {@linkcode canonicalDns}). */
  dns: readonly string[];
  /** IPs it owns, as {@linkcode ipKey} keys. */
  ips: readonly string[];
}

/** The world the oracle judges a CSR in. */
export interface OracleContext {
  /** Every Node the approver knows. */
  nodes: readonly OracleNode[];
  /** The clock. */
  now: Date;
  /** The API server's Service IPs (protected), as text. */
  apiServiceIps: readonly string[];
  /** Cluster DNS domain; default `cluster.local`. */
  clusterDomain?: string;
  /** The operator's policy flags; absent fields are off. */
  policy?: OraclePolicy;
}

/** The operator's policy flags, as issue 5 defines them. */
export interface OraclePolicy {
  /** Each DNS SAN (lower-case, no trailing dot) fully matches this regex. */
  dnsNamePattern?: string;
  /** Every IP SAN lies in one of these (`[]`: no IP SAN at all). */
  allowedCidrs?: readonly string[];
  maxDnsNames?: number;
  maxIpAddresses?: number;
  /** A CSR asking for a longer `spec.expirationSeconds` fails. */
  maxExpirationSeconds?: number;
  /** `false` turns the ownership check off (unsafe). */
  verifyNodeAddresses?: boolean;
  /** Extra protected DNS names (case-insensitive, trailing dot ignored). */
  protectedNames?: readonly string[];
  /** Extra protected CIDRs or single IPs. */
  protectedCidrs?: readonly string[];
  /** IPs in these may be listed by several Nodes and still be approved. */
  sharedAddressCidrs?: readonly string[];
}

/** The oracle's verdict: approvable only when no rule is violated. */
export interface OracleVerdict {
  approvable: boolean;
  /** One line per violated rule: `<rule>: <what was found>`. */
  violations: string[];
}

const SIGNER = "kubernetes.io/kubelet-serving";
const NODE_PREFIX = "system:node:";
const NODES_GROUP = "system:nodes";
const TERMINAL = new Set(["Approved", "Denied", "Failed"]);
const MAX_PEM_BYTES = 16384;
const MAX_SANS = 100;
const MAX_PENDING_AGE_MS = 60 * 60_000;
const USAGE_SETS = [
  ["digital signature", "key encipherment", "server auth"],
  ["digital signature", "server auth"],
];
const OID_SAN = "2.5.29.17";
const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
// Control, format and separator characters: a CN carrying them could forge
// log lines or render as another node's name (core hardening beyond README).
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

function show(value: unknown): string {
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 80 ? `${text.slice(0, 80)}…` : text;
  } catch {
    return String(value);
  }
}

/**
 * DNS names are compared case-insensitively without trailing dots.
 *
 * @example
 * ```ts
 * import { canonicalDns } from "./decision_oracle.ts";
 * canonicalDns("Node-A."); // "node-a"
 * ```
 */
export function canonicalDns(name: string): string {
  return name.toLowerCase().replace(/\.+$/, "");
}

function isIpv4Mapped(bytes: Uint8Array): boolean {
  return bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) &&
    bytes[10] === 0xff && bytes[11] === 0xff;
}

function fold(bytes: Uint8Array): Uint8Array {
  return isIpv4Mapped(bytes) ? bytes.slice(12) : bytes;
}

/**
 * The comparison key of an address: hex of its bytes, IPv4-mapped IPv6
 * folded to IPv4 (a client dialling `::ffff:10.0.0.1` reaches 10.0.0.1).
 *
 * @example
 * ```ts
 * import { ipKey } from "./decision_oracle.ts";
 * ipKey(new Uint8Array([10, 0, 0, 1])); // "0a000001"
 * ```
 */
export function ipKey(bytes: Uint8Array | readonly number[]): string {
  return Array.from(
    fold(Uint8Array.from(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/**
 * Reads IP text strictly (dotted IPv4 without leading zeros, or IPv6 as the
 * WHATWG URL parser accepts it inside brackets) into 4 or 16 bytes.
 *
 * @example
 * ```ts
 * import { parseIpText } from "./decision_oracle.ts";
 * parseIpText("2001:db8::1")?.length; // 16
 * parseIpText("worker-1"); // undefined
 * ```
 */
export function parseIpText(text: string): Uint8Array | undefined {
  if (/^(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}$/.test(text)) {
    const parts = text.split(".").map(Number);
    return parts.every((p) => p <= 255) ? Uint8Array.from(parts) : undefined;
  }
  if (!text.includes(":") || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let host: string;
  try {
    host = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  // The URL serialisation is pure hex groups with at most one "::".
  const [head, tail] = host.split("::");
  const groups = (part: string | undefined) =>
    part ? part.split(":").map((g) => parseInt(g, 16)) : [];
  const left = groups(head);
  const right = groups(tail);
  const all = tail === undefined
    ? left
    : [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/**
 * True when `cidr` (`ADDRESS/PREFIX`, or a bare address) contains the
 * address: same family after folding IPv4-mapped forms, first PREFIX bits
 * equal. An unreadable CIDR contains nothing.
 *
 * @example
 * ```ts
 * import { cidrHolds } from "./decision_oracle.ts";
 * cidrHolds("10.0.0.0/8", new Uint8Array([10, 1, 2, 3])); // true
 * ```
 */
export function cidrHolds(
  cidr: string,
  raw: Uint8Array | readonly number[],
): boolean {
  const [text, prefixText] = cidr.split("/");
  const network = parseIpText(text);
  if (!network) return false;
  let prefix = prefixText === undefined
    ? network.length * 8
    : Number(prefixText);
  let net = network;
  if (isIpv4Mapped(network) && prefix >= 96) {
    net = network.slice(12);
    prefix -= 96;
  }
  const ip = fold(Uint8Array.from(raw));
  if (ip.length !== net.length) return false;
  for (let bit = 0; bit < prefix; bit++) {
    const mask = 0x80 >> (bit % 8);
    if ((ip[bit >> 3] & mask) !== (net[bit >> 3] & mask)) return false;
  }
  return true;
}

/**
 * True for addresses a node serving certificate must never carry: loopback,
 * unspecified and IPv4-compatible (`::/96`), link-local, multicast, the
 * broadcast address, and the API server's Service IPs.
 *
 * @example
 * ```ts
 * import { isProtectedIp } from "./decision_oracle.ts";
 * isProtectedIp(new Uint8Array([127, 0, 0, 1]), []); // true
 * ```
 */
export function isProtectedIp(
  raw: Uint8Array | readonly number[],
  apiServiceIps: readonly string[],
): boolean {
  const b = fold(Uint8Array.from(raw));
  // An IPv6 address that carries an IPv4 one is judged as that one too.
  if (ipv4Inside(b).some((v4) => isProtectedIp(v4, apiServiceIps))) {
    return true;
  }
  const key = ipKey(b);
  for (const text of apiServiceIps) {
    const api = parseIpText(text);
    if (api && ipKey(api) === key) return true;
  }
  if (b.length === 4) {
    return b[0] === 127 || b[0] === 0 || (b[0] === 169 && b[1] === 254) ||
      (b[0] >= 224 && b[0] <= 239) || b.every((x) => x === 255);
  }
  return b.subarray(0, 12).every((x) => x === 0) ||
    (b[0] === 0xfe && (b[1] & 0xc0) === 0x80) || b[0] === 0xff;
}

/**
 * The IPv4 addresses an IPv6 address carries by a well-known scheme: SIIT
 * `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96`, every RFC 6052 layout of the
 * local-use `64:ff9b:1::/48`, and 6to4 `2002:a.b.c.d::/48`. (IPv4-mapped is
 * folded by the caller; IPv4-compatible `::/96` is protected whole.)
 *
 * @example
 * ```ts
 * import { ipv4Inside } from "./decision_oracle.ts";
 * ipv4Inside(new Uint8Array([0x20, 0x02, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])); // [[127, 0, 0, 1]]
 * ```
 */
export function ipv4Inside(b: Uint8Array): Uint8Array[] {
  if (b.length !== 16) return [];
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const v4 = (...hexOffsets: number[]) =>
    Uint8Array.from(
      hexOffsets,
      (o) => parseInt(hex.slice(o, o + 2), 16),
    );
  if (hex.startsWith("0".repeat(16) + "ffff0000")) return [v4(24, 26, 28, 30)];
  if (hex.startsWith("0064ff9b" + "0".repeat(16))) return [v4(24, 26, 28, 30)];
  if (hex.startsWith("0064ff9b0001")) {
    return [
      v4(12, 14, 18, 20),
      v4(14, 18, 20, 22),
      v4(18, 20, 22, 24),
      v4(24, 26, 28, 30),
    ];
  }
  if (hex.startsWith("2002")) return [v4(4, 6, 8, 10)];
  return [];
}

/**
 * True when `name` is a DNS name a certificate may carry: letters, digits
 * and hyphens in dot-separated labels of 1 to 63 characters that neither
 * start nor end with a hyphen, 253 characters at most, one optional final
 * dot; a leading `*.` is allowed here (the wildcard rule refuses it).
 *
 * @example
 * ```ts
 * import { isDnsSyntax } from "./decision_oracle.ts";
 * isDnsSyntax("a..b"); // false
 * ```
 */
export function isDnsSyntax(name: string): boolean {
  let rest = name.startsWith("*.") ? name.slice(2) : name;
  if (rest.endsWith(".")) rest = rest.slice(0, -1);
  if (rest.length === 0 || rest.length > 253) return false;
  return rest.split(".").every((label) =>
    /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label)
  );
}

/**
 * True for DNS names a node serving certificate must never carry: the
 * `kubernetes` Service names, `localhost` and `*.localhost`, wildcards,
 * any in-cluster Service name (`*.svc`, `*.svc.<domain>`), and names spelled
 * as a protected IP.
 *
 * @example
 * ```ts
 * import { isProtectedDnsName } from "./decision_oracle.ts";
 * isProtectedDnsName("KUBERNETES.default.svc.", [], "cluster.local"); // true
 * ```
 */
export function isProtectedDnsName(
  name: string,
  apiServiceIps: readonly string[],
  clusterDomain = "cluster.local",
): boolean {
  const c = canonicalDns(name);
  const fixed = [
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    `kubernetes.default.svc.${clusterDomain}`,
    "localhost",
    "localhost.localdomain",
    "ip6-localhost",
    "ip6-loopback",
    "localhost4",
    "localhost6",
    "localhost4.localdomain4",
    "localhost6.localdomain6",
  ];
  if (name.includes("*") || fixed.includes(c)) return true;
  if (c.endsWith(".localhost")) return true;
  if (c.endsWith(".svc") || c.endsWith(`.svc.${clusterDomain}`)) return true;
  const asIp = parseIpText(c);
  if (asIp !== undefined) return isProtectedIp(asIp, apiServiceIps);
  // Not a strict IP, yet getaddrinfo would read it as one (127.1, 0x7f.1):
  // the last label is all digits or hex with 0x.
  const last = c.split(".").at(-1) ?? "";
  return /^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/.test(last);
}

/** What the oracle reads from `spec.request`. */
interface RequestFacts {
  pemBytes: number;
  keyOk: boolean;
  key: string;
  commonNames: string[];
  organizations: string[];
  names: Array<{ type: string; value: string }>;
}

function decodeBase64(text: string): Uint8Array | undefined {
  try {
    return Uint8Array.fromBase64(text.replace(/\s+/g, ""));
  } catch {
    return undefined;
  }
}

function describeAlgorithm(algorithm: Algorithm): string {
  const a = algorithm as Algorithm & {
    namedCurve?: string;
    modulusLength?: number;
  };
  return [a.name, a.namedCurve, a.modulusLength].filter((x) => x).join(" ");
}

// Reading depends on the text alone, and most mutated cases share theirs.
const readings = new Map<string, Promise<RequestFacts | string>>();

function readRequest(specRequest: unknown): Promise<RequestFacts | string> {
  if (typeof specRequest !== "string") return readRequestSafely(specRequest);
  let reading = readings.get(specRequest);
  if (!reading) {
    if (readings.size > 1000) readings.clear();
    reading = readRequestSafely(specRequest);
    readings.set(specRequest, reading);
  }
  return reading;
}

async function readRequestSafely(
  specRequest: unknown,
): Promise<RequestFacts | string> {
  try {
    return await readRequestOrThrow(specRequest);
  } catch (error) {
    // The library builds typed objects eagerly and throws on what it does
    // not model; for the oracle that is simply "unreadable".
    return `x509 cannot read the request: ${(error as Error)?.message}`;
  }
}

async function readRequestOrThrow(
  specRequest: unknown,
): Promise<RequestFacts | string> {
  if (typeof specRequest !== "string") return "spec.request is not a string";
  const pem = decodeBase64(specRequest);
  if (!pem) return "spec.request is not base64";
  if (pem.length > MAX_PEM_BYTES) return `PEM is ${pem.length} bytes`;
  const text = new TextDecoder().decode(pem);
  const begins = text.match(/-----BEGIN /g) ?? [];
  if (begins.length !== 1) return `${begins.length} PEM blocks`;
  const block =
    /-----BEGIN CERTIFICATE REQUEST-----([\s\S]*?)-----END CERTIFICATE REQUEST-----/
      .exec(text);
  if (!block) return "no CERTIFICATE REQUEST block";
  const der = decodeBase64(block[1]);
  if (!der || der.length === 0) return "PEM body is not base64";
  let request: x509.Pkcs10CertificateRequest;
  try {
    request = new x509.Pkcs10CertificateRequest(Uint8Array.from(der));
  } catch (error) {
    return `x509 cannot parse the DER: ${(error as Error).message}`;
  }
  let verified = false;
  try {
    verified = await request.verify();
  } catch {
    verified = false;
  }
  if (!verified) return "self-signature does not verify";
  let algorithm: Algorithm;
  try {
    algorithm = request.publicKey.algorithm;
  } catch (error) {
    return `unreadable public key: ${(error as Error).message}`;
  }
  const a = algorithm as Algorithm & {
    namedCurve?: string;
    modulusLength?: number;
  };
  const rsa = a.name === "RSASSA-PKCS1-v1_5" || a.name === "RSA-PSS";
  const keyOk = (rsa && (a.modulusLength ?? 0) >= 2048 &&
    (a.modulusLength ?? 0) <= 8192) ||
    (a.name === "ECDSA" && ["P-256", "P-384"].includes(a.namedCurve ?? "")) ||
    a.name === "Ed25519";
  // More than one extension list (or SAN extension) would let two readers
  // see different SANs: never approvable.
  const lists = request.getAttributes(OID_EXTENSION_REQUEST);
  if (lists.length > 1) return `${lists.length} extensionRequest attributes`;
  if (lists.length === 1 && lists[0].values.length !== 1) {
    return `extensionRequest has ${lists[0].values.length} values`;
  }
  let names: Array<{ type: string; value: string }> = [];
  try {
    const sans = request.extensions.filter((e) => e.type === OID_SAN);
    if (sans.length > 1) return `${sans.length} SAN extensions`;
    if (sans.length === 1) {
      names = new x509.SubjectAlternativeNameExtension(sans[0].rawData).names
        .items.map((n) => ({ type: n.type, value: n.value }));
    }
  } catch (error) {
    return `unreadable extensions: ${(error as Error).message}`;
  }
  return {
    pemBytes: pem.length,
    keyOk,
    key: describeAlgorithm(algorithm),
    commonNames: request.subjectName.getField("CN"),
    organizations: request.subjectName.getField("O"),
    names,
  };
}

/**
 * Judges a CSR object against every approval rule. Never throws; collects
 * every violation it can see (a request that cannot be read stops the
 * request-level rules).
 *
 * @example
 * ```ts
 * import { approvability } from "./decision_oracle.ts";
 * const verdict = await approvability({}, { nodes: [], now: new Date(), apiServiceIps: [] });
 * verdict.approvable; // false
 * ```
 */
export async function approvability(
  csr: unknown,
  context: OracleContext,
): Promise<OracleVerdict> {
  const violations: string[] = [];
  const add = (rule: string, found: string) =>
    violations.push(`${rule}: ${found}`);
  const done = (): OracleVerdict => ({
    approvable: violations.length === 0,
    violations,
  });
  if (!isRecord(csr)) {
    add("object", "CSR is not an object");
    return done();
  }
  const { metadata, spec, status } = csr;
  if (
    !isRecord(metadata) || typeof metadata.name !== "string" ||
    metadata.name === ""
  ) add("object", "metadata.name is missing");
  if (!isRecord(spec)) {
    add("object", "spec is not an object");
    return done();
  }
  // Rule 1: our signer.
  if (spec.signerName !== SIGNER) {
    add("1 signer", `signerName is ${show(spec.signerName)}`);
  }
  // Rule 2: pending, not decided, not deleting.
  if (status !== undefined && status !== null) {
    if (!isRecord(status)) add("object", "status is not an object");
    else {
      const conditions = status.conditions;
      if (conditions !== undefined && conditions !== null) {
        if (!Array.isArray(conditions)) {
          add("object", "status.conditions is not a list");
        } else if (
          conditions.some((c) => isRecord(c) && TERMINAL.has(c.type as string))
        ) add("2 state", "has a terminal condition");
      }
      const certificate = status.certificate;
      if (
        certificate !== undefined && certificate !== null && certificate !== ""
      ) add("2 state", "has a certificate");
    }
  }
  if (
    isRecord(metadata) && metadata.deletionTimestamp !== undefined &&
    metadata.deletionTimestamp !== null
  ) add("2 state", "is being deleted");
  // Issue 5: CSRs older than --max-pending-age (1 h) are left alone.
  if (isRecord(metadata) && typeof metadata.creationTimestamp === "string") {
    const created = Date.parse(metadata.creationTimestamp);
    if (
      Number.isFinite(created) &&
      context.now.getTime() - created > MAX_PENDING_AGE_MS
    ) add("pending-age", `created at ${metadata.creationTimestamp}`);
  }
  // Rules 3 and 7: a node requester in system:nodes.
  const username = spec.username;
  if (typeof username !== "string" || !username.startsWith(NODE_PREFIX)) {
    add("3 requester", `username is ${show(username)}`);
  }
  if (!isStrings(spec.groups) || !spec.groups.includes(NODES_GROUP)) {
    add("7 groups", `groups are ${show(spec.groups)}`);
  }
  // Rule 8: exactly one of the two usage sets, no duplicates.
  const usages = spec.usages;
  if (
    !isStrings(usages) || new Set(usages).size !== usages.length ||
    !USAGE_SETS.some((set) =>
      set.length === usages.length && set.every((u) => usages.includes(u))
    )
  ) add("8 usages", `usages are ${show(usages)}`);
  const expiration = spec.expirationSeconds;
  if (
    expiration !== undefined && expiration !== null &&
    !(typeof expiration === "number" && Number.isInteger(expiration))
  ) add("object", `expirationSeconds is ${show(expiration)}`);

  // Rule 4: one PEM CERTIFICATE REQUEST that parses and verifies.
  const request = await readRequest(spec.request);
  if (typeof request === "string") {
    add("4 request", request);
    return done();
  }
  // Rule 5: key policy.
  if (!request.keyOk) add("5 key", `key is ${request.key}`);
  // Rule 6: O exactly [system:nodes], exactly one CN system:node:<name>.
  const o = request.organizations;
  if (o.length !== 1 || o[0] !== NODES_GROUP) {
    add("6 subject O", `O is ${show(o)}`);
  }
  const cns = request.commonNames;
  const cn = cns.length === 1 ? cns[0] : undefined;
  const node = cn !== undefined && cn.startsWith(NODE_PREFIX) &&
      cn.length > NODE_PREFIX.length && !INVISIBLE.test(cn)
    ? cn.slice(NODE_PREFIX.length)
    : undefined;
  if (node === undefined) add("6 subject CN", `CNs are ${show(cns)}`);
  // Rule 7: the requester is the node named by the CN.
  if (cn === undefined || username !== cn) {
    add("7 requester", `username ${show(username)} vs CNs ${show(cns)}`);
  }
  // Rule 9: DNS and IP SANs only, at least one, a sane count.
  const names = request.names;
  if (names.length > MAX_SANS) add("9 SANs", `${names.length} SANs`);
  const dns = names.filter((n) => n.type === "dns").map((n) => n.value);
  const ipTexts = names.filter((n) => n.type === "ip").map((n) => n.value);
  const others = names.filter((n) => n.type !== "dns" && n.type !== "ip");
  if (dns.length + ipTexts.length === 0) add("9 SANs", "no DNS or IP SAN");
  if (others.length > 0) {
    add("9 SANs", `other SAN kinds ${show(others.map((n) => n.type))}`);
  }
  const ips: Uint8Array[] = [];
  for (const text of ipTexts) {
    const bytes = parseIpText(text);
    if (bytes) ips.push(bytes);
    else add("9 SANs", `unreadable IP SAN ${show(text)}`);
  }
  // Issue 5: protected names and addresses, built in and the operator's.
  const api = context.apiServiceIps;
  const domain = context.clusterDomain ?? "cluster.local";
  const policy = context.policy ?? {};
  const extraNames = (policy.protectedNames ?? []).map(canonicalDns);
  for (const name of dns) {
    if (!isDnsSyntax(name)) add("dns syntax", `DNS ${show(name)}`);
  }
  for (const name of dns) {
    if (
      isProtectedDnsName(name, api, domain) ||
      extraNames.includes(canonicalDns(name))
    ) add("protected", `DNS ${show(name)}`);
  }
  for (const bytes of ips) {
    if (
      isProtectedIp(bytes, api) ||
      (policy.protectedCidrs ?? []).some((c) => cidrHolds(c, bytes))
    ) add("protected", `IP ${ipKey(bytes)}`);
  }
  // Issue 5: the operator's policy.
  if (policy.dnsNamePattern !== undefined) {
    const pattern = new RegExp(`^(?:${policy.dnsNamePattern})$`);
    for (const name of dns) {
      const c = canonicalDns(name);
      if (c.length > 253 || !pattern.test(c)) {
        add("policy", `DNS ${show(name)} does not match the pattern`);
      }
    }
  }
  const allowed = policy.allowedCidrs;
  if (allowed !== undefined) {
    for (const bytes of ips) {
      if (!allowed.some((c) => cidrHolds(c, bytes))) {
        add("policy", `IP ${ipKey(bytes)} is outside ${show(allowed)}`);
      }
    }
  }
  if (policy.maxDnsNames !== undefined && dns.length > policy.maxDnsNames) {
    add("policy", `${dns.length} DNS SANs`);
  }
  if (
    policy.maxIpAddresses !== undefined && ips.length > policy.maxIpAddresses
  ) add("policy", `${ips.length} IP SANs`);
  if (
    policy.maxExpirationSeconds !== undefined &&
    typeof expiration === "number" &&
    !(expiration <= policy.maxExpirationSeconds)
  ) add("policy", `expirationSeconds ${expiration}`);
  // Issue 5: every SAN is an address of the Node named by the CN.
  if (policy.verifyNodeAddresses === false) return done();
  const owner = node === undefined
    ? undefined
    : context.nodes.find((n) => n.name === node);
  if (node !== undefined && !owner) add("ownership", `no Node ${show(node)}`);
  // An address another Node lists too proves nothing (nodes write their
  // own status), unless the operator declared its range shared.
  const otherNodes = context.nodes.filter((n) => n.name !== node);
  for (const name of dns) {
    const c = canonicalDns(name);
    if (otherNodes.some((n) => n.dns.includes(c))) {
      add("ownership", `DNS ${show(name)} is listed by another Node`);
    }
  }
  for (const bytes of ips) {
    const shared = (policy.sharedAddressCidrs ?? []).some((c) =>
      cidrHolds(c, bytes)
    );
    if (!shared && otherNodes.some((n) => n.ips.includes(ipKey(bytes)))) {
      add("ownership", `IP ${ipKey(bytes)} is listed by another Node`);
    }
  }
  if (owner) {
    for (const name of dns) {
      if (!owner.dns.includes(canonicalDns(name))) {
        add("ownership", `DNS ${show(name)} is not ${node}'s`);
      }
    }
    for (const bytes of ips) {
      if (!owner.ips.includes(ipKey(bytes))) {
        add("ownership", `IP ${ipKey(bytes)} is not ${node}'s`);
      }
    }
  }
  return done();
}
