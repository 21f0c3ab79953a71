/**
 * Nodes (core/v1), read-only over HTTP: tests shape them through the
 * server handle, the approver only reads them.
 *
 * @module
 */
import { OBJECT_META, S } from "./decode.ts";
import type { Endpoint } from "./rest.ts";
import type { Obj, Table } from "./store.ts";

/**
 * The read-only Node endpoint.
 *
 * @example
 * ```ts
 * import { nodeEndpoint } from "./nodes.ts";
 * import { createTable } from "./store.ts";
 * const ep = nodeEndpoint(createTable({ rv: 0 }, 100));
 * ep.resource; // "nodes"
 * ```
 */
export function nodeEndpoint(table: Table): Endpoint {
  return {
    group: "",
    version: "v1",
    resource: "nodes",
    kind: "Node",
    namespaced: false,
    table,
    schema: S.object("Node", {
      apiVersion: S.string,
      kind: S.string,
      metadata: OBJECT_META,
      spec: S.any,
      status: S.any,
    }),
    wire: (o) => o,
    wireId: "node",
    fields: (o: Obj) => ({
      "metadata.name": o.metadata.name,
      "spec.unschedulable": String(
        Boolean(
          (o.spec as { unschedulable?: boolean } | undefined)?.unschedulable,
        ),
      ),
    }),
    fieldLabelError: (l) =>
      l === "metadata.name" || l === "spec.unschedulable"
        ? undefined
        : `field label not supported: ${l}`,
    verbs: new Set(["get", "list", "watch"]),
  };
}
