/**
 * The properties of the decision core, shared by the CI property test
 * (`tests/property/decision_property_test.ts`, fixed seed) and the long fuzz run
 * (`fuzz/decision_fuzz.ts`, random seed):
 *
 * - `hostile-objects`: any CSR-shaped object (wrong types, missing fields,
 *   random, reframed or byte-mutated `spec.request`) is decided without
 *   throwing, and is approved only if the independent oracle
 *   (`decision_oracle.ts`) finds no violated rule;
 * - `resigned-requests`: byte edits inside the signed part of a real
 *   request, signed again, are approved only if the oracle agrees;
 * - `crafted-requests`: request bodies built field by field (string types,
 *   RDN shapes, raw SANs, duplicate extensions), validly signed, likewise;
 * - `valid-kubelet`: the CSR a genuine kubelet sends for a random Node is
 *   always approved;
 * - `mutated-kubelet`: after random mutations of such a CSR, its Nodes or
 *   the operator policy, the core approves exactly when the oracle says the
 *   CSR is approvable;
 * - `every-mutation`: the same, for every catalog mutation alone.
 *
 * Every decision is also checked for consistency: it is well-formed plain
 * data (an approval has reason `AutoApproved` and no failed check); the
 * same facts give the same decision; `unchecked` authorization approves
 * exactly when an allowing SubjectAccessReview does; a denied, failed or
 * unreadable SubjectAccessReview never approves (and leaves an approvable
 * CSR `pending` with its reason); a `wait` names a `retryAt` in the future,
 * and deciding again at that time neither waits nor approves.
 *
 * @module
 */
import fc from "fast-check";
import {
  type AuthorizationFact,
  decideServingRequest,
} from "../../src/core/decision.ts";
import {
  type Inspection,
  inspectServingRequest,
} from "../../src/core/inspect.ts";
import {
  type CompiledPolicy,
  compileServingPolicy,
  defaultServingPolicy,
} from "../../src/core/policy.ts";
import { createNodeFacts } from "../../src/core/node_facts.ts";
import type { Decision, ReasonCode } from "../../src/core/types.ts";
import {
  API_SERVICE_IPS,
  buildCase,
  mutatedWorld,
  type Mutation,
  mutationCatalog,
  nodeEntries,
  type NodeSpec,
  oracleNodes,
  type PolicySpec,
  type World,
  world,
} from "./arbitraries.ts";
import {
  applyEdits,
  craftedRequest,
  craftInfo,
  createRequestPool,
  createSigningPool,
  derToSpecRequest,
  FIXED_NODES,
  FIXED_NOW,
  fixedCsr,
  hostileCsr,
  type RequestPool,
  resign,
  resignedMutation,
  type SigningEntry,
} from "./request_arbitraries.ts";
import { approvability, type OracleVerdict } from "./decision_oracle.ts";

/** A property failed: the message says what was decided and why that is wrong. */
export class PropertyViolation extends Error {
  override name = "PropertyViolation";
}

/** Pools and policy the properties share (built once: signing is slow). */
export interface PropertyContext {
  requests: RequestPool;
  signing: SigningEntry[];
  policy: CompiledPolicy;
}

/**
 * Builds the shared context.
 *
 * @example
 * ```ts
 * import { createPropertyContext } from "./decision_properties.ts";
 * const context = await createPropertyContext();
 * ```
 */
export async function createPropertyContext(): Promise<PropertyContext> {
  const policy = compileServingPolicy({
    ...defaultServingPolicy(),
    apiServiceIps: [...API_SERVICE_IPS],
  });
  if ("error" in policy) throw new Error(policy.error);
  const [requests, signing] = await Promise.all([
    createRequestPool(),
    createSigningPool(),
  ]);
  return { requests, signing, policy };
}

/** Names of the properties. */
export type PropertyName =
  | "hostile-objects"
  | "resigned-requests"
  | "crafted-requests"
  | "valid-kubelet"
  | "mutated-kubelet"
  | "every-mutation";

/** One property, with a tally of outcomes seen (for coverage checks). */
export interface DecisionProperty {
  name: PropertyName;
  description: string;
  property: fc.IAsyncProperty<[unknown]>;
  /** Counts per decision outcome, plus `oracle-approvable` where known. */
  tally: Record<string, number>;
  /** Counts per decision reason code. */
  reasons: Record<string, number>;
}

const OUTCOMES = new Set(["approve", "deny", "pending", "ignore", "wait"]);

