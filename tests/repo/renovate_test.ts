/**
 * renovate.json keeps every pinned version current: each copy of the pinned
 * Deno version is matched by a manager (and they move as one group), the
 * npm: specifiers in deno.json are tracked, and the Dockerfile's base images
 * and the workflow actions are left to Renovate's own managers.
 */
import { PINNED_DENO_VERSION } from "../../src/version.ts";
import { assert, assertEquals } from "../support/assert.ts";

interface CustomManager {
  managerFilePatterns: string[];
  matchStrings: string[];
  depNameTemplate?: string;
  datasourceTemplate: string;
}

const config = JSON.parse(await Deno.readTextFile("renovate.json"));
const managers: CustomManager[] = config.customManagers;

/** Renovate's `/regex/` file patterns as RegExps. */
function filePatterns(m: CustomManager): RegExp[] {
  return m.managerFilePatterns.map((p) => {
    assert(p.startsWith("/") && p.endsWith("/"), `pattern ${p} is a /regex/`);
    return new RegExp(p.slice(1, -1));
  });
}

/** Versions the custom managers extract from `file`, by dependency name. */
function extracted(file: string, text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const m of managers) {
    if (!filePatterns(m).some((re) => re.test(file))) continue;
    for (const source of m.matchStrings) {
      for (const match of text.matchAll(new RegExp(source, "g"))) {
        out.push([
          m.depNameTemplate ?? match.groups!.depName,
          match.groups!.currentValue,
        ]);
      }
    }
  }
  return out;
}

async function trackedFiles(): Promise<string[]> {
  const out = await new Deno.Command("git", {
    args: ["ls-files"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((f) =>
    f !== ""
  );
}

Deno.test("renovate: every pinned copy of the Deno version is updated, as one group", async () => {
  const pins = [
    `deno@${PINNED_DENO_VERSION}`,
    `PINNED_DENO_VERSION = "${PINNED_DENO_VERSION}"`,
  ];
  let copies = 0;
  for (const file of await trackedFiles()) {
    if (file.startsWith("tests/") || file.startsWith("bench/")) continue; // examples, not pins
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch {
      continue;
    }
    const count = pins.reduce((n, p) => n + text.split(p).length - 1, 0);
    if (count === 0) continue;
    copies += count;
    const found = extracted(file, text).filter(([name]) => name === "deno");
    assertEquals(
      found.length >= count,
      true,
      `${file}: ${count} pins, ${found.length} tracked`,
    );
    for (const [, version] of found) {
      assertEquals(version, PINNED_DENO_VERSION, file);
    }
  }
  assert(
    copies >= 8,
    `expected the README, CI and workflow copies, found ${copies}`,
  );
  // The builder image (Dockerfile, managed by Renovate's dockerfile manager)
  // moves with the npm package.
  const docker = await Deno.readTextFile("Dockerfile");
  assert(
    docker.includes(`denoland/deno:${PINNED_DENO_VERSION}`),
    "Dockerfile pins the same Deno",
  );
  const group = config.packageRules.find((r: { groupName?: string }) =>
    r.groupName === "Deno"
  );
  assertEquals(group.matchPackageNames.sort(), ["deno", "denoland/deno"]);
});

Deno.test("renovate: every npm: specifier in deno.json is tracked", async () => {
  const denoJson = await Deno.readTextFile("deno.json");
  const imports: Record<string, string> = JSON.parse(denoJson).imports;
  const tracked = new Map(extracted("deno.json", denoJson));
  for (const spec of Object.values(imports)) {
    const m = /^npm:((?:@[^/]+\/)?[^@]+)@(.+)$/.exec(spec);
    assert(m, `${spec} is a pinned npm: specifier`);
    assertEquals(tracked.get(m[1]), m[2], spec);
  }
  assert(
    config.extends.includes("config:recommended"),
    "Renovate's own managers (dockerfile, github-actions, gomod) stay on",
  );
});
