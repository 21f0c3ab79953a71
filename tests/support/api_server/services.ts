/**
 * The `default/kubernetes` Service (core/v1), read-only: what in-cluster
 * clients read to learn the API server's cluster IP.
 *
 * @module
 */
import { OBJECT_META, S } from "./decode.ts";
import type { Endpoint } from "./rest.ts";
import type { Obj, Table } from "./store.ts";

/**
 * The `kubernetes` Service object for a cluster IP and target port.
 *
 * @example
 * ```ts
 * import { kubernetesService } from "./services.ts";
 * kubernetesService("10.96.0.1", 6443).spec; // { clusterIP: "10.96.0.1", ... }
 * ```
 */
export function kubernetesService(clusterIP: string, targetPort: number): Obj {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: "kubernetes",
      namespace: "default",
      uid: crypto.randomUUID(),
      creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      labels: { component: "apiserver", provider: "kubernetes" },
    },
    spec: {
      clusterIP,
      clusterIPs: [clusterIP],
      ports: [{ name: "https", port: 443, protocol: "TCP", targetPort }],
      type: "ClusterIP",
      sessionAffinity: "None",
      ipFamilies: [clusterIP.includes(":") ? "IPv6" : "IPv4"],
      ipFamilyPolicy: "SingleStack",
      internalTrafficPolicy: "Cluster",
    },
    status: { loadBalancer: {} },
  };
}

/**
 * The read-only Service endpoint.
 *
 * @example
 * ```ts
 * import { serviceEndpoint } from "./services.ts";
 * import { createTable } from "./store.ts";
 * const ep = serviceEndpoint(createTable({ rv: 0 }, 100));
 * ep.resource; // "services"
 * ```
 */
export function serviceEndpoint(table: Table): Endpoint {
  return {
    group: "",
    version: "v1",
    resource: "services",
    kind: "Service",
    namespaced: true,
    table,
    schema: S.object("Service", {
      apiVersion: S.string,
      kind: S.string,
      metadata: OBJECT_META,
      spec: S.any,
      status: S.any,
    }),
    wire: (o) => o,
    wireId: "service",
    fields: (o) => {
      const spec = (o.spec ?? {}) as { clusterIP?: string; type?: string };
      return {
        "metadata.name": o.metadata.name,
        "metadata.namespace": o.metadata.namespace ?? "",
        "spec.clusterIP": spec.clusterIP ?? "",
        "spec.type": spec.type ?? "",
      };
    },
    fieldLabelError: (l) =>
      ["metadata.name", "metadata.namespace", "spec.clusterIP", "spec.type"]
          .includes(l)
        ? undefined
        : `field label not supported: ${l}`,
    verbs: new Set(["get", "list", "watch"]),
  };
}
