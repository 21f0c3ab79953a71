// Checks the GitHub workflows by structure (parsed YAML), so that CI runs the
// README's exact test command and the release builds what the issue asks.

import { parse } from "yaml";
import { PINNED_DENO_VERSION } from "../../src/version.ts";
import {
  assert,
  assertEquals,
  AssertionError,
  assertMatch,
} from "../support/assert.ts";

const ROOT = new URL("../../", import.meta.url);
const PLATFORMS = ["linux/amd64", "linux/arm64"];

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
  if?: string;
}

interface Job {
  needs?: string | string[];
  if?: string;
  permissions?: Record<string, string>;
  outputs?: Record<string, string>;
  steps?: Step[];
}

interface Workflow {
  on: Record<string, Record<string, string[]> | null>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

async function loadWorkflow(name: string): Promise<Workflow> {
  const path = `.github/workflows/${name}`;
  const text = await Deno.readTextFile(new URL(path, ROOT));
  const workflow = parse(text) as Workflow;
  assert(
    workflow && typeof workflow === "object" && workflow.on && workflow.jobs,
    `expected ${path} to be a workflow with "on" and "jobs"`,
  );
  return workflow;
}

/** The README's test command, e.g. `npx -y deno@2.9.6 task test`. */
async function readmeTestCommand(): Promise<string> {
  let readme: string;
  try {
    readme = await Deno.readTextFile(new URL("README.md", ROOT));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new AssertionError(
        `README.md is missing: expected it to give the test command "npx -y deno@${PINNED_DENO_VERSION} task test"`,
      );
    }
    throw err;
  }
  const commands = readme.split("\n")
    .map((line) => line.match(/^\s*(?:\$\s+)?(npx -y deno@\S+ task test)\s*$/))
    .filter((m) => m !== null)
    .map((m) => m![1]);
  assert(
    commands.length > 0,
    `expected a line "npx -y deno@${PINNED_DENO_VERSION} task test" in README.md, found none`,
  );
  assertEquals(
    new Set(commands).size,
    1,
    "README.md gives more than one test command",
  );
  assertEquals(commands[0], `npx -y deno@${PINNED_DENO_VERSION} task test`);
  return commands[0];
}

function steps(job: Job): Step[] {
  return job.steps ?? [];
}

function allSteps(workflow: Workflow): Step[] {
  return Object.values(workflow.jobs).flatMap(steps);
}

function isAction(step: Step, action: string): boolean {
  return step.uses?.startsWith(`${action}@`) ?? false;
}

/** Glob match as GitHub filter patterns do (`*` stops at `/`). */
function globMatches(pattern: string, text: string): boolean {
  const source = pattern.split(/(\*\*|\*)/).map((part) =>
    part === "**"
      ? ".*"
      : part === "*"
      ? "[^/]*"
      : part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")
  ).join("");
  return new RegExp(`^${source}$`).test(text);
}

