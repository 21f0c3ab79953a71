/**
 * How the command line names the settings of the layers below it. `core/`
 * and `kube/` speak in their own terms (`maxDnsNames`, `leaseDurationMs`)
 * and take a label function; the daemon and `check` pass these, so that
 * every message names the flag to fix (`--max-dns-names`), as before.
 *
 * The flag of each setting is looked up in {@linkcode FLAG_TABLE}: a renamed
 * flag renames its messages too. The key maps below are the inverse of
 * `servingPolicyFromFlags` and of the daemon's leader-election options; the
 * `Record` types make a new setting without a flag a type error.
 *
 * @example
 * ```ts
 * import { compileServingPolicy, defaultServingPolicy } from "../core/policy.ts";
 * import { policySettingFlag } from "./setting_labels.ts";
 * const result = compileServingPolicy(
 *   { ...defaultServingPolicy(), maxDnsNames: -1 },
 *   { settingLabel: policySettingFlag },
 * );
 * // result.error: "--max-dns-names: -1 is not a whole number of 0 or more"
 * ```
 *
 * @module
 */
import type { PolicySetting } from "../core/policy.ts";
import type { LeaderElectionTiming } from "../kube/leader_election.ts";
import { FLAG_TABLE } from "./flag_table.ts";
import type { DaemonFlags, PolicyFlags } from "./flag_types.ts";

// Durations are milliseconds in core (`…Ms`), a duration flag on the line.
const POLICY_FLAG_KEYS: Record<PolicySetting, keyof PolicyFlags> = {
  verifyNodeAddresses: "verifyNodeAddresses",
  clusterDomain: "clusterDomain",
  protectedNames: "protectedNames",
  protectedCidrs: "protectedCidrs",
  apiServiceIps: "apiServiceIps",
  dnsNamePattern: "dnsNamePattern",
  allowedCidrs: "allowedCidrs",
  sharedAddressCidrs: "sharedAddressCidrs",
  maxDnsNames: "maxDnsNames",
  maxIpAddresses: "maxIpAddresses",
  maxExpirationSeconds: "maxExpirationSeconds",
  nodeAddressWaitMs: "nodeAddressWait",
  maxPendingAgeMs: "maxPendingAge",
};

const LEADER_FLAG_KEYS: Record<LeaderElectionTiming, keyof DaemonFlags> = {
  leaseDurationMs: "leaderElectLeaseDuration",
  renewDeadlineMs: "leaderElectRenewDeadline",
  retryPeriodMs: "leaderElectRetryPeriod",
};

/** `--name` of the flag with this key (the key itself if none: never in practice). */
function flagOf(key: string): string {
  const def = FLAG_TABLE.find((f) => f.key === key);
  return def ? `--${def.name}` : key;
}

/**
 * The flag that sets a serving-policy setting, as messages show it.
 *
 * @example
 * ```ts
 * import { policySettingFlag } from "./setting_labels.ts";
 * policySettingFlag("maxPendingAgeMs"); // "--max-pending-age"
 * policySettingFlag("apiServiceIps"); // "--api-service-ip"
 * ```
 */
export function policySettingFlag(setting: PolicySetting): string {
  return flagOf(POLICY_FLAG_KEYS[setting] ?? setting);
}

/**
 * The flag that sets a leader-election timing, as messages show it.
 *
 * @example
 * ```ts
 * import { leaderElectionFlag } from "./setting_labels.ts";
 * leaderElectionFlag("renewDeadlineMs"); // "--leader-elect-renew-deadline"
 * ```
 */
export function leaderElectionFlag(timing: LeaderElectionTiming): string {
  return flagOf(LEADER_FLAG_KEYS[timing] ?? timing);
}
