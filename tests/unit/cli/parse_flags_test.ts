import {
  CHECK_FLAGS,
  FLAG_TABLE,
  FLAGS,
  POLICY_FLAGS,
} from "../../../src/cli/flag_table.ts";
import { FlagError } from "../../../src/cli/flag_types.ts";
import { parseDuration } from "../../../src/cli/flag_values.ts";
import { servingPolicyFromFlags } from "../../../src/cli/flags_policy.ts";
import { parseCommandLine, parseFlags } from "../../../src/cli/parse_flags.ts";
import { parseCheckArgs } from "../../../src/cli/check.ts";
import { policyFromFlags } from "../../../src/cli/daemon.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertThrows,
} from "../../support/assert.ts";

Deno.test("flags have the documented defaults", () => {
  const f = parseFlags([]);
  assertEquals(f.listen, ":8080");
  assertEquals(f.dryRun, false);
  assertEquals(f.denyInvalid, false);
  assertEquals(f.logFormat, "text");
  assertEquals(f.logLevel, "info");
  assertEquals(f.kubeconfig, undefined);
  assertEquals(f.kubeApiQps, undefined); // automatic: APF-aware
  assertEquals(f.kubeApiBurst, undefined);
  assertEquals(f.subresource, "selfnodeserver");
  assertEquals(f.protectedNames, []);
  assertEquals(f.protectedCidrs, []);
  assertEquals(f.apiServiceIps, []);
  assertEquals(f.sharedAddressCidrs, []);
  assertEquals("allowedCidrs" in f && f.allowedCidrs === undefined, true);
  assertEquals(f.nodeAddressWait, 15 * 60_000);
  assertEquals(f.maxPendingAge, 60 * 60_000);
  assertEquals(f.verifyNodeAddresses, true);
  // Defaults are copies: appending in one parse never leaks into the next.
  parseFlags(["--protected-names=a.example"]);
  assertEquals(parseFlags([]).protectedNames, []);
});

Deno.test("flags accept --flag value, --flag=value and bare booleans", () => {
  const f = parseFlags([
    "--kubeconfig",
    "/tmp/kc",
    "--context=prod",
    "--dry-run",
    "--deny-invalid=true",
    "--log-format",
    "json",
    "--log-level=debug",
    "--kube-api-qps=50.5",
    "--kube-api-burst",
    "100",
    "--listen=127.0.0.1:9090",
  ]);
  assertEquals(f.kubeconfig, "/tmp/kc");
  assertEquals(f.context, "prod");
  assertEquals(f.dryRun, true);
  assertEquals(f.denyInvalid, true);
  assertEquals(f.logFormat, "json");
  assertEquals(f.logLevel, "debug");
  assertEquals(f.kubeApiQps, 50.5);
  assertEquals(f.kubeApiBurst, 100);
  assertEquals(f.listen, "127.0.0.1:9090");
  assertEquals(parseFlags(["--dry-run=false"]).dryRun, false);
});

Deno.test("a bad flag value is a one-line error naming the flag", () => {
  const cases: [string[], string][] = [
    [["--log-format=xml"], "--log-format"],
    [["--log-level", "loud"], "--log-level"],
    [["--kube-api-qps=fast"], "--kube-api-qps"],
    [["--kube-api-qps=-1"], "--kube-api-qps"],
    [["--kube-api-burst=1.5"], "--kube-api-burst"],
    [["--listen=8080"], "--listen"],
    [["--listen=:99999"], "--listen"],
    [["--dry-run=maybe"], "--dry-run"],
    [["--workers=0"], "--workers"],
    [["--kubeconfig"], "--kubeconfig"],
    [["--no-such-flag"], "--no-such-flag"],
    // Integers are strict decimal: no exponent, hex, padding or fraction.
    [["--kube-api-burst=1e3"], "--kube-api-burst"],
    [["--kube-api-burst=0x10"], "--kube-api-burst"],
    [["--kube-api-burst= 5"], "--kube-api-burst"],
    [["--kube-api-burst=5 "], "--kube-api-burst"],
    [["--kube-api-burst="], "--kube-api-burst"],
    [["--max-dns-names=99999999999999999999"], "--max-dns-names"],
    // Numbers too.
    [["--kube-api-qps=1e3"], "--kube-api-qps"],
    [["--kube-api-qps=0x10"], "--kube-api-qps"],
    [["--kube-api-qps= 5"], "--kube-api-qps"],
    [["--kube-api-qps=Infinity"], "--kube-api-qps"],
    [["stray"], "stray"],
  ];
  for (const [args, flag] of cases) {
    const e = assertThrows(() => parseFlags(args), FlagError);
    assert(
      e.message.includes(flag),
      `${args.join(" ")}: "${e.message}" names ${flag}`,
    );
    assert(!e.message.includes("\n"), "one line");
  }
});

