import { startHttpServer } from "../../../src/serve/http.ts";
import { assertEquals, assertMatch } from "../../support/assert.ts";

Deno.test("status endpoints answer 200/503 from the status interface", async () => {
  let ready = false;
  const server = startHttpServer({
    hostname: "127.0.0.1",
    port: 0,
    status: {
      healthy: () => true,
      ready: () => ready ? true : { ok: false, detail: "CSR cache not synced" },
      metrics: () => "# TYPE x counter\nx 1\n",
    },
  });
  const base = `http://127.0.0.1:${server.port}`;
  const get = async (p: string) => {
    const r = await fetch(base + p);
    return {
      status: r.status,
      body: await r.text(),
      type: r.headers.get("content-type"),
    };
  };
  try {
    assertEquals((await get("/healthz")).status, 200);
    const notReady = await get("/readyz");
    assertEquals(notReady.status, 503);
    assertMatch(notReady.body, /not synced/);
    ready = true;
    assertEquals((await get("/readyz")).status, 200);
    const m = await get("/metrics");
    assertEquals(m.body, "# TYPE x counter\nx 1\n");
    assertMatch(m.type ?? "", /^text\/plain; version=0\.0\.4/);
    assertEquals((await get("/nope")).status, 404);
    const post = await fetch(base + "/healthz", { method: "POST" });
    await post.body?.cancel();
    assertEquals(post.status, 405);
  } finally {
    await server.shutdown();
  }
});
