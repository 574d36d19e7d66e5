import { formatChallenge, type MintedToken, mintToken } from "@l402-gateway/l402";
import type { ServiceConfig } from "../config/schema.js";
import type { InvoiceClass } from "../lightning/invoice-pool.js";
import type { CreatedInvoice, InvoiceBackend } from "../lightning/invoices.js";
import type { Pricer } from "../pricing/pricer.js";
import { describeQuote, msatToInvoiceSats, type Quote } from "../pricing/quote.js";
import type { RootKeys } from "../store/store.js";
import type { Authenticated } from "./authenticator.js";
import { carriedCaveats, tokenCaveats } from "./caveats.js";
import type { MacaroonKeys } from "./macaroon-keys.js";

export interface Challenge {
  /** WWW-Authenticate values: LSAT first for old clients (unless left out, see l402ChallengeLines), then L402. */
  readonly wwwAuthenticate: readonly string[];
  readonly body: {
    readonly code: string;
    readonly message: string;
    readonly price_sats: number;
    readonly invoice: string;
    readonly macaroon: string;
    readonly payment_hash: string;
    readonly expires_at: string;
    readonly [detail: string]: unknown;
  };
}

/**
 * The most the L402 challenge lines (LSAT and L402 together) may take of the WWW-Authenticate header. Each line
 * carries the macaroon twice (`macaroon=` and `token=`), so a large macaroon with both lines would pass common
 * clients' 16 KiB header limit once Payment offers are added; beyond this the LSAT line is left out.
 */
export const MAX_L402_CHALLENGE_BYTES = 8 * 1024;

/**
 * The L402 lines of a 402: LSAT then L402 (Aperture's order, for clients that read only the first), or the L402 line
 * alone when the service sets `lsatChallenge: false` or both lines together would pass MAX_L402_CHALLENGE_BYTES.
 */
export function l402ChallengeLines(service: ServiceConfig, macaroonBase64: string, invoice: string): readonly string[] {
  const [lsat, l402] = formatChallenge({ macaroonBase64, invoice });
  const both = Buffer.byteLength(lsat) + Buffer.byteLength(l402);
  return service.lsatChallenge && both <= MAX_L402_CHALLENGE_BYTES ? [lsat, l402] : [l402];
}

const accessMemo = (service: ServiceConfig) => `L402 access to ${service.name}`;

/** The invoices fixed-price challenges will ask for at the configured prices, for an invoice pool to make ahead. */
export function fixedPriceInvoices(services: readonly ServiceConfig[]): InvoiceClass[] {
  return services.flatMap((service) =>
    service.price
      ? [{ sats: service.price.sats, memo: accessMemo(service), expirySeconds: service.invoiceExpirySeconds }]
      : [],
  );
}

/**
 * The invoices metered challenges ask for when an agent deposits one of `depositsMsat` (`lnd.invoicePool.depositsMsat`,
 * each within the service's deposit bounds), for an invoice pool to make ahead. Other deposits are made on demand.
 */
export function depositInvoices(services: readonly ServiceConfig[], depositsMsat: readonly number[]): InvoiceClass[] {
  return services.flatMap((service) =>
    depositsMsat
      .filter(
        (msat) => service.pricing && msat >= service.pricing.deposit.minMsat && msat <= service.pricing.deposit.maxMsat,
      )
      .map((msat) => ({
        sats: msatToInvoiceSats(msat),
        memo: accessMemo(service),
        expirySeconds: service.invoiceExpirySeconds,
      })),
  );
}

export interface Reason {
  readonly code: string;
  readonly message: string;
}

/** Issues L402 challenges: an invoice on the operator's node, and a token bound to its payment hash. */
export class Challenger {
  constructor(
    private readonly backend: InvoiceBackend,
    private readonly store: RootKeys,
    private readonly pricer: Pricer,
    private readonly macaroonLocation: string,
    /** The authenticator's, to give it each new token's derived key (one HMAC less on the token's first request). */
    private readonly macaroonKeys?: MacaroonKeys,
  ) {}

  private async invoiceAndToken(
    service: ServiceConfig,
    sats: number,
    memo: string,
    caveats: readonly string[],
    tokenId?: Buffer,
  ): Promise<{ invoice: CreatedInvoice; token: MintedToken }> {
    const invoice = await this.backend.createInvoice({ sats, memo, expirySeconds: service.invoiceExpirySeconds });
    const token = mintToken({
      paymentHash: Buffer.from(invoice.paymentHash, "hex"),
      location: this.macaroonLocation,
      caveats,
      ...(tokenId ? { tokenId } : {}),
    });
    this.macaroonKeys?.remember(token.rootKeyId.toString("hex"), token.rootKey, token.macaroonKey);
    return { invoice, token };
  }

