import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type GatewayConfig,
  parseConfig,
  type RunningCluster,
  type RunningGateway,
  startCluster,
  startGateway,
} from "@l402-gateway/gateway";
import {
  decodePaymentRequest,
  formatAuthorization,
  formatPaymentAuthorization,
  type LightningChargeRequest,
  type LightningSessionRequest,
  lightningChargeRequestSchema,
  lightningSessionRequestSchema,
  type PaymentChallenge,
  parsePaymentChallenges,
} from "@l402-gateway/l402";
import { createInvoice, getInvoice, getPayments, getPendingPayments, grantAccess, pay } from "lightning";
import pg from "pg";
import pino from "pino";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testNetwork } from "./regtest/context.js";
import { gatewayLndConfig, lndClient } from "./regtest/network-file.js";
import { checkAccounting } from "./support/accounting.js";
import { scrapeSum } from "./support/metrics.js";
import { ensureOperatorCanPay } from "./support/operator-liquidity.js";
import { startPostgres, type TestPostgres } from "./support/postgres.js";
import { startUpstream, type TestUpstream } from "./support/upstream.js";

const network = testNetwork();
const alice = lndClient(network.nodes.alice);
const bob = lndClient(network.nodes.bob);
const PRICE_SATS = 21;
const CALL_MSAT = 2_000;
const DEPOSIT_MSAT = 20_000;
const deposit = { "x-l402-deposit-msat": String(DEPOSIT_MSAT) };

/**
 * One request on a connection of its own: a cluster's primary hands each new connection to the next worker, so two
 * sent at once reach both workers.
 */
async function send(url: string, headers: Record<string, string>, body?: string) {
  const agent = new Agent();
  try {
    const res = await request(url, { method: "POST", headers, body, dispatcher: agent });
    const text = await res.body.text();
    const header = res.headers["www-authenticate"];
    return {
      status: res.statusCode,
      wwwAuthenticate: Array.isArray(header) ? header.join(", ") : (header ?? ""),
      body: (text.startsWith("{") ? JSON.parse(text) : {}) as Record<string, unknown>,
    };
  } finally {
    await agent.close();
  }
}

async function gatewayConfig(upstream: string, store: GatewayConfig["store"] | object): Promise<GatewayConfig> {
  const refundMacaroon = (await grantAccess({ lnd: alice, permissions: ["offchain:read", "offchain:write"] })).macaroon;
  // Refunds are paid from alice's side of the channel bob opened.
  await ensureOperatorCanPay(alice, bob, 50_000);
  return parseConfig({
    listen: { port: 0 },
    operator: { port: 0 },
    lnd: { ...gatewayLndConfig(network.nodes.alice), refundMacaroon },
    store,
    log: { level: "silent" },
    limits: { challengeBurst: 1_000, challengesPerMinute: 1_000 },
    refunds: { maxSats: 1_000, perMinute: 600, burst: 100 },
    services: [
      {
        name: "fixed",
        match: { pathPrefix: "/fixed" },
        upstream,
        price: { sats: PRICE_SATS },
        schemes: ["l402", "payment-charge"],
      },
      {
        name: "metered",
        match: { pathPrefix: "/metered" },
        upstream,
        pricing: { rules: [{ perCallMsat: CALL_MSAT }], deposit: { minMsat: 1_000, maxMsat: 1_000_000 } },
        schemes: ["l402", "payment-session"],
      },
    ],
  });
}

/**
 * A charge credential, a session top-up and a close, each presented through both doors at once: served or credited
 * once, and the refund paid once on LND. `doors` are the two ways in (one cluster's URL twice: its two workers; or
 * two replicas' URLs).
 */
