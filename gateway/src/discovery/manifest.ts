import { createHash } from "node:crypto";
import { BALANCE_PATH, CLOSE_PATH, MANIFEST_PATH, QUOTE_PATH } from "@l402-gateway/l402";
import type { PriceRule, PricingConfig } from "../config/pricing-schema.js";
import type { ServiceConfig } from "../config/schema.js";
import { DEPOSIT_HEADER } from "../metering/deposit.js";
import type { PriceBook } from "../pricing/price-book.js";
import { MULTIPLIER_SCALE } from "../pricing/quote.js";

/** Where agents find the manifest, the quote, balance and close endpoints: the wire contract in l402/. */
export { BALANCE_PATH, CLOSE_PATH, MANIFEST_PATH, QUOTE_PATH };

/** How long an agent or a cache may reuse the manifest without asking again: prices can change (surge, admin). */
export const MANIFEST_MAX_AGE_SECONDS = 30;

/**
 * How a metered request's price is computed from a rule, so that an agent can evaluate it itself:
 * `worst_case = ceil(max(base, minimum_msat, 1) × surge_multiplier)`, where `base` is `per_call_msat + fee_msat` for a
 * per-call rule, and `prompt_tokens × prompt_msat_per_token + max_tokens × completion_msat_per_token + fee_msat` for
 * a per-token rule. The worst case is reserved; a per-token call is then charged its reported usage at the same
 * rates, never more than the reservation.
 */
const METERED_FORMULA =
  "reserve = ceil(max(base, minimum_msat, 1) * surge_multiplier); base = per_call_msat + fee_msat, or " +
  "prompt_tokens * prompt_msat_per_token + max_tokens * completion_msat_per_token + fee_msat; a per-token call is " +
  "charged its reported usage at the same rates, at most the reserve";

function describeRule(rule: PriceRule): Record<string, unknown> {
  return {
    path_prefix: rule.pathPrefix ?? null,
    model: rule.model ?? null,
    ...(rule.perCallMsat === undefined
      ? {
          kind: "tokens",
          prompt_msat_per_token: rule.tokens?.promptMsatPerToken ?? 0,
          completion_msat_per_token: rule.tokens?.completionMsatPerToken ?? 0,
        }
      : { kind: "per_call", per_call_msat: rule.perCallMsat }),
    fee_msat: rule.feeMsat ?? 0,
    minimum_msat: rule.minimumMsat ?? 0,
  };
}

function describeMetered(pricing: PricingConfig, multiplierMilli: number): Record<string, unknown> {
  const rules = pricing.rules.filter((rule) => rule.private !== true);
  return {
    kind: "metered",
    formula: METERED_FORMULA,
    // First matching rule wins. With hidden rules, or an external pricer, the quote endpoint is the exact answer.
    rules: rules.map(describeRule),
    rules_complete: rules.length === pricing.rules.length && pricing.external === undefined,
    surge_multiplier: multiplierMilli / MULTIPLIER_SCALE,
    surge_ceiling: pricing.surge?.ceiling ?? 1,
    default_max_tokens: pricing.defaultMaxTokens,
    max_tokens_cap: pricing.maxTokensCap,
    deposit: { min_msat: pricing.deposit.minMsat, max_msat: pricing.deposit.maxMsat, header: DEPOSIT_HEADER },
  };
}

/** The model ids a service's upstream serves, as it names them; undefined when unknown. */
export type ModelsOf = (service: string) => readonly string[] | undefined;

function describeService(service: ServiceConfig, book: PriceBook, modelsOf: ModelsOf): Record<string, unknown> {
  const pricing = book.pricing(service.name);
  const models = pricing ? modelsOf(service.name) : undefined;
  const { match } = service;
  return {
    name: service.name,
    tier: service.tier,
    match: {
      methods: match.methods ?? null,
      path_prefix: match.pathPrefix ?? null,
      path_regex: match.pathRegex ?? null,
      host: match.host ?? null,
    },
    free_paths: service.freePaths,
    capabilities: service.capabilities,
    capability_rules: service.capabilityRules.map((rule) => ({
      path_prefix: rule.pathPrefix,
      methods: rule.methods ?? null,
      capability: rule.capability,
    })),
    // What its 402 offers and which credentials it accepts: l402, payment-charge, payment-session.
    schemes: service.schemes,
    token_lifetime_seconds: service.tokenLifetimeSeconds,
    invoice_expiry_seconds: service.invoiceExpirySeconds,
    // The model ids a request's `model` may name, as the upstream lists them (null when it has not said).
    ...(pricing ? { models: models ?? null } : {}),
    pricing: pricing
      ? describeMetered(pricing, book.multiplierMilli(service.name))
      : // Pay once, use until the credential expires (token_lifetime_seconds).
        { kind: "fixed", price_sats: service.price?.sats ?? null, per: "credential" },
  };
}

/**
 * The public price manifest: every service the operator did not mark private, in routing order, with its paths,
 * pricing rule as data, capabilities, deposit bounds and free paths. It names no upstream, no health path, no
 * external pricer URL and nothing marked private.
 */
export function buildManifest(
  services: readonly ServiceConfig[],
  book: PriceBook,
  modelsOf: ModelsOf = () => undefined,
): Record<string, unknown> {
  const shown = services.filter((service) => !service.private);
  const offered = new Set(shown.flatMap((service) => service.schemes));
  const withPayment = offered.has("payment-charge") || offered.has("payment-session");
  return {
    version: 1,
    payment: {
      schemes: [...(offered.has("l402") ? ["L402", "LSAT"] : []), ...(withPayment ? ["Payment"] : [])],
      network: "lightning",
      // A request without a credential gets 402 with this challenge; a metered token's balance is topped up the same way.
      challenge: 'WWW-Authenticate: L402 macaroon="<base64>", invoice="<bolt11>"',
      authorization: "Authorization: L402 <macaroon>:<preimage hex>",
      ...(withPayment
        ? {
            // HTTP Payment scheme, method lightning (docs/payment-schemes.md); each service's `schemes` says which intent.
            payment_challenge:
              'WWW-Authenticate: Payment id="…", realm="…", method="lightning", intent="charge|session", request="…"',
            payment_authorization: "Authorization: Payment <base64url credential>",
          }
        : {}),
    },
    endpoints: { quote: QUOTE_PATH, balance: BALANCE_PATH, close: CLOSE_PATH },
    units: { metered: "msat", fixed: "sats" },
    services: shown.map((service) => describeService(service, book, modelsOf)),
  };
}

/** The manifest's body and its strong ETag (over the exact bytes), for conditional requests. */
export function manifestBody(manifest: Record<string, unknown>): { body: string; etag: string } {
  const body = JSON.stringify(manifest);
  return { body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"` };
}
