import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, type RunningGateway, startGateway } from "@l402-gateway/gateway";
import { formatAuthorization } from "@l402-gateway/l402";
import { getInvoices, pay } from "lightning";
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
        invoicePool: { size: POOL_SIZE, maxAgeSeconds: MAX_AGE_SECONDS, depositsMsat: [DEPOSIT_MSAT] },
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
    // The fixed price and the declared deposit are warmed at start.
    await expect
      .poll(() => scrapeSum(`${gateway.operatorUrl}/metrics`, "l402_invoice_pool_ready"), { timeout: 30_000 })
      .toBe(2 * POOL_SIZE);
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
    const bodies = await Promise.all(Array.from({ length: POOL_SIZE * 10 }, () => challenge("/weather/now")));
    expect(new Set(bodies.map((b) => b.payment_hash)).size).toBe(bodies.length);
    expect(new Set(bodies.map((b) => b.invoice)).size).toBe(bodies.length);
    // Each was taken from the pool or made on demand, as fast as LND refills it: how many of each depends on its speed.
    expect((await pooled("hit")) + (await pooled("miss"))).toBe(1 + bodies.length);
    // One of the burst, paid: it works whichever way it was made.
    const last = bodies.at(-1);
    if (!last) throw new Error("no challenge");
    const res = await payAndCall("/weather/now", last);
    expect(res.status).toBe(200);
    await res.text();
  });

  it("pools the deposit the operator declared, and makes any other on demand", async () => {
    const deposit = { "x-l402-deposit-msat": String(DEPOSIT_MSAT) };
    // The declared deposit is filled at start, beside the fixed price.
    await expect
      .poll(() => scrapeSum(`${gateway.operatorUrl}/metrics`, "l402_invoice_pool_ready"), { timeout: 30_000 })
      .toBe(2 * POOL_SIZE);
    const hitsBefore = await pooled("hit");
    const missesBefore = await pooled("miss");
    // An odd deposit, however often asked, goes to LND each time.
    for (let i = 0; i < 3; i++) await challenge("/v1/echo", { "x-l402-deposit-msat": "7123" });
    expect(await pooled("miss")).toBe(missesBefore + 3);
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

describe("invoice pool against unpaid clients (regtest)", () => {
  const SIZE = 50;
  const MAX_INVOICES = 60;
  const BURST = 20;
  let upstream: TestUpstream;
  let gateway: RunningGateway;
  const metric = (name: string) => scrapeSum(`${gateway.operatorUrl}/metrics`, name);

  /** The ids of alice's newest invoices (newest first, one page: the test makes far fewer). */
  async function aliceInvoices(): Promise<Set<string>> {
    const { invoices } = await getInvoices({ lnd: alice, limit: 1_000 });
    return new Set(invoices.map((invoice) => invoice.id));
  }

  /** Waits until the pool holds `ready` invoices and has no refill at LND: nothing more will be made. */
  async function idle(ready: number): Promise<void> {
    await expect
      .poll(async () => [await metric("l402_invoice_pool_ready"), await metric("l402_invoice_pool_creating")], {
        timeout: 60_000,
      })
      .toEqual([ready, 0]);
  }

  const created = (before: Set<string>, after: Set<string>) => [...after].filter((id) => !before.has(id)).length;

  beforeAll(async () => {
    upstream = await startUpstream();
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("makes LND create the bounded pool once, then one invoice per allowed challenge, whatever deposits are asked", async () => {
    const storePath = join(mkdtempSync(join(tmpdir(), "l402-pool-bound-")), "gateway.sqlite");
    const config = parseConfig({
      listen: { port: 0 },
      operator: { port: 0 },
      lnd: {
        ...gatewayLndConfig(network.nodes.alice),
        invoicePool: { size: SIZE, maxAgeSeconds: MAX_AGE_SECONDS, maxInvoices: MAX_INVOICES, depositsMsat: [6_000] },
      },
      store: { path: storePath },
      log: { level: "silent" },
      limits: { challengeBurst: BURST, challengesPerMinute: 1 },
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
    const beforeStart = await aliceInvoices();
    gateway = await startGateway(config, { log: pino({ level: "silent" }) });
    // Two declared classes of SIZE each, but never more than MAX_INVOICES held over both.
    await idle(MAX_INVOICES);
    const warmed = await aliceInvoices();
    expect(created(beforeStart, warmed)).toBe(MAX_INVOICES);

    // 16 odd deposits, each asked twice (the old pool learnt each as a class and filled it), as fast as they go.
    const odd = Array.from({ length: 16 }, (_, i) => String(7_123 + i * 1_000));
    const statuses = await Promise.all(
      [...odd, ...odd].map(async (msat) => {
        const res = await fetch(`${gateway.url}/v1/echo`, { method: "POST", headers: { "x-l402-deposit-msat": msat } });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    const admitted = statuses.filter((status) => status === 402).length;
    expect(statuses.filter((status) => status !== 402 && status !== 429)).toEqual([]);
    // The challenge rate limit let about the burst through (one more may have dripped in meanwhile).
    expect(admitted).toBeGreaterThanOrEqual(BURST);
    expect(admitted).toBeLessThanOrEqual(BURST + 1);

    await idle(MAX_INVOICES);
    const after = await aliceInvoices();
    // Exactly one invoice per challenge the limit allowed; none made ahead for what unpaid clients asked.
    expect(created(warmed, after)).toBe(admitted);
    expect(await metric('l402_invoice_pool_requests_total{result="hit"}')).toBe(0);
    expect(await metric('l402_invoice_pool_requests_total{result="miss"}')).toBe(admitted);
  });
});
