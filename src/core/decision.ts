/**
 * The decision for one CSR, in two pure steps:
 *
 * 1. {@linkcode inspectServingRequest}: everything that can be known from the
 *    object alone (is it ours, is it already decided, is it well-formed, do
 *    Kubernetes' kubelet-serving rules hold). Async only for Web Crypto.
 * 2. {@linkcode decideServingRequest}: adds the facts the caller gathered
 *    (Node addresses, the clock, the SubjectAccessReview), applies the
 *    serving policy (`policy_checks.ts`), and returns the final {@linkcode Decision}.
 *
 * Neither throws, whatever the input: one odd CSR must never stop the
 * controller, and doubt never turns into an approval.
 *
 * @module
 */
import type { CheckResult, Decision, ReasonCode } from "./types.ts";
import { errorText } from "./error_text.ts";
import { isObject, type Json } from "./json.ts";
import { parseCertificateRequest, type ParsedRequest } from "./request.ts";
import {
  type CompiledPolicy,
  compileServingPolicy,
  defaultServingPolicy,
} from "./policy.ts";
import type { NodeFacts } from "./node_facts.ts";
import type { PolicyInput, PolicyResult } from "./policy_result.ts";
import { evaluateServingPolicy } from "./policy_checks.ts";
import {
  describeSans,
  evaluateKubeletServingRules,
  NODE_USER_PREFIX,
  nodeNameFromRequest,
  NODES_GROUP,
  quote,
  quoteList,
} from "./rules.ts";

/** The signer this approver is about. */
export const KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving";

/** Options for {@linkcode inspectServingRequest}. */
export interface InspectOptions {
  /** Largest accepted PEM text, in bytes (default 16384). */
  maxPemBytes?: number;
  /** Largest accepted SAN count (default 100). */
  maxSans?: number;
  /** The clock, for time-based policy; Kubernetes' own rules do not use it. */
  now?: Date;
}

/** What is known about a CSR before authorization. */
export interface Inspection {
  /** `metadata.name`, or `<unnamed>`. */
  name: string;
  /** Node name from the CN, when the CN is a valid `system:node:<name>`. */
  node?: string;
  /** The parsed request, when parsing was reached and succeeded. */
  request?: ParsedRequest;
  /** `metadata.creationTimestamp`, when it is a string. */
  createdAt?: string;
  /** `spec.expirationSeconds`, when it is a number. */
  expirationSeconds?: number;
  /** Every evaluated check, in order. */
  checks: CheckResult[];
  /**
   * The decision without authorization: `ignore` or `deny` when that is
   * final, otherwise `approve` meaning "approvable if authorized".
   */
  verdict: Decision;
  /** True when only the SubjectAccessReview stands between this CSR and approval. */
  needsAuthorization: boolean;
}

/** The outcome of the SubjectAccessReview, or `unchecked` when offline. */
export type AuthorizationFact =
  | "unchecked"
  | { allowed: true }
  | { allowed: false; reason: string }
  | { error: string };

/** Facts gathered by I/O that the final decision needs. */
export interface DecisionFacts {
  /** The SubjectAccessReview result, or `unchecked` (first pass, or offline). */
  authorization: AuthorizationFact;
  /**
   * The compiled serving policy. Default: the compiled
   * {@linkcode defaultServingPolicy} (protected names always apply).
   */
  policy?: CompiledPolicy;
  /** Node address facts; without them `san-ownership` is `skip`. */
  nodes?: NodeFacts;
  /** The clock; without it `pending-age` is `skip` and waits never end. */
  now?: Date;
}

// Compiling the built-in defaults cannot fail.
const DEFAULT_POLICY = compileServingPolicy(
  defaultServingPolicy(),
) as CompiledPolicy;

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

/**
 * True when the requester is a node identity: `spec.username` starts with
 * `system:node:` or `spec.groups` contains `system:nodes`. Reads defensively;
 * any input is accepted.
 *
 * @example
 * ```ts
 * import { isNodeRequester } from "./decision.ts";
 * isNodeRequester({ spec: { username: "alice", groups: ["system:authenticated"] } }); // false
 * ```
 */
