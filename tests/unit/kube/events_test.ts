import { DEFAULT_REPORTING_CONTROLLER } from "../../../src/controller/csr_events.ts";
import {
  eventName,
  qualifiedNameError,
  truncateUtf8,
} from "../../../src/kube/event_fields.ts";
import {
  createEventRecorder,
  type EventInput,
  type EventRecorder,
  type EventRecorderOptions,
} from "../../../src/kube/events.ts";
import { microTime as formatMicroTime } from "../../../src/util/time.ts";
import { createKubeClient } from "../../../src/kube/client.ts";
import { staticTokenSource } from "../../../src/kube/token_source.ts";
import type { KubeClient } from "../../../src/kube/types.ts";
import { createLogger } from "../../../src/log.ts";
import { startApiServer } from "../../support/api_server.ts";
import type { ApiServer, ApiServerOptions } from "../../support/api_server.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertThrows,
} from "../../support/assert.ts";

// ---------------------------------------------------------------------------
// The API server double validates events.k8s.io/v1 strictly (MicroTime with
// six digits, qualified reportingController, length limits, series rules),
// so "stored by the double" means "a real apiserver would accept it".
// ---------------------------------------------------------------------------

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const SUBDOMAIN =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const T0 = new Date("2026-11-28T08:49:48.123Z");
const EVENTS_V1 = "/apis/events.k8s.io/v1/namespaces/default/events";
const encoder = new TextEncoder();
const bytes = (s: string) => encoder.encode(s).length;

interface StoredEvent {
  apiVersion: string;
  metadata: { name: string; namespace: string };
  [field: string]: unknown;
}

function csrEvent(name: string, overrides: Partial<EventInput> = {}) {
  return {
    regarding: {
      apiVersion: "certificates.k8s.io/v1",
      kind: "CertificateSigningRequest",
      name,
      uid: `uid-${name}`,
      resourceVersion: "42",
    },
    type: "Normal",
    reason: "Approved",
    action: "Approve",
    note: `approved kubelet serving certificate for ${name}`,
    ...overrides,
  } satisfies EventInput;
}

interface Fixture {
  api: ApiServer;
  client: KubeClient;
  recorder: EventRecorder;
  logs: { level: string; msg: string; [k: string]: unknown }[];
  clock: { now: Date };
  stored(): StoredEvent[];
  eventRequests(): { method: string; path: string; status: number }[];
  stop(): Promise<void>;
}

async function setup(
  options: Partial<EventRecorderOptions> = {},
  serverOptions: ApiServerOptions = {},
): Promise<Fixture> {
  const api = await startApiServer(serverOptions);
  const client = createKubeClient({
    server: api.url,
    caPem: api.caPem,
    tokenSource: staticTokenSource("admin-token"),
    source: "test",
  }, { qps: 0, maxRetryAfterMs: 20 }); // the recorder's own retries are tested here
  const logs: Fixture["logs"] = [];
  const clock = { now: T0 };
  const recorder = createEventRecorder({
    client,
    log: createLogger({
      level: "debug",
      format: "json",
      write: (l) => logs.push(JSON.parse(l)),
    }),
    reportingController: DEFAULT_REPORTING_CONTROLLER,
    reportingInstance: "kubelet-rubber-stamp-7d9f-abcde",
    now: () => clock.now,
    maxAttempts: 2,
    retryBaseMs: 5,
    retryMaxMs: 20,
    requestTimeoutMs: 2_000,
    ...options,
  });
  return {
    api,
    client,
    recorder,
    logs,
    clock,
    stored: () => api.events() as StoredEvent[],
    eventRequests: () =>
      api.requests.filter((r) => r.resource === "events").map((r) => ({
        method: r.method,
        path: r.path,
        status: r.status,
      })),
    async stop() {
      await recorder.close(1_000);
      client.close();
      await api.stop();
    },
  };
}

function statusResponse(code: number, reason: string, details = {}) {
  return new Response(
    JSON.stringify({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: `injected ${code}`,
      reason,
      details,
      code,
    }),
    { status: code, headers: { "content-type": "application/json" } },
  );
}

// --- pure helpers ----------------------------------------------------------

