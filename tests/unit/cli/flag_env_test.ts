/**
 * Configuration from the environment: every flag from `RUBBER_STAMP_<FLAG>`,
 * the command line wins, unknown variables are errors, `check` reads the
 * same variables for its policy flags.
 */
import { parseCheckArgs, runCheck } from "../../../src/cli/check.ts";
import { envVariableName } from "../../../src/cli/flag_env.ts";
import { CHECK_FLAGS, FLAG_TABLE, FLAGS } from "../../../src/cli/flag_table.ts";
import { FlagError } from "../../../src/cli/flag_types.ts";
import { checkHelpText, helpText } from "../../../src/cli/help.ts";
import { parseFlags } from "../../../src/cli/parse_flags.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import { runCli } from "../../support/cli.ts";
import { makeServingCsr } from "../../support/csr_factory.ts";

function flagError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert(error instanceof FlagError, String(error));
    return error.message;
  }
  throw new Error("expected a FlagError");
}

Deno.test("env: variable names are RUBBER_STAMP_ + the flag in upper snake case", () => {
  const names = Object.fromEntries(
    FLAG_TABLE.map((f) => [f.name, envVariableName(f)]),
  );
  assertEquals(names["protected-cidrs"], "RUBBER_STAMP_PROTECTED_CIDRS");
  assertEquals(names["dry-run"], "RUBBER_STAMP_DRY_RUN");
  assertEquals(
    names["leader-elect-lease-duration"],
    "RUBBER_STAMP_LEADER_ELECT_LEASE_DURATION",
  );
  assertEquals(names["help"], undefined);
  assertEquals(names["version"], undefined);
  // One variable per flag, never two flags on one variable.
  const all = FLAG_TABLE.map(envVariableName).filter((v) => v !== undefined);
  assertEquals(new Set(all).size, all.length);
});

Deno.test("env: each flag kind (bool, int, number, duration, string, list) from the environment", () => {
  const flags = parseFlags([], {
    RUBBER_STAMP_DRY_RUN: "true",
    RUBBER_STAMP_DENY_INVALID: "1",
    RUBBER_STAMP_WORKERS: "4",
    RUBBER_STAMP_KUBE_API_TIMEOUT: "12.5",
    RUBBER_STAMP_NODE_ADDRESS_WAIT: "2m30s",
    RUBBER_STAMP_LISTEN: "127.0.0.1:9999",
    RUBBER_STAMP_PROTECTED_CIDRS: "10.0.0.0/8, 192.168.0.0/16",
    RUBBER_STAMP_ALLOWED_CIDRS: "",
    // Not ours: ignored.
    KUBECONFIG: "/nowhere",
    RUBBER_STAMPX: "1",
  });
  assertEquals(flags.dryRun, true);
  assertEquals(flags.denyInvalid, true);
  assertEquals(flags.workers, 4);
  assertEquals(flags.kubeApiTimeout, 12.5);
  assertEquals(flags.nodeAddressWait, 150_000);
  assertEquals(flags.listen, "127.0.0.1:9999");
  assertEquals(flags.protectedCidrs, ["10.0.0.0/8", "192.168.0.0/16"]);
  // As `--allowed-cidrs=`: no IP SAN allowed.
  assertEquals(flags.allowedCidrs, []);
  assertEquals(flags.kubeconfig, undefined);
});

Deno.test("env: a flag on the command line overrides its variable; a list flag replaces it", () => {
  const env = {
    RUBBER_STAMP_WORKERS: "4",
    RUBBER_STAMP_DRY_RUN: "true",
    RUBBER_STAMP_PROTECTED_NAMES: "from-env.example",
  };
  const flags = parseFlags([
    "--workers=8",
    "--dry-run=false",
    "--protected-names",
    "a.example",
    "--protected-names=b.example",
  ], env);
  assertEquals(flags.workers, 8);
  assertEquals(flags.dryRun, false);
  assertEquals(flags.protectedNames, ["a.example", "b.example"]);
  // Without the flag, the variable stands.
  assertEquals(parseFlags([], env).protectedNames, ["from-env.example"]);
});

