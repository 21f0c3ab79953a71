/**
 * The double enforces NodeRestriction's CSR rule as the real kube-apiserver
 * does (found by the real control-plane suite: the double used to accept an
 * impostor): a node may create kubelet CSRs only with its own CN.
 */
import { startApiServer } from "../../support/api_server.ts";
import {
  assertEquals,
  assertMatch,
  assertRejects,
} from "../../support/assert.ts";
import { makeServingCsr } from "../../support/csr_factory.ts";
import { submitCsr } from "../../support/fixture.ts";

Deno.test("double: a node may create a kubelet CSR only for its own CN (NodeRestriction)", async () => {
  const api = await startApiServer({});
  try {
    const node = { username: "system:node:node-a", groups: ["system:nodes"] };
    // Its own CN: created, and the requester is filled from the credentials.
    const own = await submitCsr(
      api,
      await makeServingCsr({ name: "own", node: "node-a" }),
      node,
    );
    assertEquals(own.spec.username, "system:node:node-a");
    // Another node's CN, for either kubelet signer: 403 with the real text.
    for (
      const signerName of [
        "kubernetes.io/kubelet-serving",
        "kubernetes.io/kube-apiserver-client-kubelet",
      ]
    ) {
      const error = await assertRejects(async () =>
        await submitCsr(
          api,
          await makeServingCsr({
            name: `impostor-${signerName.length}`,
            node: "node-b",
            signerName,
            usages: signerName.endsWith("kubelet")
              ? ["digital signature", "client auth"]
              : undefined,
            dnsNames: signerName.endsWith("kubelet") ? [] : undefined,
            ipAddresses: signerName.endsWith("kubelet") ? [] : undefined,
          }),
          node,
        )
      );
      assertMatch(
        String(error),
        /403|can only create a node CSR with CN=system:node:node-a/,
      );
    }
    assertEquals(api.getCsr("impostor-29"), undefined);
    // Another signer, or a requester that is not a node: not this rule's.
    await submitCsr(
      api,
      await makeServingCsr({
        name: "other-signer",
        node: "node-b",
        signerName: "example.com/serving",
      }),
      node,
    );
    await submitCsr(
      api,
      await makeServingCsr({ name: "admin-made", node: "node-b" }),
      { username: "admin", groups: ["system:masters"] },
    );
    assertEquals(
      [
        api.getCsr("other-signer")?.metadata.name,
        api.getCsr("admin-made")?.metadata.name,
      ],
      ["other-signer", "admin-made"],
    );
  } finally {
    await api.stop();
  }
});
