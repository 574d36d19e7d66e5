import { timingSafeEqual } from "node:crypto";
import {
  CAPABILITIES_SUFFIX,
  capabilitiesCondition,
  isValidName,
  PREIMAGE_CONDITION,
  parseCapabilities,
  parsePreimage,
  parseServices,
  parseValidUntil,
  SERVICES_CONDITION,
  type ServiceGrant,
  VALID_UNTIL_SUFFIX,
  validUntilCondition,
} from "./caveats.js";
import { L402Error } from "./errors.js";

/** What a request asks of a token. */
export interface VerificationContext {
  readonly service: string;
  readonly requiredCapabilities: readonly string[];
  readonly now: Date;
  /** The preimage presented with the token; verifyToken has checked it against the payment hash. */
  readonly preimage: Uint8Array;
}

/**
 * One kind of caveat, in the spirit of Aperture's Satisfier but stricter: every caveat must be claimed by a
 * satisfier (otherwise `unknown_caveat`), and a satisfier sees all values of a condition, so repeated caveats are
 * checked for narrowing on every request rather than only when a satisfier happens to be configured.
 */
export interface CaveatSatisfier {
  /** Whether caveats with this condition belong to this satisfier. */
  matches(condition: string): boolean;
  /**
   * True for a kind that grants something (services, capabilities) rather than only restricting. A holder may only
   * narrow, so a granting condition counts only when the token's issuer wrote its first value: one that first appears
   * among the holder's caveats is still checked for form and narrowing, then left out of `effective` (it grants
   * nothing). False or absent: the condition restricts, whoever wrote it.
   */
  readonly grants?: boolean;
  /** Parses every value of one condition, in token order; throws `malformed`, or `widened_caveat` when a value allows
   * anything the one before it did not. */
  checkChain(condition: string, values: readonly string[]): void;
  /** Decides the request from the last (narrowest) value of each condition this satisfier matched; a condition the
   * token does not carry is absent from `effective`. Throws the refusal. */
  satisfy(effective: ReadonlyMap<string, string>, context: VerificationContext): void;
}

function checkNarrowing<T>(
  condition: string,
  values: readonly string[],
  parse: (value: string) => T,
  narrows: (previous: T, current: T) => boolean,
): void {
  if (values.length === 1) {
    parse(values[0] as string);
    return;
  }
  const parsed = values.map(parse);
  for (let i = 1; i < parsed.length; i++) {
    const previous = parsed[i - 1] as T;
    const current = parsed[i] as T;
    if (!narrows(previous, current)) {
      throw new L402Error("widened_caveat", `caveat ${condition}=${values[i]} allows more than the one before it`);
    }
  }
}

function isSubset(smaller: readonly string[], larger: readonly string[]): boolean {
  const allowed = new Set(larger);
  return smaller.every((item) => allowed.has(item));
}

/** Matches `<service>_<suffix>` for any valid service name. */
function perServiceCondition(suffix: string): (condition: string) => boolean {
  return (condition) => condition.endsWith(suffix) && isValidName(condition.slice(0, -suffix.length));
}

/** `services=`: the requested service must be listed; a later caveat may only drop services (same tier). */
export const servicesSatisfier: CaveatSatisfier = {
  matches: (condition) => condition === SERVICES_CONDITION,
  grants: true,
  checkChain(condition, values) {
    const sameGrant = (a: ServiceGrant, b: ServiceGrant) => a.name === b.name && a.tier === b.tier;
    checkNarrowing(condition, values, parseServices, (previous, current) =>
      current.every((grant) => previous.some((earlier) => sameGrant(earlier, grant))),
    );
  },
  satisfy(effective, { service }) {
    const value = effective.get(SERVICES_CONDITION);
    if (value === undefined) throw new L402Error("wrong_service", "the token names no service");
    if (!parseServices(value).some((grant) => grant.name === service)) {
      throw new L402Error("wrong_service", `the token does not grant service ${service}`);
    }
  },
};

/**
 * `<service>_capabilities=`: each later caveat must be a subset of the one before. Every required capability must
 * be granted; a token without a capabilities caveat for the service has none, so it passes only when none is needed.
 */
export const capabilitiesSatisfier: CaveatSatisfier = {
  matches: perServiceCondition(CAPABILITIES_SUFFIX),
  grants: true,
  checkChain(condition, values) {
    checkNarrowing(condition, values, parseCapabilities, (previous, current) => isSubset(current, previous));
  },
  satisfy(effective, { service, requiredCapabilities }) {
    if (requiredCapabilities.length === 0) return;
    const value = effective.get(capabilitiesCondition(service));
    const granted = value === undefined ? [] : parseCapabilities(value);
    const missing = requiredCapabilities.filter((capability) => !granted.includes(capability));
    if (missing.length > 0) {
      throw new L402Error("missing_capability", `the token lacks capability ${missing.join(", ")} for ${service}`);
    }
  },
};

/** `<service>_valid_until=`: each later caveat must be no later than the one before; expired once now ≥ it. */
export const validUntilSatisfier: CaveatSatisfier = {
  matches: perServiceCondition(VALID_UNTIL_SUFFIX),
  checkChain(condition, values) {
    checkNarrowing(condition, values, parseValidUntil, (previous, current) => current <= previous);
  },
  satisfy(effective, { service, now }) {
    const value = effective.get(validUntilCondition(service));
    if (value !== undefined && now.getTime() >= parseValidUntil(value) * 1000) {
      throw new L402Error("expired", `the token expired for ${service}`);
    }
  },
};

/** Whether two preimages are the same bytes, compared in constant time. */
function samePreimage(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * `preimage=<64 hex>`: Aperture's client (and so lnget) appends the paid preimage to the macaroon it presents. It must
 * be the preimage presented with the token (constant time), and every repeat the same, else `wrong_preimage`. It
 * restricts the token to that preimage, which the payment hash already does, so it grants nothing.
 */
export const preimageSatisfier: CaveatSatisfier = {
  matches: (condition) => condition === PREIMAGE_CONDITION,
  checkChain(_condition, values) {
    const [first, ...rest] = values.map(parsePreimage);
    if (first && !rest.every((value) => samePreimage(value, first))) {
      throw new L402Error("wrong_preimage", "the token's preimage caveats disagree");
    }
  },
  satisfy(effective, { preimage }) {
    const value = effective.get(PREIMAGE_CONDITION);
    if (value !== undefined && !samePreimage(parsePreimage(value), preimage)) {
      throw new L402Error("wrong_preimage", "the token's preimage caveat is not the preimage presented");
    }
  },
};

export const BUILT_IN_SATISFIERS: readonly CaveatSatisfier[] = [
  servicesSatisfier,
  capabilitiesSatisfier,
  validUntilSatisfier,
  preimageSatisfier,
];
