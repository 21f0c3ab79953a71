/**
 * README.md's commands, run: every shell command in a `sh` code block that
 * can run here (offline, no cluster) is executed as written (`npx -y
 * deno@V` becomes this `deno`, which must be V), and the test fails when the
 * README and the program disagree: a flag README shows that the program
 * rejects, an exit code README states, a task that does not exist. `task
 * start` runs against the API server double with a kubeconfig at the path
 * README names; `task check` gets the files README's `kubectl` lines would
 * have written, made from the double's answers. Commands that need a
 * cluster, a registry or other tools are listed as ignored steps, each with
 * why; a command the test does not know fails it, so a new README command
 * cannot go unchecked.
 */
import { parse as parseYaml, stringify } from "yaml";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { startApiServer } from "../support/api_server.ts";
import {
  APPROVER_USER,
  createKubeletCsr,
  deployRbacAuthorizers,
} from "../support/fixture.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const README = await Deno.readTextFile(`${ROOT}README.md`);
const TASKS = Object.keys(
  (JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as {
    tasks: Record<string, string>;
  }).tasks,
);

// ------------------------------------------------------------ extraction

/** One logical command of a `sh` block: continuation lines joined. */
interface ReadmeCommand {
  text: string;
  line: number;
}

/**
 * Every command in README's `sh` blocks. `# or: CMD` comment lines are
 * commands too; other comments, and trailing `  # …` comments, are not.
 */
function readmeCommands(markdown: string): ReadmeCommand[] {
  const out: ReadmeCommand[] = [];
  const lines = markdown.split("\n");
  let inSh = false;
  let pending: ReadmeCommand | undefined;
  lines.forEach((raw, i) => {
    if (/^```/.test(raw)) {
      inSh = !inSh && /^```(sh|bash|shell)\s*$/.test(raw);
      return;
    }
    if (!inSh) return;
    let line = raw.trim();
    const or = /^#\s*or:\s*(.*)$/.exec(line);
    if (or) line = or[1];
    else if (line.startsWith("#") || line === "") return;
    line = line.replace(/\s{2,}#.*$/, "").replace(/\s+#\s.*$/, "");
    const continued = line.endsWith("\\");
    if (continued) line = line.slice(0, -1).trim();
    if (pending) pending.text += " " + line;
    else pending = { text: line, line: i + 1 };
    if (!continued) {
      out.push(pending);
      pending = undefined;
    }
  });
  return out;
}

/** Splits on unquoted `sep` tokens (`&&`, `|`). */
function splitUnquoted(text: string, sep: "&&" | "|"): string[] {
  const parts: string[] = [];
  let quote = "";
  let cur = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = "";
      cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      cur += c;
    } else if (
      text.startsWith(sep, i) && !(sep === "|" && text[i + 1] === "|")
    ) {
      parts.push(cur.trim());
      cur = "";
      i += sep.length - 1;
    } else cur += c;
  }
  parts.push(cur.trim());
  return parts;
}

/** Words of a simple command (quotes removed; no expansions but `~`). */
function words(text: string, home: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) {
    const w = m[1] ?? m[2] ?? m[3];
    out.push(m[3] !== undefined ? w.replace(/^~(?=\/|$)/, home) : w);
  }
  return out;
}

const NPX = /^npx -y deno@(\S+) /;

/** Why a program's commands cannot run here. */
const CANNOT_RUN: Record<string, string> = {
  kubectl: "needs a Kubernetes cluster",
  helm: "needs a cluster and the OCI registry",
  openssl: "talks to a live kubelet on port 10250",
  docker: "needs Docker and network access to dl.deno.land",
  cosign: "needs the registry and Sigstore (network)",
  git: "changes the repository and pushes",
};

/** What the test does with one README command. */
type Plan =
  | { run: "task"; task: string; args: string[]; stdin?: "csr-json" }
  | { skip: string };

/**
 * Decides how to run `cmd`. `kubectl get` lines that write `csr.yaml` /
 * `nodes.yaml` (or pipe a CSR as JSON into `check -`) are emulated from the
 * double; a deno task step is run; anything else is skipped with a reason.
 */
