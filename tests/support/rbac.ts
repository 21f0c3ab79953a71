/**
 * An RBAC evaluator that decides like the Kubernetes API server's RBAC
 * authorizer, so tests can prove what the manifests in `deploy/` allow and
 * deny without a cluster.
 *
 * Modelled on `plugin/pkg/auth/authorizer/rbac/rbac.go` (`RuleAllows`),
 * `pkg/apis/rbac/v1/evaluation_helpers.go` (`VerbMatches`, `APIGroupMatches`,
 * `ResourceMatches`, `ResourceNameMatches`, `NonResourceURLMatches`),
 * `pkg/registry/rbac/validation/rule.go` (which bindings apply to whom) and
 * `plugin/pkg/admission/certificates/util.go` (`IsAuthorizedForSignerName`).
 * Not modelled: aggregated ClusterRoles (`aggregationRule`), other
 * authorizers (Node, webhooks) and the built-in bootstrap roles.
 *
 * It also renders the small subset of kustomize that `deploy/` uses
 * (`resources`, `components`, inline JSON 6902 `patches`) and refuses
 * anything else, so a test never reasons about manifests it misread.
 *
 * @module
 */

import { parseAllDocuments } from "yaml";
import { AssertionError } from "./assert.ts";

/** One `rules[]` entry of a Role or ClusterRole. */
export interface PolicyRule {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames: string[];
  nonResourceURLs: string[];
}

/** A binding's subject (rbac.authorization.k8s.io/v1 `Subject`). */
export interface Subject {
  kind: "User" | "Group" | "ServiceAccount";
  name: string;
  /** ServiceAccount only; defaults to the RoleBinding's namespace. */
  namespace?: string;
}

/** A binding's `roleRef`. */
export interface RoleRef {
  kind: "Role" | "ClusterRole";
  name: string;
}

/** A namespaced Role. */
export interface Role {
  name: string;
  namespace: string;
  rules: PolicyRule[];
}

/** A ClusterRole. */
export interface ClusterRole {
  name: string;
  rules: PolicyRule[];
}

/** A namespaced RoleBinding (to a Role in its namespace or a ClusterRole). */
export interface RoleBinding {
  name: string;
  namespace: string;
  roleRef: RoleRef;
  subjects: Subject[];
}

/** A ClusterRoleBinding (always to a ClusterRole). */
export interface ClusterRoleBinding {
  name: string;
  roleRef: RoleRef;
  subjects: Subject[];
}

/** All RBAC objects found in a set of manifests. */
export interface RbacPolicy {
  roles: Role[];
  clusterRoles: ClusterRole[];
  roleBindings: RoleBinding[];
  clusterRoleBindings: ClusterRoleBinding[];
}

/**
 * The attributes the authorizer sees for one request. For a resource
 * request set `resource` (and `subresource`); `resource` may also be given
 * in the combined `resource/subresource` form. A request with an empty
 * `resource` is a non-resource request and is matched on `path`.
 */
export interface RbacRequest {
  user: string;
  groups: string[];
  /** Shorthand for `user: system:serviceaccount:<namespace>:<name>`. */
  serviceAccount?: { namespace: string; name: string };
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  name: string;
  /** Empty for cluster-scoped resources and cluster-wide lists. */
  namespace: string;
  path?: string;
}

/** The authorizer's answer; `by` names the binding and role that allowed. */
export interface RbacDecision {
  allowed: boolean;
  by?: string;
}

/** Thrown when manifests are malformed or use an unsupported feature. */
export class RbacPolicyError extends Error {
  override name = "RbacPolicyError";
}

/** A Kubernetes object as parsed from YAML. */
export type KubeObject = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata?: Record<string, unknown>;
};

const RBAC_GROUP = "rbac.authorization.k8s.io";
const RBAC_API_VERSION = `${RBAC_GROUP}/v1`;

// ---------------------------------------------------------------------------
// YAML and kustomize
// ---------------------------------------------------------------------------

/**
 * Parses multi-document YAML texts into objects (empty documents skipped).
 *
 * @example
 * ```ts
 * import { parseManifests } from "./rbac.ts";
 * const [cm] = parseManifests(["kind: ConfigMap\nmetadata: {name: x}\n"]);
 * ```
 */
export function parseManifests(
  yamlDocuments: string[],
  source = "<inline>",
): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const text of yamlDocuments) {
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) {
        throw new RbacPolicyError(
          `${source}: expected valid YAML, found: ${doc.errors[0].message}`,
        );
      }
      const value = doc.toJS();
      if (value === null || value === undefined) continue;
      if (typeof value !== "object" || Array.isArray(value)) {
        throw new RbacPolicyError(
          `${source}: expected each YAML document to be an object, found ${
            JSON.stringify(value)
          }`,
        );
      }
      objects.push(value as KubeObject);
    }
  }
  return objects;
}

const REPO_ROOT = new URL("../../", import.meta.url);

