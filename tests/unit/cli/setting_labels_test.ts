import {
  type CompiledPolicy,
  compileServingPolicy,
  defaultServingPolicy,
  POLICY_SETTINGS,
  type ServingPolicy,
} from "../../../src/core/policy.ts";
import { evaluateServingPolicy } from "../../../src/core/policy_checks.ts";
import { createNodeFacts } from "../../../src/core/node_facts.ts";
import { validateLeaderElectionTimings } from "../../../src/kube/leader_election.ts";
import { FLAG_TABLE } from "../../../src/cli/flag_table.ts";
import {
  leaderElectionFlag,
  policySettingFlag,
} from "../../../src/cli/setting_labels.ts";
import { assert, assertEquals } from "../../support/assert.ts";

Deno.test("every policy setting has its own policy flag", () => {
  const flags = new Set(
    FLAG_TABLE.filter((f) => f.scope === "policy").map((f) => `--${f.name}`),
  );
  const labels = POLICY_SETTINGS.map(policySettingFlag);
  for (const label of labels) assert(flags.has(label), label);
  assertEquals(new Set(labels).size, labels.length);
  assertEquals(policySettingFlag("nodeAddressWaitMs"), "--node-address-wait");
  assertEquals(policySettingFlag("apiServiceIps"), "--api-service-ip");
});

/** The messages of every check, for a policy and a CSR that trip them all. */
function messages(settingLabel?: (setting: keyof ServingPolicy) => string) {
  const policy = compileServingPolicy({
    ...defaultServingPolicy(),
    maxDnsNames: 0,
    maxIpAddresses: 0,
    maxExpirationSeconds: 60,
    dnsNamePattern: "x",
    allowedCidrs: ["192.0.2.0/24"],
    protectedNames: ["api.example"],
    protectedCidrs: ["203.0.113.0/24"],
  }, settingLabel ? { settingLabel } : {}) as CompiledPolicy;
  const nodes = createNodeFacts([
    ["a", [{ type: "InternalIP", address: "10.0.0.1" }]],
    ["b", [{ type: "InternalIP", address: "10.0.0.1" }]],
  ]);
  const input = {
    node: "a",
    dnsNames: ["api.example"],
    ipAddresses: ["203.0.113.1"],
    expirationSeconds: 3600,
    createdAt: "2026-01-01T00:00:00Z",
    now: new Date("2026-01-01T03:00:00Z"),
    nodes,
  };
  const contested = evaluateServingPolicy(policy, {
    ...input,
    dnsNames: [],
    ipAddresses: ["10.0.0.1"],
  });
  const off = compileServingPolicy({
    ...defaultServingPolicy(),
    verifyNodeAddresses: false,
    maxPendingAgeMs: 0,
  }, settingLabel ? { settingLabel } : {}) as CompiledPolicy;
  return [
    ...evaluateServingPolicy(policy, input).map((r) => r.check.message),
    contested[4].check.message,
    ...evaluateServingPolicy(off, input).map((r) => r.check.message),
  ].join("\n");
}

Deno.test("core messages name settings by their own names without a label mapping", () => {
  const text = messages();
  assert(!/--[a-z]/.test(text), text);
  for (
    const expected of [
      "more than maxPendingAgeMs 1h",
      "listed in protectedNames",
      "inside protectedCidrs 203.0.113.0/24",
      "spec.expirationSeconds is 3600, maxExpirationSeconds allows at most 60",
      "request has 1 DNS names, maxDnsNames allows 0",
      "request has 1 IP addresses, maxIpAddresses allows 0",
      'does not match dnsNamePattern "x"',
      'not inside allowedCidrs ["192.0.2.0/24"]',
      "allow a legitimately shared range with sharedAddressCidrs",
      "not checked: verifyNodeAddresses=false (unsafe",
      "not checked (maxPendingAgeMs is off)",
    ]
  ) {
    assert(text.includes(expected), `${expected}\n${text}`);
  }
});

Deno.test("with the CLI mapping, the same messages name the flags", () => {
  const text = messages(policySettingFlag);
  for (
    const expected of [
      "more than --max-pending-age 1h",
      "listed in --protected-names",
      "inside --protected-cidrs 203.0.113.0/24",
      "spec.expirationSeconds is 3600, --max-expiration-seconds allows at most 60",
      "request has 1 DNS names, --max-dns-names allows 0",
      "request has 1 IP addresses, --max-ip-addresses allows 0",
      'does not match --dns-name-pattern "x"',
      'not inside --allowed-cidrs ["192.0.2.0/24"]',
      "allow a legitimately shared range with --shared-address-cidrs",
      "not checked: --verify-node-addresses=false (unsafe",
      "not checked (--max-pending-age is off)",
    ]
  ) {
    assert(text.includes(expected), `${expected}\n${text}`);
  }
});

Deno.test("compile errors: setting names by default, flags with the CLI mapping", () => {
  const bad = { ...defaultServingPolicy(), maxPendingAgeMs: -5 };
  const plain = compileServingPolicy(bad);
  const flagged = compileServingPolicy(bad, {
    settingLabel: policySettingFlag,
  });
  assert("errors" in plain && "errors" in flagged);
  assertEquals(
    plain.error,
    "maxPendingAgeMs: -5 ms is not a duration of 0 or more",
  );
  assertEquals(
    flagged.error,
    "--max-pending-age: -5 ms is not a duration of 0 or more",
  );
});

Deno.test("leader-election timings: option names by default, flags with the CLI mapping", () => {
  assertEquals(
    validateLeaderElectionTimings(10_000, 10_000, 2_000),
    "leaseDurationMs (10s) must be greater than renewDeadlineMs (10s)",
  );
  assertEquals(
    validateLeaderElectionTimings(10_000, 10_000, 2_000, leaderElectionFlag),
    "--leader-elect-lease-duration (10s) must be greater than --leader-elect-renew-deadline (10s)",
  );
  assertEquals(
    validateLeaderElectionTimings(15_000, 10_000, 0, leaderElectionFlag),
    "--leader-elect-retry-period must be a positive duration; found 0ms",
  );
});