Deno.test("truncateUtf8 cuts on code point boundaries within the byte limit", async (t) => {
  const cases: {
    name: string;
    text: string;
    max: number;
    expected?: string;
  }[] = [
    {
      name: "short text is kept",
      text: "approved",
      max: 1024,
      expected: "approved",
    },
    {
      name: "exactly at the limit is kept",
      text: "a".repeat(1024),
      max: 1024,
      expected: "a".repeat(1024),
    },
    {
      name: "ascii over the limit",
      text: "a".repeat(1025),
      max: 1024,
      expected: "a".repeat(1021) + "…",
    },
    {
      name: "two-byte characters",
      text: "é".repeat(600),
      max: 1024,
      expected: "é".repeat(510) + "…",
    },
    {
      name: "surrogate pairs are never split",
      text: "x" + "😀".repeat(300),
      max: 1024,
    },
    {
      name: "three-byte characters",
      text: "€".repeat(400),
      max: 1024,
      expected: "€".repeat(340) + "…",
    },
    {
      name: "marker larger than the limit",
      text: "abcdef",
      max: 2,
      expected: "ab",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const out = truncateUtf8(c.text, c.max);
      if (c.expected !== undefined) assertEquals(out, c.expected);
      assert(bytes(out) <= c.max, `${bytes(out)} bytes > ${c.max}`);
      assert(
        !/[\uD800-\uDBFF]…?$/.test(out.replace(/…$/, "")),
        "lone high surrogate at the cut",
      );
      assert(
        c.text.startsWith(out.replace(/…$/, "")),
        "output is a prefix of the input",
      );
    });
  }
});

Deno.test("formatMicroTime always writes six fractional digits", () => {
  for (
    const [iso, expected] of [
      ["2026-11-28T08:49:48.123Z", "2026-11-28T08:49:48.123000Z"],
      ["2026-11-28T08:49:48.000Z", "2026-11-28T08:49:48.000000Z"],
      ["1999-01-01T00:00:00.999Z", "1999-01-01T00:00:00.999000Z"],
    ]
  ) {
    assertEquals(formatMicroTime(new Date(iso)), expected);
    assertMatch(formatMicroTime(new Date(iso)), MICRO_TIME);
  }
});

Deno.test("eventName gives <name>.<hex nanos> as a valid DNS subdomain", () => {
  const cases: [string, bigint, string | RegExp][] = [
    ["csr-abcde", 255n, "csr-abcde.ff"],
    ["node-csr-XyZ", 16n, "node-csr-xyz.10"],
    ["system:node:worker-1", 1n, "system-node-worker-1.1"],
    ["-.-", 1n, "event.1"],
    ["a".repeat(300), 0x1234n, /^a+\.1234$/],
  ];
  for (const [name, nanos, expected] of cases) {
    const out = eventName(name, nanos);
    if (typeof expected === "string") assertEquals(out, expected);
    else assertMatch(out, expected);
    assertMatch(out, SUBDOMAIN);
    assert(out.length <= 253, `${out.length} > 253`);
  }
});

Deno.test("qualifiedNameError accepts qualified names only", () => {
  const cases: [string, boolean][] = [
    [DEFAULT_REPORTING_CONTROLLER, true],
    ["example.com/kubelet-csr-approver", true],
    ["approver", true],
    ["a/b/c", false],
    ["/approver", false],
    ["Example.com/approver", false],
    ["example.com/", false],
    ["example.com/-approver", false],
    ["example.com/" + "a".repeat(64), false],
  ];
  for (const [value, valid] of cases) {
    assertEquals(qualifiedNameError(value) === undefined, valid, value);
  }
});

Deno.test("createEventRecorder refuses an invalid reportingController or an empty reportingInstance", () => {
  const base = {
    client: {} as KubeClient,
    log: createLogger({ write: () => {} }),
  };
  assertThrows(
    () =>
      createEventRecorder({
        ...base,
        reportingController: "kubelet rubber stamp",
        reportingInstance: "pod",
      }),
    TypeError,
    "reportingController",
  );
  assertThrows(
    () =>
      createEventRecorder({
        ...base,
        reportingController: DEFAULT_REPORTING_CONTROLLER,
        reportingInstance: "",
      }),
    TypeError,
    "reportingInstance",
  );
});

// --- against the API server double -----------------------------------------

