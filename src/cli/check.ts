/**
 * `check`: runs the decision offline on one CSR, as an operator asks "why is
 * my CSR still pending?". Reads a CSR object (YAML or JSON, as
 * `kubectl get csr NAME -o yaml` prints it) or a bare PEM request, and
 * optionally a Node object for SAN ownership; prints the verdict and every
 * rule's result. Authorization (the SubjectAccessReview) is not checked.
 *
 * Exit codes: 0 approvable, 1 not approvable (denied, waiting, left pending
 * or ignored), 2 unreadable input or bad arguments.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import {
  decideServingRequest,
  inspectServingRequest,
  KUBELET_SERVING_SIGNER,
} from "../core/decision.ts";
import {
  compileServingPolicy,
  createNodeFacts,
  defaultServingPolicy,
  type NodeAddress,
  type NodeFacts,
  type ServingPolicy,
} from "../core/policy.ts";
import { parseCertificateRequest } from "../core/request.ts";
import {
  NODES_GROUP,
  quote,
  quoteList,
  SERVING_USAGES_NO_RSA,
  SERVING_USAGES_RSA,
} from "../core/rules.ts";
import type { CertificateSigningRequest, Decision } from "../core/types.ts";
import { parseDuration } from "./flags.ts";

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
}

/** Bad `check` arguments; the message is one line naming the flag. */
export class CheckUsageError extends Error {
  override name = "CheckUsageError";
}

/** Unreadable input; the message is one line naming the file. */
class InputError extends Error {
  override name = "InputError";
}

/** Parsed `check` arguments. */
export interface CheckOptions {
  /** Path of the CSR (or PEM) file; `-` for standard input. */
  input: string;
  /** Path of a Node object file. */
  node?: string;
  output: "text" | "json";
  policy: ServingPolicy;
  help: boolean;
}

/** `check --help` text. */
export const CHECK_USAGE = [
  "Usage: kubelet-rubber-stamp check FILE|- [flags]",
  "",
  "Decides one CSR offline and prints the verdict and every rule's result.",
  "FILE is a CSR object (kubectl get csr NAME -o yaml|json) or a bare PEM",
  "CERTIFICATE REQUEST; - reads standard input. Authorization is not checked.",
  "Exit: 0 approvable, 1 not approvable, 2 unreadable input or bad flags.",
  "",
  "Flags:",
  "  --node FILE                      Node object (kubectl get node NAME -o yaml) for SAN ownership",
  "  --output text|json               Output format (default text)",
  "  --cluster-domain DOMAIN          Cluster DNS domain (default cluster.local)",
  "  --protected-names a,b            Extra DNS names never approved",
  "  --protected-cidrs CIDR,...       Extra IPs/CIDRs never approved",
  "  --api-service-ip IP              The kubernetes Service IP (repeatable)",
  "  --dns-name-pattern REGEX         Each DNS SAN must fully match",
  "  --allowed-cidrs CIDR,...         Each IP SAN must be inside one",
  "  --max-dns-names N                Most DNS SANs",
  "  --max-ip-addresses N             Most IP SANs",
  "  --max-expiration-seconds N       Largest spec.expirationSeconds",
  "  --verify-node-addresses=false    Do not check SAN ownership (unsafe)",
  "  --node-address-wait DURATION     Wait for Node addresses (default 15m)",
  "  --max-pending-age DURATION       Older CSRs are ignored (default 1h, 0 = off)",
].join("\n");

type FlagKind = "string" | "list" | "int" | "bool" | "duration";
const CHECK_FLAGS: Record<string, FlagKind> = {
  "node": "string",
  "output": "string",
  "cluster-domain": "string",
  "protected-names": "list",
  "protected-cidrs": "list",
  "api-service-ip": "list",
  "dns-name-pattern": "string",
  "allowed-cidrs": "list",
  "max-dns-names": "int",
  "max-ip-addresses": "int",
  "max-expiration-seconds": "int",
  "verify-node-addresses": "bool",
  "node-address-wait": "duration",
  "max-pending-age": "duration",
  "help": "bool",
};

