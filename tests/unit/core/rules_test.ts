import {
  checkSignature,
  checkSubjectAltNames,
  checkSubjectCommonName,
  checkSubjectOrganization,
  checkUsages,
  evaluateKubeletServingRules,
  KUBELET_SERVING_RULES,
  nodeNameFromRequest,
} from "../../../src/core/rules.ts";
import { assertEquals } from "../../support/assert.ts";
import {
  baseRequest,
  type Case,
  RSA_2048,
  ruleInput,
  testRuleCases,
} from "../../support/rule_cases.ts";

const cases: Case[] = [
  // subject-organization
  {
    name: "O exactly system:nodes",
    check: checkSubjectOrganization,
    input: ruleInput(),
    rule: "subject-organization",
  },
  {
    name: "O missing",
    check: checkSubjectOrganization,
    input: ruleInput({ organizations: [] }),
    rule: "subject-organization",
    reason: "SubjectOrganizationMismatch",
    message:
      /^subject organization is \[\], expected exactly \["system:nodes"\]$/,
  },
  {
    name: "extra O",
    check: checkSubjectOrganization,
    input: ruleInput({ organizations: ["system:nodes", "evil"] }),
    rule: "subject-organization",
    reason: "SubjectOrganizationMismatch",
    message:
      /^subject organization is \["system:nodes","evil"\], expected exactly \["system:nodes"\]$/,
  },
  {
    name: "wrong O",
    check: checkSubjectOrganization,
    input: ruleInput({ organizations: ["system:masters"] }),
    rule: "subject-organization",
    reason: "SubjectOrganizationMismatch",
    message: /"system:masters"/,
  },
  {
    name: "O duplicated",
    check: checkSubjectOrganization,
    input: ruleInput({ organizations: ["system:nodes", "system:nodes"] }),
    rule: "subject-organization",
    reason: "SubjectOrganizationMismatch",
  },
  // subject-common-name
  {
    name: "CN system:node:worker-1",
    check: checkSubjectCommonName,
    input: ruleInput(),
    rule: "subject-common-name",
  },
  {
    name: "CN without prefix",
    check: checkSubjectCommonName,
    input: ruleInput({ commonNames: ["worker-1"] }),
    rule: "subject-common-name",
    reason: "SubjectCommonNameInvalid",
    message: /"worker-1"/,
  },
  {
    name: "CN with the user prefix spelled differently",
    check: checkSubjectCommonName,
    input: ruleInput({ commonNames: ["system:nodes:worker-1"] }),
    rule: "subject-common-name",
    reason: "SubjectCommonNameInvalid",
  },
  {
    name: "CN with an empty node name",
    check: checkSubjectCommonName,
    input: ruleInput({ commonNames: ["system:node:"] }),
    rule: "subject-common-name",
    reason: "SubjectCommonNameInvalid",
    message: /empty node name/,
  },
  {
    name: "two CNs",
    check: checkSubjectCommonName,
    input: ruleInput({ commonNames: ["system:node:a", "system:node:b"] }),
    rule: "subject-common-name",
    reason: "SubjectCommonNameInvalid",
    message: /2 common names/,
  },
  {
    name: "no CN",
    check: checkSubjectCommonName,
    input: ruleInput({ commonNames: [] }),
    rule: "subject-common-name",
    reason: "SubjectCommonNameInvalid",
    message: /0 common names/,
  },
  {
    name: "CN with a newline",
    check: checkSubjectCommonName,
    input: ruleInput({ commonNames: ["system:node:a\nforged log line"] }),
    rule: "subject-common-name",
    reason: "SubjectCommonNameInvalid",
    message: /control characters/,
  },
  {
    name: "CN with a bidi override",
    check: checkSubjectCommonName,
    input: ruleInput({ commonNames: ["system:node:a\u202eb"] }),
    rule: "subject-common-name",
    reason: "SubjectCommonNameInvalid",
    message: /\\u202e/,
  },
  {
    name: "CN with a non-ASCII but printable name",
    check: checkSubjectCommonName,
    input: ruleInput({ commonNames: ["system:node:wörker"] }),
    rule: "subject-common-name",
  },
  // usages
  {
    name: "non-RSA usage set",
    check: checkUsages,
    input: ruleInput(),
    rule: "usages",
  },
  {
    name: "RSA usage set",
    check: checkUsages,
    input: ruleInput({ publicKey: RSA_2048 }, {
      usages: ["digital signature", "key encipherment", "server auth"],
    }),
    rule: "usages",
  },
  {
    name: "RSA key with the non-RSA usage set",
    check: checkUsages,
    input: ruleInput({ publicKey: RSA_2048 }),
    rule: "usages",
  },
  {
    name: "usages in another order",
    check: checkUsages,
    input: ruleInput({}, {
      usages: ["server auth", "key encipherment", "digital signature"],
    }),
    rule: "usages",
  },
  {
    name: "extra client auth",
    check: checkUsages,
    input: ruleInput({}, {
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
    input: ruleInput({}, {
      usages: ["digital signature", "key encipherment"],
    }),
    rule: "usages",
    reason: "UsageMismatch",
  },
  {
    name: "key encipherment without digital signature",
    check: checkUsages,
    input: ruleInput({}, { usages: ["key encipherment", "server auth"] }),
    rule: "usages",
    reason: "UsageMismatch",
  },
  {
    name: "only server auth",
    check: checkUsages,
    input: ruleInput({}, { usages: ["server auth"] }),
    rule: "usages",
    reason: "UsageMismatch",
  },
  {
    name: "duplicate usage",
    check: checkUsages,
    input: ruleInput({}, {
      usages: ["digital signature", "server auth", "server auth"],
    }),
    rule: "usages",
    reason: "UsageMismatch",
    message: /"server auth" listed twice/,
  },
  {
    name: "duplicate usage filling the RSA set's size",
    check: checkUsages,
    input: ruleInput({}, {
      usages: ["digital signature", "digital signature", "server auth"],
    }),
    rule: "usages",
    reason: "UsageMismatch",
  },
  {
    name: "no usages",
    check: checkUsages,
    input: ruleInput({}, { usages: undefined }),
    rule: "usages",
    reason: "UsageMismatch",
  },
  // subject-alt-names
  {
    name: "DNS and IP",
    check: checkSubjectAltNames,
    input: ruleInput(),
    rule: "subject-alt-names",
    message: /^subject alternative names are DNS worker-1; IP 10\.0\.0\.1$/,
  },
  {
    name: "IP only",
    check: checkSubjectAltNames,
    input: ruleInput({ dnsNames: [] }),
    rule: "subject-alt-names",
  },
  {
    name: "DNS only",
    check: checkSubjectAltNames,
    input: ruleInput({ ipAddresses: [] }),
    rule: "subject-alt-names",
  },
  {
    name: "no SANs",
    check: checkSubjectAltNames,
    input: ruleInput({ dnsNames: [], ipAddresses: [] }),
    rule: "subject-alt-names",
    reason: "NoSubjectAltNames",
  },
  {
    name: "only an email SAN",
    check: checkSubjectAltNames,
    input: ruleInput({
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
    input: ruleInput({ emailAddresses: ["root@example.com"] }),
    rule: "subject-alt-names",
    reason: "EmailSANForbidden",
    message: /"root@example\.com"/,
  },
  {
    name: "URI SAN",
    check: checkSubjectAltNames,
    input: ruleInput({ uris: ["spiffe://x"] }),
    rule: "subject-alt-names",
    reason: "URISANForbidden",
    message: /"spiffe:\/\/x"/,
  },
  {
    name: "otherName SAN",
    check: checkSubjectAltNames,
    input: ruleInput({ otherNames: 1 }),
    rule: "subject-alt-names",
    reason: "PolicyViolation",
  },
  // signature
  {
    name: "valid signature",
    check: checkSignature,
    input: ruleInput(),
    rule: "signature",
  },
  {
    name: "invalid signature",
    check: checkSignature,
    input: ruleInput({ signatureValid: false }),
    rule: "signature",
    reason: "SignatureInvalid",
    message: /ECDSA P-256/,
  },
  {
    name: "unverifiable signature",
    check: checkSignature,
    input: ruleInput({
      signatureValid: false,
      signatureError: "unsupported algorithm ML-DSA-44",
    }),
    rule: "signature",
    reason: "UnsupportedKey",
    message: /ML-DSA-44/,
  },
];

testRuleCases(cases);

Deno.test("rules: every rule passes on a kubelet's request, in a stable order", () => {
  const results = evaluateKubeletServingRules(ruleInput());
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
    ruleInput({ organizations: [], signatureValid: false }, {
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
