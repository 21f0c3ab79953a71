/**
 * End to end on the API server double, as an attacker holding one node's
 * kubelet credentials: forged Node addresses (contested, before start and
 * while running), repeated protection flags, and hostile Node addresses that
 * must not stall the daemon.
 */
import { makeServingCsr } from "../support/csr_factory.ts";
import {
  conditionOf,
  type Fixture,
  startFixture,
  submitCsr,
} from "../support/fixture.ts";
import type { ApiServer } from "../support/api_server.ts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { parsePrometheus } from "../support/prometheus.ts";

type Address = { type: string; address: string };

const A_OWN: Address[] = [
  { type: "Hostname", address: "node-a" },
  { type: "InternalIP", address: "10.20.0.1" },
];
const B_OWN: Address[] = [
  { type: "Hostname", address: "node-b" },
  { type: "InternalIP", address: "10.20.0.2" },
];
// What node A (compromised) writes into its own status: B's IP and name.
const A_FORGED: Address[] = [
  ...A_OWN,
  { type: "InternalIP", address: "10.20.0.2" },
  { type: "InternalDNS", address: "node-b" },
];

function setNode(api: ApiServer, name: string, addresses: Address[]) {
  api.upsertNode({ metadata: { name }, status: { addresses } });
}

async function csr(
  api: ApiServer,
  name: string,
  node: string,
  dnsNames: string[],
  ipAddresses: string[],
) {
  await submitCsr(
    api,
    await makeServingCsr({ name, node, dnsNames, ipAddresses }),
  );
}

/** The last reconcile result of `name`. */
function last(f: Fixture, name: string) {
  return f.reconciled.findLast((r) => r.name === name)?.result;
}

/** Every approval write attempt for `name`, refused ones included. */
function approvalAttempts(f: Fixture, name: string): number {
  return f.approvalAttempts().get(name) ?? 0;
}

Deno.test("forgery: a node listing another node's IP and hostname gets neither; its own addresses are approved; the victim renews once the claim is withdrawn", async () => {
  const f = await startFixture({
    async before(api) {
      setNode(api, "node-a", A_FORGED);
      setNode(api, "node-b", B_OWN);
      await csr(api, "a-wants-b-ip", "node-a", ["node-a"], ["10.20.0.2"]);
      await csr(api, "a-wants-b-name", "node-a", ["node-b"], ["10.20.0.1"]);
      await csr(api, "a-own", "node-a", ["node-a"], ["10.20.0.1"]);
      await csr(api, "b-own", "node-b", ["node-b"], ["10.20.0.2"]);
    },
  });
  try {
    await f.until(
      () =>
        conditionOf(f.api.getCsr("a-own"), "Approved") !== undefined &&
        ["a-wants-b-ip", "a-wants-b-name", "b-own"].every((n) =>
          last(f, n)?.decision?.reason === "SANContested"
        ),
      10_000,
      "a-own approved, the others contested",
    );
    for (const name of ["a-wants-b-ip", "a-wants-b-name", "b-own"]) {
      const result = last(f, name)!;
      assertEquals(result.action, "left-pending", name);
      assertEquals(approvalAttempts(f, name), 0, name);
    }
    assertMatch(last(f, "a-wants-b-ip")!.decision!.message, /"node-b"/);
    assertMatch(last(f, "b-own")!.decision!.message, /"node-a"/);
    assertEquals(approvalAttempts(f, "a-own"), 1);
    // An operator can act on it: a warning log line and an Event.
    assert(
      f.logs.some((l) =>
        l.includes('"reason":"SANContested"') && l.includes("a-wants-b-ip")
      ),
      "log line",
    );
    await f.until(
      () =>
        (f.api.events() as { reason?: string; regarding?: { name?: string } }[])
          .some((e) =>
            e.reason === "SANContested" && e.regarding?.name === "b-own"
          ),
      10_000,
      "SANContested Event",
    );
    // A withdraws its claim: B's pending CSR is decided again and approved;
    // A's still asks for B's address and stays unapproved.
    setNode(f.api, "node-a", A_OWN);
    await f.until(
      () => conditionOf(f.api.getCsr("b-own"), "Approved") !== undefined,
      10_000,
      "b-own approved after the claim is withdrawn",
    );
    await f.until(
      () => last(f, "a-wants-b-ip")?.decision?.reason === "SANNotOwnedByNode",
      10_000,
      "a-wants-b-ip re-decided",
    );
    assertEquals(approvalAttempts(f, "b-own"), 1);
    assertEquals(approvalAttempts(f, "a-wants-b-ip"), 0);
    assertEquals(approvalAttempts(f, "a-wants-b-name"), 0);
  } finally {
    await f.stop();
  }
});

