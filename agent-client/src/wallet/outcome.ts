import { L402ClientError } from "../errors.js";
import type { PaymentLookup, PaymentResult, Wallet } from "./wallet.js";

/**
 * The outcome of a payment whose own answer was lost (a timeout, a dropped stream or relay), from the wallet's record:
 * the result if it succeeded, `payment_failed` if it failed, else `payment_timeout` (kept pending). `unknownIsNotSent`
 * says whether a wallet that never heard of the payment proves it was never sent (LND, which records a payment
 * before sending it), or only that it has not arrived yet (a request still on its way to a remote wallet service).
 */
export async function outcomeFromLookup(
  wallet: Pick<Wallet, "lookupPayment">,
  paymentHash: string,
  why: string,
  unknownIsNotSent: boolean,
): Promise<PaymentResult> {
  let lookup: PaymentLookup;
  try {
    lookup = await wallet.lookupPayment(paymentHash);
  } catch (error) {
    throw new L402ClientError(
      "payment_timeout",
      `${why}; its outcome is unknown and it is tracked as pending`,
      { paymentHash },
      { cause: error },
    );
  }
  switch (lookup.status) {
    case "succeeded":
      return lookup;
    case "pending":
      throw new L402ClientError("payment_timeout", `${why}; the payment is still in flight and tracked as pending`, {
        paymentHash,
      });
    case "failed":
      throw new L402ClientError("payment_failed", `payment failed (${why}): ${lookup.reason}`, { paymentHash });
    case "unknown":
      if (unknownIsNotSent)
        throw new L402ClientError("payment_failed", `payment was not sent: ${why}`, { paymentHash });
      throw new L402ClientError("payment_timeout", `${why}; the payment is tracked as pending`, { paymentHash });
  }
}
