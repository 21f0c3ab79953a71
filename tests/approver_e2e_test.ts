/**
 * The approver end to end: the real daemon against the API server double
 * over HTTPS on loopback.
 */
import {
  APPROVER_USER,
  conditionOf,
  createKubeletCsr,
  startFixture,
} from "./support/fixture.ts";
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { parsePrometheus } from "./support/prometheus.ts";
import { assertAllowedByDeploy, loadDeployPolicy } from "./support/rbac.ts";

Deno.test("approves valid ECDSA and RSA requests from a backlog and from the watch, once each", async () => {
  const f = await startFixture({
    async before(api) {
      await createKubeletCsr(api, { name: "backlog-ec", node: "worker-1" });
      await createKubeletCsr(api, {
        name: "backlog-rsa",
        node: "worker-2",
        key: "rsa-2048",
      });
    },
  });
  try {
    await f.until(
      () => f.approvalWrites().size === 2,
      10_000,
      "backlog approvals",
    );
    {
      const csr = f.api.getCsr("backlog-ec");
      const approved = conditionOf(csr, "Approved");
      assert(approved, "backlog-ec has an Approved condition");
      assertEquals(approved.status, "True");
      assertEquals(approved.reason, "AutoApproved");
      assertMatch(approved.message ?? "", /worker-1/);
      assertMatch(
        approved.lastUpdateTime ?? "",
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
      );
    }
    for (
      const [i, key]
        of (["ecdsa-p256", "rsa-2048", "ed25519", "ecdsa-p384"] as const)
          .entries()
    ) {
      await createKubeletCsr(f.api, {
        name: `live-${i}`,
        node: `worker-${i + 3}`,
        key,
      });
    }
    await f.until(
      () => f.approvalWrites().size === 6,
      10_000,
      "live approvals",
    );
    await new Promise((r) => setTimeout(r, 200));
    for (const [name, writes] of f.approvalWrites()) {
      assertEquals(writes, 1, `${name} approved once`);
    }
    for (const csr of f.api.listCsrs()) {
      assertEquals(
        csr.status?.conditions?.filter((c) => c.type === "Approved").length,
        1,
      );
    }
  } finally {
    await f.stop();
  }
});

Deno.test("/readyz turns ready after the first list, /metrics counts decisions", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const f = await startFixture({
    api: {},
    async before(api) {
      await createKubeletCsr(api, { name: "m-1" });
      await createKubeletCsr(api, { name: "m-bad", emails: ["x@example.com"] });
      api.faults.intercept = async (_req, attrs) => {
        if (
          attrs.resource === "certificatesigningrequests" &&
          attrs.verb === "list"
        ) await gate;
        return undefined;
      };
    },
  });
  try {
    assertEquals((await f.status("/healthz")).status, 200);
    assertEquals((await f.status("/readyz")).status, 503);
    release();
    await f.until(() => f.approvalWrites().size === 1, 10_000, "approval");
    await f.until(
      () =>
        ["m-1", "m-bad"].every((n) => f.reconciled.some((r) => r.name === n)),
      10_000,
      "both decided",
    );
    assertEquals((await f.status("/readyz")).status, 200);
    const metrics = parsePrometheus((await f.status("/metrics")).body);
    assertEquals(
      metrics.get(
        'kubelet_rubber_stamp_decisions_total{outcome="approved",reason="AutoApproved"}',
      ),
      1,
    );
    assertEquals(
      metrics.get(
        'kubelet_rubber_stamp_decisions_total{outcome="left-pending",reason="EmailSANForbidden"}',
      ),
      1,
    );
    assertEquals(metrics.get("kubelet_rubber_stamp_pending_csrs"), 1);
    assertEquals(
      metrics.get("kubelet_rubber_stamp_approval_latency_seconds_count"),
      1,
    );
  } finally {
    await f.stop();
  }
});

