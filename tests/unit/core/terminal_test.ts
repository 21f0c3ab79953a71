import { isTerminal, terminalState } from "../../../src/core/terminal.ts";
import { assertEquals } from "../../support/assert.ts";

Deno.test("isTerminal: decided conditions or a certificate; defensive on garbage", () => {
  const table: Array<[unknown, boolean]> = [
    [{ status: { conditions: [{ type: "Approved", status: "True" }] } }, true],
    [{ status: { conditions: [{ type: "Denied", status: "True" }] } }, true],
    [{ status: { conditions: [{ type: "Failed", status: "True" }] } }, true],
    [{ status: { certificate: "LS0t" } }, true],
    [{ status: { certificate: "" } }, false],
    [{ status: { conditions: [{ type: "Pending" }] } }, false],
    [{ metadata: { deletionTimestamp: "2026-01-01T00:00:00Z" } }, false],
    [{ status: { conditions: "garbage" } }, false],
    [{ status: null }, false],
    [null, false],
    ["csr", false],
  ];
  for (const [csr, expected] of table) {
    assertEquals(isTerminal(csr), expected, JSON.stringify(csr));
  }
});

Deno.test("terminalState: a decided CSR before one being deleted; the message names what it saw", () => {
  assertEquals(
    terminalState({
      status: { conditions: [{ type: "Approved" }, { type: "Failed" }] },
      metadata: { deletionTimestamp: "2026-01-01T00:00:00Z" },
    }),
    {
      reason: "AlreadyDecided",
      message: 'CSR already has condition ["Approved","Failed"]',
    },
  );
  assertEquals(
    terminalState({ metadata: { deletionTimestamp: "2026-01-01T00:00:00Z" } }),
    {
      reason: "Deleting",
      message: 'CSR is being deleted (since "2026-01-01T00:00:00Z")',
    },
  );
  assertEquals(terminalState({ status: { certificate: null } }), undefined);
});
