/**
 * The daemon's HTTP endpoints: `/healthz`, `/readyz` and `/metrics`. It reads
 * state through a small status interface and knows nothing of controllers.
 *
 * @module
 */

/** What the endpoints report. */
export interface ServeStatus {
  /** Liveness: the process and its loops are not stuck. */
  healthy(): boolean | { ok: boolean; detail: string };
  /** Readiness: caches synced (and, when leading, watch running). */
  ready(): boolean | { ok: boolean; detail: string };
  /** Prometheus text exposition. */
  metrics(): string;
}

/** Options of {@linkcode startHttpServer}. */
export interface HttpServerOptions {
  hostname: string;
  port: number;
  status: ServeStatus;
  signal?: AbortSignal;
}

/** A listening server. */
export interface HttpServer {
  /** The bound port (useful with port 0). */
  port: number;
  hostname: string;
  /** Stops listening and waits for open requests. */
  shutdown(): Promise<void>;
}

function verdict(v: boolean | { ok: boolean; detail: string }) {
  return typeof v === "boolean" ? { ok: v, detail: v ? "ok" : "not ok" } : v;
}

/**
 * Serves the status endpoints.
 *
 * @example
 * ```ts
 * import { startHttpServer } from "./http.ts";
 * const server = startHttpServer({
 *   hostname: "127.0.0.1", port: 0,
 *   status: { healthy: () => true, ready: () => true, metrics: () => "" },
 * });
 * await server.shutdown();
 * ```
 */
export function startHttpServer(options: HttpServerOptions): HttpServer {
  const { status } = options;
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    signal: options.signal,
    onListen() {},
  }, (req) => {
    const url = new URL(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", {
        status: 405,
        headers: { allow: "GET, HEAD" },
      });
    }
    switch (url.pathname) {
      case "/healthz":
      case "/livez":
      case "/readyz": {
        const v = verdict(
          url.pathname === "/readyz" ? status.ready() : status.healthy(),
        );
        return new Response(v.ok ? "ok\n" : `${v.detail}\n`, {
          status: v.ok ? 200 : 503,
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      }
      case "/metrics":
        return new Response(status.metrics(), {
          headers: {
            "content-type": "text/plain; version=0.0.4; charset=utf-8",
          },
        });
      default:
        return new Response("not found\n", { status: 404 });
    }
  });
  const addr = server.addr as Deno.NetAddr;
  return {
    port: addr.port,
    hostname: addr.hostname,
    async shutdown() {
      await server.shutdown();
    },
  };
}
