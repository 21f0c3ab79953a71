import fc from "fast-check";
import {
  type AuthorizationFact,
  decideServingRequest,
} from "../../../src/core/decision.ts";
import {
  inspectServingRequest,
  KUBELET_SERVING_SIGNER,
} from "../../../src/core/inspect.ts";
import type {
  CertificateSigningRequest,
  Decision,
  Outcome,
  ReasonCode,
} from "../../../src/core/types.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import {
  makeServingCsr,
  type ServingCsrOptions,
} from "../../support/csr_factory.ts";

/** Inspect, then decide as if the SubjectAccessReview allowed it. */
async function decide(
  csr: unknown,
  authorization: AuthorizationFact = { allowed: true },
): Promise<Decision> {
  return decideServingRequest(await inspectServingRequest(csr), {
    authorization,
  });
}

const text = (s: string) => new TextEncoder().encode(s).toBase64();

interface Case {
  name: string;
  opts?: ServingCsrOptions;
  edit?: (csr: CertificateSigningRequest) => void;
  outcome: Outcome;
  reason: ReasonCode;
  message?: RegExp;
}

const cases: Case[] = [
  // Valid requests, every key type the kubelet may use.
  {
    name: "ECDSA P-256",
    opts: { key: "ecdsa-p256" },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "ECDSA P-384",
    opts: { key: "ecdsa-p384" },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "RSA 2048",
    opts: { key: "rsa-2048" },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "RSA-PSS 2048",
    opts: { key: "rsa-pss-2048" },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "Ed25519",
    opts: { key: "ed25519" },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "RSA key with the non-RSA usage set",
    opts: { key: "rsa-2048", usages: ["digital signature", "server auth"] },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "ECDSA key with the RSA usage set",
    opts: { usages: ["digital signature", "key encipherment", "server auth"] },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "IP only",
    opts: { dnsNames: [] },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "DNS only",
    opts: { ipAddresses: [] },
    outcome: "approve",
    reason: "AutoApproved",
  },
  {
    name: "IPv6 SAN",
    opts: { ipAddresses: ["fd00::1"] },
    outcome: "approve",
    reason: "AutoApproved",
    message: /IP fd00::1/,
  },
  {
    name: "requester identified by username only",
    opts: { groups: ["system:nodes"] },
    outcome: "approve",
    reason: "AutoApproved",
  },
  // Kubernetes' rules.
  {
    name: "extra client auth usage",
    opts: { usages: ["digital signature", "server auth", "client auth"] },
    outcome: "deny",
    reason: "UsageMismatch",
  },
  {
    name: "missing server auth",
    opts: { usages: ["digital signature", "key encipherment"] },
    outcome: "deny",
    reason: "UsageMismatch",
  },
  {
    name: "duplicate usage",
    opts: { usages: ["digital signature", "server auth", "server auth"] },
    outcome: "deny",
    reason: "UsageMismatch",
  },
  {
    name: "O missing",
    opts: { organizations: [] },
    outcome: "deny",
    reason: "SubjectOrganizationMismatch",
  },
  {
    name: "extra O",
    opts: { organizations: ["system:nodes", "evil"] },
    outcome: "deny",
    reason: "SubjectOrganizationMismatch",
    message:
      /^subject organization is \["system:nodes","evil"\], expected exactly \["system:nodes"\]$/,
  },
  {
    name: "wrong O",
    opts: { organizations: ["system:masters"] },
    outcome: "deny",
    reason: "SubjectOrganizationMismatch",
  },
  {
    name: "CN without prefix",
    opts: {
      commonName: "worker-1",
      username: "worker-1",
      groups: ["system:nodes"],
    },
    outcome: "deny",
    reason: "SubjectCommonNameInvalid",
  },
  {
    name: "CN with an empty node name",
    opts: { commonName: "system:node:", username: "system:node:" },
    outcome: "deny",
    reason: "SubjectCommonNameInvalid",
  },
  {
    name: "two CNs",
    opts: {
      subject: [{ O: ["system:nodes"] }, { CN: ["system:node:worker-1"] }, {
        CN: ["system:node:other"],
      }],
    },
    outcome: "deny",
    reason: "SubjectCommonNameInvalid",
  },
  {
    name: "username is another node",
    opts: { node: "a", username: "system:node:b" },
    outcome: "deny",
    reason: "RequesterMismatch",
    message: /^requester "system:node:b" does not match CN "system:node:a"$/,
  },
  {
    name: "groups without system:nodes",
    opts: { groups: ["system:authenticated"] },
    outcome: "deny",
    reason: "RequesterNotInNodesGroup",
  },
  {
    name: "email SAN",
    opts: { emails: ["a@example.com"] },
    outcome: "deny",
    reason: "EmailSANForbidden",
  },
  {
    name: "URI SAN",
    opts: { uris: ["spiffe://cluster/x"] },
    outcome: "deny",
    reason: "URISANForbidden",
  },
  {
    name: "otherName SAN",
    opts: { otherSans: [{ type: "upn", value: "admin@corp" }] },
    outcome: "deny",
    reason: "PolicyViolation",
  },
  {
    name: "no SANs",
    opts: { dnsNames: [], ipAddresses: [] },
    outcome: "deny",
    reason: "NoSubjectAltNames",
  },
  {
    name: "tampered signature",
    opts: { tamper: true },
    outcome: "deny",
    reason: "SignatureInvalid",
  },
  {
    name: "RSA 1024",
    opts: { key: "rsa-1024" },
    outcome: "deny",
    reason: "UnsupportedKey",
    message: /RSA 1024-bit/,
  },
  {
    name: "ECDSA P-521",
    opts: { key: "ecdsa-p521" },
    outcome: "deny",
    reason: "UnsupportedKey",
  },
  {
    name: "too many SANs",
    opts: { dnsNames: Array.from({ length: 101 }, (_, i) => `n${i}`) },
    outcome: "deny",
    reason: "TooManySANs",
  },
  // Broken requests from a node.
  {
    name: "garbage base64",
    edit: (csr) => (csr.spec.request = "%%%"),
    outcome: "deny",
    reason: "InvalidRequestEncoding",
  },
  {
    name: "base64 of non-PEM",
    edit: (csr) => (csr.spec.request = text("just text")),
    outcome: "deny",
    reason: "InvalidRequestPEM",
  },
  {
    name: "PEM of garbage DER",
    edit: (csr) => (csr.spec.request = text(
      "-----BEGIN CERTIFICATE REQUEST-----\nAAECAwQ=\n-----END CERTIFICATE REQUEST-----\n",
    )),
    outcome: "deny",
    reason: "InvalidRequest",
  },
  {
    name: "two PEM blocks",
    edit: (csr) => {
      const pem = new TextDecoder().decode(
        Uint8Array.fromBase64(csr.spec.request),
      );
      csr.spec.request = text(pem + pem);
    },
    outcome: "deny",
    reason: "InvalidRequestPEM",
  },
  {
    name: "oversized request",
    edit: (csr) => (csr.spec.request = "A".repeat(50_000)),
    outcome: "deny",
    reason: "RequestTooLarge",
  },
  {
    name: "request not a string",
    edit: (csr) => ((csr.spec as Record<string, unknown>).request = 42),
    outcome: "deny",
    reason: "MalformedObject",
  },
  {
    name: "usages not a list",
    edit: (
      csr,
    ) => ((csr.spec as Record<string, unknown>).usages = "server auth"),
    outcome: "deny",
    reason: "MalformedObject",
  },
  {
    name: "missing metadata.name",
    edit: (csr) => delete (csr.metadata as Record<string, unknown>).name,
    outcome: "deny",
    reason: "MalformedObject",
  },
  // Not ours, or not now.
  {
    name: "other signer",
    opts: { signerName: "kubernetes.io/kube-apiserver-client-kubelet" },
    outcome: "ignore",
    reason: "NotKubeletServing",
  },
  {
    name: "other signer, even when invalid",
    opts: { signerName: "example.com/foo", uris: ["x:y"], tamper: true },
    outcome: "ignore",
    reason: "NotKubeletServing",
  },
  {
    name: "non-node requester",
    opts: { username: "alice", groups: ["system:authenticated"] },
    outcome: "ignore",
    reason: "NotNodeRequester",
  },
  {
    name: "non-node requester, even when invalid",
    opts: {
      username: "alice",
      groups: ["system:authenticated"],
      emails: ["a@b"],
      tamper: true,
    },
    outcome: "ignore",
    reason: "NotNodeRequester",
  },
  {
    name: "non-node requester with a malformed object",
    opts: { username: "alice", groups: ["system:authenticated"] },
    edit: (csr) => ((csr.spec as Record<string, unknown>).request = null),
    outcome: "ignore",
    reason: "NotNodeRequester",
  },
  {
    name: "already approved",
    opts: { conditions: [{ type: "Approved", status: "True" }] },
    outcome: "ignore",
    reason: "AlreadyDecided",
  },
  {
    name: "already denied, even when invalid",
    opts: { conditions: [{ type: "Denied", status: "True" }], tamper: true },
    outcome: "ignore",
    reason: "AlreadyDecided",
  },
  {
    name: "failed",
    opts: { conditions: [{ type: "Failed", status: "True" }] },
    outcome: "ignore",
    reason: "AlreadyDecided",
  },
  {
    name: "certificate issued",
    opts: { certificate: "Zm9v" },
    outcome: "ignore",
    reason: "AlreadyDecided",
  },
  {
    name: "being deleted",
    opts: { deletionTimestamp: "2026-01-01T01:00:00Z" },
    outcome: "ignore",
    reason: "Deleting",
  },
  {
    name: "unrelated condition does not count as decided",
    opts: { conditions: [{ type: "SomethingElse", status: "True" }] },
    outcome: "approve",
    reason: "AutoApproved",
  },
];

