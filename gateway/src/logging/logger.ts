import pino, { type Logger } from "pino";
import type { GatewayConfig } from "../config/schema.js";

/** Bytes of log lines gathered before one write: the request path never waits on the log's file or pipe. */
const BATCH_BYTES = 4_096;
/** How long a line may wait in the batch when traffic is light. */
export const LOG_FLUSH_INTERVAL_MS = 1_000;

export interface LoggerOptions {
  /** Where JSON lines go; stdout by default. */
  readonly fd?: number;
  /**
   * Several processes write to the same output (the cluster's primary and workers): each line is then written whole
   * and at once, as batches larger than a pipe's atomic write could interleave with another process's lines.
   */
  readonly sharedOutput?: boolean;
}

/**
 * The gateway's logger: JSON lines, or pino-pretty when the config asks for it. One process alone on its output logs
 * asynchronously in batches (pino's documented `sync: false` and `minLength`): a synchronous write per request line
 * was the largest cost the gateway paid as operators run it over the benchmark's silent set-up. Batches are written
 * at least every second, and synchronously when the process exits (pino registers that itself).
 */
export function createLogger(config: GatewayConfig["log"], options: LoggerOptions = {}): Logger {
  const base = { level: config.level, name: "l402-gateway" };
  if (config.pretty) return pino({ ...base, transport: { target: "pino-pretty" } });
  const fd = options.fd ?? 1;
  if (options.sharedOutput) return pino(base, pino.destination({ dest: fd, sync: true }));
  const destination = pino.destination({ dest: fd, sync: false, minLength: BATCH_BYTES });
  const flusher = setInterval(() => {
    try {
      destination.flush();
    } catch {
      clearInterval(flusher); // the output was closed: nothing is left to write
    }
  }, LOG_FLUSH_INTERVAL_MS);
  flusher.unref();
  destination.on("close", () => clearInterval(flusher));
  return pino(base, destination);
}
