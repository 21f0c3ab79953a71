/**
 * Where the API server is and how to authenticate to it: from a kubeconfig
 * file (`--kubeconfig`, else `$KUBECONFIG`) or from the in-cluster service
 * account, as client-go's `clientcmd` and `rest.InClusterConfig()` do.
 *
 * Only the authentication methods this project can honour are accepted:
 * bearer `token`, `tokenFile` and client certificates. Anything else is a
 * {@linkcode ConfigError} rather than a silently weaker connection.
 *
 * About 500 lines: a kubeconfig and the in-cluster configuration produce the
 * same connection and share their validation and error wording, so they are
 * read together.
 *
 * @module
 */
import {
  fileTokenSource,
  staticTokenSource,
  TokenError,
  type TokenSource,
} from "./token_source.ts";
import { errorFirstLine } from "../util/error_text.ts";
import { isObject, type Json } from "../util/json.ts";

/** A resolved connection to one API server. */
export interface ClusterConnection {
  /** `https://host:port`, without a trailing slash. */
  server: string;
  /** PEM bundle of the CA(s) that sign the server certificate. */
  caPem?: string;
  /**
   * Never honoured: `createKubeClient` rejects it with a `ConfigError`,
   * because Deno cannot disable TLS verification per HTTP client.
   */
  insecureSkipTlsVerify?: boolean;
  /** PEM client certificate (chain) for mutual TLS. */
  clientCertPem?: string;
  /** PEM private key of `clientCertPem`. */
  clientKeyPem?: string;
  /** Bearer token for each request. */
  tokenSource?: TokenSource;
  /** Namespace of the kubeconfig context, or the pod's namespace in-cluster. */
  namespace?: string;
  /** Where this came from, for logs: `kubeconfig /path (context x)` or `in-cluster`. */
  source: string;
}

/** Options of {@linkcode loadClusterConnection}; everything is injectable for tests. */
export interface LoadConfigOptions {
  /** Path of a kubeconfig file (the `--kubeconfig` flag). */
  kubeconfig?: string;
  /** Context to use instead of `current-context` (the `--context` flag). */
  context?: string;
  /** Environment lookup. Default `Deno.env.get`. */
  env?: (name: string) => string | undefined;
  /** Default `/var/run/secrets/kubernetes.io/serviceaccount`. */
  serviceAccountDir?: string;
  /** File reader. Default `Deno.readTextFile`. */
  readTextFile?: (path: string) => Promise<string>;
  /** Clock in ms for the token file cache. Default `Date.now`. */
  now?: () => number;
}

/**
 * A configuration problem, in one line naming the file and field at fault.
 *
 * @example
 * ```ts
 * import { ConfigError } from "./config.ts";
 * const error = new ConfigError(
 *   'kubeconfig /tmp/k: context "x" not found; available contexts: [a, b]',
 * );
 * console.log(error.name); // "ConfigError"
 * ```
 */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The default service-account mount of a pod. */
export const DEFAULT_SERVICE_ACCOUNT_DIR =
  "/var/run/secrets/kubernetes.io/serviceaccount";

const UNSUPPORTED_AUTH_HINT = "use a token, tokenFile or client certificate";
const PEM_CERT =
  /-----BEGIN CERTIFICATE-----\s*[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/;
const PEM_KEY =
  /-----BEGIN ([A-Z0-9 ]+ )?PRIVATE KEY-----[\s\S]+-----END ([A-Z0-9 ]+ )?PRIVATE KEY-----/;

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : path.slice(0, i);
}

/** Resolves a kubeconfig file reference relative to the kubeconfig's directory, as kubectl does. */
function resolveFrom(baseDir: string, path: string): string {
  return path.startsWith("/") ? path : `${baseDir}/${path}`;
}

/**
 * Loads the connection: `options.kubeconfig`, else the first path of
 * `$KUBECONFIG` (a `:`-separated list; the files are *not* merged as kubectl
 * would), else the in-cluster service account.
 *
 * @throws {ConfigError} with the file and field at fault.
 *
 * @example
 * ```ts
 * import { loadClusterConnection } from "./config.ts";
 * const kubeconfig = `
 * current-context: kind-kind
 * contexts: [{ name: kind-kind, context: { cluster: kind, user: me } }]
 * clusters: [{ name: kind, cluster: { server: "https://127.0.0.1:6443" } }]
 * users: [{ name: me, user: { token: abc } }]
 * `;
 * const connection = await loadClusterConnection({
 *   kubeconfig: "/home/me/.kube/config",
 *   readTextFile: () => Promise.resolve(kubeconfig), // a file read, in real use
 * });
 * console.log(connection.source); // kubeconfig /home/me/.kube/config (context kind-kind)
 * ```
 */
