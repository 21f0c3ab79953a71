/**
 * The approver end to end: the real daemon against the API server double
 * over HTTPS on loopback.
 */
import {
  APPROVER_USER,
  conditionOf,
  createKubeletCsr,
  startFixture,
} from "../support/fixture.ts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { parsePrometheus } from "../support/prometheus.ts";
import { assertAllowedByDeploy, loadDeployPolicy } from "../support/rbac.ts";
import type { ApiServer, RequestAttributes } from "../support/api_server.ts";
import type { CertificateSigningRequest } from "../../src/core/types.ts";

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
    assertEquals(f.approvalAttempts().size, 6);
    for (const [name, attempts] of f.approvalAttempts()) {
      assertEquals(attempts, 1, `${name}: one approval write attempt`);
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
        // Impossible through the API where NodeRestriction's CSR rule is on
        // (1.31+): injected, as a cluster without it would hold it.
        await createKubeletCsr(api, {
          name: "impostor",
          node: "worker-1",
          username: "system:node:worker-2",
          backDoor:
            "a node's CSR for another node's CN: NodeRestriction refuses it (1.31+); a cluster without that rule holds it",
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
    assertEquals(f.approvalAttempts().get("sar-flaky"), 1);
  } finally {
    await f.stop();
  }
});

Deno.test("a 409 on approval with the object unchanged re-reads and approves: exactly two attempts", async () => {
  const f = await startFixture({
    retriedApprovalWrites: true,
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
    await new Promise((r) => setTimeout(r, 200));
    const mine = f.api.requests.filter((r) =>
      r.name === "conflicted" && r.user === APPROVER_USER
    ).map((r) =>
      `${r.verb}${r.subresource ? "/" + r.subresource : ""}:${r.status}`
    );
    assertEquals(mine, [
      "update/approval:409",
      "get:200",
      "update/approval:200",
    ]);
    assertEquals(f.approvalAttempts().get("conflicted"), 2);
  } finally {
    await f.stop();
  }
});

/** The body of every approval write, in order, with the status it got. */
interface ApprovalWrite {
  body: CertificateSigningRequest;
  attrs: RequestAttributes;
}

/**
 * Makes a real conflict: just before the daemon's first approval write of
 * `name` is handled, someone else changes the stored object (`change`), so
 * the write carries a stale resourceVersion and the double answers 409 by
 * itself. Records every approval write's body.
 */
function raceFirstApproval(
  api: ApiServer,
  name: string,
  change: (csr: CertificateSigningRequest) => CertificateSigningRequest,
): ApprovalWrite[] {
  const writes: ApprovalWrite[] = [];
  api.faults.intercept = async (req, attrs) => {
    if (attrs.subresource !== "approval" || attrs.name !== name) {
      return undefined;
    }
    writes.push({ body: await req.clone().json(), attrs });
    if (writes.length === 1) api.updateCsr(change(api.getCsr(name)!));
    return undefined;
  };
  return writes;
}

const humanCondition = (type: string) => ({
  type,
  status: "True",
  reason: "Human",
  message: "decided by hand",
  lastUpdateTime: "2026-01-01T00:00:00Z",
});

Deno.test("409 from a concurrent label change: the second write is the fresh object (its resourceVersion and labels)", async () => {
  let writes: ApprovalWrite[] = [];
  let created!: CertificateSigningRequest;
  const f = await startFixture({
    retriedApprovalWrites: true,
    async before(api) {
      created = await createKubeletCsr(api, { name: "relabelled" });
      writes = raceFirstApproval(api, "relabelled", (csr) => ({
        ...csr,
        metadata: { ...csr.metadata, labels: { team: "edge" } },
      }));
    },
  });
  try {
    await f.until(
      () => f.approvalWrites().get("relabelled") === 1,
      10_000,
      "approval after the conflict",
    );
    await new Promise((r) => setTimeout(r, 200));
    assertEquals(f.approvalAttempts().get("relabelled"), 2);
    assertEquals(writes.map((w) => w.attrs.status), [409, 200]);
    const [stale, fresh] = writes.map((w) => w.body);
    assertEquals(
      stale.metadata.resourceVersion,
      created.metadata.resourceVersion,
    );
    assertEquals(stale.metadata.labels, undefined);
    assert(
      fresh.metadata.resourceVersion !== created.metadata.resourceVersion,
      "the second write carries the re-read resourceVersion",
    );
    assertEquals(fresh.metadata.labels, { team: "edge" });
    const stored = f.api.getCsr("relabelled")!;
    assertEquals(stored.metadata.labels, { team: "edge" });
    assertEquals(
      stored.status?.conditions?.map((c) => [c.type, c.reason]),
      [["Approved", "AutoApproved"]],
    );
  } finally {
    await f.stop();
  }
});

Deno.test("409 from a concurrent denial or approval: the fresh object is terminal, so the daemon writes nothing more", async () => {
  for (const type of ["Denied", "Approved"]) {
    let writes: ApprovalWrite[] = [];
    const name = `raced-${type.toLowerCase()}`;
    const f = await startFixture({
      async before(api) {
        await createKubeletCsr(api, { name });
        writes = raceFirstApproval(api, name, (csr) => ({
          ...csr,
          status: { conditions: [humanCondition(type)] },
        }));
      },
    });
    try {
      await f.until(
        () => f.reconciled.some((r) => r.name === name),
        10_000,
        `${name} decided`,
      );
      await new Promise((r) => setTimeout(r, 200));
      assertEquals(f.approvalAttempts().get(name), 1, `${name}: attempts`);
      assertEquals(writes.map((w) => w.attrs.status), [409]);
      const results = f.reconciled.filter((r) => r.name === name);
      assertEquals(
        results.map((r) => [r.result.action, r.result.decision?.reason]),
        [["ignored", "AlreadyDecided"]],
      );
      assert(
        f.api.requests.some((r) =>
          r.verb === "get" && r.name === name && r.user === APPROVER_USER
        ),
        "re-read after the conflict",
      );
      assertEquals(
        f.api.getCsr(name)?.status?.conditions?.map((c) => [c.type, c.reason]),
        [[type, "Human"]],
      );
    } finally {
      await f.stop();
    }
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
