/**
 * The Lease lock against a fake client: what each call sends, what it
 * remembers, and that every update carries the resourceVersion last seen.
 */
import { ApiError } from "../../../src/kube/errors.ts";
import { createLeaseLock, type Lease } from "../../../src/kube/lease_lock.ts";
import type { KubeClient, KubeRequest } from "../../../src/kube/types.ts";
import { assert, assertEquals } from "../../support/assert.ts";

const PATH =
  "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/my%20lock";

/** A client answering each request with the next scripted answer (an Error is thrown). */
function fakeClient(answers: unknown[]) {
  const sent: KubeRequest[] = [];
  const client: KubeClient = {
    server: "https://fake",
    request<T>(req: KubeRequest): Promise<T> {
      sent.push(req);
      const answer = answers.shift();
      return answer instanceof Error
        ? Promise.reject(answer)
        : Promise.resolve(answer as T);
    },
    stream: () => Promise.reject(new Error("no streams")),
    close() {},
  };
  return { client, sent };
}

const lease = (resourceVersion: string, holderIdentity: string): Lease => ({
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  metadata: { name: "my lock", namespace: "kube-system", resourceVersion },
  spec: { holderIdentity, leaseDurationSeconds: 15 },
});

Deno.test("lease lock: get remembers the Lease; update PUTs it with its resourceVersion", async () => {
  const { client, sent } = fakeClient([
    lease("7", "other"),
    lease("8", "me"),
  ]);
  const lock = createLeaseLock({
    client,
    namespace: "kube-system",
    name: "my lock",
  });
  assertEquals(lock.describe, "kube-system/my lock");
  assertEquals(lock.current(), undefined);
  const signal = new AbortController().signal;
  assertEquals(
    await lock.get({ signal, timeoutMs: 1_000 }),
    lease("7", "other"),
  );
  assertEquals(sent[0], {
    method: "GET",
    path: PATH,
    signal,
    timeoutMs: 1_000,
  });
  const written = await lock.update(
    { holderIdentity: "me", leaseDurationSeconds: 15 },
    { timeoutMs: 500 },
  );
  assertEquals(written, lease("8", "me"));
  assertEquals(sent[1].method, "PUT");
  assertEquals(sent[1].path, PATH);
  assertEquals(sent[1].timeoutMs, 500);
  assertEquals(sent[1].body, {
    ...lease("7", "other"),
    spec: { holderIdentity: "me", leaseDurationSeconds: 15 },
  });
  assertEquals(lock.current(), lease("8", "me"));
});

Deno.test("lease lock: create POSTs to the collection; an odd answer is not remembered", async () => {
  const { client, sent } = fakeClient([
    "not a lease",
    lease("1", "me"),
    { metadata: null },
  ]);
  const lock = createLeaseLock({ client, namespace: "ns", name: "l" });
  assertEquals(await lock.get({ timeoutMs: 1 }), undefined);
  assertEquals(lock.current(), undefined);
  await lock.create({ holderIdentity: "me" }, { timeoutMs: 1 });
  assertEquals(sent[1].method, "POST");
  assertEquals(
    sent[1].path,
    "/apis/coordination.k8s.io/v1/namespaces/ns/leases",
  );
  assertEquals(sent[1].body, {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name: "l", namespace: "ns" },
    spec: { holderIdentity: "me" },
  });
  assertEquals(lock.current(), lease("1", "me"));
  assertEquals(await lock.get({ timeoutMs: 1 }), undefined);
  assertEquals(lock.current(), lease("1", "me")); // the last good one stays
});

Deno.test("lease lock: the client's errors pass through; update needs a Lease first", async () => {
  const missing = new ApiError({
    method: "GET",
    path: PATH,
    status: 404,
    reason: "NotFound",
  });
  const { client, sent } = fakeClient([missing]);
  const lock = createLeaseLock({ client, namespace: "ns", name: "l" });
  let thrown: unknown;
  try {
    await lock.get({ timeoutMs: 1 });
  } catch (e) {
    thrown = e;
  }
  assert(thrown === missing, "the 404 itself");
  thrown = undefined;
  try {
    await lock.update({ holderIdentity: "me" }, { timeoutMs: 1 });
  } catch (e) {
    thrown = e;
  }
  assert(thrown instanceof Error, "update without a Lease throws");
  assertEquals(sent.length, 1); // and sends nothing
});
