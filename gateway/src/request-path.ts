import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { ServiceConfig } from "./config/schema.js";
import type { CanonicalTarget } from "./http/canonical-target.js";
import { canonicalTarget } from "./http/canonical-target.js";
import type { ClientAddresses } from "./http/client-address.js";
import { notRouted, sendRefusal } from "./http/refusal.js";
import { requestIdFrom } from "./http/request-id.js";
import { setRequestId } from "./http/response.js";
import type { RouteMatch, ServiceRouter } from "./http/routing.js";
import { requestLineWriter } from "./logging/logger.js";
import type { MeteredHandler } from "./metering/metered-handler.js";
import type { GatewayMetrics } from "./metrics/metrics.js";
import type { PaymentGate } from "./payment/gate.js";
import { withReceipt } from "./payment/respond.js";
import { paymentStage } from "./payment/stage.js";
import type { ChallengeAdmission } from "./pipeline/admit.js";
import { newRequestContext, type RequestContext } from "./pipeline/context.js";
import { type Outcome, outcomeOf } from "./pipeline/outcome.js";
import type { OwnRoutes } from "./pipeline/own-routes.js";
import type { UpstreamForwarder } from "./proxy/forwarder.js";
import type { ForwardOptions } from "./proxy/proxy.js";
import { answerFor, INTERNAL_ERROR } from "./refusals/answers.js";
import type { Authenticator, AuthResult } from "./tokens/authenticator.js";
import type { Challenger } from "./tokens/challenger.js";
import { credentialHeaders } from "./tokens/credential-headers.js";

/** The stages of the public request path, made by app.ts. */
export interface RequestStages {
  /** The gateway's own endpoints, answered before any service is matched. */
  readonly own: OwnRoutes;
  readonly router: ServiceRouter;
  readonly clients: ClientAddresses;
  readonly payments: PaymentGate;
  readonly authenticator: Authenticator;
  readonly challenger: Challenger;
  readonly admission: ChallengeAdmission;
  readonly metered: MeteredHandler;
  readonly forwarder: UpstreamForwarder;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
}

/** The path the request log shows: the canonical one, or as it came when it had none. */
const pathOf = (req: IncomingMessage, ctx: RequestContext) => (ctx.target ? ctx.upstreamPath : req.url);

const NO_OPTIONS: ForwardOptions = {};

/**
 * The public listener's request path, one stage after another: route (canonical target, the gateway's own routes,
 * service match) → authenticate (payment/stage for `Authorization: Payment`, tokens/authenticator for L402) → price
 * and admit (fixed price: pipeline/admit; metered: MeteredHandler.admit, which returns a challenge, a top-up, a rate
 * limit or a reservation) → forward (proxy/forwarder, called here) → account (the plan of MeteredHandler.account
 * charges and refunds). Stages return values or throw typed errors; this module switches on the values, and
 * refusals/answers maps the errors to answers in one place. Plain node:http: the hot path pays for no framework.
 */
