import { stringify } from "yaml";
import {
  CHECK_USAGE,
  type CheckCommandIo,
  parseCheckArgs,
  runCheck,
} from "../../../src/cli/check.ts";
import { CHECK_FLAGS, FLAGS } from "../../../src/cli/flag_table.ts";
import { SERVING_POLICY_RULES } from "../../../src/core/policy_checks.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import {
  makeCertificateRequestPem,
  makeServingCsr,
  type ServingCsrOptions,
} from "../../support/csr_factory.ts";

const NOW = new Date("2026-01-01T00:01:00Z");

const NODE = {
  apiVersion: "v1",
  kind: "Node",
  metadata: { name: "worker-1" },
  status: {
    addresses: [
      { type: "Hostname", address: "worker-1" },
      { type: "InternalIP", address: "10.0.0.1" },
    ],
  },
};

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function run(
  args: string[],
  io: Partial<CheckCommandIo> = {},
): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCheck(args, {
    write: (line) => out.push(line),
    writeError: (line) => err.push(line),
    now: () => NOW,
    ...io,
  });
  return { code, out, err };
}

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "check_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function writeCsr(
  dir: string,
  file: string,
  opts: ServingCsrOptions = {},
  format: "yaml" | "json" = "yaml",
): Promise<string> {
  const csr = await makeServingCsr({
    name: "csr-abc",
    creationTimestamp: "2026-01-01T00:00:00Z",
    ...opts,
  });
  const path = `${dir}/${file}`;
  await Deno.writeTextFile(
    path,
    format === "yaml" ? stringify(csr) : JSON.stringify(csr, null, 2),
  );
  return path;
}

async function writeNode(dir: string, node: unknown = NODE): Promise<string> {
  const path = `${dir}/node.yaml`;
  await Deno.writeTextFile(path, stringify(node));
  return path;
}

Deno.test("check: YAML CSR with its Node is approvable, every rule on one line", async () => {
  await withDir(async (dir) => {
    const csr = await writeCsr(dir, "csr.yaml");
    const node = await writeNode(dir);
    const r = await run([csr, "--node", node]);
    assertEquals(r.code, 0, r.out.join("\n"));
    assertEquals(r.err, []);
    assertEquals(
      r.out[0],
      "APPROVABLE csr-abc (node worker-1): kubelet serving certificate for node worker-1 (DNS worker-1; IP 10.0.0.1)",
    );
    assertEquals(r.out.slice(1).map((l) => l.split("  ")[2]), [
      "signer",
      "state",
      "requester",
      "object",
      "request",
      "subject-organization",
      "subject-common-name",
      "requester-identity",
      "requester-group",
      "usages",
      "subject-alt-names",
      "signature",
      "key-policy",
      // Every policy rule of the core, in its order (san-ownership last).
      ...SERVING_POLICY_RULES.map((rule) => rule.id),
      "authorization",
    ]);
    assertEquals(
      SERVING_POLICY_RULES.map((rule) => rule.id).at(-1),
      "san-ownership",
    );
    assert(
      r.out.includes(
        '  pass  subject-organization  subject organization is ["system:nodes"]',
      ),
      r.out.join("\n"),
    );
    assert(
      r.out.includes(
        '  pass  san-ownership  every SAN is an address of node "worker-1"',
      ),
    );
    assertEquals(r.out.at(-1), "  skip  authorization  not checked (offline)");
  });
});

