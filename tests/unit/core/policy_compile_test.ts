import {
  compileServingPolicy,
  defaultServingPolicy,
  POLICY_SETTINGS,
  type ServingPolicy,
} from "../../../src/core/policy.ts";
import { assert, assertEquals } from "../../support/assert.ts";

const BAD: Partial<ServingPolicy> = {
  clusterDomain: "bad domain",
  protectedNames: ["", "ok.example", " "],
  apiServiceIps: ["10.96.0.300"],
  protectedCidrs: ["fd00::/200"],
  dnsNamePattern: "(",
  allowedCidrs: ["ten"],
  sharedAddressCidrs: ["10.0.0.0/33"],
  maxDnsNames: -1,
  maxIpAddresses: 1.5,
  maxExpirationSeconds: 0,
  nodeAddressWaitMs: NaN,
  maxPendingAgeMs: -5,
};

Deno.test("compile reports every error at once, in the settings' order", () => {
  const result = compileServingPolicy({ ...defaultServingPolicy(), ...BAD });
  assert("errors" in result);
  assertEquals(result.errors.map((e) => e.slice(0, e.indexOf(":"))), [
    "clusterDomain",
    "protectedNames",
    "protectedNames",
    "apiServiceIps",
    "protectedCidrs",
    "dnsNamePattern",
    "allowedCidrs",
    "sharedAddressCidrs",
    "maxDnsNames",
    "maxIpAddresses",
    "maxExpirationSeconds",
    "nodeAddressWaitMs",
    "maxPendingAgeMs",
  ]);
  assertEquals(result.error, result.errors.join("; "));
  assertEquals(
    result.errors[0],
    'clusterDomain: "bad domain" is not a DNS domain, expected e.g. "cluster.local"',
  );
  assertEquals(
    result.errors[1],
    'protectedNames: "" is not a DNS name, expected e.g. "api.example.com"',
  );
});

Deno.test("compile: one bad setting is one error, the same on one line", () => {
  const result = compileServingPolicy({
    ...defaultServingPolicy(),
    maxDnsNames: -1,
  });
  assert("errors" in result);
  assertEquals(result.errors, [
    "maxDnsNames: -1 is not a whole number of 0 or more",
  ]);
  assertEquals(result.error, result.errors[0]);
});

Deno.test("compile keeps a label for every setting; a failing label falls back", () => {
  const plain = compileServingPolicy(defaultServingPolicy());
  assert(!("errors" in plain));
  for (const setting of POLICY_SETTINGS) {
    assertEquals(plain.labels[setting], setting);
  }
  const odd = compileServingPolicy(defaultServingPolicy(), {
    settingLabel: (setting) => {
      if (setting === "maxDnsNames") throw new Error("no label");
      return setting === "clusterDomain" ? "" : `<${setting}>`;
    },
  });
  assert(!("errors" in odd));
  assertEquals(odd.labels.maxDnsNames, "maxDnsNames");
  assertEquals(odd.labels.clusterDomain, "clusterDomain");
  assertEquals(odd.labels.allowedCidrs, "<allowedCidrs>");
});
