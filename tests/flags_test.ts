import {
  FlagError,
  FLAGS,
  helpText,
  parseDuration,
  parseFlags,
  parseListen,
} from "../src/cli/flags.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertThrows,
} from "./support/assert.ts";

Deno.test("flags have the documented defaults", () => {
  const f = parseFlags([]);
  assertEquals(f.listen, ":8080");
  assertEquals(f.dryRun, false);
  assertEquals(f.denyInvalid, false);
  assertEquals(f.logFormat, "text");
  assertEquals(f.logLevel, "info");
  assertEquals(f.kubeconfig, undefined);
  assertEquals(f.kubeApiQps, 20);
  assertEquals(f.kubeApiBurst, 30);
  assertEquals(f.subresource, "selfnodeserver");
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

Deno.test("--listen parses host:port, :port and bracketed IPv6", () => {
  assertEquals(parseListen(":8080"), { hostname: "0.0.0.0", port: 8080 });
  assertEquals(parseListen("127.0.0.1:0"), { hostname: "127.0.0.1", port: 0 });
  assertEquals(parseListen("[::1]:9000"), { hostname: "::1", port: 9000 });
  assertEquals(parseListen("localhost"), undefined);
});

Deno.test("--help lists every flag with its default", () => {
  const text = helpText();
  for (const def of FLAGS) {
    assert(text.includes(`--${def.name}`), `help mentions --${def.name}`);
    if (def.default !== undefined && def.kind !== "duration") {
      assert(
        text.includes(`(default ${JSON.stringify(def.default)})`),
        `help shows the default of --${def.name}`,
      );
    }
  }
  assertMatch(
    text,
    /--leader-elect-lease-duration duration\n.*\(default "15s"\)/,
  );
  assertMatch(
    text,
    /--leader-elect\n.*\(default true in-cluster, else false\)/,
  );
  assertMatch(text, /--listen string\n.*\(default ":8080"\)/);
});