export async function loadClusterConnection(
  options: LoadConfigOptions = {},
): Promise<ClusterConnection> {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const readTextFile = options.readTextFile ?? Deno.readTextFile;
  const now = options.now ?? Date.now;
  const path = options.kubeconfig ||
    (env("KUBECONFIG") ?? "").split(":").find((p) => p !== "");
  if (path) {
    return await loadKubeconfig(path, options.context, readTextFile, now);
  }
  if (options.context) {
    throw new ConfigError(
      `--context ${options.context} needs a kubeconfig; pass --kubeconfig or set KUBECONFIG`,
    );
  }
  return await loadInCluster(
    env,
    options.serviceAccountDir ?? DEFAULT_SERVICE_ACCOUNT_DIR,
    readTextFile,
    now,
  );
}

async function loadInCluster(
  env: (name: string) => string | undefined,
  dir: string,
  readTextFile: (path: string) => Promise<string>,
  now: () => number,
): Promise<ClusterConnection> {
  const host = env("KUBERNETES_SERVICE_HOST");
  const port = env("KUBERNETES_SERVICE_PORT");
  if (!host || !port) {
    throw new ConfigError(
      "no kubeconfig and not in a cluster: expected KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT to be set " +
        `(found ${host ? "" : "no KUBERNETES_SERVICE_HOST"}${
          !host && !port ? ", " : ""
        }${
          port ? "" : "no KUBERNETES_SERVICE_PORT"
        }); pass --kubeconfig or set KUBECONFIG`,
    );
  }
  // IPv6 literals must be bracketed in a URL, as Go's net.JoinHostPort does.
  const hostPart = host.includes(":") && !host.startsWith("[")
    ? `[${host}]`
    : host;
  const server = `https://${hostPart}:${port}`;
  try {
    new URL(server);
  } catch {
    throw new ConfigError(
      `in-cluster: KUBERNETES_SERVICE_HOST=${host} and KUBERNETES_SERVICE_PORT=${port} do not form a valid URL (${server})`,
    );
  }
  const caPath = `${dir}/ca.crt`;
  let caPem: string;
  try {
    caPem = await readTextFile(caPath);
  } catch (error) {
    throw new ConfigError(
      `in-cluster: cannot read CA file ${caPath}: ${errorFirstLine(error)}`,
    );
  }
  checkPem(
    caPem,
    PEM_CERT,
    `in-cluster: CA file ${caPath}`,
    "a PEM CERTIFICATE",
  );
  checkTls({ caCerts: [caPem] }, `in-cluster: CA file ${caPath}`);
  const tokenSource = fileTokenSource(`${dir}/token`, { now, readTextFile });
  await primeToken(tokenSource, "in-cluster");
  let namespace: string | undefined;
  try {
    namespace = (await readTextFile(`${dir}/namespace`)).trim() || undefined;
  } catch {
    // The namespace file is optional: only the pod's own namespace lives there.
  }
  return { server, caPem, tokenSource, namespace, source: "in-cluster" };
}

/** Reads the token once so that a missing token fails at start-up, not at the first request. */
async function primeToken(source: TokenSource, where: string): Promise<void> {
  try {
    await source.token();
  } catch (error) {
    const text = error instanceof TokenError
      ? error.message
      : errorFirstLine(error);
    throw new ConfigError(`${where}: ${text}`);
  }
}

/**
 * Lets the TLS stack parse the material now, so that a PEM block whose
 * contents are not a certificate or key fails at start-up with the field at
 * fault, not later as an "unusable TLS material" crash in the client.
 */
function checkTls(
  options: Deno.CreateHttpClientOptions & Partial<Deno.TlsCertifiedKeyPem>,
  where: string,
): void {
  let client: Deno.HttpClient | undefined;
  try {
    client = Deno.createHttpClient(options);
  } catch (error) {
    throw new ConfigError(
      `${where}: not usable for TLS: ${errorFirstLine(error)}`,
    );
  } finally {
    client?.close();
  }
}

