import { CodedError } from "@l402-gateway/l402";
import type { ServiceConfig } from "../config/schema.js";
import { completionPrompt, type LlmRequest } from "../llm/llm-request.js";
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
  /** @param counters the upstreams' token counters, for prompt tokens. */
  constructor(
    private readonly book: PriceSource,
    private readonly counters: TokenCounters,
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
    const countsPrompt = (rule.tokens?.promptMsatPerToken ?? 0) > 0 || pricing.external !== undefined;
    const promptTokens = llm && countsPrompt ? await this.promptTokens(service, llm) : 0;
    const request = { model: llm?.model, promptTokens, maxTokens: llm?.maxTokens ?? 0 };
    if (pricing.external) {
      const price = await askExternalPricer(pricing.external, { service: service.name, ...line, ...request });
      if (price !== undefined) return externalQuote(price, request);
    }
    try {
      return quoteFor(rule, request, this.book.multiplierMilli(service.name));
    } catch (error) {
      if (error instanceof RangeError) throw new QuoteError("price_out_of_range", error.message);
      throw error;
    }
  }

  private async promptTokens(service: ServiceConfig, llm: LlmRequest): Promise<number> {
    const counter = this.counters.of(service.name);
    try {
      return llm.kind === "chat"
        ? await counter.chatPromptTokens(llm.body)
        : await counter.textTokens(completionPrompt(llm), true);
    } catch (error) {
      if (error instanceof TokenCountError && error.refusedByUpstream) {
        throw new QuoteError("invalid_request", error.message);
      }
      throw new QuoteError("pricing_unavailable", `cannot price this request now: ${(error as Error).message}`);
    }
  }
}
