import { randomBytes } from "node:crypto";
import type { RequestListener } from "node:http";
import type { Logger } from "pino";
import type { GatewayConfig } from "./config/schema.js";
import { BALANCE_PATH, CLOSE_PATH, MANIFEST_PATH, QUOTE_PATH } from "./discovery/manifest.js";
import { discovery } from "./discovery/routes.js";
import type { HealthHandlers } from "./health/routes.js";
import type { ClientAddresses } from "./http/client-address.js";
import { ServiceRouter } from "./http/routing.js";
import type { InvoiceBackend } from "./lightning/invoices.js";
import { RateLimiter } from "./limits/rate-limiter.js";
import { MeteredHandler } from "./metering/metered-handler.js";
import type { GatewayMetrics } from "./metrics/metrics.js";
import { PaymentGate } from "./payment/gate.js";
import { PaymentOffers } from "./payment/offers.js";
import { withPaymentOffer } from "./payment/respond.js";
import { ChallengeAdmission } from "./pipeline/admit.js";
import { answerBalance } from "./pipeline/balance.js";
import { answerClose } from "./pipeline/close.js";
import { OwnRoutes } from "./pipeline/own-routes.js";
import type { PriceBook } from "./pricing/price-book.js";
import type { Pricer } from "./pricing/pricer.js";
import { UpstreamForwarder } from "./proxy/forwarder.js";
import type { UpstreamProxy } from "./proxy/proxy.js";
import { Refunds } from "./refunds/refunds.js";
import { requestPath } from "./request-path.js";
import type { TokenStore } from "./store/store.js";
import { Authenticator } from "./tokens/authenticator.js";
import { Challenger } from "./tokens/challenger.js";
import type { ModelCatalogs } from "./upstream/models.js";
import type { UpstreamPools } from "./upstream/pool.js";
import type { TokenCounters } from "./upstream/token-counter.js";

export interface GatewayParts {
  readonly config: GatewayConfig;
  readonly store: TokenStore;
  readonly backend: InvoiceBackend;
  /** Prices every service: challenges, the quote endpoint and metered reservations all ask it. */
  readonly pricer: Pricer;
  readonly counters: TokenCounters;
  readonly book: PriceBook;
  readonly proxy: UpstreamProxy;
  readonly pools: UpstreamPools;
  /** The model ids each service's upstream serves, for the manifest. */
  readonly models?: ModelCatalogs;
  readonly metrics: GatewayMetrics;
  readonly health: HealthHandlers;
  readonly clients: ClientAddresses;
  readonly log: Logger;
  /** Closes prepaid accounts and pays refunds; one without a payer (refunds stay pending) when absent. */
  readonly refunds?: Refunds;
}

/**
 * Wires the public listener's stages: each is made here once, the gateway's own endpoints go into one route table,
 * and request-path.ts runs them in order and switches on what they return.
 */
export function createApp(parts: GatewayParts): RequestListener {
  const { config, store, backend, pricer, counters, book, proxy, pools, models, metrics, health, clients, log } = parts;
  const router = new ServiceRouter(config.services);
  const authenticator = new Authenticator(store, (payment) => metrics.recordPaid(payment));
  const challenger = new Challenger(backend, store, pricer, config.macaroonLocation, authenticator.macaroonKeys);
  const refunds = parts.refunds ?? new Refunds({ store, payer: undefined, caps: config.refunds, metrics, log });
  let secret: Promise<Buffer> | undefined;
  const paymentSecret = () => (secret ??= store.paymentSecret(randomBytes(32)));
  const offers = new PaymentOffers(backend, paymentSecret, config.payment);
  const payments = new PaymentGate({ store, backend, refunds, metrics, config, secret: paymentSecret });
  const admission = new ChallengeAdmission(
    new RateLimiter(config.limits.challengesPerMinute, config.limits.challengeBurst),
    clients,
    metrics,
    (service, issued, refusal) => withPaymentOffer(refusal, offers, service, issued),
  );
  const forwarder = new UpstreamForwarder({
    proxy,
    pools,
    clients,
    metrics,
    log,
    maxBodyBytes: config.limits.maxBodyBytes,
  });
  const prices = discovery({ config, book, pricer, clients, models });
  const metered = new MeteredHandler({
    store,
    book,
    pricer,
    counters,
    metrics,
    log,
    maxBodyBytes: config.limits.maxBodyBytes,
    limit: admission,
  });

  const own = new OwnRoutes()
    .read("/healthz", (req, res) => {
      health.liveness(req, res);
      return { status: 200 };
    })
    .read("/readyz", async (req, res) => {
      await health.publicReadiness(req, res);
      return { status: res.statusCode };
    })
    .read(BALANCE_PATH, (req, res) => answerBalance(authenticator, req, res))
    .read(MANIFEST_PATH, (req, res) => prices.manifest(req, res))
    .post(QUOTE_PATH, (req, res, target) => prices.quote(req, res, target.query.slice(1)))
    .post(CLOSE_PATH, (req, res) =>
      answerClose({ authenticator, store, refunds, maxBodyBytes: config.limits.maxBodyBytes }, req, res),
    );

  return requestPath({
    own,
    router,
    clients,
    payments,
    authenticator,
    challenger,
    admission,
    metered,
    forwarder,
    metrics,
    log,
  });
}
