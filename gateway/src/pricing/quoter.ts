import type { ServiceConfig } from "../config/schema.js";
import { completionPrompt, type LlmRequest } from "../llm/llm-request.js";
import { TokenCountError, TokenCounter } from "../upstream/token-counter.js";
import { askExternalPricer } from "./external.js";
import type { PriceBook } from "./price-book.js";
import { externalQuote, type Quote, quoteFor } from "./quote.js";
import { matchRule } from "./rules.js";

export class QuoteError extends Error {
  override readonly name = "QuoteError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a quote reads from the live prices: a service's pricing and its surge multiplier. */
export type PriceSource = Pick<PriceBook, "pricing" | "multiplierMilli">;

/**
 * Prices one request of a metered service before anything runs: the matching rule's rates with the exact prompt
 * tokens (from the upstream's tokenizer) and max_tokens, the fee and minimum, times the current surge multiplier;
 * or the owner's external pricer, falling back to the rule when it does not answer in time.
 */
export class Quoter {
  /** One counter per service, replaced when its token-counting settings change. */
  private readonly counters = new Map<string, TokenCounter>();

  /** @param upstreamOf a live upstream of a service, for its tokenizer. */
  constructor(
    private readonly book: PriceSource,
    private readonly upstreamOf: (service: string) => string,
  ) {}

  counter(service: ServiceConfig): TokenCounter {
    const pricing = this.book.pricing(service.name);
    if (!pricing) throw new Error(`service ${service.name} is not metered`);
    let counter = this.counters.get(service.name);
    if (counter?.config !== pricing.tokenCounting) {
      const name = service.name;
      counter = new TokenCounter(() => this.upstreamOf(name), pricing.tokenCounting);
      this.counters.set(name, counter);
    }
    return counter;
  }

  /** @param line the method and the canonical path key (see canonical-target.ts) */
  async quote(
    service: ServiceConfig,
    line: { method: string; path: string },
    llm: LlmRequest | undefined,
  ): Promise<Quote> {
    const pricing = this.book.pricing(service.name);
    if (!pricing) throw new Error(`service ${service.name} is not metered`);
    const rule = matchRule(pricing, line.path, llm?.model);
    if (!rule) {
      throw new QuoteError(
        400,
        "no_price",
        `no price is set for ${line.method} ${line.path}${llm?.model ? ` with model ${llm.model}` : ""}`,
      );
    }
    // Fail closed: a per-token price applies only to an endpoint whose tokens the gateway can read and bound. Any
    // other request under such a rule would be charged the fee alone for work the gateway cannot see.
    if (rule.tokens && !llm) {
      throw new QuoteError(
        400,
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
      if (error instanceof RangeError) throw new QuoteError(400, "price_out_of_range", error.message);
      throw error;
    }
  }

  private async promptTokens(service: ServiceConfig, llm: LlmRequest): Promise<number> {
    const counter = this.counter(service);
    try {
      return llm.kind === "chat"
        ? await counter.chatPromptTokens(llm.body)
        : await counter.textTokens(completionPrompt(llm), true);
    } catch (error) {
      if (error instanceof TokenCountError && error.refusedByUpstream) {
        throw new QuoteError(400, "invalid_request", error.message);
      }
      throw new QuoteError(503, "pricing_unavailable", `cannot price this request now: ${(error as Error).message}`);
    }
  }
}