function plan(cmd: ReadmeCommand, home: string): Plan {
  let task: Plan | undefined;
  for (const step of splitUnquoted(cmd.text, "&&")) {
    const stages = splitUnquoted(step, "|");
    const denoAt = stages.findIndex((s) =>
      NPX.test(s + " ") || /^deno task /.test(s)
    );
    if (denoAt < 0) {
      if (emulated(step)) continue;
      const program = step.split(/\s+/)[0];
      return {
        skip: `${program}: ${
          CANNOT_RUN[program] ?? "not a program this test knows"
        }`,
      };
    }
    const before = stages.slice(0, denoAt);
    if (before.length > 1 || (before.length === 1 && !emulated(before[0]))) {
      return { skip: `input from \`${before.join(" | ")}\`: needs a cluster` };
    }
    if (stages.length > denoAt + 1) {
      return { skip: "output piped on; not a README claim this test checks" };
    }
    const w = words(stages[denoAt].replace(NPX, "deno "), home);
    assertEquals(w.slice(0, 2), ["deno", "task"], cmd.text);
    task = {
      run: "task",
      task: w[2],
      args: w.slice(3),
      ...(before.length === 1 ? { stdin: "csr-json" as const } : {}),
    };
  }
  return task ?? {
    skip: "emulated: what it writes is made from the double for `task check`",
  };
}

/** `kubectl get` lines whose output this test makes from the double. */
function emulated(step: string): boolean {
  return /^kubectl get csr \S+ -o yaml > csr\.yaml$/.test(step) ||
    /^kubectl get nodes -o yaml > nodes\.yaml$/.test(step) ||
    /^kubectl get csr \S+ -o json$/.test(step);
}

// --------------------------------------------------------------- running

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

/** `deno task NAME ARGS…` in the repository, as a user types it. */
async function denoTask(
  task: string,
  args: string[],
  opts: { env?: Record<string, string>; stdin?: string } = {},
): Promise<Ran> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", task, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...opts.env },
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    const out = await child.output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `deno task start ARGS…` as a long-running daemon: waits until `ready`
 * holds for what it logged, then sends SIGTERM and returns how it exited.
 */
async function denoTaskUntil(
  args: string[],
  env: Record<string, string>,
  ready: (stderr: string) => boolean,
): Promise<Ran & { readyInTime: boolean }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "start", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  let stdout = "";
  let readyInTime = false;
  let seen!: () => void;
  const isReady = new Promise<void>((r) => seen = r);
  const readErr = (async () => {
    for await (
      const chunk of child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      stderr += chunk;
      if (ready(stderr)) seen();
    }
  })();
  const readOut = (async () => {
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      stdout += chunk;
    }
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((r) => timer = setTimeout(r, 30_000));
  await Promise.race([
    isReady.then(() => readyInTime = true),
    timeout,
    child.status,
  ]);
  clearTimeout(timer);
  try {
    child.kill("SIGTERM");
  } catch {
    // Already exited.
  }
  const kill = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }, 10_000);
  const status = await child.status;
  clearTimeout(kill);
  await Promise.all([readErr, readOut]);
  return { code: status.code, stdout, stderr, readyInTime };
}

/** Keeps Deno's cache when HOME changes (DENO_DIR defaults under HOME). */
function denoDir(): Record<string, string> {
  const env = Deno.env.toObject();
  if (env.DENO_DIR) return { DENO_DIR: env.DENO_DIR };
  if (env.XDG_CACHE_HOME) return { DENO_DIR: `${env.XDG_CACHE_HOME}/deno` };
  return env.HOME ? { DENO_DIR: `${env.HOME}/.cache/deno` } : {};
}

// ----------------------------------------------------------------- tests

