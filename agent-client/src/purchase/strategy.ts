import type { PriceQuote } from "../errors.js";
import type { Offer } from "../offers.js";
import type { Payer } from "../payments.js";
import type { Presented } from "../presented.js";
import type { ClientStore } from "../store/store.js";
import type { Wallet } from "../wallet/wallet.js";

/** An offer checked and priced: what paying it costs, and what the strategy needs to pay and present it. */
export interface Quoted<O extends Offer, V> {
  readonly offer: O;
  readonly validated: V;
  readonly quote: PriceQuote;
}

/** What a purchase is for: the URL asked (a session is bound to it) and this call's lower cap, if any. */
export interface PayOrder {
  readonly url: string;
  readonly capSats?: number;
}

/** A payment made: its hash, and what the credential is built from. */
export interface Paid {
  readonly paymentHash: string;
}

/**
 * How one payment scheme is bought: `quote` checks an offer and prices it (throwing a validation error for an offer
 * that does not hold together), `pay` pays it through the Payer (caps, budgets, pending receipts), `present` gives
 * the credential the paid request presents. A new scheme is one more strategy.
 */
export interface SchemeStrategy<O extends Offer, V, R extends Paid> {
  quote(args: { readonly offer: O; readonly origin: string }): Quoted<O, V>;
  pay(args: { readonly quoted: Quoted<O, V>; readonly order: PayOrder }): Promise<R>;
  present(args: { readonly quoted: Quoted<O, V>; readonly paid: R }): Promise<Presented>;
}

/** What the strategies share: the Payer keeps the books, the store and wallet hold sessions and return invoices. */
export interface PurchaseDeps {
  readonly payer: Payer;
  readonly store: ClientStore;
  readonly wallet: Wallet;
  readonly now: () => Date;
  /** The longest an invoice may keep a payment locked, in blocks. */
  readonly maxLockBlocks: number;
}
