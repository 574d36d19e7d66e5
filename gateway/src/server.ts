import { createServer, type Server } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { Socket } from "node:net";
import express from "express";
import type { Logger } from "pino";
import { adminRouter } from "./admin/routes.js";
import { createApp } from "./app.js";
import { readAdminSecret } from "./config/load.js";
import { isLoopbackHost } from "./config/loopback.js";
import type { GatewayConfig } from "./config/schema.js";
import { consoleRouter } from "./console/router.js";
import { healthHandlers } from "./health/routes.js";
import { ClientAddresses } from "./http/client-address.js";
import { closeServer, listen } from "./http/listen.js";
import { GatewayResponse } from "./http/response.js";
import { readKeyPair, requiringTls, watchKeyPair } from "./http/tls.js";
import { InvoicePool } from "./lightning/invoice-pool.js";
import type { InvoiceBackend } from "./lightning/invoices.js";
import { connectLnd, LndInvoiceBackend } from "./lightning/lnd.js";
import { SettlementWatcher } from "./lightning/settlement-watcher.js";
import { createLogger } from "./logging/logger.js";
import { InstrumentedInvoiceBackend } from "./metrics/instrumented-invoices.js";
import { GatewayMetrics } from "./metrics/metrics.js";
import { TrafficRecorder } from "./metrics/traffic-recorder.js";
import { PaymentOffers } from "./payment/offers.js";
import { watchPricing } from "./pricing/config-reload.js";
import { InstrumentedPricer } from "./pricing/instrumented-pricer.js";
import { PriceBook } from "./pricing/price-book.js";
import { ConfiguredPricer, type Pricer } from "./pricing/pricer.js";
import { UpstreamProxy } from "./proxy/proxy.js";
import { LndRefundPayer, type RefundPayer } from "./refunds/payer.js";
import { Refunds } from "./refunds/refunds.js";
import { openStore } from "./store/open.js";
import type { TokenStore } from "./store/store.js";
import { depositInvoices, fixedPriceInvoices } from "./tokens/challenger.js";
import { ModelCatalogs } from "./upstream/models.js";
import { UpstreamPools } from "./upstream/pool.js";
import { TokenCounters } from "./upstream/token-counter.js";

export interface RunningGateway {
  readonly url: string;
  /** Operator listener: /metrics, /healthz, /readyz. */
  readonly operatorUrl: string;
  /** Admin API, when configured. */
  readonly adminUrl: string | undefined;
  readonly book: PriceBook;
  readonly server: Server;
  readonly store: TokenStore;
  readonly watcher: SettlementWatcher;
  readonly metrics: GatewayMetrics;
  readonly refunds: Refunds;
  /** Settles when the refunds left pending at start have been reconciled with LND. */
  readonly reconciled: Promise<unknown>;
  close(): Promise<void>;
}

export interface GatewayOverrides {
  readonly backend?: InvoiceBackend;
  /**
   * Prices requests instead of the config's prices: a Pricer for every service, or one built around the configured
   * pricer (to change some services' prices and pass the rest on to it).
   */
  readonly pricer?: Pricer | ((configured: Pricer) => Pricer);
  readonly log?: Logger;
  /** The config file, watched for pricing changes (hot reload). */
  readonly configPath?: string;
  /** Pays refunds instead of LND on `lnd.refundMacaroon` (tests: a payer that fails). */
  readonly refundPayer?: RefundPayer;
  /** Set in a worker of `--workers N` (see cluster/): what this worker runs of the per-host singletons. */
  readonly worker?: WorkerRole;
}

export interface WorkerRole {
  /** The one worker that watches settlements and serves the admin API. */
  readonly leader: boolean;
  /** Names this worker's reservations in the store, so the primary can release them if it dies. */
  readonly storeOwner: string;
}

