import type { CreatedInvoice, InvoiceBackend, Settlement } from "../lightning/invoices.js";
import type { GatewayMetrics } from "./metrics.js";

/** An InvoiceBackend that records latency and errors of every LND call. */
export class InstrumentedInvoiceBackend implements InvoiceBackend {
  constructor(
    private readonly inner: InvoiceBackend,
    private readonly metrics: GatewayMetrics,
  ) {}

  createInvoice(args: { sats: number; memo: string; expirySeconds: number }): Promise<CreatedInvoice> {
    return this.metrics.timeLnd("create_invoice", () => this.inner.createInvoice(args));
  }

  lookupSettlement(paymentHash: string): Promise<Settlement | undefined> {
    return this.metrics.timeLnd("lookup_invoice", () => this.inner.lookupSettlement(paymentHash));
  }

  subscribeSettlements(
    afterIndex: number,
    onSettled: (s: Settlement) => void,
    onError: (e: Error) => void,
  ): () => void {
    return this.inner.subscribeSettlements(afterIndex, onSettled, (error) => {
      this.metrics.lndCallErrors.inc({ method: "subscribe_invoices" });
      onError(error);
    });
  }

  ping(): Promise<void> {
    return this.metrics.timeLnd("ping", () => this.inner.ping());
  }
}
