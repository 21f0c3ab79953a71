/**
 * Public types of the API server double: its options, the identity and
 * request records it keeps, the fault-injection knobs and the handle that
 * `startApiServer` returns.
 *
 * @module
 */
import type { CertificateSigningRequest } from "../../../src/core/types.ts";

/**
 * An authenticated identity, as an authenticator hands it to the apiserver.
 *
 * @example
 * ```ts
 * import type { UserInfo } from "./types.ts";
 * const node: UserInfo = { username: "system:node:worker-1", groups: ["system:nodes"] };
 * ```
 */
export interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/**
 * What the double records for every request: the apiserver's RequestInfo
 * plus the user and the status code of the answer.
 *
 * @example
 * ```ts
 * import type { RequestAttributes } from "./types.ts";
 * const seen: RequestAttributes[] = [];
 * const onlyUpdates = seen.filter((r) => r.verb === "update");
 * ```
 */
export interface RequestAttributes {
  user: string;
  groups: string[];
  /** As RBAC sees it: get list watch create update patch delete deletecollection, or the lower-cased method for a non-resource path. */
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  name: string;
  namespace: string;
  path: string;
  method: string;
  /** Status code of the response (0 while it is being handled). */
  status: number;
  /** For an update of `certificatesigningrequests/approval`: the stored CSR's signer (what the CertificateApproval admission plugin checks). */
  signerName?: string;
}

/**
 * The body of a SubjectAccessReview's `spec` (authorization.k8s.io/v1).
 *
 * @example
 * ```ts
 * import type { SubjectAccessReviewSpec } from "./types.ts";
 * const spec: SubjectAccessReviewSpec = {
 *   user: "system:node:worker-1",
 *   groups: ["system:nodes"],
 *   resourceAttributes: { group: "certificates.k8s.io", resource: "certificatesigningrequests", verb: "create" },
 * };
 * ```
 */
export interface SubjectAccessReviewSpec {
  user?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
  resourceAttributes?: {
    namespace?: string;
    verb?: string;
    group?: string;
    version?: string;
    resource?: string;
    subresource?: string;
    name?: string;
  };
  nonResourceAttributes?: { path?: string; verb?: string };
}

/**
 * Options of `startApiServer`.
 *
 * @example
 * ```ts
 * import type { ApiServerOptions } from "./types.ts";
 * const options: ApiServerOptions = { watchCacheSize: 50, bookmarkIntervalMs: 0 };
 * ```
 */
export interface ApiServerOptions {
  /** Default true: HTTPS with a certificate for 127.0.0.1 and localhost. */
  tls?: boolean;
  /** Bearer token → identity. Default `{ "admin-token": admin in system:masters }`. */
  tokens?: Record<string, UserInfo>;
  /**
   * Default true: clients connect to a front with `TCP_NODELAY` (as Go's
   * listeners have) that relays to `Deno.serve` on a Unix socket, so watch
   * events and responses are not held back by Nagle's algorithm waiting for
   * delayed ACKs (see `nodelay_front.ts`). `false`: `Deno.serve` listens on
   * TCP itself.
   */
  noDelay?: boolean;
  /** Not supported by this double (Deno.serve does not expose the peer certificate); accepted and ignored. */
  clientCertUsers?: boolean;
  /**
   * Default: every authenticated user is allowed everything. `false` → 403
   * Forbidden. `server` is the double itself, for authorizers that look at
   * stored objects (as the Node authorizer does).
   */
  authorize?: (
    attrs: RequestAttributes,
    user: UserInfo,
    server: ApiServer,
  ) => boolean;
  /** Answers SubjectAccessReviews. Default: allowed iff groups include `system:nodes` and the attributes ask to create certificatesigningrequests. */
  sarAuthorize?: (
    spec: SubjectAccessReviewSpec,
  ) => { allowed: boolean; reason?: string; denied?: boolean };
  /** Events kept per resource for watch-from-RV and exact-RV lists; older → 410 Expired. Default 1000. */
  watchCacheSize?: number;
  /** Interval of BOOKMARK events for watches that ask for them. Default 1000; 0 = never. */
  bookmarkIntervalMs?: number;
  /**
   * Lines buffered for one watcher that does not read before it is closed
   * cleanly, like the cacher terminates unresponsive watchers. Writes made
   * through the handle are synchronous bursts, so keep it above the burst
   * size. Default 100000.
   */
  watchQueueLimit?: number;
  /** `spec.clusterIP` of the `default/kubernetes` Service. Default "10.96.0.1". */
  serviceClusterIP?: string;
  /**
   * Send API Priority and Fairness' `X-Kubernetes-PF-FlowSchema-UID` and
   * `X-Kubernetes-PF-PriorityLevel-UID` on every authenticated answer, as
   * kube-apiserver (1.29+) does. Default true; false is a server without APF.
   */
  apfHeaders?: boolean;
  /**
   * NodeRestriction's CSR rule (a node creates kubelet CSRs only with its own
   * CN), as kube-apiserver 1.31+ enforces it. Default true; false plays a
   * cluster without it (older, or the AllowInsecureKubeletCertificateSigningRequests gate).
   */
  nodeRestriction?: boolean;
  /** Default "127.0.0.1". */
  hostname?: string;
  /** Default 0 (any free port). */
  port?: number;
}

