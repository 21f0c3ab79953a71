import fc from "fast-check";
import {
  parseCertificateRequest,
  type ParsedRequest,
} from "../../../src/core/request.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import {
  type KeyType,
  makeCertificateRequestPem,
  makeServingCsr,
} from "../../support/csr_factory.ts";
import { createTestCa } from "../../support/tls.ts";

const b64 = (text: string) => new TextEncoder().encode(text).toBase64();

async function parseOk(specRequest: string): Promise<ParsedRequest> {
  const result = await parseCertificateRequest(specRequest);
  if (!result.ok) {
    throw new Error(`expected ok, got ${result.reason}: ${result.message}`);
  }
  return result.request;
}

/** The DER of a factory PEM, to build corrupted variants. */
function pemToDer(pem: string): Uint8Array {
  const body = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.fromBase64(body);
}

function derToSpec(der: Uint8Array, type = "CERTIFICATE REQUEST"): string {
  const body = der.toBase64().replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return b64(`-----BEGIN ${type}-----\n${body}\n-----END ${type}-----\n`);
}

Deno.test("parse: each supported key type parses and its self-signature verifies", async () => {
  const table: Array<[KeyType, ParsedRequest["publicKey"]]> = [
    ["ecdsa-p256", {
      algorithm: "ECDSA",
      oid: "1.2.840.10045.2.1",
      namedCurve: "P-256",
    }],
    ["ecdsa-p384", {
      algorithm: "ECDSA",
      oid: "1.2.840.10045.2.1",
      namedCurve: "P-384",
    }],
    ["ecdsa-p521", {
      algorithm: "ECDSA",
      oid: "1.2.840.10045.2.1",
      namedCurve: "P-521",
    }],
    ["rsa-2048", {
      algorithm: "RSA",
      oid: "1.2.840.113549.1.1.1",
      rsaBits: 2048,
    }],
    ["rsa-1024", {
      algorithm: "RSA",
      oid: "1.2.840.113549.1.1.1",
      rsaBits: 1024,
    }],
    ["rsa-pss-2048", {
      algorithm: "RSA",
      oid: "1.2.840.113549.1.1.1",
      rsaBits: 2048,
    }],
    ["ed25519", { algorithm: "Ed25519", oid: "1.3.101.112" }],
  ];
  for (const [key, publicKey] of table) {
    const csr = await makeServingCsr({ key, node: "worker-7" });
    const request = await parseOk(csr.spec.request);
    assertEquals(request.publicKey, publicKey, key);
    assertEquals(request.signatureValid, true, `${key} signature`);
    assertEquals(request.signatureError, undefined, `${key} error`);
    assertEquals(request.commonNames, ["system:node:worker-7"], key);
    assertEquals(request.organizations, ["system:nodes"], key);
    assertEquals(
      request.subject,
      "O=system:nodes, CN=system:node:worker-7",
      key,
    );
    assertEquals(request.dnsNames, ["worker-7"], key);
    assertEquals(request.ipAddresses, ["10.0.0.1"], key);
    assertEquals(
      request.pemBytes,
      Uint8Array.fromBase64(csr.spec.request).length,
    );
  }
});

Deno.test("parse: the signature algorithm is reported", async () => {
  const table: Array<[KeyType, string]> = [
    ["ecdsa-p256", "1.2.840.10045.4.3.2"],
    ["ecdsa-p384", "1.2.840.10045.4.3.3"],
    ["rsa-2048", "1.2.840.113549.1.1.11"],
    ["rsa-pss-2048", "1.2.840.113549.1.1.10"],
    ["ed25519", "1.3.101.112"],
  ];
  for (const [key, oid] of table) {
    const request = await parseOk((await makeServingCsr({ key })).spec.request);
    assertEquals(request.signatureAlgorithm, oid, key);
  }
});

Deno.test("parse: a tampered signature is invalid, not an error", async () => {
  for (const key of ["ecdsa-p256", "rsa-2048", "ed25519"] as const) {
    const request = await parseOk(
      (await makeServingCsr({ key, tamper: true })).spec.request,
    );
    assertEquals(request.signatureValid, false, key);
    assertEquals(request.signatureError, undefined, key);
  }
});

Deno.test("parse: every SAN kind is collected, IPs in canonical form", async () => {
  const csr = await makeServingCsr({
    dnsNames: ["a.example", "b"],
    ipAddresses: ["10.0.0.1", "2001:DB8:0:0:1:0:0:1", "::1", "fe80::AB"],
    emails: ["root@example.com"],
    uris: ["spiffe://cluster/ns/x"],
    otherSans: [{ type: "upn", value: "user@example" }, {
      type: "id",
      value: "1.2.3.4",
    }],
  });
  const request = await parseOk(csr.spec.request);
  assertEquals(request.dnsNames, ["a.example", "b"]);
  assertEquals(request.ipAddresses, [
    "10.0.0.1",
    "2001:db8::1:0:0:1",
    "::1",
    "fe80::ab",
  ]);
  assertEquals(request.emailAddresses, ["root@example.com"]);
  assertEquals(request.uris, ["spiffe://cluster/ns/x"]);
  assertEquals(request.otherNames, 2);
});

