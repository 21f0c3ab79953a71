/**
 * The HTTP connections a client holds: two `Deno.HttpClient` pools built
 * from the connection's TLS material, one for requests and one for watches,
 * each retired and dialled afresh after two deadlines in a row.
 *
 * Watches get their own connection: multiplexed with requests on one HTTP/2
 * connection, their small frames hold requests back (Nagle's algorithm is
 * on in Deno's fetch, and the peer delays its ACKs).
 *
 * Deno's HTTP/2 pool has no PING health check: a connection that went
 * silent without closing (packets dropped) keeps taking new requests, each
 * ending at its deadline. Two deadlines in a row with no answer between
 * them retire the pool: the next request dials afresh (client-go pings and
 * closes such a connection for the same reason).
 *
 * Apart from the client because this is the transport's health, not the
 * API's: nothing here knows what a request asks.
 *
 * @module
 */
import { type ClusterConnection, ConfigError } from "./config.ts";
import { describeError } from "./error_response.ts";

/** Which pool: requests, or watches (streams). */
export type PoolKind = "request" | "stream";

/** A client's two pools. */
export interface HttpPools {
  /** The pool a request of `kind` goes through now. */
  get(kind: PoolKind): Deno.HttpClient;
  /** An answer came back through `kind`: its run of deadlines ends. */
  answered(kind: PoolKind): void;
  /** A request through `kind` hit its deadline; the second in a row retires the pool. */
  deadlineExceeded(kind: PoolKind): void;
  /** Closes both pools; later calls do nothing. */
  close(): void;
}

/**
 * Creates the pools for `connection`.
 *
 * @throws {ConfigError} when the TLS material is unusable.
 *
 * @example
 * ```ts
 * import { createHttpPools } from "./http_pool.ts";
 * const pools = createHttpPools({ server: "https://127.0.0.1:6443", source: "kubeconfig" } as never);
 * pools.get("request"); // a Deno.HttpClient
 * pools.close();
 * ```
 */
export function createHttpPools(connection: ClusterConnection): HttpPools {
  let make: () => Deno.HttpClient;
  const pools = {} as Record<PoolKind, Deno.HttpClient>;
  try {
    const tls: Deno.CreateHttpClientOptions = connection.caPem
      ? { caCerts: [connection.caPem] }
      : {};
    make = () =>
      connection.clientCertPem && connection.clientKeyPem
        ? Deno.createHttpClient({
          ...tls,
          cert: connection.clientCertPem,
          key: connection.clientKeyPem,
        })
        : Deno.createHttpClient(tls);
    pools.request = make();
    pools.stream = make();
  } catch (error) {
    throw new ConfigError(
      `${connection.source}: unusable TLS material: ${describeError(error)}`,
    );
  }
  const deadlinesInARow: Record<PoolKind, number> = { request: 0, stream: 0 };
  let closed = false;
  return {
    get: (kind) => pools[kind],
    answered(kind) {
      deadlinesInARow[kind] = 0;
    },
    deadlineExceeded(kind) {
      if (closed) return;
      if (++deadlinesInARow[kind] < 2) return;
      deadlinesInARow[kind] = 0;
      const old = pools[kind];
      try {
        pools[kind] = make();
      } catch {
        return; // keep the old pool rather than none
      }
      old.close();
    },
    close() {
      if (closed) return;
      closed = true;
      pools.request.close();
      pools.stream.close();
    },
  };
}
