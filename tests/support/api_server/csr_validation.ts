/**
 * CSR validation, copied from `pkg/apis/certificates/validation`: the
 * request must parse and its signature verify, usages are known and
 * unique, the signer name is qualified, condition rules hold, and updates
 * may not remove (or, outside /approval, add) decisive conditions.
 *
 * @module
 */
import * as x509 from "../../../src/x509.ts";
import { dns1123Label } from "./names.ts";
import type { FieldError } from "./status.ts";
import type { Obj } from "./store.ts";

const LEGACY_SIGNER = "kubernetes.io/legacy-unknown";

const VALID_USAGES = [
  "signing",
  "digital signature",
  "content commitment",
  "key encipherment",
  "key agreement",
  "data encipherment",
  "cert sign",
  "crl sign",
  "encipher only",
  "decipher only",
  "any",
  "server auth",
  "client auth",
  "code signing",
  "email protection",
  "s/mime",
  "ipsec end system",
  "ipsec tunnel",
  "ipsec user",
  "timestamping",
  "ocsp signing",
  "microsoft sgc",
  "netscape sgc",
];
const SORTED_USAGES = [...VALID_USAGES].sort();

/**
 * One condition as the validation reads it.
 *
 * @example
 * ```ts
 * import type { Condition } from "./csr_validation.ts";
 * const c: Condition = { type: "Approved", status: "True" };
 * ```
 */
export interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

/**
 * A CSR object as the validation reads it.
 *
 * @example
 * ```ts
 * import type { CsrShape } from "./csr_validation.ts";
 * const csr: CsrShape = { metadata: { name: "c" }, spec: { usages: ["server auth"] } };
 * ```
 */
export interface CsrShape extends Obj {
  spec: {
    request?: string;
    signerName?: string;
    expirationSeconds?: number;
    usages?: string[];
    username?: string;
    uid?: string;
    groups?: string[];
    extra?: Record<string, string[]>;
  };
  status?: { conditions?: Condition[]; certificate?: string };
}

// ------------------------------------------------------------ request

const requestChecks = new Map<string, Promise<string | undefined>>();

function pemBlock(
  text: string,
): { type: string; der: Uint8Array<ArrayBuffer> } | undefined {
  const begin = /-----BEGIN ([^\n-]*)-----\r?\n/.exec(text);
  if (!begin) return undefined;
  const type = begin[1];
  const rest = text.slice(begin.index + begin[0].length);
  const end = rest.indexOf(`-----END ${type}-----`);
  if (end < 0) return undefined;
  const body = rest.slice(0, end).replace(/\s+/g, "");
  try {
    return { type, der: Uint8Array.fromBase64(body) };
  } catch {
    return undefined;
  }
}

/**
 * The subject CN of a base64 PEM certificate request, or an error text as
 * Go's `ParseCSR` would give it (for NodeRestriction's CSR rule).
 *
 * @example
 * ```ts
 * import { requestCommonName } from "./csr_validation.ts";
 * requestCommonName(btoa("junk")); // { error: "PEM block type must be CERTIFICATE REQUEST" }
 * ```
 */
export function requestCommonName(
  requestB64: string,
): { cn: string } | { error: string } {
  let text: string;
  try {
    text = new TextDecoder().decode(
      Uint8Array.fromBase64(requestB64.replace(/[\r\n]/g, "")),
    );
  } catch {
    return { error: "PEM block type must be CERTIFICATE REQUEST" };
  }
  const block = pemBlock(text);
  if (!block || block.type !== "CERTIFICATE REQUEST") {
    return { error: "PEM block type must be CERTIFICATE REQUEST" };
  }
  try {
    const csr = new x509.Pkcs10CertificateRequest(block.der);
    return { cn: csr.subjectName.getField("CN")[0] ?? "" };
  } catch {
    return { error: "x509: malformed certificate request" };
  }
}

