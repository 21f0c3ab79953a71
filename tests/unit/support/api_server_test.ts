/**
 * The API server double, exercised with plain `fetch` the way a client
 * sees it: status codes, Status bodies, resourceVersion semantics, watch
 * streams, validation, admission and fault injection.
 */
import {
  type ApiServer,
  type ApiServerOptions,
  microTime,
  startApiServer,
} from "../../support/api_server.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import { makeServingCsr } from "../../support/csr_factory.ts";
import type { CertificateSigningRequest } from "../../../src/core/types.ts";

const CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
const NODES = "/api/v1/nodes";
const LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";
const EVENTS_V1 = "/apis/events.k8s.io/v1/namespaces/default/events";
const CORE_EVENTS = "/api/v1/namespaces/default/events";
const SERVING = "kubernetes.io/kubelet-serving";

interface Harness {
  server: ApiServer;
  /** fetch against the server with a bearer token (default admin) and JSON body. */
  call(
    path: string,
    init?: {
      method?: string;
      body?: unknown;
      token?: string | null;
      contentType?: string;
    },
  ): Promise<Response>;
  /** call + parse JSON. */
  json<T = Record<string, unknown>>(
    path: string,
    init?: {
      method?: string;
      body?: unknown;
      token?: string | null;
      contentType?: string;
    },
  ): Promise<{ status: number; body: T; headers: Headers }>;
}

async function withServer(
  options: ApiServerOptions,
  fn: (h: Harness) => Promise<void>,
): Promise<void> {
  const server = await startApiServer(options);
  const client = Deno.createHttpClient({
    caCerts: server.caPem ? [server.caPem] : [],
  });
  const call: Harness["call"] = (path, init = {}) => {
    const headers: Record<string, string> = {};
    const token = init.token === undefined ? "admin-token" : init.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (init.body !== undefined) {
      body = typeof init.body === "string"
        ? init.body
        : JSON.stringify(init.body);
      headers["content-type"] = init.contentType ?? "application/json";
    }
    return fetch(server.url + path, {
      client,
      method: init.method ?? "GET",
      headers,
      body,
    });
  };
  const json: Harness["json"] = async (path, init) => {
    const res = await call(path, init);
    const text = await res.text();
    return {
      status: res.status,
      body: text ? JSON.parse(text) : undefined,
      headers: res.headers,
    };
  };
  try {
    await fn({ server, call, json });
  } finally {
    client.close();
    await server.stop();
  }
}

/** Resolves with the promise, or rejects after `ms` (the timer is always cleared). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`timed out after ${ms} ms waiting for ${what}`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

interface WatchReader {
  /** Next complete line; `null` at a clean end of stream (a trailing partial line is returned as is). */
  line(ms?: number): Promise<string | null>;
  event(
    ms?: number,
  ): Promise<{ type: string; object: Record<string, unknown> }>;
  close(): Promise<void>;
}

function watchReader(res: Response): WatchReader {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let done = false;
  const line = async (ms = 3000): Promise<string | null> => {
    while (!buf.includes("\n")) {
      if (done) {
        const rest = buf;
        buf = "";
        return rest === "" ? null : rest;
      }
      const r = await within(reader.read(), ms, "a watch line");
      if (r.done) done = true;
      else buf += r.value;
    }
    const i = buf.indexOf("\n");
    const l = buf.slice(0, i);
    buf = buf.slice(i + 1);
    return l;
  };
  return {
    line,
    async event(ms) {
      const l = await line(ms);
      assert(l !== null, "expected a watch event, the stream ended");
      return JSON.parse(l);
    },
    async close() {
      await reader.cancel().catch(() => {});
    },
  };
}

async function requestB64(node = "worker-1"): Promise<string> {
  return (await makeServingCsr({ node })).spec.request;
}

function csrBody(
  name: string,
  request: string,
  extra: Record<string, unknown> = {},
) {
  return {
    apiVersion: "certificates.k8s.io/v1",
    kind: "CertificateSigningRequest",
    metadata: { name },
    spec: {
      request,
      signerName: SERVING,
      usages: ["digital signature", "server auth"],
      ...extra,
    },
  };
}

async function seedCsrs(
  server: ApiServer,
  names: string[],
  signerName = SERVING,
) {
  const base = await makeServingCsr();
  // Stored through the handle: these tests are about reading (lists,
  // watches, selectors), and create is tested on its own below.
  for (const name of names) {
    server.createCsr({
      ...base,
      metadata: { name },
      spec: { ...base.spec, signerName },
    });
  }
}

// ------------------------------------------------------------------ auth

Deno.test("authentication: missing or unknown tokens get 401 Unauthorized; rotated tokens apply at once", async () => {
  await withServer({}, async ({ server, json }) => {
    const cases: { token: string | null; status: number }[] = [
      { token: null, status: 401 },
      { token: "wrong", status: 401 },
      { token: "admin-token", status: 200 },
    ];
    for (const c of cases) {
      const r = await json(CSRS, { token: c.token });
      assertEquals(r.status, c.status, `token ${c.token}`);
      if (c.status === 401) {
        assertEquals(r.body, {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: "Unauthorized",
          reason: "Unauthorized",
          code: 401,
        });
      }
    }
    server.setTokens({ "new-token": { username: "approver" } });
    assertEquals((await json(CSRS, { token: "admin-token" })).status, 401);
    assertEquals((await json(CSRS, { token: "new-token" })).status, 200);
    assertEquals(server.requests.at(-1)?.groups, ["system:authenticated"]);
  });
});

Deno.test("authorization: a denied request gets the apiserver's 403 Status", async () => {
  await withServer({
    authorize: (a) => !(a.verb === "list" && a.resource === "nodes"),
  }, async ({ json }) => {
    const r = await json(NODES);
    assertEquals(r.status, 403);
    assertEquals(r.body.reason, "Forbidden");
    assertEquals(
      r.body.message,
      'nodes is forbidden: User "admin" cannot list resource "nodes" in API group "" at the cluster scope',
    );
    assertEquals(r.body.details, { kind: "nodes" });
  });
});

// ------------------------------------------------------------------ list

