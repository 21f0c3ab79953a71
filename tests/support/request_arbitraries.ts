/**
 * fast-check arbitraries of `spec.request` values and CSR objects for the
 * decision core's property tests:
 *
 * - **hostile objects**: arbitrary JSON-ish CSR shapes with wrong types and
 *   missing fields, carrying `spec.request` values from random text to
 *   reframed and byte-mutated real requests;
 * - **re-signed mutations**: edits inside the signed part of a real request,
 *   signed again, so the parser sees garbage with a valid signature;
 * - **crafted requests**: request bodies built field by field (string types,
 *   RDN shapes, raw GeneralNames, duplicate extensions), then signed.
 *
 * They are decided against {@linkcode FIXED_NODES}; the pool's valid
 * requests are for `worker-1`, so approvals stay reachable.
 *
 * @module
 */
import fc from "fast-check";
import * as x509 from "../../src/x509.ts";
import type { CertificateSigningRequest } from "../../src/core/types.ts";
import {
  makeCertificateRequestPem,
  type ServingCsrOptions,
} from "./csr_factory.ts";
import { ABSENT, type NodeSpec } from "./arbitraries.ts";

const SIGNER = "kubernetes.io/kubelet-serving";

/**
 * The fixed Nodes hostile objects are decided against: the pool requests
 * are for `worker-1`, so a request that survives mutation can be approved.
 */
export const FIXED_NODES: readonly NodeSpec[] = [
  {
    name: "worker-1",
    addresses: [
      {
        type: "Hostname",
        address: "worker-1",
        san: { kind: "dns", name: "worker-1" },
      },
      {
        type: "InternalIP",
        address: "10.0.0.1",
        san: { kind: "ip", bytes: [10, 0, 0, 1] },
      },
    ],
  },
  {
    name: "worker-2",
    addresses: [
      {
        type: "Hostname",
        address: "worker-2",
        san: { kind: "dns", name: "worker-2" },
      },
      {
        type: "InternalIP",
        address: "10.0.0.2",
        san: { kind: "ip", bytes: [10, 0, 0, 2] },
      },
    ],
  },
];

/** The clock hostile objects are decided at. */
export const FIXED_NOW = "2026-01-01T00:10:00Z";
const FIXED_CREATED = "2026-01-01T00:00:00Z";

/** Real PEM requests to mutate: valid ones for `worker-1`, and a few invalid. */
export interface RequestPool {
  pems: string[];
}

/**
 * Builds the request pool (async: it signs).
 *
 * @example
 * ```ts
 * import { createRequestPool } from "./request_arbitraries.ts";
 * const pool = await createRequestPool();
 * ```
 */
export async function createRequestPool(): Promise<RequestPool> {
  const variants: ServingCsrOptions[] = [
    { key: "ecdsa-p256" },
    { key: "ecdsa-p384" },
    { key: "ed25519" },
    { key: "rsa-2048" },
    { key: "ecdsa-p256", dnsNames: [], ipAddresses: ["10.0.0.1"] },
    { key: "ecdsa-p256", ipAddresses: ["10.0.0.2"] },
    { key: "ecdsa-p256", dnsNames: ["worker-1", "kubernetes"] },
    { key: "rsa-1024" },
    { key: "ecdsa-p256", node: "worker-2", ipAddresses: ["10.0.0.2"] },
  ];
  const pems = await Promise.all(
    variants.map((v) => makeCertificateRequestPem({ node: "worker-1", ...v })),
  );
  return { pems };
}

function pemToDer(pem: string): Uint8Array {
  return Uint8Array.fromBase64(
    pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""),
  );
}

