import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type GatewayConfig,
  LndRefundPayer,
  parseConfig,
  type RunningGateway,
  serviceSecret,
  startGateway,
} from "@l402-gateway/gateway";
import {
  bindChallengeId,
  decodePaymentRequest,
  encodeBase64Url,
  formatAuthorization,
  formatPaymentAuthorization,
  type LightningChargeRequest,
  type LightningSessionRequest,
  lightningChargeRequestSchema,
  lightningSessionRequestSchema,
  type PaymentChallenge,
  parsePaymentChallenges,
  parsePaymentReceipt,
} from "@l402-gateway/l402";
import Database from "better-sqlite3";
import { cancelHodlInvoice, createInvoice, getInvoice, grantAccess, pay } from "lightning";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testNetwork } from "./regtest/context.js";
import { gatewayLndConfig, lndClient } from "./regtest/network-file.js";
import { checkAccounting } from "./support/accounting.js";
import { ensureOperatorCanPay } from "./support/operator-liquidity.js";
import { startUpstream, type TestUpstream } from "./support/upstream.js";

const network = testNetwork();
const alice = lndClient(network.nodes.alice);
const bob = lndClient(network.nodes.bob);
const PRICE_SATS = 21;
const CALL_MSAT = 2_000;
const DEPOSIT_MSAT = 20_000;
const PROBLEM = "https://paymentauth.org/problems/";

interface Offered {
  readonly status: number;
  readonly wwwAuthenticate: string;
  readonly contentType: string;
  readonly body: Record<string, unknown>;
  readonly payment: PaymentChallenge;
}

/** An amountless invoice of bob's, for refunds. */
async function bobInvoice(): Promise<{ request: string; id: string }> {
  const invoice = await createInvoice({ lnd: bob, description: "refund" });
  return { request: invoice.request, id: invoice.id };
}

