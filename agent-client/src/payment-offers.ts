import {
  formatPaymentAuthorization,
  invoiceNetwork,
  type LightningSessionPayload,
  type PaymentChallenge,
  parseExpires,
} from "@l402-gateway/l402";
import { L402ClientError } from "./errors.js";
import { type DecodedInvoice, decodeInvoice } from "./invoice.js";
import type { ChargeOffer, SessionOffer } from "./offers.js";

/** A Payment offer whose invoice was decoded and found to be exactly what the challenge says. */
export interface ValidatedPaymentOffer {
  readonly offer: ChargeOffer | SessionOffer;
  readonly invoice: DecodedInvoice;
}

/**
 * Checks, before paying, that the offer's invoice is what the challenge describes: a `charge` invoice's amount
 * equals `amount`, a `session` deposit invoice's equals `depositAmount`; `paymentHash` and `network` (mainnet when
 * absent) match the invoice; the challenge has not expired (the effective expiry is the earlier of `expires` and the
 * invoice's). `currency` is "sat" by the request's schema. `description` is display only and not checked.
 */
export function validatePaymentOffer(offer: ChargeOffer | SessionOffer, now: Date): ValidatedPaymentOffer {
  const { invoiceText, amount, paymentHash, network } = describe(offer);
  if (invoiceText === undefined) {
    throw new L402ClientError("malformed_challenge", "the session challenge carries no deposit invoice to pay");
  }
  if (amount === undefined) {
    throw new L402ClientError("malformed_challenge", "the session challenge does not say the deposit amount");
  }
  const invoice = decodeInvoice(invoiceText, now);
  if (invoice.amountMsat !== BigInt(amount) * 1000n) {
    throw new L402ClientError(
      "amount_mismatch",
      `the challenge asks ${amount} sats but its invoice is for ${invoice.amountMsat} msat: not paying either`,
      { paymentHash: invoice.paymentHash },
    );
  }
  if (paymentHash !== undefined && paymentHash !== invoice.paymentHash) {
    throw new L402ClientError(
      "payment_hash_mismatch",
      `the challenge names payment hash ${paymentHash} but its invoice pays ${invoice.paymentHash}`,
      { paymentHash: invoice.paymentHash },
    );
  }
  // The Payment drafts name networks as the gateway does (l402 invoiceNetwork); "mainnet" is the default when absent.
  const invoiceOn = invoiceNetwork(invoice.invoice);
  if (offer.kind === "charge" && (network ?? "mainnet") !== invoiceOn) {
    throw new L402ClientError(
      "network_mismatch",
      `the challenge says network ${network ?? "mainnet (by default)"} but its invoice is for ${invoiceOn}`,
      { paymentHash: invoice.paymentHash },
    );
  }
  assertChallengeUnexpired(offer.challenge, now, invoice.paymentHash);
  return { offer, invoice };
}

/** Throws `invoice_expired` for a challenge whose `expires` has passed or is not RFC 3339. */
export function assertChallengeUnexpired(challenge: PaymentChallenge, now: Date, paymentHash?: string): void {
  if (challenge.expires === undefined) return;
  const expires = parseExpires(challenge.expires);
  if (expires === undefined || expires.getTime() <= now.getTime()) {
    throw new L402ClientError(
      "invoice_expired",
      `the Payment challenge expired (expires="${challenge.expires}")`,
      paymentHash === undefined ? {} : { paymentHash },
    );
  }
}

function describe(offer: ChargeOffer | SessionOffer): {
  invoiceText: string | undefined;
  amount: string | undefined;
  paymentHash: string | undefined;
  network: string | undefined;
} {
  if (offer.kind === "charge") {
    const { methodDetails } = offer.request;
    return {
      invoiceText: methodDetails.invoice,
      amount: offer.request.amount,
      paymentHash: methodDetails.paymentHash,
      network: methodDetails.network,
    };
  }
  // The session request has no network field: the deposit invoice must be for the network the wallet pays on,
  // which the wallet itself enforces.
  const { request } = offer;
  return {
    invoiceText: request.depositInvoice,
    amount: request.depositAmount,
    paymentHash: request.paymentHash,
    network: undefined,
  };
}

/** `Authorization: Payment …` for a paid charge: the challenge echoed exactly as received, and the preimage. */
export function chargeAuthorization(challenge: PaymentChallenge, preimage: string): string {
  return formatPaymentAuthorization({ challenge, payload: { preimage } });
}

/** `Authorization: Payment …` for a session action, echoing the session challenge it answers. */
export function sessionAuthorization(challenge: PaymentChallenge, payload: LightningSessionPayload): string {
  return formatPaymentAuthorization({ challenge, payload: { ...payload } });
}
