import { checkKeyPolicy } from "../../../src/core/key_policy.ts";
import {
  type Case,
  RSA_2048,
  ruleInput,
  testRuleCases,
} from "../../support/rule_cases.ts";

const cases: Case[] = [
  // key-policy
  {
    name: "ECDSA P-256",
    check: checkKeyPolicy,
    input: ruleInput(),
    rule: "key-policy",
  },
  {
    name: "ECDSA P-384",
    check: checkKeyPolicy,
    input: ruleInput({
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
    input: ruleInput({ publicKey: RSA_2048 }),
    rule: "key-policy",
  },
  {
    name: "RSA 4096",
    check: checkKeyPolicy,
    input: ruleInput({ publicKey: { ...RSA_2048, rsaBits: 4096 } }),
    rule: "key-policy",
  },
  {
    name: "Ed25519",
    check: checkKeyPolicy,
    input: ruleInput({
      publicKey: { algorithm: "Ed25519", oid: "1.3.101.112" },
    }),
    rule: "key-policy",
  },
  {
    name: "RSA 1024",
    check: checkKeyPolicy,
    input: ruleInput({ publicKey: { ...RSA_2048, rsaBits: 1024 } }),
    rule: "key-policy",
    reason: "UnsupportedKey",
    message: /^public key is RSA 1024-bit, expected/,
  },
  {
    name: "RSA 2047",
    check: checkKeyPolicy,
    input: ruleInput({ publicKey: { ...RSA_2048, rsaBits: 2047 } }),
    rule: "key-policy",
    reason: "UnsupportedKey",
  },
  {
    name: "RSA 16384",
    check: checkKeyPolicy,
    input: ruleInput({ publicKey: { ...RSA_2048, rsaBits: 16384 } }),
    rule: "key-policy",
    reason: "UnsupportedKey",
  },
  {
    name: "ECDSA P-521",
    check: checkKeyPolicy,
    input: ruleInput({
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
    input: ruleInput({
      publicKey: { algorithm: "unknown", oid: "1.2.840.10040.4.1" },
    }),
    rule: "key-policy",
    reason: "UnsupportedKey",
    message: /unknown key algorithm 1\.2\.840\.10040\.4\.1/,
  },
];

testRuleCases(cases);