Deno.test("check: without --node a request the core would approve waits (exit 1), as the daemon waits for the Node", async () => {
  await withDir(async (dir) => {
    const csr = await writeCsr(dir, "csr.json", {}, "json");
    const r = await run([csr]);
    assertEquals(r.code, 1, r.out.join("\n"));
    assertEquals(r.err, []);
    assertEquals(
      r.out[0],
      'NOT APPROVABLE csr-abc: NodeAddressesUnknown: waiting: ownership unknown, pass --node FILE (kubectl get nodes -o yaml) to check that every SAN is an address of node "worker-1" and of no other Node (outcome wait)',
    );
    assert(
      r.out.includes(
        '  FAIL  san-ownership  NodeAddressesUnknown: waiting: ownership unknown, pass --node FILE (kubectl get nodes -o yaml) to check that every SAN is an address of node "worker-1" and of no other Node',
      ),
      r.out.join("\n"),
    );
    // The SubjectAccessReview stays unchecked offline.
    assertEquals(r.out.at(-1), "  skip  authorization  not checked (offline)");
    const json = await run([csr, "--output=json"]);
    assertEquals(json.code, 1);
    const decision = JSON.parse(json.out[0]);
    assertEquals(
      [decision.outcome, decision.reason, decision.node],
      ["wait", "NodeAddressesUnknown", "worker-1"],
    );
    assertMatch(decision.message, /waiting: ownership unknown, pass --node/);
    const line = decision.checks.find((c: { rule: string }) =>
      c.rule === "san-ownership"
    );
    assertEquals([line.result, line.reason], ["fail", "NodeAddressesUnknown"]);
    assertMatch(line.message, /^waiting: ownership unknown, pass --node/);
  });
});

Deno.test("check: without --node a deny or ignore stays as the core decided; only an approve becomes a wait", async () => {
  await withDir(async (dir) => {
    const table: Array<[ServingCsrOptions, string, string]> = [
      [
        { usages: ["digital signature", "client auth"] },
        "deny",
        "UsageMismatch",
      ],
      [{ dnsNames: ["localhost"] }, "deny", "ProtectedName"],
      [{ signerName: "example.com/other" }, "ignore", "NotKubeletServing"],
      [
        { username: "alice", groups: ["system:authenticated"] },
        "ignore",
        "NotNodeRequester",
      ],
      [{ creationTimestamp: "2025-12-31T22:00:00Z" }, "ignore", "TooOld"],
    ];
    for (const [opts, outcome, reason] of table) {
      const csr = await writeCsr(dir, "csr.json", opts, "json");
      const r = await run([csr, "--output=json"]);
      assertEquals(r.code, 1, JSON.stringify(opts));
      const d = JSON.parse(r.out[0]);
      assertEquals(
        [d.outcome, d.reason],
        [outcome, reason],
        JSON.stringify(opts),
      );
    }
    // The ownership line of a deny says why ownership was not checked.
    const csr = await writeCsr(dir, "csr.yaml", { dnsNames: ["localhost"] });
    const r = await run([csr]);
    assert(
      r.out.some((l) =>
        /^ {2}skip {2}san-ownership {2}waiting: ownership unknown, pass --node/
          .test(l)
      ),
      r.out.join("\n"),
    );
  });
});

Deno.test("check: without --node and with --verify-node-addresses=false ownership is not checked and the request is approvable", async () => {
  await withDir(async (dir) => {
    const csr = await writeCsr(dir, "csr.yaml");
    const r = await run([csr, "--verify-node-addresses=false"]);
    assertEquals(r.code, 0, r.out.join("\n"));
    assertMatch(r.out[0], /^APPROVABLE csr-abc \(node worker-1\)/);
    assert(
      r.out.some((l) =>
        l.startsWith(
          "  skip  san-ownership  not checked: --verify-node-addresses=false",
        )
      ),
      r.out.join("\n"),
    );
  });
});

