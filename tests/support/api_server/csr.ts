/**
 * CertificateSigningRequests (certificates.k8s.io/v1) as the apiserver
 * serves them: `pkg/registry/certificates/certificates/strategy.go` (what
 * each update path may change; validation is in `csr_validation.ts`) and
 * the CertificateApproval / CertificateSigning admission plugins (who may
 * approve or sign for a signer).
 *
 * @module
 */
import { S, topLevel } from "./decode.ts";
import {
  conditionsOf,
  csrErrors,
  type CsrShape,
  optionsFor,
  requestCommonName,
  updateErrors,
} from "./csr_validation.ts";
import type { Ctx, Endpoint } from "./rest.ts";
import {
  conflict,
  forbidden,
  OPTIMISTIC_LOCK_MESSAGE,
  type Status,
} from "./status.ts";
import type { Table } from "./store.ts";
import { rfc3339 } from "./time.ts";
import type { Faults, RequestAttributes, UserInfo } from "./types.ts";

const GROUP = "certificates.k8s.io";
const RESOURCE = "certificatesigningrequests";

const CONDITION = S.object("CertificateSigningRequestCondition", {
  type: S.string,
  status: S.string,
  reason: S.string,
  message: S.string,
  lastUpdateTime: S.time,
  lastTransitionTime: S.time,
});

/**
 * Go types of a CSR body.
 *
 * @example
 * ```ts
 * import { CSR_SCHEMA } from "./csr.ts";
 * import { decodeAs } from "./decode.ts";
 * decodeAs({ metadata: { name: "c" }, spec: { usages: ["server auth"] } }, CSR_SCHEMA, "CertificateSigningRequest", "v1");
 * ```
 */
export const CSR_SCHEMA = topLevel("CertificateSigningRequest", {
  spec: S.object("CertificateSigningRequestSpec", {
    request: S.bytes,
    signerName: S.string,
    expirationSeconds: S.int32,
    usages: S.strings,
    username: S.string,
    uid: S.string,
    groups: S.strings,
    extra: S.map(S.strings, "map[string]v1.ExtraValue"),
  }),
  status: S.object("CertificateSigningRequestStatus", {
    conditions: S.array(CONDITION, "[]v1.CertificateSigningRequestCondition"),
    certificate: S.bytes,
  }),
});

// ----------------------------------------------------------- strategies

function populateConditionTimestamps(csr: CsrShape, old: CsrShape): void {
  const now = rfc3339();
  const conds = csr.status?.conditions;
  if (!conds) return;
  csr.status!.conditions = conds.map((c) => {
    const out = { ...c };
    if (!out.lastUpdateTime) out.lastUpdateTime = now;
    if (!out.lastTransitionTime) {
      const same = conditionsOf(old).find((o) =>
        o.type === out.type && o.status === out.status && o.lastTransitionTime
      );
      out.lastTransitionTime = same?.lastTransitionTime ?? now;
    }
    return out;
  });
}

/**
 * Sets `spec.username/uid/groups/extra` from the requester, as
 * `csrStrategy.PrepareForCreate` does (the identity is unforgeable).
 *
 * @example
 * ```ts
 * import { stampRequester } from "./csr.ts";
 * const spec = stampRequester({ request: "", signerName: "x/y", username: "forged" }, { username: "system:node:a", groups: ["system:nodes"] });
 * spec.username; // "system:node:a"
 * ```
 */
export function stampRequester(
  spec: Record<string, unknown>,
  user: UserInfo,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...spec };
  delete out.username;
  delete out.uid;
  delete out.groups;
  delete out.extra;
  out.username = user.username;
  if (user.uid) out.uid = user.uid;
  if (user.groups && user.groups.length > 0) out.groups = [...user.groups];
  if (user.extra && Object.keys(user.extra).length > 0) {
    out.extra = structuredClone(user.extra);
  }
  return out;
}

