import { L402Error } from "./errors.js";
import { hasControlCharacter } from "./text.js";

/**
 * First-party caveats as Aperture writes them: `condition=value`, split at the first `=`.
 *   services=<name>:<tier>[,<name>:<tier>…]   the services a token grants, each with a numeric tier (0–255)
 *   <service>_capabilities=<a>[,<b>…]          the capabilities granted for one service (empty value: none)
 *   <service>_valid_until=<unix seconds>        when the token stops working for one service
 *   preimage=<64 hex>                          the paid preimage, appended by Aperture's client (lnget) after paying
 */
export const SERVICES_CONDITION = "services";
export const CAPABILITIES_SUFFIX = "_capabilities";
export const VALID_UNTIL_SUFFIX = "_valid_until";
export const PREIMAGE_CONDITION = "preimage";

export interface Caveat {
  readonly condition: string;
  readonly value: string;
}

export interface ServiceGrant {
  readonly name: string;
  readonly tier: number;
}

const MAX_TIER = 255;
/** No whitespace, list separator, `=`, C0 control character or DEL. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const NAME = /^[^\s,:=\x00-\x1f\x7f]+$/;
const DECIMAL = /^[0-9]+$/;
const PREIMAGE_HEX = /^[0-9a-fA-F]{64}$/;

/** Service and capability names: no list separators, no `=`, no whitespace or control characters. */
export function isValidName(name: string): boolean {
  return NAME.test(name);
}

/** Splits a caveat at its first `=`; a caveat without one, or with an empty condition, is `unknown_caveat`. */
export function parseCaveat(caveat: string): Caveat {
  const separator = caveat.indexOf("=");
  if (separator <= 0) throw new L402Error("unknown_caveat", `caveat "${caveat}" is not of the form condition=value`);
  return { condition: caveat.slice(0, separator), value: caveat.slice(separator + 1) };
}

/** Throws RangeError for text that cannot be a caveat this package would accept the form of. */
export function assertCaveatText(caveat: string): void {
  if (caveat.indexOf("=") <= 0 || hasControlCharacter(caveat)) {
    throw new RangeError(`caveat "${caveat}" is not of the form condition=value`);
  }
}

export function servicesCaveat(services: readonly ServiceGrant[]): string {
  if (services.length === 0) throw new RangeError("a services caveat needs at least one service");
  const names = new Set<string>();
  for (const { name, tier } of services) {
    assertName(name, "service");
    if (!Number.isInteger(tier) || tier < 0 || tier > MAX_TIER) {
      throw new RangeError(`tier of ${name} must be an integer 0–${MAX_TIER}`);
    }
    if (names.has(name)) throw new RangeError(`service ${name} is listed twice`);
    names.add(name);
  }
  return `${SERVICES_CONDITION}=${services.map(({ name, tier }) => `${name}:${tier}`).join(",")}`;
}

export function capabilitiesCaveat(service: string, capabilities: readonly string[]): string {
  assertName(service, "service");
  for (const capability of capabilities) assertName(capability, "capability");
  return `${capabilitiesCondition(service)}=${capabilities.join(",")}`;
}

/** `validUntil` is a Date or unix seconds. */
export function validUntilCaveat(service: string, validUntil: Date | number): string {
  assertName(service, "service");
  const seconds = typeof validUntil === "number" ? validUntil : Math.floor(validUntil.getTime() / 1000);
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError("valid_until must be non-negative seconds");
  return `${validUntilCondition(service)}=${seconds}`;
}

/** `preimage=<hex>`, the caveat Aperture's client appends to a paid macaroon (`Token.PaidMacaroon()`). */
export function preimageCaveat(preimage: Uint8Array): string {
  if (preimage.length !== 32) throw new RangeError("a preimage is 32 bytes");
  return `${PREIMAGE_CONDITION}=${Buffer.from(preimage).toString("hex")}`;
}

export function capabilitiesCondition(service: string): string {
  return `${service}${CAPABILITIES_SUFFIX}`;
}

export function validUntilCondition(service: string): string {
  return `${service}${VALID_UNTIL_SUFFIX}`;
}

/** Parses a services caveat value strictly; a service named twice is malformed (its tier would be ambiguous). */
export function parseServices(value: string): ServiceGrant[] {
  const services: ServiceGrant[] = [];
  for (let start = 0; ; ) {
    const comma = value.indexOf(",", start);
    services.push(parseGrant(comma < 0 ? value.slice(start) : value.slice(start, comma)));
    if (comma < 0) break;
    start = comma + 1;
  }
  if (services.length > 1 && new Set(services.map((service) => service.name)).size !== services.length) {
    throw new L402Error("malformed", "a services caveat lists a service twice");
  }
  return services;
}

function parseGrant(entry: string): ServiceGrant {
  const colon = entry.indexOf(":");
  const name = colon < 0 ? entry : entry.slice(0, colon);
  const tier = colon < 0 ? undefined : entry.slice(colon + 1);
  if (tier === undefined || tier.includes(":") || !isValidName(name)) {
    throw new L402Error("malformed", `services entry "${entry}" is not of the form name:tier`);
  }
  if (!DECIMAL.test(tier) || Number(tier) > MAX_TIER) {
    throw new L402Error("malformed", `tier "${tier}" of service ${name} is not an integer 0–${MAX_TIER}`);
  }
  return { name, tier: Number(tier) };
}

/** Parses a capabilities caveat value; the empty value grants no capability. */
export function parseCapabilities(value: string): string[] {
  if (value === "") return [];
  const capabilities = value.split(",");
  for (const capability of capabilities) {
    if (!isValidName(capability)) throw new L402Error("malformed", `capability "${capability}" is not a valid name`);
  }
  return capabilities;
}

/** Parses a valid_until caveat value: decimal unix seconds. */
export function parseValidUntil(value: string): number {
  const seconds = Number(value);
  if (!DECIMAL.test(value) || !Number.isSafeInteger(seconds)) {
    throw new L402Error("malformed", `valid_until "${value}" is not unix seconds`);
  }
  return seconds;
}

/** Parses a preimage caveat value: 64 hex characters, either case. */
export function parsePreimage(value: string): Buffer {
  if (!PREIMAGE_HEX.test(value)) throw new L402Error("malformed", "a preimage caveat must be 64 hex characters");
  return Buffer.from(value, "hex");
}

function assertName(name: string, what: string): void {
  if (!isValidName(name)) throw new RangeError(`${what} name "${name}" may not be empty or contain , : = or spaces`);
}