export function requestPath(stages: RequestStages): RequestListener {
  const { own, router, clients, payments, authenticator, challenger, admission, metered, forwarder, metrics, log } =
    stages;
  const logRequest = requestLineWriter(log);

  /** Metered: admit (challenge, top-up, 429 or a reservation), then forward with the account stage's plan. */
  async function meteredPath(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: RequestContext,
    service: ServiceConfig,
    target: CanonicalTarget,
    auth: AuthResult,
  ): Promise<Outcome> {
    const admitted = await metered.admit(req, service, target, auth);
    const refusal = ctx.payment.refusal;
    switch (admitted.kind) {
      case "rateLimited":
        return admission.rateLimited(req, res, service, admitted.waitSeconds);
      case "challenge": {
        const { quote, amountMsat, reason } = admitted;
        const issued = await challenger.meteredChallenge(service, quote, amountMsat, reason);
        return admission.challenge(req, res, { service, code: reason.code, issued, refusal });
      }
      case "topUp": {
        const { presented, quote, amountMsat, balanceMsat } = admitted;
        const issued = await challenger.topUp(service, presented, quote, amountMsat, balanceMsat);
        const outcome = await admission.challenge(req, res, { service, code: "insufficient_balance", issued, refusal });
        metrics.topUpsIssued.inc({ service: service.name });
        return outcome;
      }
      case "reserved": {
        const account = metered.account(admitted.reservation);
        try {
          return outcomeOf(
            await forwarder.forward(req, res, service, ctx, withReceipt(ctx.payment.receipt, account.options)),
          );
        } finally {
          await metered.finish(account);
        }
      }
    }
  }

  /** Authenticate, then admit (challenge or reserve) and forward. */
  async function paid(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: RequestContext,
    match: RouteMatch,
    target: CanonicalTarget,
  ): Promise<Outcome> {
    const service = match.service;
    const authStarted = performance.now();
    const headers = credentialHeaders(req);
    const payment = await paymentStage(payments, req, res, service, headers.authorization);
    ctx.payment = payment;
    if (payment.answered) return payment.answered;
    const auth =
      payment.auth ??
      (service.schemes.includes("l402")
        ? await authenticator.authenticate(headers, service.name, match.requiredCapabilities)
        : { ok: false as const, code: "missing" as const, message: "this service takes the Payment scheme only" });
    ctx.credential = auth;
    metrics.requestPhases(service.name).auth.observe((performance.now() - authStarted) / 1000);
    // A request without any credential is the normal first step, not an authentication failure.
    if (!auth.ok && auth.code !== "missing") metrics.authFailures.inc({ service: service.name, reason: auth.code });
    if (service.pricing) return meteredPath(req, res, ctx, service, target, auth);
    if (auth.ok || payment.charged) {
      metrics.paidRequests.inc({ service: service.name, scheme: payment.charged ? "payment" : "l402" });
      return outcomeOf(await forwarder.forward(req, res, service, ctx, withReceipt(payment.receipt, NO_OPTIONS)));
    }
    const limited = admission.takeChallenge(req, res, service);
    if (limited) return limited;
    req.resume();
    const issued = await challenger.challenge(service, { method: req.method ?? "GET", path: target.key }, auth);
    return admission.challenge(req, res, { service, code: auth.code, issued, refusal: payment.refusal });
  }

  /** Route: the canonical target is the request's only path from here on, routed, priced and forwarded as is. */
  async function handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<Outcome> {
    const target = canonicalTarget(req.url ?? "/");
    ctx.target = target;
    ctx.upstreamPath = target.query === "" ? target.path : target.path + target.query;
    const ownRoute = own.find(req.method, target.key);
    if (ownRoute) return ownRoute(req, res, target);
    const match = router.match({ method: req.method ?? "GET", path: target.key, host: clients.of(req).hostname });
    if (!match) {
      req.resume();
      return sendRefusal(res, notRouted(req.method, target.path));
    }
    ctx.match = match;
    if (match.free) return outcomeOf(await forwarder.forward(req, res, match.service, ctx));
    return paid(req, res, ctx, match, target);
  }

  /** One request from start to its log line: refusals for what the stages threw, then the metrics and the log. */
  async function serve(req: IncomingMessage, res: ServerResponse, started: number, requestId: string): Promise<void> {
    const ctx = newRequestContext(requestId);
    let outcome: Outcome;
    try {
      outcome = await handle(req, res, ctx);
    } catch (error) {
      req.resume();
      const answer = answerFor(error) ?? INTERNAL_ERROR;
      const detail = { err: error instanceof Error ? error.message : String(error), path: pathOf(req, ctx) };
      if (answer === INTERNAL_ERROR) log.error(detail, "request failed");
      else if (answer.degraded) log.warn(detail, answer.message);
      outcome = sendRefusal(res, answer);
    }
    const seconds = (performance.now() - started) / 1000;
    const service = ctx.match?.service.name;
    if (service) metrics.requestPhases(service).total.observe(seconds);
    logRequest({
      reqId: requestId,
      method: req.method,
      path: pathOf(req, ctx),
      service,
      status: outcome.status,
      code: outcome.code,
      ms: Math.round(seconds * 1000),
    });
  }

  return (req, res) => {
    const started = performance.now();
    const requestId = requestIdFrom(req.headers["x-request-id"]);
    setRequestId(res, requestId);
    void serve(req, res, started, requestId);
  };
}
