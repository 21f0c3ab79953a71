/**
 * Flags → {@linkcode ServingPolicy}: the policy flags, parsed alike by the
 * daemon and `check`, mapped onto the core's policy settings. The core names
 * its settings in its own terms; `setting_labels.ts` maps them back to flag
 * names for error messages.
 *
 * @module
 */
import type { ServingPolicy } from "../core/policy.ts";
import type { PolicyFlags } from "./flag_types.ts";

/**
 * The serving policy the policy flags describe, for the daemon and `check`
 * alike. `apiServiceIps` are discovered Service IPs added to
 * `--api-service-ip`.
 *
 * @example
 * ```ts
 * import { servingPolicyFromFlags } from "./flags_policy.ts";
 * import { parseFlags } from "./parse_flags.ts";
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
