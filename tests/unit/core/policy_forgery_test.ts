/**
 * What a compromised node cannot forge: contested addresses, DNS SAN syntax,
 * the complete loopback set, IPv6 forms that embed a protected IPv4 address,
 * and Node addresses that cost linear time whatever their length.
 */
import {
  type AuthorizationFact,
  decideServingRequest,
} from "../../../src/core/decision.ts";
import { inspectServingRequest } from "../../../src/core/inspect.ts";
import {
  canonicalDnsName,
  dnsNameSyntaxError,
  isValidDnsName,
} from "../../../src/core/dns_name.ts";
import { embeddedIpv4, formatIp, parseIp } from "../../../src/core/ip.ts";
import {
  type CompiledPolicy,
  compileServingPolicy,
  defaultServingPolicy,
  type ServingPolicy,
} from "../../../src/core/policy.ts";
import { checkProtectedNames } from "../../../src/core/policy_checks.ts";
import {
  createNodeFacts,
  type NodeAddress,
  nodeAddressKeys,
  type NodeFacts,
} from "../../../src/core/node_facts.ts";
import type { Decision } from "../../../src/core/types.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import {
  makeServingCsr,
  type ServingCsrOptions,
} from "../../support/csr_factory.ts";

const CREATED = "2026-01-01T00:00:00Z";
const SOON = new Date("2026-01-01T00:01:00Z");
const API_SERVICE_IP = "10.96.0.1";

function compiled(overrides: Partial<ServingPolicy> = {}): CompiledPolicy {
  const result = compileServingPolicy({
    ...defaultServingPolicy(),
    apiServiceIps: [API_SERVICE_IP],
    ...overrides,
  });
  if ("error" in result) throw new Error(result.error);
  return result;
}

async function decide(
  options: ServingCsrOptions,
  nodes: NodeFacts,
  policy: CompiledPolicy = compiled(),
  authorization: AuthorizationFact = { allowed: true },
): Promise<Decision> {
  const inspection = await inspectServingRequest(
    await makeServingCsr({ creationTimestamp: CREATED, ...options }),
  );
  return decideServingRequest(inspection, {
    authorization,
    policy,
    nodes,
    now: SOON,
  });
}

const B: NodeAddress[] = [
  { type: "Hostname", address: "node-b" },
  { type: "InternalIP", address: "10.0.0.2" },
];
// Node A (compromised) wrote B's InternalIP and hostname into its own status.
const A_FORGED: NodeAddress[] = [
  { type: "Hostname", address: "node-a" },
  { type: "InternalIP", address: "10.0.0.1" },
  { type: "InternalIP", address: "10.0.0.2" },
  { type: "InternalDNS", address: "NODE-B." },
];

Deno.test("contested: a node listing another node's IP and name gets neither, and says who else claims them", async () => {
  const nodes = createNodeFacts([["node-a", A_FORGED], ["node-b", B]]);
  for (
    const sans of [
      { dnsNames: ["node-a"], ipAddresses: ["10.0.0.2"] },
      { dnsNames: ["node-b"], ipAddresses: ["10.0.0.1"] },
      { dnsNames: ["node-a", "node-b"], ipAddresses: ["10.0.0.1", "10.0.0.2"] },
    ]
  ) {
    const d = await decide({ node: "node-a", ...sans }, nodes);
    const label = JSON.stringify(sans);
    assertEquals([d.outcome, d.reason], ["deny", "SANContested"], label);
    assertMatch(d.message, /also by node "node-b"/, label);
    const check = d.checks.find((c) => c.rule === "san-ownership")!;
    assertEquals([check.result, check.reason], ["fail", "SANContested"]);
  }
  // Its own, uncontested addresses are still approved.
  const own = await decide(
    { node: "node-a", dnsNames: ["node-a"], ipAddresses: ["10.0.0.1"] },
    nodes,
  );
  assertEquals([own.outcome, own.reason], ["approve", "AutoApproved"]);
  // The victim cannot renew while the claim stands (a visible denial, not a
  // silent impersonation)...
  const victim = await decide(
    { node: "node-b", dnsNames: ["node-b"], ipAddresses: ["10.0.0.2"] },
    nodes,
  );
  assertEquals([victim.outcome, victim.reason], ["deny", "SANContested"]);
  assertMatch(victim.message, /also by node "node-a"/);
  // ...and can once it is withdrawn.
  const withdrawn = createNodeFacts([
    ["node-a", A_FORGED.slice(0, 2)],
    ["node-b", B],
  ]);
  const renewed = await decide(
    { node: "node-b", dnsNames: ["node-b"], ipAddresses: ["10.0.0.2"] },
    withdrawn,
  );
  assertEquals(renewed.outcome, "approve");
});

