/**
 * The `--help` texts of the daemon and of `check`, generated from the flag
 * table: every flag with its value kind, help, default and environment
 * variable, so that the help can never disagree with the parser.
 *
 * @module
 */
import { formatDurationUnit } from "../util/duration.ts";
import { envVariableName } from "./flag_env.ts";
import { CHECK_FLAGS, FLAGS } from "./flag_table.ts";
import type { FlagDef } from "./flag_types.ts";

/**
 * The `--help` lines of `defs`: `  --name kind` then the help text and the
 * default, indented. The daemon's and `check`'s help both come from here.
 *
 * @example
 * ```ts
 * import { flagHelpLines } from "./help.ts";
 * import { CHECK_FLAGS } from "./flag_table.ts";
 * flagHelpLines(CHECK_FLAGS)[0]; // "  --node file"
 * ```
 */
export function flagHelpLines(defs: readonly FlagDef[]): string[] {
  const lines: string[] = [];
  for (const def of defs) {
    const value = def.kind === "bool"
      ? ""
      : ` ${
        def.kind === "int" ? "number" : def.kind === "files" ? "file" : def.kind
      }`;
    const shown = def.defaultText ??
      (def.default === undefined ? undefined : JSON.stringify(
        def.kind === "duration"
          ? formatDurationUnit(def.default as number)
          : def.default,
      ));
    const dflt = shown === undefined ? "" : ` (default ${shown})`;
    const alias = def.alias === undefined ? "" : `, -${def.alias}`;
    lines.push(`  --${def.name}${value}${alias}`);
    lines.push(`      ${def.help}${dflt}`);
    const variable = envVariableName(def);
    if (variable !== undefined) lines.push(`      env: ${variable}`);
  }
  return lines;
}

/**
 * The daemon's `--help` text: usage plus every flag with its default.
 *
 * @example
 * ```ts
 * import { helpText } from "./help.ts";
 * helpText().split("\n")[0]; // "kubelet-rubber-stamp: approves kubelet serving CSRs (signer kubernetes.io/kubelet-serving) that are provably legitimate."
 * ```
 */
export function helpText(): string {
  return [
    "kubelet-rubber-stamp: approves kubelet serving CSRs (signer kubernetes.io/kubelet-serving) that are provably legitimate.",
    "",
    "Usage:",
    "  kubelet-rubber-stamp [flags]            run the approver",
    "  kubelet-rubber-stamp check FILE|- [--node FILE]... [policy flags]",
    "                                          explain offline why a CSR is (not) approvable (check --help)",
    "",
    "Flags (each also read from the environment variable named under it; the command line wins):",
    ...flagHelpLines(FLAGS),
  ].join("\n");
}

/**
 * `check`'s `--help` text: usage plus every flag `check` accepts (its own
 * and the daemon's policy flags), from the same table as the daemon's.
 *
 * @example
 * ```ts
 * import { checkHelpText } from "./help.ts";
 * checkHelpText().split("\n")[0]; // "Usage: kubelet-rubber-stamp check FILE|- [flags]"
 * ```
 */
export function checkHelpText(): string {
  return [
    "Usage: kubelet-rubber-stamp check FILE|- [flags]",
    "",
    "Decides one CSR offline, as the daemon would, and prints the verdict and",
    "every rule's result. FILE is a CSR object (kubectl get csr NAME -o yaml|json)",
    "or a bare PEM CERTIFICATE REQUEST; - reads standard input. Authorization",
    "(the SubjectAccessReview) is not checked. Without --node, SAN ownership is",
    "unknown and the verdict waits, as the daemon waits for the Node.",
    "Exit: 0 approvable, 1 not approvable, 2 input that is no CSR or bad flags.",
    "",
    "Flags (the policy flags are the daemon's):",
    ...flagHelpLines(CHECK_FLAGS),
  ].join("\n");
}
