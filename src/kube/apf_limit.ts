/**
 * How the client's own rate limit is chosen: explicit `qps`/`burst` always
 * win; without them the limit follows the API server: none when its
 * answers carry API Priority and Fairness headers (the server protects
 * itself, as client-go does since 1.29 when APF is on), else client-go's
 * historical 20/30.
 *
 * Apart from the client because it is one decision with its own states
 * (undecided, apf, default), reported to the caller on each change.
 *
 * @module
 */
import {
  type AdaptiveRateLimiter,
  createAdaptiveRateLimiter,
  type RateLimit,
} from "./rate_limiter.ts";

/**
 * How the client-side limit was chosen:
 *
 * - `flags`: `qps`/`burst` were given (`qps` 0 = unlimited);
 * - `apf`: neither was given and the server's answers carry API Priority and
 *   Fairness headers: no client-side limit, the server protects itself;
 * - `default`: neither was given and the server's answers carry no APF
 *   headers (or none has been seen yet): {@linkcode FALLBACK_RATE_LIMIT}.
 */
export type RateLimitMode = "flags" | "apf" | "default";

/** The limit in force and why; `qps` 0 means unlimited. */
export interface RateLimitInfo extends RateLimit {
  mode: RateLimitMode;
  /** False only while the automatic mode waits for its first successful answer. */
  decided: boolean;
}

/** client-go's historical defaults, kept when the server has no APF. */
export const FALLBACK_RATE_LIMIT: Readonly<RateLimit> = { qps: 20, burst: 30 };

/** Response headers kube-apiserver's APF filter sets on every request it classifies. */
export const APF_HEADERS = [
  "x-kubernetes-pf-flowschema-uid",
  "x-kubernetes-pf-prioritylevel-uid",
] as const;

/** Whether a response went through API Priority and Fairness. */
export function hasApfHeaders(headers: Headers): boolean {
  return APF_HEADERS.some((h) => headers.has(h));
}

/** Options of {@linkcode createClientRateLimit}. */
export interface ClientRateLimitOptions {
  /** Requests per second; `<= 0` disables the limit. Neither this nor `burst`: automatic. */
  qps?: number;
  /** Token-bucket size. */
  burst?: number;
  /** Called with the limit in force: at creation, then on each automatic change. */
  onRateLimit?: (info: RateLimitInfo) => void;
}

/** The client's limiter and the rule that sets it. */
export interface ClientRateLimit {
  limiter: AdaptiveRateLimiter;
  /** The limit in force now. */
  info(): RateLimitInfo;
  /** Automatic mode: follows what a successful answer says about APF. */
  noteAnswer(headers: Headers): void;
}

/**
 * Creates the client's limiter; calls `onRateLimit` once with the limit at
 * creation.
 *
 * @example
 * ```ts
 * import { createClientRateLimit } from "./apf_limit.ts";
 * const limit = createClientRateLimit({});
 * limit.info().mode; // "default" (undecided)
 * limit.noteAnswer(new Headers({ "x-kubernetes-pf-flowschema-uid": "u" }));
 * limit.info().mode; // "apf"
 * ```
 */
export function createClientRateLimit(
  options: ClientRateLimitOptions,
): ClientRateLimit {
  const automatic = options.qps === undefined && options.burst === undefined;
  let info: RateLimitInfo = automatic
    ? { mode: "default", ...FALLBACK_RATE_LIMIT, decided: false }
    : {
      mode: "flags",
      qps: Math.max(0, options.qps ?? FALLBACK_RATE_LIMIT.qps),
      burst: options.burst ?? FALLBACK_RATE_LIMIT.burst,
      decided: true,
    };
  const limiter = createAdaptiveRateLimiter(info);
  options.onRateLimit?.({ ...info });
  let apfSeen: boolean | undefined;
  return {
    limiter,
    info: () => ({ ...info }),
    noteAnswer(headers) {
      if (!automatic) return;
      const apf = hasApfHeaders(headers);
      if (apf === apfSeen) return;
      apfSeen = apf;
      info = apf
        ? { mode: "apf", qps: 0, burst: 0, decided: true }
        : { mode: "default", ...FALLBACK_RATE_LIMIT, decided: true };
      limiter.setLimit(info);
      options.onRateLimit?.({ ...info });
    },
  };
}