Deno.test("list: limit/continue pages form one snapshot at the list RV; an expired token is 410 with a fresh token", async () => {
  await withServer({}, async ({ server, json }) => {
    await seedCsrs(server, ["a", "b", "c", "d", "e"]);
    const p1 = await json<
      {
        metadata: Record<string, unknown>;
        items: { metadata: { name: string } }[];
      }
    >(
      `${CSRS}?limit=2`,
    );
    assertEquals(p1.status, 200);
    assertEquals(p1.body.items.map((i) => i.metadata.name), ["a", "b"]);
    assertEquals(p1.body.metadata.remainingItemCount, 3);
    const listRv = p1.body.metadata.resourceVersion;
    assertEquals(listRv, server.currentResourceVersion());
    // Changes after the first page must not show in later pages.
    await seedCsrs(server, ["bb"]);
    server.deleteCsr("e");
    const names = p1.body.items.map((i) => i.metadata.name);
    let token = p1.body.metadata.continue as string;
    while (token) {
      const p = await json<typeof p1.body>(
        `${CSRS}?limit=2&continue=${encodeURIComponent(token)}`,
      );
      assertEquals(p.status, 200);
      assertEquals(p.body.metadata.resourceVersion, listRv);
      names.push(...p.body.items.map((i) => i.metadata.name));
      token = p.body.metadata.continue as string;
    }
    assertEquals(names, ["a", "b", "c", "d", "e"]);
    // Items carry no TypeMeta in a list, like the real apiserver.
    assertEquals((p1.body.items[0] as Record<string, unknown>).kind, undefined);

    const again = await json<typeof p1.body>(`${CSRS}?limit=2`);
    // etcd compaction past the token's revision.
    await seedCsrs(server, ["later"]);
    server.compact();
    const gone = await json(
      `${CSRS}?limit=2&continue=${
        encodeURIComponent(again.body.metadata.continue as string)
      }`,
    );
    assertEquals(gone.status, 410);
    assertEquals(gone.body.reason, "Expired");
    assertMatch(
      String(gone.body.message),
      /^The provided continue parameter is too old/,
    );
    const fresh = (gone.body.metadata as { continue?: string }).continue;
    assert(
      fresh,
      "a 410 for a continue token carries an inconsistent continue token",
    );
    const rest = await json<typeof p1.body>(
      `${CSRS}?limit=10&continue=${encodeURIComponent(fresh)}`,
    );
    assertEquals(rest.body.items.map((i) => i.metadata.name), [
      "bb",
      "c",
      "d",
      "later",
    ]);
  });
});

Deno.test("list: resourceVersion semantics (exact, not-older-than, too large, too old, invalid options)", async () => {
  await withServer({ watchCacheSize: 2 }, async ({ server, json }) => {
    await seedCsrs(server, ["a"]);
    const rvA = Number(server.currentResourceVersion());
    await seedCsrs(server, ["b"]);
    const cases: {
      query: string;
      status: number;
      names?: string[];
      check?: (b: Record<string, unknown>) => void;
    }[] = [
      {
        query: `resourceVersion=${rvA}&resourceVersionMatch=Exact`,
        status: 200,
        names: ["a"],
      },
      { query: `resourceVersion=${rvA}&limit=10`, status: 200, names: ["a"] },
      { query: `resourceVersion=${rvA}`, status: 200, names: ["a", "b"] },
      { query: "resourceVersion=0", status: 200, names: ["a", "b"] },
      {
        query: "resourceVersion=99999",
        status: 504,
        check: (b) =>
          assertEquals(
            b.message,
            `Timeout: Too large resource version: 99999, current: ${rvA + 1}`,
          ),
      },
      {
        query: "resourceVersionMatch=Exact",
        status: 422,
        check: (b) =>
          assertEquals(
            b.message,
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
          ),
      },
    ];
    for (const c of cases) {
      const r = await json<{ items: { metadata: { name: string } }[] }>(
        `${CSRS}?${c.query}`,
      );
      assertEquals(r.status, c.status, c.query);
      if (c.names) {
        assertEquals(
          r.body.items.map((i) => i.metadata.name),
          c.names,
          c.query,
        );
      }
      c.check?.(r.body as unknown as Record<string, unknown>);
    }
    // Three more writes push rvA out of a 2-event history.
    await seedCsrs(server, ["c", "d", "e"]);
    const old = await json(
      `${CSRS}?resourceVersion=${rvA}&resourceVersionMatch=Exact`,
    );
    assertEquals(old.status, 410);
    assertEquals(
      old.body.message,
      "The resourceVersion for the provided list is too old.",
    );
  });
});

Deno.test("list: fieldSelector filters on spec.signerName and metadata.name; other labels are 400", async () => {
  await withServer({}, async ({ server, json }) => {
    await seedCsrs(server, ["s1", "s2"]);
    await seedCsrs(
      server,
      ["c1"],
      "kubernetes.io/kube-apiserver-client-kubelet",
    );
    const cases: {
      selector: string;
      status: number;
      names?: string[];
      message?: string;
    }[] = [
      {
        selector: `spec.signerName=${SERVING}`,
        status: 200,
        names: ["s1", "s2"],
      },
      { selector: `spec.signerName!=${SERVING}`, status: 200, names: ["c1"] },
      { selector: "metadata.name=s2", status: 200, names: ["s2"] },
      {
        selector: `metadata.name==s1,spec.signerName=${SERVING}`,
        status: 200,
        names: ["s1"],
      },
      {
        selector: "spec.username=x",
        status: 400,
        message: "field label not supported: spec.username",
      },
      {
        selector: "nonsense",
        status: 400,
        message: "invalid selector: 'nonsense'; can't understand 'nonsense'",
      },
    ];
    for (const c of cases) {
      const r = await json<
        { items: { metadata: { name: string } }[]; message: string }
      >(
        `${CSRS}?fieldSelector=${encodeURIComponent(c.selector)}`,
      );
      assertEquals(r.status, c.status, c.selector);
      if (c.names) {
        assertEquals(
          r.body.items.map((i) => i.metadata.name),
          c.names,
          c.selector,
        );
      }
      if (c.message) assertEquals(r.body.message, c.message, c.selector);
    }
    // A label selector works too (and never crashes).
    const labelled = await json<{ items: unknown[] }>(
      `${CSRS}?labelSelector=${encodeURIComponent("app in (x),!legacy")}`,
    );
    assertEquals(labelled.status, 200);
    assertEquals(labelled.body.items.length, 0);
  });
});

// ----------------------------------------------------------------- watch

Deno.test("watch from the list RV gets only later events, in order, with their RVs", async () => {
  await withServer({}, async ({ server, call, json }) => {
    await seedCsrs(server, ["old"]);
    const list = await json<{ metadata: { resourceVersion: string } }>(CSRS);
    const res = await call(
      `${CSRS}?watch=1&resourceVersion=${list.body.metadata.resourceVersion}`,
    );
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("content-type"), "application/json");
    const w = watchReader(res);
    try {
      await seedCsrs(server, ["new"]);
      const csr = server.getCsr("new")!;
      server.updateCsr({
        ...csr,
        status: { conditions: [{ type: "Approved", status: "True" }] },
      });
      server.deleteCsr("new");
      const got = [await w.event(), await w.event(), await w.event()];
      assertEquals(got.map((e) => e.type), ["ADDED", "MODIFIED", "DELETED"]);
      assertEquals(
        got.map((e) => (e.object.metadata as { name: string }).name),
        ["new", "new", "new"],
      );
      const rvs = got.map((e) =>
        Number(
          (e.object.metadata as { resourceVersion: string }).resourceVersion,
        )
      );
      assert(rvs[0] < rvs[1] && rvs[1] < rvs[2], `increasing RVs, got ${rvs}`);
      assertEquals(String(rvs[2]), server.currentResourceVersion());
      assertEquals(got[0].object.kind, "CertificateSigningRequest");
    } finally {
      await w.close();
    }
  });
});

