import { formatDurationUnit } from "../../../src/util/duration.ts";
import { formatDuration } from "../../../src/core/duration.ts";
import {
  type CompiledPolicy,
  compileServingPolicy,
  defaultServingPolicy,
} from "../../../src/core/policy.ts";
import { checkPendingAge } from "../../../src/core/policy_checks.ts";
import { leaderElectionFlag } from "../../../src/cli/setting_labels.ts";
import { FLAGS } from "../../../src/cli/flag_table.ts";
import { flagHelpLines } from "../../../src/cli/help.ts";
import { validateLeaderElectionTimings } from "../../../src/kube/leader_election.ts";
import { assertEquals } from "../../support/assert.ts";

Deno.test("formatDurationUnit uses the largest unit that divides exactly", () => {
  const cases: [number, string][] = [
    [0, "0h"],
    [1, "1ms"],
    [250, "250ms"],
    [1_000, "1s"],
    [1_500, "1500ms"],
    [2_000, "2s"],
    [15_000, "15s"],
    [60_000, "1m"],
    [90_000, "90s"],
    [900_000, "15m"],
    [3_600_000, "1h"],
    [3_601_000, "3601s"],
    [5_400_000, "90m"],
    [86_400_000, "24h"],
    [NaN, "NaNms"],
  ];
  for (const [ms, text] of cases) {
    assertEquals(formatDurationUnit(ms), text, `${ms}`);
  }
});

Deno.test("formatDurationUnit stops at the largest unit it is given", () => {
  const cases: [number, "h" | "m" | "s", string][] = [
    [0, "s", "0s"],
    [2_400, "s", "2400ms"],
    [10_000, "s", "10s"],
    [60_000, "s", "60s"],
    [3_600_000, "s", "3600s"],
    [3_600_000, "m", "60m"],
    [90_000, "m", "90s"],
  ];
  for (const [ms, largest, text] of cases) {
    assertEquals(formatDurationUnit(ms, largest), text, `${ms} ${largest}`);
  }
});

Deno.test("--help shows each duration default as before", () => {
  const help = flagHelpLines(FLAGS).join("\n");
  for (
    const [flag, shown] of [
      ["node-address-wait", "15m"],
      ["max-pending-age", "1h"],
      ["leader-elect-lease-duration", "15s"],
      ["leader-elect-renew-deadline", "10s"],
      ["leader-elect-retry-period", "2s"],
    ]
  ) {
    const at = help.indexOf(`  --${flag} duration\n`);
    const entry = help.slice(at, help.indexOf("\n  --", at + 1));
    assertEquals(
      entry.includes(`(default "${shown}")`),
      true,
      `${flag}: ${entry}`,
    );
  }
});

Deno.test("leader-election timing errors write whole seconds or milliseconds", () => {
  assertEquals(
    validateLeaderElectionTimings(60_000, 60_000, 2_000, leaderElectionFlag),
    "--leader-elect-lease-duration (60s) must be greater than --leader-elect-renew-deadline (60s)",
  );
  assertEquals(
    validateLeaderElectionTimings(15_000, 2_400, 2_000, leaderElectionFlag),
    "--leader-elect-renew-deadline (2400ms) must be greater than 1.2 × --leader-elect-retry-period (2s × 1.2 = 2400ms)",
  );
});

Deno.test("formatDuration (core) writes compact compound durations", () => {
  const cases: [number, string][] = [
    [0, "0ms"],
    [249.6, "250ms"],
    [999, "999ms"],
    [1_000, "1s"],
    [1_999, "1s"],
    [60_000, "1m"],
    [90_000, "1m30s"],
    [900_000, "15m"],
    [3_600_000, "1h"],
    [3_601_000, "1h1s"],
    [3_661_000, "1h1m1s"],
    [90_000_000, "25h"],
    [Infinity, "Infinity"],
    [NaN, "NaN"],
  ];
  for (const [ms, text] of cases) {
    assertEquals(formatDuration(ms), text, `${ms}`);
  }
});

Deno.test("the policy checks write durations with core's formatDuration", () => {
  const policy = compileServingPolicy(defaultServingPolicy()) as CompiledPolicy;
  const ageMs = 3_661_000;
  const result = checkPendingAge(policy, {
    createdAt: "2026-01-01T00:00:00Z",
    now: new Date(Date.parse("2026-01-01T00:00:00Z") + ageMs),
  });
  assertEquals(
    result.check.message.startsWith(
      `CSR was created ${formatDuration(ageMs)} ago`,
    ),
    true,
    result.check.message,
  );
});