function splitList(raw: string): string[] {
  return raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/**
 * Parses `check` arguments: one positional FILE or `-`, flags as
 * `--flag value` or `--flag=value`. Throws {@linkcode CheckUsageError}.
 *
 * @example
 * ```ts
 * import { parseCheckArgs } from "./check.ts";
 * const options = parseCheckArgs(["csr.yaml", "--node", "node.yaml", "--max-dns-names=2"]);
 * console.log(options.policy.maxDnsNames); // 2
 * ```
 */
export function parseCheckArgs(args: string[]): CheckOptions {
  const policy = defaultServingPolicy();
  const options: CheckOptions = {
    input: "",
    output: "text",
    policy,
    help: false,
  };
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-" || !arg.startsWith("-")) {
      positional.push(arg);
      continue;
    }
    if (arg === "-h") {
      options.help = true;
      continue;
    }
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!m) {
      throw new CheckUsageError(
        `unexpected argument ${quote(arg)} (flags start with --)`,
      );
    }
    const name = m[1];
    const kind = CHECK_FLAGS[name];
    if (!kind) throw new CheckUsageError(`unknown flag --${name} (see --help)`);
    let raw = m[2];
    if (raw === undefined) {
      if (kind === "bool") {
        raw = "true";
      } else {
        if (i + 1 >= args.length) {
          throw new CheckUsageError(`flag --${name} needs a value`);
        }
        raw = args[++i];
      }
    }
    const bad = (expected: string) =>
      new CheckUsageError(
        `invalid value ${quote(raw)} for --${name}: expected ${expected}`,
      );
    let bool = false;
    let int = 0;
    let ms = 0;
    if (kind === "bool") {
      if (raw !== "true" && raw !== "false") throw bad("true or false");
      bool = raw === "true";
    } else if (kind === "int") {
      if (!/^[0-9]{1,9}$/.test(raw)) throw bad("a whole number");
      int = Number(raw);
    } else if (kind === "duration") {
      const parsed = parseDuration(raw);
      if (parsed === undefined) throw bad("a duration like 15m, 1h or 90s");
      ms = parsed;
    }
    switch (name) {
      case "help":
        options.help = bool;
        break;
      case "node":
        options.node = raw;
        break;
      case "output":
        if (raw !== "text" && raw !== "json") throw bad("text or json");
        options.output = raw;
        break;
      case "cluster-domain":
        policy.clusterDomain = raw;
        break;
      case "protected-names":
        policy.protectedNames.push(...splitList(raw));
        break;
      case "protected-cidrs":
        policy.protectedCidrs.push(...splitList(raw));
        break;
      case "api-service-ip":
        policy.apiServiceIps.push(...splitList(raw));
        break;
      case "dns-name-pattern":
        policy.dnsNamePattern = raw;
        break;
      case "allowed-cidrs":
        policy.allowedCidrs = [
          ...(policy.allowedCidrs ?? []),
          ...splitList(raw),
        ];
        break;
      case "max-dns-names":
        policy.maxDnsNames = int;
        break;
      case "max-ip-addresses":
        policy.maxIpAddresses = int;
        break;
      case "max-expiration-seconds":
        policy.maxExpirationSeconds = int;
        break;
      case "verify-node-addresses":
        policy.verifyNodeAddresses = bool;
        break;
      case "node-address-wait":
        policy.nodeAddressWaitMs = ms;
        break;
      case "max-pending-age":
        policy.maxPendingAgeMs = ms;
        break;
    }
  }
  if (options.help) return options;
  if (positional.length !== 1) {
    throw new CheckUsageError(
      positional.length === 0
        ? "missing FILE (a CSR as YAML/JSON or a PEM request; - for stdin)"
        : `expected one FILE, found ${positional.length}: ${
          quoteList(positional)
        }`,
    );
  }
  options.input = positional[0];
  return options;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// Far above any CSR or Node object; keeps a wrong file from being parsed.
const MAX_INPUT_CHARS = 1 << 20;

