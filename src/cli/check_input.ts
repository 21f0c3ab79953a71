/**
 * `check`'s input: the CSR file (a CSR object as YAML or JSON, a List of
 * one, or a bare PEM request) and the reading and parsing every input file
 * shares (size bound, YAML or JSON). Input that is no CSR at all is an
 * {@linkcode InputError} (exit 2); any CSR object is decided, however
 * broken, as the daemon would decide it.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { KUBELET_SERVING_SIGNER } from "../core/inspect.ts";
import { parseCertificateRequest } from "../core/request.ts";
import { NODES_GROUP } from "../core/requester.ts";
import { SERVING_USAGES_NO_RSA, SERVING_USAGES_RSA } from "../core/rules.ts";
import { quote, quoteList } from "../core/text.ts";
import type { CertificateSigningRequest, ReasonCode } from "../core/types.ts";
import { errorFirstLine, errorText } from "../util/error_text.ts";
import { isObject, type Json } from "../util/json.ts";

/** Where input files come from; replaceable for tests. */
export interface InputReader {
  /** Reads a file as text. */
  readFile(path: string): Promise<string>;
  /** Reads all of standard input. */
  readStdin(): Promise<string>;
}

/** Input that is not a CSR (or a Node file that is no Node); one line naming the file. */
export class InputError extends Error {
  override name = "InputError";
}

// Far above any CSR object; keeps a wrong file from being parsed.
const MAX_INPUT_CHARS = 1 << 20;

/**
 * The text of `path` (`-`: standard input), at most `max` characters.
 * Throws {@linkcode InputError} naming the file as `what`.
 *
 * @example
 * ```ts
 * import { readInput } from "./check_input.ts";
 * const io = { readFile: () => Promise.resolve("kind: Node"), readStdin: () => Promise.resolve("") };
 * await readInput("node.yaml", io, "Node file"); // "kind: Node"
 * ```
 */
export async function readInput(
  path: string,
  io: InputReader,
  what: string,
  max = MAX_INPUT_CHARS,
): Promise<string> {
  let text: string;
  try {
    text = path === "-" ? await io.readStdin() : await io.readFile(path);
  } catch (error) {
    throw new InputError(
      `cannot read ${what} ${path === "-" ? "from stdin" : quote(path)}: ${
        errorText(error)
      }`,
    );
  }
  if (text.length > max) {
    throw new InputError(
      `${what} ${
        quote(path)
      } is ${text.length} characters, expected at most ${max}`,
    );
  }
  return text;
}

/**
 * One YAML or JSON document. Throws {@linkcode InputError} naming the file.
 *
 * @example
 * ```ts
 * import { parseDocument } from "./check_input.ts";
 * parseDocument('{"kind":"Node"}', "node.json", "Node file"); // { kind: "Node" }
 * ```
 */