function signerAllowed(ctx: Ctx, verb: string, signerName: string): boolean {
  const base: Partial<RequestAttributes> = {
    verb,
    apiGroup: GROUP,
    apiVersion: "*",
    resource: "signers",
    subresource: "",
    namespace: "",
  };
  if (ctx.authorize({ ...base, name: signerName })) return true;
  return ctx.authorize({ ...base, name: `${signerName.split("/")[0]}/*` });
}

function admissionForbidden(name: string, why: string): Status {
  return forbidden({ group: GROUP, resource: RESOURCE }, name, why);
}

// Signers whose CSRs a node may only create for itself (NodeRestriction,
// plugin/pkg/admission/noderestriction admitCSR, Kubernetes 1.31+).
const NODE_CSR_SIGNERS = new Set([
  "kubernetes.io/kubelet-serving",
  "kubernetes.io/kube-apiserver-client-kubelet",
]);

/**
 * NodeRestriction's CSR rule: a node identity (user `system:node:<name>` in
 * group `system:nodes`) may create a kubelet CSR only with
 * `CN=system:node:<name>`, as the real kube-apiserver enforces.
 */
function nodeRestriction(csr: CsrShape, ctx: Ctx): Status | undefined {
  const user = ctx.user;
  const prefix = "system:node:";
  if (
    !user.username.startsWith(prefix) ||
    !(user.groups ?? []).includes("system:nodes")
  ) return undefined;
  const signer = String(csr.spec?.signerName ?? "");
  if (!NODE_CSR_SIGNERS.has(signer)) return undefined;
  const node = user.username.slice(prefix.length);
  const parsed = requestCommonName(String(csr.spec?.request ?? ""));
  if ("error" in parsed) {
    return admissionForbidden(
      csr.metadata.name,
      `unable to parse csr: ${parsed.error}`,
    );
  }
  if (parsed.cn !== `${prefix}${node}`) {
    return admissionForbidden(
      csr.metadata.name,
      `can only create a node CSR with CN=${prefix}${node}`,
    );
  }
  return undefined;
}

/**
 * What the CSR endpoint needs from the server.
 *
 * @example
 * ```ts
 * import type { CsrDeps } from "./csr.ts";
 * const deps: CsrDeps = { faults: { approvalConflicts: 1 } };
 * ```
 */
export interface CsrDeps {
  faults: Faults;
  /** Enforce NodeRestriction's CSR rule on create (default true). */
  nodeRestriction?: boolean;
}

/**
 * The certificates.k8s.io/v1 CSR endpoint with its approval and status
 * subresources.
 *
 * @example
 * ```ts
 * import { csrEndpoint } from "./csr.ts";
 * import { createTable } from "./store.ts";
 * const ep = csrEndpoint(createTable({ rv: 0 }, 100), { faults: {} });
 * ep.resource; // "certificatesigningrequests"
 * ```
 */