function checkPem(
  text: string,
  pattern: RegExp,
  where: string,
  expected: string,
): void {
  if (pattern.test(text)) return;
  // Name what was found without echoing it: it may be (part of) a key.
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
  const found = text.trim() === ""
    ? "an empty value"
    : label
    ? `a PEM ${label} block`
    : `${text.length} characters of text that is not PEM`;
  throw new ConfigError(`${where}: expected ${expected}, found ${found}`);
}

/** Finds `{name, <field>: {...}}` in a kubeconfig list. */
function findNamed(
  config: Json,
  list: string,
  field: string,
  name: string,
): Json | undefined {
  const items = config[list];
  if (!Array.isArray(items)) return undefined;
  const item = items.find((i) => isObject(i) && i.name === name);
  if (!isObject(item)) return undefined;
  return isObject(item[field]) ? item[field] : {};
}

function names(config: Json, list: string): string {
  const items = config[list];
  const found = Array.isArray(items)
    ? items.filter(isObject).map((i) => String(i.name))
    : [];
  return `[${found.join(", ")}]`;
}

/**
 * Parses a kubeconfig: JSON (valid YAML too) without loading the YAML
 * parser, which is imported only for a file that needs it (it costs a few
 * MiB of heap that an in-cluster or JSON-configured daemon never needs).
 */
async function parseKubeconfigText(text: string): Promise<unknown> {
  if (text.trimStart().startsWith("{")) {
    try {
      return JSON.parse(text);
    } catch {
      // A YAML flow mapping, or broken: the YAML parser says which.
    }
  }
  const { parse } = await import("yaml");
  return parse(text);
}

