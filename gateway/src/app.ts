import { randomBytes } from "node:crypto";
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import type { Logger } from "pino";
import type { GatewayConfig, ServiceConfig } from "./config/schema.js";
import type { HealthHandlers } from "./health/routes.js";
import { type CanonicalTarget, canonicalTarget, InvalidTargetError } from "./http/canonical-target.js";
import { sendJsonError } from "./http/errors.js";
import { BodyTooLargeError, readBody } from "./http/read-body.js";
import { requestIdFrom } from "./http/request-id.js";
import { type RouteMatch, ServiceRouter } from "./http/routing.js";
import { Authenticator } from "./l402/authenticator.js";
import { type Challenge, Challenger } from "./l402/challenger.js";
import { credentialHeaders } from "./l402/credential-headers.js";
import type { InvoiceBackend } from "./lightning/invoices.js";
import { LightningUnavailableError } from "./lightning/invoices.js";
import { RateLimiter } from "./limits/rate-limiter.js";
import { MeteredHandler } from "./metering/metered-handler.js";
import type { GatewayMetrics } from "./metrics/metrics.js";
import { PaymentGate } from "./payment/gate.js";
import { PaymentOffers } from "./payment/offers.js";
import { withPaymentOffer, withReceipt } from "./payment/respond.js";
import { paymentStage } from "./payment/stage.js";
import type { PriceBook } from "./pricing/price-book.js";
import type { Pricer } from "./pricing/pricer.js";
import { Quoter } from "./pricing/quoter.js";
import { type ForwardOptions, type ForwardOutcome, hasRequestBody, type UpstreamProxy } from "./proxy/proxy.js";
import type { UpstreamPools } from "./proxy/upstream-pool.js";
import { closeRoute } from "./refunds/close-route.js";
import { Refunds } from "./refunds/refunds.js";
import { isStoreFailure } from "./store/errors.js";
import type { TokenStore } from "./store/store.js";

export interface GatewayParts {
  readonly config: GatewayConfig;
  readonly store: TokenStore;
  readonly backend: InvoiceBackend;
  readonly pricer: Pricer;
  readonly book: PriceBook;
  readonly proxy: UpstreamProxy;
  readonly pools: UpstreamPools;
  readonly metrics: GatewayMetrics;
  readonly health: HealthHandlers;
  readonly log: Logger;
  /** Closes prepaid accounts and pays refunds; one without a payer (refunds stay pending) when absent. */
  readonly refunds?: Refunds;
}

interface Outcome {
  readonly status: number;
  readonly code?: string;
}

function upstreamErrorClass(outcome: ForwardOutcome): string | undefined {
  if (!outcome.ok) {
    if (outcome.code === "upstream_unreachable") return "unreachable";
    if (outcome.code === "upstream_timeout") return "timeout";
    if (outcome.code === "client_closed") return "aborted";
    return undefined;
  }
  return outcome.status >= 500 ? "http_5xx" : undefined;
}

