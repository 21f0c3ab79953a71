/**
 * `check`'s Node files (`--node FILE`, repeatable): a Node, or a List of
 * Nodes as `kubectl get nodes -o yaml` prints it. Every Node of every file
 * goes into one {@linkcode NodeFacts}, so that an address two Nodes list is
 * seen as such, exactly as the daemon's Node cache sees it.
 *
 * @module
 */
import {
  createNodeFacts,
  type NodeAddress,
  type NodeFacts,
} from "../core/node_facts.ts";
import { quote } from "../core/text.ts";
import { isObject, type Json } from "../util/json.ts";
import {
  InputError,
  type InputReader,
  isList,
  parseDocument,
  readInput,
} from "./check_input.ts";

// Far above any Node List worth reading at once; keeps a wrong file from
// being parsed. (`kubectl get nodes -o yaml` of a large cluster may need
// more: pass the Nodes in several files then.)
const MAX_NODE_INPUT_CHARS = 16 << 20;

/** The Nodes of the `--node` files. */
export interface LoadedNodes {
  facts: NodeFacts;
  /** Every Node's name, in the order the files list them. */
  names: string[];
  /** What `check` says about the files (e.g. a List of no Nodes). */
  notes: string[];
}

function nodeAddresses(node: Json): NodeAddress[] {
  const status = isObject(node.status) ? node.status : {};
  const raw = Array.isArray(status.addresses) ? status.addresses : [];
  return raw.filter((a): a is NodeAddress =>
    isObject(a) && typeof a.type === "string" && typeof a.address === "string"
  ).map((a) => ({ type: a.type, address: a.address }));
}

/**
 * Every Node of every `--node` file (a Node, or a List of Nodes as
 * `kubectl get nodes -o yaml` prints it), in one {@linkcode NodeFacts}, so
 * that an address two Nodes list is seen as such. Throws
 * {@linkcode InputError} for a file that holds no Node, or a Node given
 * twice with other addresses.
 *
 * @example
 * ```ts
 * import { loadNodes } from "./check_nodes.ts";
 * const io = {
 *   readFile: () => Promise.resolve("kind: Node\nmetadata: {name: worker-1}\nstatus: {addresses: [{type: InternalIP, address: 10.0.0.1}]}"),
 *   readStdin: () => Promise.resolve(""),
 * };
 * (await loadNodes(["node.yaml"], io)).names; // ["worker-1"]
 * ```
 */
export async function loadNodes(
  paths: readonly string[],
  io: InputReader,
): Promise<LoadedNodes> {
  const byName = new Map<string, { addresses: NodeAddress[]; path: string }>();
  const notes: string[] = [];
  for (const path of paths) {
    const text = await readInput(path, io, "Node file", MAX_NODE_INPUT_CHARS);
    const value = parseDocument(text, path, "Node file");
    const listed = isList(value, "Node");
    const items: unknown[] = listed ? value.items : [value];
    if (listed && items.length === 0) {
      notes.push(`Node file ${quote(path)} is a List of no Nodes`);
    }
    items.forEach((item, index) => {
      const where = listed
        ? `Node file ${quote(path)}, item ${index}`
        : `Node file ${quote(path)}`;
      if (!isObject(item)) {
        throw new InputError(`${where} does not hold an object`);
      }
      if (item.kind !== undefined && item.kind !== "Node") {
        throw new InputError(
          `${where} holds a ${quote(item.kind)}, expected a Node`,
        );
      }
      const name = isObject(item.metadata) ? item.metadata.name : undefined;
      if (typeof name !== "string" || name === "") {
        throw new InputError(
          `${where} has no metadata.name, expected a Node object`,
        );
      }
      const addresses = nodeAddresses(item);
      const seen = byName.get(name);
      if (
        seen !== undefined &&
        JSON.stringify(seen.addresses) !== JSON.stringify(addresses)
      ) {
        throw new InputError(
          `${where}: node ${quote(name)} is also in ${
            quote(seen.path)
          } with other addresses; give each Node once`,
        );
      }
      byName.set(name, { addresses, path });
    });
  }
  return {
    facts: createNodeFacts(
      [...byName].map(([name, { addresses }]) => [name, addresses] as const),
    ),
    names: [...byName.keys()],
    notes,
  };
}
