/**
 * `check` mirrors the daemon (issue 9, item 6): Nodes from a List and from
 * repeated `--node` files decide ownership together, so an address two
 * Nodes list is seen offline; and every CertificateSigningRequest object
 * gets a verdict (exit 1) while only input that is no CSR at all exits 2.
 */
import { stringify } from "yaml";
import { runCheck } from "../../../src/cli/check.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import {
  makeCertificateRequestPem,
  makeServingCsr,
  type ServingCsrOptions,
} from "../../support/csr_factory.ts";

const NOW = new Date("2026-01-01T00:01:00Z");

interface Run {
  code: number;
  out: string[];
  err: string[];
  /** The decision, when run with `--output json`. */
  json?: Record<string, unknown> & { notes?: string[] };
}

/** Runs `check` over an in-memory file system. */
async function check(
  files: Record<string, string>,
  args: string[],
): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCheck(args, {
    readFile: (path) =>
      path in files
        ? Promise.resolve(files[path])
        : Promise.reject(new Error(`no file ${path}`)),
    readStdin: () => Promise.reject(new Error("no stdin")),
    write: (line) => out.push(line),
    writeError: (line) => err.push(line),
    now: () => NOW,
  });
  const json = args.includes("--output=json") && out.length === 1
    ? JSON.parse(out[0])
    : undefined;
  return { code, out, err, json };
}

function node(
  name: string,
  addresses: Array<[string, string]>,
  kind: boolean = true,
): Record<string, unknown> {
  return {
    ...(kind ? { apiVersion: "v1", kind: "Node" } : {}),
    metadata: { name },
    status: {
      addresses: addresses.map(([type, address]) => ({ type, address })),
    },
  };
}

const WORKER_1 = node("worker-1", [
  ["Hostname", "worker-1"],
  ["InternalIP", "10.0.0.1"],
]);
const WORKER_2 = node("worker-2", [
  ["Hostname", "worker-2"],
  ["InternalIP", "10.0.0.2"],
]);

async function csrYaml(opts: ServingCsrOptions = {}): Promise<string> {
  return stringify(
    await makeServingCsr({
      name: "csr-abc",
      creationTimestamp: "2026-01-01T00:00:00Z",
      ...opts,
    }),
  );
}

Deno.test("check --node: a List of Nodes (kubectl get nodes -o yaml) decides ownership", async () => {
  const list = {
    apiVersion: "v1",
    kind: "List",
    items: [WORKER_2, WORKER_1],
  };
  const r = await check(
    { "csr.yaml": await csrYaml(), "nodes.yaml": stringify(list) },
    ["csr.yaml", "--node", "nodes.yaml", "--output=json"],
  );
  assertEquals(r.code, 0, r.out.join("\n") + r.err.join("\n"));
  assertEquals([r.json?.outcome, r.json?.reason], ["approve", "AutoApproved"]);
  // A NodeList from the API (items without kind), in JSON.
  const nodeList = {
    apiVersion: "v1",
    kind: "NodeList",
    items: [
      node("worker-2", [["InternalIP", "10.0.0.2"]], false),
      node(
        "worker-1",
        [["Hostname", "worker-1"], ["InternalIP", "10.0.0.1"]],
        false,
      ),
    ],
  };
  const j = await check(
    { "csr.yaml": await csrYaml(), "nodes.json": JSON.stringify(nodeList) },
    ["csr.yaml", "--node", "nodes.json", "--output=json"],
  );
  assertEquals(j.code, 0, j.out.join("\n") + j.err.join("\n"));
  // The List really is read: a SAN of another Node in it is refused.
  const other = await check(
    {
      "csr.yaml": await csrYaml({ ipAddresses: ["10.0.0.2"] }),
      "nodes.yaml": stringify(list),
    },
    ["csr.yaml", "--node", "nodes.yaml", "--output=json"],
  );
  assertEquals(other.code, 1);
  assertEquals([other.json?.outcome, other.json?.reason], [
    "deny",
    "SANNotOwnedByNode",
  ]);
  assertMatch(String(other.json?.message), /belongs to node "worker-2"/);
});

