import { type ValidatedChallenge, validateChallenge } from "../challenge.js";
import type { L402Offer } from "../offers.js";
import type { StoredToken } from "../store/state.js";
import type { PurchaseDeps, SchemeStrategy } from "./strategy.js";
import { assertLockBlocks } from "./validation.js";

/** L402: the invoice buys a token (macaroon + preimage) that is stored and reused for its service. */
export function l402Strategy(deps: PurchaseDeps): SchemeStrategy<L402Offer, ValidatedChallenge, StoredToken> {
  return {
    quote({ offer, origin }) {
      const validated = validateChallenge(offer, deps.now());
      assertLockBlocks(validated.invoice, deps.maxLockBlocks);
      return { offer, validated, quote: deps.payer.quote(validated, origin) };
    },
    pay: ({ quoted, order }) =>
      deps.payer.pay({ challenge: quoted.validated, origin: quoted.quote.origin, capSats: order.capSats }),
    present: async ({ paid }) => ({ kind: "token", token: paid }),
  };
}
