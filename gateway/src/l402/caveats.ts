import { capabilitiesCaveat, servicesCaveat, validUntilCaveat } from "@l402-gateway/l402";
import type { ServiceConfig } from "../config/schema.js";

/** The first-party caveats of a fresh token: its service and tier, its capabilities, and its lifetime. */
export function tokenCaveats(service: ServiceConfig, validUntil: Date): string[] {
  return [
    servicesCaveat([{ name: service.name, tier: service.tier }]),
    ...(service.capabilities.length > 0 ? [capabilitiesCaveat(service.name, service.capabilities)] : []),
    validUntilCaveat(service.name, Math.floor(validUntil.getTime() / 1000)),
  ];
}
