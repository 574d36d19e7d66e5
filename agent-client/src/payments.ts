import { hostname } from "node:os";
import { type L402Challenge, preimageHexProves } from "@l402-gateway/l402";
import { assertWithinBudget, budgetLeftSats, isPriceQuote, type PaymentCost } from "./budget.js";
import type { ValidatedChallenge } from "./challenge.js";
import { L402ClientError, type PriceQuote } from "./errors.js";
import type { L402Event } from "./events.js";
import { invoiceExpiresAt } from "./invoice.js";
import { readMacaroonInfo } from "./macaroon-info.js";
import { assertMayPay, type PayPolicy } from "./pay-policy.js";
import type { ValidatedPaymentOffer } from "./payment-offers.js";
import { isProcessAlive } from "./process-alive.js";
import { pruneStore } from "./prune.js";
import { findReceipt } from "./receipts.js";
import type { ClientState, PendingSession, Receipt, StoredToken } from "./store/state.js";
import type { ClientStore } from "./store/store.js";
import { putToken } from "./tokens.js";
import type { PaymentLookup, PaymentResult, Wallet } from "./wallet/wallet.js";

/**
 * Payment hashes being paid by this process right now, by any client instance: never resolved from outside, since
 * "unknown to the wallet" may only mean "not sent yet".
 */
const IN_FLIGHT = new Set<string>();

/** Beyond twice the payment timeout, the client stops waiting on a wallet's `pay` (and keeps the payment pending). */
const WALLET_GRACE_MS = 5_000;

/**
 * A non-authoritative wallet's `failed` is believed this long after its pay request expired: the wallet service
 * judges the expiration by its own clock, which may lag ours.
 */
const REQUEST_EXPIRY_GRACE_MS = 60_000;

/** An expired invoice a non-authoritative wallet has no record of is given up this long after its expiry. */
const EXPIRED_INVOICE_GRACE_MS = 10 * 60_000;

/** A pending payment LND has never heard of, from a process we cannot check (another host), is given up after this. */
const FOREIGN_PENDING_GRACE_MS = 60 * 60_000;

export interface PayerOptions {
  readonly wallet: Wallet;
  readonly store: ClientStore;
  readonly policy: PayPolicy;
  readonly maxCostSats: number;
  readonly maxFeeSats: number;
  readonly paymentTimeoutMs: number;
  readonly now: () => Date;
  readonly onEvent: (event: L402Event) => void;
}

/**
 * Pays challenges and keeps the books. Every payment is written as a pending receipt (durably, with the budget
 * check in the same store update) before the wallet is called, and settled afterwards. A payment whose outcome is
 * unknown (timeout, crash) stays pending until `resolvePending` learns its outcome from the wallet by payment hash;
 * a succeeded one then becomes a token without paying again.
 */
export class Payer {
  constructor(private readonly options: PayerOptions) {}

  get maxFeeSats(): number {
    return this.options.maxFeeSats;
  }

  quote(challenge: ValidatedChallenge, origin: string): PriceQuote {
    return {
      origin,
      scheme: "l402",
      service: challenge.macaroon.service,
      amountSats: challenge.invoice.amountSats,
      maxFeeSats: this.options.maxFeeSats,
      paymentHash: challenge.invoice.paymentHash,
      invoice: challenge.invoice.invoice,
      expiresAt: challenge.invoice.expiresAt.toISOString(),
    };
  }

  /** Throws what `pay` would refuse with (`over_cap`, `budget_exceeded`, ...) if paying `quote` is not allowed. */
  async assertAllowed(quote: PriceQuote, capSats?: number): Promise<void> {
    this.#assertUnderCap(quote, capSats);
    assertMayPay(await this.options.store.read(), this.options.policy, quote, this.options.now());
  }

  /** Throws `over_cap` or `budget_exceeded` if a payment of `amountSats` to `origin` would be refused now. */
  async assertAffordable(origin: string, amountSats: number, capSats?: number): Promise<PaymentCost> {
    const cost = { origin, amountSats, maxFeeSats: this.options.maxFeeSats };
    this.#assertUnderCap(cost, capSats);
    assertWithinBudget(await this.options.store.read(), this.options.policy.budget, cost, this.options.now());
    return cost;
  }

  /**
   * The largest invoice amount a payment to `origin` could have now: the cap per payment and every budget less what
   * is spent, each less the maximum fee. How large a deposit may be asked for.
   */
  async headroomSats(origin: string, capSats?: number): Promise<number> {
    const cap = Math.min(this.options.maxCostSats, capSats ?? Number.POSITIVE_INFINITY);
    const left = budgetLeftSats(
      await this.options.store.read(),
      this.options.policy.budget,
      origin,
      this.options.now(),
    );
    return Math.max(0, Math.min(cap, left) - this.options.maxFeeSats);
  }