export function isNodeRequester(csr: unknown): boolean {
  if (!isObject(csr) || !isObject(csr.spec)) return false;
  const { username, groups } = csr.spec;
  return (typeof username === "string" &&
    username.startsWith(NODE_USER_PREFIX)) ||
    (Array.isArray(groups) && groups.includes(NODES_GROUP));
}

function nameOf(csr: unknown): string {
  if (isObject(csr) && isObject(csr.metadata)) {
    const name = csr.metadata.name;
    if (typeof name === "string" && name !== "") return name;
  }
  return "<unnamed>";
}

const TERMINAL_CONDITIONS = ["Approved", "Denied", "Failed"];

/** Why the CSR is already decided or going away, if it is. */
function terminalState(
  csr: Json,
): { reason: ReasonCode; message: string } | undefined {
  const status = csr.status;
  if (isObject(status)) {
    const conditions = Array.isArray(status.conditions)
      ? status.conditions
      : [];
    // Any of the three types counts whatever its status field says: the API
    // only allows "True", and when unsure, leaving the CSR alone is safe.
    const types = conditions.filter(isObject).map((c) => c.type)
      .filter((t): t is string =>
        typeof t === "string" && TERMINAL_CONDITIONS.includes(t)
      );
    if (types.length > 0) {
      return {
        reason: "AlreadyDecided",
        message: `CSR already has condition ${quoteList(types)}`,
      };
    }
    if (
      status.certificate !== undefined && status.certificate !== null &&
      status.certificate !== ""
    ) {
      return {
        reason: "AlreadyDecided",
        message: "CSR already has a certificate",
      };
    }
  }
  const metadata = csr.metadata;
  if (
    isObject(metadata) && metadata.deletionTimestamp !== undefined &&
    metadata.deletionTimestamp !== null
  ) {
    return {
      reason: "Deleting",
      message: `CSR is being deleted (since ${
        quote(metadata.deletionTimestamp)
      })`,
    };
  }
  return undefined;
}

/**
 * True when a CSR is decided for good: it has an `Approved`, `Denied` or
 * `Failed` condition, or a certificate. Reads defensively; any input is
 * accepted (a CSR being deleted but undecided is not terminal).
 *
 * @example
 * ```ts
 * import { isTerminal } from "./decision.ts";
 * isTerminal({ status: { conditions: [{ type: "Denied", status: "True" }] } }); // true
 * isTerminal({ status: { conditions: "garbage" } }); // false
 * ```
 */
export function isTerminal(csr: unknown): boolean {
  return isObject(csr) && terminalState(csr)?.reason === "AlreadyDecided";
}

/** The first structural problem of a kubelet-serving CSR, if any. */
function malformation(csr: Json): string | undefined {
  const { metadata, spec, status } = csr;
  if (!isObject(metadata)) return "metadata is not an object";
  if (typeof metadata.name !== "string" || metadata.name === "") {
    return "metadata.name is missing";
  }
  if (!isObject(spec)) return "spec is not an object";
  if (typeof spec.request !== "string") {
    return `spec.request is ${typeOf(spec.request)}, expected a string`;
  }
  if (spec.usages !== undefined && !isStringArray(spec.usages)) {
    return `spec.usages is ${typeOf(spec.usages)}, expected a list of strings`;
  }
  if (spec.username !== undefined && typeof spec.username !== "string") {
    return `spec.username is ${typeOf(spec.username)}, expected a string`;
  }
  if (spec.groups !== undefined && !isStringArray(spec.groups)) {
    return `spec.groups is ${typeOf(spec.groups)}, expected a list of strings`;
  }
  const expiration = spec.expirationSeconds;
  if (
    expiration !== undefined && expiration !== null &&
    !(typeof expiration === "number" && Number.isInteger(expiration))
  ) {
    return `spec.expirationSeconds is ${
      typeof expiration === "number" ? quote(expiration) : typeOf(expiration)
    }, expected a whole number of seconds`;
  }
  if (status !== undefined && status !== null) {
    if (!isObject(status)) {
      return `status is ${typeOf(status)}, expected an object`;
    }
    if (
      status.conditions !== undefined && status.conditions !== null &&
      !Array.isArray(status.conditions)
    ) {
      return `status.conditions is ${
        typeOf(status.conditions)
      }, expected a list`;
    }
  }
  return undefined;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : typeof value;
}

