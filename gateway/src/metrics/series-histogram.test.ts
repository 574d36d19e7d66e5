import { AggregatorRegistry, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { SeriesHistogram } from "./series-histogram.js";

const config = {
  name: "l402_request_duration_seconds",
  help: "Request latency by phase",
  labelNames: ["service", "phase"] as const,
  buckets: [0.0005, 0.001, 0.01, 1],
};

/** The same observations into prom-client's Histogram and into a SeriesHistogram, each in its own registry. */
function both(observations: readonly [service: string, phase: string, seconds: number][]) {
  const theirs = new Registry();
  const ours = new Registry();
  const histogram = new Histogram({ ...config, registers: [theirs] });
  const series = new SeriesHistogram({ ...config, registers: [ours] });
  for (const [service, phase, seconds] of observations) {
    histogram.observe({ service, phase }, seconds);
    series.series({ service, phase }).observe(seconds);
  }
  return { theirs, ours, series };
}

describe("SeriesHistogram", () => {
  it("shows the same /metrics lines as prom-client's Histogram given the same observations", async () => {
    const { theirs, ours } = both([
      ["llm", "total", 0.0002],
      ["llm", "total", 0.0005], // on a bound: counted in that bucket
      ["llm", "upstream_ttfb", 0.004],
      ["api", "total", 3], // above every bound: only in +Inf, the sum and the count
      ["llm", "total", 0.02],
    ]);
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toContain('l402_request_duration_seconds_bucket{le="0.0005",service="llm",phase="total"} 2');
    expect(text).toContain('l402_request_duration_seconds_bucket{le="+Inf",service="api",phase="total"} 1');
  });

  it("sums across cluster workers as prom-client's Histogram does", async () => {
    const workerA = both([["llm", "total", 0.0007]]);
    const workerB = both([
      ["llm", "total", 0.005],
      ["llm", "auth", 0.0001],
    ]);
    const aggregate = async (pick: (worker: typeof workerA) => Registry) =>
      AggregatorRegistry.aggregate([
        await pick(workerA).getMetricsAsJSON(),
        await pick(workerB).getMetricsAsJSON(),
      ]).metrics();
    const ours = await aggregate((worker) => worker.ours);
    expect(ours).toBe(await aggregate((worker) => worker.theirs));
    expect(ours).toContain('l402_request_duration_seconds_count{service="llm",phase="total"} 2');
  });

  it("binds each series once, and times with startTimer", async () => {
    const { series } = both([]);
    expect(series.series({ service: "llm", phase: "auth" })).toBe(series.series({ phase: "auth", service: "llm" }));
    const stop = series.startTimer({ service: "llm", phase: "pricing" });
    const seconds = stop();
    expect(seconds).toBeGreaterThanOrEqual(0);
    const values = (await series.get()).values.filter((value) => value.labels.phase === "pricing");
    expect(values.find((value) => value.metricName?.endsWith("_count"))?.value).toBe(1);
    expect(values.find((value) => value.metricName?.endsWith("_sum"))?.value).toBe(seconds);
  });

  it("refuses a value that is not a finite number, as prom-client does", () => {
    const { series } = both([]);
    expect(() => series.observe({ service: "llm", phase: "total" }, Number.NaN)).toThrow(TypeError);
  });
});
