/**
 * The Node address cache against a scripted client: it keeps name →
 * addresses and an owners index in canonical form, says when a Node's
 * addresses change (and only then), forgets Nodes that go, and reports
 * addresses that give no ownership once per Node.
 */
import { startNodeCache, trimNode } from "../../../src/controller/nodes.ts";
import { createLogger } from "../../../src/log.ts";
import { assert, assertEquals } from "../../support/assert.ts";
import {
  createFakeClient,
  type FakeWatch,
  listOf,
} from "../../support/fake_client.ts";
import { until } from "../../support/until.ts";

type Address = { type: string; address: string };
const node = (name: string, rv: string, addresses: Address[]) => ({
  metadata: { name, resourceVersion: rv },
  status: { addresses },
});
const ip = (address: string) => ({ type: "InternalIP", address });
const host = (address: string) => ({ type: "Hostname", address });

async function start(items: unknown[]) {
  let list = items;
  const client = createFakeClient({ handle: () => listOf(list, "100") });
  const changes: string[] = [];
  const ignored: string[] = [];
  const logs: string[] = [];
  const ac = new AbortController();
  const cache = startNodeCache({
    client,
    log: createLogger({ format: "json", write: (l) => logs.push(l) }),
    signal: ac.signal,
    onChange: (name) => changes.push(name),
    onIgnoredAddresses: (name, n) => ignored.push(`${name}:${n}`),
    backoff: { initialMs: 1, maxMs: 2 },
    watchTimeoutSeconds: () => 60,
  });
  const watch: FakeWatch = await client.nextWatch();
  return {
    client,
    cache,
    watch,
    changes,
    ignored,
    logs,
    relistWith(next: unknown[]) {
      list = next;
    },
    async [Symbol.asyncDispose]() {
      ac.abort();
      await cache.done;
    },
  };
}

Deno.test("nodes: the first list fills the cache and the owners index in canonical form", async () => {
  await using n = await start([
    node("a", "1", [host("Worker-A.example"), ip("10.0.0.1")]),
    node("b", "2", [ip("fd00::0001"), ip("10.0.0.1"), host("::ffff:10.0.0.2")]),
  ]);
  await n.cache.whenSynced();
  assert(n.cache.synced());
  assertEquals(n.cache.size(), 2);
  assertEquals(n.cache.addressesOf("a"), [
    host("Worker-A.example"),
    ip("10.0.0.1"),
  ]);
  assertEquals(n.cache.addressesOf("ghost"), undefined);
  assertEquals(n.cache.ownersOf("dns", "worker-a.example"), ["a"]);
  assertEquals(n.cache.ownersOf("ip", "10.0.0.1"), ["a", "b"]);
  assertEquals(n.cache.ownersOf("ip", "fd00::1"), ["b"]);
  assertEquals(n.cache.ownersOf("ip", "10.0.0.2"), ["b"], "v4-mapped folded");
  assertEquals(n.changes, ["a", "b"]);
});

Deno.test("nodes: a change of addresses moves the index and is said; the same addresses again are not", async () => {
  await using n = await start([node("a", "1", [ip("10.0.0.1")])]);
  await n.cache.whenSynced();
  n.watch.send("MODIFIED", node("a", "2", [ip("10.0.0.1")]));
  n.watch.send("MODIFIED", node("a", "3", [ip("10.0.0.9")]));
  await until(() => n.changes.length === 2, 5_000, "the second change");
  assertEquals(n.changes, ["a", "a"], "a heartbeat (same addresses) is silent");
  assertEquals(n.cache.ownersOf("ip", "10.0.0.1"), []);
  assertEquals(n.cache.ownersOf("ip", "10.0.0.9"), ["a"]);

  n.watch.send("ADDED", node("b", "4", [ip("10.0.0.9")]));
  n.watch.send("DELETED", node("a", "5", [ip("10.0.0.9")]));
  await until(() => n.changes.length === 4, 5_000, "b added, a deleted");
  assertEquals(n.changes, ["a", "a", "b", "a"]);
  assertEquals(n.cache.addressesOf("a"), undefined);
  assertEquals(n.cache.ownersOf("ip", "10.0.0.9"), ["b"]);
  assertEquals(n.cache.size(), 1);
});

Deno.test("nodes: a relist forgets the Nodes it no longer lists", async () => {
  await using n = await start([
    node("a", "1", [ip("10.0.0.1")]),
    node("b", "2", [ip("10.0.0.2")]),
  ]);
  await n.cache.whenSynced();
  n.relistWith([node("b", "2", [ip("10.0.0.2")])]);
  n.watch.send("ERROR", { kind: "Status", code: 410, reason: "Expired" });
  await n.client.nextWatch();
  assertEquals(n.cache.size(), 1);
  assertEquals(n.cache.addressesOf("a"), undefined);
  assertEquals(n.cache.ownersOf("ip", "10.0.0.1"), []);
  assertEquals(n.changes, ["a", "b", "a"], "b unchanged: not said again");
});

Deno.test("nodes: malformed entries are dropped; addresses that give no ownership are counted each time and logged once per Node", async () => {
  const bad = [ip("not-an-ip"), host("under_score..")];
  await using n = await start([
    node("a", "1", [
      ...bad,
      ip("10.0.0.1"),
      { type: 7, address: "10.0.0.3" } as unknown as Address,
      { type: "InternalIP" } as unknown as Address,
    ]),
  ]);
  await n.cache.whenSynced();
  assertEquals(n.cache.addressesOf("a"), [...bad, ip("10.0.0.1")]);
  assertEquals(n.cache.ownersOf("ip", "10.0.0.3"), []);
  n.watch.send("MODIFIED", node("a", "2", [...bad, ip("10.0.0.2")]));
  await until(() => n.ignored.length === 2, 5_000, "the second report");
  assertEquals(n.ignored, ["a:2", "a:2"]);
  const warnings = n.logs.filter((l) => l.includes("give it no ownership"));
  assertEquals(warnings.length, 1, "one warning per Node");
  assertEquals(JSON.parse(warnings[0]).node, "a");
  assertEquals(JSON.parse(warnings[0]).ignored, 2);

  // Fixed, then broken again: said again.
  n.watch.send("MODIFIED", node("a", "3", [ip("10.0.0.2")]));
  n.watch.send("MODIFIED", node("a", "4", [ip("bad")]));
  await until(() => n.ignored.length === 3, 5_000, "the third report");
  assertEquals(
    n.logs.filter((l) => l.includes("give it no ownership")).length,
    2,
  );
});

Deno.test("nodes: trimNode keeps the name, resourceVersion and addresses only; an odd shape passes as it is", () => {
  const addresses = [{ type: "InternalIP", address: "10.0.0.1" }];
  assertEquals(
    trimNode({
      metadata: {
        name: "n1",
        resourceVersion: "5",
        managedFields: [{ manager: "kubelet" }],
        labels: { a: "b" },
      },
      spec: { podCIDR: "10.1.0.0/24" },
      status: { addresses, images: [{ names: ["x"] }], conditions: [] },
    } as never),
    { metadata: { name: "n1", resourceVersion: "5" }, status: { addresses } },
  );
  assertEquals(
    trimNode({ metadata: { name: "n2" } } as never),
    { metadata: { name: "n2", resourceVersion: undefined } },
  );
  const odd = { metadata: "nope" } as never;
  assert(trimNode(odd) === odd);
  assertEquals(
    trimNode({ metadata: { name: "n3" }, status: "x" } as never),
    { metadata: { name: "n3", resourceVersion: undefined } },
  );
});
