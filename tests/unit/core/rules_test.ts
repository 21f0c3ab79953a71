import type { ParsedRequest } from "../../../src/core/request.ts";
import {
  checkKeyPolicy,
  checkRequesterGroup,
  checkRequesterIdentity,
  checkSignature,
  checkSubjectAltNames,
  checkSubjectCommonName,
  checkSubjectOrganization,
  checkUsages,
  describeSans,
  evaluateKubeletServingRules,
  KUBELET_SERVING_RULES,
  nodeNameFromRequest,
  quote,
  type RuleInput,
} from "../../../src/core/rules.ts";
import type { CheckResult } from "../../../src/core/types.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";

function baseRequest(): ParsedRequest {
  return {
    pemBytes: 500,
    commonNames: ["system:node:worker-1"],
    organizations: ["system:nodes"],
    subject: "O=system:nodes, CN=system:node:worker-1",
    dnsNames: ["worker-1"],
    ipAddresses: ["10.0.0.1"],
    emailAddresses: [],
    uris: [],
    otherNames: 0,
    publicKey: {
      algorithm: "ECDSA",
      oid: "1.2.840.10045.2.1",
      namedCurve: "P-256",
    },
    signatureAlgorithm: "1.2.840.10045.4.3.2",
    signatureValid: true,
  };
}

function input(
  request: Partial<ParsedRequest> = {},
  spec: Partial<RuleInput["spec"]> = {},
): RuleInput {
  return {
    request: { ...baseRequest(), ...request },
    spec: {
      username: "system:node:worker-1",
      groups: ["system:nodes", "system:authenticated"],
      usages: ["digital signature", "server auth"],
      ...spec,
    },
  };
}

interface Case {
  name: string;
  check: (input: RuleInput) => CheckResult;
  input: RuleInput;
  rule: string;
  reason?: string; // undefined: must pass
  message?: RegExp;
}

const RSA_2048 = {
  algorithm: "RSA" as const,
  oid: "1.2.840.113549.1.1.1",
  rsaBits: 2048,
};

