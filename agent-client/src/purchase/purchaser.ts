import type { CallLimits } from "../call-limits.js";
import { type DepositPolicy, depositToAsk, type MeteredPrice } from "../deposit.js";
import { L402ClientError, type L402ClientErrorCode, type PriceQuote } from "../errors.js";
import type { L402Event } from "../events.js";
import { type OfferPreference, rankOffers } from "../offer-choice.js";
import type { L402Offer, Offer, SessionOffer } from "../offers.js";
import type { Presented } from "../presented.js";
import { describeScheme } from "../quote-text.js";
import { openSessionFor } from "../sessions.js";
import type { StoredSession } from "../store/state.js";
import { pathScope, tokenFor } from "../tokens.js";
import { chargeStrategy } from "./charge.js";
import { l402Strategy } from "./l402.js";
import { sessionStrategy, topUpStrategy } from "./session.js";
import type { Paid, PurchaseDeps, SchemeStrategy } from "./strategy.js";

/** What a 402 led to: the credential to present next, and the payment made for it, if one was. */
export interface Obtained {
  readonly presented: Presented;
  readonly paid?: PriceQuote;
}

/** A 402's offers, and what the call that met them allows. */
export interface Purchase {
  readonly offers: readonly Offer[];
  readonly origin: string;
  /** Payment hashes (and session ids) the origin refused in this call: not presented again. */
  readonly refused: ReadonlySet<string>;
  /** Pay nothing: throw `dry_run` with the quote of what would be paid. */
  readonly dryRun: boolean;
  readonly limits: CallLimits;
}

export interface PurchaserOptions extends PurchaseDeps {
  readonly preference: OfferPreference;
  /** How a metered credential is funded when no call says otherwise. */
  readonly deposit: DepositPolicy;
  readonly onEvent: (event: L402Event) => void;
}

/**
 * Turns a 402 into a credential: one already held (bought meanwhile by another call), or a purchase of the best
 * offer, each scheme bought by its strategy. Every purchase goes quote → dry run → approve → pay → onPaid → present.
 * Callers hold the origin's lock.
 */
export class Purchaser {
  readonly #options: PurchaserOptions;
  readonly #l402: ReturnType<typeof l402Strategy>;
  readonly #charge: ReturnType<typeof chargeStrategy>;
  readonly #session: ReturnType<typeof sessionStrategy>;

  constructor(options: PurchaserOptions) {
    this.#options = options;
    this.#l402 = l402Strategy(options);
    this.#charge = chargeStrategy(options);
    this.#session = sessionStrategy(options);
  }

  /**
   * A credential bought meanwhile by another call (a token for the wanted service, an open session), a recovered
   * one, or a new purchase of the best offer by the preference (see `rankOffers`). An offer whose invoice does not
   * match its challenge is passed over for the next; if none is valid, the first one's error is thrown.
   */
  async obtain(purchase: Purchase & { readonly url: string; readonly excludeSessions?: boolean }): Promise<Obtained> {
    const { payer, store, wallet, now, onEvent, preference } = this.#options;
    const { offers, origin, refused, url, excludeSessions = false } = purchase;
    await payer.resolvePending(origin);
    const state = await store.read();
    const l402 = offers.find((offer): offer is L402Offer => offer.kind === "l402");
    if (l402) {
      const cached = tokenFor(state, origin, l402.macaroon.service, now(), refused);
      if (cached) {
        onEvent({ type: "token_reused", origin, service: cached.service });
        return { presented: { kind: "token", token: cached } };
      }
    }
    const session = excludeSessions ? undefined : openSessionFor(state, origin, pathScope(new URL(url).pathname));
    if (session && !refused.has(session.sessionId) && offers.some((offer) => offer.kind === "session")) {
      return { presented: { kind: "session", session } };
    }
    const canOpenSessions = !excludeSessions && wallet.createReturnInvoice !== undefined;
    let firstError: unknown;
    for (const offer of rankOffers(offers, preference, canOpenSessions, now())) {
      try {
        return await this.#buy(offer, purchase);
      } catch (error) {
        if (!(error instanceof L402ClientError) || !VALIDATION_CODES.has(error.code)) throw error;
        firstError ??= error;
      }
    }
    throw (
      firstError ??
      new L402ClientError("malformed_challenge", `${origin} offers no payment this client is configured to make`)
    );
  }

