import { createHash, randomBytes } from "node:crypto";
import type { CreatedInvoice, InvoiceBackend, Settlement } from "@l402-gateway/gateway";
import { formatAuthorization } from "@l402-gateway/l402";

/**
 * Invoices without a node whose preimages the test knows, so that it can present a paid credential. For tests of
 * the gateway's logic only: payments themselves are proven on regtest.
 */
export class KnownPreimageInvoices implements InvoiceBackend {
  readonly preimages = new Map<string, Buffer>();

  async createInvoice(args: { sats: number; expirySeconds: number }): Promise<CreatedInvoice> {
    const preimage = randomBytes(32);
    const paymentHash = createHash("sha256").update(preimage).digest("hex");
    this.preimages.set(paymentHash, preimage);
    return {
      paymentHash,
      request: `lnbcrt${args.sats}known${this.preimages.size}`,
      expiresAt: new Date(Date.now() + args.expirySeconds * 1000),
    };
  }

  /** The preimage of an invoice this backend created: what paying it would reveal. */
  preimageOf(paymentHash: string): Buffer {
    const preimage = this.preimages.get(paymentHash);
    if (!preimage) throw new Error(`no invoice with payment hash ${paymentHash}`);
    return preimage;
  }

  /** Never settled here; a subclass may say otherwise. */
  async lookupSettlement(_paymentHash: string): Promise<Settlement | undefined> {
    return undefined;
  }

  subscribeSettlements() {
    return () => {};
  }

  async ping() {}
}

/**
 * Buys a metered token from a gateway whose invoices `invoices` makes: asks for a chat completion with a deposit,
 * and "pays" by presenting the invoice's preimage. Returns the Authorization value.
 */
export async function buyMeteredToken(
  gatewayUrl: string,
  invoices: KnownPreimageInvoices,
  depositMsat: number,
  model = "m",
) {
  const challenge = await fetch(`${gatewayUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-l402-deposit-msat": String(depositMsat) },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });
  if (challenge.status !== 402) throw new Error(`expected a 402 challenge, got ${challenge.status}`);
  const { macaroon, payment_hash } = (await challenge.json()) as { macaroon: string; payment_hash: string };
  return formatAuthorization({ macaroons: [macaroon], preimage: invoices.preimageOf(payment_hash) });
}
