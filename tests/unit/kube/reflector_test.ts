/**
 * The reflector against a scripted client: the paginated list, the watch
 * from the list's resourceVersion, bookmarks moving that version, 410
 * relisting, other failures re-watching from where it was, and the silence
 * watchdog. (A silent connection on the real double: liveness_test.ts.)
 */
import {
  type KubeObject,
  type ReflectorOptions,
  runReflector,
} from "../../../src/kube/reflector.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import {
  apiError,
  createFakeClient,
  type FakeClient,
  listOf,
} from "../../support/fake_client.ts";
import { until } from "../../support/until.ts";

const PATH = "/api/v1/nodes";
const obj = (name: string, resourceVersion: string): KubeObject => ({
  metadata: { name, resourceVersion },
});

/** A reflector over PATH recording what its handler and hooks saw. */
function start(
  client: FakeClient,
  options: Partial<ReflectorOptions<KubeObject>> = {},
) {
  const seen: string[] = [];
  const restarts: string[] = [];
  const errors: string[] = [];
  let synced = 0;
  const ac = new AbortController();
  const done = runReflector<KubeObject>({
    client,
    path: PATH,
    signal: ac.signal,
    handler: {
      replace: (items, rv) =>
        seen.push(`replace ${items.map((i) => i.metadata.name)} @${rv}`),
      added: (o) => seen.push(`added ${o.metadata.name}`),
      modified: (o) => seen.push(`modified ${o.metadata.name}`),
      deleted: (o) => seen.push(`deleted ${o.metadata.name}`),
    },
    backoff: { initialMs: 1, maxMs: 2 },
    random: () => 0,
    watchTimeoutSeconds: () => 60,
    onRestart: (kind, cause) => restarts.push(`${kind}:${cause}`),
    onError: (phase, e) => errors.push(`${phase}: ${(e as Error).message}`),
    onSynced: () => synced++,
    ...options,
  });
  return {
    seen,
    restarts,
    errors,
    synced: () => synced,
    async stop() {
      ac.abort();
      await done;
    },
  };
}

const lists = (client: FakeClient) =>
  client.requests.filter((r) => r.method === "GET" && r.path === PATH);

Deno.test("reflector: lists page by page with `continue`, hands over one snapshot, then watches from its resourceVersion", async () => {
  const client = createFakeClient({
    handle: (req) => {
      switch (req.query?.continue) {
        case undefined:
          return listOf([obj("a", "3")], "5", "page-2");
        case "page-2":
          return listOf([obj("b", "4")], "7", "page-3");
        default:
          return listOf([obj("c", "6")], "9");
      }
    },
  });
  const r = start(client, { pageSize: 1, fieldSelector: "spec.x=y" });
  const watch = await client.nextWatch();
  await r.stop();

  assertEquals(
    lists(client).map((q) => [q.query?.limit, q.query?.continue]),
    [[1, undefined], [1, "page-2"], [1, "page-3"]],
  );
  assertEquals(lists(client)[0].query?.fieldSelector, "spec.x=y");
  assertEquals(r.seen, ["replace a,b,c @9"], "one replace, the last page's rv");
  assertEquals(r.synced(), 1);
  assertEquals(watch.request.path, PATH);
  assertEquals(watch.request.query, {
    fieldSelector: "spec.x=y",
    labelSelector: undefined,
    watch: 1,
    resourceVersion: "9",
    allowWatchBookmarks: true,
    timeoutSeconds: 60,
  });
  assertEquals(r.restarts, ["relist:initial"]);
  assert(watch.closed(), "aborting closes the watch");
});

Deno.test("reflector: watch events reach the handler and a bookmark moves the resourceVersion the next watch starts from", async () => {
  const client = createFakeClient({ handle: () => listOf([], "10") });
  const r = start(client);
  const first = await client.nextWatch();
  first.send("ADDED", obj("a", "11"));
  first.send("MODIFIED", obj("a", "12"));
  first.send("DELETED", obj("a", "13"));
  first.send("BOOKMARK", { metadata: { resourceVersion: "20" } });
  first.end();
  const second = await client.nextWatch();
  await r.stop();

  assertEquals(r.seen, [
    "replace  @10",
    "added a",
    "modified a",
    "deleted a",
  ], "a bookmark calls no handler");
  assertEquals(second.request.query?.resourceVersion, "20");
  assertEquals(lists(client).length, 1, "a clean end re-watches, no relist");
  assertEquals(r.restarts, ["relist:initial", "watch:closed"]);
  assertEquals(r.errors, [], "a clean end after events is no failure");
});

