import {
  type Inspection,
  inspectServingRequest,
} from "../../../src/core/inspect.ts";
import { assertEquals } from "../../support/assert.ts";
import { makeServingCsr } from "../../support/csr_factory.ts";

Deno.test("inspection: size limits come from the options", async () => {
  const csr = await makeServingCsr({ dnsNames: ["a", "b", "c"] });
  const small = await inspectServingRequest(csr, { maxPemBytes: 100 });
  assertEquals(small.verdict.reason, "RequestTooLarge");
  const fewSans = await inspectServingRequest(csr, { maxSans: 2 });
  assertEquals(fewSans.verdict.reason, "TooManySANs");
  const roomy = await inspectServingRequest(csr, { maxSans: 4 });
  assertEquals(roomy.verdict.outcome, "approve");
});

Deno.test("inspection: the result is plain data", async () => {
  const inspection: Inspection = await inspectServingRequest(
    await makeServingCsr(),
  );
  // Round-trips through JSON: no functions, no class instances.
  assertEquals(JSON.parse(JSON.stringify(inspection)), inspection);
});