function resolveDir(dir: string): string {
  if (dir.startsWith("/")) return dir.replace(/\/+$/, "");
  // Relative paths are taken from the repository root, not the cwd, so the
  // tests give the same answer wherever they are started from.
  return new URL(dir.replace(/\/*$/, "/"), REPO_ROOT).pathname.replace(
    /\/+$/,
    "",
  );
}

function joinPath(dir: string, rel: string): string {
  const parts = (rel.startsWith("/") ? rel : `${dir}/${rel}`).split("/");
  const out: string[] = [];
  for (const p of parts) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return "/" + out.join("/");
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new RbacPolicyError(`expected ${path} to exist, found nothing`);
    }
    throw error;
  }
}

const KUSTOMIZATION_KEYS = new Set([
  "apiVersion",
  "kind",
  "resources",
  "components",
  "patches",
]);

interface JsonPatchOp {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

interface PatchTarget {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

async function readKustomization(
  dir: string,
  expectedKind: "Kustomization" | "Component",
): Promise<KubeObject> {
  const file = `${dir}/kustomization.yaml`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new RbacPolicyError(`expected ${file} to exist, found nothing`);
    }
    throw error;
  }
  const [k] = parseManifests([text], file);
  if (!k) throw new RbacPolicyError(`${file}: expected a ${expectedKind}`);
  const kind = k.kind ?? "Kustomization";
  if (kind !== expectedKind) {
    throw new RbacPolicyError(
      `${file}: expected kind ${expectedKind}, found ${kind}`,
    );
  }
  for (const key of Object.keys(k)) {
    if (!KUSTOMIZATION_KEYS.has(key)) {
      throw new RbacPolicyError(
        `${file}: expected only ${[...KUSTOMIZATION_KEYS].join(", ")}` +
          ` (the subset this renderer models), found "${key}"`,
      );
    }
  }
  return k;
}

function stringList(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new RbacPolicyError(
      `${what}: expected a list of strings, found ${JSON.stringify(value)}`,
    );
  }
  return value as string[];
}

async function accumulate(
  dir: string,
  k: KubeObject,
  file: string,
): Promise<KubeObject[]> {
  const objects: KubeObject[] = [];
  for (const rel of stringList(k.resources, `${file} resources`)) {
    const path = joinPath(dir, rel);
    if (await isDirectory(path)) {
      objects.push(...await renderDir(path, "Kustomization"));
    } else {
      objects.push(...parseManifests([await Deno.readTextFile(path)], path));
    }
  }
  for (const rel of stringList(k.components, `${file} components`)) {
    const path = joinPath(dir, rel);
    const component = await readKustomization(path, "Component");
    const cfile = `${path}/kustomization.yaml`;
    objects.push(...await accumulate(path, component, cfile));
    applyPatches(objects, component.patches, cfile);
  }
  return objects;
}

async function renderDir(
  dir: string,
  kind: "Kustomization" | "Component",
): Promise<KubeObject[]> {
  const k = await readKustomization(dir, kind);
  const file = `${dir}/kustomization.yaml`;
  const objects = await accumulate(dir, k, file);
  applyPatches(objects, k.patches, file);
  return objects;
}

/**
 * Renders a kustomization directory like `kubectl kustomize`, for the subset
 * used in `deploy/`: `resources` (files and directories), `components`, and
 * `patches` holding inline JSON 6902 operations with a `target`. Anything
 * else is refused with an `RbacPolicyError`. Relative `dir`s are resolved
 * from the repository root.
 *
 * @example
 * ```ts
 * import { renderKustomization } from "./rbac.ts";
 * const objects = await renderKustomization("deploy/ha");
 * ```
 */
export function renderKustomization(dir = "deploy"): Promise<KubeObject[]> {
  return renderDir(resolveDir(dir), "Kustomization");
}

function splitApiVersion(apiVersion: string): [string, string] {
  const i = apiVersion.indexOf("/");
  return i < 0 ? ["", apiVersion] : [
    apiVersion.slice(0, i),
    apiVersion.slice(i + 1),
  ];
}

function targetMatches(target: PatchTarget, obj: KubeObject): boolean {
  const [group, version] = splitApiVersion(String(obj.apiVersion ?? ""));
  const meta = obj.metadata ?? {};
  return (target.group === undefined || target.group === group) &&
    (target.version === undefined || target.version === version) &&
    (target.kind === undefined || target.kind === obj.kind) &&
    (target.name === undefined || target.name === meta.name) &&
    (target.namespace === undefined ||
      target.namespace === (meta.namespace ?? ""));
}

function applyPatches(
  objects: KubeObject[],
  patches: unknown,
  file: string,
): void {
  if (patches === undefined || patches === null) return;
  if (!Array.isArray(patches)) {
    throw new RbacPolicyError(`${file}: expected patches to be a list`);
  }
  for (const [i, entry] of patches.entries()) {
    const where = `${file} patches[${i}]`;
    const { target, patch, ...rest } = (entry ?? {}) as Record<string, unknown>;
    if (Object.keys(rest).length > 0 || typeof patch !== "string" || !target) {
      throw new RbacPolicyError(
        `${where}: expected {target, patch: <inline JSON 6902 ops>}, found ${
          JSON.stringify(entry)
        }`,
      );
    }
    const t = target as Record<string, unknown>;
    const allowed = new Set(["group", "version", "kind", "name", "namespace"]);
    for (const key of Object.keys(t)) {
      if (!allowed.has(key)) {
        throw new RbacPolicyError(
          `${where}: expected target fields ${[...allowed].join(", ")},` +
            ` found "${key}"`,
        );
      }
    }
    const docs = parseAllDocuments(patch);
    if (docs.length !== 1 || docs[0].errors.length > 0) {
      throw new RbacPolicyError(
        `${where}: expected one valid YAML document in the patch, found ${
          docs.length === 1 ? docs[0].errors[0].message : docs.length
        }`,
      );
    }
    const ops = docs[0].toJS();
    if (!Array.isArray(ops) || ops.some((op) => typeof op?.op !== "string")) {
      throw new RbacPolicyError(
        `${where}: expected a list of JSON 6902 operations (strategic merge` +
          ` patches are not modelled), found ${JSON.stringify(ops)}`,
      );
    }
    const matched = objects.filter((o) => targetMatches(t, o));
    if (matched.length === 0) {
      // kustomize ignores a target that matches nothing; here it is a typo.
      throw new RbacPolicyError(
        `${where}: expected the target ${
          JSON.stringify(t)
        } to match an object, found none`,
      );
    }
    for (const obj of matched) {
      const patched = applyJsonPatch(obj, ops as JsonPatchOp[], where);
      objects[objects.indexOf(obj)] = patched as KubeObject;
    }
  }
}

function unescapePointer(path: string, where: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) {
    throw new RbacPolicyError(
      `${where}: expected a JSON pointer starting with "/", found "${path}"`,
    );
  }
  return path.slice(1).split("/").map((s) =>
    s.replaceAll("~1", "/").replaceAll("~0", "~")
  );
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v).sort().map((k) => [
        k,
        sortKeys((v as Record<string, unknown>)[k]),
      ]),
    );
  }
  return v;
}