function derToPem(der: Uint8Array, label = "CERTIFICATE REQUEST"): string {
  const body = der.toBase64().replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

const encoder = new TextEncoder();

/** Bytes from hex text (spaces allowed, for readability). */
function hex(text: string): number[] {
  return Array.from(Uint8Array.fromHex(text.replace(/\s+/g, "")));
}

function b64(text: string): string {
  return encoder.encode(text).toBase64();
}

/** One byte-level edit of a DER buffer. */
export type ByteEdit =
  | { op: "xor"; at: number; mask: number }
  | { op: "set"; at: number; value: number }
  | { op: "truncate"; length: number }
  | { op: "insert"; at: number; bytes: number[] }
  | { op: "delete"; at: number; count: number };

/**
 * Applies edits in order; positions wrap around the current length.
 *
 * @example
 * ```ts
 * import { applyEdits } from "./request_arbitraries.ts";
 * applyEdits(new Uint8Array([1, 2, 3]), [{ op: "xor", at: 4, mask: 1 }]); // [1, 3, 3]
 * ```
 */
export function applyEdits(
  input: Uint8Array,
  edits: readonly ByteEdit[],
): Uint8Array {
  let bytes = Array.from(input);
  for (const e of edits) {
    const n = bytes.length;
    if (n === 0) break;
    switch (e.op) {
      case "xor":
        bytes[e.at % n] ^= e.mask;
        break;
      case "set":
        bytes[e.at % n] = e.value;
        break;
      case "truncate":
        bytes = bytes.slice(0, e.length % n);
        break;
      case "insert":
        bytes.splice(e.at % (n + 1), 0, ...e.bytes);
        break;
      case "delete":
        bytes.splice(e.at % n, e.count);
        break;
    }
  }
  return Uint8Array.from(bytes);
}

// Bytes that matter to a DER/ASN.1 reader or to name matching.
// (ASN.1 tags and lengths; '*', '.', 'A', 'W' for name matching.)
const INTERESTING_BYTES = hex(
  "000102040506 0c13161e3031 7f8081828384 87a0ff 2a2e4157",
);

const byteValue = fc.oneof(
  fc.constantFrom(...INTERESTING_BYTES),
  fc.integer({ min: 0, max: 255 }),
);

/**
 * Byte-level edits: bit flips, byte sets, truncations, insertions and
 * deletions.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { byteEdits } from "./request_arbitraries.ts";
 * fc.sample(byteEdits, 2);
 * ```
 */
export const byteEdits: fc.Arbitrary<ByteEdit[]> = fc.array(
  fc.oneof(
    {
      arbitrary: fc.record({
        op: fc.constant("xor" as const),
        at: fc.nat(),
        mask: fc.integer({ min: 1, max: 255 }),
      }),
      weight: 4,
    },
    {
      arbitrary: fc.record({
        op: fc.constant("set" as const),
        at: fc.nat(),
        value: byteValue,
      }),
      weight: 4,
    },
    {
      arbitrary: fc.record({
        op: fc.constant("truncate" as const),
        length: fc.nat(),
      }),
      weight: 1,
    },
    {
      arbitrary: fc.record({
        op: fc.constant("insert" as const),
        at: fc.nat(),
        bytes: fc.array(byteValue, { minLength: 1, maxLength: 4 }),
      }),
      weight: 1,
    },
    {
      arbitrary: fc.record({
        op: fc.constant("delete" as const),
        at: fc.nat(),
        count: fc.integer({ min: 1, max: 4 }),
      }),
      weight: 1,
    },
  ),
  { minLength: 1, maxLength: 4 },
);

/** How a PEM text is reframed. */
type PemFrame =
  | "crlf"
  | "no-newlines"
  | "spaces-in-body"
  | "text-before"
  | "text-after"
  | "two-blocks"
  | "other-label"
  | "new-label"
  | "header"
  | "no-end"
  | "lowercase-label"
  | "oversized"
  | "body-padding";

function reframe(pem: string, frame: PemFrame): string {
  switch (frame) {
    case "crlf":
      return pem.replace(/\n/g, "\r\n");
    case "no-newlines":
      return pem.replace(/\n/g, "");
    case "spaces-in-body":
      return pem.replace(/\n(?=[A-Za-z0-9])/g, "\n  ");
    case "text-before":
      return `subject=O=system:nodes\n${pem}`;
    case "text-after":
      return `${pem}trailing text\n`;
    case "two-blocks":
      return pem + pem;
    case "other-label":
      return pem.replaceAll("CERTIFICATE REQUEST", "CERTIFICATE");
    case "new-label":
      return pem.replaceAll("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST");
    case "header":
      return pem.replace("-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n");
    case "no-end":
      return pem.replace(/-----END[^\n]*\n?/, "");
    case "lowercase-label":
      return pem.replaceAll("CERTIFICATE REQUEST", "certificate request");
    case "oversized":
      return pem + " ".repeat(17_000);
    case "body-padding":
      return pem.replace(/\n-----END/, "==\n-----END");
  }
}

/**
 * `spec.request` values: random text, random base64, PEM-wrapped garbage,
 * reframed and byte-mutated real requests, and real requests untouched.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { createRequestPool, specRequest } from "./request_arbitraries.ts";
 * fc.sample(specRequest(await createRequestPool()), 3);
 * ```
 */
export function specRequest(pool: RequestPool): fc.Arbitrary<string> {
  const pem = fc.constantFrom(...pool.pems);
  const frames: PemFrame[] = [
    "crlf",
    "no-newlines",
    "spaces-in-body",
    "text-before",
    "text-after",
    "two-blocks",
    "other-label",
    "new-label",
    "header",
    "no-end",
    "lowercase-label",
    "oversized",
    "body-padding",
  ];
  return fc.oneof(
    { arbitrary: pem.map(b64), weight: 3 },
    {
      arbitrary: fc.tuple(pem, byteEdits).map(([p, edits]) =>
        b64(derToPem(applyEdits(pemToDer(p), edits)))
      ),
      weight: 6,
    },
    {
      arbitrary: fc.tuple(pem, fc.constantFrom(...frames)).map(([p, f]) =>
        b64(reframe(p, f))
      ),
      weight: 2,
    },
    {
      // Edits of the base64 text itself (outer encoding).
      arbitrary: fc.tuple(pem, byteEdits).map(([p, edits]) =>
        new TextDecoder().decode(applyEdits(encoder.encode(b64(p)), edits))
      ),
      weight: 1,
    },
    { arbitrary: fc.string({ maxLength: 200 }), weight: 1 },
    { arbitrary: fc.string({ unit: "binary", maxLength: 100 }), weight: 1 },
    { arbitrary: fc.base64String({ maxLength: 400 }), weight: 1 },
    {
      arbitrary: fc.uint8Array({ maxLength: 600 }).map((b) => b.toBase64()),
      weight: 1,
    },
    {
      arbitrary: fc.uint8Array({ maxLength: 600 }).map((b) => b64(derToPem(b))),
      weight: 1,
    },
    {
      // A PEM-wrapped DER skeleton: SEQUENCE of random TLVs.
      arbitrary: fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 5 })
        .map((parts) =>
          b64(
            derToPem(tlv(
              0x30,
              concat(parts.map((p, i) => tlv(i % 2 ? 0x30 : 0x02, p))),
            )),
          )
        ),
      weight: 1,
    },
  );
}

