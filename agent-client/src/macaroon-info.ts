import {
  type DecodedMacaroon,
  decodeMacaroon,
  L402Error,
  parseCaveat,
  parseServices,
  parseValidUntil,
  SERVICES_CONDITION,
  VALID_UNTIL_SUFFIX,
} from "@l402-gateway/l402";

/** What a client needs to know about a macaroon to file and choose tokens; nothing here is verified. */
export interface MacaroonInfo {
  /** Payment hash (hex) from the token identifier: the invoice paid for this token must have this hash. */
  readonly paymentHash: string;
  /** Names from the last `services=` caveat, sorted and comma-joined; "" when the macaroon names no service. */
  readonly service: string;
  /** Earliest `<service>_valid_until` among the token's services, in unix seconds; undefined when none. */
  readonly validUntil?: number;
}

/** Throws L402Error for a macaroon that cannot be decoded. */
export function readMacaroonInfo(macaroonBase64: string): MacaroonInfo {
  const macaroon = decodeMacaroon(macaroonBase64);
  const services = lastServices(macaroon);
  const validUntil = earliestValidUntil(macaroon, services);
  return {
    paymentHash: macaroon.identifier.paymentHash.toString("hex"),
    service: [...services].sort().join(","),
    ...(validUntil === undefined ? {} : { validUntil }),
  };
}

function lastServices(macaroon: DecodedMacaroon): string[] {
  let names: string[] = [];
  for (const caveat of macaroon.caveats) {
    const { condition, value } = safeCaveat(caveat);
    if (condition === SERVICES_CONDITION) names = parseServices(value).map((grant) => grant.name);
  }
  return names;
}

function earliestValidUntil(macaroon: DecodedMacaroon, services: readonly string[]): number | undefined {
  let earliest: number | undefined;
  for (const caveat of macaroon.caveats) {
    const { condition, value } = safeCaveat(caveat);
    if (!condition.endsWith(VALID_UNTIL_SUFFIX)) continue;
    const service = condition.slice(0, -VALID_UNTIL_SUFFIX.length);
    if (services.length > 0 && !services.includes(service)) continue;
    const seconds = parseValidUntil(value);
    earliest = earliest === undefined ? seconds : Math.min(earliest, seconds);
  }
  return earliest;
}

/** Caveats the client does not understand are the server's business: they are skipped, not refused. */
function safeCaveat(caveat: string): { condition: string; value: string } {
  try {
    return parseCaveat(caveat);
  } catch (error) {
    if (error instanceof L402Error) return { condition: "", value: "" };
    throw error;
  }
}
