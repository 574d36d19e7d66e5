import {
  decodePaymentRequest,
  type L402Challenge,
  L402Error,
  LIGHTNING_METHOD,
  type LightningChargeRequest,
  type LightningSessionRequest,
  lightningChargeRequestSchema,
  lightningSessionRequestSchema,
  type PaymentChallenge,
  parseAuthChallenges,
  parseChallenge,
  parsePaymentChallenges,
} from "@l402-gateway/l402";
import { L402ClientError } from "./errors.js";
import { type MacaroonInfo, readMacaroonInfo } from "./macaroon-info.js";

export interface L402Offer {
  readonly kind: "l402";
  readonly challenge: L402Challenge;
  readonly macaroon: MacaroonInfo;
}

export interface ChargeOffer {
  readonly kind: "charge";
  readonly challenge: PaymentChallenge;
  readonly request: LightningChargeRequest;
}

export interface SessionOffer {
  readonly kind: "session";
  readonly challenge: PaymentChallenge;
  readonly request: LightningSessionRequest;
}

export type Offer = L402Offer | ChargeOffer | SessionOffer;
export type OfferKind = Offer["kind"];

/**
 * Every offer of a 402 this client can pay, in the order the server listed them: the L402 challenge (the `L402` one
 * when both `LSAT` and `L402` are there) and each Payment challenge of method `lightning` with intent `charge` or
 * `session`. A challenge that does not parse, or whose `request` does not decode to its intent's schema, is skipped
 * rather than failing the others; Payment challenges of other methods are ignored.
 *
 * Throws `malformed_challenge` only when the response carries payment challenges and none of them is usable.
 * Returns [] for a 402 with no challenge of these schemes at all (the response is then the caller's).
 */
export function readOffers(headers: Headers): Offer[] {
  const values = wwwAuthenticateValues(headers);
  if (values.length === 0) return [];
  const offers: Offer[] = [];
  let problem: unknown;
  let sawPaymentScheme = false;
  try {
    const challenge = parseChallenge(values);
    offers.push({ kind: "l402", challenge, macaroon: readMacaroonInfo(challenge.macaroon) });
  } catch (error) {
    if (!(error instanceof L402Error && error.code === "missing")) problem = error;
  }
  for (const challenge of parsePaymentChallenges(values)) {
    sawPaymentScheme = true;
    if (challenge.method !== LIGHTNING_METHOD) continue;
    try {
      if (challenge.intent === "charge") {
        offers.push({ kind: "charge", challenge, request: decodePaymentRequest(challenge.request, chargeSchema) });
      } else if (challenge.intent === "session") {
        offers.push({ kind: "session", challenge, request: decodePaymentRequest(challenge.request, sessionSchema) });
      }
    } catch (error) {
      problem ??= error;
    }
  }
  if (offers.length === 0 && (problem !== undefined || (sawPaymentScheme && mentionsLightning(values)))) {
    throw malformed(problem ?? new Error("no Payment challenge of method lightning is usable"));
  }
  return offers;
}

const chargeSchema = lightningChargeRequestSchema;
const sessionSchema = lightningSessionRequestSchema;

/**
 * The WWW-Authenticate values. fetch joins repeated lines with ", ", which the parsers read as one list; when one
 * malformed challenge breaks that list, the value is split again where a known scheme starts, so that the other
 * challenges are still read.
 */
export function wwwAuthenticateValues(headers: Headers): string[] {
  const joined = headers.get("www-authenticate");
  if (joined === null) return [];
  try {
    parseAuthChallenges(joined);
    return [joined];
  } catch {
    return joined.split(SCHEME_START).map((part) => part.trim());
  }
}

const SCHEME_START = /,\s*(?=(?:LSAT|L402|Payment)\s)/i;

function mentionsLightning(values: readonly string[]): boolean {
  return values.some((value) => /method\s*=\s*"?lightning/i.test(value));
}

function malformed(error: unknown): L402ClientError {
  const reason = error instanceof Error ? error.message : String(error);
  return new L402ClientError(
    "malformed_challenge",
    `the server's payment challenge is unusable: ${reason}`,
    {},
    {
      cause: error,
    },
  );
}
