import { L402ClientError } from "../errors.js";
import type { DecodedInvoice } from "../invoice.js";
import type { ChargeOffer, SessionOffer } from "../offers.js";
import { type ValidatedPaymentOffer, validatePaymentOffer } from "../payment-offers.js";
import type { PaymentScheme } from "../payments.js";
import type { PurchaseDeps, Quoted } from "./strategy.js";

/** A Payment-scheme offer checked (see `validatedOffer`) and priced for what `scheme` buys. */
export function quotedPaymentOffer<O extends ChargeOffer | SessionOffer>(
  deps: PurchaseDeps,
  args: { readonly offer: O; readonly origin: string; readonly scheme: PaymentScheme },
): Quoted<O, ValidatedPaymentOffer> {
  const validated = validatedOffer(args.offer, deps);
  return { offer: args.offer, validated, quote: deps.payer.quoteOffer(validated, args.origin, args.scheme) };
}

/** A Payment-scheme offer whose invoice matches its challenge and locks a payment no longer than allowed. */
export function validatedOffer(
  offer: ChargeOffer | SessionOffer,
  deps: Pick<PurchaseDeps, "now" | "maxLockBlocks">,
): ValidatedPaymentOffer {
  const validated = validatePaymentOffer(offer, deps.now());
  assertLockBlocks(validated.invoice, deps.maxLockBlocks);
  return validated;
}

/** Refuses an invoice that could keep the payment locked longer than `maxLockBlocks` (`timelock_too_long`). */
export function assertLockBlocks(invoice: DecodedInvoice, maxLockBlocks: number): void {
  if (invoice.lockBlocks <= maxLockBlocks) return;
  throw new L402ClientError(
    "timelock_too_long",
    `the invoice could keep the payment locked for ${invoice.lockBlocks} blocks, more than the ` +
      `${maxLockBlocks} allowed (maxLockBlocks)`,
    { paymentHash: invoice.paymentHash },
  );
}
