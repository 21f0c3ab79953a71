/**
 * Kubernetes' own rules for kubelet serving CSRs, as pure synchronous checks.
 *
 * They mirror `ValidateKubeletServingCSR` (kubernetes `pkg/apis/certificates/
 * helpers.go`, which the kube-controller-manager signer enforces after
 * approval), plus the requester checks the kubelet TLS bootstrapping docs ask
 * of serving approvers, plus what only the self-signature and the key can
 * tell. Each rule returns a {@linkcode CheckResult}; rule ids are stable.
 *
 * @module
 */
import type { CheckResult, ReasonCode } from "./types.ts";
import { describeKey, type ParsedRequest } from "./request.ts";

/** What the rules read: the parsed request and the requester fields of `spec`. */
export interface RuleInput {
  request: ParsedRequest;
  spec: {
    username?: string;
    groups?: string[];
    usages?: string[];
  };
}

/** A named rule. */
export interface Rule {
  /** Stable kebab-case id, the `rule` of its results. */
  id: string;
  check(input: RuleInput): CheckResult;
}

/** The CN prefix of node identities. */
export const NODE_USER_PREFIX = "system:node:";
/** The group every node identity belongs to. */
export const NODES_GROUP = "system:nodes";

const KEY_ENCIPHERMENT = "key encipherment";
/** The usage set the kubelet requests for RSA keys (and Kubernetes' original one). */
export const SERVING_USAGES_RSA: readonly string[] = [
  "digital signature",
  KEY_ENCIPHERMENT,
  "server auth",
];
/** The usage set the kubelet requests for non-RSA keys since v1.27. */
export const SERVING_USAGES_NO_RSA: readonly string[] = [
  "digital signature",
  "server auth",
];

const MAX_QUOTED = 128;

/**
 * Quotes an untrusted value for a message: JSON string syntax, with every
 * control or invisible formatting character escaped (so a value cannot forge
 * log lines or reorder text) and long values cut.
 *
 * @example
 * ```ts
 * import { quote } from "./rules.ts";
 * quote("system:node:a\n"); // "\"system:node:a\\n\""
 * ```
 */
export function quote(value: unknown): string {
  if (value === undefined) return "(none)";
  let text = typeof value === "string" ? value : stringify(value);
  if (text.length > MAX_QUOTED) text = `${text.slice(0, MAX_QUOTED)}…`;
  const json = typeof value === "string" ? JSON.stringify(text) : text;
  return escapeInvisible(json);
}

/** JSON text of any value; never throws (BigInt, cycles, hostile toString). */
function stringify(value: unknown): string {
  try {
    return String(JSON.stringify(value));
  } catch {
    try {
      return String(value);
    } catch {
      return "(unprintable)";
    }
  }
}

/**
 * Quotes a list of untrusted values with {@linkcode quote}, at most 16 shown.
 *
 * @example
 * ```ts
 * import { quoteList } from "./rules.ts";
 * quoteList(["system:nodes", "evil"]); // "[\"system:nodes\",\"evil\"]"
 * ```
 */
export function quoteList(values: readonly unknown[]): string {
  const shown = values.slice(0, 16).map(quote);
  if (values.length > 16) shown.push(`… ${values.length - 16} more`);
  return `[${shown.join(",")}]`;
}

// C0/C1 controls, DEL, Unicode format characters (bidi overrides, zero-width
// joiners, ...) and line/paragraph separators.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