const junk = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 20 }),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), {
    maxKeys: 3,
  }),
);

function field<T>(right: fc.Arbitrary<T>, rightWeight = 6) {
  return fc.oneof(
    { arbitrary: right, weight: rightWeight },
    { arbitrary: junk, weight: 1 },
    { arbitrary: fc.constant(ABSENT), weight: 1 },
  );
}

function withoutAbsent(record: Record<string, unknown>) {
  return Object.fromEntries(
    Object.entries(record).filter(([, v]) => v !== ABSENT),
  );
}

/**
 * Hostile CSR objects: every field is mostly plausible, sometimes of the
 * wrong type or missing, with `spec.request` from {@linkcode specRequest};
 * and now and then anything at all.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { createRequestPool, hostileCsr } from "./request_arbitraries.ts";
 * fc.sample(hostileCsr(await createRequestPool()), 1);
 * ```
 */
export function hostileCsr(pool: RequestPool): fc.Arbitrary<unknown> {
  const usages = fc.oneof(
    fc.constantFrom(
      ["digital signature", "server auth"],
      ["digital signature", "key encipherment", "server auth"],
      ["server auth", "digital signature"],
    ),
    fc.array(
      fc.constantFrom(
        "digital signature",
        "key encipherment",
        "server auth",
        "client auth",
        "signing",
      ),
      { maxLength: 4 },
    ),
  );
  const conditions = fc.array(
    fc.oneof(
      fc.record({
        type: fc.constantFrom("Approved", "Denied", "Failed", "Pending"),
        status: fc.constantFrom("True", "False"),
      }),
      junk,
    ),
    { maxLength: 2 },
  );
  const object = fc.record({
    apiVersion: fc.constant("certificates.k8s.io/v1"),
    kind: fc.constant("CertificateSigningRequest"),
    metadata: field(
      fc.record({
        name: field(fc.constantFrom("csr-fuzz", "csr-x")),
        creationTimestamp: field(
          fc.constantFrom(FIXED_CREATED, "2025-12-31T00:00:00Z", "garbage"),
        ),
        deletionTimestamp: fc.oneof(
          { arbitrary: fc.constant(ABSENT), weight: 8 },
          { arbitrary: fc.constantFrom(FIXED_NOW, null), weight: 1 },
        ),
      }).map(withoutAbsent),
      10,
    ),
    spec: field(
      fc.record({
        request: field(specRequest(pool), 12),
        signerName: fc.oneof(
          { arbitrary: fc.constant(SIGNER), weight: 10 },
          { arbitrary: fc.constant("kubernetes.io/legacy-unknown"), weight: 1 },
          { arbitrary: junk, weight: 1 },
        ),
        username: field(
          fc.constantFrom(
            "system:node:worker-1",
            "system:node:worker-2",
            "system:node:",
            "alice",
          ),
        ),
        groups: field(
          fc.oneof(
            fc.constant(["system:nodes", "system:authenticated"]),
            fc.array(
              fc.constantFrom("system:nodes", "system:authenticated", "x"),
              { maxLength: 3 },
            ),
          ),
        ),
        usages: field(usages),
        expirationSeconds: fc.oneof(
          { arbitrary: fc.constant(ABSENT), weight: 6 },
          { arbitrary: fc.integer(), weight: 1 },
          { arbitrary: junk, weight: 1 },
        ),
        uid: field(fc.uuid()),
        extra: fc.oneof(
          { arbitrary: fc.constant(ABSENT), weight: 4 },
          { arbitrary: junk, weight: 1 },
        ),
      }).map(withoutAbsent),
      12,
    ),
    status: fc.oneof(
      { arbitrary: fc.constant(ABSENT), weight: 4 },
      { arbitrary: fc.constant({}), weight: 2 },
      {
        arbitrary: fc.record({
          conditions: field(conditions, 3),
          certificate: fc.oneof(
            { arbitrary: fc.constant(ABSENT), weight: 4 },
            { arbitrary: fc.constantFrom("", null, "Y2VydA=="), weight: 1 },
          ),
        }).map(withoutAbsent),
        weight: 1,
      },
      { arbitrary: junk, weight: 1 },
    ),
  }).map(withoutAbsent);
  return fc.oneof(
    { arbitrary: object, weight: 12 },
    // Everything right but the request: approvals stay reachable.
    { arbitrary: specRequest(pool).map(fixedCsr), weight: 6 },
    { arbitrary: fc.anything(), weight: 1 },
  );
}

