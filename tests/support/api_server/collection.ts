/**
 * Collection GETs: lists (pagination with continue tokens over one
 * snapshot, exact and not-older-than resourceVersions, selectors) and
 * watches (synthetic ADDED, replay from a resourceVersion, bookmarks,
 * timeouts), with the apiserver's ListOptions validation.
 *
 * @module
 */
import { wantsWatch } from "./request_info.ts";
import {
  apiVersionOf,
  type Endpoint,
  keyOfObj,
  type OpenWatch,
  parseRv,
} from "./rest.ts";
import {
  fieldsMatch,
  labelsMatch,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
} from "./selectors.ts";
import {
  badRequest,
  expired,
  type FieldError,
  invalid,
  jsonResponse,
  type Status,
  StatusError,
  tooLargeResourceVersion,
} from "./status.ts";
import type { Obj } from "./store.ts";

// ---------------------------------------------------------------- query

const BOOL_TRUE = ["1", "t", "T", "TRUE", "true", "True"];
const BOOL_FALSE = ["0", "f", "F", "FALSE", "false", "False"];

function boolParam(q: URLSearchParams, name: string): boolean | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (BOOL_TRUE.includes(v)) return true;
  if (BOOL_FALSE.includes(v)) return false;
  throw new StatusError(
    badRequest(
      `strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`,
    ),
  );
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  if (!/^-?\d+$/.test(v)) {
    throw new StatusError(
      badRequest(
        `strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`,
      ),
    );
  }
  return Number(v);
}

interface ListQuery {
  watch: boolean;
  resourceVersion: string;
  resourceVersionMatch: string;
  limit: number;
  continueToken: string;
  allowWatchBookmarks: boolean;
  sendInitialEvents: boolean | undefined;
  timeoutSeconds: number | undefined;
  match: (obj: Obj) => boolean;
  hasSelector: boolean;
}

