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
 * A Lightning wallet the client pays through. `pay` resolves only once the payment succeeded. It rejects with
 * L402ClientError `payment_failed` when the payment certainly did not and will not happen, and with
 * `payment_timeout` whenever the outcome is unknown (still in flight, connection lost): the client then keeps the
 * payment pending and asks `lookupPayment` later. Implementations: LndWallet, NwcWallet; CLN can follow this interface.
 */
export interface Wallet {
  pay(order: PaymentOrder): Promise<PaymentResult>;
  lookupPayment(paymentHash: string): Promise<PaymentLookup>;
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
