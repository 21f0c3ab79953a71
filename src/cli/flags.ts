/**
 * Command-line flags of the daemon and of `check`: ONE table of definitions
 * drives parsing, validation, defaults and `--help` for both, so that the
 * policy flags mean exactly the same in `check` as in the daemon.
 *
 * Rules shared by both commands:
 * - `--flag value`, `--flag=value`, and bare boolean flags (`--dry-run`);
 * - booleans are `true`, `false`, `1` or `0`;
 * - integers are plain decimal (`1e3`, `0x10` or ` 5` are refused), numbers
 *   plain decimal with an optional fraction, durations Go-style (`1m30s`);
 * - list flags split on commas (trimmed, empty items dropped) and append on
 *   every occurrence;
 * - a bare `--` is skipped (Deno's task runner passes it through:
 *   `deno task start -- --kubeconfig x`);
 * - every flag but `--help` and `--version` can also come from the
 *   environment variable `RUBBER_STAMP_<FLAG>` (upper snake case:
 *   `--protected-cidrs` ↔ `RUBBER_STAMP_PROTECTED_CIDRS`), parsed the same
 *   way; a flag on the command line overrides its variable (a list flag
 *   replaces the variable's list); an unknown `RUBBER_STAMP_*` variable is
 *   an error naming it (a daemon-only variable is not an error for `check`,
 *   which runs in the same environment).
 *
 * @module
 */
import type { ServingPolicy } from "../core/policy.ts";
import { quote } from "../core/rules.ts";
import { LOG_LEVELS, type LogFormat, type LogLevel } from "../log.ts";
import { formatDurationUnit } from "../util/duration.ts";

/** The flags that make the serving policy: the daemon's and `check`'s. */
export interface PolicyFlags {
  clusterDomain: string;
  protectedNames: string[];
  protectedCidrs: string[];
  apiServiceIps: string[];
  dnsNamePattern?: string;
  /** Undefined: any IP SAN; `[]` (`--allowed-cidrs=`): no IP SAN. */
  allowedCidrs?: string[];
  sharedAddressCidrs: string[];
  maxDnsNames?: number;
  maxIpAddresses?: number;
  maxExpirationSeconds?: number;
  verifyNodeAddresses: boolean;
  /** Milliseconds. */
  nodeAddressWait: number;
  /** Milliseconds; 0 turns the age limit off. */
  maxPendingAge: number;
}

/** Parsed daemon options. */
export interface DaemonFlags extends PolicyFlags {
  kubeconfig?: string;
  context?: string;
  listen: string;
  dryRun: boolean;
  denyInvalid: boolean;
  logFormat: LogFormat;
  logLevel: LogLevel;
  /** Undefined (with `kubeApiBurst` undefined too): chosen automatically. */
  kubeApiQps?: number;
  kubeApiBurst?: number;
  kubeApiTimeout: number;
  workers: number;
  subresource: string;
  /** Undefined means "true when running in-cluster". */
  leaderElect?: boolean;
  leaderElectNamespace?: string;
  leaderElectLeaseName: string;
  /** Milliseconds. */
  leaderElectLeaseDuration: number;
  /** Milliseconds. */
  leaderElectRenewDeadline: number;
  /** Milliseconds. */
  leaderElectRetryPeriod: number;
  maxPendingSurplus: number;
  once: boolean;
  help: boolean;
  version: boolean;
}

/** Parsed `check` flags (its FILE argument aside). */
export interface CheckFlags extends PolicyFlags {
  /** `--node` files, in order. */
  node: string[];
  output: "text" | "json";
  help: boolean;
}

/** A flag the user got wrong: the message is one line naming the flag. */
export class FlagError extends Error {
  override name = "FlagError";
}

/** The two commands that take flags. */
export type Command = "daemon" | "check";

/**
 * Which command accepts a flag: `daemon` or `check` only, `policy` (both: a
 * serving-policy flag, see {@linkcode servingPolicyFromFlags}), or `common`
 * (both, e.g. `--help`).
 */
export type FlagScope = "daemon" | "check" | "policy" | "common";

/**
 * How a value is read: `list` splits on commas and appends; `files` appends
 * each value whole (a path may hold a comma).
 */
export type FlagKind =
  | "string"
  | "bool"
  | "number"
  | "int"
  | "duration"
  | "list"
  | "files";