function parseListQuery(
  ep: Endpoint,
  q: URLSearchParams,
  namespace: string,
): ListQuery {
  const watch = wantsWatch(q);
  const query: ListQuery = {
    watch,
    resourceVersion: q.get("resourceVersion") ?? "",
    resourceVersionMatch: q.get("resourceVersionMatch") ?? "",
    limit: Math.max(0, intParam(q, "limit") ?? 0),
    continueToken: q.get("continue") ?? "",
    allowWatchBookmarks: boolParam(q, "allowWatchBookmarks") ?? false,
    sendInitialEvents: boolParam(q, "sendInitialEvents"),
    timeoutSeconds: intParam(q, "timeoutSeconds"),
    match: () => true,
    hasSelector: false,
  };
  const errs: FieldError[] = [];
  const match = query.resourceVersionMatch;
  if (!watch) {
    if (match !== "") {
      if (query.resourceVersion === "") {
        errs.push({
          type: "Forbidden",
          field: "resourceVersionMatch",
          detail:
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        });
      }
      if (query.continueToken !== "") {
        errs.push({
          type: "Forbidden",
          field: "resourceVersionMatch",
          detail: "resourceVersionMatch is forbidden when continue is provided",
        });
      }
      if (match !== "Exact" && match !== "NotOlderThan") {
        errs.push({
          type: "NotSupported",
          field: "resourceVersionMatch",
          value: match,
          supported: ["Exact", "NotOlderThan", ""],
        });
      }
      if (match === "Exact" && query.resourceVersion === "0") {
        errs.push({
          type: "Forbidden",
          field: "resourceVersionMatch",
          detail:
            'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        });
      }
    }
    if (query.sendInitialEvents !== undefined) {
      errs.push({
        type: "Forbidden",
        field: "sendInitialEvents",
        detail: "sendInitialEvents is forbidden for list",
      });
    }
  } else {
    if (query.sendInitialEvents !== undefined) {
      if (match !== "NotOlderThan") {
        errs.push({
          type: "Forbidden",
          field: "resourceVersionMatch",
          detail:
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        });
      }
      if (query.sendInitialEvents && !query.allowWatchBookmarks) {
        errs.push({
          type: "Forbidden",
          field: "allowWatchBookmarks",
          detail:
            "sendInitialEvents requires setting allowWatchBookmarks to true",
        });
      }
    } else if (match !== "") {
      errs.push({
        type: "Forbidden",
        field: "resourceVersionMatch",
        detail:
          "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
      });
    }
    if (match !== "" && match !== "NotOlderThan") {
      errs.push({
        type: "NotSupported",
        field: "resourceVersionMatch",
        value: match,
        supported: ["NotOlderThan"],
      });
    }
  }
  if (errs.length > 0) {
    throw new StatusError(
      invalid({ group: "meta.k8s.io", kind: "ListOptions" }, "", errs),
    );
  }
  let fieldTerms;
  let labelReqs;
  try {
    fieldTerms = parseFieldSelector(q.get("fieldSelector") ?? "");
    labelReqs = parseLabelSelector(q.get("labelSelector") ?? "");
  } catch (e) {
    if (e instanceof SelectorError) {
      throw new StatusError(badRequest(e.message));
    }
    throw e;
  }
  for (const t of fieldTerms) {
    const err = ep.fieldLabelError(t.field);
    if (err !== undefined) throw new StatusError(badRequest(err));
  }
  query.hasSelector = fieldTerms.length > 0 || labelReqs.length > 0;
  query.match = (obj) =>
    (namespace === "" || obj.metadata.namespace === namespace) &&
    (fieldTerms.length === 0 || fieldsMatch(fieldTerms, ep.fields(obj))) &&
    (labelReqs.length === 0 || labelsMatch(labelReqs, obj.metadata.labels));
  return query;
}

// ------------------------------------------------------------- continue

interface ContinueToken {
  rv: number;
  start: string;
}

function encodeContinue(rv: number, start: string): string {
  const json = JSON.stringify({ v: "meta.k8s.io/v1", rv, start });
  return new TextEncoder().encode(json).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}

function decodeContinue(token: string): ContinueToken {
  try {
    const text = new TextDecoder().decode(
      Uint8Array.fromBase64(token, { alphabet: "base64url" }),
    );
    const c = JSON.parse(text) as { v?: string; rv?: number; start?: string };
    if (c.v !== "meta.k8s.io/v1") {
      throw new Error(
        "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
      );
    }
    if (
      typeof c.rv !== "number" || typeof c.start !== "string" || c.start === ""
    ) {
      throw new Error("continue key is not valid");
    }
    return { rv: c.rv, start: c.start };
  } catch (e) {
    throw new StatusError(
      badRequest(`continue key is not valid: ${(e as Error).message}`),
    );
  }
}

const CONTINUE_EXPIRED =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

// ------------------------------------------------------------ handlers

function stripTypeMeta(obj: Obj): Obj {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return rest as Obj;
}

function firstIndexAtOrAfter(
  items: Obj[],
  ep: Endpoint,
  start: string,
): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keyOfObj(ep, items[mid]) < start) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * GET on a collection: a list (paginated, at a resourceVersion) or a watch.
 *
 * @example
 * Not run: needs the server's watch opener (tests/unit/support/api_server_test.ts drives it).
 * ```ts ignore
 * const res = handleCollectionGet(endpoint, url, "", openWatch);
 * ```
 */
export function handleCollectionGet(
  ep: Endpoint,
  url: URL,
  namespace: string,
  open: OpenWatch,
): Response {
  const q = parseListQuery(ep, url.searchParams, namespace);
  return q.watch ? watchCollection(ep, q, open) : listCollection(ep, q);
}

function listCollection(ep: Endpoint, q: ListQuery): Response {
  const table = ep.table;
  const current = table.clock.rv;
  let listRv: number;
  let items: Obj[] | undefined;
  let start = "";
  if (q.continueToken !== "") {
    if (q.resourceVersion !== "" && q.resourceVersion !== "0") {
      throw new StatusError(
        badRequest(
          "specifying resource version is not allowed when using continue",
        ),
      );
    }
    const token = decodeContinue(q.continueToken);
    start = token.start;
    if (token.rv === -1) {
      // An "inconsistent" continuation: read the latest state.
      listRv = current;
      items = table.snapshot(current);
    } else {
      listRv = token.rv;
      items = table.snapshot(token.rv);
      if (items === undefined) {
        const s = expired(CONTINUE_EXPIRED);
        s.metadata.continue = encodeContinue(-1, token.start);
        throw new StatusError(s);
      }
    }
  } else if (q.resourceVersion === "" || q.resourceVersion === "0") {
    listRv = current;
    items = table.snapshot(current);
  } else {
    const rv = parseRv(q.resourceVersion, "resourceVersion");
    if (rv > current) {
      throw new StatusError(tooLargeResourceVersion(rv, current));
    }
    const exact = q.resourceVersionMatch === "Exact" ||
      (q.resourceVersionMatch === "" && q.limit > 0);
    if (exact) {
      listRv = rv;
      items = table.snapshot(rv);
      if (items === undefined) {
        throw new StatusError(
          expired("The resourceVersion for the provided list is too old."),
        );
      }
    } else {
      listRv = current;
      items = table.snapshot(current);
    }
  }
  const all = items!;
  let i = start === "" ? 0 : firstIndexAtOrAfter(all, ep, start);
  const out: Obj[] = [];
  for (; i < all.length; i++) {
    if (q.limit > 0 && out.length === q.limit) break;
    if (q.match(all[i])) out.push(all[i]);
  }
  const metadata: Record<string, unknown> = { resourceVersion: String(listRv) };
  if (q.limit > 0 && out.length === q.limit && i < all.length) {
    const lastKey = keyOfObj(ep, out[out.length - 1]);
    metadata.continue = encodeContinue(listRv, lastKey + "\u0000");
    table.retain(listRv, all);
    if (!q.hasSelector) metadata.remainingItemCount = all.length - i;
  }
  return jsonResponse(200, {
    kind: `${ep.kind}List`,
    apiVersion: apiVersionOf(ep),
    metadata,
    items: out.map((o) => stripTypeMeta(ep.wire(o))),
  });
}

function watchCollection(
  ep: Endpoint,
  q: ListQuery,
  open: OpenWatch,
): Response {
  const table = ep.table;
  const current = table.clock.rv;
  let initial: Obj[] | undefined;
  let since = current;
  let error: Status | undefined;
  const rvParam = q.resourceVersion;
  if (
    q.sendInitialEvents === true ||
    ((rvParam === "" || rvParam === "0") && q.sendInitialEvents !== false)
  ) {
    initial = table.snapshot(current)!.filter(q.match);
  } else if (rvParam !== "" && rvParam !== "0") {
    since = parseRv(rvParam, "resourceVersion");
    if (since < table.historyStart()) {
      error = expired(
        `too old resource version: ${since} (${table.historyStart()})`,
      );
    }
  }
  const stream = open({
    table,
    match: q.match,
    wire: (o) => ep.wire(o),
    wireId: ep.wireId,
    kind: ep.kind,
    apiVersion: apiVersionOf(ep),
    initial,
    initialEndBookmark: q.sendInitialEvents === true,
    since,
    error,
    bookmarks: q.allowWatchBookmarks,
    timeoutMs: q.timeoutSeconds !== undefined && q.timeoutSeconds > 0
      ? q.timeoutSeconds * 1000
      : undefined,
  });
  return new Response(stream.body, {
    status: 200,
    headers: {
      "content-type": "application/json",
      "cache-control": "no-cache, private",
    },
  });
}
