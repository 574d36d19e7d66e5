import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InvoiceBackend } from "../../gateway/src/lightning/invoices.js";
import { type RunningGateway, startGateway } from "../../gateway/src/server.js";
import { offlineGatewayConfig } from "../../gateway/src/test-support/offline-config.js";
import { startUpstream, type TestUpstream } from "../support/upstream.js";

const silent = pino({ level: "silent" });

class NoInvoices implements InvoiceBackend {
  async createInvoice(): Promise<never> {
    throw new Error("not used");
  }
  async lookupSettlement() {
    return undefined;
  }
  subscribeSettlements() {
    return () => {};
  }
  async ping() {}
}

/** A gateway on one service whose pool is `pool` (a live upstream's URL is given) and whose /v1/* paths are free. */
function poolGateway(pool: (live: string) => Record<string, unknown>) {
  const running: { live?: TestUpstream; gateway?: RunningGateway } = {};
  beforeAll(async () => {
    const live = await startUpstream();
    running.live = live;
    const config = offlineGatewayConfig({
      services: [
        { name: "api", match: { pathPrefix: "/" }, price: { sats: 1 }, freePaths: ["/v1/*"], ...pool(live.url) },
      ],
    });
    running.gateway = await startGateway(config, { backend: new NoInvoices(), log: silent });
  });
  afterAll(async () => {
    await running.gateway?.close();
    await running.live?.close();
  });
  return running as { live: TestUpstream; gateway: RunningGateway };
}

describe("gateway with an upstream pool", () => {
  const running = poolGateway((live) => ({
    upstream: "http://127.0.0.1:1",
    upstreams: [live],
    // Checks far apart: only failed requests can eject the dead upstream here.
    upstreamPool: { healthIntervalMs: 600_000 },
  }));

  it("retries a request that cannot reach one upstream on another, and stops sending to the dead one", async () => {
    const { live, gateway } = running;
    const echoes = () => live.seen.filter((r) => r.url.startsWith("/v1/echo")).length;
    const seenBefore = echoes();
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${gateway.url}/v1/echo?i=${i}`);
      expect(res.status).toBe(200);
      await res.text();
    }
    expect(echoes() - seenBefore).toBe(6);
    const unreachable = async () => {
      const metrics = await (await fetch(`${gateway.operatorUrl}/metrics`)).text();
      const line = metrics
        .split("\n")
        .find((l) => l.startsWith('l402_upstream_errors_total{service="api",class="unreachable"}'));
      return Number(line?.split(" ").pop() ?? 0);
    };
    // The dead upstream was tried until ejected (two failures, the first maybe the pool's first health check)...
    const failures = await unreachable();
    expect(failures).toBeGreaterThanOrEqual(1);
    expect(failures).toBeLessThanOrEqual(2);
    // ...then never again.
    for (let i = 0; i < 6; i++) await (await fetch(`${gateway.url}/v1/echo`)).text();
    expect(await unreachable()).toBe(failures);
    expect(echoes() - seenBefore).toBe(12);
  });
});

describe("gateway with a dead upstream that is never ejected", () => {
  const running = poolGateway((live) => ({
    upstreams: ["http://127.0.0.1:1", live],
    upstreamPool: { healthIntervalMs: 600_000, ejectAfterFailures: 1_000 },
  }));

  it("retries requests with a body, which it reads first, on the live upstream, and refuses one over the limit", async () => {
    const { gateway } = running;
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${gateway.url}/v1/echo`, { method: "POST", body: `payload ${i}` });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { body: string }).body).toBe(`payload ${i}`);
    }
    const metrics = await (await fetch(`${gateway.operatorUrl}/metrics`)).text();
    const line = metrics
      .split("\n")
      .find((l) => l.startsWith('l402_upstream_errors_total{service="api",class="unreachable"}'));
    // Taken in turn, some requests went to the dead upstream first: each was retried, and answered.
    expect(Number(line?.split(" ").pop())).toBeGreaterThan(0);
    const big = await fetch(`${gateway.url}/v1/echo`, { method: "POST", body: "x".repeat(1_048_577) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { code: string }).code).toBe("body_too_large");
  });
});
