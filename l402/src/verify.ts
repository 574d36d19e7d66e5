import {
  capabilitiesCondition,
  parseCapabilities,
  parseCaveat,
  parseServices,
  parseValidUntil,
  SERVICES_CONDITION,
  type ServiceGrant,
  validUntilCondition,
} from "./caveats.js";
import { L402Error, toL402Error } from "./errors.js";
import { PREIMAGE_LENGTH, type TokenIdentifier } from "./identifier.js";
import { DecodedMacaroon } from "./macaroon.js";
import { preimageProves } from "./preimage.js";
import { BUILT_IN_SATISFIERS, type CaveatSatisfier, type VerificationContext } from "./satisfiers.js";
import type { MacaroonKey } from "./signature.js";

export interface VerifyTokenOptions {
  readonly macaroon: DecodedMacaroon;
  readonly preimage: Uint8Array;
  /**
   * The root key stored under rootKeyId(identifier), or its MacaroonKey when the caller keeps that (one HMAC less);
   * the caller has already refused revoked tokens.
   */
  readonly rootKey: Uint8Array | MacaroonKey;
  readonly service: string;
  /**
   * How many leading caveats the token's issuer wrote; every later one is the holder's. A holder may only narrow: a
   * granting condition (services, capabilities) that first appears among the holder's caveats grants nothing. Only
   * the issuer knows its layout, so the caller must say (the gateway derives it from its fixed caveat order).
   */
  readonly issuerCaveats: number;
  readonly requiredCapabilities?: readonly string[];
  readonly now?: Date;
  /** Further caveat kinds. They are consulted after the built-in ones, so they cannot relax those. */
  readonly satisfiers?: readonly CaveatSatisfier[];
}

export interface VerifiedToken {
  readonly identifier: TokenIdentifier;
  /** The narrowest services caveat. */
  readonly services: readonly ServiceGrant[];
  /** The narrowest capabilities caveat for the service; undefined when the token carries none for it. */
  readonly capabilities: readonly string[] | undefined;
  /** The narrowest valid_until for the service; undefined when the token carries none for it. */
  readonly validUntil: Date | undefined;
}

/**
 * Verifies a paid token for one request, in this order: (1) sha256(preimage) is the payment hash, compared in
 * constant time (a preimage that is not 32 bytes is `malformed`); (2) the macaroon signature against the root key;
 * (3) the caveats: every caveat claimed by a satisfier (else `unknown_caveat`), well formed, each repeat only
 * narrowing, a granting condition counted only when the issuer wrote its first value; then the service, the
 * capabilities, the expiry and any preimage caveat. Throws only L402Error.
 */
export function verifyToken(options: VerifyTokenOptions): VerifiedToken {
  try {
    const { macaroon, service } = options;
    if (!(macaroon instanceof DecodedMacaroon)) throw new L402Error("malformed", "not a decoded macaroon");
    checkPreimage(options.preimage, macaroon.identifier.paymentHash);
    if (!macaroon.hasValidSignature(options.rootKey)) {
      throw new L402Error("bad_signature", "the macaroon signature does not match its root key");
    }
    const { issuerCaveats } = options;
    if (!Number.isSafeInteger(issuerCaveats) || issuerCaveats < 0 || issuerCaveats > macaroon.caveats.length) {
      throw new L402Error("malformed", "the token has fewer caveats than its issuer wrote");
    }
    const context: VerificationContext = {
      service,
      requiredCapabilities: options.requiredCapabilities ?? [],
      now: options.now ?? new Date(),
      preimage: options.preimage,
    };
    // Each satisfier once, built-in ones first.
    const satisfiers = options.satisfiers?.length
      ? [...new Set([...BUILT_IN_SATISFIERS, ...options.satisfiers])]
      : BUILT_IN_SATISFIERS;
    const effective = checkCaveats(macaroon.caveats, issuerCaveats, context, satisfiers);
    const capabilities = effective.get(capabilitiesCondition(service));
    const validUntil = effective.get(validUntilCondition(service));
    return {
      identifier: macaroon.identifier,
      services: parseServices(effective.get(SERVICES_CONDITION) ?? ""),
      capabilities: capabilities === undefined ? undefined : parseCapabilities(capabilities),
      validUntil: validUntil === undefined ? undefined : new Date(parseValidUntil(validUntil) * 1000),
    };
  } catch (error) {
    throw toL402Error(error, "malformed", "cannot verify token");
  }
}

function checkPreimage(preimage: Uint8Array, paymentHash: Buffer): void {
  if (!(preimage instanceof Uint8Array) || preimage.length !== PREIMAGE_LENGTH) {
    throw new L402Error("malformed", `the preimage must be ${PREIMAGE_LENGTH} bytes`);
  }
  if (!preimageProves(preimage, paymentHash)) {
    throw new L402Error("wrong_preimage", "the preimage does not match the token's payment hash");
  }
}

/**
 * Returns the last value of every condition that counts, once all caveats are judged: a granting condition whose first
 * value is the holder's (at or after `issuerCaveats`) is judged but does not count.
 */
function checkCaveats(
  caveats: readonly string[],
  issuerCaveats: number,
  context: VerificationContext,
  satisfiers: readonly CaveatSatisfier[],
): Map<string, string> {
  // Conditions in order of first appearance, each with its values in token order and where it first appears.
  const byCondition = new Map<string, { values: string[]; first: number }>();
  for (let index = 0; index < caveats.length; index++) {
    const { condition, value } = parseCaveat(caveats[index] as string);
    const entry = byCondition.get(condition);
    if (entry) entry.values.push(value);
    else byCondition.set(condition, { values: [value], first: index });
  }

  const matchedBySatisfier: (Map<string, string> | undefined)[] = new Array(satisfiers.length);
  const effective = new Map<string, string>();
  for (const [condition, { values, first }] of byCondition) {
    let at = 0;
    while (at < satisfiers.length && !satisfiers[at]?.matches(condition)) at++;
    const satisfier = satisfiers[at];
    if (!satisfier) throw new L402Error("unknown_caveat", `caveat condition "${condition}" is not understood`);
    satisfier.checkChain(condition, values);
    if (satisfier.grants && first >= issuerCaveats) continue;
    const last = values[values.length - 1] ?? "";
    const matched = matchedBySatisfier[at] ?? new Map<string, string>();
    matchedBySatisfier[at] = matched.set(condition, last);
    effective.set(condition, last);
  }

  // Every satisfier decides, even one that matched nothing (a token without a services caveat is refused).
  for (let at = 0; at < satisfiers.length; at++) {
    (satisfiers[at] as CaveatSatisfier).satisfy(matchedBySatisfier[at] ?? NOTHING_MATCHED, context);
  }
  return effective;
}

const NOTHING_MATCHED: ReadonlyMap<string, string> = new Map();
