/**
 * The one-file install manifests attached to releases: rendered from deploy/
 * and deploy/ha/, identical to them but for the image a release sets.
 */
import { parseAllDocuments } from "yaml";
import {
  INSTALL_MANIFESTS,
  renderInstallManifests,
} from "../../scripts/render_install_manifests.ts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { renderKustomization } from "../support/rbac.ts";

const IMAGE = "ghcr.io/someone/kubelet-rubber-stamp:9.8.7";

Deno.test("install manifests: install.yaml and install-ha.yaml are deploy/ and deploy/ha/ with the release's image", async () => {
  const rendered = new Map(await renderInstallManifests(IMAGE));
  assertEquals([...rendered.keys()], ["install.yaml", "install-ha.yaml"]);
  for (const [file, dir] of INSTALL_MANIFESTS) {
    const docs = parseAllDocuments(rendered.get(file)!).map((d) => d.toJS())
      .filter((d) => d !== null);
    const expected = await renderKustomization(dir);
    assertEquals(docs.length, expected.length, file);
    const images: string[] = [];
    for (const o of expected) {
      if (o.kind === "Deployment") {
        // deno-lint-ignore no-explicit-any
        const c = (o as any).spec.template.spec.containers[0];
        images.push(c.image);
        c.image = IMAGE;
      }
    }
    assertEquals(docs, JSON.parse(JSON.stringify(expected)), file);
    assertEquals(images, [
      "ghcr.io/kubelet-rubber-stamp/kubelet-rubber-stamp:0.1.0",
    ]);
    assertMatch(rendered.get(file)!, /^# kubelet-rubber-stamp: rendered from /);
  }
  // HA: two replicas; the base: one.
  const replicas = (file: string) =>
    parseAllDocuments(rendered.get(file)!).map((d) => d.toJS())
      // deno-lint-ignore no-explicit-any
      .find((d: any) => d?.kind === "Deployment").spec.replicas;
  assertEquals([replicas("install.yaml"), replicas("install-ha.yaml")], [1, 2]);
});

Deno.test("install manifests: the task writes both files and refuses a bad image", async () => {
  const out = await Deno.makeTempDir();
  try {
    const run = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["task", "-q", "manifests", ...args],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
    const ok = await run("--image", IMAGE, "--out", out);
    assertEquals(ok.code, 0, new TextDecoder().decode(ok.stderr));
    for (const [file] of INSTALL_MANIFESTS) {
      assert(
        (await Deno.readTextFile(`${out}/${file}`)).includes(`image: ${IMAGE}`),
        file,
      );
    }
    const bad = await run("--image", "Not An Image", "--out", out);
    assertEquals(bad.code, 2);
    assertMatch(
      new TextDecoder().decode(bad.stderr),
      /--image "Not An Image" is not an image reference/,
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
