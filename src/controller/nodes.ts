/**
 * The Node address cache: a reflector over `/api/v1/nodes` that keeps only
 * name → `status.addresses` (never whole Node objects) and an index from each
 * address to the Nodes that have it, answering the core's `NodeFacts`.
 * Addresses that are neither a valid DNS name nor an IP where one is expected
 * give no ownership: they are logged once per Node and counted.
 *
 * @module
 */
import {
  type NodeAddress,
  nodeAddressKeys,
  type NodeFacts,
} from "../core/node_facts.ts";
import { quote } from "../core/text.ts";
import { runReflector } from "../kube/reflector.ts";
import type { KubeClient } from "../kube/types.ts";
import type { Logger } from "../log.ts";
import { errorText } from "../util/error_text.ts";
import { isObject } from "../util/json.ts";

interface NodeObject {
  metadata: { name: string; resourceVersion?: string };
  status?: { addresses?: NodeAddress[] };
}

/**
 * What the reflector keeps of a listed or watched Node (its `transform`):
 * the name, the resourceVersion and `status.addresses`, nothing else. A
 * real Node carries managedFields, images, conditions and capacity; a list
 * of thousands is accumulated page by page before it reaches the cache, so
 * keeping whole pages would hold all of them at once. An object whose shape
 * is unexpected is returned as it is, for the cache to judge.
 *
 * @example
 * ```ts
 * import { trimNode } from "./nodes.ts";
 * trimNode({
 *   metadata: { name: "n1", resourceVersion: "5", labels: { a: "b" } },
 *   status: { addresses: [{ type: "InternalIP", address: "10.0.0.1" }], images: [] },
 * } as never);
 * // { metadata: { name: "n1", resourceVersion: "5" }, status: { addresses: [...] } }
 * ```
 */
export function trimNode(node: NodeObject): NodeObject {
  if (!isObject(node) || !isObject(node.metadata)) return node;
  const { name, resourceVersion } = node.metadata;
  const status = node.status as unknown;
  return {
    metadata: { name, resourceVersion },
    ...(isObject(status) ? { status: { addresses: status.addresses } } : {}),
  } as NodeObject;
}

/** A running Node cache. */
export interface NodeCache extends NodeFacts {
  /** True once the first list has been received. */
  synced(): boolean;
  whenSynced(): Promise<void>;
  /** Number of Nodes known. */
  size(): number;
  /** Resolves when the reflector loop has exited. */
  done: Promise<void>;
}

/** Options of {@linkcode startNodeCache}. */
export interface NodeCacheOptions {
  client: KubeClient;
  log: Logger;
  signal: AbortSignal;
  /** Called with a Node's name whenever its addresses change, appear or vanish. */
  onChange?: (name: string) => void;
  /**
   * Called when a Node's new address list has entries that give no
   * ownership (see `nodeAddressKeys`), with how many.
   */
  onIgnoredAddresses?: (name: string, count: number) => void;
  watchTimeoutSeconds?: () => number;
  watchGraceMs?: number;
  backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number };
  onRestart?: (kind: "relist" | "watch", cause: string) => void;
}

function sameAddresses(
  a: readonly NodeAddress[] | undefined,
  b: readonly NodeAddress[],
) {
  return a !== undefined && a.length === b.length &&
    a.every((x, i) => x.type === b[i].type && x.address === b[i].address);
}

/**
 * Starts the Node cache.
 *
 * @example
 * Not run: needs a client of a live API server (tests/unit/controller/nodes_test.ts uses a fake one).
 * ```ts ignore
 * import { startNodeCache } from "./nodes.ts";
 * const nodes = startNodeCache({ client, log, signal });
 * await nodes.whenSynced();
 * nodes.addressesOf("worker-1");
 * ```
 */