Deno.test("parse: a request without SAN extension has no SANs", async () => {
  const request = await parseOk(
    (await makeServingCsr({ dnsNames: [], ipAddresses: [] })).spec.request,
  );
  assertEquals(
    [
      request.dnsNames,
      request.ipAddresses,
      request.emailAddresses,
      request.uris,
    ],
    [[], [], [], []],
  );
  assertEquals(request.otherNames, 0);
});

Deno.test("parse: subjects keep every CN and O, including non-ASCII", async () => {
  const table: Array<
    [
      Parameters<typeof makeServingCsr>[0],
      string[],
      string[],
      string,
    ]
  > = [
    [
      { organizations: [] },
      ["system:node:worker-1"],
      [],
      "CN=system:node:worker-1",
    ],
    [
      { organizations: ["system:nodes", "evil"] },
      ["system:node:worker-1"],
      ["system:nodes", "evil"],
      "O=system:nodes, O=evil, CN=system:node:worker-1",
    ],
    [
      {
        subject: [{ O: ["system:nodes"] }, { CN: ["system:node:a"] }, {
          CN: ["system:node:b"],
        }],
      },
      ["system:node:a", "system:node:b"],
      ["system:nodes"],
      "O=system:nodes, CN=system:node:a, CN=system:node:b",
    ],
    [
      { commonName: "system:node:wörker" },
      ["system:node:wörker"],
      ["system:nodes"],
      "O=system:nodes, CN=system:node:wörker",
    ],
  ];
  for (const [opts, cns, os, subject] of table) {
    const request = await parseOk((await makeServingCsr(opts)).spec.request);
    assertEquals(request.commonNames, cns, subject);
    assertEquals(request.organizations, os, subject);
    assertEquals(request.subject, subject);
  }
});

Deno.test("parse: malformed input fails with a typed reason", async () => {
  const valid = await makeCertificateRequestPem();
  const der = pemToDer(valid);
  const ca = await createTestCa();
  const withTrailing = new Uint8Array([...der, 0]);
  const truncated = der.subarray(0, der.length - 10);
  const table: Array<[string, string, string]> = [
    ["garbage characters", "!!!not base64!!!", "InvalidRequestEncoding"],
    ["base64 with a bad length", "QUJD=", "InvalidRequestEncoding"],
    ["base64 with junk inside", "QUJD\u0000REVG", "InvalidRequestEncoding"],
    ["URL-safe base64 alphabet", "-_-_", "InvalidRequestEncoding"],
    ["empty", "", "InvalidRequestPEM"],
    ["base64 of plain text", b64("hello, world"), "InvalidRequestPEM"],
    [
      "base64 of binary",
      new Uint8Array([0xff, 0xfe, 0x00]).toBase64(),
      "InvalidRequestPEM",
    ],
    [
      "PEM of garbage DER",
      derToSpec(new Uint8Array([1, 2, 3, 4, 5])),
      "InvalidRequest",
    ],
    ["PEM of a truncated request", derToSpec(truncated), "InvalidRequest"],
    ["PEM with trailing DER bytes", derToSpec(withTrailing), "InvalidRequest"],
    ["a CERTIFICATE instead of a request", b64(ca.cert), "InvalidRequestPEM"],
    [
      "a request labelled CERTIFICATE",
      derToSpec(der, "CERTIFICATE"),
      "InvalidRequestPEM",
    ],
    [
      "NEW CERTIFICATE REQUEST label",
      derToSpec(der, "NEW CERTIFICATE REQUEST"),
      "InvalidRequestPEM",
    ],
    ["two PEM blocks", b64(valid + valid), "InvalidRequestPEM"],
    [
      "a request followed by a certificate",
      b64(valid + ca.cert),
      "InvalidRequestPEM",
    ],
    ["text around the block", b64(`hello\n${valid}`), "InvalidRequestPEM"],
    [
      "PEM body not base64",
      b64(
        "-----BEGIN CERTIFICATE REQUEST-----\n@@@@\n-----END CERTIFICATE REQUEST-----\n",
      ),
      "InvalidRequestPEM",
    ],
    [
      "empty PEM body",
      b64(
        "-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n",
      ),
      "InvalidRequestPEM",
    ],
  ];
  for (const [what, input, reason] of table) {
    const result = await parseCertificateRequest(input);
    assert(!result.ok, `${what}: expected a failure`);
    assertEquals(result.reason, reason, what);
    assert(result.message.length > 0, `${what}: message`);
  }
});

/** Index of the signature BIT STRING that ends `der`. */
function signatureIndex(der: Uint8Array): number {
  for (let i = der.length - 3; i > 0; i--) {
    if (der[i] !== 0x03) continue;
    if (der[i + 1] === der.length - i - 2) return i; // short length
    if (
      der[i + 1] === 0x82 &&
      (der[i + 2] << 8 | der[i + 3]) === der.length - i - 4
    ) return i;
  }
  throw new Error("no signature BIT STRING found");
}