/**
 * Applies RFC 6902 operations (add, remove, replace, move, copy, test) to a
 * copy of `doc`; throws `RbacPolicyError` when a path is missing or a `test`
 * fails, as kustomize does.
 *
 * @example
 * ```ts
 * import { applyJsonPatch } from "./rbac.ts";
 * applyJsonPatch({ a: 1 }, [{ op: "replace", path: "/a", value: 2 }]);
 * ```
 */
export function applyJsonPatch(
  doc: unknown,
  ops: JsonPatchOp[],
  where = "patch",
): unknown {
  let root = structuredClone(doc);
  const fail = (op: JsonPatchOp, why: string): never => {
    throw new RbacPolicyError(
      `${where}: ${op.op} ${op.path}: ${why}`,
    );
  };
  const parentOf = (op: JsonPatchOp, path: string) => {
    const keys = unescapePointer(path, where);
    if (keys.length === 0) return { parent: undefined, key: "" };
    let node: unknown = root;
    for (const key of keys.slice(0, -1)) {
      if (node === null || typeof node !== "object") {
        fail(op, `expected an object or array at "${key}", found none`);
      }
      node = (node as Record<string, unknown>)[key];
    }
    if (node === null || typeof node !== "object") {
      fail(op, "expected the parent to exist, found nothing");
    }
    return {
      parent: node as Record<string, unknown> | unknown[],
      key: keys[keys.length - 1],
    };
  };
  const get = (op: JsonPatchOp, path: string): unknown => {
    const { parent, key } = parentOf(op, path);
    if (parent === undefined) return root;
    if (!Object.hasOwn(parent, key)) fail(op, `expected "${key}" to exist`);
    return (parent as Record<string, unknown>)[key];
  };
  const remove = (op: JsonPatchOp, path: string): unknown => {
    const value = get(op, path);
    const { parent, key } = parentOf(op, path);
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete (parent as Record<string, unknown>)[key];
    return value;
  };
  const add = (op: JsonPatchOp, path: string, value: unknown) => {
    const { parent, key } = parentOf(op, path);
    if (parent === undefined) {
      root = value;
    } else if (Array.isArray(parent)) {
      const index = key === "-" ? parent.length : Number(key);
      if (!Number.isInteger(index) || index < 0 || index > parent.length) {
        fail(op, `expected an array index, found "${key}"`);
      }
      parent.splice(index, 0, value);
    } else {
      parent[key] = value;
    }
  };
  for (const op of ops) {
    switch (op.op) {
      case "add":
        add(op, op.path, structuredClone(op.value));
        break;
      case "remove":
        remove(op, op.path);
        break;
      case "replace":
        remove(op, op.path);
        add(op, op.path, structuredClone(op.value));
        break;
      case "move":
        add(op, op.path, remove(op, op.from ?? ""));
        break;
      case "copy":
        add(op, op.path, structuredClone(get(op, op.from ?? "")));
        break;
      case "test":
        if (!deepEqual(get(op, op.path), op.value)) {
          fail(
            op,
            `expected ${JSON.stringify(op.value)}, found ${
              JSON.stringify(get(op, op.path))
            }`,
          );
        }
        break;
      default:
        fail(op, "expected one of add, remove, replace, move, copy, test");
    }
  }
  return root;
}

