import { parseConfig } from "../config/load.js";
import type { GatewayConfig } from "../config/schema.js";

/**
 * A gateway config for tests that run without a Lightning node or a disk: ports the OS picks, an LND nobody reaches
 * (the test hands the gateway its own invoice backend), an in-memory store and no logs. `overrides` replaces any of
 * these at the top level and adds the rest (services, limits, …), then the config is validated as a file would be.
 */
export function offlineGatewayConfig(overrides: Record<string, unknown>): GatewayConfig {
  return parseConfig({
    listen: { port: 0 },
    operator: { port: 0 },
    lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" },
    store: { path: ":memory:" },
    log: { level: "silent" },
    ...overrides,
  });
}
