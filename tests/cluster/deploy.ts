/**
 * Applies the real `deploy/` kustomization to the real API server: a small
 * kustomize render (the subset deploy/ uses: `resources` that are files or
 * directories with a kustomization) and a server-side apply of every object,
 * as `kubectl apply --server-side -k deploy/` would. Any kustomization field
 * this renderer does not implement fails the render instead of being
 * silently skipped.
 *
 * @module
 */
import { parseAllDocuments } from "yaml";
import type { ApiClient } from "./control_plane.ts";

/** A rendered manifest. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

const SUPPORTED = new Set(["apiVersion", "kind", "resources"]);

/** Renders the kustomization in `dir` (resources only) into its objects, in order. */
export async function renderKustomization(dir: string): Promise<Manifest[]> {
  const file = `${dir}/kustomization.yaml`;
  const [doc] = parseAllDocuments(await Deno.readTextFile(file));
  const k = doc.toJS() as Record<string, unknown>;
  const unsupported = Object.keys(k).filter((key) => !SUPPORTED.has(key));
  if (unsupported.length > 0) {
    throw new Error(
      `${file}: kustomization fields ${
        unsupported.join(", ")
      } are not implemented by tests/cluster/deploy.ts; extend it`,
    );
  }
  const out: Manifest[] = [];
  for (const resource of (k.resources ?? []) as string[]) {
    const path = `${dir}/${resource}`;
    const info = await Deno.stat(path);
    if (info.isDirectory) {
      out.push(...await renderKustomization(path));
      continue;
    }
    for (const d of parseAllDocuments(await Deno.readTextFile(path))) {
      if (d.errors.length > 0) throw new Error(`${path}: ${d.errors[0]}`);
      const obj = d.toJS() as Manifest | null;
      if (obj) out.push(obj);
    }
  }
  return out;
}

const CORE_KINDS = new Set([
  "Namespace",
  "ServiceAccount",
  "Service",
  "ResourceQuota",
]);

/** The REST path of a manifest (lower-case plural of the kind). */
export function pathOf(m: Manifest): string {
  const [group, version] = m.apiVersion.includes("/")
    ? m.apiVersion.split("/")
    : ["", m.apiVersion];
  if (group === "" && !CORE_KINDS.has(m.kind)) {
    throw new Error(`no REST path known for core kind ${m.kind}`);
  }
  const base = group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
  const plural = `${m.kind.toLowerCase()}s`;
  const ns = m.metadata.namespace ? `/namespaces/${m.metadata.namespace}` : "";
  return `${base}${ns}/${plural}/${m.metadata.name}`;
}

/** Server-side applies each manifest; throws naming the first one refused. */
export async function applyManifests(
  client: ApiClient,
  manifests: Manifest[],
): Promise<void> {
  for (const m of manifests) {
    const res = await client.request(
      "PATCH",
      `${pathOf(m)}?fieldManager=rubber-stamp-cluster-suite&force=true`,
      m,
      "application/apply-patch+yaml",
    );
    if (res.status !== 200 && res.status !== 201) {
      throw new Error(
        `applying ${m.kind} ${
          m.metadata.namespace ? m.metadata.namespace + "/" : ""
        }${m.metadata.name}: HTTP ${res.status}: ${res.text.slice(0, 400)}`,
      );
    }
  }
}
