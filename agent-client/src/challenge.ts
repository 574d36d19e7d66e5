import type { L402Challenge } from "@l402-gateway/l402";
import { L402ClientError } from "./errors.js";
import { type DecodedInvoice, decodeInvoice } from "./invoice.js";
import type { MacaroonInfo } from "./macaroon-info.js";

export interface ValidatedChallenge {
  readonly challenge: L402Challenge;
  readonly macaroon: MacaroonInfo;
  readonly invoice: DecodedInvoice;
}

/** Decodes the invoice and checks it is the one the macaroon was minted for. */
export function validateChallenge(
  read: { challenge: L402Challenge; macaroon: MacaroonInfo },
  now: Date,
): ValidatedChallenge {
  const invoice = decodeInvoice(read.challenge.invoice, now);
  if (invoice.paymentHash !== read.macaroon.paymentHash) {
    throw new L402ClientError(
      "payment_hash_mismatch",
      `the invoice pays hash ${invoice.paymentHash} but the macaroon is bound to ${read.macaroon.paymentHash}: ` +
        "paying it would not buy this token",
      { paymentHash: invoice.paymentHash },
    );
  }
  return { ...read, invoice };
}