/** Fails unless the decision is well-formed and internally consistent. */
function checkShape(decision: Decision): void {
  const problems: string[] = [];
  if (!OUTCOMES.has(decision.outcome)) {
    problems.push(`outcome ${decision.outcome}`);
  }
  if (typeof decision.reason !== "string") problems.push("reason");
  if (typeof decision.message !== "string") problems.push("message");
  if (!Array.isArray(decision.checks) || decision.checks.length === 0) {
    problems.push("no checks");
  } else if (
    !decision.checks.every((c) =>
      typeof c.rule === "string" &&
      ["pass", "fail", "skip"].includes(c.result) &&
      typeof c.message === "string"
    )
  ) problems.push("a malformed check");
  if (
    (decision.outcome === "approve") !== (decision.reason === "AutoApproved")
  ) {
    problems.push(`outcome ${decision.outcome} with reason ${decision.reason}`);
  }
  if (
    decision.outcome === "approve" &&
    decision.checks.some((c) => c.result === "fail")
  ) problems.push("an approval with a failed check");
  try {
    JSON.stringify(decision);
  } catch (error) {
    problems.push(`not plain data (${(error as Error).message})`);
  }
  if (problems.length > 0) {
    throw new PropertyViolation(
      `malformed decision (${problems.join("; ")}): ${
        Deno.inspect(decision, { depth: 4 })
      }`,
    );
  }
}

/**
 * Inspects and decides with the SubjectAccessReview allowing, as the daemon
 * does; a throw is a property violation.
 */
async function decide(
  csr: unknown,
  nodes: readonly NodeSpec[],
  now: Date,
  policy: CompiledPolicy,
  reasons: Record<string, number>,
): Promise<Decision> {
  let inspection: Inspection;
  const facts = {
    authorization: { allowed: true } as AuthorizationFact,
    policy,
    nodes: createNodeFacts(nodeEntries(nodes)),
    now,
  };
  const run = (label: string, f: () => Decision): Decision => {
    try {
      const decision = f();
      checkShape(decision);
      return decision;
    } catch (error) {
      if (error instanceof PropertyViolation) {
        throw new PropertyViolation(`${label}: ${error.message}`);
      }
      throw new PropertyViolation(
        `the decision core threw (${label}): ${
          (error as Error)?.stack ?? error
        }`,
      );
    }
  };
  try {
    inspection = await inspectServingRequest(csr);
  } catch (error) {
    throw new PropertyViolation(
      `inspectServingRequest threw: ${(error as Error)?.stack ?? error}`,
    );
  }
  const decision = run(
    "authorized",
    () => decideServingRequest(inspection, facts),
  );
  count(reasons, decision.reason);
  const approved = decision.outcome === "approve";
  const problems: string[] = [];

  // Same facts, same decision.
  const again = run("again", () => decideServingRequest(inspection, facts));
  if (again.outcome !== decision.outcome || again.reason !== decision.reason) {
    problems.push(`deciding again gave ${again.outcome} (${again.reason})`);
  }
  // The daemon decides "unchecked" first and asks the SubjectAccessReview
  // only for an approval: the two must agree.
  const unchecked = run("unchecked", () =>
    decideServingRequest(inspection, {
      ...facts,
      authorization: "unchecked",
    }));
  if ((unchecked.outcome === "approve") !== approved) {
    problems.push(`unchecked authorization gave ${unchecked.outcome}`);
  }
  // Anything but an explicit allow never approves; for an approvable CSR it
  // leaves it pending with the matching reason.
  const refusals: Array<[string, unknown, ReasonCode]> = [
    ["SAR denied", { allowed: false, reason: "no" }, "Unauthorized"],
    ["SAR failed", { error: "500" }, "AuthorizationError"],
    ["SAR garbage", { allowed: "true" }, "AuthorizationError"],
    ["SAR null", null, "AuthorizationError"],
  ];
  for (const [label, authorization, reason] of refusals) {
    const refused = run(label, () =>
      decideServingRequest(inspection, {
        ...facts,
        authorization: authorization as AuthorizationFact,
      }));
    if (refused.outcome === "approve") problems.push(`${label} approved`);
    if (
      approved && (refused.outcome !== "pending" || refused.reason !== reason)
    ) {
      problems.push(
        `${label} gave ${refused.outcome} (${refused.reason}), expected pending (${reason})`,
      );
    }
  }
  // A wait ends: it names when, and at that time the verdict is final.
  if (decision.outcome === "wait") {
    const retryAt = Date.parse(decision.retryAt ?? "");
    if (!Number.isFinite(retryAt) || retryAt <= now.getTime()) {
      problems.push(`wait with retryAt ${decision.retryAt}`);
    } else {
      const later = run(
        "at retryAt",
        () =>
          decideServingRequest(inspection, {
            ...facts,
            now: new Date(retryAt),
          }),
      );
      if (later.outcome === "wait" || later.outcome === "approve") {
        problems.push(`at retryAt the decision is ${later.outcome}`);
      }
    }
  }
  if (problems.length > 0) {
    throw new PropertyViolation(
      `inconsistent decisions: ${problems.join("; ")}\n${describe(decision)}`,
    );
  }
  return decision;
}