Deno.test("decision: real CSRs get the outcome and reason Kubernetes' rules imply", async () => {
  for (const c of cases) {
    const csr = await makeServingCsr(c.opts);
    c.edit?.(csr);
    const decision = await decide(csr);
    assertEquals(
      [decision.outcome, decision.reason],
      [c.outcome, c.reason],
      `${c.name}: ${decision.message}`,
    );
    if (c.message) assertMatch(decision.message, c.message, c.name);
    assert(decision.message.length > 0, `${c.name}: message`);
    assert(decision.checks.length > 0, `${c.name}: checks`);
    if (c.outcome === "deny" || c.outcome === "ignore") {
      const failed = decision.checks.find((check) => check.result === "fail");
      assertEquals(failed?.reason, c.reason, `${c.name}: deciding check`);
      assertEquals(
        failed?.message,
        decision.message,
        `${c.name}: message source`,
      );
    }
  }
});

Deno.test("decision: approval message names the node and its SANs", async () => {
  const csr = await makeServingCsr();
  const inspection = await inspectServingRequest(csr);
  assertEquals(inspection.needsAuthorization, true);
  assertEquals(inspection.node, "worker-1");
  assertEquals(inspection.name, csr.metadata.name);
  assertEquals(inspection.verdict.outcome, "approve");
  assertEquals(
    inspection.verdict.message,
    "kubelet serving certificate for node worker-1 (DNS worker-1; IP 10.0.0.1)",
  );
  assertEquals(inspection.request?.dnsNames, ["worker-1"]);
  const decision = decideServingRequest(inspection, {
    authorization: { allowed: true },
  });
  assertEquals(decision.node, "worker-1");
  assertEquals(decision.message, inspection.verdict.message);
});

