import type { IncomingHttpHeaders } from "node:http";
import type { PricingConfig } from "../config/pricing-schema.js";
import type { ServiceConfig } from "../config/schema.js";
import { type LlmRequest, llmKindOf, parseLlmRequest } from "../llm/llm-request.js";
import type { PriceLine, Pricer } from "../pricing/pricer.js";
import type { Quote } from "../pricing/quote.js";
import { requestedDeposit } from "./deposit.js";

/** A metered request as it is priced and forwarded: its deposit and its parsed LLM body. */
export interface MeteredRequest {
  /** The deposit the request asked for with X-L402-Deposit-Msat, checked against the owner's bounds. */
  readonly depositMsat: number | undefined;
  readonly llm: LlmRequest | undefined;
}

export interface PricedRequest extends MeteredRequest {
  readonly quote: Quote;
}

/**
 * The first pricing step of a metered request, for the metered admit stage and the quote endpoint alike: the
 * deposit header, then the OpenAI-style body read the one way it is forwarded. Throws DepositError or
 * LlmRequestError for what cannot be priced.
 *
 * @param body the raw request body; read only for an LLM endpoint.
 */
export async function readMeteredRequest(
  pricing: PricingConfig,
  line: PriceLine,
  headers: IncomingHttpHeaders,
  body: () => Promise<Buffer>,
): Promise<MeteredRequest> {
  const depositMsat = requestedDeposit(headers, pricing);
  const kind = llmKindOf(line.method, line.path);
  return { depositMsat, llm: kind ? parseLlmRequest(kind, headers, await body(), pricing) : undefined };
}

/** Both pricing steps, as the metered admit stage takes them: read (see readMeteredRequest), then the pricer. */
export async function priceMeteredRequest(
  pricer: Pricer,
  service: ServiceConfig,
  pricing: PricingConfig,
  line: PriceLine,
  headers: IncomingHttpHeaders,
  body: () => Promise<Buffer>,
): Promise<PricedRequest> {
  const read = await readMeteredRequest(pricing, line, headers, body);
  return { ...read, quote: await pricer.quote(service, line, read.llm) };
}

/** What a 402 for a new metered token asks for a request: its reservation, or the deposit it asked for if larger. */
export function newTokenDepositMsat(quote: Quote, depositMsat: number | undefined): number {
  return Math.max(quote.worstCaseMsat, depositMsat ?? 0);
}