Deno.test("invalid node requests stay pending without --deny-invalid and are denied with it; not-ours is never touched", async () => {
  for (const denyInvalid of [false, true]) {
    const f = await startFixture({
      flags: denyInvalid ? ["--deny-invalid"] : [],
      async before(api) {
        await createKubeletCsr(api, {
          name: "impostor",
          node: "worker-1",
          username: "system:node:worker-2",
        });
        await createKubeletCsr(api, {
          name: "uri-san",
          uris: ["spiffe://x/y"],
        });
        await createKubeletCsr(api, {
          name: "not-a-node",
          username: "alice",
          groups: ["system:authenticated"],
          emails: ["a@b.c"],
        });
        await createKubeletCsr(api, {
          name: "other-signer",
          signerName: "example.com/other",
          emails: ["a@b.c"],
        });
        await createKubeletCsr(api, { name: "good" });
      },
    });
    try {
      await f.until(
        () => f.approvalWrites().has("good"),
        10_000,
        "good approved",
      );
      await f.until(
        () =>
          ["impostor", "uri-san", "not-a-node"].every((n) =>
            f.reconciled.some((r) => r.name === n)
          ),
        10_000,
        "decisions on the bad ones",
      );
      await new Promise((r) => setTimeout(r, 150));
      const denied = conditionOf(f.api.getCsr("impostor"), "Denied");
      if (denyInvalid) {
        assert(denied, "impostor denied");
        assertEquals(denied.reason, "RequesterMismatch");
        assertMatch(denied.message ?? "", /system:node:worker-2/);
        assertEquals(
          conditionOf(f.api.getCsr("uri-san"), "Denied")?.reason,
          "URISANForbidden",
        );
      } else {
        assertEquals(denied, undefined);
        assertEquals(f.api.getCsr("uri-san")?.status?.conditions ?? [], []);
      }
      assertEquals(f.api.getCsr("not-a-node")?.status?.conditions ?? [], []);
      assertEquals(f.api.getCsr("other-signer")?.status?.conditions ?? [], []);
      const writes = f.api.requests.filter((r) => r.verb === "update");
      const writtenNames = new Set(writes.map((r) => r.name));
      assert(
        !writtenNames.has("not-a-node") && !writtenNames.has("other-signer"),
        "not ours never written",
      );
      const decisionLogs = f.logs.map((l) => JSON.parse(l)).filter((l) =>
        l.msg === "decision"
      );
      const impostorLog = decisionLogs.find((l) => l.csr === "impostor");
      assert(impostorLog, "a decision log line for the impostor");
      assertEquals(impostorLog.reason, "RequesterMismatch");
      assertEquals(
        impostorLog.outcome,
        denyInvalid ? "denied" : "left-pending",
      );
      assertEquals(impostorLog.node, "worker-1");
    } finally {
      await f.stop();
    }
  }
});

Deno.test("a requester RBAC does not allow is left pending, never denied, even with --deny-invalid", async () => {
  const f = await startFixture({
    flags: ["--deny-invalid"],
    api: {
      sarAuthorize: (spec) => ({
        allowed: spec.user !== "system:node:revoked" &&
          spec.resourceAttributes?.subresource === "selfnodeserver" &&
          spec.resourceAttributes?.verb === "create" &&
          spec.resourceAttributes?.resource === "certificatesigningrequests" &&
          spec.resourceAttributes?.group === "certificates.k8s.io",
        reason: "test policy",
      }),
    },
    async before(api) {
      await createKubeletCsr(api, { name: "revoked", node: "revoked" });
      await createKubeletCsr(api, { name: "allowed", node: "allowed" });
    },
  });
  try {
    await f.until(
      () => f.approvalWrites().has("allowed"),
      10_000,
      "allowed approved",
    );
    await f.until(
      () => f.reconciled.some((r) => r.name === "revoked"),
      10_000,
      "revoked decided",
    );
    assertEquals(f.api.getCsr("revoked")?.status?.conditions ?? [], []);
    const r = f.reconciled.find((r) => r.name === "revoked")!;
    assertEquals(r.result.action, "left-pending");
    assertEquals(r.result.decision?.reason, "Unauthorized");
    const sar = f.api.requests.find((r) =>
      r.resource === "subjectaccessreviews"
    );
    assert(sar, "a SubjectAccessReview was made");
  } finally {
    await f.stop();
  }
});

