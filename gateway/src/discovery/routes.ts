import type { IncomingMessage, ServerResponse } from "node:http";
import type { GatewayConfig } from "../config/schema.js";
import { canonicalTarget } from "../http/canonical-target.js";
import type { ClientAddresses } from "../http/client-address.js";
import { sendJson } from "../http/json.js";
import { readBody } from "../http/read-body.js";
import { notRouted, type Refusal, retryAfter, sendRefusal } from "../http/refusal.js";
import { ServiceRouter } from "../http/routing.js";
import { RateLimiter } from "../limits/rate-limiter.js";
import { newTokenDepositMsat, priceMeteredRequest } from "../metering/metered-price.js";
import type { Outcome } from "../pipeline/outcome.js";
import type { PriceBook } from "../pricing/price-book.js";
import type { Pricer } from "../pricing/pricer.js";
import { describeQuote, msatToInvoiceSats } from "../pricing/quote.js";
import type { ModelCatalogs } from "../upstream/models.js";
import { buildManifest, MANIFEST_MAX_AGE_SECONDS, manifestBody } from "./manifest.js";

export interface DiscoveryDeps {
  readonly config: GatewayConfig;
  readonly book: PriceBook;
  /** The pricer challenges and the metered handler use, so that a quote is what a challenge would ask for. */
  readonly pricer: Pricer;
  readonly clients: ClientAddresses;
  /** The model ids each service's upstream serves, listed in the manifest. */
  readonly models?: ModelCatalogs;
}

export interface Discovery {
  /** GET /.well-known/l402.json: the public manifest, cacheable. */
  manifest(req: IncomingMessage, res: ServerResponse): Promise<Outcome>;
  /** POST /l402/quote: the exact price of one request, without an invoice. */
  quote(req: IncomingMessage, res: ServerResponse, query: string): Promise<Outcome>;
}

/**
 * Price discovery. The quote endpoint takes the request as it would be sent: the method and target in the query
 * string (`?method=POST&target=/v1/chat/completions`), the same headers (content type, deposit) and the same body.
 * Refusals of the body, deposit or price are thrown to the pipeline's error map, as for a challenge.
 */
export function discovery(deps: DiscoveryDeps): Discovery {
  const { config, book, pricer, clients, models } = deps;
  const router = new ServiceRouter(config.services);
  // Quotes count prompt tokens on the upstream: limited per client like challenges, with the same settings.
  const limiter = new RateLimiter(config.limits.challengesPerMinute, config.limits.challengeBurst);
  const refuse = (req: IncomingMessage, res: ServerResponse, refusal: Refusal): Outcome => {
    req.resume();
    return sendRefusal(res, refusal);
  };

  return {
    async manifest(req, res) {
      req.resume();
      const metered = config.services.filter((service) => !service.private && service.pricing !== undefined);
      const listed = new Map(await Promise.all(metered.map(async (s) => [s.name, await models?.ids(s.name)] as const)));
      const { body, etag } = manifestBody(buildManifest(config.services, book, (name) => listed.get(name)));
      const headers = {
        "cache-control": `public, max-age=${MANIFEST_MAX_AGE_SECONDS}`,
        etag,
        "access-control-allow-origin": "*",
      };
      if (matchesEtag(req.headers["if-none-match"], etag)) {
        res.writeHead(304, headers);
        res.end();
        return { status: 304 };
      }
      res.writeHead(200, {
        ...headers,
        "content-type": "application/json; charset=utf-8",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
      return { status: 200 };
    },

    async quote(req, res, query) {
      const waitSeconds = limiter.take(clients.of(req).ip);
      if (waitSeconds > 0) {
        const message = "too many quotes from this address";
        return refuse(req, res, { status: 429, code: "rate_limited", message, headers: retryAfter(waitSeconds) });
      }
      const params = new URLSearchParams(query);
      const methods = params.getAll("method");
      const targets = params.getAll("target");
      const method = (methods[0] ?? "POST").toUpperCase();
      const rawTarget = targets[0];
      if (methods.length > 1 || targets.length !== 1 || rawTarget === undefined || !/^[A-Z]{1,20}$/.test(method)) {
        const message = "give the request as ?method=<METHOD>&target=</path?query>";
        return refuse(req, res, { status: 400, code: "invalid_quote_request", message });
      }
      const target = canonicalTarget(rawTarget);
      const match = router.match({ method, path: target.key, host: clients.of(req).hostname });
      if (!match) return refuse(req, res, notRouted(method, target.path));
      const service = match.service;
      const named = { service: service.private ? null : service.name, method, path: target.path };
      const noStore = { "cache-control": "no-store" };
      if (match.free) {
        req.resume();
        sendJson(res, 200, { ...named, kind: "free", invoice_sats: 0 }, noStore);
        return { status: 200 };
      }
      const pricing = book.pricing(service.name);
      if (!pricing) {
        req.resume();
        const sats = msatToInvoiceSats((await pricer.quote(service, { method, path: target.key })).worstCaseMsat);
        sendJson(res, 200, { ...named, kind: "fixed", price_sats: sats, invoice_sats: sats }, noStore);
        return { status: 200 };
      }
      const priced = await priceMeteredRequest(
        pricer,
        service,
        pricing,
        { method, path: target.key },
        req.headers,
        () => readBody(req, config.limits.maxBodyBytes),
      );
      req.resume();
      sendJson(
        res,
        200,
        {
          ...named,
          kind: "metered",
          reserve_msat: priced.quote.worstCaseMsat,
          deposit_msat: priced.depositMsat ?? null,
          invoice_sats: msatToInvoiceSats(newTokenDepositMsat(priced.quote, priced.depositMsat)),
          quote: describeQuote(priced.quote),
        },
        noStore,
      );
      return { status: 200 };
    },
  };
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(",").some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, "");
    return tag === etag || tag === "*";
  });
}