  private answer(
    service: ServiceConfig,
    reason: Reason,
    sats: number,
    invoice: CreatedInvoice,
    token: MintedToken,
    details: object,
  ): Challenge {
    return {
      wwwAuthenticate: l402ChallengeLines(service, token.macaroonBase64, invoice.request),
      body: {
        code: reason.code,
        message: reason.message,
        price_sats: sats,
        invoice: invoice.request,
        macaroon: token.macaroonBase64,
        payment_hash: invoice.paymentHash,
        expires_at: invoice.expiresAt.toISOString(),
        ...details,
      },
    };
  }

  private async newToken(service: ServiceConfig, sats: number, metered: boolean) {
    const now = new Date();
    const validUntil = new Date(now.getTime() + service.tokenLifetimeSeconds * 1000);
    const { invoice, token } = await this.invoiceAndToken(
      service,
      sats,
      accessMemo(service),
      tokenCaveats(service, validUntil),
    );
    await this.store.insertToken({
      tokenId: token.identifier.tokenId.toString("hex"),
      rootKeyId: token.rootKeyId.toString("hex"),
      rootKey: token.rootKey,
      paymentHash: invoice.paymentHash,
      service: service.name,
      priceSats: sats,
      invoice: invoice.request,
      createdAt: now,
      invoiceExpiresAt: invoice.expiresAt,
      validUntil,
      metered,
    });
    return { invoice, token };
  }

  /** A token for a fixed-price service: pay once, use until it expires. */
  async challenge(
    service: ServiceConfig,
    request: { method: string; path: string },
    reason: Reason,
  ): Promise<Challenge> {
    const sats = msatToInvoiceSats((await this.pricer.quote(service, request)).worstCaseMsat);
    const { invoice, token } = await this.newToken(service, sats, false);
    return this.answer(service, reason, sats, invoice, token, {});
  }

  /** A metered token whose invoice prepays `depositMsat` (rounded up to whole sats, all of it credited). */
  async meteredChallenge(
    service: ServiceConfig,
    quote: Quote,
    depositMsat: number,
    reason: Reason,
  ): Promise<Challenge> {
    const sats = msatToInvoiceSats(depositMsat);
    const { invoice, token } = await this.newToken(service, sats, true);
    return this.answer(service, reason, sats, invoice, token, {
      token_id: token.identifier.tokenId.toString("hex"),
      price_msat: quote.worstCaseMsat,
      deposit_msat: sats * 1000,
      quote: describeQuote(quote),
    });
  }

  /**
   * A top-up for a metered token whose balance cannot cover a request: a fresh invoice and a macaroon with the same
   * token id. Paying it credits the same token, so the agent may keep its old credential or, as a plain L402 client
   * does, use the new one; both draw on one balance. The new macaroon carries every caveat of the one presented (bar
   * its preimage caveat), in order, so it is never wider: a narrowed or delegated credential stays what it was.
   */
  async topUp(
    service: ServiceConfig,
    presented: Authenticated,
    quote: Quote,
    depositMsat: number,
    balanceMsat: number,
  ): Promise<Challenge> {
    const owner = presented.token;
    const sats = msatToInvoiceSats(depositMsat);
    const now = new Date();
    const { invoice, token } = await this.invoiceAndToken(
      service,
      sats,
      `L402 top-up for ${service.name}`,
      carriedCaveats(presented.caveats),
      Buffer.from(owner.tokenId, "hex"),
    );
    await this.store.insertTopUp({
      tokenId: owner.tokenId,
      rootKeyId: token.rootKeyId.toString("hex"),
      rootKey: token.rootKey,
      paymentHash: invoice.paymentHash,
      sats,
      invoice: invoice.request,
      createdAt: now,
      invoiceExpiresAt: invoice.expiresAt,
    });
    return this.answer(
      service,
      {
        code: "insufficient_balance",
        message: `this request may cost up to ${quote.worstCaseMsat} msat and the token's balance is ${balanceMsat} msat; pay the invoice to top it up`,
      },
      sats,
      invoice,
      token,
      {
        token_id: owner.tokenId,
        balance_msat: balanceMsat,
        price_msat: quote.worstCaseMsat,
        deposit_msat: sats * 1000,
        quote: describeQuote(quote),
      },
    );
  }
}
