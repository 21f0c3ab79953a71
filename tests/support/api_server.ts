/**
 * An in-process Kubernetes API server double for tests, the `demo` task
 * and the benchmark. It speaks the real wire protocol strictly: Status
 * bodies, resourceVersion semantics (global etcd-like revision, exact and
 * not-older-than lists, continue tokens that expire, 410 on compacted
 * history), watch streams (synthetic ADDED, bookmarks, field-selector
 * transitions, ERROR events, timeouts), the CSR registry strategies and
 * validation, events and lease validation, SubjectAccessReviews, RBAC-style
 * authorization hooks and fault injection.
 *
 * The implementation lives in `api_server/`, one concept per file.
 *
 * @example
 * ```ts
 * import { startApiServer } from "./api_server.ts";
 * await using server = await startApiServer();
 * const client = Deno.createHttpClient({ caCerts: [server.caPem] });
 * const res = await fetch(`${server.url}/api/v1/nodes`, {
 *   client,
 *   headers: { authorization: "Bearer admin-token" },
 * });
 * console.log((await res.json()).kind); // "NodeList"
 * client.close();
 * ```
 *
 * @module
 */
export { startApiServer } from "./api_server/server.ts";
export { microTime } from "./api_server/time.ts";
export type {
  ApiServer,
  ApiServerOptions,
  Faults,
  NodeInput,
  RequestAttributes,
  SubjectAccessReviewSpec,
  UserInfo,
} from "./api_server/types.ts";
export type { Status } from "./api_server/status.ts";
