import { children, DerError, readTlv } from "../../../src/core/der.ts";
import {
  checkEcdsaSignature,
  type SignedRequest,
  verifySelfSignature,
} from "../../../src/core/signature.ts";
import { assert, assertEquals, assertThrows } from "../../support/assert.ts";
import {
  type KeyType,
  makeCertificateRequestPem,
} from "../../support/csr_factory.ts";

const CURVES: Partial<Record<KeyType, string>> = {
  "ecdsa-p256": "P-256",
  "ecdsa-p384": "P-384",
  "ecdsa-p521": "P-521",
};

/** The parts of a factory request, as the request reader hands them over. */
async function signedParts(key: KeyType): Promise<SignedRequest> {
  const pem = await makeCertificateRequestPem({ key });
  const der = Uint8Array.fromBase64(
    pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""),
  );
  const top = readTlv(der, 0).tlv.value;
  const [info, algorithm, signature] = children(top);
  const [version, name, spki] = children(info.value);
  // The key is the third element of the info: skip the version and name.
  const spkiStart = readTlv(info.value, readTlv(info.value, 0).next).next;
  assert(version && name && spki);
  const keyAlgorithm = children(children(spki.value)[0].value);
  const oid = (bytes: Uint8Array) => {
    // Small enough for these OIDs: first octet is 40 × a + b, then base 128.
    const arcs = [Math.floor(bytes[0] / 40), bytes[0] % 40];
    let v = 0;
    for (const b of bytes.subarray(1)) {
      v = v * 128 + (b & 0x7f);
      if (!(b & 0x80)) arcs.push(v), v = 0;
    }
    return arcs.join(".");
  };
  return {
    der,
    tbs: top.subarray(0, readTlv(top, 0).next),
    spki: info.value.subarray(spkiStart, readTlv(info.value, spkiStart).next),
    signature: signature.value.subarray(1),
    signatureAlgorithm: oid(children(algorithm.value)[0].value),
    key: { oid: oid(keyAlgorithm[0].value), namedCurve: CURVES[key] },
  };
}

Deno.test("verifySelfSignature: Web Crypto and the library fallback both verify", async () => {
  for (
    const key of ["ecdsa-p256", "rsa-2048", "ecdsa-p521", "ed25519"] as const
  ) {
    const parts = await signedParts(key);
    assertEquals(await verifySelfSignature(parts), { valid: true }, key);
  }
});

Deno.test("verifySelfSignature: a tampered signature is invalid, not an error", async () => {
  for (const key of ["ecdsa-p256", "rsa-2048"] as const) {
    const parts = await signedParts(key);
    const signature = parts.signature.slice();
    signature[signature.length - 1] ^= 1;
    assertEquals(await verifySelfSignature({ ...parts, signature }), {
      valid: false,
    }, key);
  }
});

Deno.test("verifySelfSignature: refusals and unreadable requests are verdicts", async () => {
  const parts = await signedParts("rsa-2048");
  assertEquals(
    await verifySelfSignature({ ...parts, unverifiable: "too big" }),
    { valid: false, refused: "too big" },
  );
  const broken = await verifySelfSignature({
    ...parts,
    signatureAlgorithm: "1.2.3.4",
    der: new Uint8Array([0x30, 0x00]),
  });
  assert("unreadable" in broken);
  const badKey = await verifySelfSignature({
    ...parts,
    spki: new Uint8Array([0x30, 0x00]),
  });
  assert("error" in badKey && badKey.valid === false);
});

Deno.test("checkEcdsaSignature: strict DER r and s only", () => {
  checkEcdsaSignature(
    new Uint8Array([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]),
  );
  const cases: Array<[number[], string]> = [
    [
      [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01],
      "ECDSA signature r: zero",
    ],
    [
      [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x81],
      "ECDSA signature s: negative INTEGER",
    ],
    [[0x30, 0x03, 0x02, 0x01, 0x01], "missing ECDSA signature s"],
    [
      [0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x05, 0x00],
      "ECDSA signature: unexpected trailing field",
    ],
    [
      [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00],
      "trailing bytes after ECDSA signature",
    ],
  ];
  for (const [bytes, message] of cases) {
    assertThrows(
      () => checkEcdsaSignature(new Uint8Array(bytes)),
      DerError,
      message,
    );
  }
});
