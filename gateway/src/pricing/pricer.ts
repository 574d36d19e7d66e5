import { CodedError } from "@l402-gateway/l402";
import type { ServiceConfig } from "../config/schema.js";
import { completionPrompt, type LlmRequest } from "../llm/llm-request.js";
import { profileOf } from "../upstream/kinds.js";
import { type ModelCatalogs, namesModel } from "../upstream/models.js";
import { TokenCountError, type TokenCounters } from "../upstream/token-counter.js";
import { askExternalPricer } from "./external.js";
import type { PriceBook } from "./price-book.js";
import { externalQuote, fixedQuote, type Quote, quoteFor } from "./quote.js";
import { matchRule } from "./rules.js";

/** Why a request cannot be priced: the price is not set or out of range, or cannot be worked out now. */
export type QuoteErrorCode =
  | "no_price"
  | "unpriced_endpoint"
  | "price_out_of_range"
  | "invalid_request"
  | "unknown_model"
  | "token_counting_misconfigured"
  | "pricing_unavailable";

/** A request that cannot be priced (refusals/answers.ts gives each code its HTTP status). */
export class QuoteError extends CodedError<QuoteErrorCode> {
  override readonly name = "QuoteError";
}

/** The request line a price is for: the method and the canonical path key (see canonical-target.ts). */
export interface PriceLine {
  readonly method: string;
  readonly path: string;
}

/**
 * The price stage: a quote for one request of any service, before anything runs. A fixed-price service's quote is
 * its fixed price (what a challenge asks for); a metered service's is the reservation and the rates its charge uses.
 * Throws QuoteError for a request that cannot be priced.
 */
export interface Pricer {
  /** @param llm the parsed body of an LLM endpoint (metered services only), whose tokens a quote may count. */
  quote(service: ServiceConfig, line: PriceLine, llm?: LlmRequest): Promise<Quote>;
}

/** What a quote reads from the live prices: a service's pricing and its surge multiplier. */
export type PriceSource = Pick<PriceBook, "pricing" | "multiplierMilli">;

/**
 * Prices every service as its config says. A fixed price is a quote of that price. A metered request gets the
 * matching rule's rates with the exact prompt tokens (from the upstream's tokenizer) and max_tokens, the fee and
 * minimum, times the current surge multiplier; or the owner's external pricer's price, falling back to the rule when
 * it does not answer in time.
 */
export class ConfiguredPricer implements Pricer {
  /**
   * @param counters the upstreams' token counters, for prompt tokens.
   * @param models the upstreams' model ids, for the quote and to refuse a model the upstream does not serve.
   */
  constructor(
    private readonly book: PriceSource,
    private readonly counters: TokenCounters,
    private readonly models?: ModelCatalogs,
  ) {}

  /** @param line the method and the canonical path key (see canonical-target.ts) */
  async quote(service: ServiceConfig, line: PriceLine, llm?: LlmRequest): Promise<Quote> {
    if (service.price) return fixedQuote(service.price.sats);
    const pricing = this.book.pricing(service.name);
    if (!pricing) throw new Error(`service ${service.name} has neither a price nor pricing rules`);
    const rule = matchRule(pricing, line.path, llm?.model);
    if (!rule) {
      throw new QuoteError(
        "no_price",
        `no price is set for ${line.method} ${line.path}${llm?.model ? ` with model ${llm.model}` : ""}`,
      );
    }
    // Fail closed: a per-token price applies only to an endpoint whose tokens the gateway can read and bound. Any
    // other request under such a rule would be charged the fee alone for work the gateway cannot see.
    if (rule.tokens && !llm) {
      throw new QuoteError(
        "unpriced_endpoint",
        `${line.method} ${line.path} is not an endpoint priced by tokens (POST …/chat/completions or …/completions); the owner can make it free or give it a per-call price`,
      );
    }
    const models = llm ? await this.upstreamModels(service, llm.model) : undefined;
    const countsPrompt = (rule.tokens?.promptMsatPerToken ?? 0) > 0 || pricing.external !== undefined;
    const promptTokens = llm && countsPrompt ? await this.promptTokens(service, llm) : 0;
    const request = { model: llm?.model, promptTokens, maxTokens: llm?.maxTokens ?? 0 };
    const promptCount: Quote["promptCount"] = this.counters.of(service.name).exact ? "exact" : "bound";
    const described = { ...(llm && countsPrompt ? { promptCount } : {}), ...(models ? { models } : {}) };
    if (pricing.external) {
      const price = await askExternalPricer(pricing.external, { service: service.name, ...line, ...request });
      if (price !== undefined) return { ...externalQuote(price, request), ...described };
    }
    try {
      return { ...quoteFor(rule, request, this.book.multiplierMilli(service.name)), ...described };
    } catch (error) {
      if (error instanceof RangeError) throw new QuoteError("price_out_of_range", error.message);
      throw error;
    }
  }

  /**
   * The upstream's model ids, for the quote; a model the upstream would refuse by name (see kinds.ts) is refused
   * here, before any count or payment, with the ids it serves.
   */
  private async upstreamModels(service: ServiceConfig, model: string | undefined) {
    if (!this.models) return undefined;
    const ids = await this.models.ids(service.name);
    if (ids && model !== undefined && profileOf(service.upstreamKind).refusesUnknownModel) {
      if (!namesModel(service.upstreamKind, ids, model)) {
        throw new QuoteError("unknown_model", `model ${model} is not served here; models: ${ids.join(", ")}`);
      }
    }
    return ids;
  }

  private async promptTokens(service: ServiceConfig, llm: LlmRequest): Promise<number> {
    const counter = this.counters.of(service.name);
    try {
      return llm.kind === "chat"
        ? await counter.chatPromptTokens(llm.body)
        : await counter.completionPromptTokens(completionPrompt(llm), llm.model);
    } catch (error) {
      if (error instanceof TokenCountError && error.blame === "client") {
        throw new QuoteError("invalid_request", error.message);
      }
      // The operator's set-up, not the client's request: the gateway's upstream does not count as its kind should.
      if (error instanceof TokenCountError && error.blame === "operator") {
        throw new QuoteError("token_counting_misconfigured", `cannot price this request: ${error.message}`);
      }
      throw new QuoteError("pricing_unavailable", `cannot price this request now: ${(error as Error).message}`);
    }
  }
}