Deno.test("watch from RV 0 starts with synthetic ADDED events for the current state", async () => {
  await withServer({}, async ({ server, call }) => {
    await seedCsrs(server, ["x", "y"]);
    await seedCsrs(server, ["z"], "example.com/other");
    const w = watchReader(
      await call(
        `${CSRS}?watch=true&resourceVersion=0&fieldSelector=spec.signerName%3D${
          encodeURIComponent(SERVING)
        }`,
      ),
    );
    try {
      const got = [await w.event(), await w.event()];
      assertEquals(
        got.map((e) => [e.type, (e.object.metadata as { name: string }).name]),
        [["ADDED", "x"], ["ADDED", "y"]],
      );
      await seedCsrs(server, ["w"], "example.com/other");
      await seedCsrs(server, ["v"]);
      const next = await w.event();
      assertEquals(
        [next.type, (next.object.metadata as { name: string }).name],
        ["ADDED", "v"],
      );
    } finally {
      await w.close();
    }
  });
});

Deno.test("watch: bookmarks arrive only when asked for, carrying the current RV", async () => {
  await withServer({ bookmarkIntervalMs: 30 }, async ({ server, call }) => {
    const rv = server.currentResourceVersion();
    const asked = watchReader(
      await call(
        `${CSRS}?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true`,
      ),
    );
    const notAsked = watchReader(
      await call(`${CSRS}?watch=1&resourceVersion=${rv}`),
    );
    try {
      const b = await asked.event(2000);
      assertEquals(b, {
        type: "BOOKMARK",
        object: {
          kind: "CertificateSigningRequest",
          apiVersion: "certificates.k8s.io/v1",
          metadata: { resourceVersion: rv },
        },
      });
      // Let several bookmark intervals pass, then a real event: it must be the first line.
      await new Promise((r) => setTimeout(r, 120));
      await seedCsrs(server, ["after"]);
      const first = await notAsked.event();
      assertEquals(first.type, "ADDED");
    } finally {
      await asked.close();
      await notAsked.close();
    }
  });
});

Deno.test("watch: sendInitialEvents replays state, then a bookmark marks the end", async () => {
  await withServer(
    { bookmarkIntervalMs: 0 },
    async ({ server, call, json }) => {
      await seedCsrs(server, ["a"]);
      const w = watchReader(
        await call(
          `${CSRS}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`,
        ),
      );
      try {
        assertEquals((await w.event()).type, "ADDED");
        const end = await w.event();
        assertEquals(end.type, "BOOKMARK");
        assertEquals(
          (end.object.metadata as Record<string, unknown>).annotations,
          { "k8s.io/initial-events-end": "true" },
        );
      } finally {
        await w.close();
      }
      const bad = await json(`${CSRS}?watch=1&sendInitialEvents=true`);
      assertEquals(bad.status, 422);
    },
  );
});

Deno.test("watch from a compacted RV: 200 with one ERROR event (410 Expired), then the end", async () => {
  await withServer({}, async ({ server, call }) => {
    await seedCsrs(server, ["a"]);
    const rv = server.currentResourceVersion();
    await seedCsrs(server, ["b"]);
    server.compact();
    const res = await call(`${CSRS}?watch=1&resourceVersion=${rv}`);
    assertEquals(res.status, 200);
    const w = watchReader(res);
    const e = await w.event();
    assertEquals(e.type, "ERROR");
    assertEquals(e.object, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message:
        `too old resource version: ${rv} (${server.currentResourceVersion()})`,
      reason: "Expired",
      code: 410,
    });
    assertEquals(await w.line(), null);
  });
});

Deno.test("watch: timeoutSeconds ends the stream cleanly", async () => {
  await withServer({}, async ({ server, call }) => {
    const started = Date.now();
    const w = watchReader(
      await call(
        `${CSRS}?watch=1&resourceVersion=${server.currentResourceVersion()}&timeoutSeconds=1`,
      ),
    );
    assertEquals(server.watchers(), 1);
    assertEquals(await w.line(3000), null);
    const elapsed = Date.now() - started;
    assert(elapsed >= 900 && elapsed < 2500, `ended after ${elapsed} ms`);
    assertEquals(server.watchers(), 0);
  });
});

Deno.test("watch: an object leaving the field selection is DELETED, entering it is ADDED", async () => {
  await withServer({}, async ({ server, call }) => {
    server.upsertNode({
      metadata: { name: "n1" },
      spec: { unschedulable: false },
    });
    const w = watchReader(
      await call(
        `${NODES}?watch=1&resourceVersion=${server.currentResourceVersion()}&fieldSelector=spec.unschedulable%3Dfalse`,
      ),
    );
    try {
      server.upsertNode({
        metadata: { name: "n1" },
        spec: { unschedulable: true },
      });
      const left = await w.event();
      assertEquals(left.type, "DELETED");
      assertEquals(
        (left.object.spec as Record<string, unknown>).unschedulable,
        false,
      );
      assertEquals(
        (left.object.metadata as Record<string, unknown>).resourceVersion,
        server.currentResourceVersion(),
      );
      server.upsertNode({
        metadata: { name: "n1" },
        spec: { unschedulable: false },
      });
      assertEquals((await w.event()).type, "ADDED");
    } finally {
      await w.close();
    }
  });
});

// -------------------------------------------------------------- approval

function approvalBody(
  csr: CertificateSigningRequest,
  conditions: unknown[],
  rv?: string,
) {
  return {
    ...csr,
    metadata: { ...csr.metadata, resourceVersion: rv },
    status: { ...csr.status, conditions },
  };
}

const APPROVED = {
  type: "Approved",
  status: "True",
  reason: "AutoApproved",
  message: "ok",
  lastUpdateTime: "2026-01-01T00:00:00.123Z",
};