Deno.test("check --node is repeatable: every Node of every file is known at once", async () => {
  const files = {
    "csr.yaml": await csrYaml({ ipAddresses: ["10.0.0.2"] }),
    "w1.yaml": stringify(WORKER_1),
    "w2.yaml": stringify(WORKER_2),
  };
  // With worker-1 alone, 10.0.0.2 is on no known Node: the verdict waits.
  const alone = await check(files, [
    "csr.yaml",
    "--node",
    "w1.yaml",
    "--output=json",
  ]);
  assertEquals([alone.code, alone.json?.outcome, alone.json?.reason], [
    1,
    "wait",
    "SANNotOwnedByNode",
  ]);
  // With both files, the second file's Node is known: a final deny.
  const both = await check(files, [
    "csr.yaml",
    "--node",
    "w1.yaml",
    "--node=w2.yaml",
    "--output=json",
  ]);
  assertEquals([both.code, both.json?.outcome, both.json?.reason], [
    1,
    "deny",
    "SANNotOwnedByNode",
  ]);
  // Order does not matter, and the same file twice is harmless.
  const again = await check(
    { ...files, "csr.yaml": await csrYaml() },
    [
      "csr.yaml",
      "--node",
      "w2.yaml",
      "--node",
      "w1.yaml",
      "--node",
      "w1.yaml",
    ],
  );
  assertEquals(again.code, 0, again.out.join("\n") + again.err.join("\n"));
  assertMatch(again.out[0], /^APPROVABLE csr-abc \(node worker-1\)/);
});

Deno.test("check: an address two --node files list is nobody's (a node cannot claim another's IP)", async () => {
  // worker-2, compromised, lists worker-1's InternalIP and hostname as its own.
  const attacker = node("worker-2", [
    ["Hostname", "worker-2"],
    ["InternalIP", "10.0.0.2"],
    ["InternalIP", "10.0.0.1"],
    ["InternalDNS", "worker-1"],
  ]);
  const files = {
    "steal-ip.yaml": await csrYaml({
      node: "worker-2",
      dnsNames: ["worker-2"],
      ipAddresses: ["10.0.0.1"],
    }),
    "steal-name.yaml": await csrYaml({
      node: "worker-2",
      dnsNames: ["worker-1"],
      ipAddresses: ["10.0.0.2"],
    }),
    "own.yaml": await csrYaml({
      node: "worker-2",
      dnsNames: ["worker-2"],
      ipAddresses: ["10.0.0.2"],
    }),
    "w1.yaml": stringify(WORKER_1),
    "w2.yaml": stringify(attacker),
  };
  const nodes = ["--node", "w1.yaml", "--node", "w2.yaml"];
  for (const csr of ["steal-ip.yaml", "steal-name.yaml"]) {
    const r = await check(files, [csr, ...nodes, "--output=json"]);
    assertEquals(r.code, 1, `${csr}: ${r.out.join("\n")}`);
    assert(r.json?.outcome !== "approve", csr);
    assertEquals(r.json?.reason, "SANContested", csr);
    assertMatch(String(r.json?.message), /worker-1/);
  }
  // Its own, uncontested addresses are still approvable.
  const own = await check(files, ["own.yaml", ...nodes]);
  assertEquals(own.code, 0, own.out.join("\n"));
});

Deno.test("check: a shared address is approvable for each node only inside --shared-address-cidrs", async () => {
  const nat = "203.0.113.7";
  const files = {
    "csr.yaml": await csrYaml({ ipAddresses: ["10.0.0.1", nat] }),
    "nodes.yaml": stringify({
      kind: "List",
      items: [
        node("worker-1", [
          ["Hostname", "worker-1"],
          ["InternalIP", "10.0.0.1"],
          ["ExternalIP", nat],
        ]),
        node("worker-2", [
          ["Hostname", "worker-2"],
          ["InternalIP", "10.0.0.2"],
          ["ExternalIP", nat],
        ]),
      ],
    }),
  };
  const contested = await check(files, [
    "csr.yaml",
    "--node",
    "nodes.yaml",
    "--output=json",
  ]);
  assertEquals([contested.code, contested.json?.reason], [1, "SANContested"]);
  const shared = await check(files, [
    "csr.yaml",
    "--node",
    "nodes.yaml",
    "--shared-address-cidrs=198.51.100.0/24",
    "--shared-address-cidrs",
    "203.0.113.0/24",
  ]);
  assertEquals(shared.code, 0, shared.out.join("\n"));
});