function judge(
  csr: unknown,
  nodes: readonly NodeSpec[],
  now: Date,
  policy: PolicySpec = {},
): Promise<OracleVerdict> {
  return approvability(csr, {
    nodes: oracleNodes(nodes),
    now,
    apiServiceIps: API_SERVICE_IPS,
    policy,
  });
}

function describe(decision: Decision, verdict?: OracleVerdict): string {
  const failed = decision.checks.filter((c) => c.result === "fail").map((c) =>
    `${c.rule}: ${c.message}`
  );
  return [
    `core: ${decision.outcome} (${decision.reason}) ${decision.message}`,
    ...failed.map((f) => `  core check failed: ${f}`),
    ...(verdict
      ? [
        `oracle: ${verdict.approvable ? "approvable" : "not approvable"}`,
        ...verdict.violations.map((v) => `  oracle violation: ${v}`),
      ]
      : []),
  ].join("\n");
}

function count(tally: Record<string, number>, key: string): void {
  tally[key] = (tally[key] ?? 0) + 1;
}

/** Approval of something the oracle rejects is the one unforgivable bug. */
async function checkNoUnsafeApproval(
  csr: unknown,
  decision: Decision,
  nodes: readonly NodeSpec[],
  now: Date,
  tally: Record<string, number>,
): Promise<void> {
  count(tally, decision.outcome);
  if (decision.outcome !== "approve") return;
  const verdict = await judge(csr, nodes, now);
  if (!verdict.approvable) {
    throw new PropertyViolation(
      `approved a CSR that violates a rule\n${describe(decision, verdict)}`,
    );
  }
}

/** Where {@linkcode checkMutatedCase} counts what it saw. */
export interface Tallies {
  tally: Record<string, number>;
  reasons: Record<string, number>;
}

/**
 * The mutated-world check: builds the case, asks the oracle and the core,
 * and fails unless the core approves exactly when the oracle finds every
 * rule holding.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { world } from "./arbitraries.ts";
 * import { checkMutatedCase } from "./decision_properties.ts";
 * const [w] = fc.sample(world, 1);
 * await checkMutatedCase({ world: w, mutations: [{ kind: "tamper" }], policy: {} });
 * ```
 */
export async function checkMutatedCase(
  input: { world: World; mutations: readonly Mutation[]; policy: PolicySpec },
  tallies: Tallies = { tally: {}, reasons: {} },
): Promise<void> {
  const built = await buildCase(input.world, input.mutations, input.policy);
  const compiled = compileServingPolicy({
    ...defaultServingPolicy(),
    apiServiceIps: [...API_SERVICE_IPS],
    ...built.policy,
  });
  if ("error" in compiled) {
    throw new PropertyViolation(
      `generated policy ${JSON.stringify(built.policy)}: ${compiled.error}`,
    );
  }
  const { csr, nodes, now } = built;
  const verdict = await judge(csr, nodes, now, built.policy);
  const decision = await decide(csr, nodes, now, compiled, tallies.reasons);
  count(tallies.tally, decision.outcome);
  if (verdict.approvable) count(tallies.tally, "oracle-approvable");
  if ((decision.outcome === "approve") !== verdict.approvable) {
    throw new PropertyViolation(
      `${
        decision.outcome === "approve"
          ? "approved a CSR that violates a rule"
          : "did not approve a CSR that satisfies every rule"
      }\n${describe(decision, verdict)}`,
    );
  }
}

/**
 * Every property over a shared context. Each call returns fresh
 * tallies.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { createPropertyContext, decisionProperties } from "./decision_properties.ts";
 * const [first] = decisionProperties(await createPropertyContext());
 * await fc.assert(first.property, { seed: 42, numRuns: 10 });
 * ```
 */
