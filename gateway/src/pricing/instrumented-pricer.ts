import type { GatewayMetrics } from "../metrics/metrics.js";
import type { PriceQuote, PriceRequest, Pricer } from "./pricer.js";

/** A Pricer that records how long quoting takes and the last price per service. */
export class InstrumentedPricer implements Pricer {
  constructor(
    private readonly inner: Pricer,
    private readonly metrics: GatewayMetrics,
  ) {}

  async quote(request: PriceRequest): Promise<PriceQuote> {
    const stop = this.metrics.requestDuration.startTimer({ service: request.service.name, phase: "pricing" });
    try {
      const quote = await this.inner.quote(request);
      this.metrics.priceSats.set({ service: request.service.name }, quote.sats);
      return quote;
    } finally {
      stop();
    }
  }
}