async function verifyRequest(requestB64: string): Promise<string | undefined> {
  let text: string;
  try {
    text = new TextDecoder().decode(
      Uint8Array.fromBase64(requestB64.replace(/[\r\n]/g, "")),
    );
  } catch {
    return "PEM block type must be CERTIFICATE REQUEST";
  }
  const block = pemBlock(text);
  if (!block || block.type !== "CERTIFICATE REQUEST") {
    return "PEM block type must be CERTIFICATE REQUEST";
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(block.der);
  } catch {
    return "x509: malformed certificate request";
  }
  const alg = csr.publicKey.algorithm.name;
  try {
    if (await csr.verify()) return undefined;
  } catch {
    return "x509: cannot verify signature: algorithm unimplemented";
  }
  if (alg === "ECDSA") return "x509: ECDSA verification failure";
  if (alg === "Ed25519") return "x509: Ed25519 verification failure";
  return "crypto/rsa: verification error";
}

/**
 * `validateCSR`: the request parses as a PEM CERTIFICATE REQUEST and its
 * signature verifies. Returns Go's error text, or undefined. Results are
 * cached by request bytes (the apiserver re-verifies on every update; the
 * answer never changes).
 *
 * @example
 * ```ts
 * import { checkCertificateRequest } from "./csr_validation.ts";
 * await checkCertificateRequest(btoa("not a pem")); // "PEM block type must be CERTIFICATE REQUEST"
 * ```
 */
export function checkCertificateRequest(
  requestB64: string,
): Promise<string | undefined> {
  let p = requestChecks.get(requestB64);
  if (p === undefined) {
    p = verifyRequest(requestB64);
    if (requestChecks.size > 20_000) requestChecks.clear();
    requestChecks.set(requestB64, p);
  }
  return p;
}

function certificateError(b64: string | undefined): string | undefined {
  if (!b64) return undefined;
  let text: string;
  try {
    text = new TextDecoder().decode(Uint8Array.fromBase64(b64));
  } catch {
    return "must contain at least one CERTIFICATE PEM block";
  }
  let blocks = 0;
  let rest = text;
  for (;;) {
    const block = pemBlock(rest);
    if (!block) break;
    if (block.type !== "CERTIFICATE") {
      return `only CERTIFICATE PEM blocks are allowed, found ${
        JSON.stringify(block.type)
      }`;
    }
    try {
      new x509.X509Certificate(block.der);
    } catch {
      return "x509: malformed certificate";
    }
    blocks++;
    rest = rest.slice(
      rest.indexOf(`-----END ${block.type}-----`) + 14 + block.type.length,
    );
  }
  return blocks === 0
    ? "must contain at least one CERTIFICATE PEM block"
    : undefined;
}

// ---------------------------------------------------------- validation

function signerNameErrors(signerName: string): FieldError[] {
  const field = "spec.signerName";
  if (signerName === "") return [{ type: "Required", field }];
  const segments = signerName.split("/");
  if (segments.length !== 2) {
    return [{
      type: "Invalid",
      field,
      value: signerName,
      detail:
        "must be a fully qualified domain and path of the form 'example.com/signer-name'",
    }];
  }
  const errs: FieldError[] = [];
  const [domain, path] = segments;
  if (domain.length > 253) errs.push({ type: "TooLong", field, max: 253 });
  const domainLabels = domain.split(".");
  for (const l of domainLabels) {
    const e = dns1123Label(l);
    if (e.length > 0) {
      for (const msg of e) {
        errs.push({
          type: "Invalid",
          field,
          value: domain,
          detail: `validating label ${JSON.stringify(l)}: ${msg}`,
        });
      }
      break;
    }
  }
  if (domainLabels.length < 2) {
    errs.push({
      type: "Invalid",
      field,
      value: domain,
      detail: "should be a domain with at least two segments separated by dots",
    });
  }
  for (const l of path.split(".")) {
    const e = dns1123Label(l);
    if (e.length > 0) {
      for (const msg of e) {
        errs.push({
          type: "Invalid",
          field,
          value: path,
          detail: `validating label ${JSON.stringify(l)}: ${msg}`,
        });
      }
      break;
    }
  }
  const maxPath = 253 - domain.length - 1;
  if (path.length > maxPath) {
    errs.push({ type: "TooLong", field, max: maxPath });
  }
  return errs;
}

/**
 * getValidationOptions: what an update path may do.
 *
 * @example
 * ```ts
 * import { optionsFor, type Options } from "./csr_validation.ts";
 * const o: Options = optionsFor({ metadata: { name: "c" }, spec: {} });
 * ```
 */