  /** Pays an L402 challenge; its token is stored and returned. */
  async pay({ challenge, origin, capSats }: ChallengePayment): Promise<StoredToken> {
    const quote = this.quote(challenge, origin);
    const pending = pendingReceipt(quote, challenge.challenge, this.options.now());
    const token = await this.#payRecorded(quote, pending, capSats, (state, result) =>
      settleSucceeded(state, quote.paymentHash, result, this.options.now()),
    );
    if (!token) throw new Error(`receipt ${quote.paymentHash} vanished while paying`);
    return token;
  }

  /** The quote of a Payment-scheme offer: its invoice's amount, for what `scheme` buys. */
  quoteOffer(validated: ValidatedPaymentOffer, origin: string, scheme: PaymentScheme): PriceQuote {
    return {
      origin,
      scheme,
      service: "",
      amountSats: validated.invoice.amountSats,
      maxFeeSats: this.options.maxFeeSats,
      paymentHash: validated.invoice.paymentHash,
      invoice: validated.invoice.invoice,
      expiresAt: validated.invoice.expiresAt.toISOString(),
    };
  }

  /**
   * Pays a Payment-scheme offer under the same caps, budgets and pending-payment rules as an L402 challenge.
   * `onPaid` runs in the store update that settles the receipt (a session is stored with its deposit there).
   */
  async payOffer({
    validated,
    origin,
    scheme,
    onPaid = () => {},
    session,
    capSats,
  }: OfferPayment): Promise<PaymentResult> {
    const quote = this.quoteOffer(validated, origin, scheme);
    const pending: Receipt = {
      ...pendingReceipt(quote, undefined, this.options.now()),
      paid: scheme,
      ...(session === undefined ? {} : { session }),
    };
    return this.#payRecorded(quote, pending, capSats, (state, result) => {
      settleSucceeded(state, quote.paymentHash, result, this.options.now());
      onPaid(state, result);
      return result;
    });
  }

  async #payRecorded<T>(
    quote: PriceQuote,
    pending: Receipt,
    capSats: number | undefined,
    settle: (state: ClientState, result: PaymentResult) => T,
  ): Promise<T> {
    const { wallet, store, now, onEvent } = this.options;
    this.#assertUnderCap(quote, capSats);
    const { paymentHash } = quote;
    IN_FLIGHT.add(paymentHash);
    let walletCall: Promise<PaymentResult> | undefined;
    try {
      await store.update((state) => {
        const existing = findReceipt(state, paymentHash);
        if (existing && existing.status !== "failed") {
          throw new L402ClientError("payment_pending", `invoice ${paymentHash} was already paid or is being paid`, {
            quote,
          });
        }
        assertMayPay(state, this.options.policy, quote, now());
        state.receipts = state.receipts.filter((receipt) => receipt.paymentHash !== paymentHash);
        state.receipts.push(pending);
      });
      onEvent({ type: "paying", quote });
      const paying = Promise.resolve().then(() =>
        wallet.pay({
          invoice: quote.invoice,
          paymentHash,
          amountSats: quote.amountSats,
          maxFeeSats: quote.maxFeeSats,
          timeoutMs: this.options.paymentTimeoutMs,
        }),
      );
      walletCall = paying;
      let result: PaymentResult;
      try {
        result = await within(paying, 2 * this.options.paymentTimeoutMs + WALLET_GRACE_MS, "the wallet did not answer");
      } catch (error) {
        if (!(error instanceof L402ClientError && error.code === "payment_failed"))
          throw unknownOutcome(paymentHash, error);
        // The wallet says it failed: believed only once a lookup of the payment hash proves it.
        const proven = await this.#lookup(paymentHash);
        if (proven.status === "succeeded" && preimageMatches(proven.preimage, paymentHash)) {
          result = proven;
        } else if (this.#provesNotPaid(proven, pending)) {
          await store.update((state) => settleFailed(state, paymentHash, error.message, now()));
          throw error;
        } else {
          throw unknownOutcome(
            paymentHash,
            new Error(
              `the wallet reported "${error.message}", but its record does not prove the payment cannot happen`,
            ),
          );
        }
      }
      if (!preimageMatches(result.preimage, paymentHash)) {
        throw unknownOutcome(paymentHash, new Error("the wallet returned a preimage that does not match the hash"));
      }
      const settled = await store.update((state) => settle(state, result));
      onEvent({ type: "paid", quote, feeSats: result.feeSats });
      return settled;
    } finally {
      // A wallet call given up on may still be paying: the hash stays in flight until it returns.
      const release = () => IN_FLIGHT.delete(paymentHash);
      if (walletCall) walletCall.then(release, release);
      else release();
    }
  }

  /** The wallet's record of a payment, within the payment timeout; a lookup that fails or hangs proves nothing. */
  async #lookup(paymentHash: string): Promise<PaymentLookup | { readonly status: "unreachable" }> {
    try {
      return await within(
        Promise.resolve().then(() => this.options.wallet.lookupPayment(paymentHash)),
        this.options.paymentTimeoutMs,
        "the wallet's lookup did not answer",
      );
    } catch {
      return { status: "unreachable" };
    }
  }

  /**
   * Whether the wallet's record proves that a payment did not and will not happen. An authoritative wallet (LND):
   * `failed`, or `unknown` once the paying process is gone. Otherwise (NWC) a pay request may still be delivered,
   * or delivered again by a relay that replays it, and be paid: `failed` proves it only once the request has
   * expired (it carries an expiration of the payment timeout; a minute more for clocks), and `unknown` only once the
   * invoice has been expired for a while (no wallet pays an expired invoice).
   */
  #provesNotPaid(lookup: PaymentLookup | { readonly status: "unreachable" }, receipt: Receipt): boolean {
    const now = this.options.now().getTime();
    if (this.options.wallet.lookupIsAuthoritative === true) {
      return lookup.status === "failed" || (lookup.status === "unknown" && isAbandoned(receipt, new Date(now)));
    }
    if (lookup.status === "failed") {
      return now - Date.parse(receipt.createdAt) > this.options.paymentTimeoutMs + REQUEST_EXPIRY_GRACE_MS;
    }
    const expiresAt = lookup.status === "unknown" ? invoiceExpiresAt(receipt.invoice) : undefined;
    return expiresAt !== undefined && now - expiresAt.getTime() > EXPIRED_INVOICE_GRACE_MS;
  }

  /**
   * Settles pending receipts (of one origin, or all) whose outcome the wallet knows: succeeded ones become tokens,
   * failed ones and ones never sent become failed receipts. Still in flight, or the wallet unreachable: left pending.
   * Returns the receipts still pending afterwards.
   */
  async resolvePending(origin?: string): Promise<Receipt[]> {
    const { store, now, onEvent } = this.options;
    const pending = (await store.read()).receipts.filter(
      (receipt) =>
        receipt.status === "pending" &&
        (origin === undefined || receipt.origin === origin) &&
        !IN_FLIGHT.has(receipt.paymentHash),
    );
    const stillPending: Receipt[] = [];
    await Promise.all(
      pending.map(async (receipt) => {
        const lookup = await this.#lookup(receipt.paymentHash);
        if (lookup.status === "succeeded" && preimageMatches(lookup.preimage, receipt.paymentHash)) {
          await store.update((state) => settleSucceeded(state, receipt.paymentHash, lookup, now()));
          onEvent({ type: "pending_resolved", paymentHash: receipt.paymentHash, status: "succeeded" });
        } else if (this.#provesNotPaid(lookup, receipt)) {
          const reason = lookup.status === "failed" ? lookup.reason : "never sent (the paying process stopped first)";
          await store.update((state) => settleFailed(state, receipt.paymentHash, reason, now()));
          onEvent({ type: "pending_resolved", paymentHash: receipt.paymentHash, status: "failed" });
        } else {
          stillPending.push(receipt);
        }
      }),
    );
    return stillPending;
  }

  #assertUnderCap(quote: PaymentCost | PriceQuote, capSats?: number): void {
    const cap = Math.min(this.options.maxCostSats, capSats ?? Number.POSITIVE_INFINITY);
    const worstCase = quote.amountSats + quote.maxFeeSats;
    if (worstCase > cap) {
      throw new L402ClientError(
        "over_cap",
        `price ${quote.amountSats} sats + up to ${quote.maxFeeSats} sats fee is above the cap of ${cap} sats per payment`,
        isPriceQuote(quote) ? { quote } : {},
      );
    }
  }
}

