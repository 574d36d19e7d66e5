import type { AddressInfo } from "node:net";
import { type Logger, pino } from "pino";
import { type Config, type ConfigInput, parseConfig } from "../config.js";
import { loadModel } from "../inference/model.js";
import { LlmService } from "../scheduling/service.js";
import { createApp, type ServiceState } from "./routes.js";

export interface StartOptions {
  /** Resolve only once the model is loaded (default). With false, /health answers 503 until `ready` settles. */
  waitUntilReady?: boolean;
  logger?: Logger;
}

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8081 (OpenAI clients use `${url}/v1`). */
  readonly url: string;
  readonly port: number;
  /** Settles when the model is loaded, or rejects with the load error. */
  readonly ready: Promise<void>;
  /** The loaded service, once ready. */
  service(): LlmService | undefined;
  /** Aborts running generations, stops listening and frees the model. */
  close(): Promise<void>;
}

export function createLogger(config: Pick<Config, "logLevel">): Logger {
  return pino({ name: "llm-backend", level: config.logLevel });
}

export async function startServer(
  configInput: Config | Partial<ConfigInput>,
  options: StartOptions = {},
): Promise<RunningServer> {
  const config = parseConfig(configInput);
  const logger = options.logger ?? createLogger(config);
  let state: ServiceState = { phase: "loading" };
  const app = createApp(() => state, config, logger);

  const httpServer = app.listen(config.port, config.host);
  // Past Node's 5 s default, so a client's reused socket (the gateway's pool) is not closed under a request in flight.
  httpServer.keepAliveTimeout = 65_000;
  httpServer.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    httpServer.once("listening", resolve);
    httpServer.once("error", reject);
  });
  const { port } = httpServer.address() as AddressInfo;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  logger.info({ url }, "listening; loading model");

  const ready = loadModel(config, logger).then(
    (loaded) => {
      state = { phase: "ready", service: new LlmService(loaded, config) };
      logger.info({ url }, "ready");
    },
    (error: unknown) => {
      const failure = error instanceof Error ? error : new Error(String(error));
      state = { phase: "failed", error: failure };
      throw failure;
    },
  );
  // A caller that does not wait still sees the failure through /health and `ready`; avoid an unhandled rejection.
  ready.catch(() => {});

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      // Dropping connections fires each response's close event, which aborts its generation.
      httpServer.closeAllConnections();
      await ready.catch(() => {});
      if (state.phase === "ready") {
        await state.service.shutdown();
        await state.service.loaded.dispose();
      }
      await closed;
    })();
    return closing;
  };

  if (options.waitUntilReady !== false) {
    try {
      await ready;
    } catch (error) {
      await close();
      throw error;
    }
  }

  return {
    url,
    port,
    ready,
    service: () => (state.phase === "ready" ? state.service : undefined),
    close,
  };
}