// ---------------------------------------------------------------------------
// Policy loading
// ---------------------------------------------------------------------------

function meta(obj: KubeObject, where: string): {
  name: string;
  namespace?: string;
} {
  const m = obj.metadata;
  if (!m || typeof m.name !== "string" || m.name === "") {
    throw new RbacPolicyError(`${where}: expected metadata.name, found none`);
  }
  const ns = m.namespace;
  if (ns !== undefined && typeof ns !== "string") {
    throw new RbacPolicyError(`${where}: expected metadata.namespace string`);
  }
  return { name: m.name, namespace: ns as string | undefined };
}

function parseRule(raw: unknown, where: string, namespaced: boolean) {
  const r = (raw ?? {}) as Record<string, unknown>;
  const rule: PolicyRule = {
    verbs: stringList(r.verbs, `${where} verbs`),
    apiGroups: stringList(r.apiGroups, `${where} apiGroups`),
    resources: stringList(r.resources, `${where} resources`),
    resourceNames: stringList(r.resourceNames, `${where} resourceNames`),
    nonResourceURLs: stringList(r.nonResourceURLs, `${where} nonResourceURLs`),
  };
  // The API server's own validation (pkg/apis/rbac/validation).
  if (rule.verbs.length === 0) {
    throw new RbacPolicyError(`${where}: expected at least one verb`);
  }
  if (rule.nonResourceURLs.length > 0) {
    if (namespaced) {
      throw new RbacPolicyError(
        `${where}: namespaced rules cannot apply to non-resource URLs`,
      );
    }
    if (rule.apiGroups.length > 0 || rule.resources.length > 0) {
      throw new RbacPolicyError(
        `${where}: rules cannot apply to both regular resources and` +
          " non-resource URLs",
      );
    }
  } else {
    if (rule.resources.length === 0) {
      throw new RbacPolicyError(
        `${where}: resource rules must supply at least one resource`,
      );
    }
    if (rule.apiGroups.length === 0) {
      throw new RbacPolicyError(
        `${where}: resource rules must supply at least one api group`,
      );
    }
  }
  return rule;
}

function parseRoleRef(
  raw: unknown,
  where: string,
  clusterBinding: boolean,
): RoleRef {
  const r = (raw ?? {}) as Record<string, unknown>;
  if (r.apiGroup !== RBAC_GROUP) {
    throw new RbacPolicyError(
      `${where}: expected roleRef.apiGroup ${RBAC_GROUP}, found ${
        JSON.stringify(r.apiGroup)
      }`,
    );
  }
  const kinds = clusterBinding ? ["ClusterRole"] : ["Role", "ClusterRole"];
  if (!kinds.includes(String(r.kind))) {
    throw new RbacPolicyError(
      `${where}: expected roleRef.kind ${kinds.join(" or ")}, found ${
        JSON.stringify(r.kind)
      }`,
    );
  }
  if (typeof r.name !== "string" || r.name === "") {
    throw new RbacPolicyError(`${where}: expected roleRef.name`);
  }
  return { kind: r.kind as RoleRef["kind"], name: r.name };
}

function parseSubjects(
  raw: unknown,
  where: string,
  clusterBinding: boolean,
): Subject[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    throw new RbacPolicyError(`${where}: expected subjects to be a list`);
  }
  return raw.map((s: Record<string, unknown>, i) => {
    const at = `${where} subjects[${i}]`;
    if (typeof s?.name !== "string" || s.name === "") {
      throw new RbacPolicyError(`${at}: expected a name`);
    }
    switch (s.kind) {
      case "User":
      case "Group":
        if (s.apiGroup !== RBAC_GROUP) {
          throw new RbacPolicyError(
            `${at}: expected apiGroup ${RBAC_GROUP} for a ${s.kind}, found ${
              JSON.stringify(s.apiGroup)
            }`,
          );
        }
        return { kind: s.kind, name: s.name };
      case "ServiceAccount": {
        if (s.apiGroup !== undefined && s.apiGroup !== "") {
          throw new RbacPolicyError(
            `${at}: expected no apiGroup for a ServiceAccount, found ${
              JSON.stringify(s.apiGroup)
            }`,
          );
        }
        const ns = typeof s.namespace === "string" ? s.namespace : "";
        if (clusterBinding && ns === "") {
          throw new RbacPolicyError(
            `${at}: expected a namespace for a ServiceAccount subject`,
          );
        }
        return ns === ""
          ? { kind: "ServiceAccount", name: s.name }
          : { kind: "ServiceAccount", name: s.name, namespace: ns };
      }
      default:
        throw new RbacPolicyError(
          `${at}: expected kind User, Group or ServiceAccount, found ${
            JSON.stringify(s?.kind)
          }`,
        );
    }
  });
}

