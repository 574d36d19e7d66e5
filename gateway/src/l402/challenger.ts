import { formatChallenge, mintToken } from "@l402-gateway/l402";
import type { ServiceConfig } from "../config/schema.js";
import type { InvoiceBackend } from "../lightning/invoices.js";
import type { Pricer } from "../pricing/pricer.js";
import type { TokenStore } from "../store/store.js";
import { tokenCaveats } from "./caveats.js";

export interface Challenge {
  /** Two WWW-Authenticate values: LSAT first for old clients, then L402. */
  readonly wwwAuthenticate: readonly [string, string];
  readonly body: {
    readonly code: string;
    readonly message: string;
    readonly price_sats: number;
    readonly invoice: string;
    readonly macaroon: string;
    readonly payment_hash: string;
    readonly expires_at: string;
  };
}

/** Issues an L402 challenge: an invoice on the operator's node, and a token bound to its payment hash. */
export class Challenger {
  constructor(
    private readonly backend: InvoiceBackend,
    private readonly store: TokenStore,
    private readonly pricer: Pricer,
    private readonly macaroonLocation: string,
  ) {}

  async challenge(
    service: ServiceConfig,
    request: { method: string; path: string },
    reason: { code: string; message: string },
  ): Promise<Challenge> {
    const price = await this.pricer.quote({ service, method: request.method, path: request.path });
    const invoice = await this.backend.createInvoice({
      sats: price.sats,
      memo: `L402 access to ${service.name}`,
      expirySeconds: service.invoiceExpirySeconds,
    });
    const now = new Date();
    const validUntil = new Date(now.getTime() + service.tokenLifetimeSeconds * 1000);
    const token = mintToken({
      paymentHash: Buffer.from(invoice.paymentHash, "hex"),
      location: this.macaroonLocation,
      caveats: tokenCaveats(service, validUntil),
    });
    await this.store.insertToken({
      tokenId: token.identifier.tokenId.toString("hex"),
      rootKeyId: token.rootKeyId.toString("hex"),
      rootKey: token.rootKey,
      paymentHash: invoice.paymentHash,
      service: service.name,
      priceSats: price.sats,
      invoice: invoice.request,
      createdAt: now,
      invoiceExpiresAt: invoice.expiresAt,
      validUntil,
    });
    return {
      wwwAuthenticate: formatChallenge({ macaroonBase64: token.macaroonBase64, invoice: invoice.request }),
      body: {
        code: reason.code,
        message: reason.message,
        price_sats: price.sats,
        invoice: invoice.request,
        macaroon: token.macaroonBase64,
        payment_hash: invoice.paymentHash,
        expires_at: invoice.expiresAt.toISOString(),
      },
    };
  }
}