Deno.test("README: every shell command that can run here does what README says", async (t) => {
  const home = await Deno.makeTempDir({ prefix: "readme-home-" });
  const work = await Deno.makeTempDir({ prefix: "readme-work-" });
  const api = await startApiServer({
    ...(await deployRbacAuthorizers()),
    tokens: {
      "admin-token": { username: "admin", groups: ["system:masters"] },
      "approver-token": {
        username: APPROVER_USER,
        groups: [
          "system:serviceaccounts",
          "system:serviceaccounts:kubelet-rubber-stamp",
        ],
      },
    },
  });
  const http = Deno.createHttpClient({ caCerts: [api.caPem] });
  try {
    const csr = await createKubeletCsr(api, {
      name: "csr-readme",
      node: "readme-node",
      ipAddresses: ["10.77.0.1"],
    });
    // What README's kubectl lines would have written: the API's answers.
    const get = async (path: string) => {
      const r = await fetch(`${api.url}${path}`, {
        client: http,
        headers: { authorization: "Bearer admin-token" },
      });
      assertEquals(r.status, 200, path);
      return await r.json();
    };
    const csrObject = await get(
      `/apis/certificates.k8s.io/v1/certificatesigningrequests/${csr.metadata.name}`,
    );
    const nodeList = await get("/api/v1/nodes");
    await Deno.writeTextFile(`${work}/csr.yaml`, stringify(csrObject));
    await Deno.writeTextFile(
      `${work}/nodes.yaml`,
      stringify({
        apiVersion: "v1",
        kind: "List",
        items: nodeList.items.map((n: Record<string, unknown>) => ({
          apiVersion: "v1",
          kind: "Node",
          ...n,
        })),
        metadata: { resourceVersion: "" },
      }),
    );
    assertEquals(
      (parseYaml(await Deno.readTextFile(`${work}/nodes.yaml`)) as {
        items: unknown[];
      }).items.length,
      1,
    );
    // `~/.kube/config` for `task start`, pointing at the double.
    await Deno.mkdir(`${home}/.kube`);
    await Deno.writeTextFile(
      `${home}/.kube/config`,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{
          name: "double",
          cluster: {
            server: api.url,
            "certificate-authority-data": btoa(api.caPem),
          },
        }],
        users: [{ name: "approver", user: { token: "approver-token" } }],
        contexts: [{
          name: "double",
          context: { cluster: "double", user: "approver" },
        }],
        "current-context": "double",
      }),
    );

    const commands = readmeCommands(README);
    assert(commands.length > 0, "README has shell commands");
    let ran = 0;
    for (const cmd of commands) {
      const npx = NPX.exec(cmd.text + " ") ??
        /\bnpx -y deno@(\S+) /.exec(cmd.text);
      if (npx) {
        assertEquals(
          npx[1],
          Deno.version.deno,
          `README.md:${cmd.line}: npx pins the Deno this runs on`,
        );
      }
      const p = plan(cmd, home);
      if ("skip" in p) {
        await t.step({
          name: `README.md:${cmd.line} \`${cmd.text}\` (skipped: ${p.skip})`,
          ignore: true,
          fn: () => {},
        });
        continue;
      }
      assert(
        TASKS.includes(p.task),
        `README.md:${cmd.line}: task ${p.task} exists in deno.json`,
      );
      if (p.task === "test") {
        await t.step({
          name:
            `README.md:${cmd.line} \`${cmd.text}\` (skipped: the suite this test is part of)`,
          ignore: true,
          fn: () => {},
        });
        continue;
      }
      ran++;
      await t.step(`README.md:${cmd.line} \`${cmd.text}\``, async () => {
        const where = `README.md:${cmd.line} \`${cmd.text}\``;
        // The documented inputs are files in the user's directory.
        const args = p.args.map((a) =>
          a === "csr.yaml" || a === "nodes.yaml" ? `${work}/${a}` : a
        );
        switch (p.task) {
          case "demo": {
            const r = await denoTask("demo", args);
            assertEquals(r.code, 0, `${where}: exit 0\n${r.stdout}${r.stderr}`);
            assertMatch(r.stdout, /All as expected\./, where);
            break;
          }
          case "start": {
            const r = await denoTaskUntil(
              args,
              {
                HOME: home,
                // Deno's cache stays where it was ($HOME/.cache/deno).
                ...denoDir(),
                KUBECONFIG: "",
                // README's command keeps the default --listen (:8080);
                // tests must not take a fixed port.
                RUBBER_STAMP_LISTEN: "127.0.0.1:0",
              },
              (err) =>
                err.split("\n").some((l) =>
                  /\bdecision\b/.test(l) && l.includes("csr-readme") &&
                  /outcome=approved/.test(l)
                ),
            );
            assert(
              r.readyInTime,
              `${where}: decided the CSR on the double\n${r.stderr}`,
            );
            assertEquals(
              r.code,
              0,
              `${where}: exit 0 after SIGTERM (README: Exit codes)\n${r.stderr}`,
            );
            if (args.includes("--dry-run")) {
              assertEquals(
                api.requests.filter((q) =>
                  q.user === APPROVER_USER &&
                  !["get", "list", "watch"].includes(q.verb) &&
                  q.resource !== "subjectaccessreviews"
                ).map((q) => `${q.verb} ${q.path}`),
                [],
                `${where}: --dry-run writes nothing`,
              );
            }
            break;
          }
          case "check": {
            const stdin = p.stdin === "csr-json"
              ? JSON.stringify(csrObject)
              : undefined;
            const r = await denoTask("check", args, { stdin });
            assertEquals(
              r.code,
              0,
              `${where}: exit 0 for a genuine kubelet CSR and its Node (README: check's exit codes)\n${r.stdout}${r.stderr}`,
            );
            assertMatch(r.stdout, /^APPROVABLE csr-readme/, where);
            break;
          }
          case "release-tags": {
            const r = await denoTask(
              "release-tags",
              args.map((a) => a.replaceAll("<you>", "you")),
            );
            assertEquals(r.code, 0, `${where}\n${r.stdout}${r.stderr}`);
            const version = JSON.parse(
              await Deno.readTextFile(`${ROOT}deno.json`),
            ).version;
            assert(
              r.stdout.includes(`ghcr.io/you/kubelet-rubber-stamp:${version}`),
              `${where}: prints the version's tag\n${r.stdout}`,
            );
            break;
          }
          default:
            throw new Error(
              `${where}: a task this test does not know how to run; teach readme_commands_test.ts`,
            );
        }
      });
    }
    assert(ran >= 4, `ran ${ran} README commands (demo, start, check ×2)`);
  } finally {
    http.close();
    await api.stop();
    await Deno.remove(home, { recursive: true });
    await Deno.remove(work, { recursive: true });
  }
});

