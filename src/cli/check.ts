/**
 * `check`: runs the daemon's decision offline on one CSR, as an operator asks
 * "why is my CSR still pending?". Reads a CSR object (YAML or JSON, as
 * `kubectl get csr NAME -o yaml` prints it) or a bare PEM request, and the
 * Nodes (`--node FILE`, repeatable: a Node or a List of Nodes, as
 * `kubectl get nodes -o yaml` prints it) that decide SAN ownership; prints
 * the verdict and every rule's result. It takes the daemon's policy flags
 * from the same table and parser (`flags.ts`). Authorization (the
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
import { parse as parseYaml } from "yaml";
import {
  decideServingRequest,
  inspectServingRequest,
  KUBELET_SERVING_SIGNER,
} from "../core/decision.ts";
import { compileServingPolicy, type ServingPolicy } from "../core/policy.ts";
import {
  createNodeFacts,
  type NodeAddress,
  type NodeFacts,
} from "../core/node_facts.ts";
import { parseCertificateRequest } from "../core/request.ts";
import {
  NODES_GROUP,
  quote,
  quoteList,
  SERVING_USAGES_NO_RSA,
  SERVING_USAGES_RSA,
} from "../core/rules.ts";
import type {
  CertificateSigningRequest,
  CheckResult,
  Decision,
  ReasonCode,
} from "../core/types.ts";
import {
  type CheckFlags,
  checkHelpText,
  FlagError,
  parseCommandLine,
  servingPolicyFromFlags,
} from "./flags.ts";
import { policySettingFlag } from "./setting_labels.ts";
import { errorFirstLine, errorText } from "../util/error_text.ts";
import { isObject, type Json } from "../util/json.ts";

/** The I/O `check` uses; every member is replaceable for tests. */
export interface CheckCommandIo {
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

/** Input that is not a CSR (or a Node file that is no Node); one line naming the file. */
class InputError extends Error {
  override name = "InputError";
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
 * The verdict (and `san-ownership` line) when no `--node` was given: what
 * the daemon does without the Node, wait, and how to give it offline.
 */
export const OWNERSHIP_UNKNOWN =
  "waiting: ownership unknown, pass --node FILE (kubectl get nodes -o yaml)";

/**
 * Parses `check` arguments with the daemon's parser: one positional FILE or
 * `-`, the policy flags, `--node FILE` (repeatable), `--output`, `--help`.
 * Throws {@linkcode FlagError} (or its {@linkcode CheckUsageError}).
 *
 * @example
 * ```ts
 * import { parseCheckArgs } from "./check.ts";
 * const options = parseCheckArgs(["csr.yaml", "--node", "node.yaml", "--max-dns-names=2"]);
 * console.log(options.policy.maxDnsNames); // 2
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

// Far above any CSR or Node object; keeps a wrong file from being parsed.
// (`kubectl get nodes -o yaml` of a large cluster may need more: pass the
// Nodes in several files then.)
const MAX_INPUT_CHARS = 1 << 20;
const MAX_NODE_INPUT_CHARS = 16 << 20;

async function readInput(
  path: string,
  io: CheckCommandIo,
  what: string,
  max = MAX_INPUT_CHARS,
): Promise<string> {
  let text: string;
  try {
    text = path === "-" ? await io.readStdin() : await io.readFile(path);
  } catch (error) {
    throw new InputError(
      `cannot read ${what} ${path === "-" ? "from stdin" : quote(path)}: ${
        errorText(error)
      }`,
    );
  }
  if (text.length > max) {
    throw new InputError(
      `${what} ${
        quote(path)
      } is ${text.length} characters, expected at most ${max}`,
    );
  }
  return text;
}

function parseDocument(text: string, path: string, what: string): unknown {
  try {
    // JSON (kubectl -o json) needs no YAML parser (the yaml package, which
    // reads JSON too, is larger and reads LOG_TOKENS/LOG_STREAM from the
    // environment).
    return /^\s*[{[]/.test(text)
      ? JSON.parse(text)
      : parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw new InputError(
      `${what} ${quote(path)} is not YAML or JSON: ${errorFirstLine(error)}`,
    );
  }
}

function isList(
  value: unknown,
  kind: string,
): value is Json & { items: unknown[] } {
  return isObject(value) && Array.isArray(value.items) &&
    (value.kind === "List" || value.kind === `${kind}List`);
}

function parseCsrObject(text: string, path: string): Json {
  let value = parseDocument(text, path, "CSR file");
  // `kubectl get csr -o yaml` without a name prints a List.
  if (isList(value, "CertificateSigningRequest")) {
    if (value.items.length !== 1) {
      throw new InputError(
        `CSR file ${
          quote(path)
        } is a List of ${value.items.length} items, expected one CertificateSigningRequest`,
      );
    }
    value = value.items[0];
  }
  if (!isObject(value)) {
    throw new InputError(`CSR file ${quote(path)} does not hold an object`);
  }
  return value;
}

interface LoadedCsr {
  csr: CertificateSigningRequest;
  notes: string[];
}

// What the request parser says about bytes that are no PKCS#10 request at all.
const NOT_A_REQUEST: ReadonlySet<ReasonCode> = new Set<ReasonCode>([
  "InvalidRequestEncoding",
  "InvalidRequestPEM",
  "InvalidRequest",
]);

async function csrFromPem(
  pem: string,
  path: string,
  now: Date,
): Promise<LoadedCsr> {
  const request = new TextEncoder().encode(pem).toBase64();
  const parsed = await parseCertificateRequest(request);
  if (!parsed.ok && NOT_A_REQUEST.has(parsed.reason)) {
    throw new InputError(
      `CSR file ${
        quote(path)
      } is not a PEM-encoded certificate request (${parsed.reason}): ${parsed.message}`,
    );
  }
  let username: string | undefined;
  let usages = [...SERVING_USAGES_NO_RSA];
  if (parsed.ok) {
    if (parsed.request.commonNames.length === 1) {
      username = parsed.request.commonNames[0];
    }
    if (parsed.request.publicKey.algorithm === "RSA") {
      usages = [...SERVING_USAGES_RSA];
    }
  }
  const csr: CertificateSigningRequest = {
    apiVersion: "certificates.k8s.io/v1",
    kind: "CertificateSigningRequest",
    metadata: { name: "pem-request", creationTimestamp: now.toISOString() },
    spec: {
      request,
      signerName: KUBELET_SERVING_SIGNER,
      usages,
      ...(username === undefined ? {} : { username }),
      groups: [NODES_GROUP, "system:authenticated"],
    },
  };
  return {
    csr,
    notes: [
      `input is a bare PEM request: checked as a kubelet-serving CSR from ${
        quote(username)
      } in group ${quote(NODES_GROUP)} with usages ${
        quoteList(usages)
      }, created now (as the kubelet would send it)`,
    ],
  };
}

/**
 * The CSR to decide. Only input that is no CSR at all is refused (exit 2):
 * an object of another kind, an object with neither kind nor spec, text
 * that is not YAML/JSON, a bare PEM that is no certificate request. Any
 * CertificateSigningRequest object is decided, however broken, as the daemon
 * would decide it.
 */
async function loadCsr(
  text: string,
  path: string,
  now: Date,
): Promise<LoadedCsr> {
  if (text.trimStart().startsWith("-----BEGIN")) {
    return await csrFromPem(text, path, now);
  }
  const value = parseCsrObject(text, path);
  if (value.kind !== undefined && value.kind !== "CertificateSigningRequest") {
    throw new InputError(
      `CSR file ${quote(path)} holds a ${
        quote(value.kind)
      }, expected a CertificateSigningRequest`,
    );
  }
  if (value.kind === undefined && value.spec === undefined) {
    throw new InputError(
      `CSR file ${
        quote(path)
      } holds an object with neither kind nor spec, expected a CertificateSigningRequest`,
    );
  }
  return { csr: value as unknown as CertificateSigningRequest, notes: [] };
}

interface LoadedNodes {
  facts: NodeFacts;
  names: string[];
  notes: string[];
}

function nodeAddresses(node: Json): NodeAddress[] {
  const status = isObject(node.status) ? node.status : {};
  const raw = Array.isArray(status.addresses) ? status.addresses : [];
  return raw.filter((a): a is NodeAddress =>
    isObject(a) && typeof a.type === "string" && typeof a.address === "string"
  ).map((a) => ({ type: a.type, address: a.address }));
}

/**
 * Every Node of every `--node` file (a Node, or a List of Nodes as
 * `kubectl get nodes -o yaml` prints it), in one {@linkcode NodeFacts}, so
 * that an address two Nodes list is seen as such.
 */
async function loadNodes(
  paths: readonly string[],
  io: CheckCommandIo,
): Promise<LoadedNodes> {
  const byName = new Map<string, { addresses: NodeAddress[]; path: string }>();
  const notes: string[] = [];
  for (const path of paths) {
    const text = await readInput(path, io, "Node file", MAX_NODE_INPUT_CHARS);
    const value = parseDocument(text, path, "Node file");
    const listed = isList(value, "Node");
    const items: unknown[] = listed ? value.items : [value];
    if (listed && items.length === 0) {
      notes.push(`Node file ${quote(path)} is a List of no Nodes`);
    }
    items.forEach((item, index) => {
      const where = listed
        ? `Node file ${quote(path)}, item ${index}`
        : `Node file ${quote(path)}`;
      if (!isObject(item)) {
        throw new InputError(`${where} does not hold an object`);
      }
      if (item.kind !== undefined && item.kind !== "Node") {
        throw new InputError(
          `${where} holds a ${quote(item.kind)}, expected a Node`,
        );
      }
      const name = isObject(item.metadata) ? item.metadata.name : undefined;
      if (typeof name !== "string" || name === "") {
        throw new InputError(
          `${where} has no metadata.name, expected a Node object`,
        );
      }
      const addresses = nodeAddresses(item);
      const seen = byName.get(name);
      if (
        seen !== undefined &&
        JSON.stringify(seen.addresses) !== JSON.stringify(addresses)
      ) {
        throw new InputError(
          `${where}: node ${quote(name)} is also in ${
            quote(seen.path)
          } with other addresses; give each Node once`,
        );
      }
      byName.set(name, { addresses, path });
    });
  }
  return {
    facts: createNodeFacts(
      [...byName].map(([name, { addresses }]) => [name, addresses] as const),
    ),
    names: [...byName.keys()],
    notes,
  };
}

/**
 * Without Node facts the core skips `san-ownership`; the daemon, whose Node
 * cache always answers, would wait for the Node instead. So: an `approve`
 * becomes a `wait` (`NodeAddressesUnknown`), and the skipped line says why.
 * Any other verdict stands as the core decided it.
 */
function withoutNodes(decided: Decision): Decision {
  const node = decided.node === undefined
    ? "the node"
    : `node ${quote(decided.node)}`;
  const message =
    `${OWNERSHIP_UNKNOWN} to check that every SAN is an address of ${node} and of no other Node`;
  const waits = decided.outcome === "approve";
  const checks: CheckResult[] = decided.checks.map((c) =>
    c.rule === "san-ownership" && c.result === "skip"
      ? waits
        ? {
          rule: c.rule,
          result: "fail",
          reason: "NodeAddressesUnknown",
          message,
        }
        : { rule: c.rule, result: "skip", message }
      : c
  );
  if (!waits) return { ...decided, checks };
  return {
    outcome: "wait",
    reason: "NodeAddressesUnknown",
    message,
    ...(decided.node === undefined ? {} : { node: decided.node }),
    checks,
  };
}

const OUTCOME_TEXT: Record<Decision["outcome"], string> = {
  approve: "approve",
  deny: "deny",
  wait: "wait",
  pending: "pending: left for a human",
  ignore: "ignore: not handled by the approver",
};

/**
 * The text report: the verdict line, then one line per check
 * (`  pass  rule  message`, `  FAIL  rule  Reason: message`), then notes.
 *
 * @example
 * ```ts
 * import { formatCheckReport } from "./check.ts";
 * const lines = formatCheckReport("csr-abc", {
 *   outcome: "deny",
 *   reason: "UsageMismatch",
 *   message: "usages are [client auth]",
 *   checks: [{ rule: "usages", result: "fail", reason: "UsageMismatch", message: "usages are [client auth]" }],
 * });
 * // lines[1] is "  FAIL  usages  UsageMismatch: usages are [client auth]"
 * ```
 */
export function formatCheckReport(
  name: string,
  decision: Decision,
  notes: readonly string[] = [],
): string[] {
  const shownName = quote(name).slice(1, -1);
  const verdict = decision.outcome === "approve"
    ? `APPROVABLE ${shownName}${
      decision.node === undefined
        ? ""
        : ` (node ${quote(decision.node).slice(1, -1)})`
    }: ${decision.message}`
    : `NOT APPROVABLE ${shownName}: ${decision.reason}: ${decision.message} (outcome ${
      OUTCOME_TEXT[decision.outcome] ?? decision.outcome
    }${decision.retryAt ? `, final at ${decision.retryAt}` : ""})`;
  const lines = [verdict];
  for (const c of decision.checks) {
    const result = c.result === "fail" ? "FAIL" : c.result;
    const message = c.result === "fail" && c.reason
      ? `${c.reason}: ${c.message}`
      : c.message;
    lines.push(`  ${result}  ${c.rule}  ${message}`);
  }
  for (const note of notes) lines.push(`note: ${note}`);
  return lines;
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
  let loaded: LoadedCsr;
  let nodes: LoadedNodes | undefined;
  try {
    const text = await readInput(options.input, out, "CSR file");
    loaded = await loadCsr(text, options.input, now);
    if (options.nodes.length > 0) nodes = await loadNodes(options.nodes, out);
  } catch (error) {
    if (error instanceof InputError) {
      out.writeError(`error: ${error.message}`);
      return 2;
    }
    throw error;
  }

  const inspection = await inspectServingRequest(loaded.csr, { now });
  const decided = decideServingRequest(inspection, {
    authorization: "unchecked",
    policy,
    nodes: nodes?.facts,
    now,
  });
  const decision = !nodes && policy.policy.verifyNodeAddresses
    ? withoutNodes(decided)
    : decided;
  const notes = [...loaded.notes, ...(nodes?.notes ?? [])];
  if (
    nodes && inspection.node !== undefined &&
    !nodes.names.includes(inspection.node)
  ) {
    notes.push(
      `no --node file holds node ${quote(inspection.node)}, the CSR's node (${
        nodes.names.length === 0
          ? "they hold no Node"
          : `they hold ${quoteList(nodes.names.slice(0, 8))}${
            nodes.names.length > 8 ? ` and ${nodes.names.length - 8} more` : ""
          }`
      })`,
    );
  }
  if (options.output === "json") {
    out.write(JSON.stringify(
      {
        csr: inspection.name,
        ...decision,
        ...(notes.length > 0 ? { notes } : {}),
      },
      null,
      2,
    ));
  } else {
    for (const line of formatCheckReport(inspection.name, decision, notes)) {
      out.write(line);
    }
  }
  return decision.outcome === "approve" ? 0 : 1;
}
