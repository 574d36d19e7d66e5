import { decodeInvoice } from "./invoice.js";
import type { Offer, OfferKind } from "./offers.js";

/**
 * Which of a 402's offers to pay. Without an explicit `order`:
 * - `calls: "many"` (the default; an agent usually makes many metered calls): a Payment `session` (one deposit,
 *   bearer use, the unspent rest refunded on close), else an L402 token (reusable, prepaid), else a Payment `charge`;
 * - `calls: "one"`: the offer asking the fewest sats up front (ties: charge, then L402, then session, the ones that
 *   leave least behind).
 * An L402 challenge is paid whenever it is all there is. `order` lists the kinds to consider, best first; kinds left
 * out are never paid.
 */
export interface OfferPreference {
  readonly calls?: "one" | "many";
  readonly order?: readonly OfferKind[];
}

const MANY_CALLS: readonly OfferKind[] = ["session", "l402", "charge"];
const ONE_CALL_TIES: readonly OfferKind[] = ["charge", "l402", "session"];

/** The offers worth paying, best first; `canOpenSessions` false drops session offers (no return invoice possible). */
export function rankOffers(
  offers: readonly Offer[],
  preference: OfferPreference,
  canOpenSessions: boolean,
  now: Date,
): Offer[] {
  const usable = offers.filter((offer) => offer.kind !== "session" || canOpenSessions);
  if (preference.order) {
    const order = preference.order;
    return usable.filter((offer) => order.includes(offer.kind)).sort(byKind(order));
  }
  if (preference.calls === "one") {
    const tie = byKind(ONE_CALL_TIES);
    return [...usable].sort((a, b) => upFrontSats(a, now) - upFrontSats(b, now) || tie(a, b));
  }
  return [...usable].sort(byKind(MANY_CALLS));
}

function byKind(order: readonly OfferKind[]): (a: Offer, b: Offer) => number {
  return (a, b) => order.indexOf(a.kind) - order.indexOf(b.kind);
}

/** Sats an offer asks before anything is served; an offer whose price cannot be read ranks last. */
export function upFrontSats(offer: Offer, now: Date): number {
  switch (offer.kind) {
    case "charge":
      return Number(offer.request.amount);
    case "session":
      return offer.request.depositAmount === undefined ? Number.POSITIVE_INFINITY : Number(offer.request.depositAmount);
    case "l402":
      try {
        return decodeInvoice(offer.challenge.invoice, now).amountSats;
      } catch {
        return Number.POSITIVE_INFINITY;
      }
  }
}