Deno.test("check: a CSR whose node is in no --node file gets the core's NodeNotFound, with a note", async () => {
  const r = await check(
    { "csr.yaml": await csrYaml(), "w2.yaml": stringify(WORKER_2) },
    ["csr.yaml", "--node", "w2.yaml", "--output=json"],
  );
  assertEquals([r.code, r.json?.outcome, r.json?.reason], [
    1,
    "wait",
    "NodeNotFound",
  ]);
  assertMatch(
    r.json?.notes?.join("\n") ?? "",
    /no --node file holds node "worker-1", the CSR's node \(they hold \["worker-2"\]\)/,
  );
});

Deno.test("check: every CertificateSigningRequest object gets a verdict (exit 1 with the core's reason)", async () => {
  const csr = await makeServingCsr({
    name: "csr-abc",
    creationTimestamp: "2026-01-01T00:00:00Z",
  });
  const b64 = (text: string) => new TextEncoder().encode(text).toBase64();
  const withSpec = (spec: Record<string, unknown>) =>
    stringify({ ...csr, spec: { ...csr.spec, ...spec } });
  const { signerName: _, ...noSigner } = csr.spec;
  const table: Array<[string, string, string, string]> = [
    [
      "garbage base64 in spec.request",
      withSpec({ request: "%%%not base64" }),
      "deny",
      "InvalidRequestEncoding",
    ],
    [
      "spec.request without a PEM block",
      withSpec({ request: b64("not a request") }),
      "deny",
      "InvalidRequestPEM",
    ],
    [
      "garbage DER in spec.request",
      withSpec({
        request: b64(
          "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgcmVxdWVzdA==\n-----END CERTIFICATE REQUEST-----\n",
        ),
      }),
      "deny",
      "InvalidRequest",
    ],
    [
      "no spec.signerName",
      stringify({ ...csr, spec: noSigner }),
      "ignore",
      "MalformedObject",
    ],
    [
      "another signer",
      withSpec({ signerName: "example.com/other" }),
      "ignore",
      "NotKubeletServing",
    ],
    [
      "no kind, a spec of another signer",
      JSON.stringify({ spec: { signerName: "x" } }),
      "ignore",
      "NotKubeletServing",
    ],
    [
      "kind CertificateSigningRequest without spec",
      stringify({ kind: "CertificateSigningRequest", metadata: { name: "x" } }),
      "ignore",
      "MalformedObject",
    ],
  ];
  for (const [what, text, outcome, reason] of table) {
    for (const nodes of [[], ["--node", "w1.yaml"]]) {
      const r = await check(
        { "csr.yaml": text, "w1.yaml": stringify(WORKER_1) },
        ["csr.yaml", ...nodes, "--output=json"],
      );
      assertEquals(r.err, [], what);
      assertEquals(r.code, 1, what);
      assertEquals([r.json?.outcome, r.json?.reason], [outcome, reason], what);
    }
  }
});

Deno.test("check: a bare PEM request is decided even when broken; a PEM that is no request exits 2", async () => {
  const files = {
    "tampered.pem": await makeCertificateRequestPem({ tamper: true }),
    "cert.pem":
      "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpE=\n-----END CERTIFICATE-----\n",
    "garbage.pem": "-----BEGIN CERTIFICATE REQUEST-----\n%%%\n",
    "two.pem": (await makeCertificateRequestPem()).repeat(2),
    "w1.yaml": stringify(WORKER_1),
  };
  const tampered = await check(files, [
    "tampered.pem",
    "--node",
    "w1.yaml",
    "--output=json",
  ]);
  assertEquals([tampered.code, tampered.json?.reason], [1, "SignatureInvalid"]);
  for (const file of ["cert.pem", "garbage.pem", "two.pem"]) {
    const r = await check(files, [file, "--node", "w1.yaml"]);
    assertEquals(r.code, 2, file);
    assertEquals(r.out, [], file);
    assertEquals(r.err.length, 1, file);
    assertMatch(
      r.err[0],
      /^error: CSR file ".*" is not a PEM-encoded certificate request \(InvalidRequest(PEM)?\): /,
    );
  }
});
