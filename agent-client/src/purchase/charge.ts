import type { ChargeOffer } from "../offers.js";
import type { ValidatedPaymentOffer } from "../payment-offers.js";
import type { PaymentResult } from "../wallet/wallet.js";
import type { PurchaseDeps, SchemeStrategy } from "./strategy.js";
import { quotedPaymentOffer } from "./validation.js";

/** Payment charge: the invoice pays one call; its preimage is presented once. */
export function chargeStrategy(deps: PurchaseDeps): SchemeStrategy<ChargeOffer, ValidatedPaymentOffer, PaymentResult> {
  return {
    quote: ({ offer, origin }) => quotedPaymentOffer(deps, { offer, origin, scheme: "charge" }),
    pay: ({ quoted, order }) =>
      deps.payer.payOffer({
        validated: quoted.validated,
        origin: quoted.quote.origin,
        scheme: "charge",
        capSats: order.capSats,
      }),
    present: async ({ quoted, paid }) => ({
      kind: "charge",
      challenge: quoted.offer.challenge,
      preimage: paid.preimage,
      paymentHash: paid.paymentHash,
    }),
  };
}
