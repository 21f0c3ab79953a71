import {
  checkRequesterGroup,
  checkRequesterIdentity,
  isNodeRequester,
} from "../../../src/core/requester.ts";
import { assertEquals } from "../../support/assert.ts";
import {
  type Case,
  ruleInput,
  testRuleCases,
} from "../../support/rule_cases.ts";

const cases: Case[] = [
  // requester-identity
  {
    name: "username equals CN",
    check: checkRequesterIdentity,
    input: ruleInput(),
    rule: "requester-identity",
  },
  {
    name: "username of another node",
    check: checkRequesterIdentity,
    input: ruleInput({ commonNames: ["system:node:a"] }, {
      username: "system:node:b",
    }),
    rule: "requester-identity",
    reason: "RequesterMismatch",
    message: /^requester "system:node:b" does not match CN "system:node:a"$/,
  },
  {
    name: "username missing",
    check: checkRequesterIdentity,
    input: ruleInput({}, { username: undefined }),
    rule: "requester-identity",
    reason: "RequesterMismatch",
    message: /\(none\)/,
  },
  {
    name: "username with two CNs",
    check: checkRequesterIdentity,
    input: ruleInput({
      commonNames: ["system:node:worker-1", "system:node:b"],
    }),
    rule: "requester-identity",
    reason: "RequesterMismatch",
  },
  // requester-group
  {
    name: "groups include system:nodes",
    check: checkRequesterGroup,
    input: ruleInput(),
    rule: "requester-group",
  },
  {
    name: "groups without system:nodes",
    check: checkRequesterGroup,
    input: ruleInput({}, { groups: ["system:authenticated"] }),
    rule: "requester-group",
    reason: "RequesterNotInNodesGroup",
    message: /\["system:authenticated"\]/,
  },
  {
    name: "groups missing",
    check: checkRequesterGroup,
    input: ruleInput({}, { groups: undefined }),
    rule: "requester-group",
    reason: "RequesterNotInNodesGroup",
  },
];

testRuleCases(cases);

Deno.test("isNodeRequester: username prefix or nodes group", () => {
  const table: Array<[unknown, boolean]> = [
    [{ spec: { username: "system:node:a" } }, true],
    [{ spec: { username: "x", groups: ["system:nodes"] } }, true],
    [{ spec: { username: "alice", groups: ["system:authenticated"] } }, false],
    [{ spec: { username: "system:nodes:a" } }, false],
    [{ spec: { groups: "system:nodes" } }, false],
    [{ spec: {} }, false],
    [null, false],
    [[], false],
  ];
  for (const [csr, expected] of table) {
    assertEquals(isNodeRequester(csr), expected, JSON.stringify(csr));
  }
});
