/**
 * A bad day for the API server, end to end: throttling, server errors,
 * conflicts, failing authorization checks, outages and a rotated token.
 * Whatever the server does, every valid CSR is approved exactly once and
 * nothing invalid ever is. (Watch-stream faults: watch_faults_test.ts.)
 */
import {
  failure as statusFailure,
  statusResponse,
} from "../support/api_server/status.ts";
import type { DaemonDeps } from "../../src/cli/daemon.ts";
import { loadClusterConnection } from "../../src/kube/config.ts";
import type { ApiServer } from "../support/api_server.ts";
import type { RequestAttributes } from "../support/api_server/types.ts";
import { assert, assertEquals } from "../support/assert.ts";
import {
  APPROVER_USER,
  conditionOf,
  createKubeletCsr,
  deployRbacAuthorizers,
  type Fixture,
  startFixture,
} from "../support/fixture.ts";

// ---------------------------------------------------------------------------
// Scenario CSRs and the outcome every scenario asserts.

interface Batch {
  valid: string[];
  invalid: string[];
}

/**
 * `n` valid kubelet requests (each with its own Node) and, unless
 * `invalid: false`, two invalid ones: a URI SAN, and a node asking for
 * another node's certificate (its Node exists and matches the SANs: only the
 * requester's identity is wrong).
 */
async function createBatch(
  api: ApiServer,
  prefix: string,
  n: number,
  opts: { invalid?: boolean; backDoor?: string } = {},
): Promise<Batch> {
  const { backDoor } = opts;
  const valid: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = `${prefix}-${i}`;
    await createKubeletCsr(api, {
      name,
      node: `${prefix}-node-${i}`,
      backDoor,
    });
    valid.push(name);
  }
  const invalid: string[] = [];
  if (opts.invalid !== false) {
    await createKubeletCsr(api, {
      name: `${prefix}-bad-uri`,
      node: `${prefix}-uri-node`,
      uris: ["https://evil.example"],
      backDoor,
    });
    // Impossible through the API where NodeRestriction's CSR rule is on
    // (1.31+): injected, as a cluster without it would hold it.
    await createKubeletCsr(api, {
      name: `${prefix}-bad-impostor`,
      node: `${prefix}-victim`,
      username: `system:node:${prefix}-attacker`,
      backDoor: backDoor ??
        "a node's CSR for another node's CN: NodeRestriction refuses it (1.31+); a cluster without that rule holds it",
    });
    invalid.push(`${prefix}-bad-uri`, `${prefix}-bad-impostor`);
  }
  return { valid, invalid };
}

