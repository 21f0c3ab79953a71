// Keeps the Dockerfile honest: it cannot be built here (no docker engine, and
// `deno compile` downloads denort from dl.deno.land), so these tests check
// what reading can check and run the TARGETARCH shell logic for real.

import { PINNED_DENO_VERSION } from "../../src/version.ts";
import {
  assert,
  assertEquals,
  AssertionError,
  assertMatch,
} from "../support/assert.ts";

const ROOT = new URL("../../", import.meta.url);
const FINAL_BASE = "gcr.io/distroless/cc-debian12:nonroot";
const BINARY = "/kubelet-rubber-stamp";

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  from: Instruction;
  instructions: Instruction[];
}

/** Splits a Dockerfile into instructions (continuations joined, comments dropped). */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let current = "";
  let start = 0;
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    // Comment lines are dropped even inside a continuation, as docker does.
    if (/^\s*#/.test(line)) return;
    if (current === "") {
      if (line.trim() === "") return;
      start = i + 1;
    }
    if (line.endsWith("\\")) {
      current += line.slice(0, -1);
      return;
    }
    current += line;
    const match = current.trim().match(/^(\S+)\s*(.*)$/s);
    if (match) {
      instructions.push({
        keyword: match[1].toUpperCase(),
        args: match[2].trim(),
        line: start,
      });
    }
    current = "";
  });
  return instructions;
}

