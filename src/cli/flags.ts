/**
 * Command-line flags of the daemon: one table of definitions drives parsing,
 * validation, defaults and `--help`.
 *
 * @module
 */
import { LOG_LEVELS, type LogFormat, type LogLevel } from "../log.ts";

/** Parsed daemon options. */
export interface DaemonFlags {
  kubeconfig?: string;
  context?: string;
  listen: string;
  dryRun: boolean;
  denyInvalid: boolean;
  logFormat: LogFormat;
  logLevel: LogLevel;
  kubeApiQps: number;
  kubeApiBurst: number;
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
  clusterDomain: string;
  protectedNames: string[];
  protectedCidrs: string[];
  apiServiceIps: string[];
  dnsNamePattern?: string;
  allowedCidrs?: string[];
  maxDnsNames?: number;
  maxIpAddresses?: number;
  maxExpirationSeconds?: number;
  verifyNodeAddresses: boolean;
  /** Milliseconds. */
  nodeAddressWait: number;
  /** Milliseconds; 0 turns the age limit off. */
  maxPendingAge: number;
  maxPendingSurplus: number;
  once: boolean;
  help: boolean;
  version: boolean;
}

/** A flag the user got wrong: the message is one line naming the flag. */
export class FlagError extends Error {
  override name = "FlagError";
}

