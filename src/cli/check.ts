/**
 * `check`: runs the daemon's decision offline on one CSR, as an operator asks
 * "why is my CSR still pending?". Reads a CSR object (YAML or JSON, as
 * `kubectl get csr NAME -o yaml` prints it) or a bare PEM request
 * (`check_input.ts`), and the Nodes (`--node FILE`, repeatable: a Node or a
 * List of Nodes, as `kubectl get nodes -o yaml` prints it; `check_nodes.ts`)
 * that decide SAN ownership; prints the verdict and every rule's result
 * (`check_report.ts`). It takes the daemon's policy flags from the same
 * table and parser (`flag_table.ts`, `parse_flags.ts`). Authorization (the
 * SubjectAccessReview) is not checked.
 *
 * It mirrors the daemon: without `--node` (and with
 * `--verify-node-addresses`, the default) ownership is unknown and a request
 * that would otherwise be approved waits (`NodeAddressesUnknown`), as the
 * daemon waits for the Node.
 *
 * Exit codes: 0 approvable, 1 not approvable (denied, waiting, left pending
 * or ignored), 2 bad arguments or input that is not a CSR object or a
 * PEM-encoded PKCS#10 request at all (any CertificateSigningRequest object
 * gets a verdict, as in the daemon).
 *
 * @module
 */
import { decideServingRequest } from "../core/decision.ts";
import { inspectServingRequest } from "../core/inspect.ts";
import {
  type CompiledPolicy,
  compileServingPolicy,
  type ServingPolicy,
} from "../core/policy.ts";
import { quoteList } from "../core/text.ts";
import type { Decision } from "../core/types.ts";
import {
  InputError,
  type InputReader,
  loadCsr,
  type LoadedCsr,
  readInput,
} from "./check_input.ts";
import { type LoadedNodes, loadNodes } from "./check_nodes.ts";
import {
  formatCheckJson,
  formatCheckReport,
  missingNodeNote,
  withoutNodes,
} from "./check_report.ts";
import { type CheckFlags, FlagError } from "./flag_types.ts";
import { servingPolicyFromFlags } from "./flags_policy.ts";
import { checkHelpText } from "./help.ts";
import { parseCommandLine } from "./parse_flags.ts";
import { policySettingFlag } from "./setting_labels.ts";

/** The I/O `check` uses; every member is replaceable for tests. */
export interface CheckCommandIo extends InputReader {
  /** Reads a file as text. Default `Deno.readTextFile`. */
  readFile(path: string): Promise<string>;
  /** Reads all of standard input. Default: `Deno.stdin`. */
  readStdin(): Promise<string>;
  /** Prints one line (or one JSON document). Default `console.log`. */
  write(line: string): void;
  /** Prints one error line. Default: `write` when given, else `console.error`. */
  writeError(line: string): void;
  /** The clock. Default `() => new Date()`. */
  now?: () => Date;
  /**
   * The environment, for `RUBBER_STAMP_*` policy settings. Default none:
   * the command-line entry passes the process environment.
   */
  env?: Readonly<Record<string, string>>;
}

/** Bad `check` arguments; the message is one line naming the flag. */
export class CheckUsageError extends FlagError {
  override name = "CheckUsageError";
}

/** Parsed `check` arguments. */
export interface CheckOptions {
  /** Path of the CSR (or PEM) file; `-` for standard input. */
  input: string;
  /** Paths of the `--node` files (each a Node or a List of Nodes), in order. */
  nodes: string[];
  output: "text" | "json";
  /** The serving policy the flags describe, as the daemon builds it. */
  policy: ServingPolicy;
  /** Every flag value, as the shared parser returned it. */
  flags: CheckFlags;
  help: boolean;
}

/** `check --help` text, generated from the flag table the daemon uses. */
export const CHECK_USAGE: string = checkHelpText();

/**
 * Parses `check` arguments with the daemon's parser: one positional FILE or
 * `-`, the policy flags, `--node FILE` (repeatable), `--output`, `--help`.
 * Throws {@linkcode FlagError} (or its {@linkcode CheckUsageError}).
 *
 * @example
 * ```ts
 * import { parseCheckArgs } from "./check.ts";
 * const options = parseCheckArgs(["csr.yaml", "--node", "node.yaml", "--max-dns-names=2"]);
 * options.policy.maxDnsNames; // 2
 * ```
 */
