/**
 * Bearer-token sources. A service-account token is a file the kubelet
 * rewrites before it expires, so it must be re-read by path, as client-go's
 * `transport.NewCachedFileTokenSource` does (at most once a minute, and again
 * right after a 401).
 *
 * @module
 */

import { errorText } from "../util/error_text.ts";

/** Supplies the bearer token for each request. */
export interface TokenSource {
  /** The current token (may be cached). */
  token(): Promise<string>;
  /** Drops any cached token, e.g. after a 401, so the next call re-reads it. */
  invalidate(): void;
}

/** Thrown when a token cannot be obtained (unreadable or empty token file). */
export class TokenError extends Error {
  override name = "TokenError";
}

/**
 * A token source that always returns `token`; `invalidate()` does nothing.
 *
 * @example
 * ```ts
 * import { staticTokenSource } from "./token_source.ts";
 * const source = staticTokenSource("abc");
 * console.log(await source.token()); // "abc"
 * ```
 */
export function staticTokenSource(token: string): TokenSource {
  return {
    token: () => Promise.resolve(token),
    invalidate() {},
  };
}

/** Options of {@linkcode fileTokenSource}. */
export interface FileTokenSourceOptions {
  /** Re-read the file when the cached token is older than this (ms). Default 60 000. */
  maxAgeMs?: number;
  /** Clock in ms. Default `Date.now`. */
  now?: () => number;
  /** File reader. Default `Deno.readTextFile`. */
  readTextFile?: (path: string) => Promise<string>;
}

/**
 * A token read from `path`, cached for `maxAgeMs` and re-read by path (never
 * through a kept file descriptor: the kubelet swaps a `..data` symlink).
 * Surrounding whitespace is trimmed. Concurrent callers share one read.
 *
 * Failure semantics (as client-go): if a *periodic* re-read fails while a
 * token is cached, the cached token is returned; after `invalidate()` (or on
 * the first read) a failure rejects with a {@linkcode TokenError} naming the
 * path. An empty file counts as a failure.
 *
 * @example
 * ```ts
 * import { fileTokenSource } from "./token_source.ts";
 * const source = fileTokenSource("/var/run/secrets/kubernetes.io/serviceaccount/token", {
 *   readTextFile: () => Promise.resolve("token-from-disk\n"),
 * });
 * console.log(await source.token()); // "token-from-disk"
 * ```
 */
export function fileTokenSource(
  path: string,
  options: FileTokenSourceOptions = {},
): TokenSource {
  const maxAgeMs = options.maxAgeMs ?? 60_000;
  const now = options.now ?? Date.now;
  const readTextFile = options.readTextFile ?? Deno.readTextFile;
  let cached: { token: string; readAt: number } | undefined;
  let inflight: Promise<string> | undefined;

  async function read(): Promise<string> {
    const stale = cached;
    let text: string;
    try {
      text = await readTextFile(path);
    } catch (error) {
      if (stale) return stale.token;
      throw new TokenError(
        `reading token file ${path}: ${errorText(error)}`,
        { cause: error },
      );
    }
    const token = text.trim();
    if (token === "") {
      if (stale) return stale.token;
      throw new TokenError(
        `token file ${path} is empty; expected a bearer token`,
      );
    }
    cached = { token, readAt: now() };
    return token;
  }

  return {
    token() {
      if (cached && now() - cached.readAt < maxAgeMs) {
        return Promise.resolve(cached.token);
      }
      inflight ??= read().finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
    invalidate() {
      cached = undefined;
    },
  };
}
