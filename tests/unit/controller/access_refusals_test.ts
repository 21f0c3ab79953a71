import { assertEquals } from "../../support/assert.ts";
import {
  rbacRequest,
  trackAccessRefusals,
} from "../../../src/controller/access_refusals.ts";
import type { Logger } from "../../../src/log.ts";

function recorder() {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (msg: string) => lines.push({ level, msg });
  const log = {
    error: at("error"),
    warn: at("warn"),
    info: at("info"),
    debug: at("debug"),
  } as unknown as Logger;
  return { lines, log };
}

const SAR = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
const APPROVAL =
  "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval";
const CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

Deno.test("requests are named as RBAC names them", () => {
  const cases: [string, string, string][] = [
    ["GET", CSRS, "list certificatesigningrequests"],
    ["WATCH", CSRS, "watch certificatesigningrequests"],
    ["GET", `${CSRS}/csr-1`, "get certificatesigningrequests"],
    ["PUT", APPROVAL, "update certificatesigningrequests/approval"],
    ["POST", SAR, "create subjectaccessreviews"],
    [
      "PUT",
      "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l",
      "update leases",
    ],
    [
      "POST",
      "/apis/coordination.k8s.io/v1/namespaces/ns/leases",
      "create leases",
    ],
    [
      "PATCH",
      "/apis/events.k8s.io/v1/namespaces/default/events/e",
      "patch events",
    ],
    ["GET", "/api/v1/nodes", "list nodes"],
  ];
  for (const [method, path, want] of cases) {
    const { verb, resource } = rbacRequest(method, path);
    assertEquals(`${verb} ${resource}`, want, `${method} ${path}`);
  }
});

Deno.test("a 403 is said once per permission, makes the daemon unready, and its recovery is said", () => {
  const { lines, log } = recorder();
  const access = trackAccessRefusals(log);
  for (let i = 0; i < 5; i++) {
    access.observe({
      method: "PUT",
      path: APPROVAL.replace("csr-1", `csr-${i}`),
      status: 403,
    });
  }
  access.observe({ method: "POST", path: SAR, status: 403 });
  assertEquals(access.refused(), [
    "update certificatesigningrequests/approval",
    "create subjectaccessreviews",
  ]);
  assertEquals(lines.filter((l) => l.level === "error").length, 2);
  assertEquals(
    lines[0].msg,
    "the API server forbids update certificatesigningrequests/approval (403 Forbidden): the approver's ServiceAccount lacks this RBAC permission (see deploy/base/rbac-approver.yaml); not ready, and nothing is approved while it is refused",
  );
  // Another request's success does not clear it; the same one's does.
  access.observe({ method: "POST", path: SAR, status: 201 });
  access.observe({ method: "GET", path: CSRS, status: 200 });
  assertEquals(access.refused(), [
    "update certificatesigningrequests/approval",
  ]);
  access.observe({ method: "PUT", path: APPROVAL, status: 200 });
  assertEquals(access.refused(), []);
  assertEquals(
    lines.filter((l) => l.level === "info").map((l) => l.msg),
    [
      "the API server allows create subjectaccessreviews again",
      "the API server allows update certificatesigningrequests/approval again",
    ],
  );
});

Deno.test("a 401 is said once and clears on any success; optional resources never count", () => {
  const { lines, log } = recorder();
  const access = trackAccessRefusals(log);
  access.observe({ method: "GET", path: CSRS, status: 401 });
  access.observe({ method: "WATCH", path: "/api/v1/nodes", status: 401 });
  assertEquals(access.refused(), ["credentials"]);
  assertEquals(lines.length, 1);
  assertEquals(lines[0].level, "error");
  access.observe({
    method: "POST",
    path: "/apis/events.k8s.io/v1/namespaces/default/events",
    status: 403,
  });
  access.observe({
    method: "GET",
    path: "/api/v1/namespaces/default/services/kubernetes",
    status: 403,
  });
  assertEquals(access.refused(), ["credentials"]);
  access.observe({ method: "GET", path: CSRS, status: 200 });
  assertEquals(access.refused(), []);
  assertEquals(lines.at(-1), {
    level: "info",
    msg: "the API server accepts this client's credentials again",
  });
  // Server errors and conflicts are not refusals.
  for (const status of [0, 404, 409, 429, 500, 503]) {
    access.observe({ method: "PUT", path: APPROVAL, status });
  }
  assertEquals(access.refused(), []);
});

Deno.test("a refusal nobody repeats goes stale: it stops making the daemon unready, and is said again if it comes back", () => {
  const { lines, log } = recorder();
  let t = 0;
  const access = trackAccessRefusals(log, undefined, {
    staleAfterMs: 1_000,
    now: () => t,
  });
  access.observe({ method: "PUT", path: APPROVAL, status: 403 });
  t = 900;
  // Retried within the window: still refused, not said again, window renewed.
  access.observe({ method: "PUT", path: APPROVAL, status: 403 });
  t = 1_800;
  assertEquals(access.refused(), [
    "update certificatesigningrequests/approval",
  ]);
  assertEquals(lines.filter((l) => l.level === "error").length, 1);
  t = 1_900;
  assertEquals(access.refused(), [], "not seen for 1 s: stale");
  // Refused again later: counts and is said again.
  access.observe({ method: "PUT", path: APPROVAL, status: 403 });
  assertEquals(access.refused(), [
    "update certificatesigningrequests/approval",
  ]);
  assertEquals(lines.filter((l) => l.level === "error").length, 2);
});
