export interface PaymentOrder {
  /** BOLT11 invoice, already decoded and checked by the client. */
  readonly invoice: string;
  readonly paymentHash: string;
  readonly amountSats: number;
  /** The wallet must not pay more than this in routing fees. */
  readonly maxFeeSats: number;
  /** How long to wait for the payment to finish before reporting `payment_timeout`. */
  readonly timeoutMs: number;
}

export interface PaymentResult {
  readonly paymentHash: string;
  /** 64 hex digits; its sha256 is the payment hash. */
  readonly preimage: string;
  readonly feeSats: number;
}

/** What the wallet knows about a payment hash, for resolving payments left pending by a crash or a timeout. */
export type PaymentLookup =
  | ({ readonly status: "succeeded" } & PaymentResult)
  | { readonly status: "failed"; readonly reason: string }
  | { readonly status: "pending" }
  /** The wallet never saw a payment to this hash: it was never sent. */
  | { readonly status: "unknown" };

/**
 * A Lightning wallet the client pays through. Implementations: LndWallet, NwcWallet; CLN can follow this interface.
 *
 * The spending guarantee rests on this contract. The client records a payment as pending, counted against every
 * cap and budget, before it calls `pay`, and releases it only on proof:
 * - succeeded: a preimage whose SHA-256 is the invoice's payment hash (from `pay` or from `lookupPayment`);
 * - failed: `lookupPayment` answers `failed` for the payment hash, or `unknown` where `lookupIsAuthoritative` is
 *   true (and the paying process is gone). A rejection of `pay` alone is never believed: the client confirms it with
 *   `lookupPayment` first, because the answer to a pay request can be stale or replayed ("already paid" for a
 *   payment that went through). Where `lookupIsAuthoritative` is not true, a request may still reach the wallet or
 *   reach it again: `failed` is believed only once the pay request has expired (`order.timeoutMs` after it was
 *   sent, plus a minute), and `unknown` only ten minutes after the invoice expired.
 * Anything else (a timeout, a lost connection, `pending`, an `unknown` that is not authoritative, a lookup that
 * fails) keeps the payment pending and counted, and blocks further payments to its origin until a later lookup
 * proves the outcome.
 *
 * `pay` resolves with the result once the payment succeeded. It rejects with L402ClientError `payment_failed`
 * when the wallet believes the payment did not and will not happen, and with `payment_timeout` whenever the
 * outcome is unknown (still in flight, connection lost). It must settle within about `order.timeoutMs` plus one
 * bounded lookup: the client gives up waiting on it after twice that, and keeps the payment pending.
 */
export interface Wallet {
  pay(order: PaymentOrder): Promise<PaymentResult>;
  /** Bounded in time by the wallet (the client also gives up after the payment timeout and keeps it pending). */
  lookupPayment(paymentHash: string): Promise<PaymentLookup>;
  /**
   * True when `lookupPayment`'s `unknown` proves that this wallet never sent, and never will send, a payment to the
   * hash: the wallet records a payment before sending it and a request cannot reach it later (LND). False or absent
   * (NWC, where a request can still be on its way through a relay; any wallet that does not say): `unknown` keeps
   * the payment pending until its invoice has long expired.
   */
  readonly lookupIsAuthoritative?: boolean;
  /** The spendable balance in msat, where the wallet can tell. */
  balanceMsat?(): Promise<number>;
  /**
   * An invoice without an amount for a server to pay a refund to (Payment sessions, closed prepaid tokens). A wallet
   * without it cannot open sessions: the client then never chooses a session offer.
   */
  createReturnInvoice?(order: ReturnInvoiceOrder): Promise<ReturnInvoice>;
  /** Sats received on one of this wallet's invoices so far (0 while unpaid). */
  receivedOn?(paymentHash: string): Promise<number>;
}

export interface ReturnInvoiceOrder {
  readonly description: string;
  /** Seconds; the draft advises at least 30 days and twice the session's idle timeout. */
  readonly expirySeconds: number;
}

export interface ReturnInvoice {
  readonly invoice: string;
  readonly paymentHash: string;
}
