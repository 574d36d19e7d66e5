import pino, { type Logger } from "pino";
import type { GatewayConfig } from "../config/schema.js";

/** The gateway's logger: JSON lines, or pino-pretty when the config asks for it. */
export function createLogger(config: GatewayConfig["log"]): Logger {
  return config.pretty
    ? pino({ level: config.level, name: "l402-gateway", transport: { target: "pino-pretty" } })
    : pino({ level: config.level, name: "l402-gateway" });
}