function singleUseAcross(
  doors: () => readonly [string, string],
  upstream: () => TestUpstream,
  accountingHolds: () => Promise<void>,
  /** Shows that the presentations of a test really reached both processes. */
  reachedBoth: () => Promise<void>,
) {
  const offered = async (door: string, path: string, headers: Record<string, string> = {}) => {
    const answer = await send(`${door}${path}`, headers);
    expect(answer.status).toBe(402);
    const [payment] = parsePaymentChallenges(answer.wwwAuthenticate);
    if (!payment) throw new Error(`no Payment challenge: ${answer.wwwAuthenticate}`);
    return { body: answer.body, payment };
  };
  const present = (door: string, path: string, challenge: PaymentChallenge, payload: Record<string, unknown>) =>
    send(`${door}${path}`, { authorization: formatPaymentAuthorization({ challenge, payload }) });
  const charge = (c: PaymentChallenge): LightningChargeRequest =>
    decodePaymentRequest(c.request, lightningChargeRequestSchema);
  const session = (c: PaymentChallenge): LightningSessionRequest =>
    decodePaymentRequest(c.request, lightningSessionRequestSchema);

  it("serves a Payment charge credential presented through both at once exactly once", async () => {
    const [one, other] = doors();
    const { payment: challenge } = await offered(one, "/fixed/race");
    const preimage = (await pay({ lnd: bob, request: charge(challenge).methodDetails.invoice })).secret;
    const served = () => upstream().seen.filter((r) => r.url.startsWith("/fixed/race")).length;
    const both = await Promise.all([
      present(one, "/fixed/race", challenge, { preimage }),
      present(other, "/fixed/race", challenge, { preimage }),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 402]);
    expect(served()).toBe(1);
    // And once more, through either: still refused.
    expect((await present(other, "/fixed/race", challenge, { preimage })).status).toBe(402);
    expect(served()).toBe(1);
    await reachedBoth();
    await accountingHolds();
  });

  it("credits a session top-up presented through both at once exactly once", async () => {
    const [one, other] = doors();
    const { payment: open } = await offered(one, "/metered/open", deposit);
    const paid = await pay({ lnd: bob, request: session(open).depositInvoice ?? "" });
    const sessionId = session(open).paymentHash;
    const returnInvoice = await createInvoice({ lnd: bob, description: "session refund" });
    const opened = await present(one, "/metered/open", open, {
      action: "open",
      preimage: paid.secret,
      returnInvoice: returnInvoice.request,
    });
    expect(opened.status).toBe(200);

    const { payment: topUpChallenge } = await offered(one, "/metered/topup", deposit);
    const topUpPaid = await pay({ lnd: bob, request: session(topUpChallenge).depositInvoice ?? "" });
    const topUp = { action: "topUp", sessionId, topUpPreimage: topUpPaid.secret };
    const both = await Promise.all([
      present(one, "/metered/topup", topUpChallenge, topUp),
      present(other, "/metered/topup", topUpChallenge, topUp),
    ]);
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    expect(both.map((r) => r.body.credited).sort()).toEqual([false, true]);
    const balance = 2 * DEPOSIT_MSAT - CALL_MSAT;
    const again = await present(other, "/metered/topup", topUpChallenge, topUp);
    expect(again.body).toMatchObject({ credited: false, balance_msat: balance });

    // Closed through both at once: the return invoice is paid once, the balance.
    const close = { action: "close", sessionId, preimage: paid.secret };
    const closes = await Promise.all([
      present(one, "/metered/close", open, close),
      present(other, "/metered/close", open, close),
    ]);
    expect(closes.map((closed) => closed.status)).toContain(200);
    for (const closed of closes) expect([200, 409]).toContain(closed.status);
    await expect
      .poll(async () => (await getInvoice({ lnd: bob, id: returnInvoice.id })).is_confirmed, { timeout: 60_000 })
      .toBe(true);
    expect((await getInvoice({ lnd: bob, id: returnInvoice.id })).received_mtokens).toBe(String(balance));
    // Bob sees the HTLC settle before alice learns the preimage: wait for her side to finish too.
    await expect.poll(async () => (await alicePaid([returnInvoice.id])).pending, { timeout: 60_000 }).toBe(0);
    await expect(alicePaid([returnInvoice.id])).resolves.toEqual({ count: 1, msat: balance, pending: 0 });
    await accountingHolds();
  });

  it("pays a close presented through both at once, each with its own invoice, once", async () => {
    const [one, other] = doors();
    const challenge = await send(`${one}/metered/l402`, deposit);
    expect(challenge.status).toBe(402);
    const body = challenge.body as { macaroon: string; invoice: string };
    const paid = await pay({ lnd: bob, request: body.invoice });
    const authorization = formatAuthorization({
      macaroons: [body.macaroon],
      preimage: Buffer.from(paid.secret, "hex"),
    });
    const invoices = await Promise.all([1, 2].map(() => createInvoice({ lnd: bob, description: "refund" })));
    const closes = await Promise.all(
      [one, other].map((door, i) =>
        send(
          `${door}/l402/close`,
          { authorization, "content-type": "application/json" },
          JSON.stringify({ invoice: invoices[i]?.request }),
        ),
      ),
    );
    expect(closes.map((closed) => closed.status)).toContain(200);
    for (const closed of closes) expect([200, 409]).toContain(closed.status);
    const ids = invoices.map((invoice) => invoice.id);
    const received = async () => {
      const got = await Promise.all(
        ids.map(async (id) => Number((await getInvoice({ lnd: bob, id })).received_mtokens)),
      );
      return got.reduce((a, b) => a + b, 0);
    };
    await expect.poll(received, { timeout: 60_000 }).toBe(DEPOSIT_MSAT);
    // No payment left in flight on alice, and exactly one made, of the balance.
    await expect.poll(async () => (await alicePaid(ids)).pending, { timeout: 60_000 }).toBe(0);
    await expect(alicePaid(ids)).resolves.toMatchObject({ count: 1, msat: DEPOSIT_MSAT });
    await accountingHolds();
  });
}

