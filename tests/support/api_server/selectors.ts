/**
 * Field and label selectors (k8s.io/apimachinery `fields` and `labels`),
 * parsed with their error messages and compiled to predicates.
 *
 * @module
 */

/**
 * One field selector term.
 *
 * @example
 * ```ts
 * import type { FieldTerm } from "./selectors.ts";
 * const t: FieldTerm = { field: "spec.signerName", op: "=", value: "kubernetes.io/kubelet-serving" };
 * ```
 */
export interface FieldTerm {
  field: string;
  op: "=" | "!=";
  value: string;
}

/**
 * Thrown on a selector that does not parse; the message is the apiserver's.
 *
 * @example
 * ```ts
 * import { parseFieldSelector, SelectorError } from "./selectors.ts";
 * try { parseFieldSelector("oops"); } catch (e) { console.log(e instanceof SelectorError); }
 * ```
 */
export class SelectorError extends Error {
  override name = "SelectorError";
}

function splitTerms(s: string): string[] {
  // Commas escaped with a backslash belong to the value.
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\" && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
    } else if (c === ",") {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function unescape(v: string): string {
  return v.replace(/\\(.)/g, "$1");
}

/**
 * Parses a field selector (`a=b,c!=d`).
 *
 * @example
 * ```ts
 * import { parseFieldSelector } from "./selectors.ts";
 * parseFieldSelector("spec.signerName=kubernetes.io/kubelet-serving");
 * // [{ field: "spec.signerName", op: "=", value: "kubernetes.io/kubelet-serving" }]
 * ```
 */
export function parseFieldSelector(selector: string): FieldTerm[] {
  if (selector.trim() === "") return [];
  const terms: FieldTerm[] = [];
  for (const raw of splitTerms(selector)) {
    const m = /^([^=!]*)(!=|==|=)(.*)$/.exec(raw);
    if (!m) {
      throw new SelectorError(
        `invalid selector: '${selector}'; can't understand '${raw}'`,
      );
    }
    terms.push({
      field: m[1].trim(),
      op: m[2] === "!=" ? "!=" : "=",
      value: unescape(m[3]),
    });
  }
  return terms;
}

/**
 * True when every term holds for the object's selectable fields.
 *
 * @example
 * ```ts
 * import { fieldsMatch } from "./selectors.ts";
 * fieldsMatch([{ field: "metadata.name", op: "=", value: "a" }], { "metadata.name": "a" }); // true
 * ```
 */
export function fieldsMatch(
  terms: FieldTerm[],
  fields: Record<string, string>,
): boolean {
  for (const t of terms) {
    const v = fields[t.field] ?? "";
    if (t.op === "=" ? v !== t.value : v === t.value) return false;
  }
  return true;
}

/**
 * One label selector requirement.
 *
 * @example
 * ```ts
 * import type { LabelRequirement } from "./selectors.ts";
 * const r: LabelRequirement = { key: "app", op: "in", values: ["x"] };
 * ```
 */
export interface LabelRequirement {
  key: string;
  op: "in" | "notin" | "exists" | "!";
  values: string[];
}

/**
 * Parses a label selector: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`,
 * `k notin (a,b)`.
 *
 * @example
 * ```ts
 * import { parseLabelSelector } from "./selectors.ts";
 * parseLabelSelector("app=x,tier in (a,b),!legacy").length; // 3
 * ```
 */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  const reqs: LabelRequirement[] = [];
  let s = selector.trim();
  while (s.length > 0) {
    let m: RegExpExecArray | null;
    if ((m = /^\s*!\s*([A-Za-z0-9_./-]+)\s*(,|$)/.exec(s))) {
      reqs.push({ key: m[1], op: "!", values: [] });
    } else if (
      (m = /^\s*([A-Za-z0-9_./-]+)\s+(in|notin)\s*\(([^)]*)\)\s*(,|$)/.exec(s))
    ) {
      const values = m[3].split(",").map((v) => v.trim()).filter((v) => v);
      reqs.push({ key: m[1], op: m[2] as "in" | "notin", values });
    } else if (
      (m = /^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*(,|$)/
        .exec(s))
    ) {
      reqs.push({
        key: m[1],
        op: m[2] === "!=" ? "notin" : "in",
        values: [m[3]],
      });
    } else if ((m = /^\s*([A-Za-z0-9_./-]+)\s*(,|$)/.exec(s))) {
      reqs.push({ key: m[1], op: "exists", values: [] });
    } else {
      throw new SelectorError(
        `unable to parse requirement: found '${s}', expected: identifier`,
      );
    }
    s = s.slice(m[0].length).trim();
  }
  return reqs;
}

/**
 * True when the labels satisfy every requirement.
 *
 * @example
 * ```ts
 * import { labelsMatch, parseLabelSelector } from "./selectors.ts";
 * labelsMatch(parseLabelSelector("app=x"), { app: "x" }); // true
 * ```
 */
export function labelsMatch(
  reqs: LabelRequirement[],
  labels: Record<string, string> | undefined,
): boolean {
  const l = labels ?? {};
  for (const r of reqs) {
    const has = Object.hasOwn(l, r.key);
    switch (r.op) {
      case "exists":
        if (!has) return false;
        break;
      case "!":
        if (has) return false;
        break;
      case "in":
        if (!has || !r.values.includes(l[r.key])) return false;
        break;
      case "notin":
        if (has && r.values.includes(l[r.key])) return false;
        break;
    }
  }
  return true;
}
