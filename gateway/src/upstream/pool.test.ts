import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { SurgeMonitor } from "../pricing/surge.js";
import { UpstreamPool } from "./pool.js";

const silent = pino({ level: "silent" });

/** A backend whose /health reports the load the test sets, or fails when `down`. */
async function loadReporter() {
  const state = { busy: 0, queued: 0, slots: 4, down: false };
  const server: Server = createServer((req, res) => {
    if (state.down) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      req.url === "/health"
        ? JSON.stringify({ busy_sequences: state.busy, queue_depth: state.queued, slots_total: state.slots })
        : JSON.stringify({ served: true }),
    );
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { state, url, close: () => new Promise<void>((done) => server.close(() => done())) };
}

const poolOf = (upstreams: string[]) =>
  new UpstreamPool(
    {
      name: "llm",
      upstream: undefined,
      upstreams,
      healthPath: "/health",
      upstreamPool: { healthIntervalMs: 60_000, healthTimeoutMs: 1_000, ejectAfterFailures: 2 },
    },
    silent,
  );

describe("upstream pool", () => {
  it("sends the next request to the least-loaded upstream, counting its own requests in flight", async () => {
    const [busy, idle] = [await loadReporter(), await loadReporter()];
    try {
      busy.state.busy = 4;
      busy.state.queued = 2;
      const pool = poolOf([busy.url, idle.url]);
      await pool.check();
      expect(pool.pick()).toBe(idle.url);
      // Five requests in flight on the idle one (5/4) outweigh the busy one's reported 6/4 only after six.
      const ends = Array.from({ length: 7 }, () => pool.begin(idle.url));
      expect(pool.pick()).toBe(busy.url);
      for (const end of ends) end();
      expect(pool.pick()).toBe(idle.url);
    } finally {
      await Promise.all([busy.close(), idle.close()]);
    }
  });

  it("spreads equal loads in turn", async () => {
    const pool = poolOf(["http://127.0.0.1:1", "http://127.0.0.1:2"]);
    const picks = Array.from({ length: 4 }, () => pool.pick());
    expect(new Set(picks).size).toBe(2);
  });

  it("ejects an upstream after failed checks, and brings it back when it answers again", async () => {
    const [flaky, steady] = [await loadReporter(), await loadReporter()];
    try {
      const pool = poolOf([flaky.url, steady.url]);
      flaky.state.down = true;
      await pool.check();
      expect(pool.states().find((s) => s.url === flaky.url)?.healthy).toBe(true);
      await pool.check();
      expect(pool.states().find((s) => s.url === flaky.url)?.healthy).toBe(false);
      expect(Array.from({ length: 4 }, () => pool.pick())).toEqual(Array(4).fill(steady.url));
      expect(pool.liveUrls()).toEqual([steady.url]);
      // With the healthy one excluded (already tried), the ejected one is still better than nothing.
      expect(pool.pick(new Set([steady.url]))).toBe(flaky.url);
      flaky.state.down = false;
      await pool.check();
      expect(pool.states().every((s) => s.healthy)).toBe(true);
    } finally {
      await Promise.all([flaky.close(), steady.close()]);
    }
  });

  it("gives surge pricing the pool's combined load: all busy and queued requests over all slots", async () => {
    const [busy, idle] = [await loadReporter(), await loadReporter()];
    try {
      busy.state.busy = 4;
      busy.state.queued = 2;
      const monitor = new SurgeMonitor(
        () => [busy.url, idle.url, "http://127.0.0.1:1"],
        { healthPath: "/health", pollIntervalMs: 1_000, curve: [{ load: 1, multiplier: 1 }], ceiling: 3, smoothing: 1 },
        silent,
      );
      await monitor.poll();
      // (4 + 2 + 0) / (4 + 4); the unreachable one is left out of the reading.
      expect(monitor.load).toBe(0.75);
    } finally {
      await Promise.all([busy.close(), idle.close()]);
    }
  });

  it("ejects an upstream whose connections fail", () => {
    const pool = poolOf(["http://127.0.0.1:1", "http://127.0.0.1:2"]);
    pool.reportFailure("http://127.0.0.1:1", "upstream_unreachable");
    pool.reportFailure("http://127.0.0.1:1", "upstream_unreachable");
    expect(pool.liveUrls()).toEqual(["http://127.0.0.1:2"]);
  });
});
