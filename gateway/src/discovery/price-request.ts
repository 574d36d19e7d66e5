import type { IncomingHttpHeaders } from "node:http";
import type { PricingConfig } from "../config/pricing-schema.js";
import type { ServiceConfig } from "../config/schema.js";
import { type LlmRequest, llmKindOf, parseLlmRequest } from "../llm/llm-request.js";
import { requestedDeposit } from "../metering/deposit.js";
import type { Pricer } from "../pricing/pricer.js";
import type { Quote } from "../pricing/quote.js";

export interface PricedRequest {
  readonly quote: Quote;
  /** The deposit the request asked for with X-L402-Deposit-Msat, checked against the owner's bounds. */
  readonly depositMsat: number | undefined;
  readonly llm: LlmRequest | undefined;
}

/**
 * Prices one metered request exactly as the metered handler does before it reserves: the deposit header, the
 * OpenAI-style body read the one way it is forwarded, then the pricer. Throws DepositError, LlmRequestError or
 * QuoteError for what cannot be priced.
 *
 * @param body the raw request body; read only for an LLM endpoint.
 */
export async function priceMeteredRequest(
  pricer: Pricer,
  service: ServiceConfig,
  pricing: PricingConfig,
  line: { method: string; path: string },
  headers: IncomingHttpHeaders,
  body: () => Promise<Buffer>,
): Promise<PricedRequest> {
  const depositMsat = requestedDeposit(headers, pricing);
  const kind = llmKindOf(line.method, line.path);
  const llm = kind ? parseLlmRequest(kind, headers, await body(), pricing) : undefined;
  return { quote: await pricer.quote(service, line, llm), depositMsat, llm };
}

/** What a 402 for a new metered token asks for this request: the reservation or the deposit, in whole sats. */
export function newTokenInvoiceSats(priced: PricedRequest): number {
  return Math.ceil(Math.max(priced.quote.worstCaseMsat, priced.depositMsat ?? 0) / 1000);
}