/**
 * Mutable fault-injection knobs; set them at any time.
 *
 * @example
 * ```ts
 * import type { Faults } from "./types.ts";
 * const faults: Faults = {};
 * faults.intercept = () => new Response("{}", { status: 429, headers: { "retry-after": "1" } });
 * ```
 */
export interface Faults {
  /**
   * Called before authentication and handling; return a Response to answer
   * with it, `undefined` to proceed. Read `req.clone()` if you need the
   * body: the handler reads `req` afterwards.
   */
  intercept?: (
    req: Request,
    attrs: RequestAttributes,
  ) => Response | undefined | Promise<Response | undefined>;
  /** End each watch stream cleanly after N events (BOOKMARKs do not count). */
  watchCloseAfterEvents?: number;
  /** New watches send headers and then nothing until dropConnections/stop. */
  watchStall?: boolean;
  /** Send an ERROR event (410 Expired) after N events, then end the stream. */
  watchExpireAfterEvents?: number;
  /** After N events, write half of the next event's line, then end the stream cleanly. */
  watchHalfLineAfterEvents?: number;
  /** Answer the next N `/approval` PUTs with 409 Conflict even if the resourceVersion matches. */
  approvalConflicts?: number;
  /**
   * Answer every request (`true`), or those the function picks (e.g. one
   * client's, while others still get through), with 503 ServiceUnavailable.
   */
  unavailable?: boolean | ((attrs: RequestAttributes) => boolean);
}

/**
 * A Node as the double stores it (only the fields the approver reads).
 *
 * @example
 * ```ts
 * import type { NodeInput } from "./types.ts";
 * const node: NodeInput = { metadata: { name: "worker-1" }, status: { addresses: [{ type: "InternalIP", address: "10.0.0.1" }] } };
 * ```
 */
export interface NodeInput {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    [key: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: {
    addresses?: { type: string; address: string }[];
    [key: string]: unknown;
  };
}

/**
 * A running API server double.
 *
 * @example
 * ```ts
 * import { startApiServer } from "../api_server.ts";
 * await using server = await startApiServer();
 * console.log(server.url, server.currentResourceVersion());
 * ```
 */
export interface ApiServer extends AsyncDisposable {
  /** e.g. "https://127.0.0.1:PORT". */
  readonly url: string;
  /** PEM of the CA that signed the serving certificate ("" without TLS). */
  readonly caPem: string;
  /** Every request received, in arrival order. */
  readonly requests: RequestAttributes[];
  /** Called after each request is answered. */
  onRequest?: (attrs: RequestAttributes) => void;
  /** Mutable fault-injection knobs. */
  readonly faults: Faults;
  /** Replaces the bearer token table (token rotation). */
  setTokens(tokens: Record<string, UserInfo>): void;
  /** Adds (or replaces) one bearer token, keeping the others. */
  addToken(token: string, user: UserInfo): void;
  /**
   * Stores a CSR directly (no validation, no admission). Assigns
   * resourceVersion, and uid/creationTimestamp when absent; with `as`, sets
   * spec.username/uid/groups/extra from that identity like the apiserver.
   */
  createCsr(
    csr: CertificateSigningRequest,
    opts?: { as?: UserInfo },
  ): CertificateSigningRequest;
  getCsr(name: string): CertificateSigningRequest | undefined;
  listCsrs(): CertificateSigningRequest[];
  /** Replaces a stored CSR directly (keeps uid/creationTimestamp), bumps its RV, emits MODIFIED. */
  updateCsr(csr: CertificateSigningRequest): CertificateSigningRequest;
  deleteCsr(name: string): void;
  upsertNode(node: NodeInput): void;
  deleteNode(name: string): void;
  getNode(name: string): unknown;
  /** Stored events of both APIs, each in the shape of the API it was written through. */
  events(): unknown[];
  leases(): unknown[];
  /** The global resourceVersion (etcd's revision), as a string. */
  currentResourceVersion(): string;
  /** Forgets watch history and list snapshots: older RVs and continue tokens get 410 Expired. */
  compact(): void;
  /** Aborts every open watch stream (the client sees a broken connection); state is kept. */
  dropConnections(): void;
  /** Closes every stream and the listener. */
  stop(): Promise<void>;
  /**
   * Stops listening (dropping streams), keeps state, listens again on the
   * same port; with `downMs`, connections are refused for that long first.
   */
  restart(downMs?: number): Promise<void>;
  /** Number of open watch streams. */
  watchers(): number;
}