Deno.test("approval: stale RV 409, current RV 200 (only conditions taken), Approved+Denied 422", async () => {
  await withServer({}, async ({ server, json }) => {
    await seedCsrs(server, ["c1"]);
    const csr = server.getCsr("c1")!;
    const path = `${CSRS}/c1/approval`;
    const stale = await json(path, {
      method: "PUT",
      body: approvalBody(csr, [APPROVED], "1"),
    });
    assertEquals(stale.status, 409);
    assertEquals(
      stale.body.message,
      'Operation cannot be fulfilled on certificatesigningrequests.certificates.k8s.io "c1": the object has been modified; please apply your changes to the latest version and try again',
    );
    assertEquals(stale.body.details, {
      name: "c1",
      group: "certificates.k8s.io",
      kind: "certificatesigningrequests",
    });

    const both = await json(path, {
      method: "PUT",
      body: approvalBody(csr, [APPROVED, {
        type: "Denied",
        status: "True",
      }], csr.metadata.resourceVersion),
    });
    assertEquals(both.status, 422);
    assertEquals(
      both.body.message,
      'CertificateSigningRequest.certificates.k8s.io "c1" is invalid: status.conditions[1].type: Invalid value: "Denied": Approved and Denied conditions are mutually exclusive',
    );

    const dup = await json(path, {
      method: "PUT",
      body: approvalBody(
        csr,
        [APPROVED, APPROVED],
        csr.metadata.resourceVersion,
      ),
    });
    assertEquals(dup.status, 422);
    assertMatch(String(dup.body.message), /Duplicate value: "Approved"/);

    const body = approvalBody(
      csr,
      [APPROVED],
      csr.metadata.resourceVersion,
    );
    // The approver sends only the signer back (the server keeps the spec);
    // a spec that says something else changes nothing either.
    body.spec = {
      signerName: body.spec.signerName,
      usages: ["client auth"],
      username: "mallory",
    } as CertificateSigningRequest["spec"];
    (body.status as Record<string, unknown>).certificate = "Zm9v";
    const ok = await json<CertificateSigningRequest>(path, {
      method: "PUT",
      body,
    });
    assertEquals(ok.status, 200);
    assertEquals(ok.body.spec, csr.spec, "spec comes from storage");
    assertEquals(
      ok.body.status?.certificate,
      undefined,
      "status.certificate comes from storage",
    );
    const cond = ok.body.status!.conditions![0];
    assertEquals([cond.type, cond.reason, cond.lastUpdateTime], [
      "Approved",
      "AutoApproved",
      "2026-01-01T00:00:00Z",
    ]);
    assert(cond.lastTransitionTime, "lastTransitionTime is populated");
    assert(
      Number(ok.body.metadata.resourceVersion) >
        Number(csr.metadata.resourceVersion),
    );
    assertEquals(server.getCsr("c1")!.status?.conditions?.length, 1);

    // Removing the Approved condition afterwards is forbidden.
    const removal = await json(path, {
      method: "PUT",
      body: approvalBody(ok.body, []),
    });
    assertEquals(removal.status, 422);
    assertMatch(
      String(removal.body.message),
      /updates may not remove a condition of type "Approved"/,
    );

    const missing = await json(`${CSRS}/nope/approval`, {
      method: "PUT",
      body: approvalBody({ ...csr, metadata: { name: "nope" } }, [
        APPROVED,
      ]),
    });
    assertEquals(missing.status, 404);
    assertEquals(
      missing.body.message,
      'certificatesigningrequests.certificates.k8s.io "nope" not found',
    );
  });
});

Deno.test("approval: omitting the RV is an unconditional update; a bad lastUpdateTime is a 400 decode error", async () => {
  await withServer({}, async ({ server, json }) => {
    await seedCsrs(server, ["c1"]);
    const csr = server.getCsr("c1")!;
    const bad = await json(`${CSRS}/c1/approval`, {
      method: "PUT",
      body: approvalBody(csr, [{
        ...APPROVED,
        lastUpdateTime: "yesterday",
      }]),
    });
    assertEquals(bad.status, 400);
    assertEquals(
      bad.body.message,
      'CertificateSigningRequest in version "v1" cannot be handled as a CertificateSigningRequest: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"',
    );
    const ok = await json(`${CSRS}/c1/approval`, {
      method: "PUT",
      body: approvalBody(csr, [APPROVED]),
    });
    assertEquals(ok.status, 200);
  });
});

Deno.test("approval: the CertificateApproval admission check needs `approve` on the signer", async () => {
  await withServer({
    tokens: { t: { username: "approver", groups: ["approvers"] } },
    authorize: (a) => !(a.resource === "signers" && a.verb === "approve"),
  }, async ({ server, json }) => {
    await seedCsrs(server, ["c1"]);
    const csr = server.getCsr("c1")!;
    const r = await json(`${CSRS}/c1/approval`, {
      method: "PUT",
      token: "t",
      body: approvalBody(csr, [APPROVED]),
    });
    assertEquals(r.status, 403);
    assertEquals(
      r.body.message,
      `certificatesigningrequests.certificates.k8s.io "c1" is forbidden: user not permitted to approve requests with signerName "${SERVING}"`,
    );
    assertEquals(server.requests.at(-1)?.signerName, SERVING);
  });
});

// ---------------------------------------------------------------- create

Deno.test("create: validation like the apiserver (422), requester identity from the token", async () => {
  await withServer({
    tokens: {
      "node-token": {
        username: "system:node:worker-1",
        uid: "u-1",
        groups: ["system:nodes"],
      },
    },
  }, async ({ server, json }) => {
    const request = await requestB64();
    const tampered = (await makeServingCsr({ tamper: true })).spec.request;
    const cases: {
      name: string;
      body: unknown;
      status: number;
      message?: RegExp;
    }[] = [
      {
        name: "not base64",
        body: csrBody("x", "***"),
        status: 400,
        message:
          /cannot be handled as a CertificateSigningRequest: illegal base64 data at input byte 0/,
      },
      {
        name: "not a PEM",
        body: csrBody("x", btoa("hello")),
        status: 422,
        message:
          /spec\.request: Invalid value: .*PEM block type must be CERTIFICATE REQUEST/,
      },
      {
        name: "bad signature",
        body: csrBody("x", tampered),
        status: 422,
        message: /x509: ECDSA verification failure/,
      },
      {
        name: "no usages",
        body: csrBody("x", request, { usages: [] }),
        status: 422,
        message: /spec\.usages: Required value/,
      },
      {
        name: "unknown usage",
        body: csrBody("x", request, { usages: ["server auth", "fly"] }),
        status: 422,
        message: /spec\.usages\[1\]: Unsupported value: "fly"/,
      },
      {
        name: "duplicate usage",
        body: csrBody("x", request, { usages: ["server auth", "server auth"] }),
        status: 422,
        message: /spec\.usages\[1\]: Duplicate value: "server auth"/,
      },
      {
        name: "no signer",
        body: csrBody("x", request, { signerName: "" }),
        status: 422,
        message: /spec\.signerName: Required value/,
      },
      {
        name: "short expiry",
        body: csrBody("x", request, { expirationSeconds: 599 }),
        status: 422,
        message:
          /spec\.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds \(10 minutes\)/,
      },
      {
        name: "RV on create",
        body: {
          ...csrBody("x", request),
          metadata: { name: "x", resourceVersion: "5" },
        },
        status: 500,
      },
    ];
    for (const c of cases) {
      const r = await json(CSRS, {
        method: "POST",
        body: c.body,
        token: "node-token",
      });
      assertEquals(r.status, c.status, c.name);
      if (c.message) assertMatch(String(r.body.message), c.message, c.name);
      if (c.status === 422) assertEquals(r.body.reason, "Invalid", c.name);
    }
    const forged = csrBody("good", request, {
      username: "system:node:other",
      groups: ["system:masters"],
      uid: "x",
    });
    const ok = await json<CertificateSigningRequest>(CSRS, {
      method: "POST",
      body: forged,
      token: "node-token",
    });
    assertEquals(ok.status, 201);
    assertEquals(ok.body.spec.username, "system:node:worker-1");
    assertEquals(ok.body.spec.uid, "u-1");
    assertEquals(ok.body.spec.groups, ["system:nodes", "system:authenticated"]);
    assertEquals(ok.body.status, {});
    const dup = await json(CSRS, {
      method: "POST",
      body: forged,
      token: "node-token",
    });
    assertEquals(dup.status, 409);
    assertEquals(dup.body.reason, "AlreadyExists");
    const generated = await json<CertificateSigningRequest>(CSRS, {
      method: "POST",
      body: { ...csrBody("", request), metadata: { generateName: "csr-" } },
      token: "node-token",
    });
    assertEquals(generated.status, 201);
    assertMatch(generated.body.metadata.name, /^csr-[a-z0-9]{5}$/);
    assertEquals(server.listCsrs().length, 2);
    const text = await json(CSRS, {
      method: "POST",
      body: JSON.stringify(forged),
      contentType: "text/plain",
      token: "node-token",
    });
    assertEquals(text.status, 415);
  });
});

