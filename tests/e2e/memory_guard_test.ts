/**
 * Memory regression guard: the real daemon, as its own process with the
 * `start` task's V8 flags (what the image ships), approves a backlog of
 * 1,000 CSRs (each with its Node) from the API server double; its peak RSS
 * (VmHWM) must stay under a bound set from measurement with headroom.
 *
 * Measured on a 2-CPU VM (README, Performance): 69–70 MiB peak for this
 * run with the shipped flags (idle and at load 14 alike: all 1,000 CSRs are
 * there from the start), 88.9 MiB with the previous image flag
 * (`--max-semi-space-size=4`), ~108 MiB with none. The bound, 84 MiB, leaves
 * 20% headroom and still fails a change that drops lite mode or makes the
 * daemon hold much more.
 */
import { startTaskEnv, startTaskV8Flags } from "../../bench/run.ts";
import { freePort, spawnDaemon } from "../../bench/daemon_process.ts";
import { kubeconfigText } from "../../bench/kubeconfig.ts";
import { parseProcStatus } from "../../bench/proc.ts";
import { buildFleet } from "../../bench/scenarios.ts";
import { startApiServer } from "../support/api_server.ts";
import { assert, assertEquals } from "../support/assert.ts";

const N = 1000;
const PEAK_RSS_BOUND = 84 * 2 ** 20;

/**
 * `/proc/<pid>/status` through `cat`: Deno lets a process read another's
 * /proc files only with --allow-all, which `deno task test` does not grant.
 */
async function procStatus(pid: number) {
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert(out.success, `cannot read /proc/${pid}/status`);
  return parseProcStatus(new TextDecoder().decode(out.stdout));
}

Deno.test({
  name: `memory guard: peak RSS through a ${N}-CSR backlog stays under ${
    PEAK_RSS_BOUND / 2 ** 20
  } MiB with the shipped V8 flags`,
  ignore: Deno.build.os !== "linux",
  async fn() {
    const root = new URL("../../", import.meta.url);
    const denoJson = await Deno.readTextFile(new URL("deno.json", root));
    const denoFlags = startTaskV8Flags(denoJson);
    assert(denoFlags.length > 0, "expected V8 flags in the start task");
    const fleet = await buildFleet(N, "mem");
    const api = await startApiServer({
      tokens: {
        "guard-token": {
          username:
            "system:serviceaccount:kubelet-rubber-stamp:kubelet-rubber-stamp",
          groups: ["system:serviceaccounts"],
        },
      },
      sarAuthorize: () => ({ allowed: true }),
    });
    const dir = await Deno.makeTempDir({ prefix: "krs-memory-guard-" });
    let approved = 0;
    api.onRequest = (a) => {
      if (a.subresource === "approval" && a.status === 200) approved++;
    };
    for (const m of fleet) {
      api.upsertNode(m.node);
      api.createCsr(m.csr);
    }
    fleet.length = 0;
    await Deno.writeTextFile(
      `${dir}/kubeconfig`,
      kubeconfigText({
        server: api.url,
        caPem: api.caPem,
        token: "guard-token",
      }),
    );
    const daemon = spawnDaemon({
      kubeconfig: `${dir}/kubeconfig`,
      port: freePort(),
      entry: new URL("mod.ts", root).pathname,
      denoFlags,
      env: startTaskEnv(denoJson),
    }, 100);
    try {
      const deadline = Date.now() + 180_000;
      let exited = false;
      daemon.exited.then(() => exited = true);
      while (approved < N) {
        assert(
          !exited && Date.now() < deadline,
          `only ${approved}/${N} approved:\n${
            daemon.tail().slice(-10).join("\n")
          }`,
        );
        await new Promise((r) => setTimeout(r, 50));
      }
      const { peakRssKib } = await procStatus(daemon.pid);
      const peak = peakRssKib * 1024;
      console.log(
        `memory guard: peak RSS ${
          (peak / 2 ** 20).toFixed(1)
        } MiB for ${N} CSRs (bound ${PEAK_RSS_BOUND / 2 ** 20} MiB)`,
      );
      assert(
        peak <= PEAK_RSS_BOUND,
        `peak RSS ${(peak / 2 ** 20).toFixed(1)} MiB exceeds ${
          PEAK_RSS_BOUND / 2 ** 20
        } MiB`,
      );
    } finally {
      const status = await daemon.stop();
      await api.stop();
      await Deno.remove(dir, { recursive: true });
      assertEquals(status.code, 0, daemon.tail().slice(-10).join("\n"));
    }
  },
});