export function parseDocument(
  text: string,
  path: string,
  what: string,
): unknown {
  try {
    // JSON (kubectl -o json) needs no YAML parser (the yaml package, which
    // reads JSON too, is larger and reads LOG_TOKENS/LOG_STREAM from the
    // environment).
    return /^\s*[{[]/.test(text)
      ? JSON.parse(text)
      : parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw new InputError(
      `${what} ${quote(path)} is not YAML or JSON: ${errorFirstLine(error)}`,
    );
  }
}

/**
 * True for a `List` or `<kind>List` object with an `items` array (what
 * `kubectl get` prints without a name).
 *
 * @example
 * ```ts
 * import { isList } from "./check_input.ts";
 * isList({ kind: "NodeList", items: [] }, "Node"); // true
 * ```
 */
export function isList(
  value: unknown,
  kind: string,
): value is Json & { items: unknown[] } {
  return isObject(value) && Array.isArray(value.items) &&
    (value.kind === "List" || value.kind === `${kind}List`);
}

function parseCsrObject(text: string, path: string): Json {
  let value = parseDocument(text, path, "CSR file");
  // `kubectl get csr -o yaml` without a name prints a List.
  if (isList(value, "CertificateSigningRequest")) {
    if (value.items.length !== 1) {
      throw new InputError(
        `CSR file ${
          quote(path)
        } is a List of ${value.items.length} items, expected one CertificateSigningRequest`,
      );
    }
    value = value.items[0];
  }
  if (!isObject(value)) {
    throw new InputError(`CSR file ${quote(path)} does not hold an object`);
  }
  return value;
}

/** The CSR to decide, and what `check` says about how it read it. */
export interface LoadedCsr {
  csr: CertificateSigningRequest;
  notes: string[];
}

// What the request parser says about bytes that are no PKCS#10 request at all.
const NOT_A_REQUEST: ReadonlySet<ReasonCode> = new Set<ReasonCode>([
  "InvalidRequestEncoding",
  "InvalidRequestPEM",
  "InvalidRequest",
]);

async function csrFromPem(
  pem: string,
  path: string,
  now: Date,
): Promise<LoadedCsr> {
  const request = new TextEncoder().encode(pem).toBase64();
  const parsed = await parseCertificateRequest(request);
  if (!parsed.ok && NOT_A_REQUEST.has(parsed.reason)) {
    throw new InputError(
      `CSR file ${
        quote(path)
      } is not a PEM-encoded certificate request (${parsed.reason}): ${parsed.message}`,
    );
  }
  let username: string | undefined;
  let usages = [...SERVING_USAGES_NO_RSA];
  if (parsed.ok) {
    if (parsed.request.commonNames.length === 1) {
      username = parsed.request.commonNames[0];
    }
    if (parsed.request.publicKey.algorithm === "RSA") {
      usages = [...SERVING_USAGES_RSA];
    }
  }
  const csr: CertificateSigningRequest = {
    apiVersion: "certificates.k8s.io/v1",
    kind: "CertificateSigningRequest",
    metadata: { name: "pem-request", creationTimestamp: now.toISOString() },
    spec: {
      request,
      signerName: KUBELET_SERVING_SIGNER,
      usages,
      ...(username === undefined ? {} : { username }),
      groups: [NODES_GROUP, "system:authenticated"],
    },
  };
  return {
    csr,
    notes: [
      `input is a bare PEM request: checked as a kubelet-serving CSR from ${
        quote(username)
      } in group ${quote(NODES_GROUP)} with usages ${
        quoteList(usages)
      }, created now (as the kubelet would send it)`,
    ],
  };
}

/**
 * The CSR to decide. Only input that is no CSR at all is refused (exit 2):
 * an object of another kind, an object with neither kind nor spec, text
 * that is not YAML/JSON, a bare PEM that is no certificate request. Any
 * CertificateSigningRequest object is decided, however broken, as the daemon
 * would decide it. Throws {@linkcode InputError}.
 *
 * @example
 * ```ts
 * import { loadCsr } from "./check_input.ts";
 * const yaml = "kind: CertificateSigningRequest\nmetadata: {name: csr-1}\nspec: {}";
 * (await loadCsr(yaml, "csr.yaml", new Date())).csr.metadata.name; // "csr-1"
 * ```
 */
export async function loadCsr(
  text: string,
  path: string,
  now: Date,
): Promise<LoadedCsr> {
  if (text.trimStart().startsWith("-----BEGIN")) {
    return await csrFromPem(text, path, now);
  }
  const value = parseCsrObject(text, path);
  if (value.kind !== undefined && value.kind !== "CertificateSigningRequest") {
    throw new InputError(
      `CSR file ${quote(path)} holds a ${
        quote(value.kind)
      }, expected a CertificateSigningRequest`,
    );
  }
  if (value.kind === undefined && value.spec === undefined) {
    throw new InputError(
      `CSR file ${
        quote(path)
      } holds an object with neither kind nor spec, expected a CertificateSigningRequest`,
    );
  }
  return { csr: value as unknown as CertificateSigningRequest, notes: [] };
}