Deno.test("get, delete, unknown paths and wrong methods answer with proper Status bodies", async () => {
  await withServer({}, async ({ server, json }) => {
    await seedCsrs(server, ["c1"]);
    const cases: {
      path: string;
      method?: string;
      status: number;
      reason?: string;
    }[] = [
      { path: `${CSRS}/c1`, status: 200 },
      { path: `${CSRS}/c2`, status: 404, reason: "NotFound" },
      { path: "/apis/example.com/v1/widgets", status: 404, reason: "NotFound" },
      {
        path: `${NODES}/n1`,
        method: "DELETE",
        status: 405,
        reason: "MethodNotAllowed",
      },
      { path: `${CSRS}/c1`, method: "DELETE", status: 200 },
      { path: `${CSRS}/c1`, status: 404, reason: "NotFound" },
    ];
    for (const c of cases) {
      const r = await json(c.path, { method: c.method });
      assertEquals(r.status, c.status, `${c.method ?? "GET"} ${c.path}`);
      if (c.reason) {
        assertEquals(r.body.kind, "Status");
        assertEquals(r.body.reason, c.reason);
        assertEquals(r.body.code, c.status);
      }
    }
    const svc = await json<{ spec: { clusterIP: string } }>(
      "/api/v1/namespaces/default/services/kubernetes",
    );
    assertEquals(svc.body.spec.clusterIP, "10.96.0.1");
  });
});

// -------------------------------------------------------------------- SAR

Deno.test("SubjectAccessReview: 201 with the policy's answer; an invalid spec is 422", async () => {
  await withServer({}, async ({ json }) => {
    const ra = {
      group: "certificates.k8s.io",
      resource: "certificatesigningrequests",
      verb: "create",
    };
    const cases: { spec: unknown; status: number; allowed?: boolean }[] = [
      {
        spec: {
          user: "system:node:a",
          groups: ["system:nodes"],
          resourceAttributes: ra,
        },
        status: 201,
        allowed: true,
      },
      {
        spec: { user: "bob", groups: ["devs"], resourceAttributes: ra },
        status: 201,
        allowed: false,
      },
      {
        spec: {
          user: "bob",
          groups: ["system:nodes"],
          resourceAttributes: { ...ra, verb: "delete" },
        },
        status: 201,
        allowed: false,
      },
      { spec: { user: "bob" }, status: 422 },
      { spec: { resourceAttributes: ra }, status: 422 },
      {
        spec: {
          user: "bob",
          resourceAttributes: ra,
          nonResourceAttributes: { path: "/", verb: "get" },
        },
        status: 422,
      },
    ];
    for (const c of cases) {
      const r = await json<{ status: { allowed: boolean }; reason?: string }>(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
          method: "POST",
          body: {
            apiVersion: "authorization.k8s.io/v1",
            kind: "SubjectAccessReview",
            spec: c.spec,
          },
        },
      );
      assertEquals(r.status, c.status, JSON.stringify(c.spec));
      if (c.allowed !== undefined) {
        assertEquals(r.body.status.allowed, c.allowed);
      } else assertEquals(r.body.reason, "Invalid");
    }
  });
});

// ----------------------------------------------------------------- events

function eventV1(name: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: { name, namespace: "default" },
    eventTime: microTime(new Date("2026-01-01T00:00:00.123Z")),
    reportingController: "example.com/kubelet-rubber-stamp",
    reportingInstance: "pod-1",
    action: "Approve",
    reason: "Approved",
    note: "approved",
    type: "Normal",
    regarding: {
      apiVersion: "certificates.k8s.io/v1",
      kind: "CertificateSigningRequest",
      name: "c1",
    },
    ...extra,
  };
}