function check(
  rule: string,
  result: CheckResult["result"],
  message: string,
  reason?: ReasonCode,
): CheckResult {
  return reason === undefined
    ? { rule, result, message }
    : { rule, result, reason, message };
}

/**
 * Inspects a CSR: everything decidable without the API server. Never throws,
 * whatever `csr` is.
 *
 * Order: readable signer → our signer → not already decided or deleting →
 * node requester → well-formed object → request parses (size bound first) →
 * every Kubernetes kubelet-serving rule (all evaluated; the first failure
 * decides).
 *
 * @example
 * ```ts
 * import { decideServingRequest, inspectServingRequest } from "./decision.ts";
 * declare const csr: unknown;
 * const inspection = await inspectServingRequest(csr);
 * const decision = inspection.needsAuthorization
 *   ? decideServingRequest(inspection, { authorization: { allowed: true } })
 *   : inspection.verdict;
 * ```
 */
export async function inspectServingRequest(
  csr: unknown,
  options: InspectOptions = {},
): Promise<Inspection> {
  const name = nameOf(csr);
  const checks: CheckResult[] = [];
  // Read once, defensively, for the time- and lifetime-based policy.
  const createdAt = isObject(csr) && isObject(csr.metadata) &&
      typeof csr.metadata.creationTimestamp === "string"
    ? { createdAt: csr.metadata.creationTimestamp }
    : {};
  const expirationSeconds = isObject(csr) && isObject(csr.spec) &&
      typeof csr.spec.expirationSeconds === "number"
    ? { expirationSeconds: csr.spec.expirationSeconds }
    : {};
  const finish = (
    outcome: Decision["outcome"],
    reason: ReasonCode,
    message: string,
    extra: { node?: string; request?: ParsedRequest } = {},
  ): Inspection => ({
    name,
    ...createdAt,
    ...expirationSeconds,
    ...extra,
    checks,
    verdict: {
      outcome,
      reason,
      message,
      ...(extra.node === undefined ? {} : { node: extra.node }),
      checks: [...checks],
    },
    needsAuthorization: false,
  });
  try {
    if (
      !isObject(csr) || !isObject(csr.spec) ||
      typeof csr.spec.signerName !== "string"
    ) {
      const message = `CSR ${quote(name)} has no readable spec.signerName`;
      checks.push(check("signer", "fail", message, "MalformedObject"));
      return finish("ignore", "MalformedObject", message);
    }
    const signer = csr.spec.signerName;
    if (signer !== KUBELET_SERVING_SIGNER) {
      const message = `signer is ${
        quote(signer)
      }, not ${KUBELET_SERVING_SIGNER}`;
      checks.push(check("signer", "fail", message, "NotKubeletServing"));
      return finish("ignore", "NotKubeletServing", message);
    }
    checks.push(check("signer", "pass", `signer is ${KUBELET_SERVING_SIGNER}`));

    const terminal = terminalState(csr);
    if (terminal) {
      checks.push(check("state", "fail", terminal.message, terminal.reason));
      return finish("ignore", terminal.reason, terminal.message);
    }
    checks.push(check("state", "pass", "CSR is pending"));

    const spec = csr.spec;
    if (!isNodeRequester(csr)) {
      const message = `requester ${quote(spec.username)} in groups ${
        isStringArray(spec.groups) ? quoteList(spec.groups) : quote(spec.groups)
      } is not a node`;
      checks.push(check("requester", "fail", message, "NotNodeRequester"));
      return finish("ignore", "NotNodeRequester", message);
    }
    checks.push(
      check(
        "requester",
        "pass",
        `requester ${quote(spec.username)} is a node identity`,
      ),
    );

    const malformed = malformation(csr);
    if (malformed !== undefined) {
      checks.push(check("object", "fail", malformed, "MalformedObject"));
      return finish("deny", "MalformedObject", malformed);
    }
    checks.push(check("object", "pass", "CSR object is well-formed"));

    const parsed = await parseCertificateRequest(spec.request as string, {
      maxPemBytes: options.maxPemBytes,
      maxSans: options.maxSans,
    });
    if (!parsed.ok) {
      checks.push(check("request", "fail", parsed.message, parsed.reason));
      return finish("deny", parsed.reason, parsed.message);
    }
    const request = parsed.request;
    checks.push(
      check(
        "request",
        "pass",
        `request parsed (${request.pemBytes} bytes of PEM)`,
      ),
    );

    const node = nodeNameFromRequest(request);
    const results = evaluateKubeletServingRules({
      request,
      spec: {
        username: spec.username as string | undefined,
        groups: spec.groups as string[] | undefined,
        usages: spec.usages as string[] | undefined,
      },
    });
    checks.push(...results);
    const failed = results.find((result) => result.result === "fail");
    if (failed) {
      return finish(
        "deny",
        failed.reason ?? "PolicyViolation",
        failed.message,
        { node, request },
      );
    }
    return {
      ...finish(
        "approve",
        "AutoApproved",
        `kubelet serving certificate for node ${quote(node).slice(1, -1)} (${
          describeSans(request)
        })`,
        { node, request },
      ),
      needsAuthorization: true,
    };
  } catch (error) {
    // Unreachable by design; if a bug gets here, leave the CSR for a human
    // rather than approve or deny on a half-made decision.
    const message = `internal error while inspecting CSR: ${
      quote(errorText(error))
    }`;
    checks.push(check("internal", "fail", message, "MalformedObject"));
    return finish("pending", "MalformedObject", message);
  }
}

