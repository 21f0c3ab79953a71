import { assert, assertEquals } from "../../support/assert.ts";
import { trimForCache } from "../../../src/controller/csr_trim.ts";
import { isTerminal } from "../../../src/core/terminal.ts";
import type { CertificateSigningRequest } from "../../../src/core/types.ts";
import { runReflector } from "../../../src/kube/reflector.ts";
import type { KubeClient, KubeRequest } from "../../../src/kube/types.ts";

const pending = (): CertificateSigningRequest =>
  ({
    apiVersion: "certificates.k8s.io/v1",
    kind: "CertificateSigningRequest",
    metadata: {
      name: "csr-1",
      uid: "u-1",
      resourceVersion: "42",
      creationTimestamp: "2026-12-04T10:00:00Z",
      labels: { team: "a" },
      annotations: { note: "b" },
      managedFields: [{ manager: "kubelet", fieldsV1: { "f:spec": {} } }],
    },
    spec: {
      request: "LS0tLS1CRUdJTi...",
      signerName: "kubernetes.io/kubelet-serving",
      usages: ["digital signature", "server auth"],
      username: "system:node:n1",
      uid: "n1-uid",
      groups: ["system:nodes", "system:authenticated"],
      extra: { k: ["v"] },
      expirationSeconds: 3600,
    },
    status: {},
  }) as unknown as CertificateSigningRequest;

Deno.test("a pending CSR keeps every field but managedFields", () => {
  const csr = pending();
  const trimmed = trimForCache(csr);
  const { managedFields: _, ...metadata } = csr.metadata as Record<
    string,
    unknown
  >;
  assertEquals(trimmed, { ...csr, metadata } as CertificateSigningRequest);
  // The original is not modified (it may be shared with a caller).
  assert("managedFields" in csr.metadata);
});

Deno.test("an issued CSR shrinks to its name, version, signer and terminal mark", () => {
  const csr = pending();
  csr.status = {
    conditions: [{ type: "Approved", status: "True", reason: "AutoApproved" }],
    certificate: "LS0tLS1CRUdJTiBDRVJU".repeat(50),
  } as CertificateSigningRequest["status"];
  const trimmed = trimForCache(csr);
  assert(isTerminal(trimmed), "still terminal, so the cache forgets it");
  assertEquals(trimmed.metadata, { name: "csr-1", resourceVersion: "42" });
  assertEquals(trimmed.spec as unknown, {
    signerName: "kubernetes.io/kubelet-serving",
  });
  assert(!JSON.stringify(trimmed).includes("LS0tLS1CRUdJTiBDRVJU"));
  assert(JSON.stringify(trimmed).length < JSON.stringify(csr).length / 4);
});

Deno.test("a certificate without conditions still reads as terminal", () => {
  const csr = pending();
  csr.status = { certificate: "eA==" } as CertificateSigningRequest["status"];
  assert(isTerminal(trimForCache(csr)));
  const empty = pending();
  empty.status = { certificate: "" } as CertificateSigningRequest["status"];
  assert(!isTerminal(trimForCache(empty)));
});

Deno.test("another signer's CSR keeps only its signer", () => {
  const csr = pending();
  csr.spec.signerName = "example.com/serving";
  assertEquals(trimForCache(csr).spec as unknown, {
    signerName: "example.com/serving",
  });
});

Deno.test("an object of unexpected shape is returned as it is", () => {
  for (
    const odd of [
      null,
      42,
      "x",
      { metadata: "nope" },
      { metadata: ["a"] },
    ] as unknown as CertificateSigningRequest[]
  ) {
    assertEquals(trimForCache(odd), odd);
  }
  // A pending CSR whose status is not an object keeps that status, so the
  // decision reports it as the server sent it.
  const csr = pending();
  (csr as unknown as { status: unknown }).status = "weird";
  assertEquals(
    (trimForCache(csr) as unknown as { status: unknown }).status,
    "weird",
  );
});

Deno.test("the reflector hands transformed list items and watch objects to its handler", async () => {
  const pages = [
    {
      metadata: { continue: "p2", resourceVersion: "10" },
      items: [{ metadata: { name: "a" }, big: "x" }],
    },
    {
      metadata: { resourceVersion: "11" },
      items: [{ metadata: { name: "b" }, big: "y" }],
    },
  ];
  const lines = [
    JSON.stringify({
      type: "ADDED",
      object: { metadata: { name: "c", resourceVersion: "12" }, big: "z" },
    }),
    JSON.stringify({
      type: "DELETED",
      object: { metadata: { name: "a", resourceVersion: "13" }, big: "x" },
    }),
  ];
  const abort = new AbortController();
  const seen: string[] = [];
  const client: KubeClient = {
    server: "https://fake",
    request<T>(req: KubeRequest): Promise<T> {
      const page = req.query?.continue === "p2" ? pages[1] : pages[0];
      return Promise.resolve(structuredClone(page) as T);
    },
    stream() {
      return Promise.resolve((async function* () {
        for (const l of lines) yield l;
        abort.abort();
      })());
    },
    close() {},
  };
  type Obj = {
    metadata: { name: string; resourceVersion?: string };
    big?: string;
  };
  await runReflector<Obj>({
    client,
    path: "/x",
    signal: abort.signal,
    transform: (o) => ({ metadata: o.metadata }),
    handler: {
      replace: (items, rv) =>
        seen.push(`replace ${rv} ${JSON.stringify(items)}`),
      added: (o) => seen.push(`added ${JSON.stringify(o)}`),
      modified: (o) => seen.push(`modified ${JSON.stringify(o)}`),
      deleted: (o) => seen.push(`deleted ${JSON.stringify(o)}`),
    },
  });
  assertEquals(seen, [
    'replace 11 [{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]',
    'added {"metadata":{"name":"c","resourceVersion":"12"}}',
    'deleted {"metadata":{"name":"a","resourceVersion":"13"}}',
  ]);
});
