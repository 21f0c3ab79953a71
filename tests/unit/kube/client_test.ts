import * as tls from "node:tls";
import fc from "fast-check";
import {
  ApiError,
  buildUrl,
  createKubeClient,
  isApiError,
  type KubeClientOptions,
} from "../../../src/kube/client.ts";
import { readLines } from "../../../src/kube/read_lines.ts";
import {
  type ClusterConnection,
  ConfigError,
  loadClusterConnection,
} from "../../../src/kube/config.ts";
import {
  fileTokenSource,
  staticTokenSource,
} from "../../../src/kube/token_source.ts";
import type { KubeClient } from "../../../src/kube/types.ts";
import { createTestCa } from "../../support/tls.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertThrows,
} from "../../support/assert.ts";

const ca = await createTestCa("client-test CA");
const otherCa = await createTestCa("some other CA");
const serverPair = await ca.issue({
  subject: "CN=apiserver",
  dnsNames: ["localhost"],
  ips: ["127.0.0.1", "::1"],
  server: true,
});
const admin = await ca.issue({
  subject: "O=system:masters, CN=admin",
  client: true,
});

/** Runs `fn` against a TLS `Deno.serve` on loopback port 0, then shuts it down. */
async function withServer(
  handler: (req: Request) => Response | Promise<Response>,
  fn: (server: string) => Promise<void>,
  hostname = "127.0.0.1",
): Promise<void> {
  const controller = new AbortController();
  const server = Deno.serve({
    hostname,
    port: 0,
    cert: serverPair.cert,
    key: serverPair.key,
    signal: controller.signal,
    onListen() {},
  }, handler);
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  try {
    await fn(`https://${host}:${server.addr.port}`);
  } finally {
    controller.abort();
    await server.finished;
  }
}

/** Creates a client, runs `fn`, closes the client. */
async function withClient(
  connection: ClusterConnection,
  fn: (client: KubeClient) => Promise<void>,
  options: KubeClientOptions = {},
): Promise<void> {
  const client = createKubeClient(connection, { qps: 0, ...options });
  try {
    await fn(client);
  } finally {
    client.close();
  }
}

const json = (
  value: unknown,
  status = 200,
  headers: Record<string, string> = {},
) =>
  new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

Deno.test("buildUrl encodes the query", () => {
  const cases: [
    Record<string, string | number | boolean | undefined> | undefined,
    string,
  ][] = [
    [undefined, "https://k:6443/api/v1/nodes"],
    [{}, "https://k:6443/api/v1/nodes"],
    [
      { watch: true, allowWatchBookmarks: false },
      "https://k:6443/api/v1/nodes?watch=true&allowWatchBookmarks=false",
    ],
    [
      { limit: 500, continue: undefined },
      "https://k:6443/api/v1/nodes?limit=500",
    ],
    [
      { fieldSelector: "spec.signerName=kubernetes.io/kubelet-serving" },
      "https://k:6443/api/v1/nodes?fieldSelector=spec.signerName%3Dkubernetes.io%2Fkubelet-serving",
    ],
    [{ continue: "a b&c" }, "https://k:6443/api/v1/nodes?continue=a+b%26c"],
  ];
  for (const [query, expected] of cases) {
    assertEquals(buildUrl("https://k:6443", "/api/v1/nodes", query), expected);
  }
  assertThrows(
    () => buildUrl("https://k", "api/v1"),
    TypeError,
    'must start with "/"',
  );
});

Deno.test("ApiError: message format and isApiError", () => {
  const error = new ApiError({
    method: "PUT",
    path: "/apis/x",
    status: 409,
    reason: "Conflict",
    message: "the object has been modified",
  });
  assertEquals(
    error.message,
    "PUT /apis/x: 409 Conflict: the object has been modified",
  );
  assert(
    isApiError(error) && isApiError(error, 409) && !isApiError(error, 404),
  );
  assert(!isApiError(new Error("x")));
});