const cases: Case[] = [
  // subject-organization
  {
    name: "O exactly system:nodes",
    check: checkSubjectOrganization,
    input: input(),
    rule: "subject-organization",
  },
  {
    name: "O missing",
    check: checkSubjectOrganization,
    input: input({ organizations: [] }),
    rule: "subject-organization",
    reason: "SubjectOrganizationMismatch",
    message:
      /^subject organization is \[\], expected exactly \["system:nodes"\]$/,
  },
  {
    name: "extra O",
    check: checkSubjectOrganization,
    input: input({ organizations: ["system:nodes", "evil"] }),
    rule: "subject-organization",
    reason: "SubjectOrganizationMismatch",
    message:
      /^subject organization is \["system:nodes","evil"\], expected exactly \["system:nodes"\]$/,
  },
  {
    name: "wrong O",
    check: checkSubjectOrganization,
    input: input({ organizations: ["system:masters"] }),
    rule: "subject-organization",
    reason: "SubjectOrganizationMismatch",
    message: /"system:masters"/,
  },
  {
    name: "O duplicated",
    check: checkSubjectOrganization,
    input: input({ organizations: ["system:nodes", "system:nodes"] }),
    rule: "subject-organization",
    reason: "SubjectOrganizationMismatch",
  },
  // subject-common-name
  {
    name: "CN system:node:worker-1",
    check: checkSubjectCommonName,
    input: input(),
    rule: "subject-common-name",
  },
  {
    name: "CN without prefix",
    check: checkSubjectCommonName,
    input: input({ commonNames: ["worker-1"] }),
    rule: "subject-common-name",
    reason: "SubjectCommonNameInvalid",
    message: /"worker-1"/,
  },
  {
    name: "CN with the user prefix spelled differently",
    check: checkSubjectCommonName,
    input: input({ commonNames: ["system:nodes:worker-1"] }),
    rule: "subject-common-name",
    reason: "SubjectCommonNameInvalid",
  },
  {
    name: "CN with an empty node name",
    check: checkSubjectCommonName,
    input: input({ commonNames: ["system:node:"] }),
    rule: "subject-common-name",
    reason: "SubjectCommonNameInvalid",
    message: /empty node name/,
  },
  {
    name: "two CNs",
    check: checkSubjectCommonName,
    input: input({ commonNames: ["system:node:a", "system:node:b"] }),
    rule: "subject-common-name",
    reason: "SubjectCommonNameInvalid",
    message: /2 common names/,
  },
  {
    name: "no CN",
    check: checkSubjectCommonName,
    input: input({ commonNames: [] }),
    rule: "subject-common-name",
    reason: "SubjectCommonNameInvalid",
    message: /0 common names/,
  },
  {
    name: "CN with a newline",
    check: checkSubjectCommonName,
    input: input({ commonNames: ["system:node:a\nforged log line"] }),
    rule: "subject-common-name",
    reason: "SubjectCommonNameInvalid",
    message: /control characters/,
  },
  {
    name: "CN with a bidi override",
    check: checkSubjectCommonName,
    input: input({ commonNames: ["system:node:a\u202eb"] }),
    rule: "subject-common-name",
    reason: "SubjectCommonNameInvalid",
    message: /\\u202e/,
  },
  {
    name: "CN with a non-ASCII but printable name",
    check: checkSubjectCommonName,
    input: input({ commonNames: ["system:node:wörker"] }),
    rule: "subject-common-name",
  },
  // requester-identity
  {
    name: "username equals CN",
    check: checkRequesterIdentity,
    input: input(),
    rule: "requester-identity",
  },
  {
    name: "username of another node",
    check: checkRequesterIdentity,
    input: input({ commonNames: ["system:node:a"] }, {
      username: "system:node:b",
    }),
    rule: "requester-identity",
    reason: "RequesterMismatch",
    message: /^requester "system:node:b" does not match CN "system:node:a"$/,
  },
  {
    name: "username missing",
    check: checkRequesterIdentity,
    input: input({}, { username: undefined }),
    rule: "requester-identity",
    reason: "RequesterMismatch",
    message: /\(none\)/,
  },
  {
    name: "username with two CNs",
    check: checkRequesterIdentity,
    input: input({ commonNames: ["system:node:worker-1", "system:node:b"] }),
    rule: "requester-identity",
    reason: "RequesterMismatch",
  },
  // requester-group
  {
    name: "groups include system:nodes",
    check: checkRequesterGroup,
    input: input(),
    rule: "requester-group",
  },
  {
    name: "groups without system:nodes",
    check: checkRequesterGroup,
    input: input({}, { groups: ["system:authenticated"] }),
    rule: "requester-group",
    reason: "RequesterNotInNodesGroup",
    message: /\["system:authenticated"\]/,
  },
  {
    name: "groups missing",
    check: checkRequesterGroup,
    input: input({}, { groups: undefined }),
    rule: "requester-group",
    reason: "RequesterNotInNodesGroup",
  },
  // usages
  {
    name: "non-RSA usage set",
    check: checkUsages,
    input: input(),
    rule: "usages",
  },
  {
    name: "RSA usage set",
    check: checkUsages,
    input: input({ publicKey: RSA_2048 }, {
      usages: ["digital signature", "key encipherment", "server auth"],
    }),
    rule: "usages",
  },
  {
    name: "RSA key with the non-RSA usage set",
    check: checkUsages,
    input: input({ publicKey: RSA_2048 }),
    rule: "usages",
  },
  {
    name: "usages in another order",
    check: checkUsages,
    input: input({}, {
      usages: ["server auth", "key encipherment", "digital signature"],
    }),
    rule: "usages",
  },
  {
    name: "extra client auth",
    check: checkUsages,
    input: input({}, {
      usages: ["digital signature", "server auth", "client auth"],
    }),
    rule: "usages",
    reason: "UsageMismatch",
    message:
      /^usages are \["digital signature","server auth","client auth"\], expected \[.*\] or \[.*\]$/,
  },
  {
    name: "missing server auth",
    check: checkUsages,
    input: input({}, {
      usages: ["digital signature", "key encipherment"],
    }),
    rule: "usages",
    reason: "UsageMismatch",
  },
  {
    name: "key encipherment without digital signature",
    check: checkUsages,
    input: input({}, { usages: ["key encipherment", "server auth"] }),
    rule: "usages",
    reason: "UsageMismatch",
  },
  {
    name: "only server auth",
    check: checkUsages,
    input: input({}, { usages: ["server auth"] }),
    rule: "usages",
    reason: "UsageMismatch",
  },
  {
    name: "duplicate usage",
    check: checkUsages,
    input: input({}, {
      usages: ["digital signature", "server auth", "server auth"],
    }),
    rule: "usages",
    reason: "UsageMismatch",
    message: /"server auth" listed twice/,
  },
  {
    name: "duplicate usage filling the RSA set's size",
    check: checkUsages,
    input: input({}, {
      usages: ["digital signature", "digital signature", "server auth"],
    }),
    rule: "usages",
    reason: "UsageMismatch",
  },
  {
    name: "no usages",
    check: checkUsages,
    input: input({}, { usages: undefined }),
    rule: "usages",
    reason: "UsageMismatch",
  },
  // subject-alt-names
  {
    name: "DNS and IP",
    check: checkSubjectAltNames,
    input: input(),
    rule: "subject-alt-names",
    message: /^subject alternative names are DNS worker-1; IP 10\.0\.0\.1$/,
  },
  {
    name: "IP only",
    check: checkSubjectAltNames,
    input: input({ dnsNames: [] }),
    rule: "subject-alt-names",
  },
  {
    name: "DNS only",
    check: checkSubjectAltNames,
    input: input({ ipAddresses: [] }),
    rule: "subject-alt-names",
  },
  {
    name: "no SANs",
    check: checkSubjectAltNames,
    input: input({ dnsNames: [], ipAddresses: [] }),
    rule: "subject-alt-names",
    reason: "NoSubjectAltNames",
  },
  {
    name: "only an email SAN",
    check: checkSubjectAltNames,
    input: input({
      dnsNames: [],
      ipAddresses: [],
      emailAddresses: ["a@b"],
    }),
    rule: "subject-alt-names",
    reason: "NoSubjectAltNames",
  },
  {
    name: "email SAN",
    check: checkSubjectAltNames,
    input: input({ emailAddresses: ["root@example.com"] }),
    rule: "subject-alt-names",
    reason: "EmailSANForbidden",
    message: /"root@example\.com"/,
  },
  {
    name: "URI SAN",
    check: checkSubjectAltNames,
    input: input({ uris: ["spiffe://x"] }),
    rule: "subject-alt-names",
    reason: "URISANForbidden",
    message: /"spiffe:\/\/x"/,
  },
  {
    name: "otherName SAN",
    check: checkSubjectAltNames,
    input: input({ otherNames: 1 }),
    rule: "subject-alt-names",
    reason: "PolicyViolation",
  },
  // signature
  {
    name: "valid signature",
    check: checkSignature,
    input: input(),
    rule: "signature",
  },
  {
    name: "invalid signature",
    check: checkSignature,
    input: input({ signatureValid: false }),
    rule: "signature",
    reason: "SignatureInvalid",
    message: /ECDSA P-256/,
  },
  {
    name: "unverifiable signature",
    check: checkSignature,
    input: input({
      signatureValid: false,
      signatureError: "unsupported algorithm ML-DSA-44",
    }),
    rule: "signature",
    reason: "UnsupportedKey",
    message: /ML-DSA-44/,
  },
  // key-policy
  {
    name: "ECDSA P-256",
    check: checkKeyPolicy,
    input: input(),
    rule: "key-policy",
  },
  {
    name: "ECDSA P-384",
    check: checkKeyPolicy,
    input: input({
      publicKey: {
        algorithm: "ECDSA",
        oid: "1.2.840.10045.2.1",
        namedCurve: "P-384",
      },
    }),
    rule: "key-policy",
  },
  {
    name: "RSA 2048",
    check: checkKeyPolicy,
    input: input({ publicKey: RSA_2048 }),
    rule: "key-policy",
  },
  {
    name: "RSA 4096",
    check: checkKeyPolicy,
    input: input({ publicKey: { ...RSA_2048, rsaBits: 4096 } }),
    rule: "key-policy",
  },
  {
    name: "Ed25519",
    check: checkKeyPolicy,
    input: input({
      publicKey: { algorithm: "Ed25519", oid: "1.3.101.112" },
    }),
    rule: "key-policy",
  },
  {
    name: "RSA 1024",
    check: checkKeyPolicy,
    input: input({ publicKey: { ...RSA_2048, rsaBits: 1024 } }),
    rule: "key-policy",
    reason: "UnsupportedKey",
    message: /^public key is RSA 1024-bit, expected/,
  },
  {
    name: "RSA 2047",
    check: checkKeyPolicy,
    input: input({ publicKey: { ...RSA_2048, rsaBits: 2047 } }),
    rule: "key-policy",
    reason: "UnsupportedKey",
  },
  {
    name: "RSA 16384",
    check: checkKeyPolicy,
    input: input({ publicKey: { ...RSA_2048, rsaBits: 16384 } }),
    rule: "key-policy",
    reason: "UnsupportedKey",
  },
  {
    name: "ECDSA P-521",
    check: checkKeyPolicy,
    input: input({
      publicKey: {
        algorithm: "ECDSA",
        oid: "1.2.840.10045.2.1",
        namedCurve: "P-521",
      },
    }),
    rule: "key-policy",
    reason: "UnsupportedKey",
    message: /ECDSA P-521/,
  },
  {
    name: "DSA",
    check: checkKeyPolicy,
    input: input({
      publicKey: { algorithm: "unknown", oid: "1.2.840.10040.4.1" },
    }),
    rule: "key-policy",
    reason: "UnsupportedKey",
    message: /unknown key algorithm 1\.2\.840\.10040\.4\.1/,
  },
];