/** One flag: its name, who accepts it, how it parses, its default and help. */
export interface FlagDef {
  name: string;
  /** A one-letter alias (`-h`). */
  alias?: string;
  scope: FlagScope;
  key: keyof DaemonFlags | keyof CheckFlags;
  kind: FlagKind;
  /** The value without the flag; lists are copied before appending. */
  default: string | number | boolean | readonly string[] | undefined;
  /** Shown in --help instead of the default value. */
  defaultText?: string;
  help: string;
  check?: (v: unknown) => string | undefined;
}

const positive = (v: unknown) =>
  (v as number) > 0 ? undefined : "must be greater than 0";
const nonNegative = (v: unknown) =>
  (v as number) >= 0 ? undefined : "must not be negative";

/** Every flag, in `--help` order. */
export const FLAG_TABLE: readonly FlagDef[] = [
  {
    name: "node",
    scope: "check",
    key: "node",
    kind: "files",
    default: [],
    defaultText: "none: ownership unknown, the verdict waits",
    help:
      "A Node object, or a List of Nodes (kubectl get nodes -o yaml), whose status.addresses decide SAN ownership. Repeatable; every Node of every file is known at once, so addresses two Nodes list are found.",
  },
  {
    name: "output",
    scope: "check",
    key: "output",
    kind: "string",
    default: "text",
    help: "Output format: text or json.",
    check: (v) =>
      v === "text" || v === "json" ? undefined : "expected text or json",
  },
  {
    name: "kubeconfig",
    scope: "daemon",
    key: "kubeconfig",
    kind: "string",
    default: undefined,
    help:
      "Path to a kubeconfig. Default: $KUBECONFIG, else the in-cluster service account.",
  },
  {
    name: "context",
    scope: "daemon",
    key: "context",
    kind: "string",
    default: undefined,
    help: "Kubeconfig context to use. Default: the current-context.",
  },
  {
    name: "listen",
    scope: "daemon",
    key: "listen",
    kind: "string",
    default: ":8080",
    help: "HOST:PORT serving /healthz, /readyz and /metrics.",
    check: (v) =>
      parseListen(v as string) ? undefined : "expected HOST:PORT or :PORT",
  },
  {
    name: "dry-run",
    scope: "daemon",
    key: "dryRun",
    kind: "bool",
    default: false,
    help: "Decide and log, write nothing to the API.",
  },
  {
    name: "deny-invalid",
    scope: "daemon",
    key: "denyInvalid",
    kind: "bool",
    default: false,
    help:
      "Write a Denied condition on invalid kubelet-serving CSRs from nodes (else leave them pending).",
  },
  {
    name: "log-format",
    scope: "daemon",
    key: "logFormat",
    kind: "string",
    default: "text",
    help: "Log format: json or text.",
    check: (v) =>
      v === "json" || v === "text" ? undefined : "expected json or text",
  },
  {
    name: "log-level",
    scope: "daemon",
    key: "logLevel",
    kind: "string",
    default: "info",
    help: "Minimum log level: debug, info, warn or error.",
    check: (v) =>
      LOG_LEVELS.includes(v as LogLevel)
        ? undefined
        : `expected one of ${LOG_LEVELS.join(", ")}`,
  },
  {
    name: "kube-api-qps",
    scope: "daemon",
    key: "kubeApiQps",
    kind: "number",
    // Unset (with --kube-api-burst unset too): automatic, see the client.
    default: undefined,
    defaultText: "auto",
    help:
      "Client-side limit of API requests per second (0 = unlimited). Unset, with --kube-api-burst unset too: none when the API server has Priority and Fairness (its X-Kubernetes-PF-* response headers), else 20.",
    check: nonNegative,
  },
  {
    name: "kube-api-burst",
    scope: "daemon",
    key: "kubeApiBurst",
    kind: "int",
    default: undefined,
    defaultText: "auto",
    help:
      "Burst of API requests allowed above --kube-api-qps (default 30 when a limit applies).",
    check: positive,
  },
  {
    name: "kube-api-timeout",
    scope: "daemon",
    key: "kubeApiTimeout",
    kind: "number",
    default: 30,
    help: "Deadline of each API request, in seconds (watches excepted).",
    check: positive,
  },
  {
    name: "workers",
    scope: "daemon",
    key: "workers",
    kind: "int",
    // Most of a reconcile is waiting on the API server (SAR, approval):
    // measured with `deno task bench`, 16 workers approve a backlog ~2.5x
    // faster than 4; --kube-api-qps still bounds the load.
    default: 16,
    help: "CSRs reconciled in parallel.",
    check: positive,
  },
  {
    name: "authorization-subresource",
    scope: "daemon",
    key: "subresource",
    kind: "string",
    default: "selfnodeserver",
    help:
      "Virtual subresource of certificatesigningrequests a node must be allowed to 'create' (SubjectAccessReview) to be auto-approved.",
    check: (v) =>
      /^[a-z0-9-]+$/.test(v as string)
        ? undefined
        : "expected a lower-case name",
  },
  {
    name: "verify-node-addresses",
    scope: "policy",
    key: "verifyNodeAddresses",
    kind: "bool",
    default: true,
    help:
      "Require every DNS and IP SAN to be an address of the Node named by the CN. false is UNSAFE: any node could get a certificate for another node's names.",
  },
  {
    name: "node-address-wait",
    scope: "policy",
    key: "nodeAddressWait",
    kind: "duration",
    default: 15 * 60_000,
    help:
      "How long a CSR waits for its Node (or its addresses) to appear before it gets a verdict (the kubelet's own CSR wait).",
    check: nonNegative,
  },
  {
    name: "cluster-domain",
    scope: "policy",
    key: "clusterDomain",
    kind: "string",
    default: "cluster.local",
    help: "Cluster DNS domain: kubernetes.default.svc.<domain> is protected.",
    check: (v) =>
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i.test(
          v as string,
        )
        ? undefined
        : "expected a DNS name",
  },
  {
    name: "protected-names",
    scope: "policy",
    key: "protectedNames",
    kind: "list",
    default: [],
    defaultText: "none",
    help:
      "Comma-separated extra DNS names never approved (e.g. the control-plane endpoint). Repeatable.",
  },
  {
    name: "protected-cidrs",
    scope: "policy",
    key: "protectedCidrs",
    kind: "list",
    default: [],
    defaultText: "none",
    help: "Comma-separated extra IPs or CIDRs never approved. Repeatable.",
  },
  {
    name: "api-service-ip",
    scope: "policy",
    key: "apiServiceIps",
    kind: "list",
    default: [],
    defaultText:
      "KUBERNETES_SERVICE_HOST and the default/kubernetes Service's cluster IPs",
    help:
      "Comma-separated IPs of the API server's Service, never approved. Repeatable.",
  },
  {
    name: "dns-name-pattern",
    scope: "policy",
    key: "dnsNamePattern",
    kind: "string",
    default: undefined,
    defaultText: "any",
    help: "Regular expression every DNS SAN must match in full (anchored).",
  },
  {
    name: "allowed-cidrs",
    scope: "policy",
    key: "allowedCidrs",
    kind: "list",
    default: undefined,
    defaultText: "any",
    help:
      "Comma-separated CIDRs (IPv4 and IPv6); every IP SAN must be inside one. Repeatable; an empty value (--allowed-cidrs=) allows no IP SAN.",
  },
  {
    name: "shared-address-cidrs",
    scope: "policy",
    key: "sharedAddressCidrs",
    kind: "list",
    default: [],
    defaultText: "none",
    help:
      "Comma-separated CIDRs inside which an IP may be listed by several Nodes (e.g. a NAT gateway's ExternalIP) and still be approved for each; elsewhere an address two Nodes list belongs to neither. Each range given away lets any node in it get a certificate for the others' shared IPs. Repeatable.",
  },
  {
    name: "max-dns-names",
    scope: "policy",
    key: "maxDnsNames",
    kind: "int",
    default: undefined,
    defaultText: "no limit",
    help: "Most DNS SANs one CSR may ask for.",
    check: nonNegative,
  },
  {
    name: "max-ip-addresses",
    scope: "policy",
    key: "maxIpAddresses",
    kind: "int",
    default: undefined,
    defaultText: "no limit",
    help: "Most IP SANs one CSR may ask for.",
    check: nonNegative,
  },
  {
    name: "max-expiration-seconds",
    scope: "policy",
    key: "maxExpirationSeconds",
    kind: "int",
    default: undefined,
    defaultText: "no limit",
    help: "Largest spec.expirationSeconds a CSR may ask for.",
    check: positive,
  },
  {
    name: "max-pending-age",
    scope: "policy",
    key: "maxPendingAge",
    kind: "duration",
    default: 60 * 60_000,
    help:
      "Skip CSRs older than this (the kubelet abandons a CSR after 15m and asks again); 0 turns it off.",
    check: nonNegative,
  },
  {
    name: "max-pending-surplus",
    scope: "daemon",
    key: "maxPendingSurplus",
    kind: "int",
    default: 100,
    help:
      "Storm guard: stop approving while pending kubelet-serving CSRs exceed the number of Nodes plus this.",
    check: nonNegative,
  },
  {
    name: "once",
    scope: "daemon",
    key: "once",
    kind: "bool",
    default: false,
    help: "Decide what is pending now, then exit 0 (for install tooling).",
  },
  {
    name: "leader-elect",
    scope: "daemon",
    key: "leaderElect",
    kind: "bool",
    default: undefined,
    defaultText: "true in-cluster, else false",
    help:
      "Run only while holding a coordination.k8s.io Lease, so that one replica approves.",
  },
  {
    name: "leader-elect-namespace",
    scope: "daemon",
    key: "leaderElectNamespace",
    kind: "string",
    default: undefined,
    defaultText:
      "the pod's namespace in-cluster, else the kubeconfig context's, else default",
    help: "Namespace of the leader-election Lease.",
  },
  {
    name: "leader-elect-lease-name",
    scope: "daemon",
    key: "leaderElectLeaseName",
    kind: "string",
    default: "kubelet-rubber-stamp",
    help: "Name of the leader-election Lease.",
    check: (v) =>
      /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(v as string) &&
        (v as string).length <= 253
        ? undefined
        : "expected a DNS subdomain name",
  },
  {
    name: "leader-elect-lease-duration",
    scope: "daemon",
    key: "leaderElectLeaseDuration",
    kind: "duration",
    default: 15_000,
    help:
      "How long a non-renewed lease lasts before another replica may take it.",
    check: positive,
  },
  {
    name: "leader-elect-renew-deadline",
    scope: "daemon",
    key: "leaderElectRenewDeadline",
    kind: "duration",
    default: 10_000,
    help: "How long the leader retries renewing before it gives up leading.",
    check: positive,
  },
  {
    name: "leader-elect-retry-period",
    scope: "daemon",
    key: "leaderElectRetryPeriod",
    kind: "duration",
    default: 2_000,
    help: "Interval between attempts to acquire or renew the lease.",
    check: positive,
  },
  {
    name: "version",
    scope: "daemon",
    key: "version",
    kind: "bool",
    default: false,
    help: "Print the version and exit.",
  },
  {
    name: "help",
    alias: "h",
    scope: "common",
    key: "help",
    kind: "bool",
    default: false,
    help: "Print this help and exit.",
  },
];