Deno.test("events.k8s.io/v1: strict validation, MicroTime with exactly 6 digits, duplicates, PATCH", async () => {
  await withServer({}, async ({ server, json }) => {
    assertEquals(
      microTime(new Date("2026-01-01T00:00:00.123Z")),
      "2026-01-01T00:00:00.123000Z",
    );
    const cases: {
      name: string;
      body: unknown;
      status: number;
      message?: RegExp;
    }[] = [
      {
        name: "3-digit eventTime",
        body: eventV1("e1", { eventTime: "2026-01-01T00:00:00.123Z" }),
        status: 400,
        message:
          /parsing time "2026-01-01T00:00:00\.123Z" as "2006-01-02T15:04:05\.000000Z07:00": cannot parse "\.123Z" as "\.000000"/,
      },
      {
        name: "no eventTime",
        body: eventV1("e1", { eventTime: undefined }),
        status: 422,
        message: /eventTime: Required value/,
      },
      {
        name: "bad controller",
        body: eventV1("e1", { reportingController: "not a name!" }),
        status: 422,
        message: /reportingController: Invalid value/,
      },
      {
        name: "bad type",
        body: eventV1("e1", { type: "Info" }),
        status: 422,
        message: /type: Invalid value: "": has invalid value: Info/,
      },
      {
        name: "long reason",
        body: eventV1("e1", { reason: "r".repeat(129) }),
        status: 422,
        message: /reason: Invalid value: "": can have at most 128 characters/,
      },
      {
        name: "long note",
        body: eventV1("e1", { note: "n".repeat(1025) }),
        status: 422,
        message: /message: Invalid value: "": can have at most 1024 characters/,
      },
      {
        name: "deprecated count",
        body: eventV1("e1", { deprecatedCount: 3 }),
        status: 422,
        message: /count: Invalid value: "": needs to be unset/,
      },
      {
        name: "bad name",
        body: eventV1("E_1"),
        status: 422,
        message: /metadata\.name: Invalid value: "E_1"/,
      },
      { name: "valid", body: eventV1("e1"), status: 201 },
      { name: "duplicate", body: eventV1("e1"), status: 409 },
    ];
    for (const c of cases) {
      const r = await json(EVENTS_V1, { method: "POST", body: c.body });
      assertEquals(r.status, c.status, c.name);
      if (c.message) assertMatch(String(r.body.message), c.message, c.name);
    }
    const kube = await json(
      `/apis/events.k8s.io/v1/namespaces/kube-public/events`,
      {
        method: "POST",
        body: { ...eventV1("e2"), metadata: { name: "e2" } },
      },
    );
    assertEquals(
      kube.status,
      422,
      "cluster-scoped regarding needs namespace default or kube-system",
    );
    const patched = await json<{ series: { count: number } }>(
      `${EVENTS_V1}/e1`,
      {
        method: "PATCH",
        body: { series: { count: 2, lastObservedTime: microTime() } },
        contentType: "application/strategic-merge-patch+json",
      },
    );
    assertEquals(patched.status, 200);
    assertEquals(patched.body.series.count, 2);
    const immutable = await json(`${EVENTS_V1}/e1`, {
      method: "PATCH",
      body: { note: "changed" },
      contentType: "application/merge-patch+json",
    });
    assertEquals(immutable.status, 422);
    const stored = server.events() as { note?: string; apiVersion: string }[];
    assertEquals(stored.map((e) => [e.apiVersion, e.note]), [[
      "events.k8s.io/v1",
      "approved",
    ]]);
  });
});

Deno.test("core/v1 events: loose validation, count bump by PATCH, readable through events.k8s.io", async () => {
  await withServer({}, async ({ json }) => {
    const body = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: "c1.abc" },
      involvedObject: { kind: "CertificateSigningRequest", name: "c1" },
      reason: "Approved",
      message: "ok",
      type: "Normal",
      source: { component: "approver" },
      firstTimestamp: "2026-01-01T00:00:00Z",
      lastTimestamp: "2026-01-01T00:00:00Z",
      count: 1,
    };
    assertEquals(
      (await json(CORE_EVENTS, { method: "POST", body })).status,
      201,
    );
    const p = await json<{ count: number }>(`${CORE_EVENTS}/c1.abc`, {
      method: "PATCH",
      body: { count: 2, lastTimestamp: "2026-01-01T00:01:00Z" },
      contentType: "application/strategic-merge-patch+json",
    });
    assertEquals([p.status, p.body.count], [200, 2]);
    const v1 = await json<
      { note: string; deprecatedCount: number; regarding: { name: string } }
    >(`${EVENTS_V1}/c1.abc`);
    assertEquals([
      v1.body.note,
      v1.body.deprecatedCount,
      v1.body.regarding.name,
    ], ["ok", 2, "c1"]);
    const wrongNs = await json(CORE_EVENTS, {
      method: "POST",
      body: { ...body, metadata: { name: "x", namespace: "other" } },
    });
    assertEquals(wrongNs.status, 400);
  });
});

// ----------------------------------------------------------------- leases

Deno.test("leases: create 201/409, update needs the current RV, PUT on a missing lease creates it", async () => {
  await withServer({}, async ({ json }) => {
    const spec = {
      holderIdentity: "me",
      leaseDurationSeconds: 15,
      acquireTime: microTime(),
      renewTime: microTime(),
      leaseTransitions: 0,
    };
    const lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "l1" },
      spec,
    };
    const created = await json<
      { metadata: { resourceVersion: string; namespace: string } }
    >(LEASES, { method: "POST", body: lease });
    assertEquals(created.status, 201);
    assertEquals(created.body.metadata.namespace, "kube-system");
    assertEquals(
      (await json(LEASES, { method: "POST", body: lease })).status,
      409,
    );
    const rv = created.body.metadata.resourceVersion;
    const cases: {
      name: string;
      rv?: string;
      spec?: unknown;
      status: number;
      message?: string | RegExp;
    }[] = [
      {
        name: "no RV",
        status: 422,
        message:
          'leases.coordination.k8s.io "l1" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update',
      },
      {
        name: "stale RV",
        rv: "1",
        status: 409,
        message:
          'Operation cannot be fulfilled on leases.coordination.k8s.io "l1": the object has been modified; please apply your changes to the latest version and try again',
      },
      {
        name: "millisecond renewTime",
        rv,
        spec: { ...spec, renewTime: new Date().toISOString() },
        status: 400,
        message: /cannot parse ".*Z" as "\.000000"/,
      },
      {
        name: "zero duration",
        rv,
        spec: { ...spec, leaseDurationSeconds: 0 },
        status: 422,
        message:
          /spec\.leaseDurationSeconds: Invalid value: 0: must be greater than 0/,
      },
      {
        name: "current RV",
        rv,
        spec: { ...spec, renewTime: microTime() },
        status: 200,
      },
    ];
    for (const c of cases) {
      const r = await json(`${LEASES}/l1`, {
        method: "PUT",
        body: {
          ...lease,
          metadata: { name: "l1", resourceVersion: c.rv },
          spec: c.spec ?? spec,
        },
      });
      assertEquals(r.status, c.status, c.name);
      if (typeof c.message === "string") {
        assertEquals(r.body.message, c.message, c.name);
      } else if (c.message) {
        assertMatch(String(r.body.message), c.message, c.name);
      }
    }
    const upserted = await json(`${LEASES}/l2`, {
      method: "PUT",
      body: { ...lease, metadata: { name: "l2" } },
    });
    assertEquals(upserted.status, 201);
  });
});

// ----------------------------------------------------------------- faults

Deno.test("faults: intercept injects a response; unavailable answers 503", async () => {
  await withServer({}, async ({ server, json }) => {
    let calls = 0;
    server.faults.intercept = (_req, attrs) => {
      if (attrs.verb !== "list" || ++calls > 1) return undefined;
      return new Response(JSON.stringify({ kind: "Status", code: 429 }), {
        status: 429,
        headers: { "retry-after": "1", "content-type": "application/json" },
      });
    };
    const first = await json(CSRS);
    assertEquals([first.status, first.headers.get("retry-after")], [429, "1"]);
    assertEquals((await json(CSRS)).status, 200);
    server.faults.intercept = undefined;
    server.faults.unavailable = true;
    const down = await json(CSRS);
    assertEquals([down.status, down.body.reason], [503, "ServiceUnavailable"]);
    server.faults.unavailable = false;
    assertEquals(server.requests.map((r) => r.status), [429, 200, 503]);
  });
});

