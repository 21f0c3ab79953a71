/**
 * The kubeconfig the benchmark hands the daemon: one cluster (server URL and
 * inline CA), one bearer-token user, one context. Pure.
 *
 * @module
 */

/** What {@linkcode kubeconfigText} needs. */
export interface KubeconfigInput {
  /** e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** PEM of the CA that signed the server's certificate. */
  caPem: string;
  /** Bearer token. */
  token: string;
}

/**
 * A kubeconfig document. It is JSON, which every YAML parser (and
 * client-go) reads as YAML, so no quoting rules can bite.
 *
 * @example
 * ```ts
 * import { kubeconfigText } from "./kubeconfig.ts";
 * const text = kubeconfigText({ server: "https://127.0.0.1:6443", caPem: "-----BEGIN CERTIFICATE-----\n...", token: "t" });
 * JSON.parse(text)["current-context"]; // "bench"
 * ```
 */
export function kubeconfigText(input: KubeconfigInput): string {
  return JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "bench",
        cluster: {
          server: input.server,
          "certificate-authority-data": new TextEncoder().encode(input.caPem)
            .toBase64(),
        },
      }],
      users: [{ name: "bench", user: { token: input.token } }],
      contexts: [{
        name: "bench",
        context: { cluster: "bench", user: "bench" },
      }],
      "current-context": "bench",
    },
    null,
    2,
  );
}