// One test per rule, each running its table of positive and negative cases.
for (const rule of new Set(cases.map((c) => c.rule))) {
  Deno.test(`rule ${rule}: passes and fails as Kubernetes does`, () => {
    const own = cases.filter((c) => c.rule === rule);
    assert(own.some((c) => c.reason === undefined), "a passing case");
    assert(own.some((c) => c.reason !== undefined), "a failing case");
    for (const c of own) {
      const result = c.check(c.input);
      assertEquals(result.rule, c.rule, c.name);
      if (c.reason === undefined) {
        assertEquals(result.result, "pass", `${c.name}: ${result.message}`);
        assertEquals(result.reason, undefined, c.name);
      } else {
        assertEquals(result.result, "fail", c.name);
        assertEquals(result.reason, c.reason, c.name);
      }
      if (c.message) assertMatch(result.message, c.message, c.name);
      assert(result.message.length > 0, `${c.name}: empty message`);
    }
  });
}

Deno.test("rules: every rule passes on a kubelet's request, in a stable order", () => {
  const results = evaluateKubeletServingRules(input());
  assertEquals(results.map((r) => r.rule), [
    "subject-organization",
    "subject-common-name",
    "requester-identity",
    "requester-group",
    "usages",
    "subject-alt-names",
    "signature",
    "key-policy",
  ]);
  assertEquals(
    KUBELET_SERVING_RULES.map((r) => r.id),
    results.map((r) => r.rule),
  );
  for (const result of results) {
    assertEquals(result.result, "pass", `${result.rule}: ${result.message}`);
  }
});

