import { isIPv4 } from "node:net";

/**
 * Whether a listen address can only be reached from this machine: `localhost`, 127.0.0.0/8 or ::1. Any other name
 * is treated as reachable from the network, since what it resolves to is not known when the config is read.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (bare === "localhost" || bare === "::1" || bare === "0:0:0:0:0:0:0:1") return true;
  return isIPv4(bare) && bare.startsWith("127.");
}
