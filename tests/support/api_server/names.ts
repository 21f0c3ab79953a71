/**
 * Name validation of k8s.io/apimachinery `util/validation` (messages
 * copied), and the generator behind `metadata.generateName`.
 *
 * @module
 */

const LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const SUBDOMAIN = `${LABEL}(\\.${LABEL})*`;
const LABEL_RE = new RegExp(`^${LABEL}$`);
const SUBDOMAIN_RE = new RegExp(`^${SUBDOMAIN}$`);
const QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_RE = new RegExp(`^${QUALIFIED_NAME}$`);

/**
 * Errors of `IsDNS1123Subdomain` (empty when valid).
 *
 * @example
 * ```ts
 * import { dns1123Subdomain } from "./names.ts";
 * dns1123Subdomain("csr-abc.18a2b3c4d5e6f708"); // []
 * ```
 */
export function dns1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push("must be no more than 253 characters");
  if (!SUBDOMAIN_RE.test(value)) {
    errs.push(
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '" +
        SUBDOMAIN + "')",
    );
  }
  return errs;
}

/**
 * Errors of `IsDNS1123Label` (empty when valid).
 *
 * @example
 * ```ts
 * import { dns1123Label } from "./names.ts";
 * dns1123Label("kubelet-serving"); // []
 * ```
 */
export function dns1123Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push("must be no more than 63 characters");
  if (!LABEL_RE.test(value)) {
    errs.push(
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '" +
        LABEL + "')",
    );
  }
  return errs;
}

/**
 * Errors of `IsQualifiedName` (empty when valid).
 *
 * @example
 * ```ts
 * import { qualifiedName } from "./names.ts";
 * qualifiedName("example.com/kubelet-rubber-stamp"); // []
 * ```
 */
export function qualifiedName(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split("/");
  let name: string;
  if (parts.length === 1) {
    name = parts[0];
  } else if (parts.length === 2) {
    const [prefix] = parts;
    name = parts[1];
    if (prefix.length === 0) {
      errs.push("prefix part must be non-empty");
    } else {
      for (const e of dns1123Subdomain(prefix)) errs.push(`prefix part ${e}`);
    }
  } else {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '" +
      QUALIFIED_NAME +
      "') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) {
    errs.push("name part must be non-empty");
  } else if (name.length > 63) {
    errs.push("name part must be no more than 63 characters");
  }
  if (!QUALIFIED_NAME_RE.test(name)) {
    errs.push(
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '" +
        QUALIFIED_NAME + "')",
    );
  }
  return errs;
}

/**
 * Errors of `path.IsValidPathSegmentName` (every object name must pass).
 *
 * @example
 * ```ts
 * import { pathSegmentName } from "./names.ts";
 * pathSegmentName("a/b"); // ["may not contain '/'"]
 * ```
 */
export function pathSegmentName(value: string): string[] {
  if (value === "." || value === "..") return [`may not be '${value}'`];
  const errs: string[] = [];
  if (value.includes("/")) errs.push("may not contain '/'");
  if (value.includes("%")) errs.push("may not contain '%'");
  return errs;
}

// names.SimpleNameGenerator's alphabet: no vowels, no confusable digits.
const ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

/**
 * `generateName` + five random characters, like `names.SimpleNameGenerator`.
 *
 * @example
 * ```ts
 * import { generateName } from "./names.ts";
 * generateName("csr-"); // e.g. "csr-x7k2b"
 * ```
 */
export function generateName(base: string): string {
  // Go truncates the base so that the result stays a valid 63-char label.
  const trimmed = base.length > 58 ? base.slice(0, 58) : base;
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  let suffix = "";
  for (const b of bytes) suffix += ALPHABET[b % ALPHABET.length];
  return trimmed + suffix;
}