Deno.test("decision: every evaluated check is reported, in order", async () => {
  const valid = await inspectServingRequest(await makeServingCsr());
  assertEquals(valid.checks.map((c) => c.rule), [
    "signer",
    "state",
    "requester",
    "object",
    "request",
    "subject-organization",
    "subject-common-name",
    "requester-identity",
    "requester-group",
    "usages",
    "subject-alt-names",
    "signature",
    "key-policy",
  ]);
  assert(valid.checks.every((c) => c.result === "pass"), "all pass");

  // Several faults: all rules still run, the first failure decides.
  const faulty = await inspectServingRequest(
    await makeServingCsr({
      organizations: ["evil"],
      usages: ["client auth"],
      tamper: true,
    }),
  );
  assertEquals(faulty.verdict.reason, "SubjectOrganizationMismatch");
  assertEquals(faulty.needsAuthorization, false);
  assertEquals(
    faulty.checks.filter((c) => c.result === "fail").map((c) => c.reason),
    ["SubjectOrganizationMismatch", "UsageMismatch", "SignatureInvalid"],
  );
  assertEquals(faulty.checks.length, valid.checks.length);

  // Ignored CSRs stop at the deciding check.
  const other = await inspectServingRequest(
    await makeServingCsr({ signerName: "example.com/x" }),
  );
  assertEquals(other.checks.map((c) => [c.rule, c.result]), [[
    "signer",
    "fail",
  ]]);
  assertEquals(other.request, undefined);
});

