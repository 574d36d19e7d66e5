import type { PriceQuote } from "./errors.js";
import type { Refund } from "./store/state.js";

/** Progress the client reports through `onEvent` (the CLI prints these to stderr). Never carries a preimage. */
export type L402Event =
  | { readonly type: "challenge"; readonly origin: string; readonly service: string; readonly url: string }
  | { readonly type: "paying"; readonly quote: PriceQuote }
  | { readonly type: "paid"; readonly quote: PriceQuote; readonly feeSats: number }
  | { readonly type: "token_reused"; readonly origin: string; readonly service: string }
  | { readonly type: "token_dropped"; readonly origin: string; readonly service: string; readonly paymentHash: string }
  | {
      /** A metered 402 asked for less than the deposit policy wants: the request is sent again asking for more. */
      readonly type: "deposit";
      readonly origin: string;
      readonly depositMsat: number;
      /** A call's price at most, as the 402 quoted it. */
      readonly priceMsat: number;
      /** The deposit tops up a credential whose balance ran out. */
      readonly topUp: boolean;
    }
  | { readonly type: "deposit_refused"; readonly origin: string; readonly depositMsat: number }
  | {
      /** A Payment session's stream ended with its `payment-receipt` event (taken out of the body). */
      readonly type: "stream_receipt";
      readonly origin: string;
      readonly sessionId: string;
      /** What the stream spent, in sats, and for how many units; exact (int64). */
      readonly spentSats: bigint;
      readonly units: bigint;
    }
  | {
      /** A held metered credential's balance ran out: the payment that follows tops it up. */
      readonly type: "top_up";
      readonly origin: string;
      readonly service: string;
      readonly credential: "token" | "session";
      readonly balanceMsat?: number;
      readonly priceMsat?: number;
    }
  | {
      /** The answer to the request that presents a credential just paid for was lost: it is sent again. */
      readonly type: "paid_retry";
      readonly origin: string;
      readonly paymentHash: string;
      readonly retry: number;
      readonly reason: string;
    }
  | { readonly type: "refund"; readonly origin: string; readonly reference: string; readonly refund: Refund }
  | {
      readonly type: "pending_resolved";
      readonly paymentHash: string;
      readonly status: "succeeded" | "failed";
    };
