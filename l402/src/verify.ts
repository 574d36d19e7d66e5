import { createHash, timingSafeEqual } from "node:crypto";
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
import { asL402Error, L402Error } from "./errors.js";
import { PREIMAGE_LENGTH, type TokenIdentifier } from "./identifier.js";
import { DecodedMacaroon } from "./macaroon.js";
import { BUILT_IN_SATISFIERS, type CaveatSatisfier, type VerificationContext } from "./satisfiers.js";

export interface VerifyTokenOptions {
  readonly macaroon: DecodedMacaroon;
  readonly preimage: Uint8Array;
  /** The root key stored under rootKeyId(identifier); the caller has already refused revoked tokens. */
  readonly rootKey: Uint8Array;
  readonly service: string;
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
 * narrowing; then the service, the capabilities and the expiry. Throws only L402Error.
 */
export function verifyToken(options: VerifyTokenOptions): VerifiedToken {
  return asL402Error("malformed", "cannot verify token", () => {
    const { macaroon, service } = options;
    if (!(macaroon instanceof DecodedMacaroon)) throw new L402Error("malformed", "not a decoded macaroon");
    checkPreimage(options.preimage, macaroon.identifier.paymentHash);
    if (!macaroon.hasValidSignature(options.rootKey)) {
      throw new L402Error("bad_signature", "the macaroon signature does not match its root key");
    }
    const context: VerificationContext = {
      service,
      requiredCapabilities: options.requiredCapabilities ?? [],
      now: options.now ?? new Date(),
    };
    const effective = checkCaveats(macaroon.caveats, context, [...BUILT_IN_SATISFIERS, ...(options.satisfiers ?? [])]);
    const capabilities = effective.get(capabilitiesCondition(service));
    const validUntil = effective.get(validUntilCondition(service));
    return {
      identifier: macaroon.identifier,
      services: parseServices(effective.get(SERVICES_CONDITION) ?? ""),
      capabilities: capabilities === undefined ? undefined : parseCapabilities(capabilities),
      validUntil: validUntil === undefined ? undefined : new Date(parseValidUntil(validUntil) * 1000),
    };
  });
}

function checkPreimage(preimage: Uint8Array, paymentHash: Buffer): void {
  if (!(preimage instanceof Uint8Array) || preimage.length !== PREIMAGE_LENGTH) {
    throw new L402Error("malformed", `the preimage must be ${PREIMAGE_LENGTH} bytes`);
  }
  const hash = createHash("sha256").update(preimage).digest();
  if (!timingSafeEqual(hash, paymentHash)) {
    throw new L402Error("wrong_preimage", "the preimage does not match the token's payment hash");
  }
}

/** Returns the last value of every condition, once all caveats are judged. */
function checkCaveats(
  caveats: readonly string[],
  context: VerificationContext,
  satisfiers: readonly CaveatSatisfier[],
): Map<string, string> {
  const valuesByCondition = new Map<string, string[]>();
  for (const caveat of caveats) {
    const { condition, value } = parseCaveat(caveat);
    const values = valuesByCondition.get(condition);
    if (values) values.push(value);
    else valuesByCondition.set(condition, [value]);
  }

  const effectiveBySatisfier = new Map<CaveatSatisfier, Map<string, string>>(
    satisfiers.map((satisfier) => [satisfier, new Map()]),
  );
  const effective = new Map<string, string>();
  for (const [condition, values] of valuesByCondition) {
    const satisfier = satisfiers.find((candidate) => candidate.matches(condition));
    if (!satisfier) throw new L402Error("unknown_caveat", `caveat condition "${condition}" is not understood`);
    satisfier.checkChain(condition, values);
    const last = values[values.length - 1] ?? "";
    effectiveBySatisfier.get(satisfier)?.set(condition, last);
    effective.set(condition, last);
  }

  for (const [satisfier, matched] of effectiveBySatisfier) satisfier.satisfy(matched, context);
  return effective;
}