describe("HTTP Payment scheme and refunds (regtest)", () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;
  let config: GatewayConfig;
  let refundMacaroon: string;
  const storePath = join(mkdtempSync(join(tmpdir(), "gw-payment-")), "gateway.sqlite");

  async function start(): Promise<RunningGateway> {
    return startGateway(config, { log: pino({ level: "silent" }) });
  }

  beforeAll(async () => {
    upstream = await startUpstream();
    refundMacaroon = (await grantAccess({ lnd: alice, permissions: ["offchain:read", "offchain:write"] })).macaroon;
    // Refunds are paid from alice's side of the channel bob opened.
    await ensureOperatorCanPay(alice, bob, 50_000);
    config = parseConfig({
      listen: { port: 0 },
      operator: { port: 0 },
      lnd: { ...gatewayLndConfig(network.nodes.alice), refundMacaroon },
      store: { path: storePath },
      log: { level: "silent" },
      limits: { challengeBurst: 1_000, challengesPerMinute: 1_000 },
      payment: { realm: "regtest.example" },
      refunds: { maxSats: 1_000, perMinute: 600, burst: 100 },
      services: [
        {
          name: "fixed",
          match: { pathPrefix: "/fixed" },
          upstream: upstream.url,
          price: { sats: PRICE_SATS },
          schemes: ["l402", "payment-charge"],
        },
        {
          name: "metered",
          match: { pathPrefix: "/metered" },
          upstream: upstream.url,
          pricing: { rules: [{ perCallMsat: CALL_MSAT }], deposit: { minMsat: 1_000, maxMsat: 1_000_000 } },
          schemes: ["l402", "payment-session"],
        },
      ],
    });
    gateway = await start();
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  async function offered(path: string, headers: Record<string, string> = {}): Promise<Offered> {
    const res = await fetch(`${gateway.url}${path}`, { headers });
    const wwwAuthenticate = res.headers.get("www-authenticate") ?? "";
    const [payment] = parsePaymentChallenges(wwwAuthenticate);
    if (!payment) throw new Error(`no Payment challenge in ${res.status}: ${wwwAuthenticate}`);
    return {
      status: res.status,
      wwwAuthenticate,
      contentType: res.headers.get("content-type") ?? "",
      body: (await res.json()) as Record<string, unknown>,
      payment,
    };
  }

  const deposit = { "x-l402-deposit-msat": String(DEPOSIT_MSAT) };
  const chargeRequest = (c: PaymentChallenge): LightningChargeRequest =>
    decodePaymentRequest(c.request, lightningChargeRequestSchema);
  const sessionRequest = (c: PaymentChallenge): LightningSessionRequest =>
    decodePaymentRequest(c.request, lightningSessionRequestSchema);

  async function payCharge(c: PaymentChallenge): Promise<string> {
    return (await pay({ lnd: bob, request: chargeRequest(c).methodDetails.invoice })).secret;
  }

  async function present(path: string, challenge: PaymentChallenge, payload: Record<string, unknown>) {
    const res = await fetch(`${gateway.url}${path}`, {
      headers: { authorization: formatPaymentAuthorization({ challenge, payload }) },
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: (text.startsWith("{") ? JSON.parse(text) : {}) as Record<string, unknown>,
    };
  }

  /** The HMAC secret the gateway keeps in its store: lets a test bind a challenge the gateway could have issued. */
  function storedSecret(): Buffer {
    const db = new Database(storePath, { readonly: true });
    try {
      return (db.prepare("SELECT value FROM secrets").get() as { value: Buffer }).value;
    } finally {
      db.close();
    }
  }

  async function accountingHolds(): Promise<void> {
    const verdict = await checkAccounting({ storePath, lnd: alice, quiescent: true });
    expect(verdict.violations).toEqual([]);
  }

  it("offers LSAT, L402 and Payment in that order, each with its own invoice, in a problem+json 402", async () => {
    const answer = await offered("/fixed/x");
    expect(answer.status).toBe(402);
    const lsat = answer.wwwAuthenticate.indexOf("LSAT ");
    const l402 = answer.wwwAuthenticate.indexOf("L402 ");
    const payment = answer.wwwAuthenticate.indexOf("Payment ");
    expect(lsat).toBe(0);
    expect(lsat < l402 && l402 < payment).toBe(true);
    expect(answer.contentType).toContain("application/problem+json");
    expect(answer.body).toMatchObject({ type: `${PROBLEM}payment-required`, status: 402, code: "missing" });
    const request = chargeRequest(answer.payment);
    expect(request).toMatchObject({
      amount: String(PRICE_SATS),
      currency: "sat",
      methodDetails: { network: "regtest" },
    });
    expect(request.methodDetails.invoice).not.toBe(answer.body.invoice);
    expect(answer.payment).toMatchObject({ realm: "regtest.example", method: "lightning", intent: "charge" });
    const manifest = (await (await fetch(`${gateway.url}/.well-known/l402.json`)).json()) as {
      payment: { schemes: string[] };
      services: { name: string; schemes: string[] }[];
    };
    expect(manifest.payment.schemes).toEqual(["L402", "LSAT", "Payment"]);
    expect(manifest.services.map((s) => [s.name, s.schemes])).toEqual([
      ["fixed", ["l402", "payment-charge"]],
      ["metered", ["l402", "payment-session"]],
    ]);
    const session = await offered("/metered/x", deposit);
    expect(session.payment.intent).toBe("session");
    expect(sessionRequest(session.payment)).toMatchObject({ depositAmount: String(DEPOSIT_MSAT / 1000) });
  });

  it("serves a paid charge once with a receipt, and refuses its replay with a fresh challenge", async () => {
    const { payment: challenge } = await offered("/fixed/charge");
    const preimage = await payCharge(challenge);
    const seenBefore = upstream.seen.length;
    const paid = await present("/fixed/charge", challenge, { preimage });
    expect(paid.status).toBe(200);
    expect(paid.headers.get("cache-control")).toBe("private");
    const receiptText = paid.headers.get("payment-receipt") ?? "";
    expect(receiptText).not.toContain("=");
    expect(Buffer.from(receiptText, "base64url").toString()).not.toContain(preimage);
    expect(parsePaymentReceipt(receiptText)).toMatchObject({
      status: "success",
      method: "lightning",
      reference: chargeRequest(challenge).methodDetails.paymentHash,
      challengeId: challenge.id,
    });
    const replay = await present("/fixed/charge", challenge, { preimage });
    expect(replay.status).toBe(402);
    expect(replay.body.type).toBe(`${PROBLEM}invalid-challenge`);
    expect(replay.headers.get("payment-receipt")).toBeNull();
    expect(parsePaymentChallenges(replay.headers.get("www-authenticate") ?? "")[0]?.id).not.toBe(challenge.id);
    expect(upstream.seen.length - seenBefore).toBe(1);
    await accountingHolds();
  });

  it("lets exactly one of two concurrent presentations of a charge through", async () => {
    const { payment: challenge } = await offered("/fixed/race");
    const preimage = await payCharge(challenge);
    const both = await Promise.all([
      present("/fixed/race", challenge, { preimage }),
      present("/fixed/race", challenge, { preimage }),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 402]);
  });

  it("refuses tampered, wrongly paid, expired and foreign credentials without consuming the payment", async () => {
    const { payment: challenge } = await offered("/fixed/tamper");
    const preimage = await payCharge(challenge);
    const request = chargeRequest(challenge);
    const cheaper = encodeBase64Url(JSON.stringify({ ...request, amount: "1" }));
    const cases: [string, PaymentChallenge, Record<string, unknown>, number, string][] = [
      ["a tampered id", { ...challenge, id: `${challenge.id.slice(0, -2)}AA` }, { preimage }, 402, "invalid-challenge"],
      ["a changed amount", { ...challenge, request: cheaper }, { preimage }, 402, "invalid-challenge"],
      ["a changed expiry", { ...challenge, expires: "2099-01-01T00:00:00Z" }, { preimage }, 402, "invalid-challenge"],
      ["a wrong method", { ...challenge, method: "tempo" }, { preimage }, 400, "method-unsupported"],
      ["a wrong preimage", challenge, { preimage: "00".repeat(32) }, 402, "verification-failed"],
      ["a short preimage", challenge, { preimage: "abcd" }, 402, "lightning/malformed-credential"],
    ];
    for (const [what, echoed, payload, status, type] of cases) {
      const answer = await present("/fixed/tamper", echoed, payload);
      expect({ what, status: answer.status, type: answer.body.type }).toEqual({
        what,
        status,
        type: `${PROBLEM}${type}`,
      });
      if (status === 402) expect(parsePaymentChallenges(answer.headers.get("www-authenticate") ?? "")).toHaveLength(1);
    }
    // A challenge bound with the gateway's own secret but already expired: refused as expired.
    const { id: _, ...fields } = challenge;
    const expired = { ...fields, expires: "2020-01-01T00:00:00Z" };
    const expiredAnswer = await present(
      "/fixed/tamper",
      { ...expired, id: bindChallengeId(serviceSecret(storedSecret(), "fixed"), expired) },
      { preimage },
    );
    expect(expiredAnswer.status).toBe(402);
    expect(expiredAnswer.body.type).toBe(`${PROBLEM}payment-expired`);
    // The same payment offered for the metered service: another service's challenge.
    const foreign = await present("/metered/x", challenge, { preimage });
    expect(foreign.body.type).toBe(`${PROBLEM}invalid-challenge`);
    // An unpaid invoice of a genuine challenge: not settled.
    const { payment: unpaid } = await offered("/fixed/tamper");
    const unpaidAnswer = await present("/fixed/tamper", unpaid, { preimage: "11".repeat(32) });
    expect(unpaidAnswer.body.type).toBe(`${PROBLEM}verification-failed`);
    // None of this consumed the paid challenge.
    expect((await present("/fixed/tamper", challenge, { preimage })).status).toBe(200);
    await accountingHolds();
  });

  it("opens a session, meters bearer calls on its balance, tops it up once, and closes with a refund", async () => {
    const { payment: open } = await offered("/metered/a", deposit);
    const request = sessionRequest(open);
    const paid = await pay({ lnd: bob, request: request.depositInvoice ?? "" });
    const sessionId = request.paymentHash;
    const returnInvoice = await bobInvoice();

    const opened = await present("/metered/a", open, {
      action: "open",
      preimage: paid.secret,
      returnInvoice: returnInvoice.request,
    });
    expect(opened.status).toBe(200);
    expect(parsePaymentReceipt(opened.headers.get("payment-receipt") ?? "")).toMatchObject({ reference: sessionId });
    expect(opened.headers.get("x-l402-balance-msat")).toBe(String(DEPOSIT_MSAT - CALL_MSAT));

    const bearer = { action: "bearer", sessionId, preimage: paid.secret };
    const used = await present("/metered/b", open, bearer);
    expect(used.status).toBe(200);
    expect(used.headers.get("x-l402-balance-msat")).toBe(String(DEPOSIT_MSAT - 2 * CALL_MSAT));
    expect((await present("/metered/b", open, { ...bearer, preimage: "22".repeat(32) })).body.type).toBe(
      `${PROBLEM}verification-failed`,
    );
    expect((await present("/metered/b", open, { ...bearer, sessionId: "ab".repeat(32) })).body.type).toBe(
      `${PROBLEM}lightning/session-not-found`,
    );
    // The deposit cannot come back as a top-up, nor open a second session.
    const depositAgain = await present("/metered/c", open, { action: "topUp", sessionId, topUpPreimage: paid.secret });
    expect(depositAgain.body.type).toBe(`${PROBLEM}invalid-challenge`);

    const { payment: topUpChallenge } = await offered("/metered/c", deposit);
    const topUpPaid = await pay({ lnd: bob, request: sessionRequest(topUpChallenge).depositInvoice ?? "" });
    const topUp = { action: "topUp", sessionId, topUpPreimage: topUpPaid.secret };
    const credited = await present("/metered/c", topUpChallenge, topUp);
    expect(credited).toMatchObject({
      status: 200,
      body: { status: "ok", credited: true, balance_msat: 2 * DEPOSIT_MSAT - 2 * CALL_MSAT },
    });
    const repeated = await present("/metered/c", topUpChallenge, topUp);
    expect(repeated.body).toMatchObject({ credited: false, balance_msat: 2 * DEPOSIT_MSAT - 2 * CALL_MSAT });

    const close = { action: "close", sessionId, preimage: paid.secret };
    const closed = await present("/metered/d", open, close);
    const refundMsat = 2 * DEPOSIT_MSAT - 2 * CALL_MSAT;
    expect(closed).toMatchObject({
      status: 200,
      body: { status: "closed", refundSats: refundMsat / 1000, refundStatus: "succeeded" },
    });
    expect(parsePaymentReceipt(closed.headers.get("payment-receipt") ?? "")).toMatchObject({
      reference: sessionId,
      refundSats: refundMsat / 1000,
      refundStatus: "succeeded",
    });
    const received = await getInvoice({ lnd: bob, id: returnInvoice.id });
    expect(received).toMatchObject({ is_confirmed: true, received_mtokens: String(refundMsat) });
    // Closed: bearer use is refused, a repeated close answers the stored result and pays nothing more.
    expect((await present("/metered/e", open, bearer)).body.type).toBe(`${PROBLEM}lightning/session-closed`);
    expect((await present("/metered/d", open, close)).body).toMatchObject({
      refundStatus: "succeeded",
      refundSats: refundMsat / 1000,
    });
    expect((await getInvoice({ lnd: bob, id: returnInvoice.id })).received_mtokens).toBe(String(refundMsat));
    await accountingHolds();
  });

  it("refuses a session open whose return invoice has an amount", async () => {
    const { payment: open } = await offered("/metered/a", deposit);
    const paid = await pay({ lnd: bob, request: sessionRequest(open).depositInvoice ?? "" });
    const withAmount = await createInvoice({ lnd: bob, tokens: 5 });
    const answer = await present("/metered/a", open, {
      action: "open",
      preimage: paid.secret,
      returnInvoice: withAmount.request,
    });
    expect(answer.body.type).toBe(`${PROBLEM}lightning/invalid-return-invoice`);
    // The paid deposit is not lost: a good return invoice opens it.
    const good = await bobInvoice();
    expect(
      (await present("/metered/a", open, { action: "open", preimage: paid.secret, returnInvoice: good.request }))
        .status,
    ).toBe(200);
  });

  async function buyMeteredToken(): Promise<string> {
    const res = await fetch(`${gateway.url}/metered/l402`, { headers: deposit });
    const body = (await res.json()) as { macaroon: string; invoice: string };
    const paid = await pay({ lnd: bob, request: body.invoice });
    return formatAuthorization({ macaroons: [body.macaroon], preimage: Buffer.from(paid.secret, "hex") });
  }

  async function closeToken(authorization: string, invoice?: string) {
    const res = await fetch(`${gateway.url}/l402/close`, {
      method: "POST",
      headers: { authorization, "content-type": "application/json" },
      body: JSON.stringify(invoice === undefined ? {} : { invoice }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it("closes an L402 prepaid token and refunds its balance once", async () => {
    const authorization = await buyMeteredToken();
    expect((await fetch(`${gateway.url}/metered/use`, { headers: { authorization } })).status).toBe(200);
    const invoice = await bobInvoice();
    const closed = await closeToken(authorization, invoice.request);
    expect(closed).toMatchObject({
      status: 200,
      body: { refund: { amount_msat: DEPOSIT_MSAT - CALL_MSAT, status: "succeeded" } },
    });
    expect((await fetch(`${gateway.url}/metered/use`, { headers: { authorization } })).status).toBe(402);
    const again = await closeToken(authorization, (await bobInvoice()).request);
    expect(again.body).toMatchObject({ refund: { status: "succeeded", payment_hash: invoice.id } });
    expect((await getInvoice({ lnd: bob, id: invoice.id })).received_mtokens).toBe(String(DEPOSIT_MSAT - CALL_MSAT));
    const metrics = await (await fetch(`${gateway.operatorUrl}/metrics`)).text();
    expect(metrics).toMatch(/l402_refunded_msat_total\{service="metered"\} [1-9]/);
    await accountingHolds();
  });

  it("records a refund whose payment fails, and pays it once when retried", async () => {
    const authorization = await buyMeteredToken();
    const doomed = await createInvoice({ lnd: bob });
    await cancelHodlInvoice({ lnd: bob, id: doomed.id });
    const failed = await closeToken(authorization, doomed.request);
    expect(failed).toMatchObject({ status: 200, body: { refund: { status: "failed", amount_msat: DEPOSIT_MSAT } } });
    await accountingHolds();
    const good = await bobInvoice();
    const retried = await closeToken(authorization, good.request);
    expect(retried.body).toMatchObject({ refund: { status: "succeeded", attempts: 2, payment_hash: good.id } });
    expect((await getInvoice({ lnd: bob, id: good.id })).received_mtokens).toBe(String(DEPOSIT_MSAT));
    const metrics = await (await fetch(`${gateway.operatorUrl}/metrics`)).text();
    expect(metrics).toMatch(/l402_refund_failures_total\{service="metered"\} [1-9]/);
    await accountingHolds();
  });

  it("reconciles refunds a killed gateway left pending from LND, never paying twice", async () => {
    // Gateway 1 dies mid-refund: once right after LND took the payment, once before it was sent.
    const paidThenKilled = await buyMeteredToken();
    const killedBeforePaying = await buyMeteredToken();
    await gateway.close();
    const payer = LndRefundPayer.fromConfig(config.lnd);
    if (!payer) throw new Error("no refund payer");
    let mode: "pay-then-hang" | "hang" = "pay-then-hang";
    const never = new Promise<never>(() => {});
    gateway = await startGateway(config, {
      log: pino({ level: "silent" }),
      refundPayer: {
        nodeKey: () => payer.nodeKey(),
        lookup: (hash) => payer.lookup(hash),
        pay: async (args) => {
          if (mode === "pay-then-hang") await payer.pay(args);
          return never;
        },
      },
    });
    const first = await bobInvoice();
    void closeToken(paidThenKilled, first.request).catch(() => {});
    await expect
      .poll(async () => (await getInvoice({ lnd: bob, id: first.id })).is_confirmed, { timeout: 60_000 })
      .toBe(true);
    mode = "hang";
    const second = await bobInvoice();
    void closeToken(killedBeforePaying, second.request).catch(() => {});
    const db = () => new Database(storePath, { readonly: true });
    await expect
      .poll(() => {
        const d = db();
        try {
          return (d.prepare("SELECT COUNT(*) AS n FROM refunds WHERE status = 'pending'").get() as { n: number }).n;
        } finally {
          d.close();
        }
      })
      .toBe(2);
    await gateway.close();
    gateway = await start();
    await gateway.reconciled;
    const refunds = await gateway.store.listRefunds({ limit: 10 });
    const byHash = new Map(refunds.map((r) => [r.paymentHash, r]));
    expect(byHash.get(first.id)).toMatchObject({ status: "succeeded", amountMsat: DEPOSIT_MSAT });
    expect(byHash.get(second.id)).toMatchObject({ status: "succeeded", amountMsat: DEPOSIT_MSAT });
    expect((await getInvoice({ lnd: bob, id: first.id })).received_mtokens).toBe(String(DEPOSIT_MSAT));
    expect((await getInvoice({ lnd: bob, id: second.id })).received_mtokens).toBe(String(DEPOSIT_MSAT));
    await accountingHolds();
  });
});