Deno.test("request: method, headers, query, body", async (t) => {
  const seen: {
    method: string;
    url: string;
    headers: Headers;
    body: string;
  }[] = [];
  await withServer(async (req) => {
    seen.push({
      method: req.method,
      url: req.url,
      headers: new Headers(req.headers),
      body: await req.text(),
    });
    if (req.method === "DELETE") return new Response(null, { status: 200 });
    return json({ ok: req.method });
  }, async (server) => {
    const connection = {
      server: server + "/",
      caPem: ca.cert,
      tokenSource: staticTokenSource("t0k"),
      source: "test",
    };
    await withClient(connection, async (client) => {
      const cases: {
        name: string;
        req: Parameters<KubeClient["request"]>[0];
        result: unknown;
        url: string;
        contentType: string | null;
        body: string;
      }[] = [
        {
          name: "GET with query",
          req: {
            method: "GET",
            path: "/api/v1/nodes",
            query: { limit: 500, watch: false, continue: undefined },
          },
          result: { ok: "GET" },
          url: "/api/v1/nodes?limit=500&watch=false",
          contentType: null,
          body: "",
        },
        {
          name: "POST sends JSON",
          req: {
            method: "POST",
            path: "/apis/a/v1/things",
            body: { kind: "Thing", n: 1 },
          },
          result: { ok: "POST" },
          url: "/apis/a/v1/things",
          contentType: "application/json",
          body: '{"kind":"Thing","n":1}',
        },
        {
          name: "PATCH sends a merge patch",
          req: {
            method: "PATCH",
            path: "/apis/a/v1/things/x",
            body: { spec: { n: 2 } },
          },
          result: { ok: "PATCH" },
          url: "/apis/a/v1/things/x",
          contentType: "application/merge-patch+json",
          body: '{"spec":{"n":2}}',
        },
        {
          name: "empty 2xx body gives undefined",
          req: { method: "DELETE", path: "/apis/a/v1/things/x" },
          result: undefined,
          url: "/apis/a/v1/things/x",
          contentType: null,
          body: "",
        },
      ];
      for (const c of cases) {
        await t.step(c.name, async () => {
          const result = await client.request(c.req);
          assertEquals(result, c.result);
          const last = seen.at(-1)!;
          assertEquals(last.method, c.req.method);
          assertEquals(
            new URL(last.url).pathname + new URL(last.url).search,
            c.url,
          );
          assertEquals(last.headers.get("authorization"), "Bearer t0k");
          assertEquals(last.headers.get("accept"), "application/json");
          assertEquals(last.headers.get("content-type"), c.contentType);
          assertEquals(last.body, c.body);
        });
      }
      assertEquals(client.server, server, "trailing slash dropped");
    }, { userAgent: "unit-test/1" });
    assertEquals(seen[0].headers.get("user-agent"), "unit-test/1");
  });
});

Deno.test("request: non-2xx answers become ApiError", async (t) => {
  const cases: {
    name: string;
    response: () => Response;
    expect: Partial<Record<keyof ApiError, unknown>>;
  }[] = [
    {
      name: "Status body",
      response: () =>
        json({
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          message:
            'Operation cannot be fulfilled on certificatesigningrequests "csr-1": the object has been modified',
          reason: "Conflict",
          details: { name: "csr-1", kind: "certificatesigningrequests" },
          code: 409,
        }, 409),
      expect: {
        status: 409,
        reason: "Conflict",
        code: 409,
        details: { name: "csr-1", kind: "certificatesigningrequests" },
        retryAfterSeconds: undefined,
        message:
          'PUT /apis/x: 409 Conflict: Operation cannot be fulfilled on certificatesigningrequests "csr-1": the object has been modified',
      },
    },
    {
      name: "Status with retryAfterSeconds in details",
      response: () =>
        json({
          kind: "Status",
          status: "Failure",
          message: "storage is (re)initializing",
          reason: "TooManyRequests",
          details: { retryAfterSeconds: 3 },
          code: 429,
        }, 429),
      expect: { status: 429, reason: "TooManyRequests", retryAfterSeconds: 3 },
    },
    {
      name: "Retry-After header wins",
      response: () =>
        json(
          {
            kind: "Status",
            status: "Failure",
            reason: "TooManyRequests",
            details: { retryAfterSeconds: 3 },
          },
          429,
          {
            "retry-after": "7",
          },
        ),
      expect: { status: 429, reason: "TooManyRequests", retryAfterSeconds: 7 },
    },
    {
      name: "Status without reason gets the HTTP one",
      response: () =>
        json(
          { kind: "Status", status: "Failure", message: "nope", code: 404 },
          404,
        ),
      expect: {
        status: 404,
        reason: "NotFound",
        message: "PUT /apis/x: 404 NotFound: nope",
      },
    },
    {
      name: "non-JSON body is kept as text",
      response: () =>
        new Response("<html>\n<b>Bad Gateway</b>\n</html>", { status: 502 }),
      expect: {
        status: 502,
        reason: "InternalError",
        code: undefined,
        body: "<html>\n<b>Bad Gateway</b>\n</html>",
        message:
          "PUT /apis/x: 502 InternalError: <html> <b>Bad Gateway</b> </html>",
      },
    },
    {
      name: "2xx that is not JSON",
      response: () => new Response("hello", { status: 200 }),
      expect: {
        status: 200,
        reason: "InvalidResponse",
        message:
          'PUT /apis/x: 200 InvalidResponse: expected a JSON body, found "hello"',
      },
    },
  ];
  let current = cases[0];
  await withServer(() => current.response(), async (server) => {
    await withClient(
      { server, caPem: ca.cert, source: "test" },
      async (client) => {
        for (const c of cases) {
          current = c;
          await t.step(c.name, async () => {
            const error = await assertRejects(
              () =>
                client.request({ method: "PUT", path: "/apis/x", body: {} }),
              ApiError,
            ) as ApiError;
            assertEquals(error.method, "PUT");
            assertEquals(error.path, "/apis/x");
            for (const [key, value] of Object.entries(c.expect)) {
              assertEquals(error[key as keyof ApiError], value, key);
            }
          });
        }
      },
    );
  });
});