// ---------------------------------------------------------------------------
// Re-signed mutations of the signed part

function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => Array.from(p)));
}

function tlv(tag: number, value: Uint8Array): Uint8Array {
  return Uint8Array.from([tag, ...derLength(value.length), ...value]);
}

/** Splits a DER SEQUENCE into its children's full encodings. */
function sequenceChildren(der: Uint8Array): Uint8Array[] {
  const header = (at: number) => {
    const first = der[at + 1];
    const count = first & 0x80 ? first & 0x7f : 0;
    let length = first & 0x80 ? 0 : first;
    for (let i = 0; i < count; i++) length = length * 256 + der[at + 2 + i];
    return { start: at + 2 + count, length };
  };
  const outer = header(0);
  const out: Uint8Array[] = [];
  for (let at = outer.start; at < outer.start + outer.length;) {
    const { start, length } = header(at);
    out.push(der.subarray(at, start + length));
    at = start + length;
  }
  return out;
}

/** A key able to re-sign a request body, and that body. */
export interface SigningEntry {
  /** `ed25519` or `ecdsa-p256`. */
  name: string;
  keys: CryptoKeyPair;
  /** DER of the CertificationRequestInfo (the signed part). */
  info: Uint8Array;
  /** DER of the signature AlgorithmIdentifier. */
  algorithm: Uint8Array;
}

/**
 * Keys and request bodies for {@linkcode resign}: a valid `worker-1`
 * request for Ed25519 and ECDSA P-256.
 *
 * @example
 * ```ts
 * import { createSigningPool } from "./request_arbitraries.ts";
 * const pool = await createSigningPool();
 * ```
 */