Deno.test("rules: all rules are evaluated even after a failure", () => {
  const results = evaluateKubeletServingRules(
    input({ organizations: [], signatureValid: false }, {
      groups: ["system:authenticated"],
    }),
  );
  assertEquals(results.length, KUBELET_SERVING_RULES.length);
  assertEquals(
    results.filter((r) => r.result === "fail").map((r) => r.reason),
    [
      "SubjectOrganizationMismatch",
      "RequesterNotInNodesGroup",
      "SignatureInvalid",
    ],
  );
});

Deno.test("nodeNameFromRequest: only from a valid CN", () => {
  const table: Array<[string[], string | undefined]> = [
    [["system:node:worker-1"], "worker-1"],
    [["system:node:"], undefined],
    [["worker-1"], undefined],
    [["system:node:a", "system:node:b"], undefined],
    [["system:node:a\u0000"], undefined],
    [[], undefined],
  ];
  for (const [commonNames, node] of table) {
    assertEquals(
      nodeNameFromRequest({ ...baseRequest(), commonNames }),
      node,
      JSON.stringify(commonNames),
    );
  }
});

Deno.test("quote and describeSans: untrusted values cannot forge text", () => {
  const table: Array<[unknown, string]> = [
    ["plain", '"plain"'],
    ["a\nb", '"a\\nb"'],
    ["a\u202eb", '"a\\u202eb"'],
    ["a\u2028b", '"a\\u2028b"'],
    ["a\u0085b", '"a\\u0085b"'],
    [undefined, "(none)"],
    [42, "42"],
    [["x"], '["x"]'],
  ];
  for (const [value, text] of table) assertEquals(quote(value), text);
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  assertEquals(quote(cycle), "[object Object]");
  assertEquals(quote(10n), "10");
  assertMatch(quote("x".repeat(1000)), /^"x{128}…"$/);
  assertEquals(
    describeSans({ dnsNames: ["a\r\nb", "c"], ipAddresses: [] }),
    "DNS a\\u000d\\u000ab, c",
  );
  assertEquals(describeSans({ dnsNames: [], ipAddresses: [] }), "none");
});