Deno.test("leader-election flags parse Go durations", () => {
  const f = parseFlags([
    "--leader-elect=false",
    "--leader-elect-lease-duration=1m30s",
    "--leader-elect-renew-deadline",
    "500ms",
    "--leader-elect-namespace=kube-system",
  ]);
  assertEquals(f.leaderElect, false);
  assertEquals(f.leaderElectLeaseDuration, 90_000);
  assertEquals(f.leaderElectRenewDeadline, 500);
  assertEquals(f.leaderElectRetryPeriod, 2_000);
  assertEquals(f.leaderElectNamespace, "kube-system");
  assertEquals(f.leaderElectLeaseName, "kubelet-rubber-stamp");
  assertEquals(parseFlags([]).leaderElect, undefined);
  assertEquals(parseDuration("15s"), 15_000);
  assertEquals(parseDuration("2h"), 7_200_000);
  assertEquals(parseDuration("15"), undefined);
  assertEquals(parseDuration("s"), undefined);
  assertEquals(parseDuration(""), undefined);
  const e = assertThrows(
    () => parseFlags(["--leader-elect-retry-period=2x"]),
    FlagError,
  );
  assertMatch(e.message, /--leader-elect-retry-period/);
});

// ---------------------------------------------------------------------------
// One table, one parser: the daemon and `check` (issue 9, item 2).

/** A parse as comparable text: the value of `key`, or the error message. */
function daemonParse(args: string[], key: string): string {
  try {
    const flags = parseFlags(args) as unknown as Record<string, unknown>;
    return `ok ${JSON.stringify(flags[key]) ?? "undefined"}`;
  } catch (error) {
    assert(error instanceof FlagError, String(error));
    return `error ${error.message}`;
  }
}

function checkParse(args: string[], key: string): string {
  try {
    const flags = parseCheckArgs(["csr.yaml", ...args])
      .flags as unknown as Record<string, unknown>;
    return `ok ${JSON.stringify(flags[key]) ?? "undefined"}`;
  } catch (error) {
    assert(error instanceof FlagError, String(error));
    return `error ${error.message}`;
  }
}

const LIST_FLAGS = [
  "protected-names",
  "protected-cidrs",
  "api-service-ip",
  "allowed-cidrs",
  "shared-address-cidrs",
];

Deno.test("the list flags are the documented ones, in both commands", () => {
  assertEquals(
    FLAGS.filter((f) => f.kind === "list").map((f) => f.name).sort(),
    [...LIST_FLAGS].sort(),
  );
  assertEquals(
    CHECK_FLAGS.filter((f) => f.kind === "list").map((f) => f.name).sort(),
    [...LIST_FLAGS].sort(),
  );
});

