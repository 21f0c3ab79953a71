/**
 * `key-policy`: which public keys a serving certificate may carry. Not one
 * of Kubernetes' own rules (it signs any key the request holds); the kubelet
 * only ever generates the keys accepted here, so a weak or exotic key means a
 * request that did not come from a kubelet.
 *
 * @module
 */
import type { CheckResult } from "./types.ts";
import { describeKey } from "./request.ts";
import { fail, pass, type RuleInput } from "./rule.ts";
import { escapeInvisible } from "./text.ts";

/** Smallest accepted RSA modulus. */
export const MIN_RSA_BITS = 2048;
/** Largest accepted RSA modulus (the kubelet offers at most 4096). */
export const MAX_RSA_BITS = 8192;
/** Accepted ECDSA curves. */
export const ECDSA_CURVES: readonly string[] = ["P-256", "P-384"];

/**
 * `key-policy`: RSA 2048–8192 bits, ECDSA P-256 or P-384, or Ed25519.
 *
 * @example
 * ```ts
 * import { checkKeyPolicy } from "./key_policy.ts";
 * import type { ParsedRequest } from "./request.ts";
 * const request = {
 *   publicKey: { algorithm: "RSA", oid: "1.2.840.113549.1.1.1", rsaBits: 1024 },
 * } as ParsedRequest;
 * checkKeyPolicy({ request, spec: {} }).reason; // "UnsupportedKey"
 * ```
 */
export function checkKeyPolicy(input: RuleInput): CheckResult {
  const rule = "key-policy";
  const key = input.request.publicKey;
  const found = describeKey(key);
  const ok = (key.algorithm === "RSA" && key.rsaBits !== undefined &&
    key.rsaBits >= MIN_RSA_BITS && key.rsaBits <= MAX_RSA_BITS) ||
    (key.algorithm === "ECDSA" &&
      ECDSA_CURVES.includes(key.namedCurve ?? "")) ||
    key.algorithm === "Ed25519";
  if (ok) return pass(rule, `public key is ${found}`);
  return fail(
    rule,
    "UnsupportedKey",
    `public key is ${
      escapeInvisible(found)
    }, expected RSA ${MIN_RSA_BITS}-${MAX_RSA_BITS} bits, ECDSA ${
      ECDSA_CURVES.join(" or ")
    }, or Ed25519`,
  );
}