export function decisionProperties(
  context: PropertyContext,
): DecisionProperty[] {
  const { policy } = context;
  const fixedNow = new Date(FIXED_NOW);
  const tallies = {
    hostile: {} as Record<string, number>,
    resigned: {} as Record<string, number>,
    crafted: {} as Record<string, number>,
    valid: {} as Record<string, number>,
    mutated: {} as Record<string, number>,
    every: {} as Record<string, number>,
  };
  const reasons = {
    hostile: {} as Record<string, number>,
    resigned: {} as Record<string, number>,
    crafted: {} as Record<string, number>,
    valid: {} as Record<string, number>,
    mutated: {} as Record<string, number>,
    every: {} as Record<string, number>,
  };
  return [
    {
      name: "hostile-objects",
      description:
        "hostile CSR objects never throw and are approved only when every rule holds",
      tally: tallies.hostile,
      reasons: reasons.hostile,
      property: fc.asyncProperty(
        hostileCsr(context.requests),
        async (csr: unknown) => {
          const decision = await decide(
            csr,
            FIXED_NODES,
            fixedNow,
            policy,
            reasons.hostile,
          );
          await checkNoUnsafeApproval(
            csr,
            decision,
            FIXED_NODES,
            fixedNow,
            tallies.hostile,
          );
        },
      ) as fc.IAsyncProperty<[unknown]>,
    },
    {
      name: "resigned-requests",
      description:
        "edits inside the signed request body, signed again, are approved only when every rule holds",
      tally: tallies.resigned,
      reasons: reasons.resigned,
      property: fc.asyncProperty(
        resignedMutation(context.signing.length),
        async ({ entry, edits }) => {
          const signer = context.signing[entry];
          const der = await resign(signer, applyEdits(signer.info, edits));
          const csr = fixedCsr(derToSpecRequest(der));
          const decision = await decide(
            csr,
            FIXED_NODES,
            fixedNow,
            policy,
            reasons.resigned,
          );
          await checkNoUnsafeApproval(
            csr,
            decision,
            FIXED_NODES,
            fixedNow,
            tallies.resigned,
          );
        },
      ) as unknown as fc.IAsyncProperty<[unknown]>,
    },
    {
      name: "crafted-requests",
      description:
        "validly signed requests crafted with odd encodings are approved only when every rule holds",
      tally: tallies.crafted,
      reasons: reasons.crafted,
      property: fc.asyncProperty(
        craftedRequest(context.signing.length),
        async (crafted) => {
          const signer = context.signing[crafted.entry];
          const der = await resign(signer, craftInfo(signer, crafted));
          const csr = fixedCsr(derToSpecRequest(der));
          const decision = await decide(
            csr,
            FIXED_NODES,
            fixedNow,
            policy,
            reasons.crafted,
          );
          await checkNoUnsafeApproval(
            csr,
            decision,
            FIXED_NODES,
            fixedNow,
            tallies.crafted,
          );
          const verdict = await judge(csr, FIXED_NODES, fixedNow);
          if (verdict.approvable) count(tallies.crafted, "oracle-approvable");
        },
      ) as unknown as fc.IAsyncProperty<[unknown]>,
    },
    {
      name: "valid-kubelet",
      description:
        "the CSR a genuine kubelet sends for a random Node is always approved",
      tally: tallies.valid,
      reasons: reasons.valid,
      property: fc.asyncProperty(world, async (w) => {
        const { csr, nodes, now } = await buildCase(w);
        const verdict = await judge(csr, nodes, now);
        const decision = await decide(csr, nodes, now, policy, reasons.valid);
        count(tallies.valid, decision.outcome);
        if (verdict.approvable) count(tallies.valid, "oracle-approvable");
        if (decision.outcome !== "approve" || !verdict.approvable) {
          throw new PropertyViolation(
            `a genuine kubelet CSR was not approved\n${
              describe(decision, verdict)
            }`,
          );
        }
      }) as unknown as fc.IAsyncProperty<[unknown]>,
    },
    {
      name: "mutated-kubelet",
      description:
        "after random mutations the core approves exactly when the oracle finds every rule holding",
      tally: tallies.mutated,
      reasons: reasons.mutated,
      property: fc.asyncProperty(
        mutatedWorld,
        (input) =>
          checkMutatedCase(input, {
            tally: tallies.mutated,
            reasons: reasons.mutated,
          }),
      ) as unknown as fc.IAsyncProperty<[unknown]>,
    },
    {
      name: "every-mutation",
      description:
        "every catalog mutation alone, on a random world, agrees with the oracle",
      tally: tallies.every,
      reasons: reasons.every,
      property: fc.asyncProperty(world, async (w) => {
        for (const mutation of mutationCatalog(w).flat()) {
          try {
            await checkMutatedCase(
              { world: w, mutations: [mutation], policy: {} },
              { tally: tallies.every, reasons: reasons.every },
            );
          } catch (error) {
            throw new PropertyViolation(
              `mutation ${JSON.stringify(mutation)}: ${
                (error as Error).message
              }`,
            );
          }
        }
      }) as unknown as fc.IAsyncProperty<[unknown]>,
    },
  ];
}