export async function createSigningPool(): Promise<SigningEntry[]> {
  const specs: Array<[string, EcKeyGenParams | Algorithm, Algorithm]> = [
    ["ed25519", { name: "Ed25519" }, { name: "Ed25519" }],
    ["ecdsa-p256", { name: "ECDSA", namedCurve: "P-256" }, {
      name: "ECDSA",
      hash: "SHA-256",
    } as EcdsaParams],
  ];
  return await Promise.all(specs.map(async ([name, generate, sign]) => {
    const keys = await crypto.subtle.generateKey(generate, false, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const request = await x509.Pkcs10CertificateRequestGenerator.create({
      name: [{ O: ["system:nodes"] }, { CN: ["system:node:worker-1"] }],
      keys,
      signingAlgorithm: sign,
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: "dns", value: "worker-1" },
          { type: "ip", value: "10.0.0.1" },
        ]),
      ],
    });
    const [info, algorithm] = sequenceChildren(
      new Uint8Array(request.rawData),
    );
    return { name, keys, info: info.slice(), algorithm: algorithm.slice() };
  }));
}

function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  const integer = (bytes: Uint8Array) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    const trimmed = bytes.subarray(start);
    return tlv(
      0x02,
      trimmed[0] & 0x80 ? concat([Uint8Array.of(0), trimmed]) : trimmed,
    );
  };
  return tlv(
    0x30,
    concat([integer(raw.subarray(0, half)), integer(raw.subarray(half))]),
  );
}

/**
 * Signs `info` (any bytes) with the entry's key and wraps it as a PKCS#10
 * request DER: a request whose signature verifies whatever `info` holds.
 *
 * @example
 * ```ts
 * import { createSigningPool, resign } from "./request_arbitraries.ts";
 * const [entry] = await createSigningPool();
 * const der = await resign(entry, entry.info);
 * ```
 */
export async function resign(
  entry: SigningEntry,
  info: Uint8Array,
): Promise<Uint8Array> {
  const algorithm: Algorithm | EcdsaParams = entry.name === "ed25519"
    ? { name: "Ed25519" }
    : { name: "ECDSA", hash: "SHA-256" } as EcdsaParams;
  const raw = new Uint8Array(
    await crypto.subtle.sign(
      algorithm,
      entry.keys.privateKey,
      Uint8Array.from(info),
    ),
  );
  const signature = entry.name === "ed25519" ? raw : ecdsaRawToDer(raw);
  return tlv(
    0x30,
    concat([
      info,
      entry.algorithm,
      tlv(0x03, concat([Uint8Array.of(0), signature])),
    ]),
  );
}

/** A re-signed mutation: which key, and the edits of the signed part. */
export interface ResignedMutation {
  entry: number;
  edits: ByteEdit[];
}

/**
 * Edits of the signed request body, to be applied and re-signed.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { resignedMutation } from "./request_arbitraries.ts";
 * fc.sample(resignedMutation(2), 1);
 * ```
 */
export function resignedMutation(
  entries: number,
): fc.Arbitrary<ResignedMutation> {
  return fc.record({ entry: fc.nat({ max: entries - 1 }), edits: byteEdits });
}

/**
 * The CSR object carrying a request for `worker-1` with everything else
 * right, for `spec.request` values that should be judged on their own.
 *
 * @example
 * ```ts
 * import { fixedCsr } from "./request_arbitraries.ts";
 * const csr = fixedCsr("...");
 * ```
 */
export function fixedCsr(request: string): CertificateSigningRequest {
  return {
    apiVersion: "certificates.k8s.io/v1",
    kind: "CertificateSigningRequest",
    metadata: {
      name: "csr-fuzz",
      resourceVersion: "1",
      creationTimestamp: FIXED_CREATED,
    },
    spec: {
      request,
      signerName: SIGNER,
      usages: ["digital signature", "server auth"],
      username: "system:node:worker-1",
      groups: ["system:nodes", "system:authenticated"],
    },
    status: {},
  };
}

/**
 * base64 of the PEM text of a DER request (as `spec.request` holds it).
 *
 * @example
 * ```ts
 * import { derToSpecRequest } from "./request_arbitraries.ts";
 * derToSpecRequest(new Uint8Array([0x30, 0]));
 * ```
 */
export function derToSpecRequest(der: Uint8Array): string {
  return b64(derToPem(der));
}

// ---------------------------------------------------------------------------
// Crafted request bodies: built field by field, then signed

/** One subject attribute: which OID, which ASN.1 string type, what text. */
export interface CraftedAttribute {
  type: "CN" | "O" | "OU";
  /** 0x0c UTF8String, 0x13 PrintableString, 0x14 T61String, 0x16 IA5String, 0x1e BMPString. */
  tag: number;
  value: string;
}

/** A raw GeneralName: identifier octet and content bytes. */
export interface RawSan {
  tag: number;
  value: number[];
}