type Kind = "string" | "bool" | "number" | "int" | "duration" | "list";
interface FlagDef {
  name: string;
  key: keyof DaemonFlags;
  kind: Kind;
  default: string | number | boolean | undefined;
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
export const FLAGS: readonly FlagDef[] = [
  {
    name: "kubeconfig",
    key: "kubeconfig",
    kind: "string",
    default: undefined,
    help:
      "Path to a kubeconfig. Default: $KUBECONFIG, else the in-cluster service account.",
  },
  {
    name: "context",
    key: "context",
    kind: "string",
    default: undefined,
    help: "Kubeconfig context to use. Default: the current-context.",
  },
  {
    name: "listen",
    key: "listen",
    kind: "string",
    default: ":8080",
    help: "HOST:PORT serving /healthz, /readyz and /metrics.",
    check: (v) =>
      parseListen(v as string) ? undefined : "expected HOST:PORT or :PORT",
  },
  {
    name: "dry-run",
    key: "dryRun",
    kind: "bool",
    default: false,
    help: "Decide and log, write nothing to the API.",
  },
  {
    name: "deny-invalid",
    key: "denyInvalid",
    kind: "bool",
    default: false,
    help:
      "Write a Denied condition on invalid kubelet-serving CSRs from nodes (else leave them pending).",
  },
  {
    name: "log-format",
    key: "logFormat",
    kind: "string",
    default: "text",
    help: "Log format: json or text.",
    check: (v) =>
      v === "json" || v === "text" ? undefined : "expected json or text",
  },
  {
    name: "log-level",
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
    key: "kubeApiQps",
    kind: "number",
    default: 20,
    help: "Client-side limit of API requests per second (0 = unlimited).",
    check: nonNegative,
  },
  {
    name: "kube-api-burst",
    key: "kubeApiBurst",
    kind: "int",
    default: 30,
    help: "Burst of API requests allowed above --kube-api-qps.",
    check: positive,
  },
  {
    name: "kube-api-timeout",
    key: "kubeApiTimeout",
    kind: "number",
    default: 30,
    help: "Deadline of each API request, in seconds (watches excepted).",
    check: positive,
  },
  {
    name: "workers",
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
    key: "verifyNodeAddresses",
    kind: "bool",
    default: true,
    help:
      "Require every DNS and IP SAN to be an address of the Node named by the CN. false is UNSAFE: any node could get a certificate for another node's names.",
  },
  {
    name: "node-address-wait",
    key: "nodeAddressWait",
    kind: "duration",
    default: 15 * 60_000,
    help:
      "How long a CSR waits for its Node (or its addresses) to appear before it gets a verdict (the kubelet's own CSR wait).",
    check: nonNegative,
  },
  {
    name: "cluster-domain",
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
    key: "protectedNames",
    kind: "list",
    default: undefined,
    defaultText: "none",
    help:
      "Comma-separated extra DNS names never approved (e.g. the control-plane endpoint). Repeatable.",
  },
  {
    name: "protected-cidrs",
    key: "protectedCidrs",
    kind: "list",
    default: undefined,
    defaultText: "none",
    help: "Comma-separated extra IPs or CIDRs never approved. Repeatable.",
  },
  {
    name: "api-service-ip",
    key: "apiServiceIps",
    kind: "list",
    default: undefined,
    defaultText:
      "KUBERNETES_SERVICE_HOST and the default/kubernetes Service's cluster IPs",
    help: "The API server's Service IP(s), never approved. Repeatable.",
  },
  {
    name: "dns-name-pattern",
    key: "dnsNamePattern",
    kind: "string",
    default: undefined,
    defaultText: "any",
    help: "Regular expression every DNS SAN must match in full (anchored).",
  },
  {
    name: "allowed-cidrs",
    key: "allowedCidrs",
    kind: "list",
    default: undefined,
    defaultText: "any",
    help:
      "Comma-separated CIDRs (IPv4 and IPv6); every IP SAN must be inside one.",
  },
  {
    name: "max-dns-names",
    key: "maxDnsNames",
    kind: "int",
    default: undefined,
    defaultText: "no limit",
    help: "Most DNS SANs one CSR may ask for.",
    check: nonNegative,
  },
  {
    name: "max-ip-addresses",
    key: "maxIpAddresses",
    kind: "int",
    default: undefined,
    defaultText: "no limit",
    help: "Most IP SANs one CSR may ask for.",
    check: nonNegative,
  },
  {
    name: "max-expiration-seconds",
    key: "maxExpirationSeconds",
    kind: "int",
    default: undefined,
    defaultText: "no limit",
    help: "Largest spec.expirationSeconds a CSR may ask for.",
    check: positive,
  },
  {
    name: "max-pending-age",
    key: "maxPendingAge",
    kind: "duration",
    default: 60 * 60_000,
    help:
      "Skip CSRs older than this (the kubelet abandons a CSR after 15m and asks again); 0 turns it off.",
    check: nonNegative,
  },
  {
    name: "max-pending-surplus",
    key: "maxPendingSurplus",
    kind: "int",
    default: 100,
    help:
      "Storm guard: stop approving while pending kubelet-serving CSRs exceed the number of Nodes plus this.",
    check: nonNegative,
  },
  {
    name: "once",
    key: "once",
    kind: "bool",
    default: false,
    help: "Decide what is pending now, then exit 0 (for install tooling).",
  },
  {
    name: "leader-elect",
    key: "leaderElect",
    kind: "bool",
    default: undefined,
    defaultText: "true in-cluster, else false",
    help:
      "Run only while holding a coordination.k8s.io Lease, so that one replica approves.",
  },
  {
    name: "leader-elect-namespace",
    key: "leaderElectNamespace",
    kind: "string",
    default: undefined,
    defaultText:
      "the pod's namespace in-cluster, else the kubeconfig context's, else default",
    help: "Namespace of the leader-election Lease.",
  },
  {
    name: "leader-elect-lease-name",
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
    key: "leaderElectLeaseDuration",
    kind: "duration",
    default: 15_000,
    help:
      "How long a non-renewed lease lasts before another replica may take it.",
    check: positive,
  },
  {
    name: "leader-elect-renew-deadline",
    key: "leaderElectRenewDeadline",
    kind: "duration",
    default: 10_000,
    help: "How long the leader retries renewing before it gives up leading.",
    check: positive,
  },
  {
    name: "leader-elect-retry-period",
    key: "leaderElectRetryPeriod",
    kind: "duration",
    default: 2_000,
    help: "Interval between attempts to acquire or renew the lease.",
    check: positive,
  },
  {
    name: "version",
    key: "version",
    kind: "bool",
    default: false,
    help: "Print the version and exit.",
  },
  {
    name: "help",
    key: "help",
    kind: "bool",
    default: false,
    help: "Print this help and exit.",
  },
];

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
  return v.length > 0 ? total : undefined;
}

