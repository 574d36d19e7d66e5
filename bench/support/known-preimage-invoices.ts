import { createHash } from "node:crypto";
import type { CreatedInvoice, InvoiceBackend } from "@l402-gateway/gateway";

/**
 * Invoices without a node for the benchmarks: each payment hash is that of one of `preimages` (in turn), so the
 * benchmark can present a valid paid credential and verification runs exactly the production path.
 */
export class KnownPreimageInvoices implements InvoiceBackend {
  private issued = 0;

  constructor(private readonly preimages: readonly Buffer[]) {}

  async createInvoice(args: { expirySeconds: number }): Promise<CreatedInvoice> {
    const preimage = this.preimages[this.issued++ % this.preimages.length] ?? Buffer.alloc(32);
    return {
      paymentHash: createHash("sha256").update(preimage).digest("hex"),
      request: "lnbcrt-bench",
      expiresAt: new Date(Date.now() + args.expirySeconds * 1000),
    };
  }
  async lookupSettlement() {
    return undefined;
  }
  subscribeSettlements() {
    return () => {};
  }
  async ping() {}
}
