import {
  capabilitiesCaveat,
  capabilitiesCondition,
  PREIMAGE_CONDITION,
  SERVICES_CONDITION,
  servicesCaveat,
  validUntilCaveat,
  validUntilCondition,
} from "@l402-gateway/l402";
import type { ServiceConfig } from "../config/schema.js";

/**
 * The first-party caveats of a fresh token, always in this order: its service and tier, its capabilities (only when
 * the service has any), and its lifetime. `issuerCaveatCount` relies on that order; every token this gateway ever
 * minted has it.
 */
export function tokenCaveats(service: ServiceConfig, validUntil: Date): string[] {
  return [
    servicesCaveat([{ name: service.name, tier: service.tier }]),
    ...(service.capabilities.length > 0 ? [capabilitiesCaveat(service.name, service.capabilities)] : []),
    validUntilCaveat(service.name, Math.floor(validUntil.getTime() / 1000)),
  ];
}

/** The text before a caveat's first `=`; the whole caveat when it has none (verification refuses those). */
const conditionOf = (caveat: string | undefined): string | undefined => caveat?.split("=", 1)[0];

/**
 * How many leading caveats of a token bought for `service` this gateway wrote: `services`, then `<service>_capabilities`
 * when present, then `<service>_valid_until`. Whatever follows is the holder's. A token whose caveats do not start that
 * way was not minted here: 0, so nothing in it grants anything (fail closed).
 */
export function issuerCaveatCount(caveats: readonly string[], service: string): number {
  if (conditionOf(caveats[0]) !== SERVICES_CONDITION) return 0;
  const withCapabilities = conditionOf(caveats[1]) === capabilitiesCondition(service);
  const validUntilAt = withCapabilities ? 2 : 1;
  return conditionOf(caveats[validUntilAt]) === validUntilCondition(service) ? validUntilAt + 1 : 0;
}

/**
 * The caveats a credential re-issued for a presented one (a top-up) carries: all of the presented macaroon's, in
 * order, so it is never wider, except `preimage=` caveats, which bind the old preimage and restrict nothing else.
 */
export function carriedCaveats(presented: readonly string[]): string[] {
  return presented.filter((caveat) => conditionOf(caveat) !== PREIMAGE_CONDITION);
}