export function parseCheckArgs(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): CheckOptions {
  const { values, positionals } = parseCommandLine(args, "check", env);
  const flags = values as unknown as CheckFlags;
  const options: CheckOptions = {
    input: "",
    nodes: [...flags.node],
    output: flags.output,
    policy: servingPolicyFromFlags(flags),
    flags,
    help: flags.help,
  };
  if (options.help) return options;
  if (positionals.length !== 1) {
    throw new CheckUsageError(
      positionals.length === 0
        ? "missing FILE (a CSR as YAML/JSON or a PEM request; - for stdin)"
        : `expected one FILE, found ${positionals.length}: ${
          quoteList(positionals)
        }`,
    );
  }
  options.input = positionals[0];
  const stdin = [options.input, ...options.nodes].filter((p) => p === "-");
  if (stdin.length > 1) {
    throw new CheckUsageError(
      "standard input (-) can be read once: give at most one of FILE and --node as -",
    );
  }
  return options;
}

function defaultIo(io: Partial<CheckCommandIo>): CheckCommandIo {
  const write = io.write ?? ((line: string) => console.log(line));
  return {
    readFile: io.readFile ?? ((path) => Deno.readTextFile(path)),
    readStdin: io.readStdin ??
      (() => new Response(Deno.stdin.readable).text()),
    write,
    writeError: io.writeError ??
      (io.write ? write : (line: string) => console.error(line)),
    now: io.now,
  };
}

/**
 * Runs `check` with `args` (after the `check` word) and resolves to the exit
 * code: 0 approvable, 1 not, 2 bad arguments or input that is no CSR. Never
 * throws for bad input.
 *
 * @example
 * ```ts ignore
 * import { runCheck } from "./check.ts";
 * Deno.exit(await runCheck(["csr.yaml", "--node", "nodes.yaml"]));
 * ```
 */
export async function runCheck(
  args: readonly string[],
  io: Partial<CheckCommandIo> = {},
): Promise<number> {
  const out = defaultIo(io);
  let options: CheckOptions;
  try {
    options = parseCheckArgs(args, io.env);
  } catch (error) {
    if (error instanceof FlagError) {
      out.writeError(`error: ${error.message}`);
      return 2;
    }
    throw error;
  }
  if (options.help) {
    out.write(CHECK_USAGE);
    return 0;
  }
  const policy = compileServingPolicy(options.policy, {
    settingLabel: policySettingFlag,
  });
  if ("errors" in policy) {
    for (const error of policy.errors) out.writeError(`error: ${error}`);
    return 2;
  }
  const now = out.now?.() ?? new Date();
  let input: { loaded: LoadedCsr; nodes?: LoadedNodes };
  try {
    input = await loadInput(options, out, now);
  } catch (error) {
    if (error instanceof InputError) {
      out.writeError(`error: ${error.message}`);
      return 2;
    }
    throw error;
  }
  return await decideAndReport(input, { options, policy, now, out });
}

/** The CSR and the Nodes the options name. Throws {@linkcode InputError}. */
async function loadInput(
  options: CheckOptions,
  io: InputReader,
  now: Date,
): Promise<{ loaded: LoadedCsr; nodes?: LoadedNodes }> {
  const text = await readInput(options.input, io, "CSR file");
  const loaded = await loadCsr(text, options.input, now);
  if (options.nodes.length === 0) return { loaded };
  return { loaded, nodes: await loadNodes(options.nodes, io) };
}

/** Decides as the daemon would, prints the report, resolves to the exit code. */
async function decideAndReport(
  { loaded, nodes }: { loaded: LoadedCsr; nodes?: LoadedNodes },
  { options, policy, now, out }: {
    options: CheckOptions;
    policy: CompiledPolicy;
    now: Date;
    out: CheckCommandIo;
  },
): Promise<number> {
  const inspection = await inspectServingRequest(loaded.csr, { now });
  const decided = decideServingRequest(inspection, {
    authorization: "unchecked",
    policy,
    nodes: nodes?.facts,
    now,
  });
  const decision: Decision = !nodes && policy.policy.verifyNodeAddresses
    ? withoutNodes(decided)
    : decided;
  const notes = [...loaded.notes, ...(nodes?.notes ?? [])];
  const missing = nodes && inspection.node !== undefined
    ? missingNodeNote(inspection.node, nodes.names)
    : undefined;
  if (missing !== undefined) notes.push(missing);
  if (options.output === "json") {
    out.write(formatCheckJson(inspection.name, decision, notes));
  } else {
    for (const line of formatCheckReport(inspection.name, decision, notes)) {
      out.write(line);
    }
  }
  return decision.outcome === "approve" ? 0 : 1;
}