Deno.test("a failing SubjectAccessReview is retried and never approves on the error", async () => {
  let failSar = true;
  const f = await startFixture({
    async before(api) {
      api.faults.intercept = (_req, attrs) =>
        failSar && attrs.resource === "subjectaccessreviews"
          ? Response.json(
            {
              kind: "Status",
              apiVersion: "v1",
              metadata: {},
              status: "Failure",
              message: "boom",
              reason: "InternalError",
              code: 500,
            },
            { status: 500 },
          )
          : undefined;
      await createKubeletCsr(api, { name: "sar-flaky" });
    },
  });
  try {
    await f.until(
      () =>
        f.api.requests.filter((r) => r.resource === "subjectaccessreviews")
          .length >= 3,
      10_000,
      "SAR retries",
    );
    assertEquals(f.approvalWrites().size, 0);
    assertEquals(f.api.getCsr("sar-flaky")?.status?.conditions ?? [], []);
    failSar = false;
    await f.until(
      () => f.approvalWrites().get("sar-flaky") === 1,
      10_000,
      "approval after recovery",
    );
  } finally {
    await f.stop();
  }
});

Deno.test("a 409 on approval re-reads, re-decides and approves once; a CSR denied meanwhile is left alone", async () => {
  const f = await startFixture({
    async before(api) {
      api.faults.approvalConflicts = 1;
      await createKubeletCsr(api, { name: "conflicted" });
    },
  });
  try {
    await f.until(
      () => f.approvalWrites().get("conflicted") === 1,
      10_000,
      "approval after conflict",
    );
    const conflicts = f.api.requests.filter((r) =>
      r.subresource === "approval" && r.status === 409
    );
    assertEquals(conflicts.length, 1);
    assert(
      f.api.requests.some((r) => r.verb === "get" && r.name === "conflicted"),
      "re-read after the conflict",
    );
  } finally {
    await f.stop();
  }
  // A human denies the CSR between our read and our write: the 409 re-read
  // must see the Denied condition and stop.
  const g = await startFixture({
    async before(api) {
      const csr = await createKubeletCsr(api, { name: "raced" });
      let raced = false;
      api.faults.intercept = (_req, attrs) => {
        if (!raced && attrs.subresource === "approval") {
          raced = true;
          const current = api.getCsr("raced")!;
          api.updateCsr({
            ...current,
            status: {
              conditions: [{
                type: "Denied",
                status: "True",
                reason: "Human",
                message: "no",
                lastUpdateTime: "2026-01-01T00:00:00Z",
              }],
            },
          });
        }
        return undefined;
      };
      return void csr;
    },
  });
  try {
    await g.until(
      () => g.reconciled.some((r) => r.name === "raced"),
      10_000,
      "raced decided",
    );
    await new Promise((r) => setTimeout(r, 100));
    const csr = g.api.getCsr("raced");
    assertEquals(conditionOf(csr, "Approved"), undefined);
    assertEquals(conditionOf(csr, "Denied")?.reason, "Human");
  } finally {
    await g.stop();
  }
});

Deno.test("--dry-run decides and writes nothing", async () => {
  const f = await startFixture({
    flags: ["--dry-run", "--deny-invalid"],
    async before(api) {
      await createKubeletCsr(api, { name: "dry-good" });
      await createKubeletCsr(api, { name: "dry-bad", emails: ["x@y.z"] });
    },
  });
  try {
    await f.until(() => f.reconciled.length >= 2, 10_000, "decisions");
    assertEquals(
      f.reconciled.find((r) => r.name === "dry-good")?.result.action,
      "approved",
    );
    assertEquals(
      f.reconciled.find((r) => r.name === "dry-bad")?.result.action,
      "denied",
    );
    assertEquals(
      f.api.requests.filter((r) =>
        !["get", "list", "watch", "create"].includes(r.verb)
      ).length,
      0,
    );
    assertEquals(f.api.getCsr("dry-good")?.status?.conditions ?? [], []);
    assertEquals(f.api.getCsr("dry-bad")?.status?.conditions ?? [], []);
  } finally {
    await f.stop();
  }
});

Deno.test("every request the daemon made is allowed by the RBAC in deploy/", async () => {
  const policy = await loadDeployPolicy("deploy");
  const f = await startFixture({
    flags: ["--deny-invalid"],
    async before(api) {
      await createKubeletCsr(api, { name: "rbac-good" });
      await createKubeletCsr(api, { name: "rbac-bad", emails: ["x@y.z"] });
    },
  });
  try {
    await f.until(() => f.reconciled.length >= 2, 10_000, "decisions");
    const mine = f.api.requests.filter((r) => r.user === APPROVER_USER);
    assert(
      mine.some((r) => r.subresource === "approval"),
      "made approval writes",
    );
    assertAllowedByDeploy(mine, policy, {
      defaultSignerName: "kubernetes.io/kubelet-serving",
    });
  } finally {
    await f.stop();
  }
});