/** The Express app: route to a service, let free paths through, verify L402 tokens or challenge, then proxy. */
export function createApp(parts: GatewayParts): Express {
  const { config, store, backend, pricer, book, proxy, pools, metrics, health, log } = parts;
  const router = new ServiceRouter(config.services);
  const authenticator = new Authenticator(store, (payment) => metrics.recordPaid(payment));
  const challenger = new Challenger(backend, store, pricer, config.macaroonLocation);
  const limiter = new RateLimiter(config.limits.challengesPerMinute, config.limits.challengeBurst);
  const refunds = parts.refunds ?? new Refunds({ store, payer: undefined, caps: config.refunds, metrics, log });
  let secret: Promise<Buffer> | undefined;
  const paymentSecret = () => (secret ??= store.paymentSecret(randomBytes(32)));
  const offers = new PaymentOffers(backend, paymentSecret, config.payment);
  const payments = new PaymentGate({ store, backend, refunds, metrics, config, secret: paymentSecret });

  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.set("trust proxy", config.trustProxy);
  app.get("/healthz", health.liveness);
  app.get("/readyz", health.publicReadiness);
  app.post("/l402/close", closeRoute(authenticator, store, refunds, config.limits.maxBodyBytes));

  // An agent reads its prepaid balance with the same credential it pays with.
  app.get("/l402/balance", async (req: Request, res: Response) => {
    const auth = await authenticator.identify(credentialHeaders(req));
    if (!auth.ok) {
      sendJsonError(res, 401, auth.code, auth.message);
      return;
    }
    const { token } = auth;
    res.setHeader("cache-control", "no-store");
    res.json({
      token_id: token.tokenId,
      service: token.service,
      metered: token.metered,
      balance_msat: token.account.balanceMsat,
      reserved_msat: token.account.reservedMsat,
      credited_msat: token.account.creditedMsat,
      charged_msat: token.account.chargedMsat,
      requests: token.account.requests,
      valid_until: token.validUntil.toISOString(),
    });
  });

  /**
   * Forwards to the least-loaded upstream of the service's pool. An attempt that fails before the upstream answered
   * (unreachable, or timed out) is tried once more on another upstream when the request can be sent again; the
   * failed attempt never reached `options.plan`, so it is never charged.
   */
  async function forward(
    req: Request,
    res: Response,
    service: ServiceConfig,
    requestId: string,
    options: ForwardOptions = {},
  ): Promise<ForwardOutcome> {
    const pool = pools.of(service.name);
    const labels = { service: service.name };
    options = withReceipt(res, options);
    if (pool.size > 1 && options.body === undefined && hasRequestBody(req)) {
      // A body the proxy would stream cannot be sent a second time: with a pool, read it first so it can be.
      try {
        options = { ...options, body: await readBody(req, config.limits.maxBodyBytes) };
      } catch (error) {
        if (!(error instanceof BodyTooLargeError)) throw error;
        sendJsonError(res, 413, "body_too_large", error.message);
        return { ok: false, status: 413, code: "body_too_large" };
      }
    }
    const replayable = options.body !== undefined || !hasRequestBody(req);
    const tried = new Set<string>();
    for (;;) {
      const upstream = pool.pick(tried) ?? pool.pick();
      if (upstream === undefined) throw new Error(`service ${service.name} has no upstream`);
      tried.add(upstream);
      const mayRetry = replayable && tried.size === 1 && pool.size > 1;
      const end = pool.begin(upstream);
      let outcome: ForwardOutcome;
      try {
        outcome = await proxy.forward(
          req,
          res,
          upstream,
          { clientIp: req.ip ?? req.socket.remoteAddress ?? "unknown", proto: req.protocol, host: req.get("host") },
          { ...options, mayRetry, extraHeaders: { "x-request-id": requestId } },
        );
      } finally {
        end();
      }
      if (outcome.ok) metrics.requestDuration.observe({ ...labels, phase: "upstream_ttfb" }, outcome.ttfbSeconds);
      const errorClass = upstreamErrorClass(outcome);
      if (errorClass) metrics.upstreamErrors.inc({ ...labels, class: errorClass });
      if (!outcome.ok && (errorClass === "unreachable" || errorClass === "timeout")) {
        pool.reportFailure(upstream, outcome.code);
      }
      if (outcome.ok || !outcome.retryable) return outcome;
      if (pool.pick(tried) === undefined) {
        sendJsonError(res, outcome.status, outcome.code, outcome.retryable.message);
        return outcome;
      }
      log.warn(
        { reqId: requestId, service: service.name, upstream, code: outcome.code },
        "retrying on another upstream",
      );
    }
  }

  const asOutcome = (outcome: ForwardOutcome): Outcome =>
    outcome.ok ? { status: outcome.status } : { status: outcome.status, code: outcome.code };

  /** Takes one challenge from the client's rate limit; answers 429 and returns its outcome when none is left. */
  function admitChallenge(req: Request, res: Response, service: ServiceConfig): Outcome | undefined {
    const waitSeconds = limiter.take(req.ip ?? "unknown");
    if (waitSeconds <= 0) return undefined;
    req.resume();
    metrics.rateLimited.inc({ service: service.name });
    sendJsonError(res, 429, "rate_limited", "too many payment challenges from this address", {
      "retry-after": String(waitSeconds),
    });
    return { status: 429, code: "rate_limited" };
  }

  /** Answers 402 with the challenge `issue` builds; the caller has passed admitChallenge. */
  async function sendChallenge(
    req: Request,
    res: Response,
    service: ServiceConfig,
    code: string,
    issue: () => Promise<Challenge>,
  ): Promise<Outcome> {
    req.resume();
    try {
      const issued = await withPaymentOffer(res, offers, service, await issue());
      metrics.challengesIssued.inc({ service: service.name });
      res.status(402);
      res.setHeader("cache-control", "no-store");
      res.setHeader("www-authenticate", [...issued.wwwAuthenticate]);
      if (issued.contentType) res.type(issued.contentType).send(JSON.stringify(issued.body));
      else res.json(issued.body);
      return { status: 402, code };
    } catch (error) {
      if (!(error instanceof LightningUnavailableError)) throw error;
      log.warn({ err: error.message }, "cannot issue a challenge: Lightning node unavailable");
      sendJsonError(res, 503, "lightning_unavailable", "the payment node is unavailable; try again shortly", {
        "retry-after": "5",
      });
      return { status: 503, code: "lightning_unavailable" };
    }
  }

  const metered = new MeteredHandler({
    store,
    book,
    quoter: new Quoter(book, (service) => pools.of(service).pick() ?? ""),
    challenger,
    metrics,
    log,
    maxBodyBytes: config.limits.maxBodyBytes,
    admitChallenge,
    sendChallenge,
    forward: (req, res, service, options) => forward(req, res, service, String(res.getHeader("x-request-id")), options),
  });

  async function paid(
    req: Request,
    res: Response,
    match: RouteMatch,
    target: CanonicalTarget,
    requestId: string,
  ): Promise<Outcome> {
    const service = match.service;
    const authStarted = performance.now();
    const headers = credentialHeaders(req);
    const payment = await paymentStage(payments, req, res, service, headers.authorization);
    if (payment.answered) return payment.answered;
    const auth =
      payment.auth ??
      (service.schemes.includes("l402")
        ? await authenticator.authenticate(headers, service.name, match.requiredCapabilities)
        : { ok: false as const, code: "missing" as const, message: "this service takes the Payment scheme only" });
    metrics.requestDuration.observe({ service: service.name, phase: "auth" }, (performance.now() - authStarted) / 1000);
    // A request without any credential is the normal first step, not an authentication failure.
    if (!auth.ok && auth.code !== "missing") metrics.authFailures.inc({ service: service.name, reason: auth.code });
    if (service.pricing) return metered.handle(req, res, service, target, auth);
    if (auth.ok || payment.charged) {
      metrics.paidRequests.inc({ service: service.name, scheme: payment.charged ? "payment" : "l402" });
      return asOutcome(await forward(req, res, service, requestId));
    }
    return (
      admitChallenge(req, res, service) ??
      sendChallenge(req, res, service, auth.code, () =>
        challenger.challenge(service, { method: req.method, path: target.key }, auth),
      )
    );
  }

  app.use(async (req: Request, res: Response) => {
    const started = performance.now();
    const requestId = requestIdFrom(req.headers["x-request-id"]);
    res.setHeader("x-request-id", requestId);
    let target: CanonicalTarget;
    try {
      target = canonicalTarget(req.url);
    } catch (error) {
      if (!(error instanceof InvalidTargetError)) throw error;
      req.resume();
      sendJsonError(res, 400, "invalid_path", error.message);
      log.info({ reqId: requestId, method: req.method, status: 400, code: "invalid_path" }, "request");
      return;
    }
    // From here on, the canonical target is the request's only path: routed, priced and forwarded as is.
    req.url = target.path + target.query;
    const match = router.match({ method: req.method, path: target.key, host: req.hostname });
    const service = match?.service.name;
    let outcome: Outcome;
    if (!match) {
      sendJsonError(res, 404, "not_found", `no service is configured for ${req.method} ${req.path}`);
      outcome = { status: 404, code: "not_found" };
    } else if (match.free) {
      outcome = asOutcome(await forward(req, res, match.service, requestId));
    } else {
      outcome = await paid(req, res, match, target, requestId);
    }
    const seconds = (performance.now() - started) / 1000;
    if (service) metrics.requestDuration.observe({ service, phase: "total" }, seconds);
    log.info(
      {
        reqId: requestId,
        method: req.method,
        path: req.path,
        service,
        status: outcome.status,
        code: outcome.code,
        ms: Math.round(seconds * 1000),
      },
      "request",
    );
  });

  // Anything unexpected is still a JSON answer, and is logged without the request's headers.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (isStoreFailure(error)) {
      // Database down, disk full or read-only, I/O error, lock timeout: refuse new work rather than serve unaccounted.
      log.warn(
        { err: error instanceof Error ? error.message : String(error), path: req.path },
        "token store unavailable",
      );
      sendJsonError(res, 503, "store_unavailable", "the token store is unavailable; try again shortly", {
        "retry-after": "5",
      });
      return;
    }
    log.error({ err: error instanceof Error ? error.message : String(error), path: req.path }, "request failed");
    sendJsonError(res, 500, "internal_error", "the gateway could not handle this request");
  });

  return app;
}
