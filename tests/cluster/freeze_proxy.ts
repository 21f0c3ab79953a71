/**
 * A byte-level TCP proxy on loopback that can be frozen: a frozen connection
 * forwards nothing in either direction, yet neither side is closed (no FIN,
 * no RST), as when a middlebox or a dead link drops every packet. TLS passes
 * through untouched, so a client pointed at the proxy still verifies the API
 * server's own certificate (it covers 127.0.0.1).
 *
 * `freeze()` freezes the connections open at that moment; connections opened
 * afterwards pass (unless `{ newConnections: true }`), so a client that
 * abandons a silent connection and dials again gets through, which is what
 * happens when one path of a load balancer or a NAT entry dies.
 *
 * While frozen the proxy stops reading from both sockets: bytes already read
 * are held and the kernel buffers fill, so the peers' writes eventually block
 * (zero window) instead of failing. Nothing reaches either side until `thaw()`.
 *
 * @module
 */

/** One proxied connection, for the test's report. */
export interface ProxiedConnection {
  id: number;
  /** `performance.now()` when it was accepted. */
  openedAt: number;
  frozen: boolean;
  closed: boolean;
  /** Bytes forwarded client → server and server → client. */
  up: number;
  down: number;
}

/** A running proxy. */
export interface FreezeProxy {
  port: number;
  /** `https://127.0.0.1:<port>`. */
  url: string;
  /**
   * Freezes every connection open now (and, with `newConnections`, every
   * one accepted until `thaw()`); returns how many were frozen.
   */
  freeze(options?: { newConnections?: boolean }): number;
  /** Lets every frozen connection forward again (held bytes first). */
  thaw(): void;
  connections(): ProxiedConnection[];
  close(): Promise<void>;
}

interface Link {
  info: ProxiedConnection;
  client: Deno.Conn;
  server: Deno.Conn;
  /** Resolves when the link may forward again. */
  gate: Promise<void> | undefined;
  open: (() => void) | undefined;
}

/** Starts a proxy from a free loopback port to `target`. */
export function startFreezeProxy(
  target: { hostname: string; port: number },
): FreezeProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const links = new Set<Link>();
  const all: ProxiedConnection[] = [];
  let freezeNew = false;
  let nextId = 1;
  let closing = false;
  const pumps: Promise<void>[] = [];

  const freezeLink = (link: Link) => {
    if (link.gate) return;
    link.info.frozen = true;
    link.gate = new Promise((r) => link.open = r);
  };
  const thawLink = (link: Link) => {
    link.info.frozen = false;
    const open = link.open;
    link.gate = undefined;
    link.open = undefined;
    open?.();
  };

  const shut = (link: Link) => {
    if (link.info.closed) return;
    link.info.closed = true;
    links.delete(link);
    try {
      link.client.close();
    } catch { /* closed */ }
    try {
      link.server.close();
    } catch { /* closed */ }
    // A pump parked at the gate then finds its socket closed and ends.
    thawLink(link);
  };

  /** Copies `from` → `to`, waiting at the gate before each read and write. */
  const pump = async (
    link: Link,
    from: Deno.Conn,
    to: Deno.Conn,
    count: (n: number) => void,
  ) => {
    const buf = new Uint8Array(64 * 1024);
    try {
      while (true) {
        while (link.gate) await link.gate;
        const n = await from.read(buf);
        if (n === null) break;
        // Bytes read just before a freeze are held until the thaw.
        while (link.gate) await link.gate;
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
        count(n);
      }
    } catch {
      // a side went away
    }
    // One side ended (or broke): end the whole link, as a NAT would.
    shut(link);
  };

  const accept = async () => {
    for await (const client of listener) {
      if (closing) {
        client.close();
        break;
      }
      let server: Deno.Conn;
      try {
        server = await Deno.connect(target);
      } catch {
        client.close();
        continue;
      }
      const info: ProxiedConnection = {
        id: nextId++,
        openedAt: performance.now(),
        frozen: false,
        closed: false,
        up: 0,
        down: 0,
      };
      all.push(info);
      const link: Link = {
        info,
        client,
        server,
        gate: undefined,
        open: undefined,
      };
      links.add(link);
      if (freezeNew) freezeLink(link);
      pumps.push(
        pump(link, client, server, (n) => info.up += n),
        pump(link, server, client, (n) => info.down += n),
      );
    }
  };
  const accepting = accept().catch(() => {});

  return {
    port,
    url: `https://127.0.0.1:${port}`,
    freeze(options = {}) {
      freezeNew = options.newConnections ?? false;
      let n = 0;
      for (const link of links) {
        if (!link.gate) n++;
        freezeLink(link);
      }
      return n;
    },
    thaw() {
      freezeNew = false;
      for (const link of links) thawLink(link);
    },
    connections: () => all.map((c) => ({ ...c })),
    async close() {
      closing = true;
      try {
        listener.close();
      } catch { /* closed */ }
      for (const link of [...links]) {
        thawLink(link);
        shut(link);
      }
      await accepting;
      await Promise.all(pumps);
    },
  };
}
