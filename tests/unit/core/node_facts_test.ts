import {
  createNodeFacts,
  type NodeAddress,
  nodeAddressKeys,
} from "../../../src/core/node_facts.ts";
import { canonicalDnsName } from "../../../src/core/dns_name.ts";
import { assertEquals } from "../../support/assert.ts";

Deno.test("nodeAddressKeys: the keys the kubelet would put in SANs", () => {
  const keys = nodeAddressKeys([
    { type: "Hostname", address: "Worker-1." },
    { type: "Hostname", address: "10.0.0.5" },
    { type: "InternalIP", address: "010.000.000.006" },
    { type: "ExternalIP", address: "::ffff:203.0.113.1" },
    { type: "InternalIP", address: "not-an-ip" },
    { type: "InternalDNS", address: "worker-1.internal" },
    { type: "ExternalDNS", address: "" },
    { type: "Other", address: "other.example" },
    null as unknown as NodeAddress,
    { type: "InternalIP", address: 7 } as unknown as NodeAddress,
  ]);
  assertEquals(keys, {
    dns: ["worker-1", "worker-1.internal"],
    ip: ["10.0.0.5", "10.0.0.6", "203.0.113.1"],
    // An InternalIP that is no IP gives no SAN: ignored, reported.
    ignored: [{ type: "InternalIP", address: "not-an-ip" }],
  });
  const nodes = createNodeFacts([
    ["a", [{ type: "InternalIP", address: "10.0.0.1" }]],
    ["b", [{ type: "ExternalIP", address: "10.0.0.1" }]],
  ]);
  assertEquals(nodes.ownersOf("ip", "10.0.0.1"), ["a", "b"]);
  assertEquals(nodes.ownersOf("dns", "10.0.0.1"), []);
  assertEquals(nodes.addressesOf("c"), undefined);
  assertEquals(canonicalDnsName("A.B.C.."), "a.b.c");
});

Deno.test("createNodeFacts: owners are sorted, addresses copied, kinds apart", () => {
  const addresses: NodeAddress[] = [
    { type: "Hostname", address: "shared.example" },
    { type: "InternalIP", address: "::ffff:10.0.0.9" },
  ];
  const nodes = createNodeFacts([
    ["zeta", addresses],
    ["alpha", [{ type: "InternalDNS", address: "Shared.Example." }]],
    ["empty", []],
  ]);
  addresses.push({ type: "InternalIP", address: "10.0.0.10" });
  assertEquals(nodes.ownersOf("dns", "shared.example"), ["alpha", "zeta"]);
  // IPv4-mapped addresses are owned in their IPv4 form.
  assertEquals(nodes.ownersOf("ip", "10.0.0.9"), ["zeta"]);
  assertEquals(nodes.ownersOf("ip", "10.0.0.10"), []);
  assertEquals(nodes.addressesOf("zeta")?.length, 2);
  assertEquals(nodes.addressesOf("empty"), []);
  assertEquals(nodes.ownersOf("ip", "shared.example"), []);
});
