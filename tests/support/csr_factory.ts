/**
 * Test factory for real kubelet serving CertificateSigningRequests: genuine
 * PKCS#10 requests signed with Web Crypto keys, wrapped in the API object the
 * API server serves. Defaults produce a request the approver must accept.
 *
 * Keys are generated once per key type and cached for the whole test process:
 * RSA key generation is slow and the tests never depend on key uniqueness.
 *
 * @module
 */
import * as x509 from "../../src/x509.ts";
import type {
  CertificateSigningRequest,
  CertificateSigningRequestCondition,
} from "../../src/core/types.ts";

/** Key types the factory can sign with. */
export type KeyType =
  | "ecdsa-p256"
  | "ecdsa-p384"
  | "ecdsa-p521"
  | "rsa-2048"
  | "rsa-1024"
  | "rsa-pss-2048"
  | "ed25519";

/** Options for {@linkcode makeServingCsr} and {@linkcode makeCertificateRequestPem}. */
export interface ServingCsrOptions {
  /** Key type; default `ecdsa-p256` (the kubelet's default). */
  key?: KeyType;
  /** Subject CN; default `system:node:<node>`. */
  commonName?: string;
  /** Subject O values, one RDN each; default `["system:nodes"]`. `[]` omits O. */
  organizations?: string[];
  /**
   * Full subject as RDNs, overriding `commonName` and `organizations`, e.g.
   * `[{ O: ["system:nodes"] }, { CN: ["system:node:a"] }, { CN: ["system:node:b"] }]`.
   */
  subject?: x509.JsonName;
  /** Node name; default `worker-1`. */
  node?: string;
  /** DNS SANs; default `[node]`. */
  dnsNames?: string[];
  /** IP SANs; default `["10.0.0.1"]`. */
  ipAddresses?: string[];
  /** Email SANs; default none. */
  emails?: string[];
  /** URI SANs; default none. */
  uris?: string[];
  /** Any other SANs, as `@peculiar/x509` JSON (e.g. `{ type: "upn", value: "a@b" }`); default none. */
  otherSans?: x509.JsonGeneralName[];
  /** `metadata.name`; default `csr-<node>-<n>`. */
  name?: string;
  /** `spec.signerName`; default `kubernetes.io/kubelet-serving`. */
  signerName?: string;
  /** `spec.usages`; default the kubelet's set for the key type. */
  usages?: string[];
  /** `spec.username`; default `system:node:<node>`. */
  username?: string;
  /** `spec.groups`; default `["system:nodes", "system:authenticated"]`. */
  groups?: string[];
  /** `spec.uid`; default a fixed fake uid. */
  uid?: string;
  /** `spec.expirationSeconds`; default unset (as the kubelet does). */
  expirationSeconds?: number;
  /** `status.conditions`; default none. */
  conditions?: CertificateSigningRequestCondition[];
  /** `status.certificate`; default unset. */
  certificate?: string;
  /** `metadata.resourceVersion`; default `"1"`. */
  resourceVersion?: string;
  /** `metadata.creationTimestamp`; default now (second precision, as the API server stamps it). */
  creationTimestamp?: string;
  /** `metadata.deletionTimestamp`; default unset. */
  deletionTimestamp?: string;
  /** Flip one signature byte so the self-signature no longer verifies. */
  tamper?: boolean;
}

interface KeySpec {
  generate: RsaHashedKeyGenParams | EcKeyGenParams | Algorithm;
  sign: Algorithm | EcdsaParams | RsaPssParams;
  rsa: boolean;
}

const RSA_EXPONENT = new Uint8Array([1, 0, 1]);

const KEY_SPECS: Record<KeyType, KeySpec> = {
  "ecdsa-p256": {
    generate: { name: "ECDSA", namedCurve: "P-256" },
    sign: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
    rsa: false,
  },
  "ecdsa-p384": {
    generate: { name: "ECDSA", namedCurve: "P-384" },
    sign: { name: "ECDSA", hash: "SHA-384" } as EcdsaParams,
    rsa: false,
  },
  "ecdsa-p521": {
    generate: { name: "ECDSA", namedCurve: "P-521" },
    sign: { name: "ECDSA", hash: "SHA-512" } as EcdsaParams,
    rsa: false,
  },
  "rsa-2048": {
    generate: {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: RSA_EXPONENT,
      hash: "SHA-256",
    },
    sign: { name: "RSASSA-PKCS1-v1_5" },
    rsa: true,
  },
  "rsa-1024": {
    generate: {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 1024,
      publicExponent: RSA_EXPONENT,
      hash: "SHA-256",
    },
    sign: { name: "RSASSA-PKCS1-v1_5" },
    rsa: true,
  },
  "rsa-pss-2048": {
    generate: {
      name: "RSA-PSS",
      modulusLength: 2048,
      publicExponent: RSA_EXPONENT,
      hash: "SHA-256",
    },
    sign: { name: "RSA-PSS", saltLength: 32 } as RsaPssParams,
    rsa: true,
  },
  "ed25519": {
    generate: { name: "Ed25519" },
    sign: { name: "Ed25519" },
    rsa: false,
  },
};