Deno.test("check: bare PEM input is checked as the kubelet would send it", async () => {
  await withDir(async (dir) => {
    const table: Array<[ServingCsrOptions, number, RegExp]> = [
      [{}, 0, /usages \["digital signature","server auth"\]/],
      [
        { key: "rsa-2048" },
        0,
        /usages \["digital signature","key encipherment","server auth"\]/,
      ],
      [{ ipAddresses: ["127.0.0.1"] }, 1, /"system:node:worker-1"/],
    ];
    const node = await writeNode(dir);
    for (const [opts, code, note] of table) {
      const path = `${dir}/req.pem`;
      await Deno.writeTextFile(path, await makeCertificateRequestPem(opts));
      const r = await run([path, "--node", node]);
      assertEquals(r.code, code, r.out.join("\n"));
      const last = r.out.at(-1)!;
      assertMatch(last, /^note: input is a bare PEM request/);
      assertMatch(last, note);
    }
    // The protected one says why, with or without --node.
    const path = `${dir}/req.pem`;
    const r = await run([path]);
    assertEquals(r.code, 1);
    assertMatch(
      r.out[0],
      /^NOT APPROVABLE pem-request: ProtectedName: IP "127\.0\.0\.1" is a loopback address/,
    );
    assert(
      r.out.some((l) =>
        l.startsWith("  FAIL  protected-names  ProtectedName: ")
      ),
    );
  });
});

Deno.test("check: - reads the CSR from stdin", async () => {
  const csr = await makeServingCsr({
    name: "csr-stdin",
    creationTimestamp: "2026-01-01T00:00:00Z",
  });
  let reads = 0;
  const files: string[] = [];
  const r = await run(["-", "--node", "node.yaml"], {
    readStdin: () => {
      reads++;
      return Promise.resolve(stringify(csr));
    },
    readFile: (path) => {
      files.push(path);
      return path === "node.yaml"
        ? Promise.resolve(stringify(NODE))
        : Promise.reject(new Error("no such file"));
    },
  });
  assertEquals([r.code, reads, files], [0, 1, ["node.yaml"]]);
  assertMatch(r.out[0], /^APPROVABLE csr-stdin /);
});

Deno.test("check: a List of one CSR (kubectl get csr -o yaml) is accepted", async () => {
  const csr = await makeServingCsr({
    name: "csr-listed",
    creationTimestamp: "2026-01-01T00:00:00Z",
  });
  const list = { apiVersion: "v1", kind: "List", items: [csr] };
  const r = await run(["-", "--node", "node.yaml"], {
    readStdin: () => Promise.resolve(stringify(list)),
    readFile: () => Promise.resolve(stringify(NODE)),
  });
  assertEquals(r.code, 0);
  assertMatch(r.out[0], /^APPROVABLE csr-listed /);
});

Deno.test("check: not approvable requests exit 1 and name the failing rule", async () => {
  await withDir(async (dir) => {
    const node = await writeNode(dir);
    const table: Array<[ServingCsrOptions, string[], RegExp, RegExp?]> = [
      [
        { usages: ["digital signature", "client auth"] },
        [],
        /^NOT APPROVABLE csr-abc: UsageMismatch: usages are .* \(outcome deny\)$/,
        /^ {2}FAIL {2}usages {2}UsageMismatch: /,
      ],
      [
        { dnsNames: ["kubernetes.default.svc"] },
        [],
        /^NOT APPROVABLE csr-abc: ProtectedName: /,
        /^ {2}FAIL {2}protected-names {2}ProtectedName: /,
      ],
      [
        { ipAddresses: ["10.0.0.9"] },
        ["--node", node],
        /^NOT APPROVABLE csr-abc: SANNotOwnedByNode: .*\(outcome wait, final at 2026-01-01T00:15:00\.000Z\)$/,
        /^ {2}FAIL {2}san-ownership {2}SANNotOwnedByNode: /,
      ],
      [
        { node: "worker-2", dnsNames: ["worker-2"], ipAddresses: ["10.0.0.1"] },
        ["--node", node],
        /^NOT APPROVABLE csr-abc: SANNotOwnedByNode: IP "10\.0\.0\.1" belongs to node "worker-1", not to "worker-2" \(outcome deny\)$/,
      ],
      [
        { signerName: "example.com/other" },
        [],
        /^NOT APPROVABLE csr-abc: NotKubeletServing: .*\(outcome ignore: not handled by the approver\)$/,
      ],
      [
        { username: "alice", groups: ["system:authenticated"] },
        [],
        /^NOT APPROVABLE csr-abc: NotNodeRequester: /,
      ],
      [
        { ipAddresses: ["10.0.0.1", "10.0.0.2"] },
        ["--max-ip-addresses", "1"],
        /^NOT APPROVABLE csr-abc: PolicyViolation: request has 2 IP addresses/,
      ],
      [
        { expirationSeconds: 999_999 },
        ["--max-expiration-seconds=86400"],
        /^NOT APPROVABLE csr-abc: ExpirationTooLong: /,
      ],
      [
        {},
        ["--allowed-cidrs", "192.168.0.0/16,fd00::/8"],
        /^NOT APPROVABLE csr-abc: PolicyViolation: IP address \["10\.0\.0\.1"\] not inside/,
      ],
      [
        {},
        ["--api-service-ip", "10.0.0.1"],
        /^NOT APPROVABLE csr-abc: ProtectedName: IP "10\.0\.0\.1" is the API server's Service IP/,
      ],
      [
        { creationTimestamp: "2025-12-31T22:00:00Z" },
        [],
        /^NOT APPROVABLE csr-abc: TooOld: /,
      ],
    ];
    for (const [opts, flags, verdict, line] of table) {
      const csr = await writeCsr(dir, "csr.yaml", opts);
      const r = await run([csr, ...flags]);
      assertEquals(r.code, 1, `${JSON.stringify(opts)}: ${r.out.join("\n")}`);
      assertMatch(r.out[0], verdict);
      if (line) assert(r.out.some((l) => line.test(l)), r.out.join("\n"));
    }
  });
});

