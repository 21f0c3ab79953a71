/**
 * Renders the one-file install manifests attached to each GitHub Release:
 * `install.yaml` from `deploy/` (one replica) and `install-ha.yaml` from
 * `deploy/ha/` (two replicas), with the container image set to `--image`
 * (the one place a release names its image; `deploy/base/deployment.yaml`
 * holds the default). The kustomizations are rendered by the same renderer the
 * tests check against `kubectl kustomize`.
 *
 * ```sh
 * deno task manifests --image ghcr.io/OWNER/kubelet-rubber-stamp:0.1.0 --out dist
 * ```
 *
 * Exit codes: 0 written, 1 rendering or writing failed, 2 bad arguments.
 *
 * @module
 */
import { stringify } from "yaml";
import { type KubeObject, renderKustomization } from "../tests/support/rbac.ts";

/** What each install file is rendered from. */
export const INSTALL_MANIFESTS: ReadonlyArray<readonly [string, string]> = [
  ["install.yaml", "deploy"],
  ["install-ha.yaml", "deploy/ha"],
];

// name[:tag][@sha256:digest], lower-case repository path.
const IMAGE =
  /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)+(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/**
 * Sets the approver container's image in rendered objects; throws unless
 * exactly one Deployment container was changed.
 *
 * @example
 * ```ts
 * import { setImage } from "./render_install_manifests.ts";
 * const deployment = {
 *   apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "approver" },
 *   spec: { template: { spec: { containers: [{ name: "approver", image: "old" }] } } },
 * };
 * setImage([deployment], "ghcr.io/me/kubelet-rubber-stamp:1.0.0");
 * deployment.spec.template.spec.containers[0].image; // "ghcr.io/me/kubelet-rubber-stamp:1.0.0"
 * ```
 */
export function setImage(objects: KubeObject[], image: string): void {
  let changed = 0;
  for (const o of objects) {
    if (o.kind !== "Deployment") continue;
    // deno-lint-ignore no-explicit-any
    const containers = (o as any).spec?.template?.spec?.containers ?? [];
    for (const c of containers) {
      if (c.name === "approver") {
        c.image = image;
        changed++;
      }
    }
  }
  if (changed !== 1) {
    throw new Error(
      `expected one "approver" container in the Deployment, found ${changed}`,
    );
  }
}

/**
 * One multi-document YAML file of `objects`, in the order kubectl applies
 * best (Namespace first, as rendered).
 */
export function toYaml(objects: readonly KubeObject[], header: string): string {
  return `# ${header}\n` +
    objects.map((o) => `---\n${stringify(o, { lineWidth: 0 })}`).join("");
}

/** Renders every install manifest; resolves to `[file name, text]`. */
export async function renderInstallManifests(
  image?: string,
): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for (const [file, dir] of INSTALL_MANIFESTS) {
    const objects = await renderKustomization(dir);
    if (image !== undefined) setImage(objects, image);
    out.push([
      file,
      toYaml(
        objects,
        `kubelet-rubber-stamp: rendered from ${dir}/ (kubectl apply -f ${file}). Do not edit; see README.md.`,
      ),
    ]);
  }
  return out;
}

async function main(args: string[]): Promise<number> {
  let image: string | undefined;
  let out = "dist";
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    const value = inline ?? args[++i];
    if (value === undefined) {
      console.error(`error: ${flag} needs a value`);
      return 2;
    }
    if (flag === "--image") image = value;
    else if (flag === "--out") out = value;
    else {
      console.error(`error: unknown argument ${JSON.stringify(args[i])}`);
      return 2;
    }
  }
  if (image !== undefined && !IMAGE.test(image)) {
    console.error(
      `error: --image ${
        JSON.stringify(image)
      } is not an image reference, expected e.g. ghcr.io/owner/kubelet-rubber-stamp:1.2.3`,
    );
    return 2;
  }
  try {
    await Deno.mkdir(out, { recursive: true });
    for (const [file, text] of await renderInstallManifests(image)) {
      await Deno.writeTextFile(`${out}/${file}`, text);
      console.log(`wrote ${out}/${file}`);
    }
    return 0;
  } catch (error) {
    console.error(
      `error: ${error instanceof Error ? error.message : String(error)}`,
    );
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
