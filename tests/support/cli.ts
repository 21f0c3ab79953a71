/**
 * Runs the CLI the way a user does: `deno run` with exactly the permissions
 * of the `start` task, as a separate process.
 *
 * @module
 */

/** What a CLI run printed and how it exited. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `mod.ts` with `args`; killed if it has not exited within `timeoutMs`.
 *
 * @example
 * ```ts
 * import { runCli } from "./cli.ts";
 * const { code, stdout } = await runCli(["--help"]);
 * ```
 */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliRun> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), options.timeoutMs ?? 15_000);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        "--allow-env",
        "mod.ts",
        ...args,
      ],
      env: { NO_COLOR: "1", ...options.env },
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).output();
    const dec = new TextDecoder();
    return {
      code: out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}