/**
 * Extracts the RBAC objects from parsed manifests, validating them as the
 * API server would (and refusing namespaced objects without a namespace,
 * which `kubectl apply` would silently put in the current context's).
 *
 * @example
 * ```ts
 * import { policyFromObjects } from "./rbac.ts";
 * const policy = policyFromObjects([]);
 * ```
 */
export function policyFromObjects(objects: KubeObject[]): RbacPolicy {
  const policy: RbacPolicy = {
    roles: [],
    clusterRoles: [],
    roleBindings: [],
    clusterRoleBindings: [],
  };
  const seen = new Set<string>();
  for (const obj of objects) {
    const kind = obj.kind;
    if (
      kind !== "Role" && kind !== "ClusterRole" && kind !== "RoleBinding" &&
      kind !== "ClusterRoleBinding"
    ) continue;
    const where = `${kind} ${JSON.stringify(obj.metadata?.name)}`;
    if (obj.apiVersion !== RBAC_API_VERSION) {
      throw new RbacPolicyError(
        `${where}: expected apiVersion ${RBAC_API_VERSION}, found ${
          JSON.stringify(obj.apiVersion)
        }`,
      );
    }
    const { name, namespace } = meta(obj, where);
    const namespaced = kind === "Role" || kind === "RoleBinding";
    if (namespaced && !namespace) {
      throw new RbacPolicyError(
        `${where}: expected metadata.namespace on a namespaced object`,
      );
    }
    const key = `${kind}/${namespace ?? ""}/${name}`;
    if (seen.has(key)) {
      throw new RbacPolicyError(`${where}: expected one object, found two`);
    }
    seen.add(key);
    if (kind === "Role" || kind === "ClusterRole") {
      if (!Array.isArray(obj.rules ?? [])) {
        throw new RbacPolicyError(`${where}: expected rules to be a list`);
      }
      const rules = ((obj.rules ?? []) as unknown[]).map((r, i) =>
        parseRule(r, `${where} rules[${i}]`, namespaced)
      );
      if (kind === "Role") {
        policy.roles.push({ name, namespace: namespace!, rules });
      } else policy.clusterRoles.push({ name, rules });
    } else {
      const roleRef = parseRoleRef(obj.roleRef, where, !namespaced);
      const subjects = parseSubjects(obj.subjects, where, !namespaced);
      if (kind === "RoleBinding") {
        policy.roleBindings.push({
          name,
          namespace: namespace!,
          roleRef,
          subjects,
        });
      } else policy.clusterRoleBindings.push({ name, roleRef, subjects });
    }
  }
  return policy;
}

/**
 * Parses multi-document YAML texts and returns the RBAC policy they define.
 * Non-RBAC objects are ignored; malformed RBAC objects throw
 * `RbacPolicyError`.
 *
 * @example
 * ```ts
 * import { loadRbacPolicy } from "./rbac.ts";
 * const policy = loadRbacPolicy([`
 * apiVersion: rbac.authorization.k8s.io/v1
 * kind: ClusterRole
 * metadata: {name: reader}
 * rules: [{apiGroups: [""], resources: [nodes], verbs: [get]}]
 * `]);
 * ```
 */
export function loadRbacPolicy(yamlDocuments: string[]): RbacPolicy {
  return policyFromObjects(parseManifests(yamlDocuments));
}

/**
 * Renders the kustomization in `dir` (default: the repository's `deploy/`)
 * and returns its RBAC policy.
 *
 * @example
 * ```ts
 * import { loadDeployPolicy } from "./rbac.ts";
 * const policy = await loadDeployPolicy("deploy/ha");
 * ```
 */
export async function loadDeployPolicy(dir = "deploy"): Promise<RbacPolicy> {
  return policyFromObjects(await renderKustomization(dir));
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

/**
 * `VerbMatches` from evaluation_helpers.go.
 *
 * @example
 * ```ts
 * import { verbMatches } from "./rbac.ts";
 * verbMatches({ verbs: ["*"], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [] }, "get");
 * ```
 */
export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.some((v) => v === "*" || v === verb);
}

/**
 * `APIGroupMatches` from evaluation_helpers.go.
 *
 * @example
 * ```ts
 * import { apiGroupMatches } from "./rbac.ts";
 * apiGroupMatches({ verbs: [], apiGroups: [""], resources: [], resourceNames: [], nonResourceURLs: [] }, "");
 * ```
 */
export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return rule.apiGroups.some((g) => g === "*" || g === group);
}

