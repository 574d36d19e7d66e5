#!/usr/bin/env node
import { ConfigError, parseCli, USAGE } from "./config.js";
import { createLogger, startServer } from "./http/server.js";
import { ModelNotFoundError } from "./inference/model.js";

async function main(): Promise<void> {
  const parsed = parseCli(process.argv.slice(2));
  if (parsed.kind === "help") {
    console.log(USAGE);
    return;
  }
  const logger = createLogger(parsed.config);
  const server = await startServer(parsed.config, { logger });
  const stop = (signal: string) => {
    logger.info({ signal }, "shutting down");
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof ModelNotFoundError) {
    console.error(`l402-llm-backend: ${error.message}`);
    if (error instanceof ConfigError) console.error(`\n${USAGE}`);
  } else {
    console.error("l402-llm-backend: failed to start:", error);
  }
  process.exit(1);
});
