/**
 * Wire types of the Kubernetes objects the pure core reasons about, and the
 * shape of a decision. Types only: no runtime code lives here.
 *
 * @module
 */

/** One condition of a CSR's `status.conditions` (certificates.k8s.io/v1). */
export interface CertificateSigningRequestCondition {
  /** `Approved`, `Denied` or `Failed`. */
  type: string;
  /** Always `"True"` for the three well-known types. */
  status: string;
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

/**
 * A `certificates.k8s.io/v1` CertificateSigningRequest as the API server
 * serves it. Only the fields this project reads are named; the rest is kept
 * as-is so that an approval PUT sends back the whole object it validated.
 *
 * @example
 * ```ts
 * import type { CertificateSigningRequest } from "./types.ts";
 * const csr: CertificateSigningRequest = {
 *   metadata: { name: "csr-abcde" },
 *   spec: { request: "", signerName: "kubernetes.io/kubelet-serving" },
 * };
 * ```
 */
export interface CertificateSigningRequest {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    [key: string]: unknown;
  };
  spec: {
    /** base64 of the PEM text of a PKCS#10 `CERTIFICATE REQUEST`. */
    request: string;
    signerName: string;
    usages?: string[];
    username?: string;
    uid?: string;
    groups?: string[];
    extra?: Record<string, string[]>;
    expirationSeconds?: number;
    [key: string]: unknown;
  };
  status?: {
    conditions?: CertificateSigningRequestCondition[];
    certificate?: string;
    [key: string]: unknown;
  };
}

/**
 * What the approver does with a CSR.
 * - `approve`: write an `Approved` condition.
 * - `deny`: the request is invalid; write `Denied` only with `--deny-invalid`,
 *   otherwise leave it pending.
 * - `pending`: leave it for a human (e.g. the requester is not authorized for
 *   auto-approval); never denied automatically.
 * - `ignore`: not ours (other signer, non-node requester) or already terminal;
 *   never written.
 * - `wait`: not decidable yet (e.g. the Node has no addresses); re-decide later.
 */
export type Outcome = "approve" | "deny" | "pending" | "ignore" | "wait";

/** The result of one rule, as printed by `check` and logged on decisions. */
export interface CheckResult {
  /** Stable rule identifier, e.g. `subject-organization`. */
  rule: string;
  /** `pass`, `fail`, or `skip` (not evaluated, or not checkable offline). */
  result: "pass" | "fail" | "skip";
  /** Reason code when the rule failed (see {@linkcode ReasonCode}). */
  reason?: ReasonCode;
  /** Human message naming what was expected and what was found. */
  message: string;
}

/**
 * Stable machine-readable reason codes. They appear in conditions, Events,
 * logs and the `reason` label of metrics: never rename one.
 */
export type ReasonCode =
  // outcome approve
  | "AutoApproved"
  // outcome ignore
  | "NotKubeletServing"
  | "NotNodeRequester"
  | "AlreadyDecided"
  | "Deleting"
  // outcome deny: malformed request
  | "MalformedObject"
  | "InvalidRequestEncoding"
  | "InvalidRequestPEM"
  | "InvalidRequest"
  | "RequestTooLarge"
  | "SignatureInvalid"
  | "UnsupportedKey"
  // outcome deny: Kubernetes' own kubelet-serving rules
  | "SubjectOrganizationMismatch"
  | "SubjectCommonNameInvalid"
  | "RequesterMismatch"
  | "RequesterNotInNodesGroup"
  | "UsageMismatch"
  | "NoSubjectAltNames"
  | "EmailSANForbidden"
  | "URISANForbidden"
  | "TooManySANs"
  // outcome deny: beyond Kubernetes (issue 5)
  | "SANNotOwnedByNode"
  | "SANContested"
  | "InvalidDNSName"
  | "ProtectedName"
  | "PolicyViolation"
  | "ExpirationTooLong"
  | "TooOld"
  // outcome pending / wait
  | "Unauthorized"
  | "AuthorizationError"
  | "NodeNotFound"
  | "NodeAddressesUnknown"
  | "StormGuard";

/** A decision: pure data, computed without I/O. */
export interface Decision {
  outcome: Outcome;
  /** The deciding reason: the first failed rule's, or `AutoApproved`. */
  reason: ReasonCode;
  /** One human sentence naming the offending value when there is one. */
  message: string;
  /** Node name from the CN (`system:node:<name>`), when it could be read. */
  node?: string;
  /** Every rule's result, in evaluation order. */
  checks: CheckResult[];
  /**
   * For `wait`: when waiting ends (ISO 8601). Re-decide then at the latest;
   * the verdict is final from that time on.
   */
  retryAt?: string;
}
