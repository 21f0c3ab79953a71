/**
 * What the CSR cache keeps of each object (the reflector's transform).
 *
 * A pending kubelet-serving CSR keeps everything its decision and its
 * approval write read, minus `metadata.managedFields` (the API server keeps
 * its own on an update that omits them) and `status.certificate`. A CSR the
 * controller will not cache (terminal, or another signer's) shrinks to what
 * says so: its name, resourceVersion, signer and the mark that made it
 * terminal, so a relist of thousands of issued certificates after a mass
 * rotation never holds their PEM bytes and requests at once.
 *
 * Never throws; an object whose shape is unexpected is returned as it is, so
 * the decision sees (and reports) exactly what the server sent.
 *
 * @module
 */
import { KUBELET_SERVING_SIGNER } from "../core/inspect.ts";
import { isTerminal } from "../core/terminal.ts";
import type { CertificateSigningRequest } from "../core/types.ts";
import { isObject } from "../util/json.ts";

/**
 * The part of `csr` the controller's cache needs.
 *
 * @example
 * ```ts
 * import { trimForCache } from "./csr_trim.ts";
 * const issued = trimForCache({
 *   metadata: { name: "csr-1", resourceVersion: "7", managedFields: [] },
 *   spec: { request: "…", signerName: "kubernetes.io/kubelet-serving", usages: [] },
 *   status: { certificate: "LS0t…", conditions: [{ type: "Approved", status: "True" }] },
 * });
 * // issued.spec.request === undefined; issued.metadata.managedFields === undefined
 * ```
 */
export function trimForCache(
  csr: CertificateSigningRequest,
): CertificateSigningRequest {
  if (!isObject(csr) || !isObject(csr.metadata)) return csr;
  const { managedFields: _managed, ...metadata } = csr.metadata as
    & CertificateSigningRequest["metadata"]
    & { managedFields?: unknown };
  const spec = csr.spec as unknown;
  const status = csr.status as unknown;
  const signerName = isObject(spec) ? spec.signerName : undefined;
  if (signerName !== KUBELET_SERVING_SIGNER || isTerminal(csr)) {
    const mark: Record<string, unknown> = {};
    if (isObject(status)) {
      if (status.conditions !== undefined) mark.conditions = status.conditions;
      if (
        status.certificate !== undefined && status.certificate !== null &&
        status.certificate !== ""
      ) mark.certificate = "(issued; bytes not cached)";
    }
    return {
      metadata: {
        name: metadata.name,
        resourceVersion: metadata.resourceVersion,
      },
      spec: { signerName },
      status: mark,
    } as unknown as CertificateSigningRequest;
  }
  const kept = { ...csr, metadata, spec: shareKnownStrings(csr.spec) };
  if (!isObject(status)) return kept;
  const { certificate: _certificate, ...rest } = status;
  return { ...kept, status: rest } as CertificateSigningRequest;
}

/**
 * The values every kubelet's CSR repeats, one copy each. `JSON.parse` makes a
 * new string for each occurrence; sharing these saves ~190 bytes per pending
 * CSR (~1 MiB in a 5,000-CSR backlog). A fixed table: nothing a requester
 * sends can make it grow.
 */
const KNOWN_STRINGS = new Map(
  [
    KUBELET_SERVING_SIGNER,
    "digital signature",
    "key encipherment",
    "server auth",
    "system:nodes",
    "system:authenticated",
  ].map((s) => [s, s]),
);

function shared(value: unknown): unknown {
  return typeof value === "string" ? KNOWN_STRINGS.get(value) ?? value : value;
}

function shareKnownStrings(
  spec: CertificateSigningRequest["spec"],
): CertificateSigningRequest["spec"] {
  const out = { ...spec, signerName: shared(spec.signerName) as string };
  if (Array.isArray(spec.usages)) {
    out.usages = spec.usages.map(shared) as string[];
  }
  if (Array.isArray(spec.groups)) {
    out.groups = spec.groups.map(shared) as string[];
  }
  return out;
}
