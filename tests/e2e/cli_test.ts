/** The command line as a user runs it: `deno run ... mod.ts [flags]`. */
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { VERSION } from "../../src/version.ts";
import { runCli } from "../support/cli.ts";

const run = (args: string[], env: Record<string, string> = {}) =>
  runCli(args, { env });

Deno.test("--help prints every flag and exits 0", async () => {
  const r = await run(["--help"]);
  assertEquals(r.code, 0);
  for (
    const flag of [
      "--kubeconfig",
      "--context",
      "--listen",
      "--dry-run",
      "--deny-invalid",
      "--log-format",
      "--log-level",
      "--kube-api-qps",
      "--kube-api-burst",
    ]
  ) {
    assert(r.stdout.includes(flag), `help lists ${flag}`);
  }
});

Deno.test("--version prints the version from deno.json and the Deno version", async () => {
  const r = await run(["--version"]);
  assertEquals(r.code, 0);
  assertMatch(
    r.stdout,
    new RegExp(
      `kubelet-rubber-stamp ${
        VERSION.replaceAll(".", "\\.")
      } \\(deno \\d+\\.\\d+\\.\\d+\\)`,
    ),
  );
});

Deno.test("a bad flag value exits 2 with one line naming the flag", async () => {
  const r = await run(["--log-format=xml"]);
  assertEquals(r.code, 2);
  assertEquals(r.stderr.trim().split("\n").length, 1);
  assertMatch(r.stderr, /--log-format/);
});

Deno.test("bad policy flags exit 2 with one log line each, before any connection", async () => {
  const r = await run([
    "--dns-name-pattern=(",
    "--protected-cidrs=nope",
    "--log-format=json",
    "--kubeconfig=/nonexistent/kubeconfig",
  ]);
  assertEquals(r.code, 2, r.stdout + r.stderr);
  const lines = (r.stdout + r.stderr).trim().split("\n")
    .filter((line) => line.includes("invalid policy flag"))
    .map((line) => JSON.parse(line).error);
  assertEquals(lines.length, 2, r.stdout + r.stderr);
  assertMatch(lines[0], /^--protected-cidrs: /);
  assertMatch(lines[1], /^--dns-name-pattern: "\(" is not a valid/);
});

Deno.test("an unreadable kubeconfig exits 1 with a clear error and no listener", async () => {
  const missing = await Deno.makeTempDir();
  try {
    const r = await run([
      `--kubeconfig=${missing}/nope.yaml`,
      "--listen=127.0.0.1:0",
    ]);
    assertEquals(r.code, 1);
    assertMatch(r.stderr, /nope\.yaml/);
    assertMatch(r.stderr, /cannot load cluster configuration/);
  } finally {
    await Deno.remove(missing, { recursive: true });
  }
});

