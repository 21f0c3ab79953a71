/**
 * The approver's write logic against a fake client: every ReconcileAction,
 * the SubjectAccessReview it sends, the one write it makes (or none), and
 * what it does on 409 (re-read, decide again on the fresh object, give up
 * after `maxConflictRetries`), on 404 and on other failures.
 */
import {
  type ApproverOptions,
  createApprover,
  CSR_PATH,
} from "../../../src/controller/approver.ts";
import type { CertificateSigningRequest } from "../../../src/core/types.ts";
import { createNodeFacts } from "../../../src/core/node_facts.ts";
import { ApiError, isApiError } from "../../../src/kube/client.ts";
import type { KubeClient, KubeRequest } from "../../../src/kube/types.ts";
import { createLogger } from "../../../src/log.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import {
  makeServingCsr,
  type ServingCsrOptions,
} from "../../support/csr_factory.ts";

const SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
// Fixed during the run (CSRs are created "now": older ones are TooOld).
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000 + 678);
const NOW_RFC3339 = NOW.toISOString().replace(/\.\d{3}Z$/, "Z");

type Handler = (req: KubeRequest, n: number) => unknown;

/** A KubeClient that records every request and answers with `handle`. */
function fakeClient(handle: Handler) {
  const requests: KubeRequest[] = [];
  const client: KubeClient = {
    server: "https://fake.invalid",
    request<T>(req: KubeRequest): Promise<T> {
      requests.push(structuredClone(req));
      try {
        return Promise.resolve(handle(req, requests.length - 1) as T);
      } catch (e) {
        return Promise.reject(e);
      }
    },
    stream() {
      throw new Error("the approver never streams");
    },
    close() {},
  };
  const sars = () => requests.filter((r) => r.path === SAR_PATH);
  const puts = () => requests.filter((r) => r.method === "PUT");
  const gets = () => requests.filter((r) => r.method === "GET");
  return { client, requests, sars, puts, gets };
}

function apiError(status: number, reason: string, method = "PUT") {
  return new ApiError({ status, reason, method, path: "/x" });
}

const allowed = { status: { allowed: true } };

/** A server that allows every review and accepts every write. */
const happy: Handler = (req) => {
  if (req.path === SAR_PATH) return allowed;
  if (req.method === "PUT") {
    const body = structuredClone(req.body) as CertificateSigningRequest;
    body.metadata.resourceVersion = String(
      Number(body.metadata.resourceVersion) + 1,
    );
    return body;
  }
  throw new Error(`unexpected ${req.method} ${req.path}`);
};

function approver(client: KubeClient, options: Partial<ApproverOptions> = {}) {
  return createApprover({
    client,
    log: createLogger({ write: () => {} }),
    now: () => NOW,
    ...options,
  });
}

async function csr(
  opts: ServingCsrOptions = {},
): Promise<CertificateSigningRequest> {
  return await makeServingCsr({ name: "csr-1", node: "worker-1", ...opts });
}

const approvalPath = (name: string) => `${CSR_PATH}/${name}/approval`;

Deno.test("approved: one SubjectAccessReview with the requester's user, uid, groups and extra, then one PUT of the validated object's metadata and conditions", async () => {
  const fake = fakeClient(happy);
  const extra = {
    "authentication.kubernetes.io/credential-id": ["X509SHA256=abc"],
    "example.com/scopes": ["a", "b"],
  };
  const object = await csr({
    uid: "9d3c0b4e-0000-4000-8000-000000000001",
    groups: ["system:nodes", "system:authenticated"],
  });
  object.spec.extra = extra;
  object.metadata.resourceVersion = "41";
  object.metadata.labels = { tier: "edge" };
  const result = await approver(fake.client).reconcile(object);
  assertEquals(result.action, "approved");
  assertEquals(result.decision?.reason, "AutoApproved");
  assertEquals(fake.requests.map((r) => `${r.method} ${r.path}`), [
    `POST ${SAR_PATH}`,
    `PUT ${approvalPath("csr-1")}`,
  ]);
  assertEquals(fake.sars()[0].body, {
    apiVersion: "authorization.k8s.io/v1",
    kind: "SubjectAccessReview",
    spec: {
      user: "system:node:worker-1",
      uid: "9d3c0b4e-0000-4000-8000-000000000001",
      groups: ["system:nodes", "system:authenticated"],
      extra,
      resourceAttributes: {
        group: "certificates.k8s.io",
        resource: "certificatesigningrequests",
        verb: "create",
        subresource: "selfnodeserver",
      },
    },
  });
  const body = fake.puts()[0].body as CertificateSigningRequest;
  assertEquals(body.metadata, object.metadata, "the very object, its RV");
  // The server keeps the stored spec on /approval: only the signer goes back.
  assertEquals(body.spec, { signerName: object.spec.signerName });
  assertEquals(body.status?.conditions?.length, 1);
  const [condition] = body.status!.conditions!;
  assertEquals(
    { ...condition, message: undefined },
    {
      type: "Approved",
      status: "True",
      reason: "AutoApproved",
      message: undefined,
      lastUpdateTime: NOW_RFC3339,
    },
  );
  assertMatch(
    condition.message ?? "",
    /^Auto-approved by kubelet-rubber-stamp: /,
  );
  assertEquals(result.object?.metadata.resourceVersion, "42");
});

