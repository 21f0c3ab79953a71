import { CHECK_USAGE } from "../../../src/cli/check.ts";
import {
  CHECK_FLAGS,
  FLAGS,
  POLICY_FLAGS,
} from "../../../src/cli/flag_table.ts";
import {
  checkHelpText,
  flagHelpLines,
  helpText,
} from "../../../src/cli/help.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";

Deno.test("--help lists every flag with its default", () => {
  const text = helpText();
  for (const def of FLAGS) {
    assert(text.includes(`--${def.name}`), `help mentions --${def.name}`);
    if (def.defaultText !== undefined) {
      assert(
        text.includes(`(default ${def.defaultText})`),
        `help shows the default of --${def.name}`,
      );
    } else if (def.default !== undefined && def.kind !== "duration") {
      assert(
        text.includes(`(default ${JSON.stringify(def.default)})`),
        `help shows the default of --${def.name}`,
      );
    }
  }
  assertMatch(
    text,
    /--leader-elect-lease-duration duration\n.*\(default "15s"\)/,
  );
  assertMatch(
    text,
    /--leader-elect\n.*\(default true in-cluster, else false\)/,
  );
  assertMatch(text, /--listen string\n.*\(default ":8080"\)/);
});

/** The flag names a help text documents (lines `  --name ...`). */
function documented(text: string): string[] {
  return [...text.matchAll(/^ {2}--([a-z][a-z0-9-]*)/gm)].map((m) => m[1])
    .sort();
}

/** The two help lines of `--name` in `text`. */
function helpBlock(text: string, name: string): string {
  const lines = text.split("\n");
  const i = lines.findIndex((l) => new RegExp(`^ {2}--${name}( |,|$)`).test(l));
  assert(i >= 0, `--${name} is documented`);
  return `${lines[i]}\n${lines[i + 1]}`;
}

Deno.test("both --help texts come from the table: every policy flag appears in both with the same text", () => {
  const daemon = helpText();
  const check = checkHelpText();
  assertEquals(CHECK_USAGE, check);
  assertEquals(documented(daemon), FLAGS.map((f) => f.name).sort());
  assertEquals(documented(check), CHECK_FLAGS.map((f) => f.name).sort());
  for (const def of POLICY_FLAGS) {
    const block = helpBlock(daemon, def.name);
    assertEquals(helpBlock(check, def.name), block, `--${def.name}`);
    assert(block.includes(def.help), `--${def.name} shows the table's help`);
  }
  assertEquals(helpBlock(check, "help"), helpBlock(daemon, "help"));
  // check's help lists only what check accepts.
  assert(!/^ {2}--workers/m.test(check), "no --workers in check's help");
  assert(!/^ {2}--node /m.test(daemon), "no --node in the daemon's help");
  assertMatch(helpBlock(check, "node"), /--node file\n.*List of Nodes/);
});

Deno.test("flagHelpLines: the flag with its value kind, its help and default, its variable", () => {
  const workers = FLAGS.filter((f) => f.name === "workers");
  assertEquals(flagHelpLines(workers), [
    "  --workers number",
    "      CSRs reconciled in parallel. (default 16)",
    "      env: RUBBER_STAMP_WORKERS",
  ]);
  const help = FLAGS.filter((f) => f.name === "help");
  assertEquals(flagHelpLines(help), [
    "  --help, -h",
    "      Print this help and exit. (default false)",
  ]);
});
