import { decodeInvoice } from "./invoice.js";
import type { Offer, OfferKind } from "./offers.js";

/**
 * Which of a 402's offers to pay. Without an explicit `order`:
 * - by default: the offer with the smallest outlay (the sats paid before anything is served: a charge's amount, an
 *   L402 invoice, a session's whole deposit) that covers the call; a session whose deposit is below its unit price
 *   covers nothing and comes last. Ties: a session, then an L402 token, then a charge (reusable ones first);
 * - `calls: "many"` (an agent that knows it will make many metered calls): a Payment `session` (one deposit, bearer
 *   use, the unspent rest refunded on close), else an L402 token (reusable, prepaid), else a Payment `charge`,
 *   whatever they ask up front;
 * - `calls: "one"`: the smallest outlay (ties: charge, then L402, then session, the ones that leave least behind).
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
  if (preference.calls === "many") return [...usable].sort(byKind(MANY_CALLS));
  const tie = byKind(preference.calls === "one" ? ONE_CALL_TIES : MANY_CALLS);
  return [...usable].sort(
    (a, b) => Number(!coversCall(a)) - Number(!coversCall(b)) || upFrontSats(a, now) - upFrontSats(b, now) || tie(a, b),
  );
}

/** Whether paying the offer lets the call be served: a session deposit must pay for at least one unit. */
export function coversCall(offer: Offer): boolean {
  if (offer.kind !== "session" || offer.request.depositAmount === undefined) return true;
  return Number(offer.request.depositAmount) >= Number(offer.request.amount);
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