Deno.test("contested: a SAN the requester does not list stays SANNotOwnedByNode, and wins over contested", async () => {
  const nodes = createNodeFacts([["node-a", A_FORGED], ["node-b", B], [
    "node-c",
    [{ type: "InternalIP", address: "10.0.0.3" }],
  ]]);
  const d = await decide(
    { node: "node-a", dnsNames: ["node-b"], ipAddresses: ["10.0.0.3"] },
    nodes,
  );
  assertEquals([d.outcome, d.reason], ["deny", "SANNotOwnedByNode"]);
  assertMatch(d.message, /belongs to node "node-c"/);
  assertMatch(d.message, /also by node "node-b"/);
});

Deno.test("contested: sharedAddressCidrs allows a shared IP, never a shared DNS name", async () => {
  const nat = { type: "ExternalIP", address: "198.51.100.7" };
  const nodes = createNodeFacts([
    ["node-a", [...A_FORGED.slice(0, 2), nat]],
    ["node-b", [...B, nat, { type: "InternalDNS", address: "shared.example" }]],
    ["node-c", [{ type: "InternalDNS", address: "shared.example" }]],
  ]);
  const shared = compiled({ sharedAddressCidrs: ["198.51.100.0/24"] });
  for (const node of ["node-a", "node-b"]) {
    const own = node === "node-a" ? "10.0.0.1" : "10.0.0.2";
    const sans = { dnsNames: [node], ipAddresses: [own, "198.51.100.7"] };
    assertEquals(
      (await decide({ node, ...sans }, nodes)).reason,
      "SANContested",
      `${node} without the flag`,
    );
    assertEquals(
      (await decide({ node, ...sans }, nodes, shared)).outcome,
      "approve",
      `${node} with the flag`,
    );
  }
  const dns = await decide(
    { node: "node-b", dnsNames: ["shared.example"], ipAddresses: ["10.0.0.2"] },
    nodes,
    shared,
  );
  assertEquals(dns.reason, "SANContested");
  // A bad range is a configuration error naming the setting (core's own
  // name; the CLI's flag name is tested in setting_labels_test.ts).
  const bad = compileServingPolicy({
    ...defaultServingPolicy(),
    sharedAddressCidrs: ["10.0.0.0/33"],
  });
  assert("error" in bad);
  assertMatch(bad.error, /^sharedAddressCidrs: /);
});

Deno.test("dns-name-syntax: every malformed DNS SAN is InvalidDNSName, before ownership and protected names", async () => {
  const label63 = "a".repeat(63);
  const long = [label63, label63, label63, "a".repeat(62)].join("."); // 254
  const cases = [
    "localhost\u0000",
    "node-a\u0000.evil",
    "node a",
    "[::1]",
    "::1",
    "a..b",
    ".node-a",
    "node-a..",
    "a".repeat(64),
    `${"a".repeat(64)}.example`,
    long,
    "-node",
    "node-",
    "node_a",
    "node-a/x",
    "*",
    "a.*.b",
    "*node.example",
    "**.example",
    "*.",
    "",
    "\u212aubernetes", // Kelvin sign: lower-cases to "k" in Unicode
  ];
  const nodes = createNodeFacts([[
    "node-a",
    [
      { type: "Hostname", address: "node-a" },
      { type: "InternalIP", address: "10.0.0.1" },
    ],
  ]]);
  for (const name of cases) {
    const d = await decide(
      { node: "node-a", dnsNames: ["node-a", name], ipAddresses: ["10.0.0.1"] },
      nodes,
    );
    const label = JSON.stringify(name);
    assertEquals([d.outcome, d.reason], ["deny", "InvalidDNSName"], label);
    assert(dnsNameSyntaxError(name.replace(/^\*\./, "")) !== undefined, label);
  }
  // A DNS SAN that is not even an IA5String is refused by the parser.
  const nonAscii = await decide(
    { node: "node-a", dnsNames: ["nöde"], ipAddresses: ["10.0.0.1"] },
    nodes,
  );
  assertEquals([nonAscii.outcome, nonAscii.reason], ["deny", "InvalidRequest"]);
  assertEquals(
    dnsNameSyntaxError("nöde"),
    'character "ö" at 1 is not a letter, digit, hyphen or dot',
  );
  // Valid names: a 63-character label, 253 characters, one trailing dot,
  // upper case, digits, inner hyphens.
  const long253 = [label63, label63, label63, "a".repeat(61)].join(".");
  for (
    const name of [
      `${label63}.example`,
      long253,
      "Node-A.Example.COM.",
      "n0de-1--x.example",
      "a",
    ]
  ) {
    assert(isValidDnsName(name), name);
    const d = await decide(
      { node: "node-a", dnsNames: [name], ipAddresses: ["10.0.0.1"] },
      createNodeFacts([[
        "node-a",
        [
          { type: "InternalDNS", address: name },
          { type: "InternalIP", address: "10.0.0.1" },
        ],
      ]]),
    );
    assertEquals([d.outcome, d.reason], ["approve", "AutoApproved"], name);
  }
  // A leading "*." is syntactically a name; the wildcard rule denies it.
  const wildcard = await decide(
    { node: "node-a", dnsNames: ["*.node-a.example"], ipAddresses: [] },
    nodes,
  );
  assertEquals(wildcard.reason, "ProtectedName");
  assertMatch(wildcard.message, /wildcard/);
});

