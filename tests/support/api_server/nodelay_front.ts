/**
 * The double's listening socket, with `TCP_NODELAY` as kube-apiserver has it.
 *
 * Go sets `TCP_NODELAY` on every TCP connection, so kube-apiserver sends each
 * watch event the moment it is written. `Deno.serve` leaves Nagle's algorithm
 * on and has no option to turn it off: a small write (a watch event; a body
 * written after its headers) then waits until the previous one is
 * acknowledged, and the client delays that ACK by up to 40 ms. Measured on
 * this machine: 200 watch events of ~350 bytes, 5 ms apart, reached a
 * `fetch` client p50 0.5 ms and p99 30 ms late (max 40.7) straight from
 * `Deno.serve` over TLS, and p99 1.5 ms (max 1.8) through this front. In the
 * bench's 200/s storm that stall showed up as approvals p99 ~110 ms late.
 *
 * So the double serves plain HTTP on a Unix socket (no Nagle there), and this
 * front listens on TCP with `noDelay`, terminates TLS (`node:tls`; ALPN `h2`
 * then `http/1.1`, as kube-apiserver offers) and relays the bytes both ways.
 * A connection the double drops is dropped at the front too.
 *
 * @example
 * ```ts
 * import { startNoDelayFront } from "./nodelay_front.ts";
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/double.sock`;
 * const server = Deno.serve({ transport: "unix", path, onListen() {} }, () => new Response("ok"));
 * const front = await startNoDelayFront({ hostname: "127.0.0.1", port: 0, upstreamPath: path });
 * const res = await fetch(`http://127.0.0.1:${front.port}/`);
 * console.log(await res.text()); // "ok"
 * await front.close();
 * await server.shutdown();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */
import * as net from "node:net";
import * as tls from "node:tls";

/** Where the front listens and what it relays to. */
export interface NoDelayFrontOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  /** The Unix socket the double's `Deno.serve` listens on. */
  upstreamPath: string;
  /** PEM certificate and key: terminate TLS. Absent: relay plain HTTP. */
  tls?: { cert: string; key: string };
}

/** A listening front. */
export interface NoDelayFront {
  /** The TCP port clients connect to. */
  readonly port: number;
  /** Stops listening and drops every relayed connection. */
  close(): Promise<void>;
}

/**
 * Starts the front. Resolves once it listens.
 *
 * @example
 * Not run here: see the module example.
 * ```ts ignore
 * const front = await startNoDelayFront({ hostname: "127.0.0.1", port: 0, upstreamPath: "/tmp/x.sock" });
 * ```
 */
export async function startNoDelayFront(
  options: NoDelayFrontOptions,
): Promise<NoDelayFront> {
  const open = new Set<net.Socket>();
  const relay = (client: net.Socket) => {
    client.setNoDelay(true);
    const upstream = net.connect({ path: options.upstreamPath });
    open.add(client);
    open.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", drop);
    upstream.on("close", drop);
  };
  const server: net.Server = options.tls
    ? tls.createServer({
      cert: options.tls.cert,
      key: options.tls.key,
      ALPNProtocols: ["h2", "http/1.1"],
      noDelay: true,
    } as tls.TlsOptions, relay)
    : net.createServer({ noDelay: true } as net.ServerOpts, relay);
  // A client that fails its handshake is the client's problem, not the double's.
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    async close() {
      const closed = new Promise<void>((resolve) =>
        server.close(() => resolve())
      );
      for (const s of [...open]) s.destroy();
      open.clear();
      await closed;
    },
  };
}