export interface Options {
  allowSettingApprovalConditions: boolean;
  allowSettingCertificate: boolean;
  allowBothApprovedAndDenied: boolean;
  allowLegacySignerName: boolean;
  allowDuplicateConditionTypes: boolean;
  allowEmptyConditionType: boolean;
  allowArbitraryCertificate: boolean;
  allowUnknownUsages: boolean;
  allowDuplicateUsages: boolean;
}

/**
 * The conditions of a CSR (none when absent).
 *
 * @example
 * ```ts
 * import { conditionsOf } from "./csr_validation.ts";
 * conditionsOf({ metadata: { name: "c" }, spec: {} }); // []
 * ```
 */
export function conditionsOf(csr: CsrShape | undefined): Condition[] {
  return csr?.status?.conditions ?? [];
}

function hasDuplicates(values: (string | undefined)[]): boolean {
  return new Set(values).size !== values.length;
}

/**
 * getValidationOptions(new, old): tolerances for data already stored.
 *
 * @example
 * ```ts
 * import { optionsFor } from "./csr_validation.ts";
 * optionsFor({ metadata: { name: "c" }, spec: {} }).allowDuplicateUsages; // false
 * ```
 */
export function optionsFor(csr: CsrShape, old?: CsrShape): Options {
  const oldConds = conditionsOf(old);
  const oldTypes = oldConds.map((c) => c.type);
  const oldUsages = old?.spec.usages ?? [];
  return {
    allowSettingApprovalConditions: false,
    allowSettingCertificate: false,
    allowBothApprovedAndDenied: old !== undefined &&
      oldTypes.includes("Approved") &&
      oldTypes.includes("Denied"),
    allowLegacySignerName: old?.spec.signerName === LEGACY_SIGNER,
    allowDuplicateConditionTypes: old !== undefined && hasDuplicates(oldTypes),
    allowEmptyConditionType: old !== undefined && oldTypes.some((t) => !t),
    allowArbitraryCertificate: old !== undefined &&
      ((csr.status?.certificate ?? "") === (old.status?.certificate ?? "") ||
        certificateError(old.status?.certificate) !== undefined),
    allowUnknownUsages: old !== undefined &&
      oldUsages.some((u) => !VALID_USAGES.includes(u)),
    allowDuplicateUsages: old !== undefined && hasDuplicates(oldUsages),
  };
}

function conditionErrors(csr: CsrShape, opts: Options): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  let hasApproved = false;
  let hasDenied = false;
  conditionsOf(csr).forEach((c, i) => {
    const path = `status.conditions[${i}]`;
    const type = c.type ?? "";
    if (!opts.allowEmptyConditionType && type === "") {
      errs.push({ type: "Required", field: `${path}.type` });
    }
    const allowed = ["Approved", "Denied", "Failed"].includes(type)
      ? ["True"]
      : ["False", "True", "Unknown"];
    const status = c.status ?? "";
    if (status === "") errs.push({ type: "Required", field: `${path}.status` });
    else if (!allowed.includes(status)) {
      errs.push({
        type: "NotSupported",
        field: `${path}.status`,
        value: status,
        supported: allowed,
      });
    }
    if (!opts.allowBothApprovedAndDenied) {
      if (type === "Approved") {
        hasApproved = true;
        if (hasDenied) {
          errs.push({
            type: "Invalid",
            field: `${path}.type`,
            value: type,
            detail: "Approved and Denied conditions are mutually exclusive",
          });
        }
      } else if (type === "Denied") {
        hasDenied = true;
        if (hasApproved) {
          errs.push({
            type: "Invalid",
            field: `${path}.type`,
            value: type,
            detail: "Approved and Denied conditions are mutually exclusive",
          });
        }
      }
    }
    if (!opts.allowDuplicateConditionTypes) {
      if (seen.has(type)) {
        errs.push({ type: "Duplicate", field: `${path}.type`, value: type });
      }
      seen.add(type);
    }
  });
  return errs;
}

/**
 * validateCertificateSigningRequest.
 *
 * @example
 * ```ts
 * import { csrErrors, optionsFor } from "./csr_validation.ts";
 * const csr = { metadata: { name: "c" }, spec: { request: "", signerName: "example.com/x", usages: [] } };
 * (await csrErrors(csr, optionsFor(csr))).length; // 2: request and usages
 * ```
 */
