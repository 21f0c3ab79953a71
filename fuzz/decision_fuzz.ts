/**
 * The long run of the decision core's properties (`deno task fuzz`): the
 * same properties as `tests/property/decision_property_test.ts`, with a random seed
 * (printed, so a failure can be replayed) and many more runs.
 *
 * ```sh
 * deno run fuzz/decision_fuzz.ts [--runs N] [--seed S] [--path P] [--only NAME]
 * ```
 *
 * - `--runs N`: runs per property (default 2000; `every-mutation`, which
 *   tries a few hundred mutations per run, gets N/100);
 * - `--seed S`: replay a seed (default: random);
 * - `--path P`: with `--seed`, replay exactly the shrunk counterexample a
 *   failed run printed;
 * - `--only NAME`: run one property (`hostile-objects`, `resigned-requests`,
 *   `crafted-requests`, `valid-kubelet`, `mutated-kubelet`,
 *   `every-mutation`).
 *
 * Exit status 0 when every property held, 1 when one failed, 2 on bad flags.
 *
 * @module
 */
import fc from "fast-check";
import {
  createPropertyContext,
  decisionProperties,
} from "../tests/support/decision_properties.ts";

/** Parsed command-line options of the fuzz run. */
export interface FuzzOptions {
  runs: number;
  seed: number;
  path?: string;
  only?: string;
}

/**
 * Parses `--runs`, `--seed`, `--path` and `--only` (as `--flag value` or
 * `--flag=value`); throws a message naming the bad flag.
 *
 * @example
 * ```ts
 * import { parseFuzzArgs } from "./decision_fuzz.ts";
 * parseFuzzArgs(["--runs", "50", "--seed=7"]); // { runs: 50, seed: 7 }
 * ```
 */
export function parseFuzzArgs(args: readonly string[]): FuzzOptions {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const match = /^--(runs|seed|path|only)(?:=(.*))?$/.exec(args[i]);
    if (!match) {
      throw new Error(
        `unknown argument ${
          JSON.stringify(args[i])
        }, expected --runs N, --seed S, --path P or --only NAME`,
      );
    }
    const value = match[2] ?? args[++i];
    if (value === undefined) throw new Error(`--${match[1]} needs a value`);
    values.set(match[1], value);
  }
  const integer = (name: string, fallback: number, min: number) => {
    const text = values.get(name);
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < min) {
      throw new Error(
        `--${name} ${JSON.stringify(text)} is not a whole number ≥ ${min}`,
      );
    }
    return n;
  };
  const options: FuzzOptions = {
    runs: integer("runs", 2000, 1),
    // fast-check seeds are 32-bit integers.
    seed: integer("seed", (Math.random() * 2 ** 31) | 0, -(2 ** 31)),
  };
  if (values.has("path")) options.path = values.get("path");
  if (values.has("only")) options.only = values.get("only");
  return options;
}

async function run(args: readonly string[]): Promise<number> {
  let options: FuzzOptions;
  try {
    options = parseFuzzArgs(args);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const properties = decisionProperties(await createPropertyContext())
    .filter((p) => options.only === undefined || p.name === options.only);
  if (properties.length === 0) {
    console.error(`--only ${JSON.stringify(options.only)} names no property`);
    return 2;
  }
  console.log(`decision fuzz: seed ${options.seed}, ${options.runs} runs each`);
  let failed = false;
  for (const p of properties) {
    const started = performance.now();
    // every-mutation decides a few hundred cases per run.
    const numRuns = p.name === "every-mutation"
      ? Math.max(1, Math.round(options.runs / 100))
      : options.runs;
    const details = await fc.check(p.property, {
      seed: options.seed,
      numRuns,
      ...(options.path === undefined ? {} : { path: options.path }),
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const tally = Object.entries(p.tally).sort().map(([k, v]) => `${k} ${v}`)
      .join(", ");
    if (details.failed) {
      failed = true;
      console.log(`FAIL ${p.name} (${seconds}s)`);
      console.log(fc.defaultReportMessage(details) ?? "(no report)");
      const error = details.errorInstance;
      console.log(error instanceof Error ? error.message : String(error));
      console.log(
        `replay: deno task fuzz --only ${p.name} --seed ${details.seed} --path ${details.counterexamplePath}`,
      );
    } else {
      console.log(`ok   ${p.name} (${seconds}s; ${tally})`);
      const reasons = Object.entries(p.reasons).sort(([, a], [, b]) => b - a)
        .map(([k, v]) => `${k} ${v}`).join(", ");
      console.log(`       reasons: ${reasons}`);
    }
  }
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await run(Deno.args));
