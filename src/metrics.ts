/**
 * A minimal Prometheus registry: counters, gauges and histograms with
 * labels, rendered in the text exposition format (version 0.0.4).
 *
 * @module
 */

type Labels = Record<string, string>;

/** A monotonically increasing counter. */
export interface Counter {
  inc(labels?: Labels, by?: number): void;
  get(labels?: Labels): number;
}
/** A value that goes up and down. */
export interface Gauge {
  set(value: number, labels?: Labels): void;
  inc(labels?: Labels, by?: number): void;
  get(labels?: Labels): number;
}
/** Observations bucketed by upper bound. */
export interface Histogram {
  observe(value: number, labels?: Labels): void;
  /** Number of observations so far. */
  count(labels?: Labels): number;
}

/** A set of named metrics rendered together. */
export interface Registry {
  counter(name: string, help: string): Counter;
  gauge(name: string, help: string): Gauge;
  histogram(name: string, help: string, buckets: number[]): Histogram;
  /**
   * A metric without labels whose value is read at each render (as client
   * libraries' CounterFunc/GaugeFunc); `undefined` leaves it out of that
   * render.
   */
  func(
    name: string,
    help: string,
    type: "counter" | "gauge",
    read: () => number | undefined,
  ): void;
  /** Registers a callback run before each render (to refresh gauges). */
  onCollect(fn: () => void): void;
  render(): string;
}

function key(labels: Labels = {}): string {
  return Object.keys(labels).sort().map((k) =>
    `${k}="${
      labels[k].replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(
        /"/g,
        '\\"',
      )
    }"`
  ).join(",");
}

function fmt(n: number): string {
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  if (Number.isNaN(n)) return "NaN";
  return String(n);
}

/**
 * Creates an empty registry.
 *
 * @example
 * ```ts
 * import { createRegistry } from "./metrics.ts";
 * const r = createRegistry();
 * const c = r.counter("demo_total", "Demo events.");
 * c.inc({ outcome: "approve" });
 * console.log(r.render());
 * ```
 */
export function createRegistry(): Registry {
  const blocks: (() => string)[] = [];
  const collectors: (() => void)[] = [];
  const header = (name: string, help: string, type: string) =>
    `# HELP ${name} ${
      help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
    }\n# TYPE ${name} ${type}\n`;
  const series = (name: string, values: Map<string, number>) =>
    [...values].map(([k, v]) => `${name}${k ? `{${k}}` : ""} ${fmt(v)}\n`).join(
      "",
    );
  return {
    counter(name, help) {
      const values = new Map<string, number>();
      blocks.push(() => header(name, help, "counter") + series(name, values));
      return {
        inc(labels, by = 1) {
          const k = key(labels);
          values.set(k, (values.get(k) ?? 0) + by);
        },
        get: (labels) => values.get(key(labels)) ?? 0,
      };
    },
    gauge(name, help) {
      const values = new Map<string, number>();
      blocks.push(() => header(name, help, "gauge") + series(name, values));
      return {
        set(value, labels) {
          values.set(key(labels), value);
        },
        inc(labels, by = 1) {
          const k = key(labels);
          values.set(k, (values.get(k) ?? 0) + by);
        },
        get: (labels) => values.get(key(labels)) ?? 0,
      };
    },
    histogram(name, help, buckets) {
      const bounds = [...buckets].sort((a, b) => a - b);
      const data = new Map<
        string,
        { counts: number[]; sum: number; count: number }
      >();
      blocks.push(() => {
        let out = header(name, help, "histogram");
        for (const [k, d] of data) {
          const sep = k ? "," : "";
          let cum = 0;
          bounds.forEach((b, i) => {
            cum += d.counts[i];
            out += `${name}_bucket{${k}${sep}le="${fmt(b)}"} ${cum}\n`;
          });
          out += `${name}_bucket{${k}${sep}le="+Inf"} ${d.count}\n`;
          out += `${name}_sum${k ? `{${k}}` : ""} ${fmt(d.sum)}\n`;
          out += `${name}_count${k ? `{${k}}` : ""} ${d.count}\n`;
        }
        return out;
      });
      return {
        observe(value, labels) {
          const k = key(labels);
          let d = data.get(k);
          if (!d) {
            d = { counts: bounds.map(() => 0), sum: 0, count: 0 };
            data.set(k, d);
          }
          const i = bounds.findIndex((b) => value <= b);
          if (i >= 0) d.counts[i]++;
          d.sum += value;
          d.count++;
        },
        count: (labels) => data.get(key(labels))?.count ?? 0,
      };
    },
    func(name, help, type, read) {
      blocks.push(() => {
        let value: number | undefined;
        try {
          value = read();
        } catch {
          value = undefined; // a metric that cannot be read is left out
        }
        return value === undefined
          ? ""
          : `${header(name, help, type)}${name} ${fmt(value)}\n`;
      });
    },
    onCollect(fn) {
      collectors.push(fn);
    },
    render() {
      for (const c of collectors) c();
      return blocks.map((b) => b()).join("");
    },
  };
}