Deno.test("a malformed kubeconfig exits 1 naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/kc.yaml`,
      "apiVersion: v1\nclusters: [ {{{\n",
    );
    const r = await run([
      `--kubeconfig=${dir}/kc.yaml`,
      "--listen=127.0.0.1:0",
    ]);
    assertEquals(r.code, 1);
    assertMatch(r.stderr, /kc\.yaml/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("no kubeconfig and not in a cluster exits 1 explaining what is missing", async () => {
  const r = await run(["--listen=127.0.0.1:0"], {
    KUBECONFIG: "",
    KUBERNETES_SERVICE_HOST: "",
  });
  assertEquals(r.code, 1);
  assertMatch(r.stderr, /KUBERNETES_SERVICE_HOST|kubeconfig/i);
});

Deno.test("a connection the TLS stack refuses is a one-line error and exit 1, not a crash", async () => {
  const { runDaemon } = await import("../../src/cli/daemon.ts");
  const { parseFlags } = await import("../../src/cli/parse_flags.ts");
  const lines: string[] = [];
  const { createLogger } = await import("../../src/log.ts");
  const code = await runDaemon(parseFlags(["--listen=127.0.0.1:0"]), {
    connection: {
      server: "https://127.0.0.1:1",
      caPem:
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
      source: "test",
    },
    log: createLogger({ format: "json", write: (l) => lines.push(l) }),
  });
  assertEquals(code, 1);
  assertEquals(lines.length, 1);
  assertMatch(lines[0], /cannot load cluster configuration/);
});

Deno.test("deno task check works with exactly the task's permissions, on YAML, JSON, PEM and stdin", async () => {
  const { makeServingCsr, makeCertificateRequestPem } = await import(
    "../support/csr_factory.ts"
  );
  const { stringify } = await import("yaml");
  const dir = await Deno.makeTempDir();
  try {
    const csr = await makeServingCsr({
      name: "csr-task",
      node: "worker-1",
      ipAddresses: ["10.0.0.5"],
    });
    await Deno.writeTextFile(`${dir}/csr.json`, JSON.stringify(csr));
    await Deno.writeTextFile(`${dir}/csr.yaml`, stringify(csr));
    await Deno.writeTextFile(
      `${dir}/csr.pem`,
      await makeCertificateRequestPem({
        node: "worker-1",
        ipAddresses: ["10.0.0.5"],
      }),
    );
    await Deno.writeTextFile(
      `${dir}/node.yaml`,
      stringify({
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: "worker-1" },
        status: {
          addresses: [{ type: "Hostname", address: "worker-1" }, {
            type: "InternalIP",
            address: "10.0.0.5",
          }],
        },
      }),
    );
    await Deno.writeTextFile(`${dir}/bad.yaml`, "spec: [unclosed\n");
    const task = async (args: string[], stdin?: string) => {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["task", "-q", "check", ...args],
        env: { NO_COLOR: "1" },
        stdin: stdin === undefined ? "null" : "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      if (stdin !== undefined) {
        const w = child.stdin.getWriter();
        await w.write(new TextEncoder().encode(stdin));
        await w.close();
      }
      const out = await child.output();
      const dec = new TextDecoder();
      return {
        code: out.code,
        stdout: dec.decode(out.stdout),
        stderr: dec.decode(out.stderr),
      };
    };
    for (const file of ["csr.json", "csr.yaml"]) {
      const r = await task([`${dir}/${file}`, "--node", `${dir}/node.yaml`]);
      assertEquals(r.code, 0, `${file}: ${r.stdout}${r.stderr}`);
      assertMatch(r.stdout, /^APPROVABLE csr-task/);
      assertMatch(r.stdout, /pass\s+san-ownership/);
    }
    const pem = await task([`${dir}/csr.pem`, "--node", `${dir}/node.yaml`]);
    assertEquals(pem.code, 0, pem.stdout + pem.stderr);
    // Without --node ownership is unknown: the daemon would wait, so does check.
    const unknown = await task([`${dir}/csr.pem`]);
    assertEquals(unknown.code, 1, unknown.stdout + unknown.stderr);
    assertMatch(
      unknown.stdout,
      /^NOT APPROVABLE pem-request: NodeAddressesUnknown: waiting: ownership unknown, pass --node/,
    );
    // `deno task check -- ...` (the form README shows for `start`) works too.
    const dashed = await task([
      "--",
      `${dir}/csr.yaml`,
      "--node",
      `${dir}/node.yaml`,
    ]);
    assertEquals(dashed.code, 0, dashed.stdout + dashed.stderr);
    const stdin = await task(
      ["-", "--node", `${dir}/node.yaml`],
      JSON.stringify(csr),
    );
    assertEquals(stdin.code, 0, stdin.stdout + stdin.stderr);
    // Another node's address: not approvable.
    const other = await task([
      `${dir}/csr.yaml`,
      "--node",
      `${dir}/node.yaml`,
      "--protected-cidrs=10.0.0.0/24",
    ]);
    assertEquals(other.code, 1, other.stdout);
    assertMatch(other.stdout, /ProtectedName/);
    const bad = await task([`${dir}/bad.yaml`]);
    assertEquals(bad.code, 2, bad.stdout + bad.stderr);
    // A daemon-only flag is refused by check.
    const workers = await task([`${dir}/csr.yaml`, "--workers=4"]);
    assertEquals(workers.code, 2, workers.stdout + workers.stderr);
    assertEquals(
      workers.stderr.trim(),
      "error: unknown flag --workers (see --help)",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a bare -- (left by deno task start -- ...) is accepted: the daemon and check run", async () => {
  const help = await run(["--", "--help"]);
  assertEquals(help.code, 0, help.stderr);
  assertMatch(help.stdout, /--shared-address-cidrs list\n/);
  const version = await run(["--", "--version"]);
  assertEquals(version.code, 0, version.stderr);
  assertMatch(version.stdout, /^kubelet-rubber-stamp /);
  const check = await run(["--", "check", "--help"]);
  assertEquals(check.code, 0, check.stderr);
  assertMatch(check.stdout, /^Usage: kubelet-rubber-stamp check FILE/);
  assertMatch(check.stdout, /\n {2}--node file\n/);
  const node = await run(["--node", "x.yaml"]);
  assertEquals([node.code, node.stderr.trim()], [
    2,
    "error: unknown flag --node (see --help)",
  ]);
});

Deno.test("deno task start -- --kubeconfig FILE --dry-run (README's form) reaches the daemon", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 30_000);
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "task",
          "-q",
          "start",
          "--",
          "--kubeconfig",
          `${dir}/missing.yaml`,
          "--dry-run",
          "--listen=127.0.0.1:0",
        ],
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: ac.signal,
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      // Flags parsed (no exit 2 "unexpected argument"), the kubeconfig read.
      assert(!/unexpected argument/.test(stderr), stderr);
      assertEquals(out.code, 1, stderr);
      assertMatch(stderr, /cannot load cluster configuration/);
      assertMatch(stderr, /missing\.yaml/);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