/**
 * `ResourceMatches` from evaluation_helpers.go: `*`, an exact
 * `resource[/subresource]`, or a `*` resource with the request's
 * `/subresource` (any resource's status, say).
 *
 * @example
 * ```ts
 * import { resourceMatches } from "./rbac.ts";
 * const rule = { verbs: [], apiGroups: [], resources: ["*\/status"], resourceNames: [], nonResourceURLs: [] };
 * resourceMatches(rule, "pods/status", "status"); // true
 * ```
 */
export function resourceMatches(
  rule: PolicyRule,
  combinedResource: string,
  subresource: string,
): boolean {
  for (const r of rule.resources) {
    if (r === "*" || r === combinedResource) return true;
    if (
      subresource !== "" && r.length === subresource.length + 2 &&
      r.startsWith("*/") && r.endsWith(subresource)
    ) return true;
  }
  return false;
}

/**
 * `ResourceNameMatches` from evaluation_helpers.go: an empty list matches
 * every name (including none).
 *
 * @example
 * ```ts
 * import { resourceNameMatches } from "./rbac.ts";
 * resourceNameMatches({ verbs: [], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [] }, "x");
 * ```
 */
export function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  return rule.resourceNames.length === 0 || rule.resourceNames.includes(name);
}

/**
 * `NonResourceURLMatches` from evaluation_helpers.go: `*`, exact, or a
 * trailing-`*` prefix.
 *
 * @example
 * ```ts
 * import { nonResourceURLMatches } from "./rbac.ts";
 * const rule = { verbs: [], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: ["/healthz/*"] };
 * nonResourceURLMatches(rule, "/healthz/ping"); // true
 * ```
 */
export function nonResourceURLMatches(rule: PolicyRule, url: string): boolean {
  return rule.nonResourceURLs.some((u) =>
    u === "*" || u === url ||
    (u.endsWith("*") && url.startsWith(u.replace(/\*+$/, "")))
  );
}

interface Attributes {
  user: string;
  groups: string[];
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  name: string;
  namespace: string;
  path: string;
}

/** `RuleAllows` from rbac.go. */
function ruleAllows(a: Attributes, rule: PolicyRule): boolean {
  if (a.resource !== "") {
    const combined = a.subresource === ""
      ? a.resource
      : `${a.resource}/${a.subresource}`;
    return verbMatches(rule, a.verb) && apiGroupMatches(rule, a.apiGroup) &&
      resourceMatches(rule, combined, a.subresource) &&
      resourceNameMatches(rule, a.name);
  }
  return verbMatches(rule, a.verb) && nonResourceURLMatches(rule, a.path);
}

const SA_PREFIX = "system:serviceaccount:";

/** `appliesToUser` from rule.go. */
function appliesTo(a: Attributes, s: Subject, bindingNamespace: string) {
  switch (s.kind) {
    case "User":
      return a.user === s.name;
    case "Group":
      return a.groups.includes(s.name);
    case "ServiceAccount": {
      const ns = s.namespace || bindingNamespace;
      return ns !== "" && a.user === `${SA_PREFIX}${ns}:${s.name}`;
    }
  }
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  return s.kind === "ServiceAccount"
    ? `ServiceAccount "${s.name}/${s.namespace || bindingNamespace}"`
    : `${s.kind} "${s.name}"`;
}

/**
 * The identity the authenticator would produce: a ServiceAccount user gets
 * `system:serviceaccounts` and `system:serviceaccounts:<ns>`, every
 * authenticated user gets `system:authenticated`.
 */
function identity(req: RbacRequest): { user: string; groups: string[] } {
  let user = req.user;
  if (req.serviceAccount) {
    const sa =
      `${SA_PREFIX}${req.serviceAccount.namespace}:${req.serviceAccount.name}`;
    if (user !== "" && user !== sa) {
      throw new RbacPolicyError(
        `expected user and serviceAccount to agree, found user "${user}"` +
          ` and serviceAccount "${sa}"`,
      );
    }
    user = sa;
  }
  const groups = new Set(req.groups);
  if (user.startsWith(SA_PREFIX)) {
    const parts = user.slice(SA_PREFIX.length).split(":");
    if (parts.length === 2 && parts[0] !== "" && parts[1] !== "") {
      groups.add("system:serviceaccounts");
      groups.add(`system:serviceaccounts:${parts[0]}`);
    }
  }
  groups.add(
    user === "system:anonymous"
      ? "system:unauthenticated"
      : "system:authenticated",
  );
  return { user, groups: [...groups] };
}

/**
 * Decides one request like the API server's RBAC authorizer: every
 * ClusterRoleBinding, then the RoleBindings of the request's namespace (none
 * for a cluster-scoped request). `by` says which binding allowed it, in the
 * authorizer's own words. Bindings to missing roles are skipped, as there.
 *
 * @example
 * ```ts
 * import { authorizeRequest, loadRbacPolicy } from "./rbac.ts";
 * const policy = loadRbacPolicy([]);
 * const { allowed } = authorizeRequest(policy, {
 *   user: "alice", groups: [], verb: "get", apiGroup: "", resource: "nodes",
 *   subresource: "", name: "worker-1", namespace: "",
 * });
 * // allowed === false
 * ```
 */