async function readInput(
  path: string,
  io: CheckCommandIo,
  what: string,
): Promise<string> {
  let text: string;
  try {
    text = path === "-" ? await io.readStdin() : await io.readFile(path);
  } catch (error) {
    throw new InputError(
      `cannot read ${what} ${path === "-" ? "from stdin" : quote(path)}: ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
  if (text.length > MAX_INPUT_CHARS) {
    throw new InputError(
      `${what} ${
        quote(path)
      } is ${text.length} characters, expected at most ${MAX_INPUT_CHARS}`,
    );
  }
  return text;
}

function parseObject(text: string, path: string, what: string): Json {
  let value: unknown;
  try {
    // JSON (kubectl -o json) needs no YAML parser; the yaml package, which
    // reads JSON too, also reads LOG_TOKENS/LOG_STREAM from the environment,
    // so the `check` task grants exactly those two.
    value = /^\s*[{[]/.test(text)
      ? JSON.parse(text)
      : parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw new InputError(
      `${what} ${quote(path)} is not YAML or JSON: ${
        (error instanceof Error ? error.message : String(error)).split("\n")[0]
      }`,
    );
  }
  // `kubectl get ... -o yaml` without a name prints a List.
  if (isObject(value) && value.kind === "List" && Array.isArray(value.items)) {
    if (value.items.length !== 1) {
      throw new InputError(
        `${what} ${
          quote(path)
        } is a List of ${value.items.length} items, expected one object`,
      );
    }
    value = value.items[0];
  }
  if (!isObject(value)) {
    throw new InputError(`${what} ${quote(path)} does not hold an object`);
  }
  return value;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function isBase64(text: string): boolean {
  const compact = text.replace(/[ \t\r\n]+/g, "");
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) return false;
  try {
    Uint8Array.fromBase64(compact, { lastChunkHandling: "strict" });
    return true;
  } catch {
    return false;
  }
}

interface LoadedCsr {
  csr: CertificateSigningRequest;
  notes: string[];
}

async function csrFromPem(pem: string, now: Date): Promise<LoadedCsr> {
  const request = new TextEncoder().encode(pem).toBase64();
  const parsed = await parseCertificateRequest(request);
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

async function loadCsr(
  text: string,
  path: string,
  now: Date,
): Promise<LoadedCsr> {
  if (text.trimStart().startsWith("-----BEGIN")) {
    return await csrFromPem(text, now);
  }
  const value = parseObject(text, path, "CSR file");
  if (value.kind !== undefined && value.kind !== "CertificateSigningRequest") {
    throw new InputError(
      `CSR file ${quote(path)} holds a ${
        quote(value.kind)
      }, expected a CertificateSigningRequest`,
    );
  }
  const spec = value.spec;
  if (
    !isObject(spec) || typeof spec.request !== "string" ||
    typeof spec.signerName !== "string"
  ) {
    throw new InputError(
      `CSR file ${
        quote(path)
      } is not a CertificateSigningRequest: expected spec.request and spec.signerName strings`,
    );
  }
  if (!isBase64(spec.request)) {
    throw new InputError(
      `CSR file ${quote(path)}: spec.request is not valid base64`,
    );
  }
  return { csr: value as unknown as CertificateSigningRequest, notes: [] };
}

async function loadNode(
  path: string,
  io: CheckCommandIo,
): Promise<{ name: string; facts: NodeFacts }> {
  const value = parseObject(
    await readInput(path, io, "Node file"),
    path,
    "Node file",
  );
  if (value.kind !== undefined && value.kind !== "Node") {
    throw new InputError(
      `Node file ${quote(path)} holds a ${quote(value.kind)}, expected a Node`,
    );
  }
  const name = isObject(value.metadata) ? value.metadata.name : undefined;
  if (typeof name !== "string" || name === "") {
    throw new InputError(
      `Node file ${quote(path)} has no metadata.name, expected a Node object`,
    );
  }
  const status = isObject(value.status) ? value.status : {};
  const raw = Array.isArray(status.addresses) ? status.addresses : [];
  const addresses: NodeAddress[] = raw.filter((a): a is NodeAddress =>
    isObject(a) && typeof a.type === "string" && typeof a.address === "string"
  ).map((a) => ({ type: a.type, address: a.address }));
  return { name, facts: createNodeFacts([[name, addresses]]) };
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
 * code: 0 approvable, 1 not, 2 unreadable input or bad arguments. Never
 * throws for bad input.
 *
 * @example
 * ```ts ignore
 * import { runCheck } from "./check.ts";
 * Deno.exit(await runCheck(["csr.yaml", "--node", "node.yaml"]));
 * ```
 */
export async function runCheck(
  args: string[],
  io: Partial<CheckCommandIo> = {},
): Promise<number> {
  const out = defaultIo(io);
  let options: CheckOptions;
  try {
    options = parseCheckArgs(args);
  } catch (error) {
    if (error instanceof CheckUsageError) {
      out.writeError(`error: ${error.message}`);
      return 2;
    }
    throw error;
  }
  if (options.help) {
    out.write(CHECK_USAGE);
    return 0;
  }
  const policy = compileServingPolicy(options.policy);
  if ("error" in policy) {
    out.writeError(`error: ${policy.error}`);
    return 2;
  }
  const now = out.now?.() ?? new Date();
  let loaded: LoadedCsr;
  let node: { name: string; facts: NodeFacts } | undefined;
  try {
    const text = await readInput(options.input, out, "CSR file");
    loaded = await loadCsr(text, options.input, now);
    if (options.node !== undefined) node = await loadNode(options.node, out);
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
    nodes: node?.facts,
    now,
  });
  const notes = [...loaded.notes];
  const decision: Decision = {
    ...decided,
    checks: decided.checks.map((c) =>
      c.rule === "san-ownership" && c.result === "skip" && !node &&
        options.policy.verifyNodeAddresses
        ? {
          ...c,
          message:
            "not checked: pass --node FILE (kubectl get node NAME -o yaml)",
        }
        : c
    ),
  };
  if (node && inspection.node !== undefined && node.name !== inspection.node) {
    notes.push(
      `--node is ${quote(node.name)} but the CSR is for node ${
        quote(inspection.node)
      }`,
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