Deno.test("faults: watch knobs close, expire, cut a line or stall the stream", async () => {
  const cases: {
    name: string;
    faults: Record<string, unknown>;
    expect: (w: WatchReader) => Promise<void>;
  }[] = [
    {
      name: "watchCloseAfterEvents",
      faults: { watchCloseAfterEvents: 2 },
      async expect(w) {
        assertEquals((await w.event()).type, "ADDED");
        assertEquals((await w.event()).type, "ADDED");
        assertEquals(await w.line(), null);
      },
    },
    {
      name: "watchExpireAfterEvents",
      faults: { watchExpireAfterEvents: 1 },
      async expect(w) {
        assertEquals((await w.event()).type, "ADDED");
        const e = await w.event();
        assertEquals([e.type, e.object.code, e.object.reason], [
          "ERROR",
          410,
          "Expired",
        ]);
        assertEquals(await w.line(), null);
      },
    },
    {
      name: "watchHalfLineAfterEvents",
      faults: { watchHalfLineAfterEvents: 1 },
      async expect(w) {
        assertEquals((await w.event()).type, "ADDED");
        const partial = await w.line();
        assert(
          partial !== null && partial.startsWith('{"type":"ADDED"'),
          `a partial line, got ${partial}`,
        );
        let parsed = true;
        try {
          JSON.parse(partial);
        } catch {
          parsed = false;
        }
        assertEquals(parsed, false, "the cut line is not valid JSON");
        assertEquals(await w.line(), null);
      },
    },
    {
      name: "watchStall",
      faults: { watchStall: true },
      async expect(w) {
        let timedOut = false;
        try {
          await w.line(200);
        } catch {
          timedOut = true;
        }
        assert(timedOut, "a stalled watch sends nothing");
      },
    },
  ];
  for (const c of cases) {
    await withServer({}, async ({ server, call }) => {
      await seedCsrs(server, ["a", "b", "c"]);
      Object.assign(server.faults, c.faults);
      const w = watchReader(await call(`${CSRS}?watch=1&resourceVersion=0`));
      try {
        await c.expect(w);
      } finally {
        await w.close();
      }
    });
  }
});

Deno.test("faults: approvalConflicts answers N approvals with 409 even at the current RV", async () => {
  await withServer({}, async ({ server, json }) => {
    await seedCsrs(server, ["c1"]);
    server.faults.approvalConflicts = 2;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const csr = server.getCsr("c1")!;
      statuses.push(
        (await json(`${CSRS}/c1/approval`, {
          method: "PUT",
          body: approvalBody(
            csr,
            [APPROVED],
            csr.metadata.resourceVersion,
          ),
        })).status,
      );
    }
    assertEquals(statuses, [409, 409, 200]);
    assertEquals(server.faults.approvalConflicts, 0);
  });
});

Deno.test("dropConnections breaks open watches; restart keeps state and the port", async () => {
  await withServer({}, async ({ server, call, json }) => {
    await seedCsrs(server, ["keep"]);
    const w = watchReader(
      await call(
        `${CSRS}?watch=1&resourceVersion=${server.currentResourceVersion()}`,
      ),
    );
    server.dropConnections();
    let broken = false;
    try {
      await w.line();
    } catch {
      broken = true;
    }
    await w.close();
    assert(broken, "the client sees a broken body");
    assertEquals(server.watchers(), 0);

    const url = server.url;
    const rv = server.currentResourceVersion();
    const w2 = watchReader(await call(`${CSRS}?watch=1&resourceVersion=${rv}`));
    await server.restart();
    let broken2 = false;
    try {
      await w2.line();
    } catch {
      broken2 = true;
    }
    await w2.close();
    assert(broken2, "restart drops open watches");
    assertEquals(server.url, url);
    const after = await json<
      {
        items: { metadata: { name: string } }[];
        metadata: { resourceVersion: string };
      }
    >(CSRS);
    assertEquals(after.status, 200);
    assertEquals(after.body.items.map((i) => i.metadata.name), ["keep"]);
    assertEquals(after.body.metadata.resourceVersion, rv);
  });
});

// --------------------------------------------------------------- requests

Deno.test("the request log records verbs and resources as RBAC sees them", async () => {
  await withServer({}, async ({ server, call, json }) => {
    await seedCsrs(server, ["c1"]);
    const csr = server.getCsr("c1")!;
    await json(CSRS);
    await json(`${CSRS}/c1`);
    const w = watchReader(
      await call(
        `${CSRS}?watch=1&resourceVersion=${server.currentResourceVersion()}`,
      ),
    );
    await w.close();
    await json(`${CSRS}/c1/approval`, {
      method: "PUT",
      body: approvalBody(csr, [APPROVED]),
    });
    await json(`${NODES}?fieldSelector=metadata.name%3Dn1`);
    await json(`${LEASES}/l1`);
    await json(`${EVENTS_V1}/x`, {
      method: "PATCH",
      body: {},
      contentType: "application/merge-patch+json",
    });
    await json(`${CSRS}/c1`, { method: "DELETE" });
    await json("/apis/authorization.k8s.io/v1/subjectaccessreviews", {
      method: "POST",
      body: {},
    });
    await (await call("/healthz", { token: null })).body?.cancel();
    const got = server.requests.map((r) =>
      [
        r.verb,
        r.apiGroup,
        r.resource,
        r.subresource,
        r.name,
        r.namespace,
        r.status,
      ].join("|")
    );
    assertEquals(got, [
      "list|certificates.k8s.io|certificatesigningrequests||||200",
      "get|certificates.k8s.io|certificatesigningrequests||c1||200",
      "watch|certificates.k8s.io|certificatesigningrequests||||200",
      "update|certificates.k8s.io|certificatesigningrequests|approval|c1||200",
      "list||nodes||n1||200",
      "get|coordination.k8s.io|leases||l1|kube-system|404",
      "patch|events.k8s.io|events||x|default|404",
      "delete|certificates.k8s.io|certificatesigningrequests||c1||200",
      "create|authorization.k8s.io|subjectaccessreviews||||422",
      "get||||||200",
    ]);
    assertEquals(server.requests[0].user, "admin");
    assertEquals(server.requests[3].signerName, SERVING);
  });
});

// ------------------------------------------------------------ performance

Deno.test("5,000 CSRs with three watchers stay fast (no O(n²) fan-out)", async () => {
  await withServer(
    { watchCacheSize: 10_000, bookmarkIntervalMs: 0 },
    async ({ server, call, json }) => {
      const base = await makeServingCsr();
      const readers = await Promise.all([0, 1, 2].map(async () =>
        watchReader(
          await call(
            `${CSRS}?watch=1&resourceVersion=${server.currentResourceVersion()}`,
          ),
        )
      ));
      try {
        const started = performance.now();
        for (let i = 0; i < 5000; i++) {
          // Through the handle: this measures the watch fan-out, not POSTs.
          server.createCsr({
            ...base,
            metadata: { name: `csr-${String(i).padStart(5, "0")}` },
          });
        }
        const counts = await Promise.all(readers.map(async (w) => {
          let n = 0;
          while (n < 5000) {
            const l = await w.line(5000);
            assert(l !== null);
            n++;
          }
          return n;
        }));
        const list = await json<{ items: unknown[] }>(`${CSRS}?limit=500`);
        const elapsed = performance.now() - started;
        assertEquals(counts, [5000, 5000, 5000]);
        assertEquals(list.body.items.length, 500);
        assert(elapsed < 5000, `took ${elapsed.toFixed(0)} ms`);
      } finally {
        for (const w of readers) {
          await w.close();
        }
      }
    },
  );
});