Deno.test("an approval body for a kubelet's CSR stays under 1 KiB, which Deno's fetch sends in one write", async () => {
  // A body of 1,024 bytes or more goes out in a second write that Nagle's
  // algorithm holds for the server's delayed ACK (~40 ms per approval).
  const fake = fakeClient(happy);
  const object = await csr({
    key: "rsa-2048",
    node: "ip-10-100-200-250.eu-central-1.compute.internal",
    name: "csr-8b2tq",
    dnsNames: ["ip-10-100-200-250.eu-central-1.compute.internal"],
    ipAddresses: ["10.100.200.250", "2001:db8:100:200::250"],
    uid: "9d3c0b4e-0000-4000-8000-000000000001",
    groups: ["system:nodes", "system:authenticated"],
  });
  object.metadata = {
    ...object.metadata,
    uid: "5f0c3e1a-7b2d-4c6e-9f8a-1b2c3d4e5f60",
    resourceVersion: "123456789",
    generateName: "csr-",
  };
  const result = await approver(fake.client).reconcile(object);
  assertEquals(result.action, "approved", result.decision?.message);
  const [put] = fake.puts();
  assert(put !== undefined, "approved and written");
  const bytes = new TextEncoder().encode(JSON.stringify(put.body)).length;
  assert(bytes < 1024, `approval body is ${bytes} bytes`);
  assert(
    new TextEncoder().encode(JSON.stringify(object)).length >= 1024,
    "the whole CSR would not have fitted",
  );
});

Deno.test("the SubjectAccessReview asks for the configured subresource", async () => {
  const fake = fakeClient(happy);
  await approver(fake.client, { subresource: "nodeserving" }).reconcile(
    await csr(),
  );
  const spec = (fake.sars()[0].body as {
    spec: { resourceAttributes: Record<string, string> };
  }).spec;
  assertEquals(spec.resourceAttributes.subresource, "nodeserving");
});

Deno.test("denied: --deny-invalid writes one Denied condition, with no review; without it the CSR is left pending and nothing is sent", async () => {
  const bad = await csr({ uris: ["spiffe://x/y"] });
  const fake = fakeClient(happy);
  const result = await approver(fake.client, { denyInvalid: true }).reconcile(
    bad,
  );
  assertEquals(result.action, "denied");
  assertEquals(fake.requests.map((r) => `${r.method} ${r.path}`), [
    `PUT ${approvalPath("csr-1")}`,
  ]);
  const [condition] = (fake.puts()[0].body as CertificateSigningRequest)
    .status!.conditions!;
  assertEquals(condition.type, "Denied");
  assertEquals(condition.reason, "URISANForbidden");

  const quiet = fakeClient(happy);
  const pending = await approver(quiet.client).reconcile(bad);
  assertEquals(pending.action, "left-pending");
  assertEquals(pending.decision?.reason, "URISANForbidden");
  assertEquals(pending.retry, undefined);
  assertEquals(quiet.requests, []);
});

Deno.test("denied: a requester whose name is only a prefix of the CN (worker-1 asking as worker-10)", async () => {
  const fake = fakeClient(happy);
  const result = await approver(fake.client, { denyInvalid: true }).reconcile(
    await csr({ node: "worker-10", username: "system:node:worker-1" }),
  );
  assertEquals(result.action, "denied");
  assertEquals(result.decision?.reason, "RequesterMismatch");
  assertEquals(fake.sars(), []);
});

Deno.test("left-pending: a review that does not allow it is never written, even with --deny-invalid", async () => {
  const fake = fakeClient((req) =>
    req.path === SAR_PATH
      ? { status: { allowed: false, reason: "no binding" } }
      : happy(req, 0)
  );
  const result = await approver(fake.client, { denyInvalid: true }).reconcile(
    await csr(),
  );
  assertEquals(result.action, "left-pending");
  assertEquals(result.decision?.reason, "Unauthorized");
  assertMatch(result.decision?.message ?? "", /no binding/);
  assertEquals(fake.puts(), []);
  assertEquals(result.retry, undefined);
});

