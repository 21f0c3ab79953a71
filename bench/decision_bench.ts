/**
 * `deno bench` of the decision core, per CSR: parse the PEM request, verify
 * its self-signature, apply Kubernetes' kubelet-serving rules and the serving
 * policy (SAN ownership against a Node), with the SubjectAccessReview given
 * as allowed. This is the CPU the daemon spends on one CSR outside I/O.
 *
 * Each iteration decides a different CSR object (a pool per key type, built
 * before measuring), so no cache on the object identity can flatter it.
 *
 * ```sh
 * deno bench --allow-read bench/decision_bench.ts
 * ```
 *
 * @module
 */
import { decideServingRequest } from "../src/core/decision.ts";
import { inspectServingRequest } from "../src/core/inspect.ts";
import { createNodeFacts, type NodeAddress } from "../src/core/node_facts.ts";
import type { CertificateSigningRequest } from "../src/core/types.ts";
import { type KeyType, makeServingCsr } from "../tests/support/csr_factory.ts";

/** CSRs per key type in the rotating pool. */
const POOL = 64;

interface Pool {
  csrs: CertificateSigningRequest[];
  nodes: ReturnType<typeof createNodeFacts>;
}

async function buildPool(key: KeyType): Promise<Pool> {
  const csrs: CertificateSigningRequest[] = [];
  const entries: [string, NodeAddress[]][] = [];
  for (let i = 0; i < POOL; i++) {
    const node = `bench-${key}-${i}`;
    const ip = `10.1.${i >> 8}.${i & 255}`;
    csrs.push(
      await makeServingCsr({ key, node, dnsNames: [node], ipAddresses: [ip] }),
    );
    entries.push([node, [
      { type: "Hostname", address: node },
      { type: "InternalIP", address: ip },
    ]]);
  }
  return { csrs, nodes: createNodeFacts(entries) };
}

const pools: Record<string, Pool> = {
  "ecdsa-p256": await buildPool("ecdsa-p256"),
  "rsa-2048": await buildPool("rsa-2048"),
};

// Fail loudly rather than benchmark a path that does not approve.
for (const [key, pool] of Object.entries(pools)) {
  const csr = pool.csrs[0];
  const now = new Date();
  const decision = decideServingRequest(
    await inspectServingRequest(csr, { now }),
    { authorization: { allowed: true }, nodes: pool.nodes, now },
  );
  if (decision.outcome !== "approve") {
    throw new Error(
      `decision bench: expected ${key} CSR to be approved, found ${decision.outcome} (${decision.reason}: ${decision.message})`,
    );
  }
}

for (const key of Object.keys(pools)) {
  const { csrs, nodes } = pools[key];
  let i = 0;
  Deno.bench({
    name: `parse + verify + decide (${key})`,
    group: "decision core",
    baseline: key === "ecdsa-p256",
    // Enough iterations that GC pauses average out instead of dominating.
    n: 1000,
    warmup: 100,
    async fn() {
      const csr = csrs[i++ % csrs.length];
      const now = new Date();
      const inspection = await inspectServingRequest(csr, { now });
      const decision = decideServingRequest(inspection, {
        authorization: { allowed: true },
        nodes,
        now,
      });
      if (decision.outcome !== "approve") throw new Error(decision.reason);
    },
  });
}