Deno.test("every list flag appends on every occurrence and splits on commas, in the daemon and in check", () => {
  for (const name of LIST_FLAGS) {
    const def = FLAG_TABLE.find((f) => f.name === name)!;
    const args = [
      `--${name}`,
      "10.0.0.0/8",
      `--${name}=192.168.0.0/16, fd00::/8,`,
      `--${name}`,
      " ,172.16.0.0/12 ,, ",
    ];
    const want = `ok ${
      JSON.stringify([
        "10.0.0.0/8",
        "192.168.0.0/16",
        "fd00::/8",
        "172.16.0.0/12",
      ])
    }`;
    assertEquals(daemonParse(args, def.key), want, `daemon --${name}`);
    assertEquals(checkParse(args, def.key), want, `check --${name}`);
    // Two occurrences, the case: both kept, not the last only.
    const two = [`--${name}`, "10.0.0.0/8", `--${name}`, "192.168.0.0/16"];
    const both = `ok ${JSON.stringify(["10.0.0.0/8", "192.168.0.0/16"])}`;
    assertEquals(daemonParse(two, def.key), both, `daemon --${name} twice`);
    assertEquals(checkParse(two, def.key), both, `check --${name} twice`);
  }
});

/** Every repeatable policy flag, some twice, some comma-separated. */
const REPEATED_POLICY_ARGS = [
  "--protected-cidrs",
  "10.0.0.0/8",
  "--protected-cidrs",
  "192.168.0.0/16",
  "--protected-names=api.example",
  "--protected-names=vip.example,lb.example",
  "--shared-address-cidrs=203.0.113.0/24",
  "--shared-address-cidrs=198.51.100.7",
  "--api-service-ip=10.96.0.1",
];

Deno.test("repeated --protected-cidrs and --protected-names reach the daemon's policy, every occurrence", () => {
  const flags = parseFlags(REPEATED_POLICY_ARGS);
  const policy = policyFromFlags(flags, ["fd00::1"]);
  assertEquals(policy.protectedCidrs, ["10.0.0.0/8", "192.168.0.0/16"]);
  assertEquals(policy.protectedNames, [
    "api.example",
    "vip.example",
    "lb.example",
  ]);
  assertEquals(policy.sharedAddressCidrs, ["203.0.113.0/24", "198.51.100.7"]);
  assertEquals(policy.apiServiceIps, ["10.96.0.1", "fd00::1"]);
  // check builds the same policy from the same flags.
  const check = parseCheckArgs(["csr.yaml", ...REPEATED_POLICY_ARGS]);
  assertEquals(
    JSON.stringify(check.policy),
    JSON.stringify(policyFromFlags(flags)),
  );
});

Deno.test("--allowed-cidrs: absent allows any IP SAN, an empty value allows none, in both commands", () => {
  const absent = servingPolicyFromFlags(parseFlags([]));
  assertEquals("allowedCidrs" in absent, true);
  assertEquals(absent.allowedCidrs, undefined);
  for (const args of [["--allowed-cidrs="], ["--allowed-cidrs", ""]]) {
    assertEquals(
      JSON.stringify(policyFromFlags(parseFlags(args)).allowedCidrs),
      "[]",
    );
    assertEquals(
      JSON.stringify(parseCheckArgs(["csr.yaml", ...args]).policy.allowedCidrs),
      "[]",
    );
  }
  // An empty occurrence next to a real one adds nothing.
  assertEquals(
    parseFlags(["--allowed-cidrs=", "--allowed-cidrs=10.0.0.0/8"])
      .allowedCidrs,
    ["10.0.0.0/8"],
  );
  assertEquals(parseCheckArgs(["csr.yaml"]).policy.allowedCidrs, undefined);
});

