import type { PriceRule } from "../config/pricing-schema.js";

/** Multipliers are carried in thousandths so that every price stays an integer number of msat. */
export const MULTIPLIER_SCALE = 1_000;

/** What one request may cost at most, and the rates its actual charge will use, fixed when it was quoted. */
export interface Quote {
  readonly kind: "per_call" | "tokens";
  readonly model: string | undefined;
  readonly promptTokens: number;
  readonly maxTokens: number;
  readonly promptMsatPerToken: number;
  readonly completionMsatPerToken: number;
  readonly perCallMsat: number;
  readonly feeMsat: number;
  readonly minimumMsat: number;
  /** Surge multiplier × 1000 at quote time. */
  readonly multiplierMilli: number;
  /** The reservation: the most this request can be charged. */
  readonly worstCaseMsat: number;
  /** Where the price came from: a fixed-price service's config, a pricing rule, or the owner's external pricer. */
  readonly source: "fixed" | "rule" | "external";
  /**
   * `bound` when promptTokens is an upper bound (an upstream with no tokenizer: the call is charged the prompt tokens
   * the upstream reports); exact otherwise.
   */
  readonly promptCount?: "exact" | "bound";
  /** The model ids the service's upstream serves, as it names them (undefined when it has not said). */
  readonly models?: readonly string[];
}

function applyMultiplier(msat: number, multiplierMilli: number): number {
  const result = Math.ceil((msat * multiplierMilli) / MULTIPLIER_SCALE);
  if (!Number.isSafeInteger(result) || result <= 0)
    throw new RangeError(`price ${result} msat is not a positive safe integer`);
  return result;
}

/** Charge for a call that used `promptTokens` and `completionTokens` at the quote's rates (never above the worst case). */
export function costOf(quote: Quote, usage: { promptTokens: number; completionTokens: number }): number {
  if (quote.kind === "per_call") return quote.worstCaseMsat;
  const base =
    usage.promptTokens * quote.promptMsatPerToken +
    usage.completionTokens * quote.completionMsatPerToken +
    quote.feeMsat;
  return Math.min(applyMultiplier(Math.max(base, quote.minimumMsat, 1), quote.multiplierMilli), quote.worstCaseMsat);
}

/** The quote for a request under a rule: prompt tokens plus max_tokens at the rule's rates, fee, minimum, surge. */
export function quoteFor(
  rule: PriceRule,
  request: { model: string | undefined; promptTokens: number; maxTokens: number },
  multiplierMilli: number,
): Quote {
  const common = {
    model: request.model,
    promptTokens: request.promptTokens,
    maxTokens: request.maxTokens,
    feeMsat: rule.feeMsat ?? 0,
    minimumMsat: rule.minimumMsat ?? 0,
    multiplierMilli,
    source: "rule" as const,
  };
  if (rule.perCallMsat !== undefined) {
    const base = Math.max(rule.perCallMsat + common.feeMsat, common.minimumMsat);
    return {
      ...common,
      kind: "per_call",
      promptMsatPerToken: 0,
      completionMsatPerToken: 0,
      perCallMsat: rule.perCallMsat,
      worstCaseMsat: applyMultiplier(base, multiplierMilli),
    };
  }
  const tokens = rule.tokens ?? { promptMsatPerToken: 0, completionMsatPerToken: 0 };
  const base =
    request.promptTokens * tokens.promptMsatPerToken +
    request.maxTokens * tokens.completionMsatPerToken +
    common.feeMsat;
  return {
    ...common,
    kind: "tokens",
    promptMsatPerToken: tokens.promptMsatPerToken,
    completionMsatPerToken: tokens.completionMsatPerToken,
    perCallMsat: 0,
    worstCaseMsat: applyMultiplier(Math.max(base, common.minimumMsat, 1), multiplierMilli),
  };
}

/** One price for the whole call, whatever it uses: no rates, fee, minimum or surge. */
function flatQuote(
  priceMsat: number,
  request: { model: string | undefined; promptTokens: number; maxTokens: number },
  source: Quote["source"],
): Quote {
  return {
    kind: "per_call",
    model: request.model,
    promptTokens: request.promptTokens,
    maxTokens: request.maxTokens,
    promptMsatPerToken: 0,
    completionMsatPerToken: 0,
    perCallMsat: priceMsat,
    feeMsat: 0,
    minimumMsat: 0,
    multiplierMilli: MULTIPLIER_SCALE,
    worstCaseMsat: priceMsat,
    source,
  };
}

/** An external pricer's answer, used as a per-call price. */
export function externalQuote(
  priceMsat: number,
  request: { model: string | undefined; promptTokens: number; maxTokens: number },
): Quote {
  return flatQuote(priceMsat, request, "external");
}

/** A fixed-price service's quote: the price of one L402 token (pay once, use until it expires), as a per-call price. */
export function fixedQuote(sats: number): Quote {
  return flatQuote(sats * 1000, { model: undefined, promptTokens: 0, maxTokens: 0 }, "fixed");
}

/** Invoices are in whole sats: round up, so the balance credited is never below the quote. */
export function msatToInvoiceSats(msat: number): number {
  return Math.ceil(msat / 1000);
}

/** The breakdown shown to agents in the 402 body and the quote endpoint. */
export function describeQuote(quote: Quote): Record<string, unknown> {
  return {
    kind: quote.kind,
    source: quote.source,
    model: quote.model ?? null,
    prompt_tokens: quote.promptTokens,
    max_tokens: quote.maxTokens,
    prompt_msat_per_token: quote.promptMsatPerToken,
    completion_msat_per_token: quote.completionMsatPerToken,
    per_call_msat: quote.perCallMsat,
    fee_msat: quote.feeMsat,
    minimum_msat: quote.minimumMsat,
    surge_multiplier: quote.multiplierMilli / MULTIPLIER_SCALE,
    worst_case_msat: quote.worstCaseMsat,
    ...(quote.promptCount ? { prompt_tokens_are: quote.promptCount === "bound" ? "upper_bound" : "exact" } : {}),
    ...(quote.models ? { models: quote.models } : {}),
  };
}