export function csrEndpoint(table: Table, deps: CsrDeps): Endpoint {
  return {
    group: GROUP,
    version: "v1",
    resource: RESOURCE,
    kind: "CertificateSigningRequest",
    namespaced: false,
    table,
    schema: CSR_SCHEMA,
    wire: (o) => o,
    wireId: "csr",
    fields: (o) => ({
      "metadata.name": o.metadata.name,
      "spec.signerName": String((o as CsrShape).spec?.signerName ?? ""),
    }),
    fieldLabelError: (label) =>
      label === "metadata.name" || label === "spec.signerName"
        ? undefined
        : `field label not supported: ${label}`,
    verbs: new Set([
      "get",
      "list",
      "watch",
      "create",
      "update",
      "patch",
      "delete",
    ]),
    create: {
      prepare(obj, ctx) {
        const csr = obj as CsrShape;
        return {
          apiVersion: csr.apiVersion,
          kind: csr.kind,
          metadata: csr.metadata,
          spec: stampRequester(csr.spec ?? {}, ctx.user),
          status: {},
        };
      },
      validate: (obj) =>
        csrErrors(obj as CsrShape, optionsFor(obj as CsrShape)),
      admit: (obj, ctx) =>
        deps.nodeRestriction === false
          ? undefined
          : nodeRestriction(obj as CsrShape, ctx),
    },
    update: {
      allowCreateOnUpdate: false,
      allowUnconditionalUpdate: true,
      prepare: (body, old) => ({
        ...body,
        spec: (old as CsrShape).spec,
        status: (old as CsrShape).status,
      }),
      validate: (obj, old) =>
        updateErrors(
          obj as CsrShape,
          old as CsrShape,
          optionsFor(obj as CsrShape, old as CsrShape),
        ),
    },
    subresources: {
      approval: {
        get: true,
        update: {
          allowCreateOnUpdate: false,
          allowUnconditionalUpdate: true,
          intercept(old, ctx) {
            ctx.attrs.signerName = String(
              (old as CsrShape).spec.signerName ?? "",
            );
            const n = deps.faults.approvalConflicts ?? 0;
            if (n > 0) {
              deps.faults.approvalConflicts = n - 1;
              return conflict(
                { group: GROUP, resource: RESOURCE },
                old.metadata.name,
                OPTIMISTIC_LOCK_MESSAGE,
              );
            }
            return undefined;
          },
          prepare(body, old) {
            const csr = body as CsrShape;
            const prev = old as CsrShape;
            const next: CsrShape = {
              ...csr,
              spec: prev.spec,
              status: { ...csr.status },
            };
            populateConditionTimestamps(next, prev);
            const conditions = next.status?.conditions;
            const status: CsrShape["status"] = { ...prev.status };
            if (conditions && conditions.length > 0) {
              status.conditions = conditions;
            } else delete status.conditions;
            next.status = status;
            return next;
          },
          validate(obj, old) {
            const opts = optionsFor(obj as CsrShape, old as CsrShape);
            opts.allowSettingApprovalConditions = true;
            return updateErrors(obj as CsrShape, old as CsrShape, opts);
          },
          admit(obj, _old, ctx) {
            const signer = String((obj as CsrShape).spec.signerName ?? "");
            if (signerAllowed(ctx, "approve", signer)) return undefined;
            return admissionForbidden(
              obj.metadata.name,
              `user not permitted to approve requests with signerName ${
                JSON.stringify(signer)
              }`,
            );
          },
        },
      },
      status: {
        get: true,
        update: {
          allowCreateOnUpdate: false,
          allowUnconditionalUpdate: true,
          prepare(body, old) {
            const csr = body as CsrShape;
            const prev = old as CsrShape;
            const next: CsrShape = {
              ...csr,
              spec: prev.spec,
              status: { ...csr.status },
            };
            // Approved/Denied instances are kept as stored; adding or removing
            // them is then caught by validation.
            const conds = [...(next.status?.conditions ?? [])];
            for (const t of ["Approved", "Denied"]) {
              const oldIdx = conditionsOf(prev).flatMap((c, i) =>
                c.type === t ? [i] : []
              );
              const newIdx = conds.flatMap((c, i) => c.type === t ? [i] : []);
              if (oldIdx.length === newIdx.length) {
                newIdx.forEach((ni, k) =>
                  conds[ni] = conditionsOf(prev)[oldIdx[k]]
                );
              }
            }
            if (conds.length > 0) next.status!.conditions = conds;
            else delete next.status!.conditions;
            populateConditionTimestamps(next, prev);
            return next;
          },
          validate(obj, old) {
            const opts = optionsFor(obj as CsrShape, old as CsrShape);
            opts.allowSettingCertificate = true;
            return updateErrors(obj as CsrShape, old as CsrShape, opts);
          },
          admit(obj, old, ctx) {
            const cert = (obj as CsrShape).status?.certificate ?? "";
            if (cert === ((old as CsrShape).status?.certificate ?? "")) {
              return undefined;
            }
            const signer = String((obj as CsrShape).spec.signerName ?? "");
            if (signerAllowed(ctx, "sign", signer)) return undefined;
            return admissionForbidden(
              obj.metadata.name,
              `user not permitted to sign requests with signerName ${
                JSON.stringify(signer)
              }`,
            );
          },
        },
      },
    },
  };
}
