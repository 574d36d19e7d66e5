import { parseAuthChallenges } from "../auth-params.js";
import { hasControlCharacter } from "../text.js";
import { encodeBase64Url } from "./base64url.js";
import { bindChallengeId } from "./binding.js";
import { canonicalJson } from "./jcs.js";

/** One `WWW-Authenticate: Payment …` challenge, every value exactly as sent (a client echoes them byte for byte). */
export interface PaymentChallenge {
  readonly id: string;
  readonly realm: string;
  /** `1*[a-z]`, e.g. `lightning`. */
  readonly method: string;
  /** e.g. `charge`, `session`. */
  readonly intent: string;
  /** Unpadded base64url of the JCS request object; never re-encode it. */
  readonly request: string;
  /** RFC 3339. */
  readonly expires?: string;
  readonly digest?: string;
  /** Display only; not bound by `id`. */
  readonly description?: string;
  readonly opaque?: string;
}

export const PAYMENT_SCHEME = "Payment";

const METHOD = /^[a-z]+$/;
const INTENT = /^[A-Za-z0-9-]+$/;
const BASE64URL_TEXT = /^[A-Za-z0-9_-]+={0,2}$/;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Parameters in the order Aperture writes them. */
const PARAM_ORDER = [
  "id",
  "realm",
  "method",
  "intent",
  "request",
  "expires",
  "digest",
  "description",
  "opaque",
] as const;

export interface BuildPaymentChallengeOptions {
  /** The server's HMAC secret; `id` binds realm, method, intent, request, expires, digest and opaque. */
  readonly secret: Uint8Array;
  readonly realm: string;
  readonly method: string;
  readonly intent: string;
  /** The request object: canonicalised (JCS) and base64url-encoded here. */
  readonly request: object;
  readonly expires?: Date;
  readonly digest?: string;
  readonly description?: string;
  /** A flat string map, canonicalised and base64url-encoded like `request`. */
  readonly opaque?: Readonly<Record<string, string>>;
}

/** Builds a bound challenge. Throws RangeError for a method or intent outside the grammar. */
export function buildPaymentChallenge(options: BuildPaymentChallengeOptions): PaymentChallenge {
  if (!METHOD.test(options.method)) throw new RangeError("method must be lowercase letters");
  if (!INTENT.test(options.intent)) throw new RangeError("intent must be letters, digits and -");
  const fields = {
    realm: options.realm,
    method: options.method,
    intent: options.intent,
    request: encodeBase64Url(canonicalJson(options.request)),
    ...(options.expires === undefined ? {} : { expires: formatExpires(options.expires) }),
    ...(options.digest === undefined ? {} : { digest: options.digest }),
    ...(options.opaque === undefined ? {} : { opaque: encodeBase64Url(canonicalJson(options.opaque)) }),
  };
  return {
    id: bindChallengeId(options.secret, fields),
    ...fields,
    ...(options.description === undefined ? {} : { description: options.description }),
  };
}

/** RFC 3339 in UTC, whole seconds, `Z` (Aperture's form). */
export function formatExpires(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The instant of an RFC 3339 timestamp (fractions and offsets accepted), or undefined when it is not one. */
export function parseExpires(text: string): Date | undefined {
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const time = Date.parse(text.toUpperCase());
  return Number.isNaN(time) ? undefined : new Date(time);
}

/**
 * `Payment id="…", realm="…", …` with every value quoted (`\` and `"` escaped) in Aperture's order. Throws
 * RangeError for a value holding control characters (HTAB excepted) or an empty required value.
 */
export function formatPaymentChallenge(challenge: PaymentChallenge): string {
  const params: string[] = [];
  for (const name of PARAM_ORDER) {
    const value = challenge[name];
    if (value === undefined) continue;
    // RFC 9110 qdtext and quoted-pair both allow HTAB; other controls cannot stand in a quoted-string.
    if (hasControlCharacter(value, true)) throw new RangeError(`${name} holds control characters`);
    params.push(`${name}="${value.replace(/[\\"]/g, "\\$&")}"`);
  }
  for (const name of ["id", "realm", "method", "intent", "request"] as const) {
    if (challenge[name] === "") throw new RangeError(`${name} must not be empty`);
  }
  return `${PAYMENT_SCHEME} ${params.join(", ")}`;
}

/**
 * Every well-formed Payment challenge among WWW-Authenticate values (one string with several challenges joined by
 * commas as fetch joins them, or the separate values), in order. A value that does not parse, and a Payment
 * challenge missing a required parameter or breaking its grammar, are skipped rather than failing the set; unknown
 * parameters are ignored. Never throws on untrusted input.
 */
export function parsePaymentChallenges(values: string | readonly string[]): PaymentChallenge[] {
  const list: readonly string[] = typeof values === "string" ? [values] : values;
  const found: PaymentChallenge[] = [];
  for (const value of list) {
    let challenges: ReturnType<typeof parseAuthChallenges>;
    try {
      challenges = parseAuthChallenges(value);
    } catch {
      continue;
    }
    for (const challenge of challenges) {
      if (challenge.scheme.toLowerCase() !== "payment") continue;
      const parsed = toPaymentChallenge(challenge.params);
      if (parsed) found.push(parsed);
    }
  }
  return found;
}

/** Undefined when the parameters do not make a usable challenge. */
export function toPaymentChallenge(params: ReadonlyMap<string, string>): PaymentChallenge | undefined {
  const id = params.get("id");
  const realm = params.get("realm");
  const method = params.get("method");
  const intent = params.get("intent");
  const request = params.get("request");
  if (!id || realm === undefined || !method || !intent || !request) return undefined;
  if (!METHOD.test(method) || !INTENT.test(intent) || !BASE64URL_TEXT.test(request)) return undefined;
  const optional: Record<string, string> = {};
  for (const name of ["expires", "digest", "description", "opaque"] as const) {
    const value = params.get(name);
    if (value !== undefined) optional[name] = value;
  }
  return { id, realm, method, intent, request, ...optional };
}
