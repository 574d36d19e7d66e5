import { z } from "zod";
import { hasControlCharacter } from "../text.js";
import { decodeBase64Url, encodeBase64Url } from "./base64url.js";
import { PAYMENT_SCHEME, type PaymentChallenge } from "./challenge.js";
import { asPaymentError, PaymentError } from "./errors.js";
import { canonicalJson } from "./jcs.js";

/** What `Authorization: Payment <token>` carries: the echoed challenge, an optional payer id and the proof. */
export interface PaymentCredential {
  readonly challenge: PaymentChallenge;
  readonly source?: string;
  /** Method- and intent-specific; check it with the matching schema (see lightning.ts). */
  readonly payload: Readonly<Record<string, unknown>>;
}

/** A token longer than this is refused before decoding (64 KiB of JSON, base64url-encoded). */
export const MAX_PAYMENT_TOKEN_LENGTH = Math.ceil((64 * 1024 * 4) / 3);

const nonEmpty = z.string().min(1);
const credentialSchema = z.object({
  challenge: z.object({
    id: nonEmpty,
    realm: nonEmpty,
    method: nonEmpty,
    intent: nonEmpty,
    request: nonEmpty,
    expires: z.string().optional(),
    digest: z.string().optional(),
    description: z.string().optional(),
    opaque: z.string().optional(),
  }),
  source: z.string().optional(),
  payload: z.record(z.string(), z.unknown()),
});

const CREDENTIAL = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?:[ \t]+(.*))?$/s;

/** The token (no scheme): unpadded base64url of the credential's canonical JSON. */
export function formatPaymentCredential(credential: PaymentCredential): string {
  return encodeBase64Url(canonicalJson(credential));
}

/** `Payment <token>`. */
export function formatPaymentAuthorization(credential: PaymentCredential): string {
  return `${PAYMENT_SCHEME} ${formatPaymentCredential(credential)}`;
}

/**
 * The Payment credential among Authorization values (scheme case-insensitive; values of other schemes ignored), or
 * undefined when there is none. Throws PaymentError: `bad-request` for several Payment values, `malformed-credential`
 * for a token that is not base64url (padding tolerated) of a JSON credential with the five challenge strings and a
 * payload object.
 */
export function parsePaymentAuthorization(values: string | readonly string[]): PaymentCredential | undefined {
  const list: readonly string[] = typeof values === "string" ? [values] : values;
  const tokens: string[] = [];
  for (const value of list) {
    const match = CREDENTIAL.exec(value.trim());
    if (match?.[1]?.toLowerCase() === "payment") tokens.push((match[2] ?? "").trim());
  }
  const [token, ...others] = tokens;
  if (token === undefined) return undefined;
  if (others.length > 0) throw new PaymentError("bad-request", "several Payment credentials in one request");
  return decodePaymentCredential(token);
}

/** Decodes a token as parsePaymentAuthorization does. */
export function decodePaymentCredential(token: string): PaymentCredential {
  return asPaymentError("malformed-credential", "invalid Payment credential", () => {
    if (token === "") throw new PaymentError("malformed-credential", "Payment credential is empty");
    if (token.length > MAX_PAYMENT_TOKEN_LENGTH) {
      throw new PaymentError("malformed-credential", "Payment credential is too long");
    }
    const json = decodeBase64Url(token).toString("utf8");
    if (hasControlCharacter(json.replace(/[\t\n\r]/g, ""))) {
      throw new PaymentError("malformed-credential", "Payment credential holds control characters");
    }
    const parsed = credentialSchema.safeParse(JSON.parse(json));
    if (!parsed.success) {
      throw new PaymentError("malformed-credential", `Payment credential: ${parsed.error.issues[0]?.message ?? ""}`);
    }
    const { challenge, source, payload } = parsed.data;
    return { challenge: dropUndefined(challenge), ...(source === undefined ? {} : { source }), payload };
  });
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