export function startNodeCache(options: NodeCacheOptions): NodeCache {
  const addresses = new Map<string, readonly NodeAddress[]>();
  const owners = new Map<string, string | Set<string>>();
  // Nodes whose ignored addresses were logged: once per Node until they
  // are fixed or the Node goes.
  const warned = new Set<string>();
  let synced = false;
  let resolveSynced!: () => void;
  const syncedPromise = new Promise<void>((r) => resolveSynced = r);

  const index = (name: string, list: readonly NodeAddress[], add: boolean) => {
    const keys = nodeAddressKeys(list);
    if (add) reportIgnored(name, keys.ignored);
    for (
      const [kind, values] of [["dns", keys.dns], ["ip", keys.ip]] as const
    ) {
      for (const value of values) {
        const key = `${kind}:${value}`;
        const now = owners.get(key);
        // One owner, by far the common case, is kept as its name: a Set
        // per address costs ~100 bytes, 1 MiB for 5,000 Nodes.
        if (add) {
          if (now === undefined || now === name) owners.set(key, name);
          else if (typeof now === "string") {
            owners.set(key, new Set([now, name]));
          } else now.add(name);
        } else if (now === name) {
          owners.delete(key);
        } else if (now !== undefined && typeof now !== "string") {
          now.delete(name);
          if (now.size === 1) owners.set(key, [...now][0]);
        }
      }
    }
  };

  const reportIgnored = (name: string, ignored: readonly NodeAddress[]) => {
    if (ignored.length === 0) {
      warned.delete(name);
      return;
    }
    options.onIgnoredAddresses?.(name, ignored.length);
    if (warned.has(name)) return;
    warned.add(name);
    options.log.warn(
      "Node lists addresses that are not valid DNS names or IPs; they give it no ownership of any SAN",
      {
        node: name,
        ignored: ignored.length,
        // quote() cuts each one short: an address may be megabytes.
        addresses: ignored.slice(0, 4).map((a) =>
          `${quote(a.type)} ${quote(a.address)}`
        ).join(", "),
      },
    );
  };

  const put = (node: NodeObject) => {
    const name = node?.metadata?.name;
    if (typeof name !== "string") return;
    const raw = node.status?.addresses;
    // Keep only well-formed entries, copied: never the whole object.
    const list = (Array.isArray(raw) ? raw : [])
      .filter((a) =>
        typeof a?.type === "string" && typeof a?.address === "string"
      )
      .map((a) => ({ type: a.type, address: a.address }));
    const old = addresses.get(name);
    if (sameAddresses(old, list)) return;
    if (old) index(name, old, false);
    addresses.set(name, list);
    index(name, list, true);
    options.onChange?.(name);
  };

  const remove = (name: string) => {
    const old = addresses.get(name);
    if (!old) return;
    index(name, old, false);
    addresses.delete(name);
    warned.delete(name);
    options.onChange?.(name);
  };

  const done = runReflector<NodeObject>({
    client: options.client,
    path: "/api/v1/nodes",
    signal: options.signal,
    watchTimeoutSeconds: options.watchTimeoutSeconds,
    watchGraceMs: options.watchGraceMs,
    backoff: options.backoff,
    transform: trimNode,
    handler: {
      replace(items) {
        const seen = new Set<string>();
        for (const n of items) {
          seen.add(n.metadata.name);
          put(n);
        }
        for (const name of [...addresses.keys()]) {
          if (!seen.has(name)) remove(name);
        }
      },
      added: put,
      modified: put,
      deleted: (n) => remove(n.metadata.name),
    },
    onSynced() {
      synced = true;
      resolveSynced();
      options.log.info("Node cache synced", { nodes: addresses.size });
    },
    onError(phase, error) {
      options.log.warn(`${phase} failed`, {
        resource: "nodes",
        error: errorText(error),
      });
    },
    onRestart: options.onRestart,
  });

  return {
    addressesOf: (name) => addresses.get(name),
    ownersOf: (kind, value) => {
      const now = owners.get(`${kind}:${value}`);
      if (now === undefined) return [];
      return typeof now === "string" ? [now] : [...now].sort();
    },
    synced: () => synced,
    whenSynced: () => syncedPromise,
    size: () => addresses.size,
    done,
  };
}