/**
 * Alice's payments to these payment hashes: how many succeeded, the msat they delivered (fees aside), and how many
 * are still in flight.
 */
async function alicePaid(hashes: readonly string[]) {
  const { payments } = await getPayments({ lnd: alice, limit: 1_000 });
  const done = payments.filter((p) => hashes.includes(p.id) && p.is_confirmed);
  const inFlight = (await getPendingPayments({ lnd: alice, limit: 1_000 })).payments;
  return {
    count: done.length,
    msat: done.reduce((sum, p) => sum + Number(p.mtokens), 0),
    pending: inFlight.filter((p) => hashes.includes(p.id)).length,
  };
}

/**
 * The accounting invariant on a PostgreSQL store, when no request is in flight: per metered account, credited =
 * charged + balance + reserved (0) + refunded, the refund row moves exactly what was refunded, and a refund the store
 * calls succeeded is one payment alice made, of its amount. Returns the violations.
 */
async function postgresAccounting(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tokens = (
      await client.query<Record<string, string>>(
        `SELECT t.token_id, t.credited_msat, t.charged_msat, t.balance_msat, t.reserved_msat, t.refunded_msat,
                COALESCE(r.amount_msat, 0) AS refund_msat, r.status AS refund_status, r.payment_hash
         FROM tokens t LEFT JOIN refunds r ON r.token_id = t.token_id WHERE t.metered = 1 AND t.status <> 'issued'`,
      )
    ).rows;
    const violations: string[] = [];
    for (const t of tokens) {
      const n = (column: string) => Number(t[column]);
      const label = `token ${String(t.token_id).slice(0, 8)}`;
      const accounted = n("charged_msat") + n("balance_msat") + n("reserved_msat") + n("refunded_msat");
      if (n("credited_msat") !== accounted) violations.push(`${label}: credited ${n("credited_msat")} ≠ ${accounted}`);
      if (n("reserved_msat") !== 0) violations.push(`${label}: ${n("reserved_msat")} msat still reserved`);
      if (n("refund_msat") !== n("refunded_msat")) violations.push(`${label}: refund row ≠ refunded`);
      if (t.refund_status === "succeeded") {
        const paid = await alicePaid([String(t.payment_hash)]);
        if (paid.count !== 1 || paid.msat !== n("refund_msat")) {
          violations.push(`${label}: refund recorded paid, alice paid ${paid.count} times, ${paid.msat} msat`);
        }
      }
    }
    return violations;
  } finally {
    await client.end();
  }
}

describe("single use across two workers on one SQLite file (regtest)", () => {
  let upstream: TestUpstream;
  let cluster: RunningCluster;
  const storePath = join(mkdtempSync(join(tmpdir(), "l402-single-use-")), "gateway.sqlite");

  beforeAll(async () => {
    upstream = await startUpstream();
    const config = await gatewayConfig(upstream.url, { path: storePath });
    cluster = await startCluster(config, { workers: 2, log: pino({ level: "silent" }) });
  });

  afterAll(async () => {
    await cluster?.close();
    await upstream?.close();
  });

  singleUseAcross(
    () => [cluster.url, cluster.url],
    () => upstream,
    async () => {
      const verdict = await checkAccounting({ storePath, lnd: alice, quiescent: true });
      expect(verdict.violations).toEqual([]);
    },
    async () => {
      const perWorker = await Promise.all(
        cluster
          .workerOperatorUrls()
          .map((url) => scrapeSum(`${url}/metrics`, 'l402_payment_credentials_total{service="fixed"')),
      );
      expect(perWorker).toHaveLength(2);
      for (const count of perWorker) expect(count).toBeGreaterThan(0);
    },
  );
});

describe("single use across two replicas on one PostgreSQL database (regtest)", () => {
  let postgres: TestPostgres;
  let upstream: TestUpstream;
  let a: RunningGateway;
  let b: RunningGateway;
  let databaseUrl: string;

  beforeAll(async () => {
    postgres = await startPostgres();
    upstream = await startUpstream();
    databaseUrl = await postgres.createDatabase();
    const config = await gatewayConfig(upstream.url, { postgres: { url: databaseUrl } });
    a = await startGateway(config, { log: pino({ level: "silent" }) });
    b = await startGateway(config, { log: pino({ level: "silent" }) });
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await upstream?.close();
    await postgres?.stop();
  });

  // test/support/accounting.ts reads SQLite only: the same per-account invariant, and refunds against LND, here.
  singleUseAcross(
    () => [a.url, b.url],
    () => upstream,
    async () => expect(await postgresAccounting(databaseUrl)).toEqual([]),
    async () => {},
  );
});
