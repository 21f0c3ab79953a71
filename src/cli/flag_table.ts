/**
 * Every flag of the daemon and of `check`, stated once: name, who accepts
 * it, how its value parses, its default and its help. Parsing
 * (`parse_flags.ts`), the `RUBBER_STAMP_*` variables (`flag_env.ts`),
 * `--help` (`help.ts`) and the serving policy (`flags_policy.ts`) all read
 * this one table, so that a policy flag means exactly the same in `check`
 * as in the daemon.
 *
 * Over 400 lines on purpose: the table is data a reader scans, one entry a
 * flag, in `--help` order; splitting it would state the flags in two places.
 *
 * @example
 * ```ts
 * import { CHECK_FLAGS, FLAG_TABLE } from "./flag_table.ts";
 * FLAG_TABLE.find((f) => f.name === "workers")?.default; // 16
 * CHECK_FLAGS.some((f) => f.name === "workers"); // false: a daemon flag
 * ```
 *
 * @module
 */
import { LOG_LEVELS, type LogLevel } from "../log.ts";
import type { Command, FlagDef, FlagScope } from "./flag_types.ts";
import { parseListen } from "./flag_values.ts";

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
