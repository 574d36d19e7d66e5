import type { IncomingMessage } from "node:http";
import express, { type Express, type Request, type Response } from "express";
import type { Logger } from "pino";
import type { GatewayConfig } from "./config/schema.js";
import { sendJsonError } from "./http/errors.js";
import { type RouteMatch, ServiceRouter } from "./http/routing.js";
import { Authenticator } from "./l402/authenticator.js";
import { Challenger } from "./l402/challenger.js";
import type { InvoiceBackend } from "./lightning/invoices.js";
import { LightningUnavailableError } from "./lightning/invoices.js";
import { RateLimiter } from "./limits/rate-limiter.js";
import type { Pricer } from "./pricing/pricer.js";
import type { UpstreamProxy } from "./proxy/proxy.js";
import type { TokenStore } from "./store/store.js";

export interface GatewayParts {
  readonly config: GatewayConfig;
  readonly store: TokenStore;
  readonly backend: InvoiceBackend;
  readonly pricer: Pricer;
  readonly proxy: UpstreamProxy;
  readonly log: Logger;
}

/** Every Authorization header as sent: Node keeps only the first of duplicates, which would hide smuggling. */
function authorizationHeaders(req: IncomingMessage): string[] {
  const values: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]?.toLowerCase() === "authorization") values.push(req.rawHeaders[i + 1] ?? "");
  }
  return values;
}

/** The Express app: route to a service, let free paths through, verify L402 tokens or challenge, then proxy. */
export function createApp(parts: GatewayParts): Express {
  const { config, store, backend, pricer, proxy, log } = parts;
  const router = new ServiceRouter(config.services);
  const authenticator = new Authenticator(store);
  const challenger = new Challenger(backend, store, pricer, config.macaroonLocation);
  const limiter = new RateLimiter(config.limits.challengesPerMinute, config.limits.challengeBurst);

  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.set("trust proxy", config.trustProxy);

  const forward = (req: Request, res: Response, match: RouteMatch) =>
    proxy.forward(req, res, match.service.upstream, {
      clientIp: req.ip ?? req.socket.remoteAddress ?? "unknown",
      proto: req.protocol,
      host: req.get("host"),
    });

  async function challenge(req: Request, res: Response, match: RouteMatch, code: string, message: string) {
    req.resume();
    const clientIp = req.ip ?? "unknown";
    const waitSeconds = limiter.take(clientIp);
    if (waitSeconds > 0) {
      sendJsonError(res, 429, "rate_limited", "too many payment challenges from this address", {
        "retry-after": String(waitSeconds),
      });
      return { status: 429, code: "rate_limited" };
    }
    try {
      const issued = await challenger.challenge(
        match.service,
        { method: req.method, path: req.path },
        { code, message },
      );
      res.status(402);
      res.setHeader("cache-control", "no-store");
      res.setHeader("www-authenticate", [...issued.wwwAuthenticate]);
      res.json(issued.body);
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

  app.use(async (req: Request, res: Response) => {
    const started = performance.now();
    const match = router.match({ method: req.method, path: req.path, host: req.hostname });
    let outcome: { status: number; code?: string };
    if (!match) {
      sendJsonError(res, 404, "not_found", `no service is configured for ${req.method} ${req.path}`);
      outcome = { status: 404, code: "not_found" };
    } else if (match.free) {
      outcome = await forward(req, res, match);
    } else {
      const auth = await authenticator.authenticate(
        authorizationHeaders(req),
        match.service.name,
        match.requiredCapabilities,
      );
      outcome = auth.ok ? await forward(req, res, match) : await challenge(req, res, match, auth.code, auth.message);
    }
    log.info(
      {
        method: req.method,
        path: req.path,
        service: match?.service.name,
        status: outcome.status,
        code: outcome.code,
        ms: Math.round(performance.now() - started),
      },
      "request",
    );
  });

  return app;
}
