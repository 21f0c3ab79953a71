/**
 * The first pure step of the decision: everything that can be known about a
 * CSR from the object alone, before any fact from the API server. Is it ours
 * (signer, node requester), is it still pending, is it well-formed, does the
 * request parse, do Kubernetes' kubelet-serving rules hold. Async only for
 * Web Crypto (the self-signature); never throws.
 *
 * `decision.ts` takes the {@linkcode Inspection} from here and adds the
 * facts the caller gathered.
 *
 * @module
 */
import type { CheckResult, Decision, ReasonCode } from "./types.ts";
import { errorText } from "./error_text.ts";
import { isObject, type Json } from "./json.ts";
import { isStringArray, malformation } from "./malformation.ts";
import { parseCertificateRequest, type ParsedRequest } from "./request.ts";
import { isNodeRequester } from "./requester.ts";
import { checkResult } from "./rule.ts";
import { evaluateKubeletServingRules, nodeNameFromRequest } from "./rules.ts";
import { terminalState } from "./terminal.ts";
import { describeSans, quote, quoteList } from "./text.ts";

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

/** A verdict reached before the request is parsed. */
interface Stop {
  outcome: Decision["outcome"];
  reason: ReasonCode;
  message: string;
}

/** Builds the {@linkcode Inspection} once the verdict is known. */
type Finish = (
  outcome: Decision["outcome"],
  reason: ReasonCode,
  message: string,
  extra?: { node?: string; request?: ParsedRequest },
) => Inspection;

function nameOf(csr: unknown): string {
  if (isObject(csr) && isObject(csr.metadata)) {
    const name = csr.metadata.name;
    if (typeof name === "string" && name !== "") return name;
  }
  return "<unnamed>";
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
 * import { inspectServingRequest } from "./inspect.ts";
 * const inspection = await inspectServingRequest({
 *   metadata: { name: "csr-1" },
 *   spec: { signerName: "kubernetes.io/kube-apiserver-client", request: "" },
 * });
 * inspection.verdict.reason; // "NotKubeletServing"
 * inspection.needsAuthorization; // false
 * ```
 */
export async function inspectServingRequest(
  csr: unknown,
  options: InspectOptions = {},
): Promise<Inspection> {
  const checks: CheckResult[] = [];
  const finish = finisher(csr, checks);
  try {
    const stop = screen(csr, checks);
    if (stop) return finish(stop.outcome, stop.reason, stop.message);
    // screen() saw an object with an object spec.
    return await inspectRequest((csr as Json).spec as Json, options, {
      checks,
      finish,
    });
  } catch (error) {
    // Unreachable by design; if a bug gets here, leave the CSR for a human
    // rather than approve or deny on a half-made decision.
    const message = `internal error while inspecting CSR: ${
      quote(errorText(error))
    }`;
    checks.push(checkResult("internal", "fail", message, "MalformedObject"));
    return finish("pending", "MalformedObject", message);
  }
}

/** The {@linkcode Finish} of one CSR: its name and time facts, its checks. */
function finisher(csr: unknown, checks: CheckResult[]): Finish {
  const name = nameOf(csr);
  // Read once, defensively, for the time- and lifetime-based policy.
  const createdAt = isObject(csr) && isObject(csr.metadata) &&
      typeof csr.metadata.creationTimestamp === "string"
    ? { createdAt: csr.metadata.creationTimestamp }
    : {};
  const expirationSeconds = isObject(csr) && isObject(csr.spec) &&
      typeof csr.spec.expirationSeconds === "number"
    ? { expirationSeconds: csr.spec.expirationSeconds }
    : {};
  return (outcome, reason, message, extra = {}) => ({
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
}

/**
 * The checks on the object itself, in order: signer, state, requester,
 * well-formedness. Appends each result; returns the verdict of the first
 * that fails.
 */
function screen(csr: unknown, checks: CheckResult[]): Stop | undefined {
  const stop = (
    rule: string,
    outcome: Decision["outcome"],
    reason: ReasonCode,
    message: string,
  ): Stop => {
    checks.push(checkResult(rule, "fail", message, reason));
    return { outcome, reason, message };
  };
  if (
    !isObject(csr) || !isObject(csr.spec) ||
    typeof csr.spec.signerName !== "string"
  ) {
    const message = `CSR ${quote(nameOf(csr))} has no readable spec.signerName`;
    return stop("signer", "ignore", "MalformedObject", message);
  }
  const signer = csr.spec.signerName;
  if (signer !== KUBELET_SERVING_SIGNER) {
    const message = `signer is ${quote(signer)}, not ${KUBELET_SERVING_SIGNER}`;
    return stop("signer", "ignore", "NotKubeletServing", message);
  }
  checks.push(
    checkResult("signer", "pass", `signer is ${KUBELET_SERVING_SIGNER}`),
  );

  const terminal = terminalState(csr);
  if (terminal) {
    return stop("state", "ignore", terminal.reason, terminal.message);
  }
  checks.push(checkResult("state", "pass", "CSR is pending"));

  const spec = csr.spec;
  if (!isNodeRequester(csr)) {
    const message = `requester ${quote(spec.username)} in groups ${
      isStringArray(spec.groups) ? quoteList(spec.groups) : quote(spec.groups)
    } is not a node`;
    return stop("requester", "ignore", "NotNodeRequester", message);
  }
  checks.push(checkResult(
    "requester",
    "pass",
    `requester ${quote(spec.username)} is a node identity`,
  ));

  const malformed = malformation(csr);
  if (malformed !== undefined) {
    return stop("object", "deny", "MalformedObject", malformed);
  }
  checks.push(checkResult("object", "pass", "CSR object is well-formed"));
  return undefined;
}

/**
 * The request in a well-formed CSR: it parses, then every kubelet-serving
 * rule runs. Approvable (if authorized) when none fails.
 */
async function inspectRequest(
  spec: Json,
  options: InspectOptions,
  { checks, finish }: { checks: CheckResult[]; finish: Finish },
): Promise<Inspection> {
  const parsed = await parseCertificateRequest(spec.request as string, {
    maxPemBytes: options.maxPemBytes,
    maxSans: options.maxSans,
  });
  if (!parsed.ok) {
    checks.push(checkResult("request", "fail", parsed.message, parsed.reason));
    return finish("deny", parsed.reason, parsed.message);
  }
  const request = parsed.request;
  checks.push(checkResult(
    "request",
    "pass",
    `request parsed (${request.pemBytes} bytes of PEM)`,
  ));

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
}
