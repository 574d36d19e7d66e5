import { type L402Challenge, L402Error, parseChallenge } from "@l402-gateway/l402";
import { L402ClientError } from "./errors.js";
import { type DecodedInvoice, decodeInvoice } from "./invoice.js";
import { type MacaroonInfo, readMacaroonInfo } from "./macaroon-info.js";

export interface ValidatedChallenge {
  readonly challenge: L402Challenge;
  readonly macaroon: MacaroonInfo;
  readonly invoice: DecodedInvoice;
}

/**
 * Reads the L402 challenge of a 402 response. Returns undefined when the response carries no L402/LSAT challenge at
 * all (another payment scheme: the response is the caller's to handle); throws `malformed_challenge` when one is
 * there but unusable. Only the macaroon is decoded here; the invoice is checked by `validateChallenge`.
 */
export function readChallenge(headers: Headers): { challenge: L402Challenge; macaroon: MacaroonInfo } | undefined {
  const values = wwwAuthenticateValues(headers);
  if (values.length === 0) return undefined;
  let challenge: L402Challenge;
  try {
    challenge = parseChallenge(values);
  } catch (error) {
    if (error instanceof L402Error && error.code === "missing") return undefined;
    throw malformed(error);
  }
  try {
    return { challenge, macaroon: readMacaroonInfo(challenge.macaroon) };
  } catch (error) {
    throw malformed(error);
  }
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

function wwwAuthenticateValues(headers: Headers): string[] {
  // fetch joins repeated headers with ", ", which parseChallenge reads; getSetCookie-style splitting is not needed.
  const joined = headers.get("www-authenticate");
  return joined === null ? [] : [joined];
}

function malformed(error: unknown): L402ClientError {
  const reason = error instanceof Error ? error.message : String(error);
  return new L402ClientError(
    "malformed_challenge",
    `the server's L402 challenge is unusable: ${reason}`,
    {},
    {
      cause: error,
    },
  );
}