/** The first column of README's flag table (under "### Flags"). */
function readmeFlags(markdown: string): Set<string> {
  const section = markdown.slice(markdown.indexOf("### Flags"));
  const table = section.slice(section.indexOf("\n|")).split("\n\n")[0];
  const flags = new Set<string>();
  for (const row of table.split("\n").slice(3)) {
    const first = row.split(/(?<!\\)\|/)[1] ?? "";
    for (const m of first.matchAll(/--[a-z][a-z0-9-]*/g)) flags.add(m[0]);
  }
  return flags;
}

Deno.test("README: the flag table, `task start -- --help` and `-- --version` agree with the program", async () => {
  const help = await denoTask("start", ["--", "--help"]);
  assertEquals(help.code, 0, help.stderr);
  const helpFlags = new Set(
    [...help.stdout.matchAll(/^ {2}(--[a-z][a-z0-9-]*)/gm)].map((m) => m[1]),
  );
  for (const f of ["--help", "--version"]) {
    if (help.stdout.includes(f)) helpFlags.add(f);
  }
  const documented = readmeFlags(README);
  assert(documented.size > 20, `README's flag table (${documented.size})`);
  assertEquals(
    [...documented].filter((f) => !helpFlags.has(f)).sort(),
    [],
    "flags README documents that --help does not list",
  );
  assertEquals(
    [...helpFlags].filter((f) => !documented.has(f)).sort(),
    [],
    "flags --help lists that README's table does not document",
  );
  const version = await denoTask("start", ["--", "--version"]);
  assertEquals(version.code, 0, version.stderr);
  const expected = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`))
    .version;
  assertMatch(
    version.stdout,
    new RegExp(`^kubelet-rubber-stamp ${expected.replaceAll(".", "\\.")} `),
  );
});

Deno.test("README: the exit codes it states", async () => {
  const prose = README.replace(/\s+/g, " ");
  // "2 for a bad flag value (one line naming the flag)"
  assertMatch(prose, /2 for a bad flag value \(one line naming the flag\)/);
  const bad = await denoTask("start", ["--", "--log-format=xml"]);
  assertEquals(bad.code, 2, bad.stderr);
  const lines = bad.stderr.split("\n").filter((l) =>
    l.trim() !== "" && !l.startsWith("Task ")
  );
  assertEquals(lines.length, 1, bad.stderr);
  assertMatch(lines[0], /--log-format/);
  // "1 when the configuration cannot be loaded"
  assertMatch(prose, /1 when the configuration cannot be loaded/);
  const dir = await Deno.makeTempDir();
  try {
    const missing = await denoTask(
      "start",
      ["--", "--kubeconfig", `${dir}/nope.yaml`],
      { env: { RUBBER_STAMP_LISTEN: "127.0.0.1:0" } },
    );
    assertEquals(missing.code, 1, missing.stderr);
    // check: "Without --node … the verdict is `waiting: ownership unknown,
    // pass --node` and exit 1"; "2 the input is not a CSR object or a
    // PEM-encoded PKCS#10 request at all".
    const quoted = /`(waiting: ownership unknown, pass --node)`/.exec(prose);
    assert(quoted, "README quotes check's verdict without --node");
    const csr = await createCsrFile(dir);
    const unknown = await denoTask("check", [csr]);
    assertEquals(unknown.code, 1, unknown.stdout + unknown.stderr);
    assert(unknown.stdout.includes(quoted[1]), unknown.stdout);
    await Deno.writeTextFile(`${dir}/garbage.yaml`, "hello: world\n");
    const garbage = await denoTask("check", [`${dir}/garbage.yaml`]);
    assertEquals(garbage.code, 2, garbage.stdout + garbage.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function createCsrFile(dir: string): Promise<string> {
  const { makeServingCsr } = await import("../support/csr_factory.ts");
  const path = `${dir}/csr.yaml`;
  await Deno.writeTextFile(
    path,
    stringify(await makeServingCsr({ name: "csr-nodes-unknown" })),
  );
  return path;
}

Deno.test("readmeCommands: sh blocks only, continuations joined, `# or:` kept, comments dropped", () => {
  const md = [
    "```sh",
    "# a comment",
    "npx -y deno@2.9.6 task demo   # trailing",
    "npx -y deno@2.9.6 task release-tags --ref x \\",
    "  --image y",
    "# or: kubectl get csr c -o json | npx -y deno@2.9.6 task check - --node n.yaml",
    "```",
    "```yaml",
    "image: x",
    "```",
  ].join("\n");
  assertEquals(readmeCommands(md).map((c) => c.text), [
    "npx -y deno@2.9.6 task demo",
    "npx -y deno@2.9.6 task release-tags --ref x --image y",
    "kubectl get csr c -o json | npx -y deno@2.9.6 task check - --node n.yaml",
  ]);
  assertEquals(
    splitUnquoted("kubectl logs x | grep -E 'a|b' | tail", "|"),
    ["kubectl logs x", "grep -E 'a|b'", "tail"],
  );
  assertEquals(plan({ text: "kubectl get pods", line: 1 }, "/h"), {
    skip: "kubectl: needs a Kubernetes cluster",
  });
  assertEquals(
    plan({
      text:
        "kubectl get csr c -o json | npx -y deno@2.9.6 task check - --node nodes.yaml",
      line: 1,
    }, "/h"),
    {
      run: "task",
      task: "check",
      args: ["-", "--node", "nodes.yaml"],
      stdin: "csr-json",
    },
  );
  assertEquals(
    plan({
      text: "npx -y deno@2.9.6 task start -- --kubeconfig ~/.kube/config",
      line: 1,
    }, "/h"),
    {
      run: "task",
      task: "start",
      args: ["--", "--kubeconfig", "/h/.kube/config"],
    },
  );
});
