/**
 * Latency statistics for the benchmark: nearest-rank percentiles and a
 * summary of a sample. Pure.
 *
 * @module
 */

/**
 * The `p`-th percentile (0 < p ≤ 100) of `values` by the nearest-rank
 * method: the smallest value with at least p% of the sample at or below it.
 * Nearest-rank never interpolates, so every reported figure is one that was
 * actually measured (p100 is the maximum). Throws on an empty sample or a `p`
 * out of range, since a made-up number would be worse than none.
 *
 * @example
 * ```ts
 * import { percentile } from "./stats.ts";
 * percentile([5, 1, 4, 2, 3], 50); // 3
 * percentile([5, 1, 4, 2, 3], 100); // 5
 * ```
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) {
    throw new RangeError("percentile of an empty sample: expected ≥ 1 value");
  }
  if (!(p > 0 && p <= 100)) {
    throw new RangeError(`percentile: expected 0 < p ≤ 100, found ${p}`);
  }
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.max(1, rank) - 1];
}

/** What {@linkcode summarize} reports. */
export interface Summary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * Count, min, mean, p50, p99 and max of a non-empty sample.
 *
 * @example
 * ```ts
 * import { summarize } from "./stats.ts";
 * const s = summarize([10, 20, 30, 40]);
 * s.p50; // 20
 * s.max; // 40
 * ```
 */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) {
    throw new RangeError("summary of an empty sample: expected ≥ 1 value");
  }
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  return {
    count: values.length,
    min,
    mean: sum / values.length,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max,
  };
}
