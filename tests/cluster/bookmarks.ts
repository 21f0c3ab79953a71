/**
 * Measures kube-apiserver's BOOKMARK events on an idle watch: a CSR watch
 * with `allowWatchBookmarks=true` whose field selector matches nothing, so
 * that nothing but bookmarks ever arrives (the server sends bookmarks to
 * every watcher that allows them, whatever its selector), opened with the
 * admin certificate straight to the server.
 *
 * @module
 */
import { readLines } from "../../src/kube/read_lines.ts";
import type { ControlPlane } from "./control_plane.ts";

const CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

/** What one probe saw. */
export interface BookmarkProbeResult {
  /** `timeoutSeconds` sent, if any. */
  timeoutSeconds?: number;
  /** Seconds after the watch's response headers, one per BOOKMARK. */
  bookmarksAt: number[];
  /** Any other event (must stay empty: the watch is idle). */
  others: string[];
  /** Seconds from the headers to the end of the stream. */
  endedAt: number;
  /** Who ended it: the server (its timeout) or this probe (`stop()`). */
  endedBy: "server" | "client" | "error";
  error?: string;
}

/** A running probe. */
export interface BookmarkProbe {
  /** Resolves when the stream ends (the server's timeout or `stop()`). */
  result: Promise<BookmarkProbeResult>;
  /** Ends the watch from the client side. */
  stop(): void;
}

/** Opens one idle watch; it runs until the server's timeout or `stop()`. */
export async function startBookmarkProbe(
  cp: ControlPlane,
  options: { timeoutSeconds?: number } = {},
): Promise<BookmarkProbe> {
  const pki = `${cp.dir}/pki`;
  const http = Deno.createHttpClient({
    caCerts: [cp.servingCaPem],
    cert: await Deno.readTextFile(`${pki}/admin.crt`),
    key: await Deno.readTextFile(`${pki}/admin.key`),
  });
  const list = await cp.admin.request<
    { metadata: { resourceVersion: string } }
  >(
    "GET",
    `${CSRS}?limit=1`,
  );
  const query = new URLSearchParams({
    watch: "1",
    allowWatchBookmarks: "true",
    resourceVersion: list.body.metadata.resourceVersion,
    fieldSelector: "metadata.name=bookmark-probe-matches-nothing",
    ...(options.timeoutSeconds
      ? { timeoutSeconds: String(options.timeoutSeconds) }
      : {}),
  });
  const ctl = new AbortController();
  const res = await fetch(`${cp.server}${CSRS}?${query}`, {
    client: http,
    signal: ctl.signal,
  });
  if (res.status !== 200 || !res.body) {
    http.close();
    throw new Error(`bookmark probe: HTTP ${res.status}: ${await res.text()}`);
  }
  const t0 = performance.now();
  const since = () => (performance.now() - t0) / 1000;
  let stopped = false;
  const read = async (): Promise<BookmarkProbeResult> => {
    const out: BookmarkProbeResult = {
      timeoutSeconds: options.timeoutSeconds,
      bookmarksAt: [],
      others: [],
      endedAt: 0,
      endedBy: "server",
    };
    try {
      for await (const raw of readLines(res.body!)) {
        const line = raw.trim();
        if (!line) continue;
        const event = JSON.parse(line) as { type: string };
        if (event.type === "BOOKMARK") out.bookmarksAt.push(since());
        else out.others.push(line.slice(0, 200));
      }
    } catch (e) {
      if (!stopped) {
        out.endedBy = "error";
        out.error = String(e);
      }
    }
    if (stopped) out.endedBy = "client";
    out.endedAt = since();
    http.close();
    return out;
  };
  return {
    result: read(),
    stop() {
      stopped = true;
      ctl.abort();
    },
  };
}

/** `[59.8, 67.9]` → `"59.8 s, 67.9 s"`, and the intervals between them. */
export function describeBookmarks(r: BookmarkProbeResult): string {
  const at = r.bookmarksAt.map((s) => `${s.toFixed(1)} s`).join(", ");
  const gaps = r.bookmarksAt.slice(1).map((s, i) =>
    `${(s - r.bookmarksAt[i]).toFixed(1)} s`
  );
  return `timeoutSeconds=${
    r.timeoutSeconds ?? "unset"
  }: ${r.bookmarksAt.length} bookmarks at ${at || "-"}${
    gaps.length ? ` (intervals ${gaps.join(", ")})` : ""
  }; ended by the ${r.endedBy} at ${r.endedAt.toFixed(1)} s`;
}
