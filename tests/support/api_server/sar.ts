/**
 * SubjectAccessReviews (authorization.k8s.io/v1): validated like
 * `pkg/apis/authorization/validation` and answered by a pluggable policy.
 *
 * @module
 */
import { decodeAs, readJsonBody, S, topLevel } from "./decode.ts";
import {
  type FieldError,
  invalid,
  jsonResponse,
  StatusError,
} from "./status.ts";
import type { SubjectAccessReviewSpec } from "./types.ts";

const RESOURCE_ATTRIBUTES = S.object("ResourceAttributes", {
  namespace: S.string,
  verb: S.string,
  group: S.string,
  version: S.string,
  resource: S.string,
  subresource: S.string,
  name: S.string,
  fieldSelector: S.any,
  labelSelector: S.any,
});

const SAR_SCHEMA = topLevel("SubjectAccessReview", {
  spec: S.object("SubjectAccessReviewSpec", {
    resourceAttributes: RESOURCE_ATTRIBUTES,
    nonResourceAttributes: S.object("NonResourceAttributes", {
      path: S.string,
      verb: S.string,
    }),
    user: S.string,
    groups: S.strings,
    extra: S.map(S.strings, "map[string]v1.ExtraValue"),
    uid: S.string,
  }),
  status: S.any,
});

/**
 * A SAR policy: the decision for one spec.
 *
 * @example
 * ```ts
 * import type { SarPolicy } from "./sar.ts";
 * const denyAll: SarPolicy = () => ({ allowed: false, reason: "no" });
 * ```
 */
export type SarPolicy = (
  spec: SubjectAccessReviewSpec,
) => { allowed: boolean; reason?: string; denied?: boolean };

/**
 * The default policy: members of `system:nodes` may create
 * certificatesigningrequests (what the bootstrap RBAC grants nodes);
 * nothing else is allowed.
 *
 * @example
 * ```ts
 * import { defaultSarPolicy } from "./sar.ts";
 * defaultSarPolicy({ user: "system:node:a", groups: ["system:nodes"],
 *   resourceAttributes: { group: "certificates.k8s.io", resource: "certificatesigningrequests", verb: "create" } }).allowed; // true
 * ```
 */
export const defaultSarPolicy: SarPolicy = (spec) => {
  const ra = spec.resourceAttributes;
  const allowed = (spec.groups ?? []).includes("system:nodes") &&
    ra !== undefined &&
    ra.group === "certificates.k8s.io" &&
    ra.resource === "certificatesigningrequests" &&
    ra.verb === "create" &&
    (ra.subresource ?? "") === "";
  return allowed
    ? {
      allowed,
      reason:
        'RBAC: allowed by ClusterRoleBinding "system:node-bootstrapper" of ClusterRole "system:node-bootstrapper" to Group "system:nodes"',
    }
    : { allowed };
};

/**
 * POST subjectaccessreviews: 201 with the decision in `status`, 422 when
 * the spec is invalid.
 *
 * @example
 * ```ts
 * import { defaultSarPolicy, handleSubjectAccessReview } from "./sar.ts";
 * const req = new Request("http://api.invalid/apis/authorization.k8s.io/v1/subjectaccessreviews", {
 *   method: "POST",
 *   headers: { "content-type": "application/json" },
 *   body: JSON.stringify({ apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview",
 *     spec: { user: "system:node:a", groups: ["system:nodes"], resourceAttributes: {
 *       group: "certificates.k8s.io", resource: "certificatesigningrequests", verb: "create" } } }),
 * });
 * const res = await handleSubjectAccessReview(req, defaultSarPolicy);
 * res.status; // 201
 * ```
 */
export async function handleSubjectAccessReview(
  req: Request,
  policy: SarPolicy,
): Promise<Response> {
  const raw = await readJsonBody(req, "SubjectAccessReview");
  const { obj, warnings } = decodeAs<
    { spec?: SubjectAccessReviewSpec; metadata?: unknown }
  >(
    raw,
    SAR_SCHEMA,
    "SubjectAccessReview",
    "v1",
  );
  const spec = obj.spec ?? {};
  const errs: FieldError[] = [];
  if (spec.resourceAttributes && spec.nonResourceAttributes) {
    errs.push({
      type: "Invalid",
      field: "spec.nonResourceAttributes",
      value: spec.nonResourceAttributes,
      detail: "cannot be specified in combination with resourceAttributes",
    });
  }
  if (!spec.resourceAttributes && !spec.nonResourceAttributes) {
    errs.push({
      type: "Invalid",
      field: "spec.resourceAttributes",
      value: null,
      detail:
        "exactly one of nonResourceAttributes or resourceAttributes must be specified",
    });
  }
  if (!spec.user && (spec.groups ?? []).length === 0) {
    errs.push({
      type: "Invalid",
      field: "spec.user",
      value: spec.user ?? "",
      detail: "at least one of user or group must be specified",
    });
  }
  if (errs.length > 0) {
    throw new StatusError(
      invalid(
        { group: "authorization.k8s.io", kind: "SubjectAccessReview" },
        "",
        errs,
      ),
    );
  }
  const decision = policy(structuredClone(spec));
  const status: Record<string, unknown> = { allowed: decision.allowed };
  if (decision.denied) status.denied = true;
  if (decision.reason) status.reason = decision.reason;
  const headers = new Headers();
  for (const w of warnings) {
    headers.append("warning", `299 - ${JSON.stringify(w)}`);
  }
  return jsonResponse(201, {
    kind: "SubjectAccessReview",
    apiVersion: "authorization.k8s.io/v1",
    metadata: { creationTimestamp: null },
    spec,
    status,
  }, headers);
}
