import pino from "pino";
import { describe, expect, it } from "vitest";
import { makeInvoice } from "../../../agent-client/src/test-support/invoices.js";
import { parseConfig } from "../config/load.js";
import { GatewayMetrics } from "../metrics/metrics.js";
import { SqliteTokenStore } from "../store/sqlite.js";
import type { TokenRecord } from "../store/store.js";
import { newToken } from "../store/token-store.suite.js";
import { LndPaymentsDouble, type PayStep } from "../test-support/lnd-payments-double.js";
import { isAlreadyPayingAnswer } from "./payer.js";
import { Refunds } from "./refunds.js";

const caps = parseConfig({
  lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" },
  store: { path: ":memory:" },
  services: [{ name: "llm", match: { pathPrefix: "/" }, upstream: "http://127.0.0.1:1", price: { sats: 1 } }],
}).refunds;

/** A promise resolved from outside. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function setup(
  overrides: Partial<typeof caps> = {},
  options: ConstructorParameters<typeof LndPaymentsDouble>[0] = {},
) {
  const store = new SqliteTokenStore(":memory:");
  const payer = new LndPaymentsDouble(options);
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
    expect(await refunds.close(token, amountless().invoice)).toMatchObject({
      ok: true,
      refund: { status: "succeeded", paymentHash: invoice.paymentHash },
    });
    expect(payer.payments).toEqual([{ paymentHash: invoice.paymentHash, amountMsat: 10_000, state: "succeeded" }]);
  });

  it("retries a refund LND reports failed, to the same invoice when no new one is given", async () => {
    let outcome: "failed" | "succeeded" = "failed";
    const { payer, refunds, account } = await setup({}, { outcome: () => outcome });
    const token = await account(10);
    const invoice = amountless();
    expect(await refunds.close(token, invoice.invoice)).toMatchObject({
      refund: { status: "failed", error: "LND reports the payment failed" },
    });
    outcome = "succeeded";
    expect(await refunds.close(token, undefined)).toMatchObject({ refund: { status: "succeeded", attempts: 2 } });
    expect(payer.payments.map((p) => [p.paymentHash, p.state])).toEqual([
      [invoice.paymentHash, "failed"],
      [invoice.paymentHash, "succeeded"],
    ]);
  });

  it("pays once while N closes and retries (some naming other invoices) arrive during the payment's flight", async () => {
    const held = deferred();
    const registered = deferred();
    const gate = async (step: PayStep) => {
      if (step !== "in_flight") return;
      registered.resolve();
      await held.promise;
    };
    const { store, payer, refunds, account } = await setup({ burst: 100 }, { gate });
    const token = await account(10);
    const invoices = Array.from({ length: 6 }, amountless);
    const first = refunds.close(token, invoices[0]?.invoice);
    await registered.promise;
    const others = await Promise.all(invoices.slice(1).map((invoice) => refunds.close(token, invoice.invoice)));
    for (const reply of others) {
      expect(reply).toMatchObject({ ok: true, refund: { status: "pending", paymentHash: invoices[0]?.paymentHash } });
    }
    expect(await refunds.reconcile()).toBe(1);
    expect(payer.payments).toHaveLength(1);
    held.resolve();
    expect(await first).toMatchObject({ refund: { status: "succeeded", attempts: 1 } });
    expect(await refunds.close(token, amountless().invoice)).toMatchObject({ refund: { status: "succeeded" } });
    expect(payer.payments).toEqual([{ paymentHash: invoices[0]?.paymentHash, amountMsat: 10_000, state: "succeeded" }]);
    expect(await store.refundPaymentHashes(token.tokenId)).toEqual([invoices[0]?.paymentHash]);
  });

  it("never records a failure from LND's 'in transition' answer: the duplicate stays pending, LND's record decides", async () => {
    const held = deferred();
    const registered = deferred();
    const gate = async (step: PayStep) => {
      if (step !== "in_flight") return;
      registered.resolve();
      await held.promise;
    };
    const { store, payer, refunds, account } = await setup({}, { gate });
    const token = await account(10);
    const invoice = amountless();
    const first = refunds.close(token, invoice.invoice);
    await registered.promise;
    // A second process whose claim came after the first one's lease ran out (the first is paused, not dead).
    const second = new Refunds({
      store,
      payer,
      caps,
      metrics: new GatewayMetrics(["llm"]),
      log: pino({ level: "silent" }),
    });
    // The first claim's lease ran out while its payment is in flight (released here as expiry would).
    await store.releaseReservationsOf(store.owner, new Date());
    expect(await payer.pay({ invoice: invoice.invoice })).toEqual({
      status: "in_flight",
      detail: "payment is in transition",
    });
    expect(await second.reconcile()).toBe(1);
    expect((await store.getRefund(token.tokenId))?.status).toBe("pending");
    held.resolve();
    expect(await first).toMatchObject({ refund: { status: "succeeded" } });
    expect(payer.paidOut([invoice.paymentHash])).toBe(10_000);
  });

  it("moves to a new invoice only after LND reports the payment failed, then pays it once", async () => {
    const held = deferred();
    const registered = deferred();
    let outcome: "failed" | "succeeded" = "failed";
    const gate = async (step: PayStep) => {
      if (step !== "in_flight" || outcome === "succeeded") return;
      registered.resolve();
      await held.promise;
    };
    const { store, payer, refunds, account } = await setup({ burst: 100 }, { gate, outcome: () => outcome });
    const token = await account(10);
    const [a, b, c] = [amountless(), amountless(), amountless()];
    const first = refunds.close(token, a.invoice);
    await registered.promise;
    expect(await refunds.close(token, b.invoice)).toMatchObject({
      refund: { status: "pending", paymentHash: a.paymentHash },
    });
    held.resolve();
    expect(await first).toMatchObject({ refund: { status: "failed", paymentHash: a.paymentHash } });
    outcome = "succeeded";
    const retries = await Promise.all([refunds.close(token, c.invoice), refunds.close(token, b.invoice)]);
    const paid = payer.payments.filter((p) => p.state === "succeeded");
    expect(paid).toHaveLength(1);
    expect(retries.map((r) => r.ok && r.refund.paymentHash)).toContain(paid[0]?.paymentHash);
    expect((await store.getRefund(token.tokenId))?.status).toBe("succeeded");
    expect(await store.refundPaymentHashes(token.tokenId)).toHaveLength(2);
  });

  it("refuses an invoice that is already another account's refund invoice", async () => {
    const { refunds, account } = await setup();
    const invoice = amountless();
    expect(await refunds.close(await account(3), invoice.invoice)).toMatchObject({ ok: true });
    expect(await refunds.close(await account(3), invoice.invoice)).toMatchObject({
      ok: false,
      refusal: { reason: "invalid_invoice" },
    });
  });

  it("never takes a payment LND made otherwise for the refund's: refused at close, and failed if it races", async () => {
    let outcome: "failed" | "succeeded" = "succeeded";
    const { store, payer, refunds, account } = await setup({ burst: 100 }, { outcome: () => outcome });
    const paidBefore = amountless();
    await payer.pay({ invoice: paidBefore.invoice, amountMsat: 1_000 });
    const token = await account(4);
    expect(await refunds.close(token, paidBefore.invoice)).toMatchObject({
      ok: false,
      refusal: { reason: "invalid_invoice" },
    });
    expect((await store.getToken(token.tokenId))?.status).toBe("paid");
    outcome = "failed";
    expect(await refunds.close(token, amountless().invoice)).toMatchObject({ refund: { status: "failed" } });
    outcome = "succeeded";
    // A retry moves the refund to a new invoice and stops before paying it; LND then pays that invoice otherwise.
    const racing = amountless();
    const ask = { tokenId: token.tokenId, claimId: "gone/1", retry: true, leaseMs: 60_000, at: new Date() };
    const invoice = { request: racing.invoice, paymentHash: racing.paymentHash };
    expect(await store.claimRefund({ ...ask, invoice })).toMatchObject({ kind: "claimed", untried: true });
    await store.releaseReservationsOf("gone", new Date());
    await payer.pay({ invoice: racing.invoice, amountMsat: 1_000 });
    expect(await refunds.reconcile()).toBe(1);
    expect(await store.getRefund(token.tokenId)).toMatchObject({
      status: "failed",
      paymentHash: racing.paymentHash,
      error: expect.stringMatching(/already paid/),
    });
    expect(await refunds.close(token, amountless().invoice)).toMatchObject({ refund: { status: "succeeded" } });
    expect(payer.payments.filter((p) => p.state === "succeeded").map((p) => p.amountMsat)).toEqual([
      1_000, 1_000, 4_000,
    ]);
  });

  it("keeps a refund pending while LND cannot say, and records LND's outcome when it can", async () => {
    const { store, payer, refunds, account } = await setup();
    const token = await account(5);
    payer.reachable = false;
    expect(await refunds.close(token, amountless().invoice)).toMatchObject({
      refund: { status: "pending", attempts: 0 },
    });
    payer.reachable = true;
    expect(await refunds.reconcile()).toBe(1);
    expect(await store.getRefund(token.tokenId)).toMatchObject({ status: "succeeded", attempts: 1 });
    expect(payer.calls).toBe(1);
  });

  it("reconciles pending refunds from LND: records what LND paid, pays only what it never saw", async () => {
    const { store, payer, refunds, account } = await setup();
    const sent = await account(4);
    const unsent = await account(6);
    const sentInvoice = amountless();
    for (const [token, invoice] of [
      [sent, sentInvoice],
      [unsent, amountless()],
    ] as const) {
      await store.closeAccount({
        tokenId: token.tokenId,
        invoice: { request: invoice.invoice, paymentHash: invoice.paymentHash },
        maxMsat: 1e9,
        at: new Date(),
      });
    }
    // A gateway paid the first one and stopped before recording it.
    const claim = await store.claimRefund({
      tokenId: sent.tokenId,
      claimId: "gone/1",
      retry: false,
      leaseMs: 0,
      at: new Date(),
    });
    expect(claim.kind).toBe("claimed");
    await store.startRefundPayment(sent.tokenId, "gone/1", sentInvoice.paymentHash, new Date(Date.now() - 1_000));
    await payer.pay({ invoice: sentInvoice.invoice, amountMsat: 4_000 });
    expect(await refunds.reconcile()).toBe(2);
    expect((await store.getRefund(sent.tokenId))?.status).toBe("succeeded");
    expect((await store.getRefund(unsent.tokenId))?.status).toBe("succeeded");
    expect(payer.payments).toHaveLength(2);
  });

  it("reads LND's refusals of a duplicate payment as in flight, never as failed", () => {
    for (const answer of [
      "UnexpectedPaymentError: invoice is already paid",
      "UnexpectedPaymentError: payment is in transition",
      "PaymentInTransition",
    ]) {
      expect(isAlreadyPayingAnswer(answer)).toBe(true);
    }
    expect(isAlreadyPayingAnswer("PaymentRejectedByDestination")).toBe(false);
    expect(isAlreadyPayingAnswer("FailedToFindPayableRouteToDestination")).toBe(false);
  });

  it("refuses over the cap and over the rate, leaving the account open", async () => {
    const { store, payer, refunds, account } = await setup({ maxSats: 5, perMinute: 0.001, burst: 1 });
    const big = await account(10);
    expect(await refunds.close(big, amountless().invoice)).toMatchObject({
      ok: false,
      refusal: { reason: "over_cap", maxSats: 5 },
    });
    const a = await account(2);
    const b = await account(2);
    expect(await refunds.close(a, amountless().invoice)).toMatchObject({ ok: true });
    expect(await refunds.close(b, amountless().invoice)).toMatchObject({
      ok: false,
      refusal: { reason: "rate_limited" },
    });
    expect((await store.getToken(b.tokenId))?.status).toBe("paid");
    expect((await store.getToken(big.tokenId))?.account.balanceMsat).toBe(10_000);
    expect(payer.payments).toHaveLength(1);
  });

  it("refuses an invoice of another network, of a wrong amount, or expiring", async () => {
    const { refunds, account } = await setup();
    const token = await account(3);
    expect(await refunds.close(token, "lnbc1notaninvoice")).toMatchObject({ refusal: { reason: "invalid_invoice" } });
    expect(await refunds.close(token, makeInvoice({ amountSats: 2 }).invoice)).toMatchObject({
      refusal: { reason: "invalid_invoice" },
    });
    expect(await refunds.close(token, makeInvoice({ amountSats: 0, expiresInSeconds: 30 }).invoice)).toMatchObject({
      refusal: { reason: "invalid_invoice" },
    });
    expect(await refunds.close(token, makeInvoice({ amountSats: 3 }).invoice)).toMatchObject({ ok: true });
  });
});
