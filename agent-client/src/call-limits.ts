import type { DepositPolicy } from "./deposit.js";
import type { PriceQuote } from "./errors.js";

/** Limits for one call of `fetchWithin`; they can only narrow what the client allows. */
export interface CallLimits {
  /** Cap on this call's payment, amount plus maximum fee; the client's cap applies when it is lower. */
  readonly maxCostSats?: number;
  /** How a metered credential bought or topped up in this call is funded; the client's `deposit` by default. */
  readonly deposit?: DepositPolicy;
  /** Asked before paying (after every cap and budget allowed it); false refuses with `payment_declined`. */
  readonly approve?: (quote: PriceQuote) => Promise<boolean>;
  /** Told the payment hash of a payment this call made. */
  readonly onPaid?: (paymentHash: string) => void;
  /**
   * Told the secrets of each credential the call presents (the Authorization value, the macaroon, preimages), so
   * that what shows the response to a model or a log can scrub a server's echo of them (see `scrubSecrets`).
   */
  readonly onCredential?: (secrets: readonly string[]) => void;
}