// Cached promises (not keys) so that concurrent first calls share one keygen.
const keyCache = new Map<KeyType, Promise<CryptoKeyPair>>();

function keysFor(type: KeyType): Promise<CryptoKeyPair> {
  let keys = keyCache.get(type);
  if (!keys) {
    keys = crypto.subtle.generateKey(KEY_SPECS[type].generate, false, [
      "sign",
      "verify",
    ]) as Promise<CryptoKeyPair>;
    keyCache.set(type, keys);
  }
  return keys;
}

/**
 * The usages the kubelet requests for a key type
 * (client-go `DefaultKubeletServingGetUsages`).
 *
 * @example
 * ```ts
 * import { kubeletUsages } from "./csr_factory.ts";
 * kubeletUsages("rsa-2048"); // ["digital signature", "key encipherment", "server auth"]
 * ```
 */
export function kubeletUsages(key: KeyType = "ecdsa-p256"): string[] {
  return KEY_SPECS[key].rsa
    ? ["digital signature", "key encipherment", "server auth"]
    : ["digital signature", "server auth"];
}

function toPem(der: Uint8Array): string {
  const body = der.toBase64().replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n`;
}

/**
 * Generates the PEM text of a PKCS#10 certificate request.
 *
 * @example
 * ```ts
 * import { makeCertificateRequestPem } from "./csr_factory.ts";
 * const pem = await makeCertificateRequestPem({ node: "worker-2", key: "ecdsa-p384" });
 * ```
 */
export async function makeCertificateRequestPem(
  opts: ServingCsrOptions = {},
): Promise<string> {
  const key = opts.key ?? "ecdsa-p256";
  const node = opts.node ?? "worker-1";
  const commonName = opts.commonName ?? `system:node:${node}`;
  const organizations = opts.organizations ?? ["system:nodes"];
  // One attribute per RDN, O first, as Go's pkix.Name marshals it.
  const subject: x509.JsonName = opts.subject ?? [
    ...organizations.map((o) => ({ O: [o] })),
    ...(commonName === "" ? [] : [{ CN: [commonName] }]),
  ];
  const names: x509.JsonGeneralName[] = [
    ...(opts.dnsNames ?? [node]).map((value) => ({
      type: "dns" as const,
      value,
    })),
    ...(opts.emails ?? []).map((value) => ({ type: "email" as const, value })),
    ...(opts.ipAddresses ?? ["10.0.0.1"]).map((value) => ({
      type: "ip" as const,
      value,
    })),
    ...(opts.uris ?? []).map((value) => ({ type: "url" as const, value })),
    ...(opts.otherSans ?? []),
  ];
  const extensions = names.length > 0
    ? [new x509.SubjectAlternativeNameExtension(names)]
    : [];
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subject,
    keys: await keysFor(key),
    signingAlgorithm: KEY_SPECS[key].sign,
    extensions,
  });
  const der = new Uint8Array(request.rawData);
  if (opts.tamper) {
    // The signature BIT STRING ends the DER, so the last byte is a signature
    // byte: flipping it keeps the DER valid and breaks the signature.
    der[der.length - 1] ^= 0x01;
  }
  return toPem(der);
}

let counter = 0;

/**
 * Builds a full `certificates.k8s.io/v1` CertificateSigningRequest object with
 * a real, signed request; `spec.request` is base64 of the PEM text.
 *
 * @example
 * ```ts
 * import { makeServingCsr } from "./csr_factory.ts";
 * const csr = await makeServingCsr({ node: "worker-3", ipAddresses: ["10.0.0.3"] });
 * ```
 */
export async function makeServingCsr(
  opts: ServingCsrOptions = {},
): Promise<CertificateSigningRequest> {
  const key = opts.key ?? "ecdsa-p256";
  const node = opts.node ?? "worker-1";
  const pem = await makeCertificateRequestPem(opts);
  counter += 1;
  const csr: CertificateSigningRequest = {
    apiVersion: "certificates.k8s.io/v1",
    kind: "CertificateSigningRequest",
    metadata: {
      name: opts.name ?? `csr-${node}-${counter}`,
      uid: `00000000-0000-4000-8000-${counter.toString().padStart(12, "0")}`,
      resourceVersion: opts.resourceVersion ?? "1",
      creationTimestamp: opts.creationTimestamp ??
        new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    },
    spec: {
      request: new TextEncoder().encode(pem).toBase64(),
      signerName: opts.signerName ?? "kubernetes.io/kubelet-serving",
      usages: opts.usages ?? kubeletUsages(key),
      username: opts.username ?? `system:node:${node}`,
      uid: opts.uid ?? "11111111-2222-4333-8444-555555555555",
      groups: opts.groups ?? ["system:nodes", "system:authenticated"],
    },
    status: {},
  };
  if (opts.deletionTimestamp !== undefined) {
    csr.metadata.deletionTimestamp = opts.deletionTimestamp;
  }
  if (opts.expirationSeconds !== undefined) {
    csr.spec.expirationSeconds = opts.expirationSeconds;
  }
  if (opts.conditions !== undefined) csr.status!.conditions = opts.conditions;
  if (opts.certificate !== undefined) {
    csr.status!.certificate = opts.certificate;
  }
  return csr;
}