/** Whether `command` accepts flags of `scope`. */
function accepts(command: Command, scope: FlagScope): boolean {
  return scope === "policy" || scope === "common" || scope === command;
}

/** The daemon's flags, in `--help` order. */
export const FLAGS: readonly FlagDef[] = FLAG_TABLE.filter((f) =>
  accepts("daemon", f.scope)
);

/** `check`'s flags, in `--help` order. */
export const CHECK_FLAGS: readonly FlagDef[] = FLAG_TABLE.filter((f) =>
  accepts("check", f.scope)
);

/** The serving-policy flags, shared by the daemon and `check`. */
export const POLICY_FLAGS: readonly FlagDef[] = FLAG_TABLE.filter((f) =>
  f.scope === "policy"
);

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a Go-style duration (`15s`, `1m30s`, `500ms`, `2h`) to milliseconds.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./flags.ts";
 * parseDuration("1m30s"); // 90000
 * ```
 */
export function parseDuration(v: string): number | undefined {
  if (v === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let i = 0;
  while (i < v.length) {
    re.lastIndex = i;
    const m = re.exec(v);
    if (!m) return undefined;
    total += Number(m[1]) * UNITS[m[2]];
    i = re.lastIndex;
  }
  return v.length > 0 && Number.isFinite(total) ? total : undefined;
}

/** Parses `HOST:PORT`, `:PORT` or `[v6]:PORT`. */
export function parseListen(
  v: string,
): { hostname: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(v);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/**
 * Splits a list flag's value: on commas, items trimmed, empty items dropped.
 *
 * @example
 * ```ts
 * import { splitList } from "./flags.ts";
 * splitList(" a, b,,c "); // ["a", "b", "c"]
 * ```
 */
export function splitList(raw: string): string[] {
  return raw.split(",").map((x) => x.trim()).filter((x) => x !== "");
}

const INTEGER = /^-?[0-9]+$/;
const DECIMAL = /^-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)$/;

/** Prefix of the environment variables that set flags. */
export const ENV_PREFIX = "RUBBER_STAMP_";

// Actions, not settings: never taken from the environment.
const NOT_FROM_ENV = new Set(["help", "version"]);

/**
 * The environment variable that sets a flag, or `undefined` for `--help`
 * and `--version`.
 *
 * @example
 * ```ts
 * import { envVariableName, FLAG_TABLE } from "./flags.ts";
 * envVariableName(FLAG_TABLE.find((f) => f.name === "dry-run")!); // "RUBBER_STAMP_DRY_RUN"
 * ```
 */
export function envVariableName(def: FlagDef): string | undefined {
  if (NOT_FROM_ENV.has(def.name)) return undefined;
  return ENV_PREFIX + def.name.toUpperCase().replaceAll("-", "_");
}

/** How a value's source is named in errors: `--flag` or `VAR (--flag)`. */
function sourceOf(def: FlagDef, variable?: string): string {
  return variable === undefined
    ? `--${def.name}`
    : `${variable} (--${def.name})`;
}

function convert(def: FlagDef, raw: string, source: string): unknown {
  const bad = (expected: string) =>
    new FlagError(
      `invalid value ${quote(raw)} for ${source}: expected ${expected}`,
    );
  switch (def.kind) {
    case "string":
      return raw;
    case "list":
      return splitList(raw);
    case "files":
      if (raw === "") throw bad("a file path");
      return [raw];
    case "bool":
      if (raw === "true" || raw === "1") return true;
      if (raw === "false" || raw === "0") return false;
      throw bad("true or false");
    case "duration": {
      const ms = parseDuration(raw);
      if (ms === undefined) {
        throw bad("a duration like 15s, 1m30s or 500ms");
      }
      return ms;
    }
    case "int": {
      const n = Number(raw);
      if (!INTEGER.test(raw) || !Number.isSafeInteger(n)) {
        throw bad("an integer (decimal digits)");
      }
      return n;
    }
    case "number": {
      const n = Number(raw);
      if (!DECIMAL.test(raw) || !Number.isFinite(n)) {
        throw bad("a number (decimal digits, optionally with a fraction)");
      }
      return n;
    }
  }
}

function initialValue(def: FlagDef): unknown {
  return Array.isArray(def.default) ? [...def.default] : def.default;
}

/** The flag values and the positional arguments of one command line. */
export interface ParsedCommandLine {
  /** Every flag of the command, by key: its default unless given. */
  values: Record<string, unknown>;
  /** Arguments that are not flags (`-` included), in order. */
  positionals: string[];
}

/**
 * Parses `args` against the flags `command` accepts: the one parser of both
 * the daemon and `check` (see the module doc for the rules). Throws
 * {@linkcode FlagError} with a one-line message.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./flags.ts";
 * const { values, positionals } = parseCommandLine(
 *   ["csr.yaml", "--protected-cidrs", "10.0.0.0/8", "--protected-cidrs=fd00::/8"],
 *   "check",
 * );
 * // values.protectedCidrs: ["10.0.0.0/8", "fd00::/8"]; positionals: ["csr.yaml"]
 * ```
 */
