/**
 * A kubeconfig, CA or token that is unreadable or malformed: the daemon
 * stops at start with one clear line naming the file and field at fault,
 * exit code 1, no stack trace, no listener, and never echoes key material.
 * Every case runs in-process (fast); the ones marked `cli` also run as a
 * user runs them, `deno run ... mod.ts`. (Missing and unparsable kubeconfig
 * files and the no-config case are in tests/e2e/cli_test.ts.)
 */
import { runCli } from "../../support/cli.ts";
import { runDaemon } from "../../../src/cli/daemon.ts";
import { parseFlags } from "../../../src/cli/parse_flags.ts";
import { createLogger } from "../../../src/log.ts";
import { assert } from "../../support/assert.ts";
import { createTestCa } from "../../support/tls.ts";

const ca = await createTestCa("faults-config CA");
const otherCa = await createTestCa("faults-config other CA");
const client = await ca.issue({ subject: "CN=admin", client: true });

interface Case {
  name: string;
  /** Files to write in the case's directory (name → content). */
  files?: Record<string, string>;
  /** Directories to create in the case's directory. */
  dirs?: string[];
  /** Files whose permissions become 000. */
  unreadable?: string[];
  /** Extra `cluster:` fields of the kubeconfig (YAML flow values). */
  cluster?: Record<string, string>;
  /** `user:` fields of the kubeconfig; default a bearer token. */
  user?: Record<string, string>;
  /** Use this path as --kubeconfig instead of the written kubeconfig. */
  kubeconfig?: string;
  /** Patterns stderr must match (`$DIR` is replaced by the directory). */
  expect: (string | RegExp)[];
  /** Strings stderr must not contain (e.g. key material). */
  absent?: string[];
  /** Also run through the command line (a subprocess, slower). */
  cli?: boolean;
}

const b64 = (text: string) => new TextEncoder().encode(text).toBase64();
const keyBody = (pem: string) =>
  pem.split("\n").filter((l) => l && !l.startsWith("-----"))[1] ?? "";

const cases: Case[] = [
  {
    name: "certificate-authority file missing",
    cli: true,
    cluster: { "certificate-authority": "missing-ca.pem" },
    expect: [".cluster.certificate-authority: cannot read $DIR/missing-ca.pem"],
  },
  {
    name: "certificate-authority is a directory",
    dirs: ["ca-dir"],
    cluster: { "certificate-authority": "ca-dir" },
    expect: ["certificate-authority", "cannot read $DIR/ca-dir"],
  },
  {
    name: "certificate-authority file without read permission",
    files: { "ca.pem": ca.cert },
    unreadable: ["ca.pem"],
    cluster: { "certificate-authority": "ca.pem" },
    expect: ["certificate-authority", "cannot read $DIR/ca.pem"],
  },
  {
    name: "certificate-authority file is not PEM",
    cli: true,
    files: { "ca.pem": "this is not a certificate\n" },
    cluster: { "certificate-authority": "ca.pem" },
    expect: [
      "certificate-authority",
      "expected a PEM CERTIFICATE, found 26 characters of text that is not PEM",
    ],
  },
  {
    name: "certificate-authority file holds a private key",
    files: { "ca.pem": client.key },
    cluster: { "certificate-authority": "ca.pem" },
    expect: ["certificate-authority", /found a PEM [A-Z ]*PRIVATE KEY block/],
    absent: [keyBody(client.key)],
  },
  {
    name: "certificate-authority is PEM armour around garbage",
    cli: true,
    files: {
      "ca.pem":
        "-----BEGIN CERTIFICATE-----\nAAAABBBBCCCC\n-----END CERTIFICATE-----\n",
    },
    cluster: { "certificate-authority": "ca.pem" },
    expect: ["certificate-authority", "not usable for TLS"],
  },
  {
    name: "certificate-authority-data is not base64",
    cli: true,
    cluster: { "certificate-authority-data": '"not base64 at all!"' },
    expect: ["certificate-authority-data", "expected base64 of PEM text"],
  },
  {
    name: "certificate-authority-data is base64 of something that is not PEM",
    cluster: { "certificate-authority-data": b64("hello world") },
    expect: [
      "certificate-authority-data",
      "expected a PEM CERTIFICATE, found 11 characters of text that is not PEM",
    ],
  },
  {
    name: "tokenFile missing",
    cli: true,
    user: { tokenFile: "missing-token" },
    expect: [".user.tokenFile: reading token file $DIR/missing-token"],
  },
  {
    name: "tokenFile empty",
    files: { token: "\n" },
    user: { tokenFile: "token" },
    expect: ["tokenFile", "token file $DIR/token is empty"],
  },
  {
    name: "client certificate and key that do not belong together",
    files: { "crt.pem": client.cert, "key.pem": otherCa.key },
    user: { "client-certificate": "crt.pem", "client-key": "key.pem" },
    expect: ["client-certificate and", "client-key: not usable for TLS"],
    absent: [keyBody(otherCa.key)],
  },
  {
    name: "the kubeconfig path is a directory",
    dirs: ["kc-dir"],
    kubeconfig: "kc-dir",
    expect: ["kubeconfig $DIR/kc-dir: cannot read"],
  },
];