Deno.test("--shared-address-cidrs is a daemon and check flag, default none, documented with its risk", () => {
  const def = FLAG_TABLE.find((f) => f.name === "shared-address-cidrs");
  assert(def, "the table has --shared-address-cidrs");
  assertEquals([def.scope, def.kind, def.key], [
    "policy",
    "list",
    "sharedAddressCidrs",
  ]);
  assertMatch(def.help, /NAT gateway's ExternalIP/);
  assertMatch(def.help, /lets any node in it get a certificate/);
  assertMatch(def.help, /Repeatable\.$/);
  assertEquals(servingPolicyFromFlags(parseFlags([])).sharedAddressCidrs, []);
  assertEquals(parseCheckArgs(["csr.yaml"]).policy.sharedAddressCidrs, []);
});

/** Inputs per kind, good and bad, for the parse-identically table. */
const SAMPLES: Record<string, string[]> = {
  bool: ["true", "false", "1", "0", "yes", "TRUE", "", " true"],
  int: [
    "0",
    "5",
    "007",
    "86400",
    "-1",
    "1e3",
    "0x10",
    " 5",
    "5 ",
    "1.5",
    "",
    "+5",
    "99999999999999999999",
  ],
  duration: ["0", "15s", "1m30s", "500ms", "2h", "1.5m", "15", "s", "-1s", ""],
  string: ["cluster.local", "corp.k8s", "worker-\\d+", "", "("],
  list: ["10.0.0.0/8", "a,b", "", " , "],
};

Deno.test("policy flags parse identically in the daemon and in check: same values, same errors", () => {
  const kinds = new Set<string>();
  for (const def of POLICY_FLAGS) {
    const samples = SAMPLES[def.kind];
    assert(samples, `samples for kind ${def.kind} (--${def.name})`);
    kinds.add(def.kind);
    for (const raw of samples) {
      const joined = [`--${def.name}=${raw}`];
      const d = daemonParse(joined, def.key);
      assertEquals(checkParse(joined, def.key), d, `--${def.name}=${raw}`);
      if (def.kind !== "bool") {
        const split = [`--${def.name}`, raw];
        assertEquals(daemonParse(split, def.key), d, `--${def.name} ${raw}`);
        assertEquals(checkParse(split, def.key), d, `--${def.name} ${raw}`);
      }
    }
    if (def.kind === "bool") {
      // A bare boolean flag is true in both.
      assertEquals(daemonParse([`--${def.name}`], def.key), "ok true");
      assertEquals(checkParse([`--${def.name}`], def.key), "ok true");
    }
  }
  assertEquals([...kinds].sort(), [
    "bool",
    "duration",
    "int",
    "list",
    "string",
  ]);
});

Deno.test("booleans, integers and durations follow the same strict rules in both commands", () => {
  const cases: Array<[string, string]> = [
    ["--verify-node-addresses=1", "ok true"],
    ["--verify-node-addresses=0", "ok false"],
    ["--verify-node-addresses=false", "ok false"],
    ["--max-dns-names=007", "ok 7"],
    ["--max-ip-addresses=0", "ok 0"],
    ["--max-expiration-seconds=86400", "ok 86400"],
    ["--node-address-wait=1m30s", "ok 90000"],
    ["--max-pending-age=0", "ok 0"],
  ];
  const key = (arg: string) =>
    POLICY_FLAGS.find((f) => arg.startsWith(`--${f.name}=`))!.key;
  for (const [arg, want] of cases) {
    assertEquals(daemonParse([arg], key(arg)), want, arg);
    assertEquals(checkParse([arg], key(arg)), want, arg);
  }
  const refused: Array<[string, RegExp]> = [
    ["--verify-node-addresses=yes", /expected true or false/],
    ["--max-dns-names=1e3", /expected an integer/],
    ["--max-dns-names=0x10", /expected an integer/],
    ["--max-dns-names= 5", /expected an integer/],
    ["--max-dns-names=1.5", /expected an integer/],
    ["--max-dns-names=-1", /must not be negative/],
    ["--max-expiration-seconds=0", /must be greater than 0/],
    ["--node-address-wait=15", /expected a duration/],
  ];
  for (const [arg, error] of refused) {
    const d = daemonParse([arg], key(arg));
    assertMatch(d, /^error invalid value /);
    assertMatch(d, error);
    assert(d.includes(arg.split("=")[0]), `${d} names the flag`);
    assertEquals(checkParse([arg], key(arg)), d, arg);
  }
});

Deno.test("check accepts exactly the daemon's policy flags plus its own; each command refuses the other's", () => {
  const names = (defs: readonly { name: string }[]) =>
    defs.map((f) => f.name).sort();
  assertEquals(
    names(POLICY_FLAGS),
    [
      "allowed-cidrs",
      "api-service-ip",
      "cluster-domain",
      "dns-name-pattern",
      "max-dns-names",
      "max-expiration-seconds",
      "max-ip-addresses",
      "max-pending-age",
      "node-address-wait",
      "protected-cidrs",
      "protected-names",
      "shared-address-cidrs",
      "verify-node-addresses",
    ],
  );
  assertEquals(
    names(CHECK_FLAGS),
    [...names(POLICY_FLAGS), "help", "node", "output"].sort(),
  );
  for (const def of POLICY_FLAGS) {
    assert(FLAGS.includes(def), `the daemon accepts --${def.name}`);
  }
  for (const def of FLAGS) {
    if (CHECK_FLAGS.includes(def)) continue;
    const value = def.kind === "bool" ? [] : ["1"];
    const e = assertThrows(
      () => parseCheckArgs(["csr.yaml", `--${def.name}`, ...value]),
      FlagError,
    );
    assertEquals(e.message, `unknown flag --${def.name} (see --help)`);
  }
  for (const def of CHECK_FLAGS) {
    if (FLAGS.includes(def)) continue;
    const e = assertThrows(
      () => parseFlags([`--${def.name}`, "x"]),
      FlagError,
    );
    assertEquals(e.message, `unknown flag --${def.name} (see --help)`);
  }
  assertEquals(
    assertThrows(
      () => parseCheckArgs(["csr.yaml", "--workers", "4"]),
      FlagError,
    )
      .message,
    "unknown flag --workers (see --help)",
  );
  assertEquals(
    assertThrows(() => parseFlags(["--node", "node.yaml"]), FlagError).message,
    "unknown flag --node (see --help)",
  );
});

Deno.test("a bare -- is skipped by both parsers (deno task start -- ...)", () => {
  assertEquals(parseFlags(["--", "--dry-run"]).dryRun, true);
  assertEquals(
    parseFlags(["--", "--kubeconfig", "/tmp/kc", "--dry-run"]).kubeconfig,
    "/tmp/kc",
  );
  assertEquals(parseFlags(["--dry-run", "--"]).dryRun, true);
  assertEquals(parseFlags(["-h"]).help, true);
  const before = parseCheckArgs(["--", "csr.yaml", "--node", "n.yaml"]);
  assertEquals([before.input, before.nodes], ["csr.yaml", ["n.yaml"]]);
  const after = parseCheckArgs(["--node", "n.yaml", "--", "csr.yaml"]);
  assertEquals([after.input, after.nodes], ["csr.yaml", ["n.yaml"]]);
  assertEquals(parseCheckArgs(["--", "-"]).input, "-");
  assertEquals(parseCheckArgs(["-h"]).help, true);
  // The same parser answers for both commands.
  assertEquals(
    parseCommandLine(["--", "x", "--", "--dry-run"], "daemon").positionals,
    ["x"],
  );
});

Deno.test("check's --node is repeatable and keeps each value whole (a path may hold a comma)", () => {
  const o = parseCheckArgs([
    "csr.yaml",
    "--node",
    "a,b.yaml",
    "--node=nodes.yaml",
  ]);
  assertEquals(o.nodes, ["a,b.yaml", "nodes.yaml"]);
  assertEquals(parseCheckArgs(["csr.yaml"]).nodes, []);
  assertMatch(
    assertThrows(() => parseCheckArgs(["csr.yaml", "--node="]), FlagError)
      .message,
    /--node: expected a file path/,
  );
});
