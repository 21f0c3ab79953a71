/**
 * Test PKI: a CA, a server certificate for loopback and client certificates,
 * all generated in memory with Web Crypto, as PEM text.
 *
 * @module
 */
import * as x509 from "../../src/x509.ts";

const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A certificate and its private key, both PEM. */
export interface PemPair {
  cert: string;
  key: string;
}

/** A generated CA able to issue more certificates. */
export interface TestCa extends PemPair {
  /** Issues a leaf certificate signed by this CA. */
  issue(options: {
    subject: string;
    dnsNames?: string[];
    ips?: string[];
    server?: boolean;
    client?: boolean;
  }): Promise<PemPair>;
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", key));
  const b64 = der.toBase64().replace(/.{64}/g, "$&\n");
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

function serial(): string {
  return crypto.getRandomValues(new Uint8Array(8)).toHex().replace(/^0/, "1");
}

/**
 * Creates a fresh CA.
 *
 * @example
 * ```ts
 * import { createTestCa } from "./tls.ts";
 * const ca = await createTestCa("test-ca");
 * const server = await ca.issue({ subject: "CN=localhost", dnsNames: ["localhost"], ips: ["127.0.0.1"], server: true });
 * ```
 */
export async function createTestCa(
  name = "kubelet-rubber-stamp test CA",
): Promise<TestCa> {
  const caKeys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 24 * 3600_000);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  return {
    cert: caCert.toString("pem") + "\n",
    key: await exportKeyPem(caKeys.privateKey),
    async issue(options) {
      const keys = await crypto.subtle.generateKey(alg, true, [
        "sign",
        "verify",
      ]);
      const names: x509.JsonGeneralName[] = [
        ...(options.dnsNames ?? []).map((value) => ({
          type: "dns" as const,
          value,
        })),
        ...(options.ips ?? []).map((value) => ({ type: "ip" as const, value })),
      ];
      const eku: string[] = [];
      if (options.server) eku.push(x509.ExtendedKeyUsage.serverAuth);
      if (options.client) eku.push(x509.ExtendedKeyUsage.clientAuth);
      const extensions: x509.Extension[] = [
        new x509.BasicConstraintsExtension(false),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        new x509.ExtendedKeyUsageExtension(eku),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
      ];
      if (names.length > 0) {
        extensions.push(new x509.SubjectAlternativeNameExtension(names));
      }
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: options.subject,
        issuer: caCert.subject,
        notBefore,
        notAfter,
        signingKey: caKeys.privateKey,
        publicKey: keys.publicKey,
        signingAlgorithm: alg,
        extensions,
      });
      return {
        cert: cert.toString("pem") + "\n",
        key: await exportKeyPem(keys.privateKey),
      };
    },
  };
}