export function parseCommandLine(
  args: readonly string[],
  command: Command,
  env: Readonly<Record<string, string>> = {},
): ParsedCommandLine {
  const defs = command === "daemon" ? FLAGS : CHECK_FLAGS;
  const values: Record<string, unknown> = {};
  for (const def of defs) values[def.key] = initialValue(def);
  const checked = (def: FlagDef, raw: string, source: string) => {
    const value = convert(def, raw, source);
    const problem = def.check?.(value);
    if (problem) {
      throw new FlagError(
        `invalid value ${quote(raw)} for ${source}: ${problem}`,
      );
    }
    return value;
  };
  // Unknown variables are refused first (sorted, so that of several the
  // same one is always named); the known ones apply after the command line,
  // to the flags it did not give.
  const fromEnv: Array<[FlagDef, string]> = [];
  for (const variable of Object.keys(env).sort()) {
    if (!variable.startsWith(ENV_PREFIX)) continue;
    const def = FLAG_TABLE.find((f) => envVariableName(f) === variable);
    if (!def) {
      throw new FlagError(
        `unknown environment variable ${variable} (see --help for the ${ENV_PREFIX}* variables)`,
      );
    }
    if (defs.includes(def)) fromEnv.push([def, variable]);
    // Otherwise the other command's setting, in the same environment.
  }
  const fromCommandLine = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    // Deno's task runner passes `--` through; it separates nothing here.
    if (arg === "--") continue;
    if (arg === "-" || !arg.startsWith("-")) {
      positionals.push(arg);
      continue;
    }
    const m = /^--?([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!m) {
      throw new FlagError(
        `unexpected argument ${quote(arg)} (flags start with --)`,
      );
    }
    const def = defs.find((f) => f.name === m[1] || f.alias === m[1]);
    if (!def) throw new FlagError(`unknown flag --${m[1]} (see --help)`);
    let raw = m[2];
    if (raw === undefined) {
      if (def.kind === "bool") {
        raw = "true";
      } else {
        if (i + 1 >= args.length) {
          throw new FlagError(`flag --${def.name} needs a value`);
        }
        raw = args[++i];
      }
    }
    const value = checked(def, raw, sourceOf(def));
    if (def.kind === "list" || def.kind === "files") {
      // Every occurrence appends; `--allowed-cidrs=` still makes it `[]`.
      const previous = values[def.key] as string[] | undefined;
      values[def.key] = [...(previous ?? []), ...(value as string[])];
    } else {
      values[def.key] = value;
    }
    fromCommandLine.add(def.key);
  }
  for (const [def, variable] of fromEnv) {
    if (fromCommandLine.has(def.key)) continue; // the command line wins
    values[def.key] = checked(def, env[variable], sourceOf(def, variable));
  }
  return { values, positionals };
}

