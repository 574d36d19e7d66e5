import type { Logger } from "pino";
import type { GatewayConfig } from "../config/schema.js";
import { RateLimiter } from "../limits/rate-limiter.js";
import type { GatewayMetrics } from "../metrics/metrics.js";
import type { RefundRecord } from "../store/ledger.js";
import type { TokenRecord, TokenStore } from "../store/store.js";
import {
  decodeRefundInvoice,
  invoiceAmountMsat,
  networkOfInvoice,
  type RefundInvoice,
  RefundInvoiceError,
} from "./invoice.js";
import type { PaymentState, RefundPayer } from "./payer.js";

/** What a close answers: the stored refund, or why the account was not closed (HTTP status and code). */
export type CloseReply =
  | { readonly ok: true; readonly refund: RefundRecord }
  | {
      readonly ok: false;
      readonly status: number;
      readonly code: string;
      readonly message: string;
      readonly retryAfterSeconds?: number;
    };

export interface RefundsDeps {
  readonly store: TokenStore;
  /** Undefined without a refund macaroon: closes are recorded, refunds stay pending for the operator. */
  readonly payer: RefundPayer | undefined;
  readonly caps: GatewayConfig["refunds"];
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
}

const refuse = (status: number, code: string, message: string, retryAfterSeconds?: number): CloseReply => ({
  ok: false,
  status,
  code,
  message,
  ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
});

/**
 * Closes prepaid accounts (L402 metered tokens and Payment sessions alike) and pays their unspent balance back. The
 * close is one store transaction that moves the balance to `refunded` and records a pending refund; only then is the
 * payment made, keyed by the invoice's payment hash, so a repeated close, a retry or a restart pays at most once:
 * LND refuses a second payment of one invoice, and a pending refund is first looked up on LND.
 */
export class Refunds {
  private readonly limiter: RateLimiter;
  private ownNode: Promise<string | undefined> | undefined;

  constructor(private readonly deps: RefundsDeps) {
    this.limiter = new RateLimiter(deps.caps.perMinute, deps.caps.burst);
  }

  /**
   * Checks a refund invoice the agent gives: on `network` (that of the invoices the gateway issued), and see
   * decodeRefundInvoice. A RefundInvoiceError names what is wrong with it.
   */
  async checkInvoice(request: string, network: string): Promise<RefundInvoice> {
    this.ownNode ??= this.deps.payer?.nodeKey() ?? Promise.resolve(undefined);
    return decodeRefundInvoice(request, { network, ownNode: await this.ownNode, now: new Date() });
  }

  /**
   * Closes `tokenId` and pays its balance to `invoice` (BOLT11, amountless or of exactly the balance). A closed
   * account answers its stored refund; a failed refund is tried again (to `invoice` when one is given).
   */
  async close(token: TokenRecord, invoiceText: string | undefined): Promise<CloseReply> {
    const tokenId = token.tokenId;
    let invoice: RefundInvoice | undefined;
    try {
      invoice =
        invoiceText === undefined ? undefined : await this.checkInvoice(invoiceText, networkOfInvoice(token.invoice));
    } catch (error) {
      if (error instanceof RefundInvoiceError) return refuse(400, "invalid_refund_invoice", error.message);
      throw error;
    }
    // Each refund payment takes one from a bucket shared by all agents; an account is closed only when it may be paid.
    // (The cap is checked again, atomically, when the account closes.)
    const owed = token.account.balanceMsat;
    if (token.status === "paid" && owed > 0 && owed <= this.deps.caps.maxSats * 1000) {
      const waitSeconds = this.limiter.take("refunds");
      if (waitSeconds > 0) {
        return refuse(429, "rate_limited", "too many refunds at the moment; retry later", waitSeconds);
      }
    }
    const outcome = await this.deps.store.closeAccount({
      tokenId,
      ...(invoice ? { invoice } : {}),
      maxMsat: this.deps.caps.maxSats * 1000,
      at: new Date(),
    });
    switch (outcome.kind) {
      case "not_found":
        return refuse(404, "not_found", "no such token or session");
      case "not_refundable":
        return refuse(409, "not_refundable", "only a paid, prepaid (metered) token or session can be closed");
      case "busy":
        return refuse(409, "request_in_flight", "a request is still being metered on this account; retry when done");
      case "over_cap":
        return refuse(
          422,
          "refund_over_cap",
          `the balance is above the automatic refund cap of ${this.deps.caps.maxSats} sats; ask the operator`,
        );
      case "invoice_required":
        return refuse(
          400,
          "invalid_refund_invoice",
          `give an amountless invoice, or one of exactly ${outcome.balanceMsat} msat, for the refund`,
        );
      case "closed":
        this.deps.metrics.accountsClosed.inc({ service: outcome.token.service, scheme: outcome.token.scheme });
        return { ok: true, refund: await this.settle(outcome.refund) };
      case "already_closed":
        return { ok: true, refund: await this.retry(outcome.refund, invoice) };
    }
  }