Deno.test("an event is created in default with the exact events.k8s.io/v1 fields", async () => {
  const f = await setup();
  try {
    f.recorder.record(csrEvent("csr-abcde", {
      type: "Warning",
      reason: "SANNotOwnedByNode",
      action: "Deny",
      note: 'DNS name "evil.example" is not an address of node worker-1',
    }));
    await f.recorder.flush(2_000);
    const [event, ...rest] = f.stored();
    assertEquals(rest.length, 0, "exactly one event");
    assertMatch(event.metadata.name, /^csr-abcde\.[0-9a-f]+$/);
    assertEquals(
      event.metadata.name,
      `csr-abcde.${(BigInt(T0.getTime()) * 1_000_000n).toString(16)}`,
    );
    assertEquals(event.metadata.namespace, "default");
    assertEquals(event.apiVersion, "events.k8s.io/v1");
    assertEquals(event.eventTime, "2026-11-28T08:49:48.123000Z");
    assertMatch(event.eventTime as string, MICRO_TIME);
    assertEquals(event.regarding, {
      apiVersion: "certificates.k8s.io/v1",
      kind: "CertificateSigningRequest",
      name: "csr-abcde",
      uid: "uid-csr-abcde",
      resourceVersion: "42",
    });
    assertEquals(
      [event.type, event.reason, event.action, event.note],
      [
        "Warning",
        "SANNotOwnedByNode",
        "Deny",
        'DNS name "evil.example" is not an address of node worker-1',
      ],
    );
    assertEquals(event.reportingController, DEFAULT_REPORTING_CONTROLLER);
    assertEquals(event.reportingInstance, "kubelet-rubber-stamp-7d9f-abcde");
    assertEquals(event.series, undefined);
    assertEquals(f.eventRequests(), [
      { method: "POST", path: EVENTS_V1, status: 201 },
    ]);
    assertEquals(f.recorder.stats(), {
      sent: 1,
      failed: 0,
      dropped: 0,
      coalesced: 0,
      filtered: 0,
    });
  } finally {
    await f.stop();
  }
});

Deno.test("long notes are cut to 1024 bytes with … and accepted; long instance and reason too", async (t) => {
  const f = await setup({ reportingInstance: "p".repeat(300) });
  try {
    const notes = [
      ["ascii", "x".repeat(5000)],
      ["two-byte", "ü".repeat(2000)],
      ["emoji", "🔐".repeat(1000)],
    ];
    for (const [i, [, note]] of notes.entries()) {
      f.recorder.record(csrEvent(`csr-long-${i}`, {
        note,
        reason: "R".repeat(200),
      }));
    }
    await f.recorder.flush(2_000);
    assertEquals(f.recorder.stats().sent, 3);
    for (const [i, [name, note]] of notes.entries()) {
      await t.step(name, () => {
        const stored = f.stored().find((e) =>
          (e.regarding as { name: string }).name === `csr-long-${i}`
        );
        assert(stored, "stored");
        const got = stored.note as string;
        assert(got.endsWith("…"), "ends with …");
        assert(bytes(got) <= 1024, `${bytes(got)} bytes`);
        assert(bytes(got) > 1016, "cut no further than needed");
        assert(note.startsWith(got.slice(0, -1)), "a prefix of the note");
        assertEquals((stored.reason as string).length <= 128, true);
        assertEquals(stored.reportingInstance, "p".repeat(128));
      });
    }
  } finally {
    await f.stop();
  }
});

Deno.test("distinct events in the same millisecond get distinct accepted names", async () => {
  const f = await setup();
  try {
    for (const reason of ["Approved", "Denied", "Pending"]) {
      f.recorder.record(csrEvent("csr-same", { reason, action: reason }));
    }
    await f.recorder.flush(2_000);
    const names = f.stored().map((e) => e.metadata.name);
    assertEquals(names.length, 3);
    assertEquals(new Set(names).size, 3);
  } finally {
    await f.stop();
  }
});