Deno.test("check: policy flags can make a request approvable", async () => {
  await withDir(async (dir) => {
    const node = await writeNode(dir);
    const csr = await writeCsr(dir, "csr.yaml", {
      dnsNames: ["worker-1.evil"],
    });
    assertEquals((await run([csr, "--node", node])).code, 1);
    const r = await run([
      csr,
      "--node",
      node,
      "--verify-node-addresses=false",
      "--dns-name-pattern",
      "worker-\\d+(\\.evil)?",
      "--allowed-cidrs=10.0.0.0/8",
    ]);
    assertEquals(r.code, 0, r.out.join("\n"));
    assert(
      r.out.some((l) =>
        l.startsWith(
          "  skip  san-ownership  not checked: --verify-node-addresses=false",
        )
      ),
    );
  });
});

Deno.test("check: --output json prints the decision", async () => {
  await withDir(async (dir) => {
    const csr = await writeCsr(dir, "csr.json", {}, "json");
    const node = await writeNode(dir);
    const r = await run([csr, "--node", node, "--output", "json"]);
    assertEquals(r.code, 0);
    assertEquals(r.out.length, 1);
    const json = JSON.parse(r.out[0]);
    assertEquals(
      [json.csr, json.outcome, json.reason, json.node],
      ["csr-abc", "approve", "AutoApproved", "worker-1"],
    );
    assertEquals(json.checks.at(-1).rule, "authorization");
    const waiting = await writeCsr(dir, "w.json", {
      ipAddresses: ["10.9.9.9"],
    });
    const w = await run([waiting, "--node", node, "--output=json"]);
    assertEquals(w.code, 1);
    assertEquals(
      [JSON.parse(w.out[0]).outcome, JSON.parse(w.out[0]).retryAt],
      ["wait", "2026-01-01T00:15:00.000Z"],
    );
  });
});