Deno.test("decision: authorization facts map to outcomes", async () => {
  const inspection = await inspectServingRequest(await makeServingCsr());
  const table: Array<
    [AuthorizationFact, Outcome, ReasonCode, "pass" | "fail" | "skip", RegExp]
  > = [
    [
      { allowed: true },
      "approve",
      "AutoApproved",
      "pass",
      /^kubelet serving certificate for node worker-1/,
    ],
    [
      { allowed: false, reason: "no RBAC rule" },
      "pending",
      "Unauthorized",
      "fail",
      /"no RBAC rule"/,
    ],
    [
      { allowed: false, reason: "" },
      "pending",
      "Unauthorized",
      "fail",
      /no reason given/,
    ],
    [
      { error: "connection refused" },
      "pending",
      "AuthorizationError",
      "fail",
      /"connection refused"/,
    ],
    [
      "unchecked",
      "approve",
      "AutoApproved",
      "skip",
      /^kubelet serving certificate/,
    ],
    [
      { bogus: true } as unknown as AuthorizationFact,
      "pending",
      "AuthorizationError",
      "fail",
      /unrecognized authorization fact/,
    ],
  ];
  for (const [authorization, outcome, reason, result, message] of table) {
    const label = JSON.stringify(authorization);
    const decision = decideServingRequest(inspection, { authorization });
    assertEquals([decision.outcome, decision.reason], [outcome, reason], label);
    assertMatch(decision.message, message, label);
    const last = decision.checks.at(-1)!;
    assertEquals([last.rule, last.result], ["authorization", result], label);
    // The serving-policy checks (policy.ts) run between inspection and
    // authorization.
    assertEquals(
      decision.checks.slice(inspection.checks.length).map((c) => c.rule),
      [
        "pending-age",
        "dns-name-syntax",
        "protected-names",
        "operator-policy",
        "san-ownership",
        "authorization",
      ],
      label,
    );
  }
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  for (const bad of [undefined, null, cycle, 1n]) {
    const decision = decideServingRequest(inspection, {
      authorization: bad as unknown as AuthorizationFact,
    });
    assertEquals(decision.reason, "AuthorizationError", String(bad));
  }
  const offline = decideServingRequest(inspection, {
    authorization: "unchecked",
  });
  assertEquals(offline.checks.at(-1)!.message, "not checked (offline)");
  // The inspection itself is not mutated by deciding.
  assertEquals(inspection.checks.at(-1)!.rule, "key-policy");
});