/** A request body built from parts, to be signed by a pool key. */
export interface CraftedRequest {
  /** Index of the signing pool entry (its key is the subject key). */
  entry: number;
  /** Subject RDNs, each a set of attributes. */
  rdns: CraftedAttribute[][];
  /** Raw GeneralNames. */
  sans: RawSan[];
  /** How many SAN extensions the extension list carries (0 to 2). */
  sanExtensions: number;
  /** Whether the SAN extension is marked critical. */
  critical: boolean;
  /** How many extensionRequest attributes carry the list (0 to 2). */
  extensionRequests: number;
}

const ATTRIBUTE_OIDS: Record<CraftedAttribute["type"], number[]> = {
  CN: hex("550403"),
  O: hex("55040a"),
  OU: hex("55040b"),
};
const OID_SAN_BYTES = hex("551d11");
const OID_EXTENSION_REQUEST_BYTES = hex("2a864886f70d01090e");

function stringBytes(tag: number, value: string): Uint8Array {
  if (tag === 0x0c) return encoder.encode(value);
  if (tag === 0x1e) {
    return Uint8Array.from(
      [...value].flatMap((c) => {
        const u = c.charCodeAt(0);
        return [u >> 8, u & 0xff];
      }),
    );
  }
  // Printable, IA5 and T61 as raw 8-bit text (non-ASCII is a parser test).
  return Uint8Array.from([...value].map((c) => c.charCodeAt(0) & 0xff));
}

/**
 * DER of the CertificationRequestInfo a {@linkcode CraftedRequest}
 * describes, with the public key of `entry`.
 *
 * @example
 * ```ts
 * import { craftInfo, createSigningPool } from "./request_arbitraries.ts";
 * const [entry] = await createSigningPool();
 * const info = craftInfo(entry, { entry: 0, rdns: [], sans: [], sanExtensions: 0, critical: false, extensionRequests: 0 });
 * ```
 */
export function craftInfo(
  entry: SigningEntry,
  crafted: CraftedRequest,
): Uint8Array {
  const spki = sequenceChildren(entry.info)[2];
  const name = tlv(
    0x30,
    concat(crafted.rdns.map((rdn) =>
      tlv(
        0x31,
        concat(rdn.map((a) =>
          tlv(
            0x30,
            concat([
              tlv(0x06, Uint8Array.from(ATTRIBUTE_OIDS[a.type])),
              tlv(a.tag, stringBytes(a.tag, a.value)),
            ]),
          )
        )),
      )
    )),
  );
  const generalNames = tlv(
    0x30,
    concat(crafted.sans.map((s) => tlv(s.tag, Uint8Array.from(s.value)))),
  );
  const sanExtension = tlv(
    0x30,
    concat([
      tlv(0x06, Uint8Array.from(OID_SAN_BYTES)),
      ...(crafted.critical ? [Uint8Array.of(0x01, 0x01, 0xff)] : []),
      tlv(0x04, generalNames),
    ]),
  );
  const extensions = tlv(
    0x30,
    concat(Array(crafted.sanExtensions).fill(sanExtension)),
  );
  const attribute = tlv(
    0x30,
    concat([
      tlv(0x06, Uint8Array.from(OID_EXTENSION_REQUEST_BYTES)),
      tlv(0x31, extensions),
    ]),
  );
  return tlv(
    0x30,
    concat([
      Uint8Array.of(0x02, 0x01, 0x00),
      name,
      spki,
      tlv(0xa0, concat(Array(crafted.extensionRequests).fill(attribute))),
    ]),
  );
}

const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));

/**
 * Crafted request bodies near a valid `worker-1` request: string types Go
 * and the core read differently, multi-valued RDNs, odd CNs, IPv4-mapped
 * and malformed IP SANs, constructed or unknown GeneralName tags, duplicate
 * or missing extensions.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { craftedRequest } from "./request_arbitraries.ts";
 * fc.sample(craftedRequest(2), 1);
 * ```
 */