  /**
   * The deposit (msat) to ask a metered 402 for, by the call's policy or the client's, within what the caps and
   * budgets still allow for one payment; undefined when the 402 asks as much already.
   */
  async depositToAsk(price: MeteredPrice, origin: string, limits: CallLimits): Promise<number | undefined> {
    const headroom = await this.#options.payer.headroomSats(origin, limits.maxCostSats);
    return depositToAsk(limits.deposit ?? this.#options.deposit, price, headroom);
  }

  /**
   * A bearer request refused: the balance ran out. A session offer in the 402 is a top-up (its new invoice pays more
   * into the same session); without one, the session is left as it is and the offers are chosen among as usual.
   */
  async topUpOrObtain(purchase: Purchase & { readonly session: StoredSession }): Promise<Obtained> {
    const { session } = purchase;
    const offer = purchase.offers.find((candidate): candidate is SessionOffer => candidate.kind === "session");
    if (!offer) return this.obtain({ ...purchase, url: session.url, excludeSessions: true });
    this.#options.onEvent({
      type: "top_up",
      origin: purchase.origin,
      service: "",
      credential: "session",
      priceMsat: Number(offer.request.amount) * 1000,
    });
    return this.#purchase(topUpStrategy(this.#options, session), offer, { ...purchase, url: session.url });
  }

  #buy(offer: Offer, purchase: Purchase & { readonly url: string }): Promise<Obtained> {
    switch (offer.kind) {
      case "l402":
        return this.#purchase(this.#l402, offer, purchase);
      case "charge":
        return this.#purchase(this.#charge, offer, purchase);
      case "session":
        return this.#purchase(this.#session, offer, purchase);
    }
  }

  async #purchase<O extends Offer, V, R extends Paid>(
    strategy: SchemeStrategy<O, V, R>,
    offer: O,
    purchase: Purchase & { readonly url: string },
  ): Promise<Obtained> {
    const { limits } = purchase;
    const quoted = strategy.quote({ offer, origin: purchase.origin });
    if (purchase.dryRun) await this.#dryRun(quoted.quote);
    await this.#approve(quoted.quote, limits);
    const paid = await strategy.pay({ quoted, order: { url: purchase.url, capSats: limits.maxCostSats } });
    limits.onPaid?.(paid.paymentHash);
    return { presented: await strategy.present({ quoted, paid }), paid: quoted.quote };
  }

  /** With `limits.approve`: checks the caps and budgets first, then asks; a refusal is `payment_declined`. */
  async #approve(quote: PriceQuote, limits: CallLimits): Promise<void> {
    if (!limits.approve) return;
    await this.#options.payer.assertAllowed(quote, limits.maxCostSats);
    if (!(await limits.approve(quote))) {
      throw new L402ClientError(
        "payment_declined",
        `paying ${quote.amountSats} sats to ${quote.origin} was not approved`,
        { quote },
      );
    }
  }

  /** Throws what paying `quote` would be refused with, else `dry_run` with the quote. */
  async #dryRun(quote: PriceQuote): Promise<never> {
    await this.#options.payer.assertAllowed(quote);
    throw new L402ClientError(
      "dry_run",
      `dry run: ${quote.origin} asks ${quote.amountSats} sats (+ up to ${quote.maxFeeSats} sats fee) for ` +
        `${describeScheme(quote)}; nothing paid`,
      { quote },
    );
  }
}

/** Errors of an offer that does not hold together: the next offer may still be paid. */
const VALIDATION_CODES: ReadonlySet<L402ClientErrorCode> = new Set([
  "malformed_challenge",
  "invalid_invoice",
  "zero_amount_invoice",
  "invoice_expired",
  "timelock_too_long",
  "payment_hash_mismatch",
  "amount_mismatch",
  "network_mismatch",
  "session_unsupported",
]);
