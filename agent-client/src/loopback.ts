import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Every address a name resolves to. */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** The system's resolver (the hosts file, then DNS), as connecting would use it. */
export const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map(({ address, family }) => ({
    address,
    family: family === 6 ? 6 : 4,
  }));

/** 127.0.0.0/8, ::1, and IPv4-mapped 127.0.0.0/8 (::ffff:127.x.y.z), however written. */
export function isLoopbackAddress(address: string): boolean {
  switch (isIP(address)) {
    case 4:
      return address.startsWith("127.");
    case 6: {
      // The URL parser writes an IPv6 address in its one canonical form: ::1, ::ffff:7f00:1, ...
      const canonical = new URL(`http://[${address}]`).hostname;
      return canonical === "[::1]" || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
    }
    default:
      return false;
  }
}

/** A URL's hostname as an address (an IPv6 literal without its brackets), or undefined for a name. */
export function literalAddress(hostname: string): string | undefined {
  const bare = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  return isIP(bare) === 0 ? undefined : bare;
}

/**
 * The loopback addresses `hostname` stands for: a literal loopback address itself; a name (`localhost`,
 * `api.localhost`, any other) resolved, when it resolves to at least one address and only to loopback ones.
 * Undefined otherwise, or when it cannot be resolved: a name is never trusted for what it looks like.
 */
export async function loopbackAddresses(
  hostname: string,
  resolve: Resolver = systemResolver,
): Promise<readonly ResolvedAddress[] | undefined> {
  const literal = literalAddress(hostname);
  if (literal !== undefined) {
    return isLoopbackAddress(literal) ? [{ address: literal, family: isIP(literal) === 6 ? 6 : 4 }] : undefined;
  }
  let addresses: readonly ResolvedAddress[];
  try {
    addresses = await resolve(hostname);
  } catch {
    return undefined;
  }
  return addresses.length > 0 && addresses.every((entry) => isLoopbackAddress(entry.address)) ? addresses : undefined;
}