function kubeconfig(c: Case): string {
  const fields = (o: Record<string, string>) =>
    Object.entries(o).map(([k, v]) => `${k}: ${v}`).join(", ");
  const cluster = {
    server: "https://127.0.0.1:1",
    "certificate-authority-data": b64(ca.cert),
    ...c.cluster,
  };
  if (c.cluster?.["certificate-authority"]) {
    delete (cluster as Record<string, string>)["certificate-authority-data"];
  }
  return [
    "apiVersion: v1",
    "kind: Config",
    "current-context: c",
    "contexts: [{name: c, context: {cluster: k, user: u}}]",
    `clusters: [{name: k, cluster: {${fields(cluster)}}}]`,
    `users: [{name: u, user: {${fields(c.user ?? { token: "t0k3n" })}}}]`,
    "",
  ].join("\n");
}

interface Run {
  code: number;
  stderr: string;
  stdout: string;
}

/** Runs the CLI as a user would, killed if it has not exited in 15 s. */
const runCliWith = (kubeconfigPath: string): Promise<Run> =>
  runCli(flagsFor(kubeconfigPath), {
    env: { KUBECONFIG: "", KUBERNETES_SERVICE_HOST: "" },
  });

const flagsFor = (kubeconfigPath: string) => [
  `--kubeconfig=${kubeconfigPath}`,
  "--listen=127.0.0.1:0",
];

/** Runs the daemon in this process, its log captured as stderr. */
async function runInProcess(kubeconfigPath: string): Promise<Run> {
  const lines: string[] = [];
  const code = await runDaemon(parseFlags(flagsFor(kubeconfigPath)), {
    log: createLogger({
      format: "text",
      level: "debug",
      write: (l) => lines.push(l),
    }),
  });
  return { code, stdout: "", stderr: lines.map((l) => l + "\n").join("") };
}

/** Writes the case's files; undefined when it cannot be set up here. */
async function prepare(c: Case, dir: string): Promise<string | undefined> {
  for (const d of c.dirs ?? []) await Deno.mkdir(`${dir}/${d}`);
  for (const [name, text] of Object.entries(c.files ?? {})) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
  for (const name of c.unreadable ?? []) {
    await Deno.chmod(`${dir}/${name}`, 0);
    // Permissions do not bind root (CI containers): nothing to test then.
    const readable = await Deno.readTextFile(`${dir}/${name}`).then(
      () => true,
      () => false,
    );
    if (readable) return undefined;
  }
  await Deno.writeTextFile(`${dir}/config.yaml`, kubeconfig(c));
  return `${dir}/${c.kubeconfig ?? "config.yaml"}`;
}

/** What is wrong with the run of `c`, or nothing. */
function problems(c: Case, dir: string, r: Run): string[] {
  const found: string[] = [];
  if (r.code !== 1) found.push(`exit code ${r.code}, expected 1`);
  const lines = r.stderr.trim().split("\n").filter((l) => l !== "");
  if (lines.length !== 1) {
    found.push(`${lines.length} lines on stderr, expected one`);
  }
  if (!/cannot load cluster configuration/.test(r.stderr)) {
    found.push("no 'cannot load cluster configuration' line");
  }
  if (/Uncaught|\n\s+at /.test(r.stderr)) found.push("a stack trace");
  if (/starting|listen/.test(r.stderr + r.stdout)) {
    found.push("the daemon started");
  }
  for (const e of c.expect) {
    const ok = typeof e === "string"
      ? r.stderr.includes(e.replaceAll("$DIR", dir))
      : e.test(r.stderr);
    if (!ok) found.push(`stderr lacks ${e}`);
  }
  for (const secret of c.absent ?? []) {
    assert(secret.length > 20, `${c.name}: a real secret to look for`);
    if (r.stderr.includes(secret)) found.push("key material echoed");
  }
  return found;
}

/**
 * Runs `cases` (at most `parallel` at once), each in its own directory, and
 * fails with every problem found.
 */
async function check(
  cases: Case[],
  run: (kubeconfigPath: string) => Promise<Run>,
  parallel: number,
) {
  const root = await Deno.makeTempDir({ prefix: "faults-config-" });
  try {
    const results: { c: Case; dir: string; run: Run }[] = [];
    const skipped: string[] = [];
    const pending = [...cases.entries()];
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        for (let next = pending.shift(); next; next = pending.shift()) {
          const [i, c] = next;
          const dir = `${root}/case-${i}`;
          await Deno.mkdir(dir);
          const path = await prepare(c, dir);
          if (path === undefined) skipped.push(c.name);
          else results.push({ c, dir, run: await run(path) });
        }
      }),
    );
    const failures = results.flatMap(({ c, dir, run }) => {
      const p = problems(c, dir, run);
      return p.length ? [`${c.name}: ${p.join("; ")}\n  ${run.stderr}`] : [];
    });
    assert(
      results.length + skipped.length === cases.length && skipped.length <= 1,
      `every case ran (skipped: ${skipped.join(", ") || "none"})`,
    );
    assert(failures.length === 0, failures.join("\n"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("daemon: an unreadable or malformed kubeconfig, CA, key or token stops it at start with one clear line, exit 1", async () => {
  await check(cases, runInProcess, 1);
});

Deno.test("CLI: a broken CA or token file exits 1 with one clear line and no stack trace", async () => {
  // A few at a time: each is a Deno process, and the machine has 2 cores.
  await check(cases.filter((c) => c.cli), runCliWith, 3);
});