export type PaymentScheme = "charge" | "session" | "topUp";

/** An L402 challenge to pay for `origin`. */
export interface ChallengePayment {
  readonly challenge: ValidatedChallenge;
  readonly origin: string;
  /** A lower cap than the client's for this payment (a caller's max_cost); never a higher one. */
  readonly capSats?: number;
}

/** A Payment-scheme offer to pay for `origin`, for what `scheme` buys. */
export interface OfferPayment {
  readonly validated: ValidatedPaymentOffer;
  readonly origin: string;
  readonly scheme: PaymentScheme;
  /** Runs in the store update that settles the receipt (a top-up adds to its session there). */
  readonly onPaid?: (state: ClientState, result: PaymentResult) => void;
  /** The session a deposit opens, stored with the receipt and made a session when it is paid. */
  readonly session?: PendingSession;
  /** A lower cap than the client's for this payment; never a higher one. */
  readonly capSats?: number;
}

function pendingReceipt(quote: PriceQuote, challenge: L402Challenge | undefined, now: Date): Receipt {
  return {
    paymentHash: quote.paymentHash,
    origin: quote.origin,
    service: quote.service,
    amountSats: quote.amountSats,
    feeSats: null,
    maxFeeSats: quote.maxFeeSats,
    status: "pending",
    invoice: quote.invoice,
    macaroon: challenge?.macaroon ?? "",
    scheme: challenge?.scheme ?? "L402",
    paid: "l402",
    createdAt: now.toISOString(),
    settledAt: null,
    error: null,
    owner: { pid: process.pid, hostname: hostname() },
  };
}

