/**
 * `promtool check rules` and `promtool test rules` on the PrometheusRule in
 * deploy/components/monitoring, with promtool built from its Go module
 * (github.com/prometheus/prometheus, pinned below) into a cache outside the
 * repository on first use. Run with `deno task test:alerts` (not part of
 * `deno task test`: a cold build takes minutes).
 *
 * @module
 */
import { parse as parseYaml, stringify } from "yaml";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";

/** The Prometheus module version that provides promtool (Prometheus 3.16). */
export const PROMETHEUS_MODULE_VERSION = "v0.316.0";

function cacheDir(): string {
  const base = Deno.env.get("XDG_CACHE_HOME") ??
    `${Deno.env.get("HOME") ?? "/tmp"}/.cache`;
  return `${base}/kubelet-rubber-stamp/tools/promtool-${PROMETHEUS_MODULE_VERSION}`;
}

function goBinary(): string {
  for (const candidate of ["/usr/local/go/bin/go", "go"]) {
    try {
      if (candidate.startsWith("/")) Deno.statSync(candidate);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return "go";
}

/** The promtool binary, built on first use. */
async function promtool(): Promise<string> {
  const dir = cacheDir();
  const bin = `${dir}/promtool`;
  try {
    await Deno.stat(bin);
    return bin;
  } catch {
    // build it below
  }
  const started = performance.now();
  console.log(
    `building promtool ${PROMETHEUS_MODULE_VERSION} into ${dir} (first run only)`,
  );
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(goBinary(), {
      args: [
        "install",
        `github.com/prometheus/prometheus/cmd/promtool@${PROMETHEUS_MODULE_VERSION}`,
      ],
      env: { GOBIN: dir, GOFLAGS: "-mod=mod" },
      stdout: "inherit",
      stderr: "inherit",
    }).output();
  } catch (error) {
    throw new Error(
      `cannot build promtool: Go is not installed (${
        error instanceof Error ? error.message : error
      }); install Go 1.26 or put promtool at ${bin}`,
    );
  }
  if (!out.success) {
    throw new Error(
      `cannot build promtool: go install failed (exit ${out.code}); is the Go module proxy reachable?`,
    );
  }
  console.log(
    `built promtool in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  return bin;
}

async function run(args: string[], cwd: string) {
  const out = await new Deno.Command(await promtool(), {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

/** A temporary directory with rules.yaml (the PrometheusRule's groups) and the unit tests. */
async function workspace(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "promtool_" });
  const rule = parseYaml(
    await Deno.readTextFile(
      "deploy/components/monitoring/prometheusrule.yaml",
    ),
  );
  await Deno.writeTextFile(
    `${dir}/rules.yaml`,
    stringify({ groups: rule.spec.groups }),
  );
  await Deno.copyFile(
    "tests/alerts/alerts_promtool_test.yaml",
    `${dir}/alerts_test.yaml`,
  );
  return dir;
}

Deno.test("promtool check rules: the PrometheusRule's groups are valid rules", async () => {
  const dir = await workspace();
  try {
    const r = await run(["check", "rules", "rules.yaml"], dir);
    assertEquals(r.code, 0, r.text);
    assertMatch(r.text, /SUCCESS: 7 rules found/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("promtool test rules: every alert fires when it should and not before", async () => {
  const dir = await workspace();
  try {
    const r = await run(["test", "rules", "alerts_test.yaml"], dir);
    assertEquals(r.code, 0, r.text);
    assertMatch(r.text, /SUCCESS/);
    // Every alert of the rule file has a unit test.
    const tests = await Deno.readTextFile(`${dir}/alerts_test.yaml`);
    const rules = parseYaml(await Deno.readTextFile(`${dir}/rules.yaml`));
    for (const group of rules.groups) {
      for (const rule of group.rules) {
        assert(
          tests.includes(`alertname: ${rule.alert}`),
          `${rule.alert} has a promtool unit test`,
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
