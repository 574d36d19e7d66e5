import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { GatewayConfig } from "../config/schema.js";
import { RateLimiter } from "../limits/rate-limiter.js";
import type { GatewayMetrics } from "../metrics/metrics.js";
import type { RefundAttemptEnd, RefundLedger, RefundRecord } from "../store/ledger.js";
import type { Reservations, TokenRecord } from "../store/store.js";
import {
  decodeRefundInvoice,
  invoiceAmountMsat,
  networkOfInvoice,
  type RefundInvoice,
  RefundInvoiceError,
} from "./invoice.js";
import type { PayAnswer, PaymentState, RefundPayer } from "./payer.js";

/** What an attempt ends with: LND's outcome, or `pending` (in flight, or LND could not say) with the reason. */
type AttemptEnd =
  | { readonly status: "succeeded"; readonly feeMsat: number }
  | { readonly status: "failed"; readonly error: string }
  | { readonly status: "pending"; readonly why: string };

/** Why an account was not closed, in the refunds' own terms (refusals/answers.ts answers it over HTTP). */
export type CloseRefusal =
  /** The refund invoice cannot be taken: `detail` says why. */
  | { readonly reason: "invalid_invoice"; readonly detail: string }
  /** The shared refund bucket is empty for `retryAfterSeconds`. */
  | { readonly reason: "rate_limited"; readonly retryAfterSeconds: number }
  | { readonly reason: "not_found" }
  /** Not a paid, prepaid (metered) token or session. */
  | { readonly reason: "not_refundable" }
  /** A request is still being metered on the account. */
  | { readonly reason: "busy" }
  /** The balance is above the automatic refund cap of `maxSats`. */
  | { readonly reason: "over_cap"; readonly maxSats: number };

/** What a close answers: the stored refund, or why the account was not closed. */
export type CloseReply =
  | { readonly ok: true; readonly refund: RefundRecord }
  | { readonly ok: false; readonly refusal: CloseRefusal };

export interface RefundsDeps {
  readonly store: RefundLedger & Pick<Reservations, "owner">;
  /** Undefined without a refund macaroon: closes are recorded, refunds stay pending for the operator. */
  readonly payer: RefundPayer | undefined;
  readonly caps: GatewayConfig["refunds"];
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
}

const refuse = (refusal: CloseRefusal): CloseReply => ({ ok: false, refusal });
const invalidInvoice = (detail: string): CloseReply => refuse({ reason: "invalid_invoice", detail });