Deno.test("forgery: a claim written while the daemon runs is seen; with --deny-invalid the forged CSR is Denied SANContested", async () => {
  const f = await startFixture({
    flags: ["--deny-invalid"],
    before(api) {
      setNode(api, "node-a", A_OWN);
      setNode(api, "node-b", B_OWN);
    },
  });
  try {
    await f.until(
      () => (f.api.requests.some((r) => r.resource === "nodes")),
      10_000,
      "Node cache listing",
    );
    // A's kubelet rewrites its own status (NodeRestriction allows it)...
    setNode(f.api, "node-a", A_FORGED);
    // A CSR for B's IP racing the Node event is refused either way: as
    // another node's address before the daemon sees the claim, as contested
    // after.
    await csr(f.api, "a-probe", "node-a", ["node-a"], ["10.20.0.2"]);
    await f.until(
      () => conditionOf(f.api.getCsr("a-probe"), "Denied") !== undefined,
      10_000,
      "a-probe denied",
    );
    assert(
      ["SANContested", "SANNotOwnedByNode"].includes(
        conditionOf(f.api.getCsr("a-probe"), "Denied")!.reason ?? "",
      ),
    );
    // The Node watch delivers in milliseconds here; leave it ample time.
    await new Promise((r) => setTimeout(r, 500));
    await csr(f.api, "a-wants-b-name", "node-a", ["node-b"], ["10.20.0.1"]);
    await csr(f.api, "a-own", "node-a", ["node-a"], ["10.20.0.1"]);
    await f.until(
      () =>
        conditionOf(f.api.getCsr("a-wants-b-name"), "Denied") !== undefined &&
        conditionOf(f.api.getCsr("a-own"), "Approved") !== undefined,
      10_000,
      "decisions",
    );
    const denied = conditionOf(f.api.getCsr("a-wants-b-name"), "Denied")!;
    assertEquals(denied.reason, "SANContested");
    assertMatch(denied.message ?? "", /also by node "node-b"/);
    for (const name of ["a-probe", "a-wants-b-name"]) {
      assertEquals(
        conditionOf(f.api.getCsr(name), "Approved"),
        undefined,
        name,
      );
    }
    assertEquals(approvalAttempts(f, "a-own"), 1);
  } finally {
    await f.stop();
  }
});

Deno.test("forgery: --shared-address-cidrs lets two nodes behind one NAT address both be approved", async () => {
  const nat = { type: "ExternalIP", address: "198.51.100.7" };
  const f = await startFixture({
    flags: [
      "--shared-address-cidrs=192.0.2.0/24",
      "--shared-address-cidrs",
      "198.51.100.0/24",
    ],
    async before(api) {
      setNode(api, "node-a", [...A_OWN, nat]);
      setNode(api, "node-b", [...B_OWN, nat]);
      await csr(api, "a-nat", "node-a", ["node-a"], [
        "10.20.0.1",
        "198.51.100.7",
      ]);
      await csr(api, "b-nat", "node-b", ["node-b"], [
        "10.20.0.2",
        "198.51.100.7",
      ]);
    },
  });
  try {
    await f.until(
      () =>
        ["a-nat", "b-nat"].every((n) =>
          conditionOf(f.api.getCsr(n), "Approved") !== undefined
        ),
      10_000,
      "both approved",
    );
    assertEquals(approvalAttempts(f, "a-nat"), 1);
    assertEquals(approvalAttempts(f, "b-nat"), 1);
  } finally {
    await f.stop();
  }
  // Without the flag the same address is contested for both.
  const g = await startFixture({
    async before(api) {
      setNode(api, "node-a", [...A_OWN, nat]);
      setNode(api, "node-b", [...B_OWN, nat]);
      await csr(api, "a-nat", "node-a", ["node-a"], [
        "10.20.0.1",
        "198.51.100.7",
      ]);
    },
  });
  try {
    await g.until(
      () => last(g, "a-nat")?.decision?.reason === "SANContested",
      10_000,
      "contested without the flag",
    );
    assertEquals(approvalAttempts(g, "a-nat"), 0);
  } finally {
    await g.stop();
  }
});

