/**
 * Graceful shutdown of the real CLI: `mod.ts` runs as a subprocess with the
 * permissions of the `start` task, against the API server double through a
 * kubeconfig, leads, approves, and gets a signal.
 */
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import type { ApiServer } from "../support/api_server.ts";
import {
  APPROVER_NAMESPACE as NAMESPACE,
  APPROVER_TOKEN,
  leaseOf,
  startCluster,
} from "../support/cluster.ts";
import { conditionOf, createKubeletCsr } from "../support/fixture.ts";
import { until } from "../support/until.ts";

/** What the issue promises: exit 0 within 5 s of SIGTERM. */
const EXIT_WITHIN_MS = 5_000;
const MOD = new URL("../../mod.ts", import.meta.url).pathname;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function writeKubeconfig(dir: string, api: ApiServer): Promise<string> {
  const path = `${dir}/kubeconfig.yaml`;
  const ca = btoa(api.caPem);
  await Deno.writeTextFile(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "  - name: double",
      "    cluster:",
      `      server: ${api.url}`,
      `      certificate-authority-data: ${ca}`,
      "users:",
      "  - name: approver",
      "    user:",
      `      token: ${APPROVER_TOKEN}`,
      "contexts:",
      "  - name: double",
      `    context: { cluster: double, user: approver, namespace: ${NAMESPACE} }`,
      "current-context: double",
      "",
    ].join("\n"),
  );
  return path;
}

/** The double, a kubeconfig for it and the CLI running against it. */
async function startCli() {
  // A cluster whose one daemon is the CLI as a process. No exactly-once
  // check on stop: the hung-API case leaves an approval write in the air.
  const cluster = await startCluster({ exactlyOnce: false });
  const { api } = cluster;
  const dir = await Deno.makeTempDir({ prefix: "krs-shutdown-" });
  const kubeconfig = await writeKubeconfig(dir, api);
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    // The permissions of the `start` task in deno.json, nothing more.
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      MOD,
      `--kubeconfig=${kubeconfig}`,
      `--listen=127.0.0.1:${port}`,
      "--leader-elect=true",
      `--leader-elect-namespace=${NAMESPACE}`,
      "--log-format=json",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const drain = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (chunk) => void (output += chunk) }),
    );
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const http = Deno.createHttpClient({});
  const logs = () => output.split("\n").slice(-30).join("\n");
  const get = async (path: string) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { client: http });
    await r.body?.cancel();
    return r.status;
  };
  return {
    api,
    child,
    logs,
    output: () => output,
    get,
    /** Waits until the CLI leads, is ready and has approved a CSR. */
    async whenLeading() {
      await until(
        () => (leaseOf(api)?.spec?.holderIdentity ?? "") !== "",
        30_000,
        "the CLI to take the Lease",
        logs,
      );
      await until(
        () => get("/readyz").then((s) => s === 200, () => false),
        10_000,
        "/readyz",
        logs,
      );
      await createKubeletCsr(api, { name: "before-signal", node: "n-1" });
      await until(
        () =>
          conditionOf(api.getCsr("before-signal"), "Approved")?.status ===
            "True",
        10_000,
        "the CLI to approve a CSR",
        logs,
      );
    },
    /** Sends `signal`; resolves to the exit status and how long it took, or undefined after `EXIT_WITHIN_MS`. */
    async signal(signal: Deno.Signal) {
      const sentAt = performance.now();
      child.kill(signal);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const status = await Promise.race([
        child.status,
        new Promise<undefined>((r) =>
          timer = setTimeout(() => r(undefined), EXIT_WITHIN_MS)
        ),
      ]);
      clearTimeout(timer);
      return { status, ms: performance.now() - sentAt };
    },
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await child.status;
      await drained;
      http.close();
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`${signal}: the CLI exits 0 within 5 s, having released the Lease and closed its listener`, async () => {
    await using cli = await startCli();
    await cli.whenLeading();
    const { status, ms } = await cli.signal(signal);
    assert(
      status,
      `no exit within ${EXIT_WITHIN_MS}ms of ${signal}\n${cli.logs()}`,
    );
    assertEquals(status.code, 0, `exit code after ${signal}\n${cli.logs()}`);
    assertEquals(status.signal, null, "exited by itself, not killed");
    assert(ms < EXIT_WITHIN_MS, `took ${Math.round(ms)}ms`);
    assertEquals(
      leaseOf(cli.api)?.spec?.holderIdentity,
      "",
      "the Lease names no holder",
    );
    // In the order the issue asks: stop deciding, release, stop listening.
    const order = ["shutting down", "released leader lease", "stopped"]
      .map((msg) => cli.output().indexOf(`"msg":"${msg}"`));
    assert(
      order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1])),
      `shutdown log order ${JSON.stringify(order)}\n${cli.logs()}`,
    );
    assertMatch(cli.output(), /"msg":"stopped".*"exit":0/);
    const after = await cli.get("/healthz").then(String, (e) => e.name);
    assertEquals(after, "TypeError", "the listener is closed");
  });
}

Deno.test("SIGTERM while an approval write and the whole API hang: still exits 0 within 5 s", async () => {
  await using cli = await startCli();
  await cli.whenLeading();
  let hang = false;
  let unhang!: () => void;
  const hung = new Promise<void>((r) => unhang = r);
  // Answered only at the end of the test, when the CLI is long gone.
  cli.api.faults.intercept = (_req, attrs) =>
    hang || attrs.subresource === "approval"
      ? hung.then(() => new Response(null, { status: 503 }))
      : undefined;
  try {
    await createKubeletCsr(cli.api, { name: "in-flight", node: "n-2" });
    await until(
      () =>
        cli.api.requests.some((r) =>
          r.name === "in-flight" && r.subresource === "approval"
        ),
      10_000,
      "the approval write to be in flight",
      cli.logs,
    );
    // From now on the API server answers nothing: the release cannot land.
    hang = true;
    const { status, ms } = await cli.signal("SIGTERM");
    assert(
      status,
      `no exit within ${EXIT_WITHIN_MS}ms of SIGTERM with a hung API server\n${cli.logs()}`,
    );
    assertEquals(status.code, 0, `exit code\n${cli.logs()}`);
    assert(ms < EXIT_WITHIN_MS, `took ${Math.round(ms)}ms`);
  } finally {
    unhang();
  }
});
