/**
 * The Lease lock of leader election, as client-go's
 * `tools/leaderelection/resourcelock/leaselock.go`: get, create and update
 * of one `coordination.k8s.io/v1` Lease, remembering the object last read or
 * written so that every update is a PUT of the whole object with its
 * `metadata.resourceVersion`: of two racing candidates one gets 409.
 *
 * Apart from the elector (`leader_election.ts`) because this is only the
 * object and its optimistic concurrency; when to write what is the
 * elector's. Generic Kubernetes code: it knows nothing of the leader's work.
 *
 * @module
 */
import type { KubeClient } from "./types.ts";

/** `spec` of a `coordination.k8s.io/v1` Lease (the fields leader election uses). */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** MicroTime: RFC 3339 with exactly 6 fractional digits. */
  acquireTime?: string;
  /** MicroTime: RFC 3339 with exactly 6 fractional digits. */
  renewTime?: string;
  leaseTransitions?: number;
  [field: string]: unknown;
}

/** A `coordination.k8s.io/v1` Lease as read from and written to the API. */
export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    [field: string]: unknown;
  };
  spec?: LeaseSpec;
  [field: string]: unknown;
}

/** Options of {@linkcode createLeaseLock}. */
export interface LeaseLockOptions {
  client: KubeClient;
  namespace: string;
  name: string;
}

/** How long one lock request may take, and what aborts it. */
export interface LeaseLockRequest {
  signal?: AbortSignal;
  timeoutMs: number;
}

/** One Lease, read and written with optimistic concurrency. */
export interface LeaseLock {
  /** `namespace/name`, for log lines. */
  readonly describe: string;
  /** The Lease last read or written (undefined before the first success). */
  current(): Lease | undefined;
  /**
   * Reads the Lease and remembers it. Resolves `undefined` (remembering
   * nothing) when the answer is not an object with metadata; rejects with
   * the client's error otherwise (`ApiError` 404 when there is none).
   */
  get(request: LeaseLockRequest): Promise<Lease | undefined>;
  /** Creates the Lease with `spec` and remembers what the server stored. */
  create(spec: LeaseSpec, request: LeaseLockRequest): Promise<Lease>;
  /**
   * PUTs the Lease last read or written with `spec`; its resourceVersion
   * makes the write fail with 409 when someone else wrote since. Remembers
   * what the server stored.
   *
   * @throws {Error} when nothing has been read or written yet.
   */
  update(spec: LeaseSpec, request: LeaseLockRequest): Promise<Lease>;
}

const isLease = (value: unknown): value is Lease =>
  typeof value === "object" && value !== null &&
  typeof (value as Lease).metadata === "object" &&
  (value as Lease).metadata !== null;

/**
 * Creates a lock on the Lease `namespace/name`. No request is made until a
 * method is called.
 *
 * @example
 * Not run: needs a client of a live API server (tests/unit/kube/lease_lock_test.ts uses a fake one).
 * ```ts ignore
 * import { createLeaseLock } from "./lease_lock.ts";
 * const lock = createLeaseLock({ client, namespace: "kube-system", name: "my-controller" });
 * const lease = await lock.get({ timeoutMs: 5_000 });
 * await lock.update({ ...lease?.spec, holderIdentity: "me" }, { timeoutMs: 5_000 });
 * ```
 */
export function createLeaseLock(options: LeaseLockOptions): LeaseLock {
  const { client } = options;
  const namespace = encodeURIComponent(options.namespace);
  const name = encodeURIComponent(options.name);
  const collectionPath =
    `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
  const objectPath = `${collectionPath}/${name}`;
  /** The whole Lease last read or written: the next PUT carries its resourceVersion. */
  let lease: Lease | undefined;

  return {
    describe: `${options.namespace}/${options.name}`,
    current: () => lease,
    async get({ signal, timeoutMs }) {
      const read = await client.request<Lease>({
        method: "GET",
        path: objectPath,
        signal,
        timeoutMs,
      });
      if (!isLease(read)) return undefined;
      lease = read;
      return read;
    },
    async create(spec, { signal, timeoutMs }) {
      lease = await client.request<Lease>({
        method: "POST",
        path: collectionPath,
        body: {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: options.name, namespace: options.namespace },
          spec,
        },
        signal,
        timeoutMs,
      });
      return lease;
    },
    async update(spec, { signal, timeoutMs }) {
      if (!lease) {
        throw new Error(
          `lease ${options.namespace}/${options.name}: expected a Lease read or written before an update, found none`,
        );
      }
      lease = await client.request<Lease>({
        method: "PUT",
        path: objectPath,
        body: {
          ...lease,
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          spec,
        },
        signal,
        timeoutMs,
      });
      return lease;
    },
  };
}