Deno.test("parse: unsigned parts of the request have one valid encoding only", async () => {
  const ecdsa = pemToDer(
    await makeCertificateRequestPem({ key: "ecdsa-p256" }),
  );
  const rsa = pemToDer(await makeCertificateRequestPem({ key: "rsa-2048" }));
  const sigSeqTag = new Uint8Array(ecdsa);
  sigSeqTag[signatureIndex(ecdsa) + 3] = 0xb0; // SEQUENCE → [16] constructed
  const unusedBits = new Uint8Array(ecdsa);
  unusedBits[signatureIndex(ecdsa) + 2] = 0x01;
  const rsaParams = new Uint8Array(rsa);
  assertEquals(rsaParams[signatureIndex(rsa) - 2], 0x05); // NULL parameters
  rsaParams[signatureIndex(rsa) - 2] = 0x04; // → empty OCTET STRING
  const table: Array<[string, Uint8Array]> = [
    ["ECDSA signature not a DER SEQUENCE", sigSeqTag],
    ["signature BIT STRING with unused bits", unusedBits],
    ["RSA signature algorithm with non-NULL parameters", rsaParams],
  ];
  for (const [what, der] of table) {
    const result = await parseCertificateRequest(derToSpec(der));
    assertEquals(result.ok ? "ok" : result.reason, "InvalidRequest", what);
  }
  // The unmodified requests are fine, so the edits above are what failed.
  assertEquals((await parseCertificateRequest(derToSpec(ecdsa))).ok, true);
  assertEquals((await parseCertificateRequest(derToSpec(rsa))).ok, true);
});

Deno.test("parse: base64 may be wrapped with whitespace", async () => {
  const csr = await makeServingCsr();
  const wrapped = csr.spec.request.replace(/.{60}/g, "$&\r\n ");
  assertEquals((await parseOk(wrapped)).commonNames, ["system:node:worker-1"]);
});

Deno.test("parse: oversized requests are refused before decoding or crypto", async () => {
  // Not even base64: only a size check that runs first can answer TooLarge.
  const junk = "!".repeat(100_000);
  const result = await parseCertificateRequest(junk);
  assertEquals(result.ok ? "ok" : result.reason, "RequestTooLarge");

  const big = "QUFB".repeat(5000); // 15000 bytes decoded, valid base64
  const limited = await parseCertificateRequest(big, { maxPemBytes: 14999 });
  assertEquals(limited.ok ? "ok" : limited.reason, "RequestTooLarge");
  if (!limited.ok) assertMatch(limited.message, /at most 14999/);

  const csr = await makeServingCsr();
  const size = Uint8Array.fromBase64(csr.spec.request).length;
  const tight = await parseCertificateRequest(csr.spec.request, {
    maxPemBytes: size - 1,
  });
  assertEquals(tight.ok ? "ok" : tight.reason, "RequestTooLarge");
  const exact = await parseCertificateRequest(csr.spec.request, {
    maxPemBytes: size,
  });
  assertEquals(exact.ok, true);
});

Deno.test("parse: SAN counts over the limit are refused", async () => {
  const dnsNames = Array.from({ length: 6 }, (_, i) => `n${i}`);
  const csr = await makeServingCsr({ dnsNames, ipAddresses: [] });
  const over = await parseCertificateRequest(csr.spec.request, { maxSans: 5 });
  assertEquals(over.ok ? "ok" : over.reason, "TooManySANs");
  const at = await parseCertificateRequest(csr.spec.request, { maxSans: 6 });
  assertEquals(at.ok, true);

  const many = await makeServingCsr({
    dnsNames: Array.from({ length: 101 }, (_, i) => `n${i}`),
  });
  const defaults = await parseCertificateRequest(many.spec.request);
  assertEquals(defaults.ok ? "ok" : defaults.reason, "TooManySANs");
});

Deno.test("parse: never throws on non-string input", async () => {
  for (const input of [undefined, null, 42, {}, []]) {
    const result = await parseCertificateRequest(input as unknown as string);
    assertEquals(result.ok, false, String(input));
  }
});

Deno.test("parse: arbitrary text never throws", async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ maxLength: 200 }), async (text) => {
      const result = await parseCertificateRequest(text);
      return typeof result.ok === "boolean";
    }),
    { numRuns: 200 },
  );
});

Deno.test("parse: corrupted DER never throws and never yields a valid signature", async () => {
  for (const key of ["ecdsa-p256", "rsa-2048", "ed25519"] as const) {
    await checkCorruptions(key);
  }
});

async function checkCorruptions(key: KeyType): Promise<void> {
  const der = pemToDer(await makeCertificateRequestPem({ key }));
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(
        fc.tuple(fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 })),
        { minLength: 1, maxLength: 4, selector: ([at]) => at },
      ),
      async (edits) => {
        const mutated = new Uint8Array(der);
        for (const [at, xor] of edits) mutated[at] ^= xor;
        const result = await parseCertificateRequest(derToSpec(mutated));
        // Any edit either breaks the structure or the signature (or only
        // touches the unsigned algorithm identifier, which then fails verify).
        return !result.ok || result.request.signatureValid === false;
      },
    ),
    { numRuns: 100 },
  );
}