/** Formats milliseconds as a Go-style duration for --help. */
function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
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

function convert(def: FlagDef, raw: string): unknown {
  switch (def.kind) {
    case "string":
      return raw;
    case "list":
      return raw.split(",").map((x) => x.trim()).filter((x) => x !== "");
    case "bool":
      if (raw === "true" || raw === "1") return true;
      if (raw === "false" || raw === "0") return false;
      throw new FlagError(
        `invalid value "${raw}" for --${def.name}: expected true or false`,
      );
    case "duration": {
      const ms = parseDuration(raw);
      if (ms === undefined) {
        throw new FlagError(
          `invalid value "${raw}" for --${def.name}: expected a duration like 15s, 1m30s or 500ms`,
        );
      }
      return ms;
    }
    case "number":
    case "int": {
      const n = Number(raw);
      if (
        raw.trim() === "" || !Number.isFinite(n) ||
        (def.kind === "int" && !Number.isInteger(n))
      ) {
        throw new FlagError(
          `invalid value "${raw}" for --${def.name}: expected ${
            def.kind === "int" ? "an integer" : "a number"
          }`,
        );
      }
      return n;
    }
  }
}

/**
 * Parses daemon flags. Accepts `--flag value`, `--flag=value`, and bare
 * boolean flags. Throws {@linkcode FlagError} with a one-line message.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * const flags = parseFlags(["--dry-run", "--listen=127.0.0.1:9090"]);
 * console.log(flags.listen, flags.dryRun);
 * ```
 */
export function parseFlags(args: string[]): DaemonFlags {
  const out: Record<string, unknown> = {};
  for (const def of FLAGS) out[def.key] = def.default;
  out.protectedNames = [];
  out.protectedCidrs = [];
  out.apiServiceIps = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const m = /^--?([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!m) {
      throw new FlagError(`unexpected argument "${arg}" (flags start with --)`);
    }
    const def = FLAGS.find((f) => f.name === m[1]);
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
    const value = convert(def, raw);
    const problem = def.check?.(value);
    if (problem) {
      throw new FlagError(
        `invalid value "${raw}" for --${def.name}: ${problem}`,
      );
    }
    out[def.key] = value;
  }
  return out as unknown as DaemonFlags;
}

/**
 * The `--help` text: usage plus every flag with its default.
 *
 * @example
 * ```ts
 * import { helpText } from "./flags.ts";
 * console.log(helpText());
 * ```
 */
export function helpText(): string {
  const lines = [
    "kubelet-rubber-stamp: approves kubelet serving CSRs (signer kubernetes.io/kubelet-serving) that are provably legitimate.",
    "",
    "Usage:",
    "  kubelet-rubber-stamp [flags]            run the approver",
    "  kubelet-rubber-stamp check FILE|- [--node FILE] [policy flags]",
    "                                          explain offline why a CSR is (not) approvable",
    "",
    "Flags:",
  ];
  for (const def of FLAGS) {
    const value = def.kind === "bool"
      ? ""
      : ` ${def.kind === "int" ? "number" : def.kind}`;
    const shown = def.defaultText ??
      (def.default === undefined ? undefined : JSON.stringify(
        def.kind === "duration"
          ? formatDuration(def.default as number)
          : def.default,
      ));
    const dflt = shown === undefined ? "" : ` (default ${shown})`;
    lines.push(`  --${def.name}${value}`);
    lines.push(`      ${def.help}${dflt}`);
  }
  return lines.join("\n");
}