Deno.test("decision: authorization never changes a deny or ignore", async () => {
  for (
    const opts of [{ tamper: true }, {
      signerName: "example.com/x",
    }] as ServingCsrOptions[]
  ) {
    const inspection = await inspectServingRequest(await makeServingCsr(opts));
    for (
      const authorization of [
        { allowed: true },
        "unchecked",
      ] as AuthorizationFact[]
    ) {
      const decision = decideServingRequest(inspection, { authorization });
      assertEquals(decision.outcome, inspection.verdict.outcome);
      assertEquals(decision.reason, inspection.verdict.reason);
      assert(decision.outcome !== "approve", "never approved");
    }
  }
});

Deno.test("decision: arbitrary values never throw and are never approved", async () => {
  const table: Array<[unknown, Outcome, ReasonCode]> = [
    [null, "ignore", "MalformedObject"],
    [undefined, "ignore", "MalformedObject"],
    [42, "ignore", "MalformedObject"],
    ["csr", "ignore", "MalformedObject"],
    [[], "ignore", "MalformedObject"],
    [{}, "ignore", "MalformedObject"],
    [{ metadata: { name: "x" } }, "ignore", "MalformedObject"],
    [{ spec: null }, "ignore", "MalformedObject"],
    [{ spec: { signerName: 7 } }, "ignore", "MalformedObject"],
    [{ spec: { signerName: "example.com/x" } }, "ignore", "NotKubeletServing"],
    [
      { spec: { signerName: KUBELET_SERVING_SIGNER } },
      "ignore",
      "NotNodeRequester",
    ],
    [
      {
        spec: { signerName: KUBELET_SERVING_SIGNER, username: "system:node:a" },
      },
      "deny",
      "MalformedObject",
    ],
    [
      {
        metadata: { name: "x" },
        spec: {
          signerName: KUBELET_SERVING_SIGNER,
          groups: ["system:nodes"],
          request: "",
        },
      },
      "deny",
      "InvalidRequestPEM",
    ],
    [
      {
        metadata: { name: "x" },
        spec: {
          signerName: KUBELET_SERVING_SIGNER,
          username: "system:node:a",
          request: "",
          groups: "system:nodes",
        },
      },
      "deny",
      "MalformedObject",
    ],
    [
      {
        metadata: { name: "x" },
        spec: {
          signerName: KUBELET_SERVING_SIGNER,
          username: "system:node:a",
          request: "",
        },
        status: { conditions: [null, 3, { type: "Approved" }] },
      },
      "ignore",
      "AlreadyDecided",
    ],
  ];
  for (const [value, outcome, reason] of table) {
    const label = JSON.stringify(value) ?? String(value);
    const decision = await decide(value);
    assertEquals([decision.outcome, decision.reason], [outcome, reason], label);
  }
  await fc.assert(
    fc.asyncProperty(fc.anything(), async (value) => {
      const decision = await decide(value);
      return decision.outcome !== "approve";
    }),
    { numRuns: 200 },
  );
});

Deno.test("decision: random edits of a valid CSR object never throw", async () => {
  const base = await makeServingCsr();
  const paths: Array<[string, string]> = [
    ["metadata", "name"],
    ["spec", "request"],
    ["spec", "usages"],
    ["spec", "username"],
    ["spec", "groups"],
    ["spec", "signerName"],
    ["status", "conditions"],
    ["status", "certificate"],
  ];
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...paths),
      fc.anything(),
      async ([outer, inner], value) => {
        const csr = structuredClone(base) as unknown as Record<
          string,
          Record<string, unknown>
        >;
        csr[outer] ??= {};
        csr[outer][inner] = value;
        const decision = await decide(csr);
        return typeof decision.outcome === "string" &&
          decision.checks.length > 0;
      },
    ),
    { numRuns: 200 },
  );
});