async function loadKubeconfig(
  path: string,
  contextFlag: string | undefined,
  readTextFile: (path: string) => Promise<string>,
  now: () => number,
): Promise<ClusterConnection> {
  const where = `kubeconfig ${path}`;
  let text: string;
  try {
    text = await readTextFile(path);
  } catch (error) {
    throw new ConfigError(`${where}: cannot read: ${errorFirstLine(error)}`);
  }
  let config: unknown;
  try {
    config = await parseKubeconfigText(text);
  } catch (error) {
    throw new ConfigError(`${where}: not valid YAML: ${errorFirstLine(error)}`);
  }
  if (!isObject(config)) {
    throw new ConfigError(
      `${where}: expected a kubeconfig mapping with clusters, users and contexts, found ${
        config === null || config === undefined
          ? "an empty document"
          : typeof config
      }`,
    );
  }
  const currentContext = typeof config["current-context"] === "string"
    ? config["current-context"]
    : "";
  const contextName = contextFlag || currentContext;
  if (!contextName) {
    throw new ConfigError(
      `${where}: no current-context set and no --context given; available contexts: ${
        names(config, "contexts")
      }`,
    );
  }
  const context = findNamed(config, "contexts", "context", contextName);
  if (!context) {
    throw new ConfigError(
      `${where}: context "${contextName}" not found; available contexts: ${
        names(config, "contexts")
      }`,
    );
  }
  const clusterName = String(context.cluster ?? "");
  const cluster = findNamed(config, "clusters", "cluster", clusterName);
  if (!cluster) {
    throw new ConfigError(
      `${where}: context "${contextName}" refers to cluster "${clusterName}", which is not in clusters ${
        names(config, "clusters")
      }`,
    );
  }
  const userName = context.user === undefined
    ? undefined
    : String(context.user);
  let user: Json = {};
  if (userName) {
    const found = findNamed(config, "users", "user", userName);
    if (!found) {
      throw new ConfigError(
        `${where}: context "${contextName}" refers to user "${userName}", which is not in users ${
          names(config, "users")
        }`,
      );
    }
    user = found;
  }
  const baseDir = dirname(path);
  const source = `${where} (context ${contextName})`;
  const clusterField = (f: string) =>
    `${where}: clusters[name="${clusterName}"].cluster.${f}`;
  const userField = (f: string) =>
    `${where}: users[name="${userName}"].user.${f}`;

  const server = typeof cluster.server === "string"
    ? cluster.server.replace(/\/+$/, "")
    : "";
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new ConfigError(
      `${clusterField("server")}: expected an https:// URL, found "${server}"`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(
      `${clusterField("server")}: expected an https:// URL, found "${server}"`,
    );
  }
  if (cluster["insecure-skip-tls-verify"] === true) {
    throw new ConfigError(
      `${
        clusterField("insecure-skip-tls-verify")
      }: not supported: Deno cannot skip TLS verification ` +
        "for one HTTP client; set certificate-authority or certificate-authority-data instead",
    );
  }
  for (const unsupported of ["tls-server-name", "proxy-url"]) {
    if (cluster[unsupported] !== undefined && cluster[unsupported] !== "") {
      throw new ConfigError(
        `${clusterField(unsupported)}: not supported by this client`,
      );
    }
  }

  const readRef = async (field: string, ref: unknown): Promise<string> => {
    const file = resolveFrom(baseDir, String(ref));
    try {
      return await readTextFile(file);
    } catch (error) {
      throw new ConfigError(
        `${field}: cannot read ${file}: ${errorFirstLine(error)}`,
      );
    }
  };
  const decodeData = (field: string, data: unknown): string => {
    try {
      const bytes = Uint8Array.fromBase64(String(data).replace(/\s+/g, ""));
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (error) {
      throw new ConfigError(
        `${field}: expected base64 of PEM text: ${errorFirstLine(error)}`,
      );
    }
  };
  /** `<name>-data` wins over the file `<name>`, as in client-go. */
  const material = async (
    fields: Json,
    name: string,
    fieldName: (f: string) => string,
  ): Promise<{ pem: string; field: string } | undefined> => {
    if (fields[`${name}-data`]) {
      const field = fieldName(`${name}-data`);
      return { pem: decodeData(field, fields[`${name}-data`]), field };
    }
    if (fields[name]) {
      const field = fieldName(name);
      return { pem: await readRef(field, fields[name]), field };
    }
    return undefined;
  };

  const ca = await material(cluster, "certificate-authority", clusterField);
  if (ca) {
    checkPem(ca.pem, PEM_CERT, ca.field, "a PEM CERTIFICATE");
    checkTls({ caCerts: [ca.pem] }, ca.field);
  }

  for (
    const method of [
      "exec",
      "auth-provider",
      "username",
      "password",
      "as",
      "as-groups",
      "as-uid",
    ]
  ) {
    if (
      user[method] !== undefined && user[method] !== null && user[method] !== ""
    ) {
      throw new ConfigError(
        `${
          userField(method)
        }: auth method ${method} is not supported; ${UNSUPPORTED_AUTH_HINT}`,
      );
    }
  }
  const cert = await material(user, "client-certificate", userField);
  const key = await material(user, "client-key", userField);
  if (cert) checkPem(cert.pem, PEM_CERT, cert.field, "a PEM CERTIFICATE");
  if (key) checkPem(key.pem, PEM_KEY, key.field, "a PEM PRIVATE KEY");
  if (Boolean(cert) !== Boolean(key)) {
    throw new ConfigError(
      `${
        userField(cert ? "client-key" : "client-certificate")
      }: missing; a client certificate needs both client-certificate and client-key`,
    );
  }
  if (cert && key) {
    checkTls(
      { cert: cert.pem, key: key.pem },
      `${cert.field} and ${key.field}`,
    );
  }

  let tokenSource: TokenSource | undefined;
  if (typeof user.tokenFile === "string" && user.tokenFile !== "") {
    // As client-go: a tokenFile takes precedence over an inline token.
    tokenSource = fileTokenSource(resolveFrom(baseDir, user.tokenFile), {
      now,
      readTextFile,
    });
    await primeToken(tokenSource, userField("tokenFile"));
  } else if (typeof user.token === "string" && user.token.trim() !== "") {
    tokenSource = staticTokenSource(user.token.trim());
  }

  if (url.protocol === "http:" && (tokenSource || cert)) {
    throw new ConfigError(
      `${
        clusterField("server")
      }: refusing to send credentials over plain http (${server}); use https`,
    );
  }

  const namespace =
    typeof context.namespace === "string" && context.namespace !== ""
      ? context.namespace
      : undefined;
  return {
    server,
    caPem: ca?.pem,
    clientCertPem: cert?.pem,
    clientKeyPem: key?.pem,
    tokenSource,
    namespace,
    source,
  };
}
