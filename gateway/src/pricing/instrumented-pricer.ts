import type { ServiceConfig } from "../config/schema.js";
import type { LlmRequest } from "../llm/llm-request.js";
import type { GatewayMetrics } from "../metrics/metrics.js";
import type { PriceLine, Pricer } from "./pricer.js";
import { msatToInvoiceSats, type Quote } from "./quote.js";

/** A Pricer that records how long quoting takes, and the last fixed price per service (metered ones have rates). */
export class InstrumentedPricer implements Pricer {
  constructor(
    private readonly inner: Pricer,
    private readonly metrics: GatewayMetrics,
  ) {}

  async quote(service: ServiceConfig, line: PriceLine, llm?: LlmRequest): Promise<Quote> {
    const stop = this.metrics.requestDuration.startTimer({ service: service.name, phase: "pricing" });
    try {
      const quote = await this.inner.quote(service, line, llm);
      if (service.price) this.metrics.priceSats.set({ service: service.name }, msatToInvoiceSats(quote.worstCaseMsat));
      return quote;
    } finally {
      stop();
    }
  }
}