/**
 * Closes prepaid accounts (L402 metered tokens and Payment sessions alike) and pays their unspent balance back,
 * exactly once. The close is one store transaction that moves the balance to `refunded` and records a pending refund;
 * the payment is then made by the one caller that claims the refund's attempt in the store (see payOut). A refund
 * moves to a new invoice only after LND's tracking reports the previous payment failed, so at most one payment of a
 * refund can ever be live. Pending refunds are reconciled with LND at start and every `reconcileIntervalSeconds`.
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
      if (error instanceof RefundInvoiceError) return invalidInvoice(error.message);
      throw error;
    }
    if (invoice && (await this.paidElsewhere(tokenId, invoice.paymentHash))) {
      return invalidInvoice("this gateway's node has already paid that invoice");
    }
    // Each refund payment takes one from a bucket shared by all agents; an account is closed only when it may be paid.
    // (The cap is checked again, atomically, when the account closes.)
    const owed = token.account.balanceMsat;
    if (token.status === "paid" && owed > 0 && owed <= this.deps.caps.maxSats * 1000) {
      const waitSeconds = this.limiter.take("refunds");
      if (waitSeconds > 0) {
        return refuse({ reason: "rate_limited", retryAfterSeconds: waitSeconds });
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
        return refuse({ reason: "not_found" });
      case "not_refundable":
        return refuse({ reason: "not_refundable" });
      case "busy":
        return refuse({ reason: "busy" });
      case "over_cap":
        return refuse({ reason: "over_cap", maxSats: this.deps.caps.maxSats });
      case "invoice_required":
        return invalidInvoice(
          `give an amountless invoice, or one of exactly ${outcome.balanceMsat} msat, for the refund`,
        );
      case "invoice_used":
        return invalidInvoice("that invoice is already the refund invoice of another account");
      case "closed":
        this.deps.metrics.accountsClosed.inc({ service: outcome.token.service, scheme: outcome.token.scheme });
        return {
          ok: true,
          refund: outcome.refund.status === "pending" ? await this.payOut(outcome.refund) : outcome.refund,
        };
      case "already_closed":
        return { ok: true, refund: await this.retry(outcome.refund, invoice) };
    }
  }

  /**
   * Whether LND has paid (or is paying) `paymentHash` other than as this account's refund: such an invoice would be
   * recorded paid without this refund paying it. Unknown when LND cannot be asked (the attempt checks again).
   */
  private async paidElsewhere(tokenId: string, paymentHash: string): Promise<boolean> {
    const { payer, store } = this.deps;
    if (payer === undefined || (await store.refundPaymentHashes(tokenId)).includes(paymentHash)) return false;
    const known = await payer.lookup(paymentHash).catch(() => undefined);
    return known?.status === "succeeded" || known?.status === "in_flight";
  }

  /**
   * The refund of a closed account as a repeated close answers it: a failed one is tried again (to `invoice` when
   * one is given), a pending one is settled from LND (paid only if LND never saw it), any other answered as it is.
   */
  async retry(refund: RefundRecord, invoice?: RefundInvoice): Promise<RefundRecord> {
    if (refund.status !== "failed" && refund.status !== "pending") return refund;
    return this.payOut(refund, { retry: refund.status === "failed", ...(invoice ? { invoice } : {}) });
  }

  /**
   * One payment attempt of a refund, by whoever claims it in the store (one caller across processes and replicas);
   * every other caller answers the refund as it stands. The holder reads LND's payment tracking of the refund's hash:
   * a payment LND has (in flight, succeeded, failed) is recorded as LND reports it, never paid again; only one LND
   * never registered is paid, or, on the agent's retry, one LND reports failed. After paying, the outcome is read from
   * LND's tracking again, so an answer such as "already paid" or "in transition" never makes a refund `failed`.
   */
  private async payOut(
    refund: RefundRecord,
    ask: { readonly retry: boolean; readonly invoice?: RefundInvoice } = { retry: false },
  ): Promise<RefundRecord> {
    const { payer, caps, store } = this.deps;
    if (payer === undefined) return refund;
    const claimId = `${store.owner}/${randomUUID()}`;
    const claim = await store.claimRefund({
      tokenId: refund.tokenId,
      claimId,
      retry: ask.retry,
      ...(ask.invoice ? { invoice: ask.invoice } : {}),
      leaseMs: caps.attemptLeaseSeconds * 1000,
      at: new Date(),
    });
    if (claim.kind === "not_found") return refund;
    if (claim.kind !== "claimed") return claim.refund;
    const held = claim.refund;
    const end = (state: AttemptEnd, attempts = held.attempts) =>
      this.finish({
        tokenId: held.tokenId,
        claimId,
        paymentHash: held.paymentHash,
        attempts,
        at: new Date(),
        ...state,
      });
    let known: PaymentState;
    try {
      known = await payer.lookup(held.paymentHash);
    } catch (error) {
      return end({ status: "pending", why: `LND could not be asked: ${String(error)}` });
    }
    if (claim.untried && (known.status === "succeeded" || known.status === "in_flight")) {
      // No refund attempt ever paid this invoice, yet LND has a payment of its hash: not this refund's money.
      return end({ status: "failed", error: "this node has already paid or is paying that invoice; give a new one" });
    }
    if (known.status === "succeeded") return end(known);
    if (known.status === "in_flight") return end({ status: "pending", why: "in flight" });
    if (known.status === "failed" && held.attempts > 0 && claim.previous !== "failed") {
      // The last attempt failed for good and its outcome was never recorded (the gateway stopped): record it.
      return end(known);
    }
    const started = await store.startRefundPayment(held.tokenId, claimId, held.paymentHash, new Date());
    if (!started) return (await store.getRefund(held.tokenId)) ?? held;
    const feeCap = Math.max(1_000, Math.min(caps.maxFeeSats * 1000, (held.amountMsat * caps.maxFeePercent) / 100));
    const answer = await payer
      .pay({
        invoice: held.invoice,
        ...(invoiceAmountMsat(held.invoice) === undefined ? { amountMsat: held.amountMsat } : {}),
        maxFeeMsat: Math.floor(feeCap),
        timeoutSeconds: caps.timeoutSeconds,
      })
      .catch((error: unknown) => ({ status: "in_flight", detail: String(error) }) as const);
    if (answer.status === "succeeded") return end(answer, started.attempts);
    return end(await tracked(payer, held.paymentHash, answer), started.attempts);
  }

  private async finish(end: RefundAttemptEnd & { readonly why?: string }): Promise<RefundRecord> {
    const { store, metrics, log } = this.deps;
    const { why, ...recorded } = end;
    const before = await store.getRefund(end.tokenId);
    const after = await store.finishRefundAttempt({
      ...recorded,
      ...(end.error === undefined ? {} : { error: end.error.slice(0, 300) }),
    });
    if (!after) throw new Error(`the refund of ${end.tokenId.slice(0, 8)} is gone`);
    if (before?.status === "pending" && after.status === "succeeded") {
      metrics.refundedMsat.inc({ service: after.service }, after.amountMsat);
    } else if (before?.status === "pending" && after.status === "failed") {
      metrics.refundFailures.inc({ service: after.service });
      log.warn({ tokenId: after.tokenId.slice(0, 8), error: after.error }, "refund payment failed");
    } else if (end.status === "pending" && why !== undefined) {
      log.info({ tokenId: end.tokenId.slice(0, 8), why }, "refund payment pending");
    }
    return after;
  }

  /**
   * Every refund left pending (the gateway stopped while paying, LND was unreachable, or a payment is in flight) is
   * settled from LND's record of its payment hash, by whoever claims it (see settle): recorded as LND says, paid only
   * when LND never saw it. Returns how many were pending.
   */
  async reconcile(): Promise<number> {
    const pending = await this.deps.store.listRefunds({ status: "pending", limit: 1000 });
    // A few at a time: one payment LND holds in flight (a held HTLC) must not hold up the others.
    const queue = [...pending];
    const next = async (): Promise<void> => {
      for (let refund = queue.shift(); refund; refund = queue.shift()) {
        try {
          await this.payOut(refund);
        } catch (error) {
          this.deps.log.warn(
            { tokenId: refund.tokenId.slice(0, 8), err: String(error) },
            "refund reconciliation failed",
          );
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, next));
    return pending.length;
  }

  /**
   * Reconciles every `intervalMs` (a run that is still going skips the next tick) until stopped. At start the gateway
   * reconciles once itself.
   */
  reconcileEvery(intervalMs: number): { stop(): void } {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      this.reconcile()
        .catch((error: unknown) => this.deps.log.warn({ err: String(error) }, "could not reconcile pending refunds"))
        .finally(() => {
          running = false;
        });
    }, intervalMs);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }
}

/**
 * The outcome of a payment LND has answered, from its tracking: failed only when LND reports the payment failed, or
 * when LND refused the call and never registered a payment (nothing was sent, and the claim stops any other sender).
 */
async function tracked(payer: RefundPayer, paymentHash: string, answer: PayAnswer): Promise<AttemptEnd> {
  let state: PaymentState;
  try {
    state = await payer.lookup(paymentHash);
  } catch (error) {
    return { status: "pending", why: `LND could not be asked after paying: ${String(error)}` };
  }
  if (state.status === "succeeded" || state.status === "failed") return state;
  if (state.status === "unknown" && answer.status === "failed") return answer;
  return { status: "pending", why: answer.status === "in_flight" ? answer.detail : "in flight" };
}