Deno.test("check: unreadable input and bad arguments exit 2 with one error line", async () => {
  await withDir(async (dir) => {
    const good = await writeCsr(dir, "good.yaml");
    const file = async (name: string, text: string) => {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      return `${dir}/${name}`;
    };
    const csr = await makeServingCsr({
      creationTimestamp: "2026-01-01T00:00:00Z",
    });
    const table: Array<[string[], RegExp]> = [
      [
        [`${dir}/missing.yaml`],
        /^error: cannot read CSR file ".*missing\.yaml": /,
      ],
      [[await file("bad.yaml", "spec: [unclosed\n")], /is not YAML or JSON: /],
      [[await file("scalar.yaml", "just words\n")], /does not hold an object/],
      [
        [await file("node-as-csr.yaml", stringify(NODE))],
        /holds a "Node", expected a CertificateSigningRequest/,
      ],
      [
        [await file("no-kind-no-spec.json", JSON.stringify({ metadata: {} }))],
        /holds an object with neither kind nor spec, expected a CertificateSigningRequest/,
      ],
      [
        [
          await file(
            "node-list-as-csr.yaml",
            stringify({ kind: "List", items: [NODE] }),
          ),
        ],
        /holds a "Node", expected a CertificateSigningRequest/,
      ],
      [
        [
          await file(
            "cert.pem",
            "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpE=\n-----END CERTIFICATE-----\n",
          ),
        ],
        /is not a PEM-encoded certificate request \(InvalidRequestPEM\): PEM block type is "CERTIFICATE"/,
      ],
      [
        [await file("garbage.pem", "-----BEGIN garbage\n%%%\n")],
        /is not a PEM-encoded certificate request \(InvalidRequestPEM\)/,
      ],
      [
        [
          await file(
            "garbage-der.pem",
            "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgcmVxdWVzdA==\n-----END CERTIFICATE REQUEST-----\n",
          ),
        ],
        /is not a PEM-encoded certificate request \(InvalidRequest\)/,
      ],
      [
        [
          good,
          "--node",
          await file(
            "mixed-list.yaml",
            stringify({ kind: "List", items: [NODE, csr] }),
          ),
        ],
        /^error: Node file ".*mixed-list\.yaml", item 1 holds a "CertificateSigningRequest", expected a Node$/,
      ],
      [
        [
          good,
          "--node",
          await file("node-a.yaml", stringify(NODE)),
          "--node",
          await file(
            "node-a-again.yaml",
            stringify({ ...NODE, status: { addresses: [] } }),
          ),
        ],
        /node "worker-1" is also in ".*node-a\.yaml" with other addresses/,
      ],
      [["-", "--node", "-"], /standard input \(-\) can be read once/],
      [
        [good, "--workers", "4"],
        /^error: unknown flag --workers \(see --help\)$/,
      ],
      [[good, "--max-dns-names", "1e3"], /expected an integer/],
      [
        [
          await file(
            "list.yaml",
            stringify({ kind: "List", items: [csr, csr] }),
          ),
        ],
        /is a List of 2 items, expected one CertificateSigningRequest/,
      ],
      [
        [good, "--node", `${dir}/missing-node.yaml`],
        /^error: cannot read Node file /,
      ],
      [
        [
          good,
          "--node",
          await file("nameless.yaml", "kind: Node\nstatus: {}\n"),
        ],
        /has no metadata\.name/,
      ],
      [
        [good, "--node", good],
        /holds a "CertificateSigningRequest", expected a Node/,
      ],
      [[], /^error: missing FILE/],
      [[good, good], /^error: expected one FILE, found 2/],
      [[good, "--bogus"], /^error: unknown flag --bogus/],
      [[good, "--node"], /^error: flag --node needs a value/],
      [
        [good, "--max-dns-names", "two"],
        /^error: invalid value "two" for --max-dns-names/,
      ],
      [[good, "--verify-node-addresses=maybe"], /expected true or false/],
      [[good, "--shared-address-cidrs", "10.0.0.0/33"], /shared-address-cidrs/],
      [[good, "--output", "xml"], /expected text or json/],
      [[good, "--node-address-wait", "soon"], /expected a duration/],
      [[good, "--allowed-cidrs", "10.0.0.0/33"], /^error: --allowed-cidrs: /],
      [[good, "--dns-name-pattern", "("], /^error: --dns-name-pattern: /],
      [[good, "--protected-cidrs", "nope"], /^error: --protected-cidrs: /],
      [[good, "--api-service-ip", "10.0.0"], /^error: --api-service-ip: /],
    ];
    for (const [args, error] of table) {
      const r = await run(args);
      assertEquals(r.code, 2, `${args.join(" ")}: ${r.out.join("\n")}`);
      assertEquals(r.out, [], args.join(" "));
      assertEquals(r.err.length, 1, args.join(" "));
      assertMatch(r.err[0], /^error: /);
      assertMatch(r.err[0], error, args.join(" "));
    }
  });
});