/** Idempotent: a receipt already settled is left as it is. Returns the token of a succeeded payment. */
function settleSucceeded(
  state: ClientState,
  paymentHash: string,
  result: PaymentResult,
  now: Date,
): StoredToken | undefined {
  const receipt = findReceipt(state, paymentHash);
  if (!receipt) return undefined;
  // A preimage that matches proves the payment, even if the receipt was closed as failed meanwhile.
  if (receipt.status !== "succeeded") {
    receipt.status = "succeeded";
    receipt.error = null;
    receipt.feeSats = result.feeSats;
    receipt.settledAt = now.toISOString();
  }
  // Payment-scheme purchases are no reusable token: a charge credential is single-use, a session is kept apart.
  if (receipt.paid === "session") storeSession(state, receipt, result.preimage, now);
  if (receipt.paid !== "l402") return undefined;
  const existing = state.tokens.find((token) => token.paymentHash === paymentHash);
  if (existing) return existing;
  const info = readMacaroonInfo(receipt.macaroon);
  const token: StoredToken = {
    origin: receipt.origin,
    service: receipt.service,
    macaroon: receipt.macaroon,
    scheme: receipt.scheme,
    preimage: result.preimage,
    paymentHash,
    validUntil: info.validUntil ?? null,
    createdAt: now.toISOString(),
    lastUsedAt: now.toISOString(),
  };
  putToken(state, token);
  pruneStore(state, now);
  return token;
}

/** The session a deposit paid for, stored once (also when the payment is resolved after a crash). */
function storeSession(state: ClientState, receipt: Receipt, preimage: string, now: Date): void {
  const pending = receipt.session;
  if (!pending || state.sessions.some((session) => session.sessionId === receipt.paymentHash)) return;
  state.sessions.push({
    origin: receipt.origin,
    sessionId: receipt.paymentHash,
    preimage,
    returnInvoice: pending.returnInvoice,
    challenge: pending.challenge,
    url: pending.url,
    unitSats: pending.unitSats,
    paidSats: receipt.amountSats,
    opened: false,
    status: "open",
    createdAt: now.toISOString(),
    lastUsedAt: now.toISOString(),
  });
}

function settleFailed(state: ClientState, paymentHash: string, reason: string, now: Date): void {
  const receipt = findReceipt(state, paymentHash);
  if (receipt?.status !== "pending") return;
  receipt.status = "failed";
  receipt.error = reason;
  receipt.settledAt = now.toISOString();
  pruneStore(state, now);
}

/** A receipt whose paying process is gone: if the wallet never saw the payment, it was never sent. */
function isAbandoned(receipt: Receipt, now: Date): boolean {
  if (receipt.owner.hostname === hostname()) {
    return receipt.owner.pid === process.pid || !isProcessAlive(receipt.owner.pid);
  }
  return now.getTime() - Date.parse(receipt.createdAt) > FOREIGN_PENDING_GRACE_MS;
}

/** A wallet's preimage proves the payment: 64 lowercase hex digits whose sha256 is the payment hash. */
function preimageMatches(preimage: string, paymentHash: string): boolean {
  return /^[0-9a-f]{64}$/.test(preimage) && preimageHexProves(preimage, paymentHash);
}

/** `work`, or a rejection after `ms` (the work itself runs on, and its late failure is ignored). */
async function within<T>(work: Promise<T>, ms: number, why: string): Promise<T> {
  work.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${why} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function unknownOutcome(paymentHash: string, error: unknown): L402ClientError {
  if (error instanceof L402ClientError && error.code === "payment_timeout") return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new L402ClientError(
    "payment_timeout",
    `the payment's outcome is unknown (${reason}); it stays pending and is checked with the wallet before paying ` +
      "this origin again",
    { paymentHash },
    { cause: error },
  );
}