function isCompiledPolicy(value: unknown): value is CompiledPolicy {
  return isObject(value) && value.compiled === true;
}

/**
 * Final decision: the inspection's verdict, the serving policy
 * (`policy_checks.ts`) and the authorization fact. Pure and synchronous; never
 * throws.
 *
 * Evaluation: inspection `ignore` (or internal `pending`) is returned as is;
 * otherwise every policy check runs (`pending-age`, `protected-names`,
 * `operator-policy`, `san-ownership`) and the outcome follows the precedence
 * ignore > final deny > wait > authorization:
 *
 * - `pending-age` fails → `ignore` (`TooOld`), even for an invalid request;
 * - the inspection denied → that deny, unchanged (policy results explain);
 * - a policy check denies → `deny` with its reason;
 * - `san-ownership` waits → `wait`, with `retryAt` when it becomes final;
 * - then authorization: `{ allowed: true }` → approve (`AutoApproved`);
 *   `{ allowed: false }` → `pending` (`Unauthorized`), never denied;
 *   `{ error }` → `pending` (`AuthorizationError`), the caller retries;
 *   `"unchecked"` → approve with the authorization check `skip`.
 *
 * The daemon calls this with `authorization: "unchecked"` first and makes
 * the SubjectAccessReview only when that returns `approve`.
 *
 * @example
 * ```ts
 * import { decideServingRequest, type Inspection } from "./decision.ts";
 * declare const inspection: Inspection;
 * const first = decideServingRequest(inspection, { authorization: "unchecked", now: new Date() });
 * ```
 */
export function decideServingRequest(
  inspection: Inspection,
  facts: DecisionFacts,
): Decision {
  const verdict = inspection.verdict;
  if (
    verdict.outcome !== "deny" &&
    !(verdict.outcome === "approve" && inspection.needsAuthorization)
  ) {
    return { ...verdict, checks: [...verdict.checks] };
  }
  try {
    return decideWithPolicy(inspection, facts);
  } catch (error) {
    // A throwing NodeFacts or a bad policy object: leave the CSR for a human
    // rather than decide on half the facts.
    const message = `internal error while deciding: ${quote(errorText(error))}`;
    return {
      outcome: "pending",
      reason: "MalformedObject",
      message,
      ...(inspection.node === undefined ? {} : { node: inspection.node }),
      checks: [
        ...verdict.checks,
        check("internal", "fail", message, "MalformedObject"),
      ],
    };
  }
}