export async function csrErrors(
  csr: CsrShape,
  opts: Options,
): Promise<FieldError[]> {
  const errs: FieldError[] = [];
  const requestError = await checkCertificateRequest(csr.spec.request ?? "");
  if (requestError !== undefined) {
    errs.push({
      type: "Invalid",
      field: "spec.request",
      value: `<${(csr.spec.request ?? "").length} bytes of base64>`,
      detail: requestError,
    });
  }
  const usages = csr.spec.usages ?? [];
  if (usages.length === 0) {
    errs.push({ type: "Required", field: "spec.usages" });
  }
  if (!opts.allowUnknownUsages) {
    usages.forEach((u, i) => {
      if (!VALID_USAGES.includes(u)) {
        errs.push({
          type: "NotSupported",
          field: `spec.usages[${i}]`,
          value: u,
          supported: SORTED_USAGES,
        });
      }
    });
  }
  if (!opts.allowDuplicateUsages) {
    const seen = new Set<string>();
    usages.forEach((u, i) => {
      if (seen.has(u)) {
        errs.push({ type: "Duplicate", field: `spec.usages[${i}]`, value: u });
      }
      seen.add(u);
    });
  }
  const signerName = csr.spec.signerName ?? "";
  if (!opts.allowLegacySignerName && signerName === LEGACY_SIGNER) {
    errs.push({
      type: "Invalid",
      field: "spec.signerName",
      value: signerName,
      detail: "the legacy signerName is not allowed via this API version",
    });
  } else {
    errs.push(...signerNameErrors(signerName));
  }
  const exp = csr.spec.expirationSeconds;
  if (exp !== undefined && exp !== null && exp < 600) {
    errs.push({
      type: "Invalid",
      field: "spec.expirationSeconds",
      value: exp,
      detail: "may not specify a duration less than 600 seconds (10 minutes)",
    });
  }
  errs.push(...conditionErrors(csr, opts));
  if (!opts.allowArbitraryCertificate) {
    const certErr = certificateError(csr.status?.certificate);
    if (certErr) {
      errs.push({
        type: "Invalid",
        field: "status.certificate",
        value: "<certificate data>",
        detail: certErr,
      });
    }
  }
  return errs;
}

/**
 * validateCertificateSigningRequestUpdate.
 *
 * @example
 * ```ts
 * import { optionsFor, updateErrors } from "./csr_validation.ts";
 * const old = { metadata: { name: "c" }, spec: {}, status: { conditions: [{ type: "Approved", status: "True" }] } };
 * const next = { ...old, status: {} };
 * await updateErrors(next, old, optionsFor(next, old)); // includes a Forbidden removal
 * ```
 */
export async function updateErrors(
  csr: CsrShape,
  old: CsrShape,
  opts: Options,
): Promise<FieldError[]> {
  const errs = await csrErrors(csr, opts);
  const count = (c: CsrShape, t: string) =>
    conditionsOf(c).filter((x) => x.type === t);
  for (const t of ["Approved", "Denied", "Failed"]) {
    if (count(csr, t).length < count(old, t).length) {
      errs.push({
        type: "Forbidden",
        field: "status.conditions",
        detail: `updates may not remove a condition of type ${
          JSON.stringify(t)
        }`,
      });
    }
  }
  if (!opts.allowSettingApprovalConditions) {
    for (const t of ["Approved", "Denied"]) {
      const o = count(old, t);
      const n = count(csr, t);
      if (n.length > o.length) {
        errs.push({
          type: "Forbidden",
          field: "status.conditions",
          detail: `updates may not add a condition of type ${
            JSON.stringify(t)
          }`,
        });
      } else if (
        n.length === o.length && JSON.stringify(n) !== JSON.stringify(o)
      ) {
        errs.push({
          type: "Forbidden",
          field: "status.conditions",
          detail: `updates may not modify a condition of type ${
            JSON.stringify(t)
          }`,
        });
      }
    }
  }
  if ((csr.status?.certificate ?? "") !== (old.status?.certificate ?? "")) {
    if (!opts.allowSettingCertificate) {
      errs.push({
        type: "Forbidden",
        field: "status.certificate",
        detail: "updates may not set certificate content",
      });
    } else if ((old.status?.certificate ?? "") !== "") {
      errs.push({
        type: "Forbidden",
        field: "status.certificate",
        detail: "updates may not modify existing certificate content",
      });
    }
  }
  return errs;
}