function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      stages.push({ from: instruction, instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

async function readRepoFile(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(new URL(path, ROOT));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

async function loadStages(): Promise<Stage[]> {
  const text = await readRepoFile("Dockerfile");
  assert(text !== undefined, "expected a Dockerfile at the repository root");
  const stages = stagesOf(parseDockerfile(text));
  assertEquals(stages.length, 2, "expected two stages (build, final)");
  return stages;
}

function compileRun(stage: Stage): string {
  const runs = stage.instructions.filter((i) =>
    i.keyword === "RUN" && i.args.includes("deno compile")
  );
  assertEquals(runs.length, 1, "expected one RUN with `deno compile`");
  return runs[0].args;
}

interface ShellResult {
  code: number;
  stderr: string;
  /** The arguments the fake `deno` received, or undefined if not called. */
  denoArgs?: string[];
}

/** Runs the compile RUN line with `sh`, a fake `deno` on PATH and TARGETARCH. */
async function runCompileLine(
  command: string,
  targetArch: string,
): Promise<ShellResult> {
  const dir = await Deno.makeTempDir({ prefix: "dockerfile_test_" });
  try {
    await Deno.writeTextFile(
      `${dir}/deno`,
      `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/args"\n`,
    );
    await Deno.chmod(`${dir}/deno`, 0o755);
    const output = await new Deno.Command("sh", {
      args: ["-c", command],
      env: { PATH: `${dir}:/usr/bin:/bin`, TARGETARCH: targetArch },
      stdout: "piped",
      stderr: "piped",
    }).output();
    let denoArgs: string[] | undefined;
    try {
      denoArgs = (await Deno.readTextFile(`${dir}/args`)).trimEnd().split("\n");
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return {
      code: output.code,
      stderr: new TextDecoder().decode(output.stderr),
      denoArgs,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function permissionFlags(args: string[]): string[] {
  return args.filter((a) => /^(--allow-|--deny-|-A$)/.test(a)).sort();
}

async function startTask(): Promise<{ flags: string[]; entry: string }> {
  const config = JSON.parse((await readRepoFile("deno.json"))!);
  const start: string = config.tasks?.start;
  assert(typeof start === "string", "expected a `start` task in deno.json");
  // The NAME=value words before `deno` are the environment (see the ENV test).
  const all = start.trim().split(/\s+/);
  const words = all.slice(Math.max(0, all.indexOf("deno")));
  assertEquals(words.slice(0, 2), ["deno", "run"], "start task");
  return {
    flags: permissionFlags(words),
    entry: words.filter((w) => !w.startsWith("-")).at(-1)!,
  };
}

Deno.test("Dockerfile: the builder uses the pinned Deno version", async () => {
  const [build] = await loadStages();
  const match = build.from.args.match(
    /^--platform=\$BUILDPLATFORM denoland\/deno:(\S+) AS build$/,
  );
  assert(
    match,
    `expected "FROM --platform=$BUILDPLATFORM denoland/deno:<version> AS build", found "FROM ${build.from.args}"`,
  );
  assertEquals(match[1], PINNED_DENO_VERSION, "denoland/deno tag");
  assert(
    build.instructions.some((i) =>
      i.keyword === "ARG" && i.args === "TARGETARCH"
    ),
    "expected `ARG TARGETARCH` in the build stage",
  );
});

Deno.test("Deno pin: the running Deno, README and .ci/run agree with PINNED_DENO_VERSION", async () => {
  assertEquals(
    Deno.version.deno,
    PINNED_DENO_VERSION,
    "tests must run on the pinned Deno (npx -y deno@PINNED task test)",
  );
  const readme = await readRepoFile("README.md");
  if (readme === undefined) {
    throw new AssertionError(
      `README.md is missing: expected it to give the set-up "npx -y deno@${PINNED_DENO_VERSION} task test"`,
    );
  }
  const npx = [...readme.matchAll(/npx -y deno@(\S+?)[\s`]/g)].map((m) => m[1]);
  assert(
    npx.length > 0,
    `expected README.md to install Deno with "npx -y deno@${PINNED_DENO_VERSION}", found no "npx -y deno@"`,
  );
  const files: Record<string, string> = { "README.md": readme };
  const ciRun = await readRepoFile(".ci/run");
  if (ciRun !== undefined) files[".ci/run"] = ciRun;
  for (const [name, text] of Object.entries(files)) {
    const pins = [
      ...text.matchAll(/\bdeno@(\d+\.\d+\.\d+\S*?)(?=[\s`'")]|$)/gm),
      ...text.matchAll(/denoland\/deno:(?:[a-z]+-)?(\d+\.\d+\.\d+)/g),
    ].map((m) => m[1]);
    for (const pin of pins) {
      assertEquals(pin, PINNED_DENO_VERSION, `Deno version pinned in ${name}`);
    }
  }
});

Deno.test("Dockerfile: compile permission flags equal the start task's", async () => {
  const [build] = await loadStages();
  const start = await startTask();
  const result = await runCompileLine(compileRun(build), "amd64");
  assertEquals(result.code, 0, `compile line failed: ${result.stderr}`);
  const args = result.denoArgs;
  assert(args, "expected the compile line to call deno");
  assertEquals(args[0], "compile");
  assertEquals(permissionFlags(args), start.flags, "permission flags");
  assert(
    start.flags.length > 0,
    "expected the start task to grant permissions",
  );
  for (const flag of ["--frozen", "--no-prompt"]) {
    assert(args.includes(flag), `expected deno compile ${flag}`);
  }
  const out = args.indexOf("-o");
  assert(out !== -1, "expected `-o <binary>`");
  assertEquals(args[out + 1], `/out${BINARY}`);
  assertEquals(args.at(-1), start.entry, "entry module");
});

/** The V8 flags of `--v8-flags=a,b` arguments, in order. */
function v8Flags(args: string[]): string[] {
  return args.filter((a) => a.startsWith("--v8-flags=")).flatMap((a) =>
    a.slice("--v8-flags=".length).split(",").filter((f) => f !== "")
  );
}

Deno.test("Dockerfile: compile V8 flags equal the start task's (what is measured is what ships)", async () => {
  const [build] = await loadStages();
  const config = JSON.parse((await readRepoFile("deno.json"))!);
  const startWords = String(config.tasks?.start).trim().split(/\s+/);
  const result = await runCompileLine(compileRun(build), "amd64");
  assertEquals(result.code, 0, `compile line failed: ${result.stderr}`);
  const compiled = v8Flags(result.denoArgs ?? []);
  const started = v8Flags(startWords);
  assertEquals(compiled, started, "V8 flags: deno compile vs the start task");
  // Chosen by measurement (README, Performance): a small young generation,
  // V8's lite mode and a small initial old generation (not a cap) keep the
  // peak RSS through a 5,000-CSR backlog within 80 MiB.
  for (
    const flag of [
      "--max-semi-space-size=1",
      "--lite-mode",
      "--initial-old-space-size=8",
    ]
  ) {
    assert(started.includes(flag), `expected ${flag} in the start task`);
  }
  // The bench runs the daemon with the start task's flags.
  const { startTaskV8Flags } = await import("../../bench/run.ts");
  assertEquals(
    v8Flags(startTaskV8Flags(JSON.stringify(config))),
    started,
    "bench/run.ts reads the start task's V8 flags",
  );
});

Deno.test("Dockerfile: TARGETARCH maps to the Deno target triple, others fail", async () => {
  const [build] = await loadStages();
  const command = compileRun(build);
  const cases: { arch: string; target?: string }[] = [
    { arch: "amd64", target: "x86_64-unknown-linux-gnu" },
    { arch: "arm64", target: "aarch64-unknown-linux-gnu" },
    { arch: "s390x" },
    { arch: "arm" },
    { arch: "" },
  ];
  for (const c of cases) {
    const result = await runCompileLine(command, c.arch);
    if (c.target) {
      assertEquals(result.code, 0, `${c.arch}: ${result.stderr}`);
      const args = result.denoArgs ?? [];
      assertEquals(args[args.indexOf("--target") + 1], c.target, c.arch);
    } else {
      assert(result.code !== 0, `expected TARGETARCH="${c.arch}" to fail`);
      assertEquals(result.denoArgs, undefined, `${c.arch}: deno not called`);
      assertMatch(result.stderr, /unsupported TARGETARCH/);
    }
  }
});

Deno.test("Dockerfile: the final stage is distroless cc, non-root, binary only", async () => {
  const [build, final] = await loadStages();
  assertMatch(build.from.args, / AS build$/);
  assertEquals(final.from.args, FINAL_BASE, "final base image");
  const of = (keyword: string) =>
    final.instructions.filter((i) => i.keyword === keyword);
  // No RUN: nothing executes as the target architecture, so no QEMU needed.
  assertEquals(of("RUN").length, 0, "RUN instructions in the final stage");
  assertEquals(
    of("COPY").map((i) => i.args),
    [`--from=build /out${BINARY} ${BINARY}`],
  );
  const users = of("USER");
  assert(users.length > 0, "expected a USER in the final stage");
  const user = users.at(-1)!.args;
  assertEquals(user, "65532:65532", "final USER");
  const [uid, gid] = user.split(":").map(Number);
  assert(uid > 0 && gid > 0, "expected a numeric non-root uid:gid");
  assertEquals(of("ENTRYPOINT").map((i) => JSON.parse(i.args)), [[BINARY]]);
  const labels = of("LABEL").map((i) => i.args).join(" ");
  for (const label of ["source", "version", "revision"]) {
    assertMatch(labels, new RegExp(`org\\.opencontainers\\.image\\.${label}=`));
  }
  assertMatch(labels, /org\.opencontainers\.image\.version="\$\{VERSION\}"/);
  assert(
    of("ARG").some((i) => i.args.startsWith("VERSION")),
    "expected ARG VERSION in the final stage",
  );
});

Deno.test(".dockerignore: allow-list that still lets every COPY source in", async () => {
  const ignore = await readRepoFile(".dockerignore");
  assert(ignore !== undefined, "expected a .dockerignore");
  const patterns = ignore.split("\n").map((l) => l.trim()).filter((l) =>
    l !== "" && !l.startsWith("#")
  );
  assertEquals(patterns[0], "*", "the first pattern excludes everything");
  const allowed = new Set(
    patterns.filter((p) => p.startsWith("!")).map((p) =>
      p.slice(1).replace(/\/$/, "")
    ),
  );
  const [build] = await loadStages();
  const sources = build.instructions
    .filter((i) => i.keyword === "COPY" && !i.args.startsWith("--from"))
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1))
    .map((s) => s.replace(/\/$/, ""));
  assertEquals(
    sources.sort(),
    ["deno.json", "deno.lock", "mod.ts", "src"],
    "COPY sources",
  );
  for (const source of sources) {
    assert(allowed.has(source), `.dockerignore must re-include "${source}"`);
  }
});

Deno.test("Dockerfile: the image's ENV equals the start task's environment (glibc's malloc settings, measured)", async () => {
  const stages = await loadStages();
  const final = stages.at(-1)!;
  const env: Record<string, string> = {};
  for (const i of final.instructions.filter((i) => i.keyword === "ENV")) {
    for (const pair of i.args.trim().split(/\s+/)) {
      const eq = pair.indexOf("=");
      assert(eq > 0, `expected ENV NAME=value pairs, found "${pair}"`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  const { startTaskEnv } = await import("../../bench/run.ts");
  const started = startTaskEnv((await readRepoFile("deno.json"))!);
  assertEquals(env, started, "ENV vs the start task's NAME=value words");
  for (const name of ["MALLOC_ARENA_MAX", "MALLOC_TRIM_THRESHOLD_"]) {
    assert(name in started, `expected ${name} in the start task`);
  }
});
