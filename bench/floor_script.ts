/**
 * The runtime floor's process (see `runtime_floor.ts`): it imports nothing,
 * so that what it maps is the runtime's own. HTTP/2 `fetch` over TLS to
 * `url` (1,000 POSTs of a SubjectAccessReview), JSON, 1,000 ECDSA P-256
 * verifications with Web Crypto; then `idleMs` idle; then it prints its
 * `/proc/self/status` memory lines.
 *
 * ```sh
 * deno run --allow-all bench/floor_script.ts URL CA_FILE IDLE_MS
 * ```
 *
 * @module
 */

async function floorWork(url: string, caFile: string, idleMs: number) {
  const key = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign", "verify"],
  );
  const data = new TextEncoder().encode("x".repeat(500));
  const algorithm = { name: "ECDSA", hash: "SHA-256" };
  const signature = await crypto.subtle.sign(algorithm, key.privateKey, data);
  for (let i = 0; i < 1000; i++) {
    await crypto.subtle.verify(algorithm, key.publicKey, signature, data);
  }
  const client = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(caFile)],
  });
  const body = JSON.stringify({
    apiVersion: "authorization.k8s.io/v1",
    kind: "SubjectAccessReview",
    spec: {
      user: "system:node:floor",
      groups: ["system:nodes"],
      resourceAttributes: {
        group: "certificates.k8s.io",
        resource: "certificatesigningrequests",
        subresource: "selfnodeserver",
        verb: "create",
      },
    },
  });
  for (let i = 0; i < 1000; i++) {
    const res = await fetch(url, {
      client,
      method: "POST",
      body,
      headers: {
        authorization: "Bearer admin-token",
        "content-type": "application/json",
      },
    });
    JSON.parse(await res.text());
  }
  await new Promise((r) => setTimeout(r, idleMs));
  const status = await Deno.readTextFile("/proc/self/status");
  console.log(
    status.split("\n").filter((l) => /^(VmRSS|RssAnon|RssFile):/.test(l))
      .join("\n"),
  );
  client.close();
}

if (import.meta.main) {
  const [url, caFile, idleMs] = Deno.args;
  await floorWork(url, caFile, Number(idleMs));
}