export function authorizeRequest(
  policy: RbacPolicy,
  req: RbacRequest,
): RbacDecision {
  const { user, groups } = identity(req);
  let { resource, subresource } = req;
  if (subresource === "" && resource.includes("/")) {
    [resource, subresource] = [
      resource.slice(0, resource.indexOf("/")),
      resource.slice(resource.indexOf("/") + 1),
    ];
  }
  const a: Attributes = {
    user,
    groups,
    verb: req.verb,
    apiGroup: req.apiGroup,
    resource,
    subresource,
    name: req.name,
    namespace: req.namespace,
    path: req.path ?? "",
  };
  const rulesOf = (ref: RoleRef, namespace: string) =>
    ref.kind === "ClusterRole"
      ? policy.clusterRoles.find((r) => r.name === ref.name)?.rules
      : policy.roles.find((r) =>
        r.namespace === namespace && r.name === ref.name
      )?.rules;

  for (const b of policy.clusterRoleBindings) {
    const subject = b.subjects.find((s) => appliesTo(a, s, ""));
    if (!subject) continue;
    if (rulesOf(b.roleRef, "")?.some((rule) => ruleAllows(a, rule))) {
      return {
        allowed: true,
        by:
          `ClusterRoleBinding "${b.name}" of ${b.roleRef.kind} "${b.roleRef.name}" to ${
            describeSubject(subject, "")
          }`,
      };
    }
  }
  if (a.namespace !== "") {
    for (const b of policy.roleBindings) {
      if (b.namespace !== a.namespace) continue;
      const subject = b.subjects.find((s) => appliesTo(a, s, b.namespace));
      if (!subject) continue;
      if (rulesOf(b.roleRef, b.namespace)?.some((r) => ruleAllows(a, r))) {
        return {
          allowed: true,
          by:
            `RoleBinding "${b.name}/${b.namespace}" of ${b.roleRef.kind} "${b.roleRef.name}" to ${
              describeSubject(subject, b.namespace)
            }`,
        };
      }
    }
  }
  return { allowed: false };
}

/**
 * `IsAuthorizedForSignerName` from the CertificateApproval admission plugin:
 * `verb` on `certificates.k8s.io` `signers` named `signerName`, or else
 * named `<domain>/*`.
 *
 * @example
 * ```ts
 * import { isAuthorizedForSignerName, loadRbacPolicy } from "./rbac.ts";
 * isAuthorizedForSignerName(loadRbacPolicy([]), { user: "alice", groups: [] },
 *   "approve", "kubernetes.io/kubelet-serving"); // { allowed: false }
 * ```
 */
export function isAuthorizedForSignerName(
  policy: RbacPolicy,
  who: { user: string; groups: string[] },
  verb: string,
  signerName: string,
): RbacDecision {
  const ask = (name: string) =>
    authorizeRequest(policy, {
      ...who,
      verb,
      apiGroup: "certificates.k8s.io",
      resource: "signers",
      subresource: "",
      name,
      namespace: "",
    });
  const exact = ask(signerName);
  if (exact.allowed) return exact;
  return ask(`${signerName.split("/")[0]}/*`);
}

// ---------------------------------------------------------------------------
// Request logs
// ---------------------------------------------------------------------------

/** Request attributes as the API server derives them from method and URL. */
export interface RequestAttributes {
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  name: string;
  namespace: string;
  /** The path without its query. */
  path: string;
}

const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

/**
 * Derives authorization attributes from an HTTP method and path, following
 * apiserver's `RequestInfoFactory`: GET → get/list/watch (`watch=true|1`),
 * POST → create, PUT → update, PATCH → patch, DELETE →
 * delete/deletecollection; paths outside `/api/v1/...` and `/apis/g/v/...`
 * are non-resource requests with the lower-cased method as verb.
 *
 * @example
 * ```ts
 * import { requestAttributesFromPath } from "./rbac.ts";
 * requestAttributesFromPath("PUT",
 *   "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval");
 * // { verb: "update", resource: "certificatesigningrequests", subresource: "approval", ... }
 * ```
 */