Deno.test("protected-names: RHEL-family loopback aliases", () => {
  const policy = compiled();
  for (
    const name of [
      "localhost4",
      "localhost6",
      "localhost4.localdomain4",
      "LOCALHOST6.localdomain6.",
    ]
  ) {
    const r = checkProtectedNames(policy, { dnsNames: [name] });
    assertEquals([r.effect, r.check.reason], ["deny", "ProtectedName"], name);
    assertMatch(r.check.message, /a loopback name/, name);
  }
});

Deno.test("protected-names: IPv6 addresses that embed a protected IPv4 address", () => {
  const policy = compiled({ protectedCidrs: ["192.0.2.0/24"] });
  const protectedCases: Array<[string, string, RegExp]> = [
    ["::ffff:127.0.0.1", "127.0.0.1", /loopback/],
    ["::127.0.0.1", "127.0.0.1", /./],
    ["::ffff:0:7f00:1", "127.0.0.1", /loopback.*SIIT/],
    ["64:ff9b::7f00:1", "127.0.0.1", /loopback.*NAT64/],
    ["64:ff9b::127.0.0.1", "127.0.0.1", /loopback.*NAT64/],
    // Which RFC 6052 layout a local-use prefix uses is not visible, so every
    // layout is judged: here the /48 one reads 0.0.0.0 (unspecified).
    ["64:ff9b:1::7f00:1", "127.0.0.1", /local-use NAT64/],
    ["64:ff9b:1:7f00:0:100::", "127.0.0.1", /local-use NAT64/], // /48
    ["64:ff9b:1:0:7f:0:100::", "127.0.0.1", /local-use NAT64/], // /64
    ["2002:7f00:1::1", "127.0.0.1", /loopback.*6to4/],
    ["2002:a9fe:a9fe::", "169.254.169.254", /link-local.*6to4/],
    ["64:ff9b::a60:1", API_SERVICE_IP, /Service IP.*NAT64/],
    ["2002:c000:205::1", "192.0.2.5", /protectedCidrs.*6to4/],
  ];
  for (const [ip, v4, why] of protectedCases) {
    const r = checkProtectedNames(policy, { ipAddresses: [ip] });
    assertEquals([r.effect, r.check.reason], ["deny", "ProtectedName"], ip);
    assertMatch(r.check.message, why, ip);
    const embedded = embeddedIpv4(parseIp(ip)).map((e) => formatIp(e.ipv4));
    assert(
      embedded.includes(v4) || ip.startsWith("::ffff:127"),
      `${ip} embeds ${v4}: ${embedded}`,
    );
  }
  for (
    const ip of [
      "64:ff9b::a00:5",
      "2002:a00:5::1",
      "2001:db8::7f00:1",
      "fd00::1",
    ]
  ) {
    const r = checkProtectedNames(policy, { ipAddresses: [ip] });
    assertEquals(r.effect, "none", ip);
  }
  assertEquals(embeddedIpv4(parseIp("10.0.0.1")), []);
  assertEquals(embeddedIpv4(parseIp("2001:db8::1")), []);
});

Deno.test("Node addresses: hostile ones are ignored for ownership, in linear time", () => {
  const dots = `a${".".repeat(200_000)}b`;
  const huge = "a".repeat(200_000);
  const addresses: NodeAddress[] = [
    { type: "InternalDNS", address: dots },
    { type: "Hostname", address: `${huge}.` },
    { type: "InternalIP", address: `10.0.0.1${" ".repeat(200_000)}` },
    { type: "ExternalDNS", address: `node-a${".".repeat(200_000)}` },
    { type: "InternalDNS", address: "node\u0000a" },
    { type: "InternalDNS", address: "*.node-a" },
    { type: "Hostname", address: "node-a" },
    { type: "InternalIP", address: "10.0.0.1" },
  ];
  const started = performance.now();
  const keys = nodeAddressKeys(addresses);
  for (const text of [dots, huge, `${huge}.${".".repeat(100_000)}`]) {
    canonicalDnsName(text);
    dnsNameSyntaxError(text);
  }
  const elapsed = performance.now() - started;
  assertEquals(keys.dns, ["node-a"]);
  assertEquals(keys.ip, ["10.0.0.1"]);
  assertEquals(keys.ignored.length, 6);
  // The quadratic trailing-dot regex took seconds on these inputs.
  assert(elapsed < 100, `took ${elapsed.toFixed(1)} ms`);
  assertEquals(canonicalDnsName(`Node-A${".".repeat(100_000)}`), "node-a");
});
