import { unwatchFile, watchFile } from "node:fs";
import type { Logger } from "pino";
import { loadConfigFile } from "../config/load.js";
import type { GatewayConfig } from "../config/schema.js";
import type { PriceBook } from "./price-book.js";

/**
 * Watches the config file and applies pricing changes without a restart. Anything else that changed is reported
 * and waits for a restart; a file that no longer validates is reported and changes nothing.
 */
export function watchPricing(
  path: string,
  running: GatewayConfig,
  book: PriceBook,
  log: Logger,
  intervalMs = 1_000,
): () => void {
  const onChange = () => {
    let next: GatewayConfig;
    try {
      next = loadConfigFile(path);
    } catch (error) {
      log.error({ err: (error as Error).message }, "config reload failed; prices unchanged");
      return;
    }
    for (const service of running.services) {
      const updated = next.services.find((s) => s.name === service.name);
      if (service.pricing && updated?.pricing) book.update(service, updated.pricing, "reload");
    }
    const withoutPricing = (config: GatewayConfig) =>
      JSON.stringify({ ...config, services: config.services.map(({ pricing: _pricing, ...rest }) => rest) });
    if (withoutPricing(next) !== withoutPricing(running)) {
      log.warn("config changed beyond pricing; those changes apply at the next restart");
    }
  };
  watchFile(path, { interval: intervalMs }, (current, previous) => {
    if (current.mtimeMs !== previous.mtimeMs) onChange();
  });
  return () => unwatchFile(path);
}