for (const name of ["ci.yml", "release.yml"]) {
  Deno.test(`${name}: installs Deno like the README and runs its exact test command`, async () => {
    const command = await readmeTestCommand();
    const workflow = await loadWorkflow(name);
    const jobs = Object.entries(workflow.jobs).filter(([, job]) =>
      steps(job).some((s) => s.run?.trim() === command)
    );
    assert(jobs.length > 0, `expected a step running "${command}" in ${name}`);
    for (const [jobName, job] of jobs) {
      const list = steps(job);
      const node = list.findIndex((s) => isAction(s, "actions/setup-node"));
      const test = list.findIndex((s) => s.run?.trim() === command);
      assert(
        node !== -1 && node < test,
        `${name} job "${jobName}": expected actions/setup-node before "${command}"`,
      );
      assert(
        list.findIndex((s) => isAction(s, "actions/checkout")) < test,
        `${name} job "${jobName}": expected a checkout before the tests`,
      );
    }
  });

  Deno.test(`${name}: builds the Dockerfile for linux/amd64 and linux/arm64`, async () => {
    const workflow = await loadWorkflow(name);
    const builds = allSteps(workflow).filter((s) =>
      isAction(s, "docker/build-push-action")
    );
    assert(builds.length > 0, `expected docker/build-push-action in ${name}`);
    for (const build of builds) {
      assertEquals(build.with?.file, "Dockerfile", `${name} build file`);
      assertEquals(
        String(build.with?.platforms).split(",").map((p) => p.trim()),
        PLATFORMS,
        `${name} platforms`,
      );
    }
  });

  Deno.test(`${name}: actions pinned to a version, Deno pinned to ${PINNED_DENO_VERSION}`, async () => {
    const workflow = await loadWorkflow(name);
    for (const step of allSteps(workflow)) {
      if (step.uses) {
        assertMatch(
          step.uses,
          /^[\w.-]+\/[\w.-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/,
          `${name}: action must be pinned to a release or commit`,
        );
      }
    }
    const text = await Deno.readTextFile(
      new URL(`.github/workflows/${name}`, ROOT),
    );
    const pins = [...text.matchAll(/\bdeno@(\S+?)(?=\s|$)/gm)].map((m) => m[1]);
    assert(pins.length > 0, `expected ${name} to run deno@<version>`);
    for (const pin of pins) assertEquals(pin, PINNED_DENO_VERSION, name);
  });
}

Deno.test("ci.yml: runs on pull_request and push with read-only permissions", async () => {
  const ci = await loadWorkflow("ci.yml");
  assert("pull_request" in ci.on, "expected ci.yml to run on pull_request");
  assert("push" in ci.on, "expected ci.yml to run on push");
  assertEquals(ci.permissions, { contents: "read" }, "ci.yml permissions");
  for (const [jobName, job] of Object.entries(ci.jobs)) {
    assertEquals(job.permissions, undefined, `ci.yml job ${jobName}`);
    for (const step of steps(job)) {
      assert(
        !isAction(step, "docker/login-action"),
        "ci.yml must not log in to a registry",
      );
      if (isAction(step, "docker/build-push-action")) {
        assertEquals(step.with?.push, false, "ci.yml must not push images");
      }
    }
  }
});

Deno.test("release.yml: triggers on v* tags and main", async () => {
  const release = await loadWorkflow("release.yml");
  const push = release.on.push;
  assert(push, "expected release.yml to run on push");
  assertEquals(Object.keys(release.on), ["push"], "release.yml triggers");
  const tags = push.tags ?? [];
  assert(tags.length > 0, "expected push.tags in release.yml");
  assert(tags.every((t) => t.startsWith("v")), "tag patterns start with v");
  const matches = (ref: string) => tags.some((t) => globMatches(t, ref));
  for (const tag of ["v1.2.3", "v0.1.0", "v1.3.0-rc.1"]) {
    assert(matches(tag), `expected release.yml to trigger on tag ${tag}`);
  }
  for (const tag of ["1.2.3", "release-1", "v1"]) {
    assert(!matches(tag), `expected release.yml to ignore tag ${tag}`);
  }
  assertEquals(push.branches, ["main"], "release.yml branches");
});

Deno.test("release.yml: tags come from scripts/release_tags.ts; push with SBOM and provenance", async () => {
  const release = await loadWorkflow("release.yml");
  const publishers = Object.entries(release.jobs).filter(([, job]) =>
    steps(job).some((s) => isAction(s, "docker/build-push-action"))
  );
  assertEquals(publishers.length, 1, "jobs that build images");
  const [jobName, job] = publishers[0];
  const list = steps(job);

  const tagIndex = list.findIndex((s) =>
    s.run?.includes("scripts/release_tags.ts")
  );
  assert(tagIndex !== -1, "expected a step calling scripts/release_tags.ts");
  const tagStep = list[tagIndex];
  const run = tagStep.run!.replace(/\s+/g, " ");
  for (
    const part of [
      `npx -y deno@${PINNED_DENO_VERSION} run`,
      '--ref "$REF"',
      '--image "$IMAGE"',
      "--version-file deno.json",
      '--github-output >> "$GITHUB_OUTPUT"',
    ]
  ) {
    assert(run.includes(part), `expected the tag step to run with ${part}`);
  }
  assertEquals(tagStep.env?.REF, "${{ github.ref }}");
  assertEquals(tagStep.env?.IMAGE, "ghcr.io/${{ github.repository }}");
  assert(tagStep.id, "expected the tag step to have an id");

  const buildIndex = list.findIndex((s) =>
    isAction(s, "docker/build-push-action")
  );
  assert(tagIndex < buildIndex, "tags are computed before the build");
  const build = list[buildIndex].with ?? {};
  assertEquals(build.tags, `\${{ steps.${tagStep.id}.outputs.tags }}`);
  assertEquals(build.push, true);
  assertEquals(build.sbom, true);
  assertEquals(build.provenance, "mode=max");
  assertMatch(
    String(build["build-args"]),
    new RegExp(`VERSION=\\$\\{\\{ steps\\.${tagStep.id}\\.outputs\\.version`),
  );

  const login = list.findIndex((s) => isAction(s, "docker/login-action"));
  assert(login !== -1 && login < buildIndex, "expected a login before build");
  assertEquals(list[login].with, {
    registry: "ghcr.io",
    username: "${{ github.actor }}",
    password: "${{ secrets.GITHUB_TOKEN }}",
  });
  const buildx = list.findIndex((s) =>
    isAction(s, "docker/setup-buildx-action")
  );
  assert(buildx !== -1 && buildx < buildIndex, "expected buildx before build");

  assertEquals(
    job.permissions,
    { contents: "read", packages: "write", "id-token": "write" },
    `release.yml job ${jobName} permissions`,
  );
  assertEquals(release.permissions, {}, "release.yml default permissions");
  const needs = [job.needs ?? []].flat();
  assert(needs.length > 0, "expected publishing to wait for the tests");
  for (const [name, other] of Object.entries(release.jobs)) {
    if (name === jobName) continue;
    // Only the job that creates the GitHub Release may write contents.
    assertEquals(
      other.permissions,
      { contents: name === "github-release" ? "write" : "read" },
      `job ${name}`,
    );
  }
});

Deno.test("release.yml: signs the image and the chart with cosign, pushes the chart as OCI, attaches the install manifests", async () => {
  const release = await loadWorkflow("release.yml");
  const publish = release.jobs.publish;
  const list = steps(publish);
  const buildIndex = list.findIndex((s) =>
    isAction(s, "docker/build-push-action")
  );
  assertEquals(list[buildIndex].id, "build");
  const installer = list.findIndex((s) =>
    isAction(s, "sigstore/cosign-installer")
  );
  const sign = list.findIndex((s) => s.run?.includes("cosign sign --yes"));
  assert(buildIndex < installer && installer < sign, "cosign after the push");
  assertEquals(list[sign].env?.DIGEST, "${{ steps.build.outputs.digest }}");
  assertMatch(list[sign].run!, /@\$\{DIGEST\}/);
  // Keyless signing needs the OIDC token.
  assertEquals(publish.permissions?.["id-token"], "write");
  const chart = list.find((s) => s.run?.includes("helm push"));
  assert(chart, "a step pushes the chart");
  assertMatch(
    chart.run!,
    /helm package charts\/kubelet-rubber-stamp --version "\$VERSION" --app-version "\$VERSION"/,
  );
  assertMatch(
    chart.run!,
    /helm push .* "oci:\/\/ghcr\.io\/\$\{OWNER,,\}\/charts"/,
  );
  assertMatch(
    chart.run!,
    /cosign sign --yes "ghcr\.io\/\$\{OWNER,,\}\/charts\/kubelet-rubber-stamp@\$\{digest\}"/,
  );
  assertEquals(chart.if, "startsWith(github.ref, 'refs/tags/v')");
  // The chart is pointed at the image this run pushed, in values and the
  // Artifact Hub annotation, before it is packaged.
  const sed = chart.run!.indexOf("sed -i");
  assert(
    sed !== -1 && sed < chart.run!.indexOf("helm package"),
    "image set before packaging",
  );
  for (const file of ["values.yaml", "Chart.yaml"]) {
    assert(chart.run!.includes(`charts/kubelet-rubber-stamp/${file}`), file);
    const text = await Deno.readTextFile(`charts/kubelet-rubber-stamp/${file}`);
    assert(
      text.includes("ghcr.io/kubelet-rubber-stamp/kubelet-rubber-stamp"),
      `${file} names the image the sed rewrites`,
    );
  }
  // The chart directory the workflow packages exists.
  await Deno.stat("charts/kubelet-rubber-stamp/Chart.yaml");

  const gh = release.jobs["github-release"];
  assertEquals(gh.if, "startsWith(github.ref, 'refs/tags/v')");
  assertEquals([gh.needs].flat(), ["publish"]);
  const render = steps(gh).find((s) => s.run?.includes("task manifests"));
  assert(render, "the install manifests are rendered");
  assertMatch(
    render.run!,
    new RegExp(`npx -y deno@${PINNED_DENO_VERSION} task manifests`),
  );
  assertMatch(
    render.run!,
    /--image "\$\{IMAGE,,\}:\$\{VERSION\}@\$\{DIGEST\}"/,
  );
  assertEquals(render.env?.DIGEST, "${{ needs.publish.outputs.digest }}");
  assertEquals(publish.outputs?.digest, "${{ steps.build.outputs.digest }}");
  const create = steps(gh).find((s) => s.run?.includes("gh release create"));
  assert(create, "the GitHub Release is created");
  for (const file of ["dist/install.yaml", "dist/install-ha.yaml"]) {
    assert(create.run!.includes(file), `attaches ${file}`);
  }
});