Deno.test("record() never throws or waits, whatever the API server does", async (t) => {
  const scenarios: {
    name: string;
    arrange: (f: Fixture) => Promise<void> | void;
    /** Expected event requests the server saw (undefined: not checked). */
    requests?: number;
    failed: number;
  }[] = [
    {
      name: "500 to every event request: retried, then given up",
      arrange: (f) => {
        f.api.faults.intercept = (_req, attrs) =>
          attrs.resource === "events"
            ? statusResponse(500, "InternalError")
            : undefined;
      },
      requests: 6, // 3 events × maxAttempts 2
      failed: 3,
    },
    {
      name: "429 with Retry-After: retried with a capped delay",
      arrange: (f) => {
        f.api.faults.intercept = (_req, attrs) =>
          attrs.resource === "events"
            ? new Response(
              JSON.stringify({
                kind: "Status",
                status: "Failure",
                reason: "TooManyRequests",
                code: 429,
              }),
              { status: 429, headers: { "retry-after": "30" } },
            )
            : undefined;
      },
      requests: 6,
      failed: 3,
    },
    {
      name: "unavailable (503 to everything)",
      arrange: (f) => {
        f.api.faults.unavailable = true;
      },
      requests: 6,
      failed: 3,
    },
    {
      name: "422 Invalid: not retried",
      arrange: (f) => {
        f.api.faults.intercept = (_req, attrs) =>
          attrs.resource === "events"
            ? statusResponse(422, "Invalid")
            : undefined;
      },
      requests: 3,
      failed: 3,
    },
    {
      name: "API server stopped (connection refused)",
      arrange: async (f) => {
        await f.api.stop();
      },
      failed: 3,
    },
  ];
  for (const s of scenarios) {
    await t.step(s.name, async () => {
      const f = await setup();
      try {
        await s.arrange(f);
        const started = performance.now();
        for (let i = 0; i < 3; i++) {
          f.recorder.record(csrEvent(`csr-${i}`));
        }
        const elapsed = performance.now() - started;
        // Nothing was even sent yet: record() only queued.
        assertEquals(f.eventRequests().length, 0);
        assert(elapsed < 50, `record() took ${elapsed} ms`);
        await f.recorder.flush(3_000);
        const stats = f.recorder.stats();
        assertEquals(
          [stats.sent, stats.failed, stats.dropped],
          [0, s.failed, 0],
        );
        if (s.requests !== undefined) {
          assertEquals(f.eventRequests().length, s.requests);
        }
        assertEquals(f.stored().length, 0);
      } finally {
        await f.stop();
      }
    });
  }
});

Deno.test("403 (missing RBAC) is warned about once, not per event, and not retried", async () => {
  const f = await setup({}, {
    authorize: (attrs) => attrs.resource !== "events",
  });
  try {
    for (let i = 0; i < 4; i++) f.recorder.record(csrEvent(`csr-${i}`));
    await f.recorder.flush(2_000);
    assertEquals(f.recorder.stats().failed, 4);
    assertEquals(f.eventRequests().map((r) => r.status), [403, 403, 403, 403]);
    const warnings = f.logs.filter((l) =>
      l.level === "warn" && l.msg.includes("forbidden")
    );
    assertEquals(warnings.length, 1);
    assertMatch(warnings[0].msg, /grant create and patch on events/);
  } finally {
    await f.stop();
  }
});

Deno.test("record() survives malformed input and counts it as dropped", async () => {
  const f = await setup();
  try {
    const bad = [
      null,
      { ...csrEvent("x"), regarding: undefined },
      { ...csrEvent("x"), type: "Error" },
      csrEvent("x", { reason: "" }),
    ] as unknown as EventInput[];
    for (const input of bad) f.recorder.record(input);
    await f.recorder.flush(1_000);
    assertEquals(f.recorder.stats(), {
      sent: 0,
      failed: 0,
      dropped: 4,
      coalesced: 0,
      filtered: 0,
    });
    assertEquals(f.eventRequests().length, 0);
  } finally {
    await f.stop();
  }
});

Deno.test("the queue is bounded: beyond maxQueue events are dropped and counted, never blocking", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const f = await setup({ maxQueue: 3, concurrency: 1 });
  try {
    f.api.faults.intercept = async (_req, attrs) => {
      if (attrs.resource === "events") await gate;
      return undefined;
    };
    for (let i = 0; i < 10; i++) f.recorder.record(csrEvent(`csr-q${i}`));
    // Workers start on a microtask, so all 10 met a full queue of 3.
    assertEquals(f.recorder.stats().dropped, 7);
    const loud = f.logs.filter((l) =>
      l.level === "warn" && l.msg.includes("queue full")
    );
    assertEquals(loud.length, 1, "the 1st drop is loud, the next 6 are debug");
    release();
    await f.recorder.flush(2_000);
    assertEquals(f.recorder.stats(), {
      sent: 3,
      failed: 0,
      dropped: 7,
      coalesced: 0,
      filtered: 0,
    });
    assertEquals(
      f.stored().map((e) => (e.regarding as { name: string }).name).sort(),
      ["csr-q0", "csr-q1", "csr-q2"],
    );
  } finally {
    release();
    await f.stop();
  }
});