export function craftedRequest(
  entries: number,
): fc.Arbitrary<CraftedRequest> {
  const tag = fc.oneof(
    { arbitrary: fc.constant(0x0c), weight: 6 },
    { arbitrary: fc.constantFrom(0x13, 0x14, 0x16, 0x1e), weight: 2 },
  );
  const attribute = (
    type: CraftedAttribute["type"],
    values: string[],
  ): fc.Arbitrary<CraftedAttribute> =>
    fc.record({
      type: fc.constant(type),
      tag,
      value: fc.oneof(
        { arbitrary: fc.constant(values[0]), weight: 6 },
        { arbitrary: fc.constantFrom(...values), weight: 2 },
      ),
    });
  const cn = attribute("CN", [
    "system:node:worker-1",
    "system:node:worker-2",
    "system:node:Worker-1",
    "system:node:worker-1\u0000",
    "system:node:worker-1\u00a0",
    "system:node:",
    "system:node:worker-1\u200b",
  ]);
  const o = attribute("O", [
    "system:nodes",
    "System:nodes",
    "system:nodes\u0000",
    "system:masters",
  ]);
  const ou = attribute("OU", ["system:nodes", "x"]);
  const rdns = fc.oneof(
    { arbitrary: fc.tuple(o, cn).map(([a, b]) => [[a], [b]]), weight: 6 },
    { arbitrary: fc.tuple(o, cn).map(([a, b]) => [[b], [a]]), weight: 1 },
    { arbitrary: fc.tuple(o, cn).map(([a, b]) => [[a, b]]), weight: 1 },
    {
      arbitrary: fc.tuple(o, cn, ou).map(([a, b, c]) => [[a], [c], [b]]),
      weight: 1,
    },
    {
      arbitrary: fc.tuple(o, cn, cn).map(([a, b, c]) => [[a], [b], [c]]),
      weight: 1,
    },
    {
      arbitrary: fc.tuple(o, o, cn).map(([a, b, c]) => [[a], [b], [c]]),
      weight: 1,
    },
    { arbitrary: cn.map((b) => [[b]]), weight: 1 },
  );
  const mapped = (
    v4: number[],
  ) => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, ...v4];
  const san = fc.oneof(
    {
      arbitrary: fc.constant({ tag: 0x82, value: ascii("worker-1") }),
      weight: 6,
    },
    {
      arbitrary: fc.constant<RawSan>({ tag: 0x87, value: [10, 0, 0, 1] }),
      weight: 6,
    },
    {
      arbitrary: fc.constantFrom<RawSan>(
        { tag: 0x82, value: ascii("WORKER-1.") },
        { tag: 0x82, value: ascii("worker-1\u0000.evil.example") },
        { tag: 0x82, value: [...ascii("worker-"), 0xff] },
        { tag: 0x82, value: [] },
        { tag: 0x82, value: ascii("worker-2") },
        { tag: 0x82, value: ascii("*.worker-1") },
        { tag: 0x82, value: ascii("kubernetes.default") },
        { tag: 0x87, value: mapped([10, 0, 0, 1]) },
        { tag: 0x87, value: mapped([127, 0, 0, 1]) },
        { tag: 0x87, value: mapped([10, 0, 0, 2]) },
        { tag: 0x87, value: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1] },
        { tag: 0x87, value: [10, 0, 0, 2] },
        { tag: 0x87, value: [10, 96, 0, 1] },
        { tag: 0x87, value: [10, 0, 0, 1, 0] },
        { tag: 0x87, value: [] },
        { tag: 0x81, value: ascii("node@example.com") },
        { tag: 0x86, value: ascii("https://worker-1/") },
        { tag: 0x88, value: [0x2a, 0x03, 0x04] },
        { tag: 0xa2, value: [0x82, 0x08, ...ascii("worker-1")] },
        { tag: 0xa7, value: [0x04, 0x04, 10, 0, 0, 1] },
        { tag: 0x80, value: ascii("worker-1") },
        {
          tag: 0xa0,
          // otherName: Microsoft UPN OID, [0] UTF8String "worker-1".
          value: [
            ...hex("060a2b0601040182371402 03a00a0c08"),
            ...ascii("worker-1"),
          ],
        },
      ),
      weight: 3,
    },
  );
  return fc.record({
    entry: fc.nat({ max: entries - 1 }),
    rdns,
    sans: fc.array(san, { minLength: 0, maxLength: 4 }),
    sanExtensions: fc.oneof(
      { arbitrary: fc.constant(1), weight: 8 },
      { arbitrary: fc.constantFrom(0, 2), weight: 1 },
    ),
    critical: fc.boolean(),
    extensionRequests: fc.oneof(
      { arbitrary: fc.constant(1), weight: 8 },
      { arbitrary: fc.constantFrom(0, 2), weight: 1 },
    ),
  });
}
