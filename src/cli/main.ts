/**
 * The command-line entry: flags, `--help`, and the daemon with signal
 * handling that works as PID 1.
 *
 * @module
 */
import { runDaemon } from "./daemon.ts";
import { FlagError } from "./flag_types.ts";
import { helpText } from "./help.ts";
import { parseFlags } from "./parse_flags.ts";

/**
 * Runs the CLI with `args` and resolves to the exit code.
 *
 * @example
 * ```ts
 * import { main } from "./main.ts";
 * const code = await main(["--version"]); // prints the version line
 * if (code !== 0) throw new Error(`exit code ${code}`);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  // `deno task start -- check ...` leaves the `--` before the command word.
  const first = args[0] === "--" ? 1 : 0;
  if (args[first] === "check") {
    const { runCheck } = await import("./check.ts");
    return await runCheck(args.slice(first + 1), { env: Deno.env.toObject() });
  }
  let flags;
  try {
    flags = parseFlags(args, Deno.env.toObject());
  } catch (e) {
    if (e instanceof FlagError) {
      console.error(`error: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (flags.help) {
    console.log(helpText());
    return 0;
  }
  if (flags.version) {
    const { versionLine } = await import("../version.ts");
    console.log(versionLine());
    return 0;
  }
  const stop = new AbortController();
  // As PID 1 a process without handlers ignores SIGTERM: always register.
  const onSignal = () => stop.abort();
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  try {
    return await runDaemon(flags, { signal: stop.signal });
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  }
}
