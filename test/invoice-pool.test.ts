import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, type RunningGateway, startGateway } from "@l402-gateway/gateway";
import { formatAuthorization } from "@l402-gateway/l402";
import { pay } from "lightning";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testNetwork } from "./regtest/context.js";
import { gatewayLndConfig, lndClient } from "./regtest/network-file.js";
import { checkAccounting } from "./support/accounting.js";
import { scrapeSum } from "./support/metrics.js";
import { startUpstream, type TestUpstream } from "./support/upstream.js";

const network = testNetwork();
const alice = lndClient(network.nodes.alice);
const bob = lndClient(network.nodes.bob);
const POOL_SIZE = 3;
const MAX_AGE_SECONDS = 60;
const EXPIRY_SECONDS = 600;
const DEPOSIT_MSAT = 6_000;

interface ChallengeBody {
  readonly macaroon: string;
  readonly invoice: string;
  readonly payment_hash: string;
  readonly price_sats: number;
  readonly expires_at: string;
}

describe("invoice pool on a real LND (regtest)", () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;
  let storePath: string;
  const pooled = (result: "hit" | "miss") =>
    scrapeSum(`${gateway.operatorUrl}/metrics`, `l402_invoice_pool_requests_total{result="${result}"}`);

  beforeAll(async () => {
    upstream = await startUpstream();
    storePath = join(mkdtempSync(join(tmpdir(), "l402-pool-")), "gateway.sqlite");
    const config = parseConfig({
      listen: { port: 0 },
      operator: { port: 0 },
      lnd: {
        ...gatewayLndConfig(network.nodes.alice),
        invoicePool: { size: POOL_SIZE, maxAgeSeconds: MAX_AGE_SECONDS },
      },
      store: { path: storePath },
      log: { level: "silent" },
      limits: { challengeBurst: 100, challengesPerMinute: 1_000 },
      services: [
        {
          name: "weather",
          match: { pathPrefix: "/weather/" },
          upstream: upstream.url,
          price: { sats: 7 },
          invoiceExpirySeconds: EXPIRY_SECONDS,
        },
        {
          name: "echo",
          match: { pathPrefix: "/v1/echo" },
          upstream: upstream.url,
          pricing: { rules: [{ perCallMsat: 2_000 }] },
        },
      ],
    });
    gateway = await startGateway(config, { log: pino({ level: "silent" }) });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  async function challenge(path: string, headers: Record<string, string> = {}): Promise<ChallengeBody> {
    const res = await fetch(`${gateway.url}${path}`, { method: "POST", headers });
    expect(res.status).toBe(402);
    return (await res.json()) as ChallengeBody;
  }

  async function payAndCall(path: string, body: ChallengeBody): Promise<Response> {
    const payment = await pay({ lnd: bob, request: body.invoice });
    const authorization = formatAuthorization({
      macaroons: [body.macaroon],
      preimage: Buffer.from(payment.secret, "hex"),
    });
    return fetch(`${gateway.url}${path}`, { method: "POST", headers: { authorization } });
  }

  it("hands out an invoice LND made ahead of time, which pays and authenticates", async () => {
    // The fixed price is warmed at start.
    await expect
      .poll(() => scrapeSum(`${gateway.operatorUrl}/metrics`, "l402_invoice_pool_ready"), { timeout: 30_000 })
      .toBe(POOL_SIZE);
    const asked = Date.now();
    const body = await challenge("/weather/today");
    expect(await pooled("hit")).toBe(1);
    expect(await pooled("miss")).toBe(0);
    expect(body.price_sats).toBe(7);
    // Made before it was asked for, yet with at least its configured life less the pool's maximum age left.
    expect(Date.parse(body.expires_at) - asked).toBeGreaterThanOrEqual((EXPIRY_SECONDS - MAX_AGE_SECONDS) * 1000);
    const res = await payAndCall("/weather/today", body);
    expect(res.status).toBe(200);
    await res.text();
  });

  it("never hands out one invoice twice across a burst larger than the pool", async () => {
    const bodies = await Promise.all(Array.from({ length: POOL_SIZE * 2 }, () => challenge("/weather/now")));
    expect(new Set(bodies.map((b) => b.payment_hash)).size).toBe(bodies.length);
    expect(new Set(bodies.map((b) => b.invoice)).size).toBe(bodies.length);
    expect(await pooled("miss")).toBeGreaterThan(0);
    // One of the burst, paid: it works whichever way it was made.
    const last = bodies.at(-1);
    if (!last) throw new Error("no challenge");
    const res = await payAndCall("/weather/now", last);
    expect(res.status).toBe(200);
    await res.text();
  });

  it("learns a metered deposit's amount on its second request and pools it", async () => {
    const deposit = { "x-l402-deposit-msat": String(DEPOSIT_MSAT) };
    const hitsBefore = await pooled("hit");
    // Two misses: an amount asked for a second time is learnt.
    await challenge("/v1/echo", deposit);
    await challenge("/v1/echo", deposit);
    await expect
      .poll(() => scrapeSum(`${gateway.operatorUrl}/metrics`, "l402_invoice_pool_ready"), { timeout: 30_000 })
      .toBeGreaterThanOrEqual(2 * POOL_SIZE);
    const body = await challenge("/v1/echo", deposit);
    expect(await pooled("hit")).toBe(hitsBefore + 1);
    expect(body.price_sats).toBe(DEPOSIT_MSAT / 1000);
    const res = await payAndCall("/v1/echo", body);
    expect(res.status).toBe(200);
    await res.text();

    // Fixed-price calls are paid by the token, not charged per call: only the metered calls count as charged.
    const metered = upstream.seen.filter((r) => r.url.startsWith("/v1/echo")).length;
    const verdict = await checkAccounting({ storePath, lnd: alice, upstreamServed: metered, quiescent: true });
    expect(verdict.violations).toEqual([]);
    expect(verdict.totals.settledSats).toBe(7 + 7 + DEPOSIT_MSAT / 1000);
  });
});
