/**
 * The mutation list of `deno task mutants` cannot rot silently: it parses,
 * every original text is still in its file exactly once, every named test
 * file exists, and applying a mutant changes exactly that text. (Running the
 * mutants is `deno task mutants`, too slow for the suite.)
 */
import {
  applyMutant,
  listProblems,
  MUTANTS_FILE,
  parseMutants,
} from "../../scripts/mutants.ts";
import { assert, assertEquals, assertThrows } from "../support/assert.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

Deno.test("mutants: the list parses and matches the tree", async () => {
  const mutants = parseMutants(
    await Deno.readTextFile(`${ROOT}${MUTANTS_FILE}`),
  );
  assert(mutants.length >= 9, `${mutants.length} mutants`);
  assertEquals(await listProblems(mutants, ROOT), []);
  for (
    const id of [
      "skip-sar",
      "prefix-requester-match",
      "ignore-failed-condition",
      "skip-signature-check",
      "discard-reread",
      "no-reread-on-409",
      "duplicate-approval-write",
      "own-address-shortcut",
      "expired-without-relist",
    ]
  ) {
    assert(mutants.some((m) => m.id === id), `the list has ${id}`);
  }
  for (const m of mutants) {
    const text = await Deno.readTextFile(`${ROOT}${m.file}`);
    const broken = applyMutant(text, m);
    assert(broken !== text, `${m.id} changes ${m.file}`);
    assertEquals(
      broken.length - text.length,
      m.replacement.length - m.original.length,
    );
  }
});

Deno.test("mutants: malformed lists and stale originals are refused", async () => {
  assertThrows(() => parseMutants("{}"), Error, "must be an array");
  const one = {
    id: "x",
    why: "y",
    file: "src/version.ts",
    original: "no such text anywhere",
    replacement: "z",
    test: "tests/e2e/cli_test.ts",
  };
  assertThrows(
    () => parseMutants(JSON.stringify({ mutants: [one, one] })),
    Error,
    "duplicate id",
  );
  assertThrows(
    () =>
      parseMutants(
        JSON.stringify({ mutants: [{ ...one, replacement: one.original }] }),
      ),
    Error,
    "changes nothing",
  );
  const problems = await listProblems(
    parseMutants(JSON.stringify({ mutants: [one] })),
    ROOT,
  );
  assertEquals(problems.length, 1);
  assert(problems[0].includes("occurs 0 times"), problems[0]);
});
