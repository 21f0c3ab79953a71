/**
 * kubelet-rubber-stamp: approves kubelet serving certificate requests
 * (signer `kubernetes.io/kubelet-serving`) that are provably legitimate.
 *
 * As a library, this module exports the pure decision core. Run as the main
 * module, it is the command-line entry point.
 *
 * @example
 * ```ts
 * import { decideServingRequest, inspectServingRequest } from "./mod.ts";
 * const csr = {
 *   metadata: { name: "csr-1" },
 *   spec: {
 *     signerName: "kubernetes.io/kubelet-serving",
 *     username: "system:node:worker-1",
 *     groups: ["system:nodes", "system:authenticated"],
 *     usages: ["digital signature", "server auth"],
 *     request: btoa("not a PEM block"),
 *   },
 * };
 * const inspection = await inspectServingRequest(csr);
 * const decision = decideServingRequest(inspection, { authorization: "unchecked" });
 * console.log(decision.outcome, decision.reason); // deny InvalidRequestPEM
 * ```
 *
 * @module
 */
export * from "./src/core/types.ts";
export {
  type AuthorizationFact,
  decideServingRequest,
  type DecisionFacts,
} from "./src/core/decision.ts";
export {
  type Inspection,
  inspectServingRequest,
  KUBELET_SERVING_SIGNER,
} from "./src/core/inspect.ts";
export { isNodeRequester } from "./src/core/requester.ts";
export { isTerminal } from "./src/core/terminal.ts";
export {
  parseCertificateRequest,
  type ParsedRequest,
} from "./src/core/request.ts";

if (import.meta.main) {
  const { main } = await import("./src/cli/main.ts");
  Deno.exit(await main(Deno.args));
}
