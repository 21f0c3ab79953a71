/**
 * The apiserver's `RequestInfoFactory`: turns a method and URL into the
 * verb/group/resource/name attributes that authorization sees.
 *
 * @module
 */

/**
 * What RequestInfoFactory derives from a request.
 *
 * @example
 * ```ts
 * import { parseRequestInfo, type RequestInfo } from "./request_info.ts";
 * const info: RequestInfo = parseRequestInfo("GET", new URL("https://x/api/v1/nodes"));
 * ```
 */
export interface RequestInfo {
  isResourceRequest: boolean;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** Path segments after the version (and namespace), e.g. `["leases", "x"]`. */
  parts: string[];
}

const METHOD_VERBS: Record<string, string> = {
  GET: "get",
  HEAD: "get",
  POST: "create",
  PUT: "update",
  PATCH: "patch",
  DELETE: "delete",
};

/**
 * True when the `watch` query parameter asks for a watch, as the apiserver
 * reads it (any value but "false"/"0").
 *
 * @example
 * ```ts
 * import { wantsWatch } from "./request_info.ts";
 * wantsWatch(new URLSearchParams("watch=1")); // true
 * ```
 */
export function wantsWatch(query: URLSearchParams): boolean {
  const w = query.get("watch");
  if (w === null) return false;
  return !["false", "0", "f", "F", "FALSE", "False"].includes(w);
}

function exactNameFromFieldSelector(selector: string | null): string {
  if (!selector) return "";
  const terms = selector.split(",");
  for (const t of terms) {
    const m = /^metadata\.name(==?)(.*)$/.exec(t.trim());
    if (m && terms.length === 1 && !m[2].includes("/")) return m[2];
  }
  return "";
}

/**
 * Parses a request the way the apiserver's RequestInfoFactory does.
 *
 * @example
 * ```ts
 * import { parseRequestInfo } from "./request_info.ts";
 * const info = parseRequestInfo("PUT", new URL("https://x/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval"));
 * // info.verb === "update", info.subresource === "approval"
 * ```
 */
export function parseRequestInfo(method: string, url: URL): RequestInfo {
  const segments = url.pathname.split("/").filter((s) => s !== "").map(
    (s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    },
  );
  const nonResource: RequestInfo = {
    isResourceRequest: false,
    verb: method.toLowerCase(),
    apiGroup: "",
    apiVersion: "",
    namespace: "",
    resource: "",
    subresource: "",
    name: "",
    parts: segments,
  };
  let rest: string[];
  let apiGroup = "";
  let apiVersion: string;
  if (segments[0] === "api" && segments.length >= 2) {
    apiVersion = segments[1];
    rest = segments.slice(2);
  } else if (segments[0] === "apis" && segments.length >= 3) {
    apiGroup = segments[1];
    apiVersion = segments[2];
    rest = segments.slice(3);
  } else {
    return nonResource;
  }
  if (rest.length === 0) return nonResource;
  let verb = METHOD_VERBS[method] ?? "";
  // The deprecated /watch/ path prefix.
  if (rest[0] === "watch") {
    verb = "watch";
    rest = rest.slice(1);
  }
  let namespace = "";
  if (rest[0] === "namespaces") {
    if (rest.length > 1) {
      namespace = rest[1];
      if (rest.length > 2 && rest[2] !== "finalize" && rest[2] !== "status") {
        rest = rest.slice(2);
      }
    }
  }
  const info: RequestInfo = {
    isResourceRequest: true,
    verb,
    apiGroup,
    apiVersion,
    namespace,
    resource: rest[0] ?? "",
    name: rest[1] ?? "",
    subresource: rest[2] ?? "",
    parts: rest,
  };
  if (info.name === "" && info.verb === "get") {
    info.verb = wantsWatch(url.searchParams) ? "watch" : "list";
    info.name = exactNameFromFieldSelector(
      url.searchParams.get("fieldSelector"),
    );
  }
  if (info.name === "" && info.verb === "delete") {
    info.verb = "deletecollection";
  }
  return info;
}