Deno.test("env: an unknown or bad variable is one line naming it", () => {
  assertEquals(
    flagError(() => parseFlags([], { RUBBER_STAMP_WORKERZ: "4" })),
    "unknown environment variable RUBBER_STAMP_WORKERZ (see --help for the RUBBER_STAMP_* variables)",
  );
  // --help and --version are actions, not settings.
  assertMatch(
    flagError(() => parseFlags([], { RUBBER_STAMP_HELP: "true" })),
    /^unknown environment variable RUBBER_STAMP_HELP /,
  );
  for (
    const [variable, value, expected] of [
      ["RUBBER_STAMP_WORKERS", "four", /expected an integer/],
      ["RUBBER_STAMP_WORKERS", "0", /must be greater than 0/],
      ["RUBBER_STAMP_DRY_RUN", "yes", /expected true or false/],
      ["RUBBER_STAMP_NODE_ADDRESS_WAIT", "15", /expected a duration/],
      ["RUBBER_STAMP_LOG_FORMAT", "xml", /expected json or text/],
    ] as const
  ) {
    const message = flagError(() => parseFlags([], { [variable]: value }));
    assertMatch(
      message,
      new RegExp(`^invalid value "${value}" for ${variable} \\(--`),
    );
    assertMatch(message, expected);
    assert(!message.includes("\n"), message);
  }
});

Deno.test("env: check reads the same variables for its policy flags", async () => {
  const env = {
    RUBBER_STAMP_PROTECTED_NAMES: "worker-1",
    RUBBER_STAMP_MAX_IP_ADDRESSES: "3",
    // The daemon's settings share the environment: not an error for check.
    RUBBER_STAMP_WORKERS: "4",
    RUBBER_STAMP_DRY_RUN: "true",
  };
  const options = parseCheckArgs(["csr.yaml"], env);
  assertEquals(options.policy.protectedNames, ["worker-1"]);
  assertEquals(options.policy.maxIpAddresses, 3);
  assertEquals(
    parseCheckArgs(["csr.yaml", "--max-ip-addresses=5"], env).policy
      .maxIpAddresses,
    5,
  );
  assertMatch(
    flagError(() => parseCheckArgs(["csr.yaml"], { RUBBER_STAMP_NODES: "x" })),
    /^unknown environment variable RUBBER_STAMP_NODES /,
  );
  // End to end through runCheck: the protected name from the environment
  // makes an otherwise approvable request not approvable.
  const csr = JSON.stringify(await makeServingCsr());
  const node = JSON.stringify({
    kind: "Node",
    metadata: { name: "worker-1" },
    status: {
      addresses: [
        { type: "Hostname", address: "worker-1" },
        { type: "InternalIP", address: "10.0.0.1" },
      ],
    },
  });
  const run = async (extraEnv: Record<string, string>) => {
    const lines: string[] = [];
    const code = await runCheck(["csr.json", "--node", "node.json"], {
      readFile: (path) => Promise.resolve(path === "csr.json" ? csr : node),
      write: (line) => lines.push(line),
      env: extraEnv,
    });
    return { code, text: lines.join("\n") };
  };
  assertEquals((await run({})).code, 0);
  const blocked = await run({ RUBBER_STAMP_PROTECTED_NAMES: "worker-1" });
  assertEquals(blocked.code, 1);
  assertMatch(blocked.text, /ProtectedName/);
  const bad = await run({ RUBBER_STAMP_BOGUS: "1" });
  assertEquals(bad.code, 2);
  assertMatch(bad.text, /unknown environment variable RUBBER_STAMP_BOGUS/);
});

Deno.test("env: --help names the variable next to every flag", () => {
  for (
    const [text, defs] of [[helpText(), FLAGS], [
      checkHelpText(),
      CHECK_FLAGS,
    ]] as const
  ) {
    for (const def of defs) {
      const variable = envVariableName(def);
      if (variable === undefined) continue;
      const lines = text.split("\n");
      const i = lines.findIndex((l) =>
        new RegExp(`^ {2}--${def.name}( |,|$)`).test(l)
      );
      assert(i >= 0, def.name);
      assertEquals(lines[i + 2], `      env: ${variable}`, def.name);
    }
  }
});

Deno.test("env: the CLI process reads the environment (an unknown variable exits 2, a setting takes effect)", async () => {
  const unknown = await runCli(["--version"], {
    env: { RUBBER_STAMP_DRYRUN: "true" },
  });
  assertEquals(unknown.code, 2);
  assertEquals(
    unknown.stderr.trim(),
    "error: unknown environment variable RUBBER_STAMP_DRYRUN (see --help for the RUBBER_STAMP_* variables)",
  );
  const bad = await runCli([], { env: { RUBBER_STAMP_LISTEN: "nowhere" } });
  assertEquals(bad.code, 2);
  assertMatch(bad.stderr, /RUBBER_STAMP_LISTEN \(--listen\)/);
  // The command line wins over the bad variable.
  const overridden = await runCli(["--listen=127.0.0.1:0", "--version"], {
    env: { RUBBER_STAMP_LISTEN: "nowhere" },
  });
  assertEquals(overridden.code, 0, overridden.stderr);
});
