import type { ServiceConfig } from "../config/schema.js";

export interface PriceQuote {
  readonly sats: number;
}

export interface PriceRequest {
  readonly service: ServiceConfig;
  readonly method: string;
  readonly path: string;
}

/** Decides what a challenge costs. The dynamic-pricing work plugs in here. */
export interface Pricer {
  quote(request: PriceRequest): Promise<PriceQuote>;
}

/** A fixed price per token, from the service's config. */
export class StaticPricer implements Pricer {
  async quote(request: PriceRequest): Promise<PriceQuote> {
    const price = request.service.price;
    if (!price) throw new Error(`service ${request.service.name} is metered: its prices come from its pricing rules`);
    return { sats: price.sats };
  }
}
