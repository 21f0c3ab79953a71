/**
 * `deno task mutants`: a small mutation check. Each entry of
 * `scripts/mutants.json` is a deliberate one-line breakage of the daemon
 * (a file, the exact original text, its replacement) and the test file
 * expected to catch it. For each, a temporary copy of the repository (never
 * the working tree) gets the breakage, `deno check` must still accept the
 * broken file (a mutant that does not compile proves nothing), and the named
 * test file runs there with `deno test -A`: failing is "killed", passing is
 * "survived". Each named test file must first pass on the unbroken copy.
 * Exits 1 if any mutant survived or is invalid, or a baseline fails.
 *
 * Usage: `deno task mutants [--only ID[,ID…]] [--list]`
 *
 * @module
 */

/** One deliberate breakage. */
export interface Mutant {
  id: string;
  /** What the breakage means, for the report. */
  why: string;
  /** Repository-relative path of the file to break. */
  file: string;
  /** Exact text, occurring exactly once in `file`. */
  original: string;
  replacement: string;
  /** Repository-relative test file expected to fail. */
  test: string;
}

/** Where the list lives, relative to the repository root. */
export const MUTANTS_FILE = "scripts/mutants.json";

const ROOT = new URL("..", import.meta.url).pathname;

/**
 * Parses and checks a mutation list: every entry has every field, ids are
 * unique, and the replacement differs from the original.
 *
 * @example
 * ```ts
 * import { parseMutants } from "./mutants.ts";
 * parseMutants('{"mutants": []}'); // []
 * ```
 */
export function parseMutants(text: string): Mutant[] {
  const doc = JSON.parse(text) as { mutants?: unknown };
  if (!Array.isArray(doc.mutants)) {
    throw new Error(`${MUTANTS_FILE}: "mutants" must be an array`);
  }
  const seen = new Set<string>();
  return doc.mutants.map((m: Record<string, unknown>, i: number) => {
    for (const k of ["id", "why", "file", "original", "replacement", "test"]) {
      if (typeof m?.[k] !== "string") {
        throw new Error(`${MUTANTS_FILE}: mutants[${i}].${k} must be a string`);
      }
    }
    const mutant = m as unknown as Mutant;
    if (mutant.original === "" || mutant.original === mutant.replacement) {
      throw new Error(`${MUTANTS_FILE}: ${mutant.id} changes nothing`);
    }
    if (seen.has(mutant.id)) {
      throw new Error(`${MUTANTS_FILE}: duplicate id ${mutant.id}`);
    }
    seen.add(mutant.id);
    return mutant;
  });
}

/**
 * Problems with applying `mutants` to the tree at `root`: a missing file or
 * test file, or an original text that is not there exactly once. Empty when
 * the list is current.
 *
 * @example
 * ```ts
 * import { listProblems, type Mutant } from "./mutants.ts";
 * const stale: Mutant = { id: "gone", why: "a file that was moved", file: "src/moved.ts",
 *   original: "a", replacement: "b", test: "tests/unit/moved_test.ts" };
 * const problems = await listProblems([stale], ".");
 * problems; // ["gone: no file src/moved.ts"]
 * ```
 */
export async function listProblems(
  mutants: Mutant[],
  root: string,
): Promise<string[]> {
  const problems: string[] = [];
  for (const m of mutants) {
    let text: string;
    try {
      text = await Deno.readTextFile(`${root}/${m.file}`);
    } catch {
      problems.push(`${m.id}: no file ${m.file}`);
      continue;
    }
    const count = text.split(m.original).length - 1;
    if (count !== 1) {
      problems.push(
        `${m.id}: the original text occurs ${count} times in ${m.file} (must be exactly once): ${
          JSON.stringify(m.original)
        }`,
      );
    }
    try {
      await Deno.stat(`${root}/${m.test}`);
    } catch {
      problems.push(`${m.id}: no test file ${m.test}`);
    }
  }
  return problems;
}

/** Replaces the single occurrence of `m.original` in `text`. */
export function applyMutant(text: string, m: Mutant): string {
  const at = text.indexOf(m.original);
  if (at < 0 || text.indexOf(m.original, at + 1) >= 0) {
    throw new Error(`${m.id}: original text not found exactly once`);
  }
  return text.slice(0, at) + m.replacement +
    text.slice(at + m.original.length);
}

// node_modules is not copied: Deno sets it up again in the copy from its
// own cache (a copied one resolves modules wrongly).
const SKIP = new Set([".git", "coverage", "dist", "node_modules"]);

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (SKIP.has(e.name)) continue;
    const src = `${from}/${e.name}`;
    const dst = `${to}/${e.name}`;
    if (e.isDirectory) await copyTree(src, dst);
    else if (e.isSymlink) await Deno.symlink(await Deno.readLink(src), dst);
    else if (e.isFile) await Deno.copyFile(src, dst);
  }
}

