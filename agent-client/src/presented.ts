import { formatAuthorization, type PaymentChallenge } from "@l402-gateway/l402";
import { chargeAuthorization, sessionAuthorization } from "./payment-offers.js";
import type { StoredSession, StoredToken } from "./store/state.js";

/** What a request presents: an L402 token, a session action, a top-up, or a paid charge (used once). */
export type Presented =
  | { readonly kind: "token"; readonly token: StoredToken }
  | { readonly kind: "session"; readonly session: StoredSession }
  | { readonly kind: "close"; readonly session: StoredSession }
  | {
      readonly kind: "topUp";
      readonly session: StoredSession;
      readonly challenge: PaymentChallenge;
      readonly topUpPreimage: string;
    }
  | {
      readonly kind: "charge";
      readonly challenge: PaymentChallenge;
      readonly preimage: string;
      readonly paymentHash: string;
    };

/** The Authorization value; a session not yet opened presents `open` with its return invoice, else `bearer`. */
export function authorizationOf(presented: Presented): string {
  switch (presented.kind) {
    case "token":
      return formatAuthorization({
        macaroon: presented.token.macaroon,
        preimage: Buffer.from(presented.token.preimage, "hex"),
        scheme: presented.token.scheme,
      });
    case "session": {
      const { session } = presented;
      return sessionAuthorization(
        session.challenge,
        session.opened
          ? { action: "bearer", sessionId: session.sessionId, preimage: session.preimage }
          : { action: "open", preimage: session.preimage, returnInvoice: session.returnInvoice },
      );
    }
    case "close":
      return sessionAuthorization(presented.session.challenge, {
        action: "close",
        sessionId: presented.session.sessionId,
        preimage: presented.session.preimage,
      });
    case "topUp":
      return sessionAuthorization(presented.challenge, {
        action: "topUp",
        sessionId: presented.session.sessionId,
        topUpPreimage: presented.topUpPreimage,
      });
    case "charge":
      return chargeAuthorization(presented.challenge, presented.preimage);
  }
}

/** The payment hash a refusal of this credential is recorded under. */
export function paymentHashOf(presented: Presented): string {
  switch (presented.kind) {
    case "token":
      return presented.token.paymentHash;
    case "session":
    case "close":
    case "topUp":
      return presented.session.sessionId;
    case "charge":
      return presented.paymentHash;
  }
}