/**
 * Parses daemon flags. Accepts `--flag value`, `--flag=value`, and bare
 * boolean flags; skips a bare `--`. Throws {@linkcode FlagError} with a
 * one-line message.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * const flags = parseFlags(["--dry-run", "--listen=127.0.0.1:9090"]);
 * console.log(flags.listen, flags.dryRun);
 * ```
 */
export function parseFlags(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): DaemonFlags {
  const { values, positionals } = parseCommandLine(args, "daemon", env);
  if (positionals.length > 0) {
    throw new FlagError(
      `unexpected argument ${quote(positionals[0])} (flags start with --)`,
    );
  }
  return values as unknown as DaemonFlags;
}

/**
 * The serving policy the policy flags describe, for the daemon and `check`
 * alike. `apiServiceIps` are discovered Service IPs added to
 * `--api-service-ip`.
 *
 * @example
 * ```ts
 * import { parseFlags, servingPolicyFromFlags } from "./flags.ts";
 * const policy = servingPolicyFromFlags(parseFlags(["--allowed-cidrs="]));
 * // policy.allowedCidrs: [] (no IP SAN allowed)
 * ```
 */
export function servingPolicyFromFlags(
  flags: PolicyFlags,
  apiServiceIps: readonly string[] = [],
): ServingPolicy {
  return {
    verifyNodeAddresses: flags.verifyNodeAddresses,
    clusterDomain: flags.clusterDomain,
    protectedNames: [...flags.protectedNames],
    protectedCidrs: [...flags.protectedCidrs],
    apiServiceIps: [...flags.apiServiceIps, ...apiServiceIps],
    dnsNamePattern: flags.dnsNamePattern,
    allowedCidrs: flags.allowedCidrs === undefined
      ? undefined
      : [...flags.allowedCidrs],
    sharedAddressCidrs: [...flags.sharedAddressCidrs],
    maxDnsNames: flags.maxDnsNames,
    maxIpAddresses: flags.maxIpAddresses,
    maxExpirationSeconds: flags.maxExpirationSeconds,
    nodeAddressWaitMs: flags.nodeAddressWait,
    maxPendingAgeMs: flags.maxPendingAge || undefined,
  };
}

/**
 * The `--help` lines of `defs`: `  --name kind` then the help text and the
 * default, indented. The daemon's and `check`'s help both come from here.
 *
 * @example
 * ```ts
 * import { CHECK_FLAGS, flagHelpLines } from "./flags.ts";
 * console.log(flagHelpLines(CHECK_FLAGS).join("\n"));
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
 * import { helpText } from "./flags.ts";
 * console.log(helpText());
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
 * import { checkHelpText } from "./flags.ts";
 * console.log(checkHelpText());
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