interface Outcome {
  mutant: Mutant;
  verdict: "killed" | "survived" | "invalid";
  detail: string;
  seconds: number;
}

async function run(
  args: string[],
  cwd: string,
  timeoutMs: number,
): Promise<{ code: number; output: string; timedOut: boolean }> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return {
    code: out.code,
    output: dec.decode(out.stdout) + dec.decode(out.stderr),
    timedOut,
  };
}

async function tryMutant(m: Mutant, copy: string): Promise<Outcome> {
  const started = Date.now();
  const path = `${copy}/${m.file}`;
  const original = await Deno.readTextFile(path);
  const seconds = () => Math.round((Date.now() - started) / 100) / 10;
  try {
    await Deno.writeTextFile(path, applyMutant(original, m));
    const check = await run(["check", m.file, m.test], copy, 120_000);
    if (check.code !== 0) {
      return {
        mutant: m,
        verdict: "invalid",
        detail: `does not type-check:\n${check.output.slice(-2000)}`,
        seconds: seconds(),
      };
    }
    const test = await run(
      ["test", "-A", "--no-check", m.test],
      copy,
      300_000,
    );
    if (test.code === 0 && !test.timedOut) {
      return {
        mutant: m,
        verdict: "survived",
        detail: "",
        seconds: seconds(),
      };
    }
    const failed: string[] = [
      ...test.output.matchAll(/^(.+?) => \.\/\S+$/gm),
    ].map((x) => x[1].trim());
    return {
      mutant: m,
      verdict: "killed",
      detail: test.timedOut
        ? "timed out"
        : [...new Set(failed)].slice(0, 3).join("; ") ||
          `exit ${test.code}`,
      seconds: seconds(),
    };
  } finally {
    await Deno.writeTextFile(path, original);
  }
}

async function main(args: string[]): Promise<number> {
  const mutants = parseMutants(
    await Deno.readTextFile(`${ROOT}${MUTANTS_FILE}`),
  );
  const onlyAt = args.indexOf("--only");
  const only = onlyAt >= 0
    ? new Set((args[onlyAt + 1] ?? "").split(",").filter(Boolean))
    : undefined;
  const selected = mutants.filter((m) => !only || only.has(m.id));
  if (only && selected.length !== only.size) {
    console.error(`unknown mutant id in --only ${[...only].join(",")}`);
    return 2;
  }
  if (args.includes("--list")) {
    for (const m of selected) {
      console.log(`${m.id.padEnd(28)} ${m.file.padEnd(28)} ${m.test}`);
    }
    return 0;
  }
  const problems = await listProblems(selected, ROOT);
  if (problems.length > 0) {
    for (const p of problems) console.error(p);
    return 1;
  }
  const copy = await Deno.makeTempDir({ prefix: "mutants-" });
  try {
    console.log(`copying the repository to ${copy} ...`);
    await copyTree(ROOT.replace(/\/$/, ""), copy);
    // Every named test file must pass on the unbroken copy, or a "killed"
    // would prove nothing.
    for (const test of new Set(selected.map((m) => m.test))) {
      const base = await run(["test", "-A", test], copy, 300_000);
      if (base.code !== 0) {
        console.error(
          `baseline: ${test} fails without any mutation:\n${
            base.output.slice(-3000)
          }`,
        );
        return 1;
      }
      console.log(`baseline: ${test} passes`);
    }
    const outcomes: Outcome[] = [];
    for (const m of selected) {
      const o = await tryMutant(m, copy);
      outcomes.push(o);
      console.log(
        `${
          o.verdict.toUpperCase().padEnd(8)
        } ${m.id} (${m.why}) by ${m.test} in ${o.seconds}s${
          o.detail ? `: ${o.detail}` : ""
        }`,
      );
    }
    console.log("\n| mutant | file | verdict | test |");
    console.log("| --- | --- | --- | --- |");
    for (const o of outcomes) {
      console.log(
        `| ${o.mutant.id} | ${o.mutant.file} | ${o.verdict} | ${o.mutant.test} |`,
      );
    }
    const bad = outcomes.filter((o) => o.verdict !== "killed");
    console.log(
      `\n${outcomes.length - bad.length} of ${outcomes.length} mutants killed${
        bad.length
          ? `; NOT killed: ${bad.map((o) => o.mutant.id).join(", ")}`
          : ""
      }`,
    );
    return bad.length === 0 ? 0 : 1;
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