Deno.test("a repeated identical event becomes a series PATCH on the same object", async () => {
  const f = await setup({ dedupeWindowMs: 60_000 });
  try {
    const event = csrEvent("csr-rep", {
      type: "Normal",
      reason: "WaitingForNodeAddresses",
      action: "Wait",
      note: "node worker-1 has no addresses yet",
    });
    f.recorder.record(event);
    await f.recorder.flush(2_000);
    f.clock.now = new Date(T0.getTime() + 5_000);
    f.recorder.record(event);
    await f.recorder.flush(2_000);
    f.clock.now = new Date(T0.getTime() + 9_000);
    f.recorder.record(event);
    await f.recorder.flush(2_000);

    const [stored, ...rest] = f.stored();
    assertEquals(rest.length, 0, "one object for the whole series");
    assertEquals(stored.series, {
      count: 3,
      lastObservedTime: "2026-11-28T08:49:57.123000Z",
    });
    assertEquals(stored.eventTime, "2026-11-28T08:49:48.123000Z");
    const name = stored.metadata.name;
    assertEquals(f.eventRequests(), [
      { method: "POST", path: EVENTS_V1, status: 201 },
      { method: "PATCH", path: `${EVENTS_V1}/${name}`, status: 200 },
      { method: "PATCH", path: `${EVENTS_V1}/${name}`, status: 200 },
    ]);
    assertEquals(f.recorder.stats(), {
      sent: 3,
      failed: 0,
      dropped: 0,
      coalesced: 2,
      filtered: 0,
    });
  } finally {
    await f.stop();
  }
});

Deno.test("repeats queued before the first write are folded into one create with a series", async () => {
  const f = await setup();
  try {
    for (let i = 0; i < 5; i++) f.recorder.record(csrEvent("csr-burst"));
    await f.recorder.flush(2_000);
    const [stored, ...rest] = f.stored();
    assertEquals(rest.length, 0);
    assertEquals((stored.series as { count: number }).count, 5);
    assertEquals(f.eventRequests().map((r) => r.method), ["POST"]);
    assertEquals(f.recorder.stats().coalesced, 4);
  } finally {
    await f.stop();
  }
});

Deno.test("what is not identical, or is outside the window, is a new event", async (t) => {
  const cases: {
    name: string;
    window?: number;
    second: EventInput;
    advanceMs: number;
  }[] = [
    {
      name: "different note",
      second: csrEvent("csr-d", { note: "another reason" }),
      advanceMs: 1_000,
    },
    {
      name: "different uid (a recreated CSR of the same name)",
      second: {
        ...csrEvent("csr-d"),
        regarding: { ...csrEvent("csr-d").regarding, uid: "uid-2" },
      },
      advanceMs: 1_000,
    },
    {
      name: "outside the window",
      window: 10_000,
      second: csrEvent("csr-d"),
      advanceMs: 10_001,
    },
    {
      name: "dedupe disabled",
      window: 0,
      second: csrEvent("csr-d"),
      advanceMs: 1,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const f = await setup({ dedupeWindowMs: c.window ?? 60_000 });
      try {
        f.recorder.record(csrEvent("csr-d"));
        await f.recorder.flush(2_000);
        f.clock.now = new Date(T0.getTime() + c.advanceMs);
        f.recorder.record(c.second);
        await f.recorder.flush(2_000);
        assertEquals(f.stored().length, 2);
        assertEquals(f.eventRequests().map((r) => r.method), ["POST", "POST"]);
        assertEquals(f.recorder.stats().coalesced, 0);
      } finally {
        await f.stop();
      }
    });
  }
});

Deno.test("a series whose event was deleted (TTL) is created again", async () => {
  const f = await setup();
  try {
    f.recorder.record(csrEvent("csr-ttl"));
    await f.recorder.flush(2_000);
    const first = f.stored()[0].metadata.name;
    await f.client.request({ method: "DELETE", path: `${EVENTS_V1}/${first}` });
    f.clock.now = new Date(T0.getTime() + 1_000);
    f.recorder.record(csrEvent("csr-ttl"));
    await f.recorder.flush(2_000);
    const [stored, ...rest] = f.stored();
    assertEquals(rest.length, 0);
    assert(stored.metadata.name !== first, "a fresh name");
    assertEquals((stored.series as { count: number }).count, 2);
    assertEquals(
      f.eventRequests().map((r) => `${r.method} ${r.status}`),
      ["POST 201", "DELETE 200", "PATCH 404", "POST 201"],
    );
    assertEquals(f.recorder.stats().failed, 0);
  } finally {
    await f.stop();
  }
});