function customPricer(custom: GatewayOverrides["pricer"], configured: Pricer): Pricer {
  if (custom === undefined) return configured;
  return typeof custom === "function" ? custom(configured) : custom;
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

/**
 * The invoice pool challenges draw from, when `lnd.invoicePool.size` is set: it pools only the operator's amounts,
 * the fixed prices and the configured deposits (L402 and Payment offers alike).
 */
function startInvoicePool(config: GatewayConfig, backend: InvoiceBackend, metrics: GatewayMetrics) {
  const options = config.lnd.invoicePool;
  if (options.size === 0) return undefined;
  const pool = new InvoicePool(backend, options, metrics.invoicePoolEvents());
  metrics.observeInvoicePool(
    () => pool.size,
    () => pool.creating,
  );
  const deposits = options.depositsMsat;
  pool.warm([
    ...fixedPriceInvoices(config.services),
    ...depositInvoices(config.services, deposits),
    ...PaymentOffers.pooledInvoices(config.services, deposits),
  ]);
  return pool;
}

/** Opens the store, connects to LND, starts watching settlements, and listens on the public and operator ports. */
export async function startGateway(config: GatewayConfig, overrides: GatewayOverrides = {}): Promise<RunningGateway> {
  const log = overrides.log ?? createLogger(config.log);
  // Before anything is opened: a weak or placeholder admin secret, or a missing or mismatched TLS pair, stops the start.
  const adminSecret = config.admin ? readAdminSecret(config.admin) : undefined;
  const { tls } = config.listen;
  const keyPair = tls && readKeyPair(tls);
  const metrics = new GatewayMetrics(config.services.map((s) => s.name));
  const worker = overrides.worker;
  const store = await openStore(config.store, worker?.storeOwner);
  // Reservations a stopped process left (it crashed mid-request) are released in full: the request's outcome is
  // unknown, and the agent's balance is not taken for it. With PostgreSQL this is also each replica's heartbeat.
  const releaseStale = async () => {
    try {
      const released = await store.releaseStaleReservations(new Date());
      if (released > 0) log.warn({ released }, "released reservations left by a stopped gateway");
    } catch (error) {
      log.warn({ err: (error as Error).message }, "could not heartbeat or release stale reservations");
    }
  };
  // With one SQLite file per host the release runs once, in the primary before it forks: a worker starting later
  // would take its live siblings' reservations for a stopped process's. PostgreSQL's leases tell them apart.
  if (!worker || store.heartbeatIntervalMs !== undefined) await releaseStale();
  const heartbeat =
    store.heartbeatIntervalMs === undefined ? undefined : setInterval(releaseStale, store.heartbeatIntervalMs);
  heartbeat?.unref();
  const backend = new InstrumentedInvoiceBackend(
    overrides.backend ?? new LndInvoiceBackend(connectLnd(config.lnd), config.lnd.timeoutMs),
    metrics,
  );
  const proxy = new UpstreamProxy(config.proxy, config.limits.maxBodyBytes);
  const pools = new UpstreamPools(config.services, log);
  const watcher = new SettlementWatcher(backend, store, log, (token) => metrics.recordPaid(token));
  metrics.observe({
    settlementStreamUp: () => watcher.connected,
    countActiveTokens: () => store.countActiveTokens(new Date()),
    outstandingBalanceMsat: () => store.outstandingBalanceMsat(),
  });
  const traffic = new TrafficRecorder(metrics, store, log);
  traffic.start();
  const health = healthHandlers(config, backend, store);
  const book = new PriceBook(config.services, log, metrics, (service) => pools.of(service).liveUrls());
  const kindOf = (name: string) => config.services.find((s) => s.name === name)?.upstreamKind ?? "l402-llm-backend";
  const counters = new TokenCounters(
    (service) => pools.of(service),
    (service) => book.pricing(service)?.tokenCounting,
    kindOf,
  );
  const models = new ModelCatalogs({ upstream: (service) => pools.of(service).pick(), kind: kindOf });
  const pricer = new InstrumentedPricer(
    customPricer(overrides.pricer, new ConfiguredPricer(book, counters, models)),
    metrics,
  );
  const clients = new ClientAddresses(config.trustProxy);
  const invoicePool = startInvoicePool(config, backend, metrics);
  const refundPayer = overrides.refundPayer ?? LndRefundPayer.fromConfig(config.lnd);
  const refunds = new Refunds({ store, payer: refundPayer, caps: config.refunds, metrics, log });
  const app = createApp({
    config,
    store,
    backend: invoicePool ?? backend,
    pricer,
    counters,
    book,
    proxy,
    pools,
    models,
    metrics,
    health,
    clients,
    log,
    refunds,
  });

  const serverOptions = { maxHeaderSize: config.limits.maxHeaderBytes, ServerResponse: GatewayResponse };
  const handler = config.listen.requireTls ? requiringTls(app, clients) : app;
  const tlsServer = keyPair && createTlsServer({ ...serverOptions, ...keyPair.options }, handler);
  const server: Server = tlsServer || createServer(serverOptions, handler);
  server.on("clientError", answerClientError);
  const operatorApp = express();
  operatorApp.disable("x-powered-by");
  operatorApp.get("/healthz", health.liveness);
  operatorApp.get("/readyz", health.readiness);
  operatorApp.get("/metrics", async (_req, res) => {
    res.setHeader("content-type", metrics.registry.contentType);
    res.end(await metrics.registry.metrics());
  });
  const operator = createServer(operatorApp);
  let admin: Server | undefined;
  if (adminSecret !== undefined && (!worker || worker.leader)) {
    const adminApp = express();
    adminApp.disable("x-powered-by");
    const consoleParts = { config, adminSecret, store, book, metrics, backend, counters, traffic, log };
    adminApp.use("/console", consoleRouter({ ...consoleParts, configPath: overrides.configPath }));
    adminApp.use(adminRouter(config, adminSecret, book, store));
    admin = createServer(adminApp);
  }

  const url = await listen(server, config.listen.port, config.listen.host, keyPair ? "https" : "http");
  const stopWatchingTls = tlsServer && tls ? watchKeyPair(tlsServer, tls, log) : () => {};
  if (keyPair) log.info({ subject: keyPair.subject, validTo: keyPair.validTo }, "public listener serves TLS");
  else if (!isLoopbackHost(config.listen.host)) {
    log.warn(
      { host: config.listen.host },
      "listen.insecure: plain HTTP on a non-loopback address; L402 credentials cross the network in clear text",
    );
  }
  // A worker's operator listener is internal, on its own port: the primary serves the host's, with /metrics
  // aggregated over the workers and the health checks asked of one of them.
  const operatorUrl = worker
    ? await listen(operator, 0, "127.0.0.1", "http", true)
    : await listen(operator, config.operator.port, config.operator.host);
  // Served by one worker only (the leader), so it binds its own socket.
  const adminUrl =
    admin && config.admin
      ? await listen(admin, config.admin.port, config.admin.host, "http", worker !== undefined)
      : undefined;
  if (!worker || worker.leader) await watcher.start();
  // Refunds a stopped gateway left pending are settled from LND's record of each payment, never paid twice; by one
  // worker only (the leader), like the settlement watcher.
  const reconciled =
    worker && !worker.leader
      ? Promise.resolve()
      : refunds.reconcile().then(
          (pending) => pending > 0 && log.info({ pending }, "reconciled pending refunds with LND"),
          (error: unknown) => log.warn({ err: String(error) }, "could not reconcile pending refunds"),
        );
  // Refunds in flight, or left by a process that stopped, are settled from LND periodically too: by the leader only,
  // and, across replicas, by whichever claims each refund first.
  const reconciler =
    worker && !worker.leader ? undefined : refunds.reconcileEvery(config.refunds.reconcileIntervalSeconds * 1000);
  pools.start();
  book.start();
  const stopWatchingConfig = overrides.configPath ? watchPricing(overrides.configPath, config, book, log) : () => {};
  log.info({ url, operatorUrl, services: config.services.map((s) => s.name) }, "gateway listening");

  return {
    url,
    operatorUrl,
    adminUrl,
    book,
    server,
    store,
    watcher,
    metrics,
    refunds,
    reconciled,
    close: async () => {
      clearInterval(heartbeat);
      reconciler?.stop();
      invoicePool?.close();
      watcher.stop();
      pools.stop();
      book.stop();
      stopWatchingConfig();
      stopWatchingTls();
      await Promise.all([closeServer(server), closeServer(operator), ...(admin ? [closeServer(admin)] : [])]);
      await proxy.close();
      await traffic.stop();
      await store.close();
    },
  };
}