function escapeInvisible(text: string): string {
  return text.replace(
    INVISIBLE,
    (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, "0")}`,
  );
}

/**
 * True when `text` contains a control or invisible formatting character.
 *
 * @example
 * ```ts
 * import { hasInvisible } from "./rules.ts";
 * hasInvisible("worker\u202e1"); // true
 * ```
 */
export function hasInvisible(text: string): boolean {
  INVISIBLE.lastIndex = 0;
  const found = INVISIBLE.test(text);
  INVISIBLE.lastIndex = 0;
  return found;
}

function pass(rule: string, message: string): CheckResult {
  return { rule, result: "pass", message };
}

function fail(rule: string, reason: ReasonCode, message: string): CheckResult {
  return { rule, result: "fail", reason, message };
}

/**
 * `subject-organization`: the subject O is exactly `["system:nodes"]`.
 *
 * @example
 * ```ts
 * import { checkSubjectOrganization } from "./rules.ts";
 * declare const request: import("./request.ts").ParsedRequest;
 * checkSubjectOrganization({ request, spec: {} }).result;
 * ```
 */
export function checkSubjectOrganization(input: RuleInput): CheckResult {
  const rule = "subject-organization";
  const found = input.request.organizations;
  if (found.length === 1 && found[0] === NODES_GROUP) {
    return pass(rule, `subject organization is ["${NODES_GROUP}"]`);
  }
  return fail(
    rule,
    "SubjectOrganizationMismatch",
    `subject organization is ${
      quoteList(found)
    }, expected exactly ["${NODES_GROUP}"]`,
  );
}

/**
 * The node name from a request's CN, when the CN is exactly one valid
 * `system:node:<name>`; otherwise undefined.
 *
 * @example
 * ```ts
 * import { nodeNameFromRequest } from "./rules.ts";
 * declare const request: import("./request.ts").ParsedRequest;
 * const node = nodeNameFromRequest(request); // e.g. "worker-1"
 * ```
 */
export function nodeNameFromRequest(
  request: ParsedRequest,
): string | undefined {
  return checkSubjectCommonName({ request, spec: {} }).result === "pass"
    ? request.commonNames[0].slice(NODE_USER_PREFIX.length)
    : undefined;
}

/**
 * `subject-common-name`: exactly one CN, `system:node:<name>`, with a
 * non-empty name free of control and invisible characters.
 *
 * @example
 * ```ts
 * import { checkSubjectCommonName } from "./rules.ts";
 * declare const request: import("./request.ts").ParsedRequest;
 * checkSubjectCommonName({ request, spec: {} }).result;
 * ```
 */
export function checkSubjectCommonName(input: RuleInput): CheckResult {
  const rule = "subject-common-name";
  const names = input.request.commonNames;
  const expected = `expected exactly one "${NODE_USER_PREFIX}<node name>"`;
  if (names.length !== 1) {
    return fail(
      rule,
      "SubjectCommonNameInvalid",
      `subject has ${names.length} common names ${
        quoteList(names)
      }, ${expected}`,
    );
  }
  const cn = names[0];
  if (!cn.startsWith(NODE_USER_PREFIX)) {
    return fail(
      rule,
      "SubjectCommonNameInvalid",
      `subject common name is ${quote(cn)}, ${expected}`,
    );
  }
  if (cn.length === NODE_USER_PREFIX.length) {
    return fail(
      rule,
      "SubjectCommonNameInvalid",
      `subject common name is ${
        quote(cn)
      } with an empty node name, ${expected}`,
    );
  }
  if (hasInvisible(cn)) {
    return fail(
      rule,
      "SubjectCommonNameInvalid",
      `subject common name ${
        quote(cn)
      } contains control characters, ${expected}`,
    );
  }
  return pass(rule, `subject common name is ${quote(cn)}`);
}

/**
 * `requester-identity`: `spec.username` equals the CN, so a node cannot ask
 * for another node's certificate.
 *
 * @example
 * ```ts
 * import { checkRequesterIdentity } from "./rules.ts";
 * declare const request: import("./request.ts").ParsedRequest;
 * checkRequesterIdentity({ request, spec: { username: "system:node:a" } }).result;
 * ```
 */
export function checkRequesterIdentity(input: RuleInput): CheckResult {
  const rule = "requester-identity";
  const username = input.spec.username;
  const names = input.request.commonNames;
  if (names.length !== 1) {
    return fail(
      rule,
      "RequesterMismatch",
      `requester ${quote(username)} cannot match ${names.length} common names ${
        quoteList(names)
      }`,
    );
  }
  if (typeof username !== "string" || username !== names[0]) {
    return fail(
      rule,
      "RequesterMismatch",
      `requester ${quote(username)} does not match CN ${quote(names[0])}`,
    );
  }
  return pass(rule, `requester ${quote(username)} matches the CN`);
}

/**
 * `requester-group`: `spec.groups` contains `system:nodes`.
 *
 * @example
 * ```ts
 * import { checkRequesterGroup } from "./rules.ts";
 * declare const request: import("./request.ts").ParsedRequest;
 * checkRequesterGroup({ request, spec: { groups: ["system:nodes"] } }).result; // "pass"
 * ```
 */
export function checkRequesterGroup(input: RuleInput): CheckResult {
  const rule = "requester-group";
  const groups = input.spec.groups ?? [];
  if (groups.includes(NODES_GROUP)) {
    return pass(rule, `requester is in group "${NODES_GROUP}"`);
  }
  return fail(
    rule,
    "RequesterNotInNodesGroup",
    `requester groups are ${
      quoteList(groups)
    }, expected them to include "${NODES_GROUP}"`,
  );
}

function sameSet(found: readonly string[], expected: readonly string[]) {
  return found.length === expected.length &&
    expected.every((usage) => found.includes(usage));
}

/**
 * `usages`: `spec.usages` is, as a set without duplicates, exactly
 * {digital signature, key encipherment, server auth} or
 * {digital signature, server auth}. Either set is accepted for any key, as
 * Kubernetes does.
 *
 * @example
 * ```ts
 * import { checkUsages } from "./rules.ts";
 * declare const request: import("./request.ts").ParsedRequest;
 * checkUsages({ request, spec: { usages: ["digital signature", "server auth"] } }).result; // "pass"
 * ```
 */
export function checkUsages(input: RuleInput): CheckResult {
  const rule = "usages";
  const found = input.spec.usages ?? [];
  const expected = `expected ${quoteList(SERVING_USAGES_RSA)} or ${
    quoteList(SERVING_USAGES_NO_RSA)
  }`;
  const duplicate = found.find((usage, i) => found.indexOf(usage) !== i);
  if (duplicate !== undefined) {
    return fail(
      rule,
      "UsageMismatch",
      `usages are ${quoteList(found)} with ${
        quote(duplicate)
      } listed twice, ${expected}`,
    );
  }
  if (
    sameSet(found, SERVING_USAGES_RSA) || sameSet(found, SERVING_USAGES_NO_RSA)
  ) {
    return pass(rule, `usages are ${quoteList(found)}`);
  }
  return fail(
    rule,
    "UsageMismatch",
    `usages are ${quoteList(found)}, ${expected}`,
  );
}

/**
 * `subject-alt-names`: at least one DNS or IP SAN; no email, URI or other
 * kind of SAN (Kubernetes itself ignores otherName and friends; a serving
 * certificate has no use for them, so they are refused).
 *
 * @example
 * ```ts
 * import { checkSubjectAltNames } from "./rules.ts";
 * declare const request: import("./request.ts").ParsedRequest;
 * checkSubjectAltNames({ request, spec: {} }).result;
 * ```
 */
export function checkSubjectAltNames(input: RuleInput): CheckResult {
  const rule = "subject-alt-names";
  const r = input.request;
  if (r.dnsNames.length === 0 && r.ipAddresses.length === 0) {
    return fail(
      rule,
      "NoSubjectAltNames",
      "request has no DNS or IP subject alternative name, expected at least one",
    );
  }
  if (r.emailAddresses.length > 0) {
    return fail(
      rule,
      "EmailSANForbidden",
      `request has email subject alternative names ${
        quoteList(r.emailAddresses)
      }, expected none`,
    );
  }
  if (r.uris.length > 0) {
    return fail(
      rule,
      "URISANForbidden",
      `request has URI subject alternative names ${
        quoteList(r.uris)
      }, expected none`,
    );
  }
  if (r.otherNames > 0) {
    return fail(
      rule,
      "PolicyViolation",
      `request has ${r.otherNames} subject alternative names that are neither DNS nor IP (otherName, directoryName, registeredID, ...), expected none`,
    );
  }
  return pass(rule, `subject alternative names are ${describeSans(r)}`);
}

/**
 * `DNS a, b; IP 10.0.0.1` with every value escaped, for messages.
 *
 * @example
 * ```ts
 * import { describeSans } from "./rules.ts";
 * describeSans({ dnsNames: ["worker-1"], ipAddresses: ["10.0.0.1"] }); // "DNS worker-1; IP 10.0.0.1"
 * ```
 */
export function describeSans(
  request: Pick<ParsedRequest, "dnsNames" | "ipAddresses">,
): string {
  const list = (values: string[]) => {
    const shown = values.slice(0, 16).map((v) =>
      escapeInvisible(v.length > MAX_QUOTED ? `${v.slice(0, MAX_QUOTED)}…` : v)
    );
    if (values.length > 16) shown.push(`… ${values.length - 16} more`);
    return shown.join(", ");
  };
  const parts: string[] = [];
  if (request.dnsNames.length > 0) parts.push(`DNS ${list(request.dnsNames)}`);
  if (request.ipAddresses.length > 0) {
    parts.push(`IP ${list(request.ipAddresses)}`);
  }
  return parts.length > 0 ? parts.join("; ") : "none";
}

/**
 * `signature`: the request's self-signature verifies with its own key
 * (defence in depth: the API server checked it on create).
 *
 * @example
 * ```ts
 * import { checkSignature } from "./rules.ts";
 * declare const request: import("./request.ts").ParsedRequest;
 * checkSignature({ request, spec: {} }).result;
 * ```
 */
export function checkSignature(input: RuleInput): CheckResult {
  const rule = "signature";
  const r = input.request;
  if (r.signatureValid) {
    return pass(rule, "self-signature verifies with the request's public key");
  }
  if (r.signatureError !== undefined) {
    return fail(
      rule,
      "UnsupportedKey",
      `self-signature could not be verified: ${
        escapeInvisible(r.signatureError)
      }`,
    );
  }
  return fail(
    rule,
    "SignatureInvalid",
    `self-signature does not verify with the request's ${
      describeKey(r.publicKey)
    } public key`,
  );
}

/** Smallest accepted RSA modulus. */
export const MIN_RSA_BITS = 2048;
/** Largest accepted RSA modulus (the kubelet offers at most 4096). */
export const MAX_RSA_BITS = 8192;
/** Accepted ECDSA curves. */
export const ECDSA_CURVES: readonly string[] = ["P-256", "P-384"];

/**
 * `key-policy`: RSA 2048–8192 bits, ECDSA P-256 or P-384, or Ed25519.
 *
 * @example
 * ```ts
 * import { checkKeyPolicy } from "./rules.ts";
 * declare const request: import("./request.ts").ParsedRequest;
 * checkKeyPolicy({ request, spec: {} }).result;
 * ```
 */
export function checkKeyPolicy(input: RuleInput): CheckResult {
  const rule = "key-policy";
  const key = input.request.publicKey;
  const found = describeKey(key);
  const ok = (key.algorithm === "RSA" && key.rsaBits !== undefined &&
    key.rsaBits >= MIN_RSA_BITS && key.rsaBits <= MAX_RSA_BITS) ||
    (key.algorithm === "ECDSA" &&
      ECDSA_CURVES.includes(key.namedCurve ?? "")) ||
    key.algorithm === "Ed25519";
  if (ok) return pass(rule, `public key is ${found}`);
  return fail(
    rule,
    "UnsupportedKey",
    `public key is ${
      escapeInvisible(found)
    }, expected RSA ${MIN_RSA_BITS}-${MAX_RSA_BITS} bits, ECDSA ${
      ECDSA_CURVES.join(" or ")
    }, or Ed25519`,
  );
}

/**
 * Every Kubernetes kubelet-serving rule, in evaluation order.
 *
 * @example
 * ```ts
 * import { KUBELET_SERVING_RULES } from "./rules.ts";
 * console.log(KUBELET_SERVING_RULES.map((rule) => rule.id));
 * ```
 */
export const KUBELET_SERVING_RULES: readonly Rule[] = [
  { id: "subject-organization", check: checkSubjectOrganization },
  { id: "subject-common-name", check: checkSubjectCommonName },
  { id: "requester-identity", check: checkRequesterIdentity },
  { id: "requester-group", check: checkRequesterGroup },
  { id: "usages", check: checkUsages },
  { id: "subject-alt-names", check: checkSubjectAltNames },
  { id: "signature", check: checkSignature },
  { id: "key-policy", check: checkKeyPolicy },
];

/**
 * Runs every rule of {@linkcode KUBELET_SERVING_RULES} and returns all results
 * in order (the first failure decides; the rest explain).
 *
 * @example
 * ```ts
 * import { evaluateKubeletServingRules } from "./rules.ts";
 * declare const request: import("./request.ts").ParsedRequest;
 * const failed = evaluateKubeletServingRules({ request, spec: {} })
 *   .find((check) => check.result === "fail");
 * ```
 */
export function evaluateKubeletServingRules(input: RuleInput): CheckResult[] {
  return KUBELET_SERVING_RULES.map((rule) => rule.check(input));
}