Deno.test("TLS: a server signed by another CA fails with UnknownIssuer", async () => {
  await withServer(() => json({}), async (server) => {
    await withClient(
      { server, caPem: otherCa.cert, source: "test" },
      async (client) => {
        const error = await assertRejects(
          () => client.request({ method: "GET", path: "/version" }),
          ApiError,
        ) as ApiError;
        assertEquals([error.status, error.reason], [0, "Transport"]);
        assertMatch(
          error.message,
          /^GET \/version: 0 Transport: fetch failed: .*UnknownIssuer/,
        );
      },
    );
  });
});

Deno.test("mTLS: the server sees the client certificate from a kubeconfig", async (t) => {
  // Deno.serve cannot ask for a client certificate; node:tls can, and reports the peer.
  const peers: string[] = [];
  const server = tls.createServer({
    cert: serverPair.cert,
    key: serverPair.key,
    ca: [ca.cert],
    requestCert: true,
    rejectUnauthorized: true,
  }, (socket) => {
    const subject = socket.getPeerCertificate().subject;
    peers.push(`O=${subject?.O}, CN=${subject?.CN}`);
    socket.end(
      'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{"ok":true}',
    );
  });
  // Track raw sockets: a refused handshake leaves one that server.close() would wait for.
  const sockets = new Set<{ destroy(): void }>();
  server.on(
    "connection",
    (socket: { destroy(): void; on(e: string, f: () => void): void }) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/admin.crt`, admin.cert);
    await Deno.writeTextFile(`${dir}/admin.key`, admin.key);
    const b64 = (s: string) => new TextEncoder().encode(s).toBase64();
    const kubeconfig = (user: string) => `
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:${port}
    certificate-authority-data: ${b64(ca.cert)}
users:
- name: u
  user: ${user}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
`;
    const cases = [
      {
        name: "client cert files",
        user: "{client-certificate: admin.crt, client-key: admin.key}",
        ok: true,
      },
      {
        name: "client cert data",
        user: `{client-certificate-data: ${b64(admin.cert)}, client-key-data: ${
          b64(admin.key)
        }}`,
        ok: true,
      },
      { name: "no client cert: handshake refused", user: "{}", ok: false },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        await Deno.writeTextFile(`${dir}/config`, kubeconfig(c.user));
        const connection = await loadClusterConnection({
          kubeconfig: `${dir}/config`,
          env: () => undefined,
        });
        await withClient(connection, async (client) => {
          const before = peers.length;
          if (c.ok) {
            assertEquals(
              await client.request({ method: "GET", path: "/version" }),
              { ok: true },
            );
            assertEquals(peers.slice(before), ["O=system:masters, CN=admin"]);
          } else {
            const error = await assertRejects(
              () => client.request({ method: "GET", path: "/version" }),
              ApiError,
            );
            assertMatch(error.message, /0 Transport: .*CertificateRequired/);
            assertEquals(
              peers.length,
              before,
              "no request reached the handler",
            );
          }
        });
      });
    }
  } finally {
    const closed = new Promise((resolve) => server.close(resolve));
    for (const socket of sockets) socket.destroy();
    await closed;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deadlines and caller aborts", async (t) => {
  const release = Promise.withResolvers<void>();
  await withServer(async () => {
    await release.promise;
    return json({ late: true });
  }, async (server) => {
    await withClient(
      { server, caPem: ca.cert, source: "test" },
      async (client) => {
        await t.step("a hanging server hits the deadline", async () => {
          const started = performance.now();
          const error = await assertRejects(
            () =>
              client.request({ method: "GET", path: "/hang", timeoutMs: 50 }),
            ApiError,
          ) as ApiError;
          assertEquals([error.status, error.reason], [0, "DeadlineExceeded"]);
          assertEquals(
            error.message,
            "GET /hang: 0 DeadlineExceeded: no answer within 50 ms",
          );
          assert(performance.now() - started < 2000, "returned promptly");
        });
        await t.step(
          "the client default deadline applies to streams (headers)",
          async () => {
            const error = await assertRejects(
              () => client.stream({ path: "/hang-watch" }),
              ApiError,
            ) as ApiError;
            assertEquals(error.reason, "DeadlineExceeded");
          },
        );
        await t.step(
          "a caller abort rejects with the AbortError, not an ApiError",
          async () => {
            const controller = new AbortController();
            setTimeout(() => controller.abort(), 20);
            const error = await assertRejects(
              () =>
                client.request({
                  method: "GET",
                  path: "/hang",
                  signal: controller.signal,
                }),
              DOMException,
            );
            assertEquals(error.name, "AbortError");
          },
        );
      },
      { timeoutMs: 60 },
    );
    release.resolve();
  });
});

Deno.test("bearer token: unreadable token file is a Transport ApiError", async () => {
  let requests = 0;
  await withServer(() => {
    requests++;
    return json({});
  }, async (server) => {
    const tokenSource = fileTokenSource("/nonexistent/token");
    await withClient(
      { server, caPem: ca.cert, tokenSource, source: "test" },
      async (client) => {
        const error = await assertRejects(
          () => client.request({ method: "GET", path: "/x" }),
          ApiError,
        ) as ApiError;
        assertEquals([error.status, error.reason], [0, "Transport"]);
        assertMatch(error.message, /reading token file \/nonexistent\/token/);
      },
    );
  });
  assertEquals(requests, 0);
});

Deno.test("in-cluster over IPv6: token rotation after maxAge and after a 401", async (t) => {
  const dir = await Deno.makeTempDir();
  const accepted = new Set(["sa-1"]);
  const seenTokens: string[] = [];
  let now = 0;
  try {
    await Deno.writeTextFile(`${dir}/ca.crt`, ca.cert);
    await Deno.writeTextFile(`${dir}/token`, "sa-1\n");
    const rotate = async (token: string) => {
      await Deno.writeTextFile(`${dir}/token.tmp`, `${token}\n`);
      await Deno.rename(`${dir}/token.tmp`, `${dir}/token`);
    };
    await withServer((req) => {
      const token = req.headers.get("authorization")?.replace(/^Bearer /, "") ??
        "";
      seenTokens.push(token);
      if (!accepted.has(token)) {
        return json({
          kind: "Status",
          status: "Failure",
          message: "Unauthorized",
          reason: "Unauthorized",
          code: 401,
        }, 401);
      }
      return json({ token });
    }, async (server) => {
      const port = new URL(server).port;
      const connection = await loadClusterConnection({
        env: (name) =>
          ({
            KUBERNETES_SERVICE_HOST: "::1",
            KUBERNETES_SERVICE_PORT: port,
          } as Record<string, string>)[name],
        serviceAccountDir: dir,
        now: () => now,
      });
      assertEquals(connection.server, `https://[::1]:${port}`);
      await withClient(connection, async (client) => {
        const get = () =>
          client.request<{ token: string }>({ method: "GET", path: "/api" });
        const steps: {
          name: string;
          act: () => void | Promise<void>;
          token?: string;
          sent: string[];
          status?: number;
        }[] = [
          {
            name: "first request uses the file's token",
            act: () => {},
            token: "sa-1",
            sent: ["sa-1"],
          },
          {
            name: "a rotated file is not re-read before maxAge",
            act: async () => {
              await rotate("sa-2");
              accepted.add("sa-2");
            },
            token: "sa-1",
            sent: ["sa-1"],
          },
          {
            name: "after maxAge the new token is sent",
            act: () => {
              now += 60_000;
            },
            token: "sa-2",
            sent: ["sa-2"],
          },
          {
            name: "a 401 re-reads the file at once and retries once",
            act: async () => {
              await rotate("sa-3");
              accepted.clear();
              accepted.add("sa-3");
            },
            token: "sa-3",
            sent: ["sa-2", "sa-3"],
          },
          {
            name: "a second 401 is returned, after exactly one retry",
            act: () => {
              accepted.clear();
            },
            status: 401,
            sent: ["sa-3", "sa-3"],
          },
        ];
        for (const step of steps) {
          await t.step(step.name, async () => {
            await step.act();
            const before = seenTokens.length;
            if (step.status) {
              const error = await assertRejects(get, ApiError) as ApiError;
              assertEquals([error.status, error.reason], [
                step.status,
                "Unauthorized",
              ]);
            } else {
              assertEquals(await get(), { token: step.token });
            }
            assertEquals(seenTokens.slice(before), step.sent);
          });
        }
      });
    }, "::1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rate limit applies to requests and stream openings", async () => {
  await withServer(() => json({}), async (server) => {
    await withClient(
      { server, caPem: ca.cert, source: "test" },
      async (client) => {
        // Measured from the first call: tokens refilled while the warm-up's
        // TLS handshake ran (slow on a loaded machine) would count otherwise.
        const started = performance.now();
        await client.request({ method: "GET", path: "/warm-up" }); // spends the one token
        for await (
          const _ of await client.stream({ path: "/watch" })
        ) { /* drain */ }
        await client.request({ method: "GET", path: "/x" });
        const elapsed = performance.now() - started;
        // Two more tokens at 25 qps: at least ~80 ms.
        assert(
          elapsed >= 70,
          `two throttled calls took only ${elapsed.toFixed(1)} ms`,
        );
      },
      { qps: 25, burst: 1 },
    );
  });
});

/** Splits `bytes` at the given cut positions. */
function cut(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((
    a,
    b,
  ) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    if (p > start) chunks.push(bytes.slice(start, p));
    start = Math.max(start, p);
  }
  return chunks;
}

Deno.test("readLines: any chunking gives the same lines (property)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.string({ unit: "binary", maxLength: 40 }), { maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      fc.boolean(),
      fc.boolean(),
      async (rawLines, cuts, trailingNewline, crlf) => {
        // Lone surrogates cannot survive UTF-8; normalise the expectation the same way.
        const lines = rawLines.map((l) =>
          new TextDecoder().decode(
            new TextEncoder().encode(l.replace(/[\r\n]/g, "")),
          )
        );
        const text = lines.join(crlf ? "\r\n" : "\n") +
          (trailingNewline ? "\n" : "");
        const chunks = cut(new TextEncoder().encode(text), cuts);
        const got: string[] = [];
        for await (const line of readLines(ReadableStream.from(chunks))) {
          got.push(line);
        }
        assertEquals(got, lines.filter((l) => l !== ""));
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("readLines: multi-byte characters split byte by byte, long lines", async (t) => {
  const cases: {
    name: string;
    text: string;
    chunking: (b: Uint8Array) => Uint8Array[];
    lines: string[];
  }[] = [
    {
      name: "every byte its own chunk",
      text: '{"n":"ñandú 🐧"}\n\n{"n":"日本"}',
      chunking: (b) => [...b].map((x) => Uint8Array.of(x)),
      lines: ['{"n":"ñandú 🐧"}', '{"n":"日本"}'],
    },
    {
      name: "a 1 MB line in 1000 chunks",
      text: "x".repeat(1_000_000) + "\nend\n",
      chunking: (b) =>
        Array.from(
          { length: Math.ceil(b.length / 1000) },
          (_, i) => b.slice(i * 1000, (i + 1) * 1000),
        ),
      lines: ["x".repeat(1_000_000), "end"],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const got: string[] = [];
      for await (
        const line of readLines(
          ReadableStream.from(c.chunking(new TextEncoder().encode(c.text))),
        )
      ) got.push(line);
      assertEquals(got, c.lines);
    });
  }
  await t.step("an over-long line is an error", async () => {
    const body = ReadableStream.from([
      new TextEncoder().encode("0123456789abc"),
    ]);
    await assertRejects(
      async () => {
        for await (const _ of readLines(body, { maxLineLength: 10 })) {
          /* drain */
        }
      },
      RangeError,
      "longer than 10",
    );
  });
});

Deno.test("stream: lines over TLS, errors, early exit and abort", async (t) => {
  const events = Array.from(
    { length: 50 },
    (_, i) => JSON.stringify({ type: "ADDED", object: { name: `ñ-${i}-🐧` } }),
  );
  const payload = new TextEncoder().encode(events.join("\n"));
  let cancelled = Promise.withResolvers<void>();
  await withServer((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/gone") {
      return json({
        kind: "Status",
        status: "Failure",
        message: "too old resource version: 1 (5)",
        reason: "Expired",
        code: 410,
      }, 410);
    }
    if (path === "/endless") {
      let i = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            await new Promise((r) => setTimeout(r, 1));
            controller.enqueue(new TextEncoder().encode(`{"i":${i++}}\n`));
          },
          cancel() {
            cancelled.resolve();
          },
        }),
      );
    }
    // Chunks of 1..13 bytes, cutting through multi-byte characters.
    const chunks: Uint8Array[] = [];
    for (
      let at = 0, step = 1;
      at < payload.length;
      at += step, step = (step % 13) + 1
    ) {
      chunks.push(payload.slice(at, at + step));
    }
    return new Response(ReadableStream.from(chunks));
  }, async (server) => {
    await withClient({
      server,
      caPem: ca.cert,
      tokenSource: staticTokenSource("t"),
      source: "test",
    }, async (client) => {
      await t.step(
        "all lines arrive intact, last one without newline",
        async () => {
          const got: string[] = [];
          for await (
            const line of await client.stream({
              path: "/watch",
              query: { watch: true },
            })
          ) got.push(line);
          assertEquals(got, events);
        },
      );
      await t.step(
        "a non-2xx answer rejects before the stream starts",
        async () => {
          const error = await assertRejects(
            () => client.stream({ path: "/gone" }),
            ApiError,
          ) as ApiError;
          assertEquals([error.status, error.reason, error.code], [
            410,
            "Expired",
            410,
          ]);
        },
      );
      await t.step("an early exit cancels the response body", async () => {
        cancelled = Promise.withResolvers<void>();
        const got: string[] = [];
        for await (const line of await client.stream({ path: "/endless" })) {
          got.push(line);
          if (got.length === 3) break;
        }
        assertEquals(got, ['{"i":0}', '{"i":1}', '{"i":2}']);
        const timer = Promise.withResolvers<string>();
        const id = setTimeout(() => timer.resolve("timeout"), 2000);
        const outcome = await Promise.race([
          cancelled.promise.then(() => "cancelled"),
          timer.promise,
        ]);
        clearTimeout(id);
        assertEquals(outcome, "cancelled", "the server saw the body cancelled");
      });
      await t.step(
        "a caller abort mid-stream throws the AbortError",
        async () => {
          cancelled = Promise.withResolvers<void>();
          const controller = new AbortController();
          const got: string[] = [];
          const error = await assertRejects(async () => {
            for await (
              const line of await client.stream({
                path: "/endless",
                signal: controller.signal,
              })
            ) {
              got.push(line);
              if (got.length === 2) controller.abort();
            }
          }, DOMException);
          assertEquals(error.name, "AbortError");
          await cancelled.promise;
        },
      );
    });
  });
});

Deno.test("createKubeClient refuses unusable connections", async (t) => {
  const cases: {
    name: string;
    connection: ClusterConnection;
    includes: string;
  }[] = [
    {
      name: "not a URL",
      connection: { server: "k8s:6443 x", source: "test" },
      includes: 'test: server: expected an https:// URL, found "k8s:6443 x"',
    },
    {
      name: "wrong scheme",
      connection: { server: "ftp://k8s", source: "test" },
      includes: "expected an https:// URL",
    },
    {
      name: "insecure-skip-tls-verify",
      connection: {
        server: "https://k8s",
        insecureSkipTlsVerify: true,
        source: "test",
      },
      includes: "insecure-skip-tls-verify is not supported",
    },
    {
      name: "certificate without key",
      connection: {
        server: "https://k8s",
        clientCertPem: admin.cert,
        source: "test",
      },
      includes: "found only the certificate",
    },
    {
      name: "garbage TLS material",
      connection: {
        server: "https://k8s",
        clientCertPem: "nope",
        clientKeyPem: "nope",
        source: "test",
      },
      includes: "test: unusable TLS material",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assertThrows(
        () => createKubeClient(c.connection).close(),
        ConfigError,
        c.includes,
      );
    });
  }
});
