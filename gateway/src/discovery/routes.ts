import { type Request, type Response, Router } from "express";
import type { GatewayConfig } from "../config/schema.js";
import { canonicalTarget, InvalidTargetError } from "../http/canonical-target.js";
import { sendJsonError } from "../http/errors.js";
import { BodyTooLargeError, readBody } from "../http/read-body.js";
import { ServiceRouter } from "../http/routing.js";
import { RateLimiter } from "../limits/rate-limiter.js";
import { DepositError } from "../metering/deposit.js";
import { LlmRequestError } from "../metering/llm-request.js";
import type { PriceBook } from "../pricing/price-book.js";
import type { Pricer } from "../pricing/pricer.js";
import { describeQuote } from "../pricing/quote.js";
import { QuoteError, type Quoter } from "../pricing/quoter.js";
import { buildManifest, MANIFEST_MAX_AGE_SECONDS, MANIFEST_PATH, manifestBody, QUOTE_PATH } from "./manifest.js";
import { newTokenInvoiceSats, priceMeteredRequest } from "./price-request.js";

export interface DiscoveryDeps {
  readonly config: GatewayConfig;
  readonly book: PriceBook;
  /** The quoter the metered handler uses, so that a quote is the reservation a challenge would make. */
  readonly quoter: Quoter;
  /** The fixed-price services' pricer, as challenges use it. */
  readonly pricer: Pricer;
}

/**
 * Price discovery: `GET /.well-known/l402.json` (the public manifest, cacheable) and `POST /l402/quote` (the exact
 * price of one request, without an invoice). The quote endpoint takes the request as it would be sent: the method
 * and target in the query string (`?method=POST&target=/v1/chat/completions`), the same headers (content type,
 * deposit) and the same body.
 */
export function discoveryRoutes(deps: DiscoveryDeps): Router {
  const { config, book, quoter, pricer } = deps;
  const router = new ServiceRouter(config.services);
  // Quotes count prompt tokens on the upstream: limited per client like challenges, with the same settings.
  const limiter = new RateLimiter(config.limits.challengesPerMinute, config.limits.challengeBurst);
  const routes = Router();

  routes.get(MANIFEST_PATH, (req: Request, res: Response) => {
    const { body, etag } = manifestBody(buildManifest(config.services, book));
    res.setHeader("cache-control", `public, max-age=${MANIFEST_MAX_AGE_SECONDS}`);
    res.setHeader("etag", etag);
    res.setHeader("access-control-allow-origin", "*");
    if (matchesEtag(req.headers["if-none-match"], etag)) {
      res.status(304).end();
      return;
    }
    res.type("application/json").send(body);
  });

  routes.post(QUOTE_PATH, async (req: Request, res: Response) => {
    const refuse = (status: number, code: string, message: string, headers: Record<string, string> = {}) => {
      req.resume();
      sendJsonError(res, status, code, message, headers);
    };
    const waitSeconds = limiter.take(req.ip ?? "unknown");
    if (waitSeconds > 0) {
      refuse(429, "rate_limited", "too many quotes from this address", { "retry-after": String(waitSeconds) });
      return;
    }
    const rawMethod = req.query.method ?? "POST";
    const method = typeof rawMethod === "string" ? rawMethod.toUpperCase() : "";
    const rawTarget = req.query.target;
    if (typeof rawTarget !== "string" || !/^[A-Z]{1,20}$/.test(method)) {
      refuse(400, "invalid_quote_request", "give the request as ?method=<METHOD>&target=</path?query>");
      return;
    }
    let target: ReturnType<typeof canonicalTarget>;
    try {
      target = canonicalTarget(rawTarget);
    } catch (error) {
      if (!(error instanceof InvalidTargetError)) throw error;
      refuse(400, "invalid_path", error.message);
      return;
    }
    const match = router.match({ method, path: target.key, host: req.hostname });
    if (!match) {
      refuse(404, "not_found", `no service is configured for ${method} ${target.path}`);
      return;
    }
    const service = match.service;
    const named = { service: service.private ? null : service.name, method, path: target.path };
    res.setHeader("cache-control", "no-store");
    if (match.free) {
      req.resume();
      res.json({ ...named, kind: "free", invoice_sats: 0 });
      return;
    }
    const pricing = book.pricing(service.name);
    if (!pricing) {
      req.resume();
      const price = await pricer.quote({ service, method, path: target.key });
      res.json({ ...named, kind: "fixed", price_sats: price.sats, invoice_sats: price.sats });
      return;
    }
    try {
      const priced = await priceMeteredRequest(
        quoter,
        service,
        pricing,
        { method, path: target.key },
        req.headers,
        () => readBody(req, config.limits.maxBodyBytes),
      );
      req.resume();
      res.json({
        ...named,
        kind: "metered",
        reserve_msat: priced.quote.worstCaseMsat,
        deposit_msat: priced.depositMsat ?? null,
        invoice_sats: newTokenInvoiceSats(priced),
        quote: describeQuote(priced.quote),
      });
    } catch (error) {
      if (error instanceof BodyTooLargeError) refuse(413, "body_too_large", error.message);
      else if (error instanceof LlmRequestError) refuse(error.status, error.code, error.message);
      else if (error instanceof DepositError) refuse(400, "invalid_deposit", error.message);
      else if (error instanceof QuoteError) refuse(error.status, error.code, error.message);
      else throw error;
    }
  });

  return routes;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(",").some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, "");
    return tag === etag || tag === "*";
  });
}
