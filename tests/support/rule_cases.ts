/**
 * The fixture of the rule tests (`tests/unit/core/rules_test.ts`,
 * `requester_test.ts`, `key_policy_test.ts`): a kubelet's parsed request as
 * every rule passes it, a {@linkcode RuleInput} with edits, and the table
 * runner that makes one test per rule.
 *
 * @module
 */
import type { ParsedRequest } from "../../src/core/request.ts";
import type { RuleInput } from "../../src/core/rule.ts";
import type { CheckResult } from "../../src/core/types.ts";
import { assert, assertEquals, assertMatch } from "./assert.ts";

/** A kubelet's parsed request (ECDSA P-256) every rule passes. */
export function baseRequest(): ParsedRequest {
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

/** {@linkcode baseRequest} and a kubelet's `spec`, with edits. */
export function ruleInput(
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

/** One case of a rule's table. */
export interface Case {
  name: string;
  check: (input: RuleInput) => CheckResult;
  input: RuleInput;
  rule: string;
  reason?: string; // undefined: must pass
  message?: RegExp;
}

/** An RSA 2048-bit key, to vary. */
export const RSA_2048 = {
  algorithm: "RSA" as const,
  oid: "1.2.840.113549.1.1.1",
  rsaBits: 2048,
};

/** One test per rule, each running its table of positive and negative cases. */
export function testRuleCases(cases: readonly Case[]): void {
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
}