Deno.test("left-pending with retry: a failing review never approves; its Retry-After is kept", async () => {
  const error = new ApiError({
    status: 429,
    reason: "TooManyRequests",
    method: "POST",
    path: SAR_PATH,
    retryAfterSeconds: 3,
  });
  const fake = fakeClient((req) => {
    if (req.path === SAR_PATH) throw error;
    return happy(req, 0);
  });
  const result = await approver(fake.client).reconcile(await csr());
  assertEquals(result.action, "left-pending");
  assertEquals(result.decision?.reason, "AuthorizationError");
  assertEquals(result.retry, true);
  assertEquals(result.retryAfterMs, 3000);
  assertEquals(fake.puts(), []);
});

Deno.test("left-pending: the storm guard holds an approvable CSR back before any review", async () => {
  const fake = fakeClient(happy);
  const result = await approver(fake.client, {
    stormGuard: () => "too many pending",
  }).reconcile(await csr());
  assertEquals(result.action, "left-pending");
  assertEquals(result.decision?.reason, "StormGuard");
  assertEquals(fake.requests, []);
});

Deno.test("ignored: other signers, non-node requesters and decided CSRs (Approved, Denied or Failed) are never reviewed or written", async () => {
  const decided = (type: string) => [{
    type,
    status: "True",
    reason: "X",
    message: "x",
    lastUpdateTime: "2030-01-01T00:00:00Z",
  }];
  const cases: [string, ServingCsrOptions][] = [
    ["NotKubeletServing", { signerName: "example.com/other" }],
    ["NotNodeRequester", { username: "alice", groups: ["devs"] }],
    ["AlreadyDecided", { conditions: decided("Approved") }],
    ["AlreadyDecided", { conditions: decided("Denied") }],
    ["AlreadyDecided", { conditions: decided("Failed") }],
  ];
  for (const [reason, opts] of cases) {
    const fake = fakeClient(happy);
    const result = await approver(fake.client, { denyInvalid: true })
      .reconcile(await csr(opts));
    assertEquals(result.action, "ignored", JSON.stringify(opts));
    assertEquals(result.decision?.reason, reason, JSON.stringify(opts));
    assertEquals(fake.requests, [], JSON.stringify(opts));
  }
});

Deno.test("waiting: no Node yet; nothing is sent and the CSR is requeued for its verdict", async () => {
  const fake = fakeClient(happy);
  const result = await approver(fake.client, {
    nodes: createNodeFacts([]),
    denyInvalid: true,
  }).reconcile(await csr());
  assertEquals(result.action, "waiting");
  assertEquals(result.decision?.reason, "NodeNotFound");
  assert(
    result.requeueAfterMs !== undefined && result.requeueAfterMs > 0,
    `requeued (${result.requeueAfterMs})`,
  );
  assertEquals(fake.requests, []);
});

Deno.test("not-leader: leadership lost while deciding; nothing is written", async () => {
  const fake = fakeClient(happy);
  const result = await approver(fake.client, { mayWrite: () => false })
    .reconcile(await csr());
  assertEquals(result.action, "not-leader");
  assertEquals(fake.puts(), []);
  const denier = fakeClient(happy);
  const denied = await approver(denier.client, {
    mayWrite: () => false,
    denyInvalid: true,
  }).reconcile(await csr({ uris: ["spiffe://x"] }));
  assertEquals(denied.action, "not-leader");
  assertEquals(denier.puts(), []);
});

Deno.test("dry-run: decides approved and denied, writes nothing", async () => {
  const fake = fakeClient(happy);
  const a = approver(fake.client, { dryRun: true, denyInvalid: true });
  assertEquals((await a.reconcile(await csr())).action, "approved");
  assertEquals(
    (await a.reconcile(await csr({ uris: ["spiffe://x"] }))).action,
    "denied",
  );
  assertEquals(fake.puts(), []);
  assertEquals(fake.sars().length, 1, "the approvable one was reviewed");
});

Deno.test("gone: a 404 on the write is final, no re-read", async () => {
  const fake = fakeClient((req) => {
    if (req.method === "PUT") throw apiError(404, "NotFound");
    return happy(req, 0);
  });
  const result = await approver(fake.client).reconcile(await csr());
  assertEquals(result.action, "gone");
  assertEquals(result.retry, undefined);
  assertEquals(fake.puts().length, 1);
  assertEquals(fake.gets(), []);
});

Deno.test("gone: a 409, then a 404 on the re-read", async () => {
  const fake = fakeClient((req) => {
    if (req.method === "PUT") throw apiError(409, "Conflict");
    if (req.method === "GET") throw apiError(404, "NotFound", "GET");
    return happy(req, 0);
  });
  const result = await approver(fake.client).reconcile(await csr());
  assertEquals(result.action, "gone");
  assertEquals(fake.puts().length, 1);
  assertEquals(fake.gets().map((r) => r.path), [`${CSR_PATH}/csr-1`]);
});

