/**
 * Who asks: the checks on the requester of a kubelet serving CSR that the
 * kubelet TLS bootstrapping docs ask of serving approvers. The API server
 * fills `spec.username` and `spec.groups` from the authenticated identity,
 * so they can be trusted where the request's subject cannot: a node may only
 * ask for its own name, and only node identities are handled at all.
 *
 * @module
 */
import type { CheckResult } from "./types.ts";
import { isObject } from "./json.ts";
import { fail, pass, type RuleInput } from "./rule.ts";
import { quote, quoteList } from "./text.ts";

/** The CN prefix of node identities. */
export const NODE_USER_PREFIX = "system:node:";
/** The group every node identity belongs to. */
export const NODES_GROUP = "system:nodes";

/**
 * True when the requester is a node identity: `spec.username` starts with
 * `system:node:` or `spec.groups` contains `system:nodes`. Reads defensively;
 * any input is accepted.
 *
 * @example
 * ```ts
 * import { isNodeRequester } from "./requester.ts";
 * isNodeRequester({ spec: { username: "alice", groups: ["system:authenticated"] } }); // false
 * isNodeRequester({ spec: { username: "system:node:worker-1" } }); // true
 * ```
 */
export function isNodeRequester(csr: unknown): boolean {
  if (!isObject(csr) || !isObject(csr.spec)) return false;
  const { username, groups } = csr.spec;
  return (typeof username === "string" &&
    username.startsWith(NODE_USER_PREFIX)) ||
    (Array.isArray(groups) && groups.includes(NODES_GROUP));
}

/**
 * `requester-identity`: `spec.username` equals the CN, so a node cannot ask
 * for another node's certificate.
 *
 * @example
 * ```ts
 * import { checkRequesterIdentity } from "./requester.ts";
 * import type { ParsedRequest } from "./request.ts";
 * const request = { commonNames: ["system:node:a"] } as ParsedRequest;
 * checkRequesterIdentity({ request, spec: { username: "system:node:a" } }).result; // "pass"
 * checkRequesterIdentity({ request, spec: { username: "system:node:b" } }).reason; // "RequesterMismatch"
 * ```
 */
export function checkRequesterIdentity(input: RuleInput): CheckResult {
  const rule = "requester-identity";
  const username = input.spec.username;
  const names = input.request.commonNames;
  if (names.length !== 1) {
    return fail(
      rule,
      "RequesterMismatch",
      `requester ${quote(username)} cannot match ${names.length} common names ${
        quoteList(names)
      }`,
    );
  }
  if (typeof username !== "string" || username !== names[0]) {
    return fail(
      rule,
      "RequesterMismatch",
      `requester ${quote(username)} does not match CN ${quote(names[0])}`,
    );
  }
  return pass(rule, `requester ${quote(username)} matches the CN`);
}

/**
 * `requester-group`: `spec.groups` contains `system:nodes`.
 *
 * @example
 * ```ts
 * import { checkRequesterGroup } from "./requester.ts";
 * import type { ParsedRequest } from "./request.ts";
 * const request = { commonNames: ["system:node:a"] } as ParsedRequest;
 * checkRequesterGroup({ request, spec: { groups: ["system:nodes"] } }).result; // "pass"
 * ```
 */
export function checkRequesterGroup(input: RuleInput): CheckResult {
  const rule = "requester-group";
  const groups = input.spec.groups ?? [];
  if (groups.includes(NODES_GROUP)) {
    return pass(rule, `requester is in group "${NODES_GROUP}"`);
  }
  return fail(
    rule,
    "RequesterNotInNodesGroup",
    `requester groups are ${
      quoteList(groups)
    }, expected them to include "${NODES_GROUP}"`,
  );
}
