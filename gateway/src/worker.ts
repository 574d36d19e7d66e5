// The script the primary (cluster/primary.ts) forks for each worker of `--workers N`.
import { AggregatorRegistry } from "prom-client";
import { readMessage, type WorkerMessage } from "./cluster/messages.js";
import { configSchema } from "./config/schema.js";
import { createLogger } from "./logging/logger.js";
import { startGateway } from "./server.js";

function send(message: WorkerMessage): void {
  process.send?.(message);
}

/** The first `l402:start` the primary sends. */
function startMessage(): Promise<Extract<WorkerMessage, { type: "l402:start" }>> {
  return new Promise((resolvePromise) => {
    const onMessage = (raw: unknown) => {
      const message = readMessage(raw);
      if (message?.type !== "l402:start") return;
      process.off("message", onMessage);
      resolvePromise(message);
    };
    process.on("message", onMessage);
    send({ type: "l402:hello" });
  });
}

/**
 * One worker of `--workers N`: a whole gateway on the shared public port, its metrics answered to the primary. Only
 * the leader watches settlements and serves the admin API; a price the admin API changes there reaches the other
 * workers through the primary.
 */
async function runWorker(): Promise<void> {
  const start = await startMessage();
  const config = configSchema.parse(start.config);
  const log = createLogger(config.log, { sharedOutput: true }).child({
    worker: start.storeOwner.slice(0, 8),
    leader: start.leader,
  });
  const gateway = await startGateway(config, {
    log,
    ...(start.configPath ? { configPath: start.configPath } : {}),
    worker: { leader: start.leader, storeOwner: start.storeOwner },
  });
  // Constructing one makes prom-client answer the primary's metric requests, from the gateway's registry.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([gateway.metrics.registry]);
  if (start.leader) {
    gateway.book.onChange((service, pricing, source) => {
      if (source === "admin") send({ type: "l402:prices", service, pricing });
    });
  }
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    void gateway.close().then(() => process.exit(0));
  };
  process.on("message", (raw: unknown) => {
    const message = readMessage(raw);
    if (message?.type === "l402:shutdown") shutdown();
    if (message?.type === "l402:prices") {
      const service = config.services.find((s) => s.name === message.service);
      if (service) gateway.book.update(service, message.pricing, "admin");
    }
  });
  // Ctrl-C reaches the whole process group; the primary's shutdown message may come too.
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
  send({
    type: "l402:listening",
    url: gateway.url,
    operatorUrl: gateway.operatorUrl,
    ...(gateway.adminUrl ? { adminUrl: gateway.adminUrl } : {}),
  });
}

runWorker().catch((error: unknown) => {
  console.error(`l402-gateway worker: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