Deno.test("a name collision (409 AlreadyExists) is retried under a new name", async () => {
  const f = await setup();
  try {
    const taken = `csr-dup.${(BigInt(T0.getTime()) * 1_000_000n).toString(16)}`;
    await f.client.request({
      method: "POST",
      path: EVENTS_V1,
      body: {
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        metadata: { name: taken, namespace: "default" },
        eventTime: formatMicroTime(T0),
        reportingController: "someone.example/else",
        reportingInstance: "other",
        action: "Other",
        reason: "Other",
        type: "Normal",
        regarding: { apiVersion: "v1", kind: "Node", name: "n" },
      },
    });
    f.recorder.record(csrEvent("csr-dup"));
    await f.recorder.flush(2_000);
    const ours = f.stored().filter((e) =>
      e.reportingController === DEFAULT_REPORTING_CONTROLLER
    );
    assertEquals(ours.length, 1);
    assert(ours[0].metadata.name !== taken, "renamed");
    assertEquals(
      f.eventRequests().map((r) => r.status),
      [201, 409, 201],
    );
  } finally {
    await f.stop();
  }
});

Deno.test("without events.k8s.io (old cluster) it falls back to core/v1 events", async () => {
  const f = await setup();
  try {
    f.api.faults.intercept = (_req, attrs) =>
      attrs.apiGroup === "events.k8s.io"
        ? statusResponse(404, "NotFound")
        : undefined;
    f.recorder.record(csrEvent("csr-old", { note: "approved" }));
    await f.recorder.flush(2_000);
    f.clock.now = new Date(T0.getTime() + 2_000);
    f.recorder.record(csrEvent("csr-old", { note: "approved" }));
    await f.recorder.flush(2_000);
    const [stored, ...rest] = f.stored();
    assertEquals(rest.length, 0);
    assertEquals(stored.apiVersion, "v1");
    assertEquals(stored.metadata.namespace, "default");
    assertEquals(stored.involvedObject, csrEvent("csr-old").regarding);
    assertEquals(
      [stored.reason, stored.message, stored.type, stored.count],
      ["Approved", "approved", "Normal", 2],
    );
    assertEquals(stored.source, { component: DEFAULT_REPORTING_CONTROLLER });
    assertEquals(stored.firstTimestamp, "2026-11-28T08:49:48Z");
    assertEquals(stored.lastTimestamp, "2026-11-28T08:49:50Z");
    assertEquals(
      f.eventRequests().map((r) => `${r.method} ${r.path} ${r.status}`),
      [
        `POST ${EVENTS_V1} 404`,
        "POST /api/v1/namespaces/default/events 201",
        `PATCH /api/v1/namespaces/default/events/${stored.metadata.name} 200`,
      ],
    );
    assertEquals(f.recorder.stats().failed, 0);
  } finally {
    await f.stop();
  }
});

Deno.test("events about a namespaced object go to its namespace; the namespace option changes the default", async () => {
  const f = await setup({ namespace: "kube-system" });
  try {
    f.recorder.record(csrEvent("csr-ks"));
    f.recorder.record({
      regarding: {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        name: "kubelet-rubber-stamp",
        namespace: "ops",
      },
      type: "Warning",
      reason: "StormGuard",
      action: "Pause",
      note: "too many pending CSRs",
    });
    await f.recorder.flush(2_000);
    assertEquals(
      f.stored().map((e) => e.metadata.namespace).sort(),
      ["kube-system", "ops"],
    );
  } finally {
    await f.stop();
  }
});

Deno.test("close() stops retries promptly, drops the rest, refuses new events and leaves no timers", async () => {
  const f = await setup({ retryBaseMs: 60_000, retryMaxMs: 60_000 });
  try {
    f.api.faults.unavailable = true;
    f.recorder.record(csrEvent("csr-c1"));
    f.recorder.record(csrEvent("csr-c2"));
    // Let the first attempts fail and the retry sleeps begin.
    while (f.eventRequests().length < 2) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const started = performance.now();
    await f.recorder.close(50);
    const elapsed = performance.now() - started;
    assert(elapsed < 1_000, `close took ${elapsed} ms`);
    f.recorder.record(csrEvent("csr-after"));
    assertEquals(f.recorder.stats(), {
      sent: 0,
      failed: 0,
      dropped: 3,
      coalesced: 0,
      filtered: 0,
    });
    await f.recorder.close(); // idempotent
  } finally {
    await f.stop();
  }
});

Deno.test("flush() on an idle recorder resolves at once and close() with nothing queued is quick", async () => {
  const f = await setup();
  try {
    const started = performance.now();
    await f.recorder.flush(10_000);
    await f.recorder.close(10_000);
    assert(performance.now() - started < 100, "no waiting when idle");
  } finally {
    await f.stop();
  }
});
