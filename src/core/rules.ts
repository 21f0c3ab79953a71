/**
 * Kubernetes' own rules for kubelet serving CSRs, as pure synchronous checks,
 * and the one list of every rule the inspection evaluates.
 *
 * They mirror `ValidateKubeletServingCSR` (kubernetes `pkg/apis/certificates/
 * helpers.go`, which the kube-controller-manager signer enforces after
 * approval), plus what only the self-signature can tell. The requester
 * checks the kubelet TLS bootstrapping docs ask of serving approvers live in
 * `requester.ts`, the accepted keys in `key_policy.ts`; the list below runs
 * them all. Each rule returns a {@linkcode CheckResult}; rule ids are stable.
 *
 * @module
 */
import type { CheckResult } from "./types.ts";
import { describeKey, type ParsedRequest } from "./request.ts";
import { checkKeyPolicy } from "./key_policy.ts";
import {
  checkRequesterGroup,
  checkRequesterIdentity,
  NODE_USER_PREFIX,
  NODES_GROUP,
} from "./requester.ts";
import { fail, pass, type Rule, type RuleInput } from "./rule.ts";
import {
  describeSans,
  escapeInvisible,
  hasInvisible,
  quote,
  quoteList,
} from "./text.ts";

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

/**
 * `subject-organization`: the subject O is exactly `["system:nodes"]`.
 *
 * @example
 * ```ts
 * import { checkSubjectOrganization } from "./rules.ts";
 * import type { ParsedRequest } from "./request.ts";
 * const request = { organizations: ["system:masters"] } as ParsedRequest;
 * checkSubjectOrganization({ request, spec: {} }).reason; // "SubjectOrganizationMismatch"
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
 * import type { ParsedRequest } from "./request.ts";
 * const request = { commonNames: ["system:node:worker-1"] } as ParsedRequest;
 * nodeNameFromRequest(request); // "worker-1"
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
 * import type { ParsedRequest } from "./request.ts";
 * const request = { commonNames: ["system:node:"] } as ParsedRequest;
 * checkSubjectCommonName({ request, spec: {} }).reason; // "SubjectCommonNameInvalid"
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
 * import type { ParsedRequest } from "./request.ts";
 * const request = {} as ParsedRequest; // the usages are spec's, not the request's
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
 * import type { ParsedRequest } from "./request.ts";
 * const request = { dnsNames: [], ipAddresses: [] } as unknown as ParsedRequest;
 * checkSubjectAltNames({ request, spec: {} }).reason; // "NoSubjectAltNames"
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
 * `signature`: the request's self-signature verifies with its own key
 * (defence in depth: the API server checked it on create).
 *
 * @example
 * ```ts
 * import { checkSignature } from "./rules.ts";
 * import type { ParsedRequest } from "./request.ts";
 * const request = { signatureValid: true } as ParsedRequest;
 * checkSignature({ request, spec: {} }).result; // "pass"
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
 * import type { ParsedRequest } from "./request.ts";
 * const request: ParsedRequest = {
 *   pemBytes: 500,
 *   commonNames: ["system:node:worker-1"],
 *   organizations: ["system:nodes"],
 *   subject: "O=system:nodes, CN=system:node:worker-1",
 *   dnsNames: ["worker-1"],
 *   ipAddresses: ["10.0.0.1"],
 *   emailAddresses: [],
 *   uris: [],
 *   otherNames: 0,
 *   publicKey: { algorithm: "Ed25519", oid: "1.3.101.112" },
 *   signatureAlgorithm: "1.3.101.112",
 *   signatureValid: true,
 * };
 * const failed = evaluateKubeletServingRules({
 *   request,
 *   spec: { username: "system:node:worker-1", groups: ["system:nodes"], usages: ["client auth"] },
 * }).find((check) => check.result === "fail");
 * failed?.rule; // "usages"
 * ```
 */
export function evaluateKubeletServingRules(input: RuleInput): CheckResult[] {
  return KUBELET_SERVING_RULES.map((rule) => rule.check(input));
}
