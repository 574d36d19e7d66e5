import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import pino, { type Logger } from "pino";
import { createApp } from "./app.js";
import type { GatewayConfig } from "./config/schema.js";
import type { InvoiceBackend } from "./lightning/invoices.js";
import { connectLnd, LndInvoiceBackend } from "./lightning/lnd.js";
import { SettlementWatcher } from "./lightning/settlement-watcher.js";
import { type Pricer, StaticPricer } from "./pricing/pricer.js";
import { UpstreamProxy } from "./proxy/proxy.js";
import { SqliteTokenStore } from "./store/sqlite.js";
import type { TokenStore } from "./store/store.js";

export interface RunningGateway {
  readonly url: string;
  readonly server: Server;
  readonly store: TokenStore;
  readonly watcher: SettlementWatcher;
  close(): Promise<void>;
}

export interface GatewayOverrides {
  readonly backend?: InvoiceBackend;
  readonly pricer?: Pricer;
  readonly log?: Logger;
}

function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, message] =
    error.code === "HPE_HEADER_OVERFLOW"
      ? [431, "headers_too_large", "request headers are too large"]
      : [400, "bad_request", "malformed HTTP request"];
  const body = JSON.stringify({ code, message });
  socket.end(
    `HTTP/1.1 ${status} ${status === 431 ? "Request Header Fields Too Large" : "Bad Request"}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`,
  );
}

/** Opens the store, connects to LND, starts watching settlements, and listens. */
export async function startGateway(config: GatewayConfig, overrides: GatewayOverrides = {}): Promise<RunningGateway> {
  const log = overrides.log ?? pino({ level: config.log.level, name: "l402-gateway" });
  const store = new SqliteTokenStore(config.store.path);
  const backend = overrides.backend ?? new LndInvoiceBackend(connectLnd(config.lnd), config.lnd.timeoutMs);
  const proxy = new UpstreamProxy(config.proxy, config.limits.maxBodyBytes);
  const watcher = new SettlementWatcher(backend, store, log);
  const app = createApp({ config, store, backend, pricer: overrides.pricer ?? new StaticPricer(), proxy, log });

  const server = createServer({ maxHeaderSize: config.limits.maxHeaderBytes }, app);
  server.on("clientError", answerClientError);
  await new Promise<void>((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(config.listen.port, config.listen.host, () => resolvePromise());
  });
  await watcher.start();
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  log.info({ address: `${host}:${address.port}`, services: config.services.map((s) => s.name) }, "gateway listening");

  return {
    url: `http://${host}:${address.port}`,
    server,
    store,
    watcher,
    close: async () => {
      watcher.stop();
      server.closeAllConnections();
      await new Promise<void>((resolvePromise) => server.close(() => resolvePromise()));
      await proxy.close();
      await store.close();
    },
  };
}
