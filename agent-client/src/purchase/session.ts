import { L402ClientError } from "../errors.js";
import type { SessionOffer } from "../offers.js";
import type { ValidatedPaymentOffer } from "../payment-offers.js";
import { findSession, storedChallenge, updateSession } from "../sessions.js";
import type { StoredSession } from "../store/state.js";
import type { PaymentResult, Wallet } from "../wallet/wallet.js";
import type { Paid, PurchaseDeps, SchemeStrategy } from "./strategy.js";
import { quotedPaymentOffer } from "./validation.js";

/** The draft advises a return invoice valid at least 30 days. */
export const RETURN_INVOICE_MIN_SECONDS = 30 * 24 * 3600;

/**
 * Payment session: the invoice is a deposit, stored as a session with a return invoice for the unspent rest; the
 * session is opened by the request that presents it.
 */
export function sessionStrategy(deps: PurchaseDeps): SchemeStrategy<SessionOffer, ValidatedPaymentOffer, Paid> {
  return {
    quote: ({ offer, origin }) => quotedPaymentOffer(deps, { offer, origin, scheme: "session" }),
    async pay({ quoted, order }) {
      const { offer, validated } = quoted;
      const returnInvoice = await sessionReturnInvoice(deps.wallet, offer);
      const session = {
        returnInvoice,
        challenge: storedChallenge(offer.challenge),
        url: order.url,
        unitSats: Number(offer.request.amount),
      };
      await deps.payer.payOffer({
        validated,
        origin: quoted.quote.origin,
        scheme: "session",
        session,
        capSats: order.capSats,
      });
      return { paymentHash: validated.invoice.paymentHash };
    },
    async present({ paid }) {
      const stored = findSession(await deps.store.read(), paid.paymentHash);
      if (!stored) throw new Error("the session was not stored");
      return { kind: "session", session: stored };
    },
  };
}

/** A session's top-up: the invoice pays more into the open session, and the top-up action presents its preimage. */
export function topUpStrategy(
  deps: PurchaseDeps,
  session: StoredSession,
): SchemeStrategy<SessionOffer, ValidatedPaymentOffer, PaymentResult> {
  return {
    quote: ({ offer, origin }) => quotedPaymentOffer(deps, { offer, origin, scheme: "topUp" }),
    pay: ({ quoted, order }) =>
      deps.payer.payOffer({
        validated: quoted.validated,
        origin: quoted.quote.origin,
        scheme: "topUp",
        onPaid: (state) => {
          updateSession(state, session.sessionId, (stored) => {
            stored.paidSats += quoted.validated.invoice.amountSats;
          });
        },
        capSats: order.capSats,
      }),
    present: async ({ quoted, paid }) => ({
      kind: "topUp",
      session,
      challenge: quoted.offer.challenge,
      topUpPreimage: paid.preimage,
    }),
  };
}

/** An amountless invoice for the refund, valid at least 30 days and twice the session's idle timeout. */
async function sessionReturnInvoice(wallet: Wallet, offer: SessionOffer): Promise<string> {
  const create = wallet.createReturnInvoice?.bind(wallet);
  if (!create) {
    throw new L402ClientError("session_unsupported", "the wallet cannot make a return invoice for a session");
  }
  const idle = Number(offer.request.idleTimeout ?? "0");
  const expirySeconds = Math.max(RETURN_INVOICE_MIN_SECONDS, 2 * idle);
  return (await create({ description: `refund of session ${offer.request.paymentHash}`, expirySeconds })).invoice;
}