Deno.test("a watcher that does not read is closed once its queue passes the bound; writers never wait", async () => {
  await withServer(
    { watchQueueLimit: 5, bookmarkIntervalMs: 0 },
    async ({ server, call }) => {
      const res = await call(
        `${CSRS}?watch=1&resourceVersion=${server.currentResourceVersion()}`,
      );
      assertEquals(server.watchers(), 1);
      await seedCsrs(server, Array.from({ length: 50 }, (_, i) => `c${i}`));
      assertEquals(server.watchers(), 0, "the slow watcher is gone");
      assertEquals(server.listCsrs().length, 50);
      const w = watchReader(res);
      let lines = 0;
      while ((await w.line()) !== null) lines++;
      assert(lines < 50, `the stream ended early (after ${lines} events)`);
    },
  );
});

Deno.test("approval: two concurrent approvals at the same RV: exactly one wins, the other gets 409", async () => {
  await withServer({}, async ({ server, json }) => {
    await seedCsrs(server, ["c1"]);
    const csr = server.getCsr("c1")!;
    const body = approvalBody(csr, [APPROVED], csr.metadata.resourceVersion);
    const results = await Promise.all(
      [0, 1].map(() => json(`${CSRS}/c1/approval`, { method: "PUT", body })),
    );
    assertEquals(results.map((r) => r.status).sort(), [200, 409]);
    assertEquals(server.getCsr("c1")!.status?.conditions?.length, 1);
  });
});

Deno.test("every identity is authorized (fixture authorizers): nodes create CSRs and read only their own, the approver only what deploy/ grants", async () => {
  const { APPROVER_USER, deployRbacAuthorizers } = await import(
    "../../support/fixture.ts"
  );
  await withServer({
    ...(await deployRbacAuthorizers()),
    tokens: {
      "admin-token": { username: "admin", groups: ["system:masters"] },
      "node-1": { username: "system:node:worker-1", groups: ["system:nodes"] },
      "node-2": { username: "system:node:worker-2", groups: ["system:nodes"] },
      alice: { username: "alice", groups: ["devs"] },
      "bootstrap": {
        username: "system:bootstrap:abcdef",
        groups: ["system:bootstrappers"],
      },
      approver: { username: APPROVER_USER, groups: ["system:serviceaccounts"] },
    },
  }, async ({ json }) => {
    const request = await requestB64("worker-1");
    // The body's requester is ignored: the credentials decide.
    const created = await json<CertificateSigningRequest>(CSRS, {
      method: "POST",
      token: "node-1",
      body: csrBody("mine", request, {
        username: "system:node:worker-2",
        groups: ["system:masters"],
      }),
    });
    assertEquals(created.status, 201);
    assertEquals(created.body.spec.username, "system:node:worker-1");
    assertEquals(created.body.spec.groups, [
      "system:nodes",
      "system:authenticated",
    ]);
    const status = async (path: string, token: string, method = "GET") =>
      (await json(path, { token, method })).status;
    assertEquals(await status(`${CSRS}/mine`, "node-1"), 200);
    assertEquals(
      await status(`${CSRS}?fieldSelector=metadata.name%3Dmine`, "node-1"),
      200,
    );
    assertEquals(await status(`${CSRS}/mine`, "node-2"), 403, "not its own");
    assertEquals(await status(CSRS, "node-1"), 403, "nodes list only by name");
    assertEquals(await status(NODES, "node-1"), 403);
    const approval = await json(`${CSRS}/mine/approval`, {
      method: "PUT",
      token: "node-1",
      body: created.body,
    });
    assertEquals(approval.status, 403, "a node cannot approve its own CSR");
    // A user nobody bound may not create CSRs; a bootstrap token may.
    const byAlice = await json(CSRS, {
      method: "POST",
      token: "alice",
      body: csrBody("alices", request),
    });
    assertEquals(byAlice.status, 403);
    const byBootstrap = await json(CSRS, {
      method: "POST",
      token: "bootstrap",
      body: csrBody("bootstrapped", request),
    });
    assertEquals(byBootstrap.status, 201);
    // The approver: exactly deploy/'s RBAC.
    assertEquals(await status(CSRS, "approver"), 200);
    assertEquals(await status(NODES, "approver"), 200);
    assertEquals(await status(`${CSRS}/mine`, "approver", "DELETE"), 403);
    const approverCreate = await json(CSRS, {
      method: "POST",
      token: "approver",
      body: csrBody("approvers", request),
    });
    assertEquals(approverCreate.status, 403);
    assertEquals(await status(`${CSRS}/mine`, "admin-token", "DELETE"), 200);
  });
});

Deno.test("tokens: addToken keeps the others; unavailable may pick whose requests fail", async () => {
  await withServer({}, async ({ server, json }) => {
    server.addToken("extra", { username: "someone" });
    assertEquals((await json(NODES, { token: "extra" })).status, 200);
    assertEquals((await json(NODES)).status, 200, "admin-token kept");
    server.faults.unavailable = (a) => a.user === "someone";
    assertEquals((await json(NODES, { token: "extra" })).status, 503);
    assertEquals((await json(NODES)).status, 200);
    server.faults.unavailable = undefined;
    server.setTokens({});
    assertEquals((await json(NODES, { token: "extra" })).status, 401);
  });
});

Deno.test("the double's TCP_NODELAY front offers h2 then http/1.1 over TLS, as kube-apiserver does, and serves both", async () => {
  await using server = await startApiServer();
  const { port } = new URL(server.url);
  for (const alpn of [["h2", "http/1.1"], ["http/1.1"]]) {
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: Number(port),
      caCerts: [server.caPem],
      alpnProtocols: alpn,
    });
    const info = await conn.handshake();
    assertEquals(info.alpnProtocol, alpn[0]);
    conn.close();
  }
  for (const http2 of [true, false]) {
    const client = Deno.createHttpClient({
      caCerts: [server.caPem],
      http2,
      http1: !http2,
    });
    const res = await fetch(`${server.url}/api/v1/nodes`, {
      client,
      headers: { authorization: "Bearer admin-token" },
    });
    assertEquals(res.status, 200, `http2: ${http2}`);
    assertEquals((await res.json()).kind, "NodeList");
    client.close();
  }
});