function merge(...batches: Batch[]): Batch {
  return {
    valid: batches.flatMap((b) => b.valid),
    invalid: batches.flatMap((b) => b.invalid),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until every valid CSR of `b` has an approval write. */
async function untilApproved(f: Fixture, b: Batch, timeoutMs = 20_000) {
  await f.until(
    () => {
      const w = f.approvalWrites();
      return b.valid.every((n) => w.has(n));
    },
    timeoutMs,
    `approval of ${b.valid.length} valid CSRs`,
  );
}

/**
 * The invariant of every scenario: each valid CSR has exactly one successful
 * approval write and exactly one Approved condition; each invalid one was
 * decided and never approved (Denied exactly once with `denied`, else left
 * untouched); no other CSR was written. Write attempts count too: exactly
 * one per written CSR, plus one per answer the test injected into that
 * CSR's approval writes (`seen`), and none for the untouched ones.
 */
async function assertOutcome(
  f: Fixture,
  b: Batch,
  opts: { denied?: boolean; seen?: Seen[] } = {},
) {
  // Let any duplicate write that is still in flight land before counting.
  await sleep(250);
  await f.until(
    () => b.invalid.every((n) => f.reconciled.some((r) => r.name === n)),
    10_000,
    "every invalid CSR decided",
  );
  const writes = f.approvalWrites();
  const attempts = f.approvalAttempts();
  const injected = (name: string) =>
    (opts.seen ?? []).filter((s) =>
      s.kind === "approval" && s.attrs.name === name && s.injected
    ).length;
  for (const name of [...b.valid, ...(opts.denied ? b.invalid : [])]) {
    assertEquals(
      attempts.get(name),
      1 + injected(name),
      `${name}: approval write attempts (${injected(name)} injected failures)`,
    );
  }
  for (const name of b.valid) {
    assertEquals(writes.get(name), 1, `${name}: approval writes`);
    const approved = (f.api.getCsr(name)?.status?.conditions ?? []).filter((
      c,
    ) => c.type === "Approved");
    assertEquals(approved.length, 1, `${name}: Approved conditions`);
  }
  for (const name of b.invalid) {
    const csr = f.api.getCsr(name);
    assertEquals(
      conditionOf(csr, "Approved"),
      undefined,
      `${name} must never be approved`,
    );
    if (opts.denied) {
      assertEquals(writes.get(name), 1, `${name}: denial writes`);
      assertEquals(
        conditionOf(csr, "Denied")?.status,
        "True",
        `${name} denied`,
      );
    } else {
      assertEquals(
        attempts.get(name),
        undefined,
        `${name} must not be written`,
      );
      assertEquals(csr?.status?.conditions ?? [], [], `${name} untouched`);
    }
  }
  const known = new Set([...b.valid, ...b.invalid]);
  for (const name of attempts.keys()) {
    assert(known.has(name), `unexpected write to ${name}`);
  }
}

// ---------------------------------------------------------------------------
// Request recording and deterministic fault injection.

type Kind = "list" | "watch" | "sar" | "approval" | "get" | "other";

/** One request as the injector saw it (before it was handled). */
interface Seen {
  seq: number;
  /** `performance.now()` on arrival; the daemon runs in this process too. */
  at: number;
  kind: Kind;
  /** What identifies a retry of the same request: verb + path, or the SAR's user. */
  key: string;
  /** The double's record; `status` is filled in once answered. */
  attrs: RequestAttributes;
  /** Status of the injected answer, if the request was not handled. */
  injected?: number;
}

function kindOf(a: RequestAttributes): Kind {
  if (a.resource === "subjectaccessreviews") return "sar";
  if (a.subresource === "approval") return "approval";
  if (a.resource === "events") return "other";
  if (a.verb === "list") return "list";
  if (a.verb === "watch") return "watch";
  if (a.verb === "get" && a.resource === "certificatesigningrequests") {
    return "get";
  }
  return "other";
}

/** mulberry32: a tiny seeded PRNG, so a failing run can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Records every request and answers it with `decide`'s Response when that
 * returns one. Returns the record (arrival order).
 */
function inject(
  api: ApiServer,
  decide: (s: Seen) => Response | undefined,
): Seen[] {
  const seen: Seen[] = [];
  api.faults.intercept = async (req, attrs) => {
    const kind = kindOf(attrs);
    let key = `${attrs.verb} ${attrs.path}`;
    if (kind === "sar") {
      const body = await req.clone().json().catch(() => ({}));
      key = `sar ${body?.spec?.user ?? "?"}`;
    }
    const s: Seen = {
      seq: seen.length,
      at: performance.now(),
      kind,
      key,
      attrs,
    };
    seen.push(s);
    const res = decide(s);
    if (res) s.injected = res.status;
    return res;
  };
  return seen;
}

/**
 * Injects into about `rate` of the requests of `kinds`, and always into the
 * first request of each kind (so every kind is exercised), but never more
 * than `maxInARow` times in a row for one key, and with `oncePer` at most
 * once per group of keys (so the scenario stays short).
 */
function sometimes(opts: {
  kinds: Kind[];
  rate: number;
  seed: number;
  maxInARow: number;
  oncePer?: (s: Seen) => string;
  respond: (s: Seen, n: number) => Response;
}): (s: Seen) => Response | undefined {
  const random = prng(opts.seed);
  const streak = new Map<string, number>();
  const hitKinds = new Set<Kind>();
  const hitGroups = new Set<string>();
  let n = 0;
  return (s) => {
    if (!opts.kinds.includes(s.kind)) return undefined;
    const inARow = streak.get(s.key) ?? 0;
    const group = opts.oncePer?.(s);
    const first = !hitKinds.has(s.kind);
    if (
      inARow >= opts.maxInARow ||
      (group !== undefined && hitGroups.has(group)) ||
      !(first || random() < opts.rate)
    ) {
      streak.delete(s.key);
      return undefined;
    }
    hitKinds.add(s.kind);
    if (group !== undefined) hitGroups.add(group);
    streak.set(s.key, inARow + 1);
    return opts.respond(s, n++);
  };
}

/** A `metav1.Status` failure as the apiserver sends it. */
/** An injected error, as the real API server would answer it. */
function failure(
  code: number,
  reason: string,
  message: string,
  retryAfterSeconds?: number,
): Response {
  return retryAfterSeconds === undefined
    ? statusResponse(statusFailure(code, reason, message))
    : statusResponse(
      statusFailure(code, reason, message, { retryAfterSeconds }),
      { "retry-after": String(retryAfterSeconds) },
    );
}

const injectedKinds = (seen: Seen[]) =>
  new Set(seen.filter((s) => s.injected).map((s) => s.kind));

/**
 * Each approval write of a CSR must follow a SubjectAccessReview for its
 * requester that was answered (not failed): the last SAR for that user
 * before the write succeeded. An approval on an authorization error fails it.
 */
function assertApprovedOnlyAfterAnsweredSar(
  f: Fixture,
  seen: Seen[],
  valid: string[],
) {
  for (const name of valid) {
    const user = f.api.getCsr(name)!.spec.username;
    const write = seen.find((s) =>
      s.kind === "approval" && s.attrs.path.includes(`/${name}/`) &&
      s.attrs.status === 200
    );
    assert(write, `${name}: approval write recorded`);
    const lastSar = seen.filter((s) =>
      s.kind === "sar" && s.key === `sar ${user}` && s.seq < write.seq
    ).at(-1);
    assert(lastSar, `${name}: a SubjectAccessReview preceded the approval`);
    assertEquals(
      lastSar.injected,
      undefined,
      `${name}: the SAR right before the approval was not a failure`,
    );
    assertEquals(lastSar.attrs.status, 201, `${name}: that SAR was answered`);
  }
}

// ---------------------------------------------------------------------------

Deno.test("fault: 429 with Retry-After on a third of requests; every retry waits at least Retry-After", async () => {
  let seen: Seen[] = [];
  let pre!: Batch;
  const f = await startFixture({
    retriedApprovalWrites: true,
    async before(api) {
      seen = inject(
        api,
        sometimes({
          kinds: ["list", "watch", "sar", "approval"],
          rate: 1 / 3,
          seed: 429,
          maxInARow: 1,
          // One throttle per CSR (its review or its write): Retry-After
          // delays add up along a CSR's requests, and the test must stay short.
          oncePer: (s) =>
            s.kind === "sar"
              ? s.key.slice("sar ".length)
              : s.kind === "approval"
              ? api.getCsr(s.attrs.name)?.spec.username ?? s.key
              : s.key,
          respond: () =>
            failure(
              429,
              "TooManyRequests",
              "Too many requests, please try again later.",
              1,
            ),
        }),
      );
      pre = await createBatch(api, "pre", 3);
    },
  });
  try {
    // Created at once, so that their throttled retries overlap the backlog's.
    const live = await createBatch(f.api, "live", 3, { invalid: false });
    await untilApproved(f, merge(pre, live));
    await assertOutcome(f, merge(pre, live), { seen });

    // Every kind was throttled at least once, and came back.
    for (const kind of ["list", "watch", "sar", "approval"] as const) {
      assert(injectedKinds(seen).has(kind), `a ${kind} got a 429`);
    }
    let retried = 0;
    for (const s of seen.filter((s) => s.injected === 429)) {
      const next = seen.find((n) => n.seq > s.seq && n.key === s.key);
      if (!next) continue;
      retried++;
      const waited = next.at - s.at;
      // Timers never fire early; 5 ms of slack for clock rounding only.
      assert(
        waited >= 995,
        `${s.key}: retried ${
          waited.toFixed(0)
        } ms after a 429 with Retry-After: 1 (expected >= 1000 ms)`,
      );
    }
    assert(
      retried >= 4,
      `at least 4 throttled requests were retried (${retried})`,
    );
  } finally {
    await f.stop();
  }
});

Deno.test("fault: 500 and 503 on a third of lists, watches, SubjectAccessReviews and approval writes", async () => {
  let seen: Seen[] = [];
  const f = await startFixture({
    retriedApprovalWrites: true,
    before(api) {
      seen = inject(
        api,
        sometimes({
          kinds: ["list", "watch", "sar", "approval"],
          rate: 1 / 3,
          seed: 500,
          maxInARow: 2,
          respond: (_s, n) =>
            n % 2 === 0
              ? failure(500, "InternalError", "Internal error occurred: etcd")
              : failure(
                503,
                "ServiceUnavailable",
                "The server is currently unable to handle the request",
              ),
        }),
      );
    },
  });
  try {
    const pre = await createBatch(f.api, "pre", 4);
    await untilApproved(f, pre);
    const live = await createBatch(f.api, "live", 6, { invalid: false });
    await untilApproved(f, live);
    const all = merge(pre, live);
    await assertOutcome(f, all, { seen });
    for (const kind of ["list", "watch", "sar", "approval"] as const) {
      assert(injectedKinds(seen).has(kind), `a ${kind} failed with 500/503`);
    }
    assert(
      seen.some((s) => s.injected === 500) &&
        seen.some((s) => s.injected === 503),
      "both 500 and 503 were injected",
    );
    assertApprovedOnlyAfterAnsweredSar(f, seen, all.valid);
  } finally {
    await f.stop();
  }
});

Deno.test("fault: the first approval write of each CSR is answered 409 Conflict", async () => {
  let seen: Seen[] = [];
  const f = await startFixture({
    flags: ["--deny-invalid"],
    retriedApprovalWrites: true,
    before(api) {
      const conflicted = new Set<string>();
      seen = inject(api, (s) => {
        if (s.kind !== "approval" || conflicted.has(s.key)) return undefined;
        conflicted.add(s.key);
        const name = s.attrs.name;
        return failure(
          409,
          "Conflict",
          `Operation cannot be fulfilled on certificatesigningrequests.certificates.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        );
      });
    },
  });
  try {
    const pre = await createBatch(f.api, "pre", 3);
    await untilApproved(f, pre);
    const live = await createBatch(f.api, "live", 4);
    await untilApproved(f, live);
    const all = merge(pre, live);
    await assertOutcome(f, all, { denied: true, seen });
    for (const name of [...all.valid, ...all.invalid]) {
      assertEquals(
        f.approvalAttempts().get(name),
        2,
        `${name}: the refused attempt and the one after the re-read`,
      );
    }
    for (const name of [...all.valid, ...all.invalid]) {
      const mine = seen.filter((s) =>
        s.attrs.name === name &&
        (s.kind === "approval" || s.kind === "get")
      );
      const conflict = mine.findIndex((s) => s.injected === 409);
      assert(conflict >= 0, `${name}: the first write got a 409`);
      assertEquals(
        mine.filter((s) => s.injected === 409).length,
        1,
        `${name}: one conflict`,
      );
      const reread = mine.findIndex((s, i) => i > conflict && s.kind === "get");
      const written = mine.findIndex((s) =>
        s.kind === "approval" && s.attrs.status === 200
      );
      assert(
        reread > conflict && written > reread,
        `${name}: re-read after the conflict, then written (${
          mine.map((s) => `${s.kind}:${s.injected ?? s.attrs.status}`).join(" ")
        })`,
      );
    }
  } finally {
    await f.stop();
  }
});

Deno.test("fault: failing SubjectAccessReviews never approve; mixed with denials, impostors and a review that never recovers", async () => {
  const rbac = await deployRbacAuthorizers();
  let seen: Seen[] = [];
  const sarFailures = new Map<string, number>();
  const f = await startFixture({
    api: {
      ...rbac,
      // RBAC as deployed, except that one node's permission was revoked.
      sarAuthorize: (spec) =>
        spec.user === "system:node:mix-revoked-node"
          ? { allowed: false, reason: "permission revoked" }
          : rbac.sarAuthorize!(spec),
    },
    before(api) {
      seen = inject(api, (s) => {
        if (s.kind !== "sar") return undefined;
        // Every requester's first two reviews fail; one requester's always do.
        const n = (sarFailures.get(s.key) ?? 0) + 1;
        sarFailures.set(s.key, n);
        if (n <= 2 || s.key === "sar system:node:mix-broken-node") {
          return failure(500, "InternalError", "authorizer: webhook timed out");
        }
        return undefined;
      });
    },
  });
  try {
    const batch = await createBatch(f.api, "mix", 4);
    await createKubeletCsr(f.api, {
      name: "mix-broken",
      node: "mix-broken-node",
    });
    await createKubeletCsr(f.api, {
      name: "mix-revoked",
      node: "mix-revoked-node",
    });
    await untilApproved(f, batch);
    await f.until(
      () =>
        (sarFailures.get("sar system:node:mix-broken-node") ?? 0) >= 4 &&
        f.reconciled.some((r) =>
          r.name === "mix-revoked" &&
          r.result.decision?.reason === "Unauthorized"
        ),
      10_000,
      "the broken review retried, the revoked node decided",
    );
    await assertOutcome(f, {
      valid: batch.valid,
      invalid: [...batch.invalid, "mix-broken", "mix-revoked"],
    });
    assertApprovedOnlyAfterAnsweredSar(f, seen, batch.valid);
    for (const name of batch.valid) {
      const user = f.api.getCsr(name)!.spec.username;
      assert(
        (sarFailures.get(`sar ${user}`) ?? 0) >= 3,
        `${name}: approved only after two failed reviews and a good one`,
      );
    }
    // The broken review was retried, each time left pending with the error,
    // never mistaken for a denial.
    const broken = f.reconciled.filter((r) => r.name === "mix-broken");
    assert(broken.length >= 3, `mix-broken retried (${broken.length})`);
    for (const r of broken) {
      assertEquals(r.result.action, "left-pending");
      assertEquals(r.result.decision?.reason, "AuthorizationError");
    }
  } finally {
    await f.stop();
  }
});

// ---------------------------------------------------------------------------
// Outages.

/** Requests in `api.requests[from..]` of `verb` on `resource`. */
function count(
  api: ApiServer,
  from: number,
  pred: (r: RequestAttributes) => boolean,
): number {
  return api.requests.slice(from).filter(pred).length;
}

/**
 * Most retries one watch or one CSR may make in `ms` with the fixture's
 * backoff (20 ms doubling to 200 ms, jittered up to 2x for watches): the
 * ramp-up fits in 5 attempts, then one per 200 ms at most. Retrying in a
 * loop makes several times more, bounded only by the client's rate limit.
 */
const maxAttempts = (ms: number) => 5 + Math.ceil(ms / 200);

const isList = (resource: string) => (r: RequestAttributes) =>
  r.verb === "list" && r.resource === resource;
const isWatch = (resource: string) => (r: RequestAttributes) =>
  r.verb === "watch" && r.resource === resource;

Deno.test("fault: every request of the daemon answered 503 for ~1 s; recovers without a relist or retry storm", async () => {
  let pre!: Batch;
  const f = await startFixture({
    before: async (api) => {
      pre = await createBatch(api, "pre", 2);
    },
  });
  try {
    await untilApproved(f, pre);
    // Open watches still deliver, so the new CSRs are seen and their reviews
    // fail; halfway the connections drop and the watches must come back too.
    const mark = f.api.requests.length;
    const began = performance.now();
    // Down for the daemon; the kubelets still create their CSRs (through
    // another API server replica, as it were).
    f.api.faults.unavailable = (a) => a.user === APPROVER_USER;
    const during = await createBatch(f.api, "u503", 3);
    await sleep(500);
    f.api.dropConnections();
    await sleep(500);
    // On a loaded machine the re-watch may take longer than half a second.
    const hitOutage = () => {
      const seen = f.api.requests.slice(mark);
      return seen.some((r) => r.status === 503 && r.verb === "watch") &&
        seen.some((r) =>
          r.status === 503 && r.resource === "subjectaccessreviews"
        );
    };
    await f.until(hitOutage, 5_000, "watches and reviews answered 503");
    const outage = f.api.requests.slice(mark);
    f.api.faults.unavailable = false;
    const attempts = maxAttempts(performance.now() - began);
    await untilApproved(f, during);
    await assertOutcome(f, merge(pre, during));
    assert(
      outage.some((r) => r.status === 503 && r.verb === "watch") &&
        outage.some((r) =>
          r.status === 503 && r.resource === "subjectaccessreviews"
        ),
      "watches and reviews did hit the outage",
    );
    // Each watch and each CSR retried with backoff, not in a loop (that
    // only the client's rate limit would bound).
    for (const resource of ["certificatesigningrequests", "nodes"]) {
      const watches = outage.filter(isWatch(resource)).length;
      assert(
        watches <= attempts,
        `${resource}: ${watches} watches in the outage (at most ${attempts})`,
      );
    }
    const sars = outage.filter((r) => r.resource === "subjectaccessreviews");
    assert(
      sars.length <= 3 * attempts,
      `${sars.length} reviews for 3 CSRs in the outage (at most ${
        3 * attempts
      })`,
    );
    // The history is still there: the watches resume from their
    // resourceVersion (as client-go's reflector does); a relist would fetch
    // every object again from a server that is just recovering.
    for (const resource of ["certificatesigningrequests", "nodes"]) {
      const lists = count(f.api, mark, isList(resource));
      assertEquals(lists, 0, `${resource}: relists after the outage`);
    }
  } finally {
    await f.stop();
  }
});

Deno.test("fault: the API server is down for ~1 s (connections refused), restarts with its state; recovers without a relist or retry storm", async () => {
  let pre!: Batch;
  const f = await startFixture({
    before: async (api) => {
      pre = await createBatch(api, "pre", 2);
    },
  });
  try {
    await untilApproved(f, pre);
    const mark = f.api.requests.length;
    const logMark = f.logs.length;
    const began = performance.now();
    const restarted = f.api.restart(1000);
    await sleep(100);
    const whileDown = await createBatch(f.api, "down", 3, {
      backDoor:
        "created while this API server is down: through another replica, whose etcd the double's kept state stands for",
    });
    await restarted;
    const attempts = maxAttempts(performance.now() - began);
    await untilApproved(f, whileDown);
    await assertOutcome(f, merge(pre, whileDown));
    const failures = f.logs.slice(logMark).filter((l) =>
      /"msg":"watch failed"/.test(l)
    );
    assert(
      failures.some((l) => /Transport/.test(l)),
      `the refused connections were noticed:\n${failures.join("\n")}`,
    );
    // Both reflectors retried with backoff while refused, not in a loop.
    assert(
      failures.length <= 2 * attempts,
      `${failures.length} failed watches while down (at most ${2 * attempts})`,
    );
    for (const resource of ["certificatesigningrequests", "nodes"]) {
      // The state (and the watch history) survived: resume, no relist.
      const lists = count(f.api, mark, isList(resource));
      assertEquals(lists, 0, `${resource}: relists after the restart`);
      const watches = count(f.api, mark, isWatch(resource));
      assert(watches <= 10, `${resource}: ${watches} watches after it`);
    }
  } finally {
    await f.stop();
  }
});

// ---------------------------------------------------------------------------
// Credentials.

Deno.test("fault: the service-account token is rotated on disk and the old one rejected with 401", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sa-" });
  const user = {
    username: APPROVER_USER,
    groups: [
      "system:serviceaccounts",
      "system:serviceaccounts:kubelet-rubber-stamp",
    ],
  };
  // As the kubelet does: write aside, then rename over (atomic).
  const writeToken = async (token: string) => {
    await Deno.writeTextFile(`${dir}/token.tmp`, token);
    await Deno.rename(`${dir}/token.tmp`, `${dir}/token`);
  };
  const deps: Partial<DaemonDeps> = {};
  let pre!: Batch;
  const f = await startFixture({
    api: { tokens: { "token-1": user } },
    deps,
    async before(api) {
      await Deno.writeTextFile(`${dir}/ca.crt`, api.caPem);
      await Deno.writeTextFile(`${dir}/namespace`, "kubelet-rubber-stamp");
      await writeToken("token-1\n");
      const port = new URL(api.url).port;
      // The fixture spreads `deps` after this hook: an in-cluster connection
      // that reads the token file by path, as in a pod.
      deps.connection = await loadClusterConnection({
        env: (name) =>
          ({
            KUBERNETES_SERVICE_HOST: "127.0.0.1",
            KUBERNETES_SERVICE_PORT: port,
          })[name],
        serviceAccountDir: dir,
      });
      pre = await createBatch(api, "pre", 2);
    },
  });
  try {
    assertEquals(
      f.logs.some((l) => l.includes('"config":"in-cluster"')),
      true,
      "the daemon runs on the in-cluster connection",
    );
    await untilApproved(f, pre);

    // 1. The kubelet rotates the file, then the old token stops working.
    await writeToken("token-2\n");
    f.api.setTokens({ "token-2": user });
    const mark1 = f.api.requests.length;
    const rotated = await createBatch(f.api, "rot", 3, { invalid: false });
    await untilApproved(f, rotated);
    const after1 = f.api.requests.slice(mark1);
    assert(
      after1.some((r) => r.status === 401),
      "the old token was presented and rejected",
    );
    assert(
      after1.some((r) => r.status === 200 && r.user === APPROVER_USER),
      "then requests authenticate with the new token",
    );

    // 2. Worse: the old token is revoked before the file is rewritten.
    // Requests fail until the new token lands on disk, then recover.
    f.api.setTokens({ "token-3": user });
    const mark2 = f.api.requests.length;
    const revoked = await createBatch(f.api, "rev", 3);
    await f.until(
      () => count(f.api, mark2, (r) => r.status === 401) >= 2,
      10_000,
      "401s while the file still holds the revoked token",
    );
    assertEquals(
      revoked.valid.filter((n) => f.approvalWrites().has(n)),
      [],
      "nothing written without a valid token",
    );
    await writeToken("token-3");
    await untilApproved(f, revoked);
    await assertOutcome(f, merge(pre, rotated, revoked));
  } finally {
    await f.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