Deno.test("reflector: 410 Expired, as an ERROR event or at watch open, relists and watches from the new list", async () => {
  let listRv = 10;
  let refuseNextWatch = false;
  const client = createFakeClient({
    handle: () => listOf([obj("a", String(listRv))], String(listRv++)),
    beforeWatch: () => {
      if (refuseNextWatch) {
        refuseNextWatch = false;
        throw apiError(410, "Expired", PATH);
      }
    },
  });
  const r = start(client);
  const first = await client.nextWatch();
  first.send("ADDED", obj("b", "15"));
  refuseNextWatch = true;
  first.send("ERROR", {
    kind: "Status",
    code: 410,
    reason: "Expired",
    message: "too old resource version: 15 (30)",
  });
  const next = await client.nextWatch();
  await r.stop();

  assertEquals(r.restarts, [
    "relist:initial",
    "relist:expired",
    "relist:expired",
  ]);
  assertEquals(lists(client).length, 3);
  assertEquals(next.request.query?.resourceVersion, "12");
  assertEquals(
    r.seen.filter((s) => s.startsWith("replace")),
    ["replace a @10", "replace a @11", "replace a @12"],
  );
  assertEquals(r.synced(), 1, "synced once, not on every relist");
  assertMatch(r.errors[0], /410 Expired: too old resource version/);
});

Deno.test("reflector: other watch failures re-watch from the last resourceVersion seen, without relisting", async () => {
  const client = createFakeClient({ handle: () => listOf([], "10") });
  const r = start(client);
  const first = await client.nextWatch();
  first.send("ADDED", obj("a", "11"));
  first.send("ERROR", { kind: "Status", code: 500, reason: "InternalError" });
  const second = await client.nextWatch();
  second.send("MODIFIED", obj("a", "12"));
  second.sendLine("{not json");
  const third = await client.nextWatch();
  third.send("ADDED", obj("b", "13"));
  third.fail(new TypeError("connection reset"));
  const fourth = await client.nextWatch();
  await r.stop();

  assertEquals(
    [second, third, fourth].map((w) => w.request.query?.resourceVersion),
    ["11", "12", "13"],
  );
  assertEquals(lists(client).length, 1);
  assertEquals(r.restarts, [
    "relist:initial",
    "watch:error",
    "watch:malformed",
    "watch:error",
  ]);
  assertEquals(r.errors.length, 3);
  assertMatch(r.errors[2], /connection reset/);
});

Deno.test("reflector: a watch that closes at once with nothing in it counts as a failure", async () => {
  const client = createFakeClient({ handle: () => listOf([], "10") });
  const r = start(client);
  (await client.nextWatch()).end();
  const second = await client.nextWatch();
  await r.stop();
  assertEquals(r.restarts, ["relist:initial", "watch:closed"]);
  assertEquals(r.errors, ["watch: watch closed within 1s with no events"]);
  assertEquals(second.request.query?.resourceVersion, "10");
});

Deno.test("reflector: a failed list (or one without resourceVersion) is retried after backoff; nothing is replaced meanwhile", async () => {
  let calls = 0;
  const client = createFakeClient({
    handle: () => {
      calls++;
      if (calls === 1) throw apiError(503, "ServiceUnavailable", PATH);
      if (calls === 2) return { items: [obj("a", "1")] };
      return listOf([obj("a", "1")], "8");
    },
  });
  const r = start(client);
  const watch = await client.nextWatch();
  await r.stop();
  assertEquals(r.restarts, ["relist:initial", "relist:error", "relist:error"]);
  assertEquals(r.errors.length, 2);
  assertMatch(r.errors[1], /returned no metadata\.resourceVersion/);
  assertEquals(r.seen, ["replace a @8"]);
  assertEquals(watch.request.query?.resourceVersion, "8");
});

Deno.test("reflector: the watchdog abandons a watch silent for maxWatchSilenceMs, whatever its timeout, and resumes from where it was", async () => {
  const client = createFakeClient({ handle: () => listOf([], "10") });
  const r = start(client, {
    maxWatchSilenceMs: 500,
    watchTimeoutSeconds: () => 300,
    watchGraceMs: 30_000,
  });
  const first = await client.nextWatch();
  const opened = Date.now();
  // Lines keep it alive: each one re-arms the watchdog.
  for (let i = 0; i < 12; i++) {
    await new Promise((res) => setTimeout(res, 50));
    first.send("BOOKMARK", { metadata: { resourceVersion: `${11 + i}` } });
  }
  assertEquals(r.restarts, ["relist:initial"], "alive while lines arrive");
  await until(() => first.closed(), 5_000, "the silent watch to be abandoned");
  const silentFor = Date.now() - opened;
  const second = await client.nextWatch();
  await r.stop();

  assert(silentFor >= 600 + 500, `abandoned after ${silentFor}ms`);
  assert(silentFor < 5_000, "not after the 300 s timeout");
  assertEquals(r.restarts, ["relist:initial", "watch:stalled"]);
  assertEquals(r.errors, ["watch: watch silent for 500ms"]);
  assertEquals(second.request.query?.resourceVersion, "22");
  assertEquals(lists(client).length, 1, "a stall re-watches, no relist");
});

Deno.test("reflector: the silence tolerated is the timeout plus grace when that is shorter than maxWatchSilenceMs", async () => {
  const client = createFakeClient({ handle: () => listOf([], "10") });
  const r = start(client, {
    watchTimeoutSeconds: () => 0,
    watchGraceMs: 100,
    maxWatchSilenceMs: 60_000,
  });
  const first = await client.nextWatch();
  await until(() => first.closed(), 5_000, "the watch to be abandoned");
  await client.nextWatch();
  await r.stop();
  assertEquals(r.errors, ["watch: watch silent for 100ms"]);
});