  /** The refund of a closed account, retried when it failed: what a repeated close answers. */
  async retry(refund: RefundRecord, invoice?: RefundInvoice): Promise<RefundRecord> {
    if (refund.status === "failed") {
      const next =
        invoice &&
        invoice.paymentHash !== refund.paymentHash &&
        (invoice.amountMsat ?? refund.amountMsat) === refund.amountMsat
          ? { request: invoice.request, paymentHash: invoice.paymentHash }
          : undefined;
      const pending = await this.deps.store.updateRefund(refund.tokenId, {
        status: "pending",
        ...(next ? { invoice: next } : {}),
        at: new Date(),
      });
      return pending ? this.settle(pending, true) : refund;
    }
    return refund.status === "pending" ? this.settle(refund) : refund;
  }

  /**
   * Pays a pending refund once: looked up on LND first, paid only when LND has never seen it or, on an agent's retry,
   * when LND reports its earlier attempt failed (LND itself refuses to pay an invoice twice).
   */
  private async settle(refund: RefundRecord, retrying = false): Promise<RefundRecord> {
    const { payer, caps, store, metrics, log } = this.deps;
    if (refund.status !== "pending" || payer === undefined) return refund;
    let state: PaymentState = await payer.lookup(refund.paymentHash).catch(() => ({ status: "in_flight" }) as const);
    if (state.status === "unknown" || (retrying && state.status === "failed")) {
      await store.updateRefund(refund.tokenId, { status: "pending", attempted: true, at: new Date() });
      const feeCap = Math.max(1_000, Math.min(caps.maxFeeSats * 1000, (refund.amountMsat * caps.maxFeePercent) / 100));
      state = await payer.pay({
        invoice: refund.invoice,
        ...(invoiceAmountMsat(refund.invoice) === undefined ? { amountMsat: refund.amountMsat } : {}),
        maxFeeMsat: Math.floor(feeCap),
        timeoutSeconds: caps.timeoutSeconds,
      });
    }
    if (state.status !== "succeeded" && state.status !== "failed") return refund;
    const updated = await store.updateRefund(refund.tokenId, {
      status: state.status,
      ...(state.status === "succeeded" ? { feeMsat: state.feeMsat } : { error: state.error.slice(0, 300) }),
      at: new Date(),
    });
    if (updated?.status === "succeeded" && state.status === "succeeded") {
      metrics.refundedMsat.inc({ service: refund.service }, refund.amountMsat);
    } else if (state.status === "failed") {
      metrics.refundFailures.inc({ service: refund.service });
      log.warn({ tokenId: refund.tokenId.slice(0, 8), error: state.error }, "refund payment failed");
    }
    return updated ?? refund;
  }

  /**
   * After a restart: every refund left pending (the gateway stopped while paying, or before) is looked up on LND by
   * its payment hash and recorded as LND says; one LND never saw is paid now. Returns how many were pending.
   */
  async reconcile(): Promise<number> {
    const pending = await this.deps.store.listRefunds({ status: "pending", limit: 1000 });
    for (const refund of pending) {
      try {
        await this.settle(refund);
      } catch (error) {
        this.deps.log.warn({ tokenId: refund.tokenId.slice(0, 8), err: String(error) }, "refund reconciliation failed");
      }
    }
    return pending.length;
  }
}