export function requestAttributesFromPath(
  method: string,
  pathWithQuery: string,
): RequestAttributes {
  const url = new URL(pathWithQuery, "http://api.invalid");
  const path = url.pathname;
  const parts = path.split("/").filter((p) => p !== "");
  const nonResource: RequestAttributes = {
    verb: method.toLowerCase(),
    apiGroup: "",
    resource: "",
    subresource: "",
    name: "",
    namespace: "",
    path,
  };
  let rest: string[];
  let apiGroup: string;
  if (parts[0] === "api" && parts.length >= 3) {
    apiGroup = "";
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 4) {
    apiGroup = parts[1];
    rest = parts.slice(3);
  } else return nonResource;

  let verb = ({
    GET: "get",
    HEAD: "get",
    POST: "create",
    PUT: "update",
    PATCH: "patch",
    DELETE: "delete",
  } as Record<string, string>)[method.toUpperCase()] ?? "";
  if (rest[0] === "watch") {
    verb = "watch";
    rest = rest.slice(1);
  }
  let namespace = "";
  if (rest[0] === "namespaces" && rest.length > 1) {
    namespace = rest[1];
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2])) {
      rest = rest.slice(2);
    }
  }
  const [resource = "", name = "", subresource = ""] = rest;
  let finalName = name;
  if (name === "") {
    const watch = url.searchParams.get("watch");
    if (verb === "get") {
      verb = watch === "true" || watch === "1" ? "watch" : "list";
    } else if (verb === "delete") verb = "deletecollection";
    if (verb === "list" || verb === "watch") {
      const m = /(?:^|,)metadata\.name==?([^,]+)/.exec(
        url.searchParams.get("fieldSelector") ?? "",
      );
      if (m) finalName = m[1];
    }
  }
  return {
    verb,
    apiGroup,
    resource,
    subresource,
    name: finalName,
    namespace,
    path,
  };
}

/** One request as the API server double records it. */
export interface ApiRequestRecord {
  user: string;
  groups: string[];
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  name: string;
  namespace: string;
  path: string;
  method: string;
  status: number;
  /** For an update of `certificatesigningrequests/approval`: the CSR's signer. */
  signerName?: string;
}

/** Options of `assertAllowedByDeploy`. */
export interface AssertAllowedOptions {
  /**
   * Signer to assume for an approval update whose record has no
   * `signerName`. Without it such a record is reported, since the
   * CertificateApproval admission check cannot be evaluated.
   */
  defaultSignerName?: string;
}

function describeRequest(r: ApiRequestRecord, a: RequestAttributes): string {
  const what = a.resource === ""
    ? `nonResourceURL "${a.path}"`
    : `${a.apiGroup === "" ? "core" : a.apiGroup} ${a.resource}${
      a.subresource ? "/" + a.subresource : ""
    }${a.name ? ` "${a.name}"` : ""}`;
  const scope = a.namespace ? `in namespace "${a.namespace}"` : "cluster-wide";
  return `${r.method} ${r.path} (status ${r.status}): user "${r.user}"` +
    ` may not ${a.verb} ${what} ${scope}`;
}

/**
 * Throws an `AssertionError` listing every recorded request that the RBAC
 * policy does not allow. Record fields win; when `resource` is empty they
 * are derived from `method` and `path` (an empty `verb` too). A 401 is
 * skipped (authorization never ran). An update of
 * `certificatesigningrequests/approval` must also be allowed `approve` on
 * `signers` named after the CSR's `signerName`, as the CertificateApproval
 * admission plugin demands.
 *
 * @example
 * ```ts
 * import { assertAllowedByDeploy, loadDeployPolicy } from "./rbac.ts";
 * assertAllowedByDeploy([], await loadDeployPolicy());
 * ```
 */
export function assertAllowedByDeploy(
  requests: ApiRequestRecord[],
  policy: RbacPolicy,
  options: AssertAllowedOptions = {},
): void {
  const problems: string[] = [];
  for (const r of requests) {
    if (r.status === 401) continue;
    const derived = requestAttributesFromPath(r.method, r.path);
    const a: RequestAttributes = r.resource === "" ? derived : {
      verb: r.verb || derived.verb,
      apiGroup: r.apiGroup,
      resource: r.resource,
      subresource: r.subresource,
      name: r.name,
      namespace: r.namespace,
      path: derived.path,
    };
    if (r.resource === "" && r.verb) a.verb = r.verb;
    const who = { user: r.user, groups: r.groups };
    if (!authorizeRequest(policy, { ...who, ...a }).allowed) {
      problems.push(describeRequest(r, a));
    }
    const isApproval = a.apiGroup === "certificates.k8s.io" &&
      a.resource === "certificatesigningrequests" &&
      a.subresource === "approval" && a.verb === "update";
    if (!isApproval) continue;
    const signer = r.signerName ?? options.defaultSignerName;
    if (!signer) {
      problems.push(
        `${r.method} ${r.path}: expected a signerName on the record of an` +
          " approval update (CertificateApproval admission checks `approve`" +
          " on signers), found none",
      );
    } else if (
      !isAuthorizedForSignerName(policy, who, "approve", signer).allowed
    ) {
      problems.push(
        `${r.method} ${r.path}: user "${r.user}" may not approve signer` +
          ` "${signer}" (CertificateApproval admission)`,
      );
    }
  }
  if (problems.length > 0) {
    throw new AssertionError(
      `${problems.length} problem(s) in ${requests.length} recorded API` +
        " request(s) against the deploy/ RBAC manifests:\n  - " +
        problems.join("\n  - "),
    );
  }
}
