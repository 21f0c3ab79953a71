/**
 * coordination.k8s.io/v1 Leases as the apiserver serves them
 * (`pkg/registry/coordination/lease/strategy.go`: updates need a
 * resourceVersion, a PUT on a missing lease creates it) and validates them
 * (`pkg/apis/coordination/validation`).
 *
 * @module
 */
import { S, topLevel } from "./decode.ts";
import { dns1123Subdomain } from "./names.ts";
import type { Endpoint } from "./rest.ts";
import type { FieldError } from "./status.ts";
import type { Obj, Table } from "./store.ts";

const LEASE_SCHEMA = topLevel("Lease", {
  spec: S.object("LeaseSpec", {
    holderIdentity: S.string,
    leaseDurationSeconds: S.int32,
    acquireTime: S.microtime,
    renewTime: S.microtime,
    leaseTransitions: S.int32,
    strategy: S.string,
    preferredHolder: S.string,
  }),
});

interface LeaseSpec {
  leaseDurationSeconds?: number | null;
  leaseTransitions?: number | null;
  strategy?: string | null;
  preferredHolder?: string | null;
}

function leaseErrors(obj: Obj): FieldError[] {
  const spec = (obj.spec ?? {}) as LeaseSpec;
  const errs: FieldError[] = [];
  const d = spec.leaseDurationSeconds;
  if (d !== undefined && d !== null && d <= 0) {
    errs.push({
      type: "Invalid",
      field: "spec.leaseDurationSeconds",
      value: d,
      detail: "must be greater than 0",
    });
  }
  const t = spec.leaseTransitions;
  if (t !== undefined && t !== null && t < 0) {
    errs.push({
      type: "Invalid",
      field: "spec.leaseTransitions",
      value: t,
      detail: "must be greater than or equal to 0",
    });
  }
  if (spec.strategy && spec.strategy !== "OldestEmulationVersion") {
    errs.push({
      type: "NotSupported",
      field: "spec.strategy",
      value: spec.strategy,
      supported: ["OldestEmulationVersion"],
    });
  }
  if (spec.preferredHolder && !spec.strategy) {
    errs.push({
      type: "Forbidden",
      field: "spec.preferredHolder",
      detail: "may only be specified if `strategy` is defined",
    });
  }
  return errs;
}

/**
 * The Lease endpoint.
 *
 * @example
 * ```ts
 * import { leaseEndpoint } from "./leases.ts";
 * import { createTable } from "./store.ts";
 * const ep = leaseEndpoint(createTable({ rv: 0 }, 100));
 * ep.resource; // "leases"
 * ```
 */
export function leaseEndpoint(table: Table): Endpoint {
  return {
    group: "coordination.k8s.io",
    version: "v1",
    resource: "leases",
    kind: "Lease",
    namespaced: true,
    table,
    schema: LEASE_SCHEMA,
    wire: (o) => o,
    wireId: "lease",
    fields: (o) => ({
      "metadata.name": o.metadata.name,
      "metadata.namespace": o.metadata.namespace ?? "",
    }),
    fieldLabelError: (l) =>
      l === "metadata.name" || l === "metadata.namespace"
        ? undefined
        : `${
          JSON.stringify(l)
        } is not a known field selector: only "metadata.name", "metadata.namespace"`,
    verbs: new Set([
      "get",
      "list",
      "watch",
      "create",
      "update",
      "patch",
      "delete",
    ]),
    create: { validateName: dns1123Subdomain, validate: leaseErrors },
    update: {
      allowCreateOnUpdate: true,
      allowUnconditionalUpdate: false,
      prepare: (body) => body,
      validate: (obj) => leaseErrors(obj),
    },
  };
}
