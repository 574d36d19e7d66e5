import pino from "pino";
import { describe, expect, it } from "vitest";
import { makeInvoice } from "../../../agent-client/src/test-support/invoices.js";
import { parseConfig } from "../config/load.js";
import { GatewayMetrics } from "../metrics/metrics.js";
import { SqliteTokenStore } from "../store/sqlite.js";
import type { TokenRecord } from "../store/store.js";
import { newToken } from "../store/token-store.suite.js";
import type { PaymentResult, PaymentState, RefundPayer } from "./payer.js";
import { Refunds } from "./refunds.js";

/** A payer whose LND is a map: what each payment hash's state is, and every payment asked for. */
class FakePayer implements RefundPayer {
  readonly states = new Map<string, PaymentState>();
  readonly paid: string[] = [];
  next: PaymentResult = { status: "succeeded", feeMsat: 0 };
  async nodeKey() {
    return undefined;
  }
  async pay(args: { invoice: string }): Promise<PaymentResult> {
    this.paid.push(args.invoice);
    return this.next;
  }
  async lookup(paymentHash: string): Promise<PaymentState> {
    return this.states.get(paymentHash) ?? { status: "unknown" };
  }
}

const caps = parseConfig({
  lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" },
  store: { path: ":memory:" },
  services: [{ name: "llm", match: { pathPrefix: "/" }, upstream: "http://127.0.0.1:1", price: { sats: 1 } }],
}).refunds;

async function setup(overrides: Partial<typeof caps> = {}) {
  const store = new SqliteTokenStore(":memory:");
  const payer = new FakePayer();
  const refunds = new Refunds({
    store,
    payer,
    caps: { ...caps, ...overrides },
    metrics: new GatewayMetrics(["llm"]),
    log: pino({ level: "silent" }),
  });
  const account = async (sats: number): Promise<TokenRecord> => {
    const token = newToken({ priceSats: sats, metered: true, invoice: makeInvoice({ amountSats: sats }).invoice });
    await store.insertToken(token);
    const paid = await store.markPaid(token.paymentHash, new Date());
    if (!paid) throw new Error("not paid");
    return paid.token;
  };
  return { store, payer, refunds, account };
}

const amountless = () => makeInvoice({ amountSats: 0 });

describe("refunds", () => {
  it("pays a closed account once; a repeated close answers the stored refund", async () => {
    const { payer, refunds, account } = await setup();
    const token = await account(10);
    const invoice = amountless();
    const first = await refunds.close(token, invoice.invoice);
    expect(first).toMatchObject({ ok: true, refund: { status: "succeeded", amountMsat: 10_000, attempts: 1 } });
    payer.states.set(invoice.paymentHash, { status: "succeeded", feeMsat: 0 });
    expect(await refunds.close(token, amountless().invoice)).toMatchObject({
      ok: true,
      refund: { status: "succeeded" },
    });
    expect(payer.paid).toEqual([invoice.invoice]);
  });

  it("retries a refund LND failed, to the same invoice when no new one is given", async () => {
    const { payer, refunds, account } = await setup();
    const token = await account(10);
    const invoice = amountless();
    payer.next = { status: "failed", error: "no route" };
    expect(await refunds.close(token, invoice.invoice)).toMatchObject({
      refund: { status: "failed", error: "no route" },
    });
    payer.states.set(invoice.paymentHash, { status: "failed", error: "no route" });
    payer.next = { status: "succeeded", feeMsat: 5 };
    expect(await refunds.close(token, undefined)).toMatchObject({
      refund: { status: "succeeded", attempts: 2, feeMsat: 5 },
    });
    expect(payer.paid).toEqual([invoice.invoice, invoice.invoice]);
  });

  it("reconciles pending refunds from LND: records what LND paid, pays only what it never saw", async () => {
    const { store, payer, refunds, account } = await setup();
    const sent = await account(4);
    const unsent = await account(6);
    for (const [token, invoice] of [
      [sent, amountless()],
      [unsent, amountless()],
    ] as const) {
      await store.closeAccount({
        tokenId: token.tokenId,
        invoice: { request: invoice.invoice, paymentHash: invoice.paymentHash },
        maxMsat: 1e9,
        at: new Date(),
      });
      if (token === sent) payer.states.set(invoice.paymentHash, { status: "succeeded", feeMsat: 1 });
    }
    expect(await refunds.reconcile()).toBe(2);
    expect((await store.getRefund(sent.tokenId))?.status).toBe("succeeded");
    expect((await store.getRefund(unsent.tokenId))?.status).toBe("succeeded");
    expect(payer.paid).toHaveLength(1);
  });

  it("refuses over the cap and over the rate, leaving the account open", async () => {
    const { store, payer, refunds, account } = await setup({ maxSats: 5, perMinute: 0.001, burst: 1 });
    const big = await account(10);
    expect(await refunds.close(big, amountless().invoice)).toMatchObject({
      ok: false,
      status: 422,
      code: "refund_over_cap",
    });
    const a = await account(2);
    const b = await account(2);
    expect(await refunds.close(a, amountless().invoice)).toMatchObject({ ok: true });
    expect(await refunds.close(b, amountless().invoice)).toMatchObject({
      ok: false,
      status: 429,
      code: "rate_limited",
    });
    expect((await store.getToken(b.tokenId))?.status).toBe("paid");
    expect((await store.getToken(big.tokenId))?.account.balanceMsat).toBe(10_000);
    expect(payer.paid).toHaveLength(1);
  });

  it("refuses an invoice of another network, of a wrong amount, or expiring", async () => {
    const { refunds, account } = await setup();
    const token = await account(3);
    expect(await refunds.close(token, "lnbc1notaninvoice")).toMatchObject({
      status: 400,
      code: "invalid_refund_invoice",
    });
    expect(await refunds.close(token, makeInvoice({ amountSats: 2 }).invoice)).toMatchObject({ status: 400 });
    expect(await refunds.close(token, makeInvoice({ amountSats: 0, expiresInSeconds: 30 }).invoice)).toMatchObject({
      status: 400,
    });
    expect(await refunds.close(token, makeInvoice({ amountSats: 3 }).invoice)).toMatchObject({ ok: true });
  });
});