Deno.test("forgery: every occurrence of --protected-cidrs and --protected-names protects", async () => {
  const f = await startFixture({
    flags: [
      "--protected-cidrs",
      "10.30.0.0/16",
      "--protected-cidrs",
      "10.40.0.0/16",
      "--protected-names",
      "api.first.example",
      "--protected-names=api.second.example",
    ],
    async before(api) {
      setNode(api, "node-p", [
        { type: "Hostname", address: "node-p" },
        { type: "InternalIP", address: "10.30.0.5" },
        { type: "InternalIP", address: "10.40.0.5" },
        { type: "InternalIP", address: "10.50.0.5" },
        { type: "InternalDNS", address: "api.first.example" },
        { type: "InternalDNS", address: "api.second.example" },
      ]);
      await csr(api, "first-cidr", "node-p", ["node-p"], ["10.30.0.5"]);
      await csr(api, "second-cidr", "node-p", ["node-p"], ["10.40.0.5"]);
      await csr(api, "first-name", "node-p", ["api.first.example"], [
        "10.50.0.5",
      ]);
      await csr(api, "second-name", "node-p", ["api.second.example"], [
        "10.50.0.5",
      ]);
      await csr(api, "allowed", "node-p", ["node-p"], ["10.50.0.5"]);
    },
  });
  try {
    const refused = ["first-cidr", "second-cidr", "first-name", "second-name"];
    await f.until(
      () =>
        conditionOf(f.api.getCsr("allowed"), "Approved") !== undefined &&
        refused.every((n) => last(f, n)?.decision?.reason === "ProtectedName"),
      10_000,
      "decisions",
    );
    for (const name of refused) {
      assertEquals(approvalAttempts(f, name), 0, name);
    }
  } finally {
    await f.stop();
  }
});

Deno.test("forgery: a Node with a 200,000-character address stalls nothing: CSRs approved in time, /healthz under 100 ms", async () => {
  const hostile = (n: number): Address[] => [
    { type: "Hostname", address: "evil" },
    { type: "InternalIP", address: "10.60.0.1" },
    { type: "InternalDNS", address: `a${".".repeat(200_000)}b${n}` },
    { type: "ExternalDNS", address: `${"x".repeat(200_000)}.` },
  ];
  const f = await startFixture({
    before(api) {
      setNode(api, "evil", hostile(0)); // in the initial list
    },
  });
  try {
    for (let i = 0; (await f.status("/readyz")).status !== 200; i++) {
      assert(i < 500, "ready within 10 s");
      await new Promise((r) => setTimeout(r, 20));
    }
    await f.status("/healthz"); // warm the connection
    const probes: number[] = [];
    for (let i = 1; i <= 10; i++) {
      // A watch event carrying the hostile addresses, then an honest CSR.
      setNode(f.api, "evil", hostile(i));
      setNode(f.api, `honest-${i}`, [
        { type: "Hostname", address: `honest-${i}` },
        { type: "InternalIP", address: `10.61.0.${i}` },
      ]);
      await csr(f.api, `honest-${i}`, `honest-${i}`, [`honest-${i}`], [
        `10.61.0.${i}`,
      ]);
      for (let j = 0; j < 3; j++) {
        const started = performance.now();
        const r = await f.status("/healthz");
        probes.push(performance.now() - started);
        assertEquals(r.status, 200);
        await new Promise((r) => setTimeout(r, 15));
      }
    }
    await f.until(
      () =>
        Array.from({ length: 10 }, (_, i) => `honest-${i + 1}`).every((n) =>
          conditionOf(f.api.getCsr(n), "Approved") !== undefined
        ),
      5_000,
      "honest CSRs approved",
    );
    const worst = Math.max(...probes);
    assert(worst < 100, `slowest /healthz ${worst.toFixed(1)} ms`);
    // The hostile addresses were ignored, counted and logged once for the Node.
    const metrics = parsePrometheus((await f.status("/metrics")).body);
    const ignored = metrics.get(
      "kubelet_rubber_stamp_node_addresses_ignored_total",
    );
    assert(ignored !== undefined && ignored >= 2, `ignored ${ignored}`);
    const warnings = f.logs.filter((l) =>
      l.includes("not valid DNS names or IPs") && l.includes('"node":"evil"')
    );
    assertEquals(warnings.length, 1);
    assert(warnings[0].length < 2_000, "the log line is cut short");
  } finally {
    await f.stop();
  }
});
