import { afterEach, describe, expect, it } from "vitest";
import type { TrafficCount } from "../store/owner-reports.js";
import { SqliteTokenStore } from "../store/sqlite.js";
import { GatewayMetrics } from "./metrics.js";
import { TrafficRecorder } from "./traffic-recorder.js";

const HOUR = 3_600_000;
const quiet = { warn: () => {} };

describe("TrafficRecorder", () => {
  const stores: SqliteTokenStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
  });
  const open = () => {
    const store = new SqliteTokenStore(":memory:");
    stores.push(store);
    return store;
  };

  it("adds what the counters grew by since the last flush to the hour of the flush", async () => {
    const metrics = new GatewayMetrics(["api", "llm"]);
    const store = open();
    const recorder = new TrafficRecorder(metrics, store, quiet);
    const hour = Date.UTC(2026, 0, 10, 9);
    metrics.challengesIssued.inc({ service: "api" }, 3);
    metrics.paidRequests.inc({ service: "api", scheme: "l402" }, 2);
    metrics.paidRequests.inc({ service: "api", scheme: "payment" }, 1);
    await recorder.flush(new Date(hour + 5_000));
    metrics.challengesIssued.inc({ service: "api" });
    metrics.challengesIssued.inc({ service: "llm" }, 2);
    await recorder.flush(new Date(hour + 60_000));
    await recorder.flush(new Date(hour + HOUR + 1));
    metrics.paidRequests.inc({ service: "llm", scheme: "l402" });
    await recorder.flush(new Date(hour + HOUR + 60_000));
    const series = await store.revenueSeries(new Date(hour), HOUR);
    expect(series.map((p) => [p.service, p.start.getTime() - hour, p.challenges, p.calls])).toEqual([
      ["api", 0, 4, 3],
      ["llm", 0, 2, 0],
      ["llm", HOUR, 0, 1],
    ]);
  });

  it("keeps the counts of a flush the store refused for the next one", async () => {
    const metrics = new GatewayMetrics(["api"]);
    const written: TrafficCount[][] = [];
    let refuse = true;
    const store = {
      addTraffic: async (counts: readonly TrafficCount[]) => {
        if (refuse) throw new Error("store unavailable");
        written.push([...counts]);
      },
    };
    const warned: string[] = [];
    const recorder = new TrafficRecorder(metrics, store, { warn: (_o: object, m: string) => warned.push(m) });
    metrics.challengesIssued.inc({ service: "api" }, 2);
    await recorder.flush();
    expect(warned).toHaveLength(1);
    refuse = false;
    metrics.challengesIssued.inc({ service: "api" });
    await recorder.stop();
    expect(written.map((counts) => counts.map((c) => [c.service, c.challenges, c.calls]))).toEqual([[["api", 3, 0]]]);
  });
});