Deno.test("check: several bad policy flags exit 2 with one error line each", async () => {
  await withDir(async (dir) => {
    const good = await writeCsr(dir, "good.yaml");
    const r = await run([
      good,
      "--dns-name-pattern",
      "(",
      "--allowed-cidrs",
      "10.0.0.0/33",
      "--protected-cidrs",
      "nope",
    ]);
    assertEquals([r.code, r.out], [2, []]);
    assertEquals(r.err.length, 3, r.err.join("\n"));
    assertMatch(r.err[0], /^error: --protected-cidrs: /);
    assertMatch(r.err[1], /^error: --dns-name-pattern: "\(" is not a valid/);
    assertMatch(r.err[2], /^error: --allowed-cidrs: "10\.0\.0\.0\/33"/);
  });
});

Deno.test("check: errors go to write when no writeError is given", async () => {
  const lines: string[] = [];
  const code = await runCheck(["--bogus"], { write: (l) => lines.push(l) });
  assertEquals(code, 2);
  assertEquals(lines, ["error: unknown flag --bogus (see --help)"]);
});

Deno.test("check: --help prints usage generated from the flag table and exits 0", async () => {
  for (const flag of ["--help", "-h"]) {
    const r = await run([flag]);
    assertEquals([r.code, r.out], [0, [CHECK_USAGE]]);
  }
  for (const def of CHECK_FLAGS) {
    assert(
      new RegExp(`^ {2}--${def.name}( |,|$)`, "m").test(CHECK_USAGE),
      `check --help lists --${def.name}`,
    );
  }
  for (const def of FLAGS.filter((f) => !CHECK_FLAGS.includes(f))) {
    assert(
      !new RegExp(`^ {2}--${def.name}( |,|$)`, "m").test(CHECK_USAGE),
      `check --help does not list the daemon's --${def.name}`,
    );
  }
  assertMatch(CHECK_USAGE, /--verify-node-addresses\n.*UNSAFE/);
  assertMatch(CHECK_USAGE, /--shared-address-cidrs list\n/);
});

Deno.test("check: arguments map onto the serving policy", () => {
  const o = parseCheckArgs([
    "-",
    "--cluster-domain=corp.k8s",
    "--protected-names",
    "a.example, b.example,",
    "--protected-names=c.example",
    "--api-service-ip",
    "10.96.0.1,fd00::1",
    "--max-dns-names",
    "3",
    "--max-pending-age",
    "0",
    "--node-address-wait=90s",
    "--verify-node-addresses",
    "--",
    "--shared-address-cidrs=203.0.113.0/24",
    "--shared-address-cidrs",
    "198.51.100.0/24",
  ]);
  assertEquals(o.input, "-");
  assertEquals(o.policy.clusterDomain, "corp.k8s");
  assertEquals(o.policy.protectedNames, [
    "a.example",
    "b.example",
    "c.example",
  ]);
  assertEquals(o.policy.apiServiceIps, ["10.96.0.1", "fd00::1"]);
  assertEquals(o.policy.maxDnsNames, 3);
  // 0 turns the age limit off, as in the daemon (undefined: off).
  assertEquals(o.policy.maxPendingAgeMs, undefined);
  assertEquals(parseCheckArgs(["-"]).policy.maxPendingAgeMs, 3_600_000);
  assertEquals(o.policy.sharedAddressCidrs, [
    "203.0.113.0/24",
    "198.51.100.0/24",
  ]);
  assertEquals(o.policy.nodeAddressWaitMs, 90_000);
  assertEquals(o.policy.verifyNodeAddresses, true);
  assertEquals(o.policy.allowedCidrs, undefined);
});
