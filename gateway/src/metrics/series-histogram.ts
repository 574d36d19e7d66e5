import type { Histogram, MetricValueWithName, Registry } from "prom-client";

/** One series of a histogram (one set of label values), bound once: an observation is a few additions. */
export interface HistogramSeries {
  observe(seconds: number): void;
}

class Series implements HistogramSeries {
  count = 0;
  sum = 0;
  /** Observations per bucket, not cumulative; the last counts those above every bound. */
  readonly counts: Float64Array;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const { bounds } = this;
    let index = 0;
    while (index < bounds.length && value > (bounds[index] as number)) index++;
    (this.counts[index] as number)++;
    this.sum += value;
    this.count++;
  }
}

export interface SeriesHistogramConfig<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly buckets: readonly number[];
  readonly registers: readonly Registry[];
}

/**
 * A Prometheus histogram whose series are bound once (`series(labels)`), for the request path: prom-client's Histogram
 * checks, copies and hashes the labels of every observation, which cost the gateway ~8% of its CPU per request. The
 * registry reads it as it reads a prom-client Histogram (`get()` returns the same values: cumulative `_bucket` series
 * with `le`, `_sum`, `_count`, summed across cluster workers), so /metrics shows the same lines.
 */
export class SeriesHistogram<L extends string> {
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly L[];
  private readonly bounds: readonly number[];
  /** By label values joined; in the order each series was first observed, as prom-client lists them. */
  private readonly all = new Map<string, Series>();

  constructor(config: SeriesHistogramConfig<L>) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    this.bounds = config.buckets;
    // The registry reads any metric through get(); its type names only prom-client's own classes.
    for (const registry of config.registers) registry.registerMetric(this as unknown as Histogram<L>);
  }

  /** The series of these label values, made on first use: keep it to observe without a lookup. */
  series(labels: Readonly<Record<L, string>>): HistogramSeries {
    const key = this.labelNames.map((name) => labels[name]).join("\u0000");
    let series = this.all.get(key);
    if (!series) {
      const own: Record<string, string> = {};
      for (const name of this.labelNames) {
        if (typeof labels[name] !== "string") throw new Error(`Missing label "${name}" of ${this.name}`);
        own[name] = labels[name];
      }
      series = new Series(own, this.bounds);
      this.all.set(key, series);
    }
    return series;
  }

  observe(labels: Readonly<Record<L, string>>, seconds: number): void {
    this.series(labels).observe(seconds);
  }

  /** Starts timing; the function returned observes the seconds since, and returns them. */
  startTimer(labels: Readonly<Record<L, string>>): () => number {
    const series = this.series(labels);
    const started = performance.now();
    return () => {
      const seconds = (performance.now() - started) / 1000;
      series.observe(seconds);
      return seconds;
    };
  }

  /** What prom-client's Histogram returns from get(): what the registry formats and the cluster sums. */
  async get() {
    const values: MetricValueWithName<string>[] = [];
    const bucket = `${this.name}_bucket`;
    for (const series of this.all.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, index) => {
        cumulative += series.counts[index] as number;
        values.push({ labels: { le, ...series.labels }, value: cumulative, metricName: bucket });
      });
      values.push({ labels: { le: "+Inf", ...series.labels }, value: series.count, metricName: bucket });
      values.push({ labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