Deno.test("a failing re-read after a 409 is retried later, nothing more is written", async () => {
  const fake = fakeClient((req) => {
    if (req.method === "PUT") throw apiError(409, "Conflict");
    if (req.method === "GET") throw apiError(500, "InternalError", "GET");
    return happy(req, 0);
  });
  const result = await approver(fake.client).reconcile(await csr());
  assertEquals(result.action, "left-pending");
  assertEquals(result.retry, true);
  assertEquals(fake.puts().length, 1);
});

Deno.test("another write failure (500) is retried later, not re-read", async () => {
  const fake = fakeClient((req) => {
    if (req.method === "PUT") throw apiError(500, "InternalError");
    return happy(req, 0);
  });
  const result = await approver(fake.client).reconcile(await csr());
  assertEquals(result.action, "left-pending");
  assertEquals(result.retry, true);
  assert(isApiError(result.error, 500), "the write's error");
  assertEquals(fake.puts().length, 1);
  assertEquals(fake.gets(), []);
});

Deno.test("409: the second write is built from the re-read object (its resourceVersion and labels), after a new decision", async () => {
  const stale = await csr();
  stale.metadata.resourceVersion = "10";
  const fresh = structuredClone(stale);
  fresh.metadata.resourceVersion = "11";
  fresh.metadata.labels = { relabelled: "yes" };
  const fake = fakeClient((req, n) => {
    if (req.method === "PUT" && n === 1) throw apiError(409, "Conflict");
    if (req.method === "GET") return structuredClone(fresh);
    return happy(req, n);
  });
  const result = await approver(fake.client).reconcile(stale);
  assertEquals(result.action, "approved");
  assertEquals(fake.requests.map((r) => `${r.method} ${r.path}`), [
    `POST ${SAR_PATH}`,
    `PUT ${approvalPath("csr-1")}`,
    `GET ${CSR_PATH}/csr-1`,
    `POST ${SAR_PATH}`,
    `PUT ${approvalPath("csr-1")}`,
  ]);
  const [first, second] = fake.puts().map((r) =>
    r.body as CertificateSigningRequest
  );
  assertEquals(first.metadata.resourceVersion, "10");
  assertEquals(second.metadata.resourceVersion, "11");
  assertEquals(second.metadata.labels, { relabelled: "yes" });
  assertEquals(second.status?.conditions?.map((c) => c.type), ["Approved"]);
  assertEquals(result.object?.metadata.resourceVersion, "12");
});

Deno.test("409: a fresh object that is already decided is not written again", async () => {
  for (const type of ["Denied", "Approved", "Failed"]) {
    const stale = await csr();
    const fresh = structuredClone(stale);
    fresh.metadata.resourceVersion = "2";
    fresh.status = {
      conditions: [{
        type,
        status: "True",
        reason: "Human",
        message: "by hand",
        lastUpdateTime: "2030-01-01T00:00:00Z",
      }],
    };
    const fake = fakeClient((req) => {
      if (req.method === "PUT") throw apiError(409, "Conflict");
      if (req.method === "GET") return structuredClone(fresh);
      return happy(req, 0);
    });
    const result = await approver(fake.client, { denyInvalid: true })
      .reconcile(stale);
    assertEquals(result.action, "ignored", type);
    assertEquals(result.decision?.reason, "AlreadyDecided", type);
    assertEquals(fake.puts().length, 1, `${type}: only the first attempt`);
    assertEquals(fake.sars().length, 1, `${type}: no second review`);
  }
});

Deno.test("409: gives up to the queue's backoff after maxConflictRetries re-reads", async () => {
  let rv = 1;
  const fake = fakeClient((req) => {
    if (req.method === "PUT") throw apiError(409, "Conflict");
    if (req.method === "GET") {
      return {
        ...base,
        metadata: { ...base.metadata, resourceVersion: String(++rv) },
      };
    }
    return happy(req, 0);
  });
  const base = await csr();
  const result = await approver(fake.client, { maxConflictRetries: 2 })
    .reconcile(base);
  assertEquals(result.action, "left-pending");
  assertEquals(result.retry, true);
  assert(isApiError(result.error, 409), "a 409 error");
  assertEquals(
    fake.puts().map((r) =>
      (r.body as CertificateSigningRequest).metadata.resourceVersion
    ),
    ["1", "2", "3"],
    "one write per fresh object, then give up",
  );
  assert(fake.gets().length >= 2, "re-read after each conflict");
});