function decideWithPolicy(
  inspection: Inspection,
  facts: DecisionFacts,
): Decision {
  const verdict = inspection.verdict;
  const supplied: unknown = isObject(facts) ? facts.policy : undefined;
  if (supplied !== undefined && !isCompiledPolicy(supplied)) {
    throw new Error(
      "facts.policy is not a compiled policy (use compileServingPolicy)",
    );
  }
  const policy = supplied ?? DEFAULT_POLICY;
  const now = isObject(facts) && facts.now instanceof Date
    ? facts.now
    : undefined;
  const nodes = isObject(facts)
    ? facts.nodes as NodeFacts | undefined
    : undefined;
  const request = inspection.request;
  const input: PolicyInput = {
    node: inspection.node,
    dnsNames: request?.dnsNames,
    ipAddresses: request?.ipAddresses,
    expirationSeconds: inspection.expirationSeconds,
    createdAt: inspection.createdAt,
    now,
    nodes,
  };
  // Without a readable request and node name only the age can be judged.
  const results: PolicyResult[] = request && inspection.node !== undefined
    ? evaluateServingPolicy(policy, input)
    : evaluateServingPolicy(policy, input).filter((r) =>
      r.check.rule === "pending-age"
    );
  const node = inspection.node === undefined ? {} : { node: inspection.node };
  const checks = [...verdict.checks, ...results.map((r) => r.check)];
  const from = (
    result: PolicyResult,
    outcome: Decision["outcome"],
    extra: CheckResult[] = [],
  ): Decision => ({
    outcome,
    reason: result.check.reason ?? "PolicyViolation",
    message: result.check.message,
    ...node,
    ...(result.retryAt === undefined ? {} : { retryAt: result.retryAt }),
    checks: [...checks, ...extra],
  });

  const ignored = results.find((r) => r.effect === "ignore");
  if (ignored) return from(ignored, "ignore");
  if (verdict.outcome === "deny") return { ...verdict, checks };
  const rule = "authorization";
  const denied = results.find((r) => r.effect === "deny");
  if (denied) {
    return from(denied, "deny", [
      check(rule, "skip", `not checked (${denied.check.rule} denied)`),
    ]);
  }
  const waiting = results.find((r) => r.effect === "wait");
  if (waiting) {
    return from(waiting, "wait", [
      check(rule, "skip", `not checked (${waiting.check.rule} is waiting)`),
    ]);
  }

  const auth: unknown = isObject(facts) ? facts.authorization : undefined;
  const decide = (
    outcome: Decision["outcome"],
    reason: ReasonCode,
    message: string,
    result: CheckResult,
  ): Decision => ({
    outcome,
    reason,
    message,
    ...node,
    checks: [...checks, result],
  });

  if (auth === "unchecked") {
    return decide(
      verdict.outcome,
      verdict.reason,
      verdict.message,
      check(rule, "skip", "not checked (offline)"),
    );
  }
  if (isObject(auth) && auth.allowed === true) {
    return decide(
      "approve",
      "AutoApproved",
      verdict.message,
      check(
        rule,
        "pass",
        "requester is authorized to have kubelet serving certificates approved",
      ),
    );
  }
  if (isObject(auth) && auth.allowed === false) {
    const message = `requester is not authorized for automatic approval (${
      quote(
        typeof auth.reason === "string" && auth.reason !== ""
          ? auth.reason
          : "no reason given",
      )
    }); left for a human`;
    return decide(
      "pending",
      "Unauthorized",
      message,
      check(rule, "fail", message, "Unauthorized"),
    );
  }
  const error = isObject(auth) && typeof auth.error === "string"
    ? auth.error
    : `unrecognized authorization fact ${quote(auth)}`;
  const message = `authorization could not be checked: ${
    quote(error)
  }; will retry`;
  return decide(
    "pending",
    "AuthorizationError",
    message,
    check(rule, "fail", message, "AuthorizationError"),
  );
}
