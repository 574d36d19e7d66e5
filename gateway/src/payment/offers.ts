import {
  buildPaymentChallenge,
  formatPaymentChallenge,
  LIGHTNING_METHOD,
  type LightningChargeRequest,
  type LightningSessionRequest,
  type PaymentChallenge,
} from "@l402-gateway/l402";
import type { GatewayConfig, ServiceConfig } from "../config/schema.js";
import type { InvoiceClass } from "../lightning/invoice-pool.js";
import type { InvoiceBackend } from "../lightning/invoices.js";
import { msatToInvoiceSats } from "../pricing/quote.js";
import { networkOfInvoice } from "../refunds/invoice.js";
import { serviceSecret } from "./service-secret.js";

/** What one 402 charges: the price of a call (charge) or a deposit and the price of this request (session). */
export interface OfferAmounts {
  /** Charge: the call's price. Session: the deposit. */
  readonly sats: number;
  /** Session: what this request may cost at most, in whole sats (the `amount` of the session request). */
  readonly unitSats?: number;
}

/**
 * Builds the Payment challenges of a 402, each with an invoice of its own: `charge` for a fixed-price service,
 * `session` (a deposit) for a metered one, as the service's `schemes` allow. The challenge binds (HMAC `id`, with the
 * service's own secret) the realm, method, intent, request and expiry, so a credential for one service or amount
 * cannot be spent on another.
 */
const memoOf = (service: ServiceConfig, intent: "charge" | "session") =>
  intent === "charge" ? `Payment for ${service.name}` : `Payment session deposit for ${service.name}`;

export class PaymentOffers {
  constructor(
    private readonly backend: InvoiceBackend,
    private readonly secret: () => Promise<Buffer>,
    private readonly config: GatewayConfig["payment"],
  ) {}

  /** The intent a service offers under the Payment scheme, if any. */
  static intentOf(service: ServiceConfig): "charge" | "session" | undefined {
    if (service.pricing && service.schemes.includes("payment-session")) return "session";
    if (service.price && service.schemes.includes("payment-charge")) return "charge";
    return undefined;
  }

  /**
   * The invoices Payment offers ask for at the operator's amounts (a fixed price's charge, a session deposit of one of
   * `depositsMsat` within the service's bounds), for an invoice pool to make ahead.
   */
  static pooledInvoices(services: readonly ServiceConfig[], depositsMsat: readonly number[]): InvoiceClass[] {
    return services.flatMap((service): InvoiceClass[] => {
      const intent = PaymentOffers.intentOf(service);
      const expirySeconds = service.invoiceExpirySeconds;
      if (intent === "charge" && service.price) {
        return [{ sats: service.price.sats, memo: memoOf(service, intent), expirySeconds }];
      }
      if (intent !== "session" || !service.pricing) return [];
      const { minMsat, maxMsat } = service.pricing.deposit;
      return depositsMsat
        .filter((msat) => msat >= minMsat && msat <= maxMsat)
        .map((msat) => ({ sats: msatToInvoiceSats(msat), memo: memoOf(service, intent), expirySeconds }));
    });
  }

  /** The WWW-Authenticate values to add (none when the service offers no Payment intent). */
  async challenges(service: ServiceConfig, amounts: OfferAmounts): Promise<PaymentChallenge[]> {
    const intent = PaymentOffers.intentOf(service);
    if (intent === undefined) return [];
    const memo = memoOf(service, intent);
    const invoice = await this.backend.createInvoice({
      sats: amounts.sats,
      memo,
      expirySeconds: service.invoiceExpirySeconds,
    });
    const network = networkOfInvoice(invoice.request);
    const request: LightningChargeRequest | LightningSessionRequest =
      intent === "charge"
        ? {
            amount: String(amounts.sats),
            currency: "sat",
            description: memo,
            methodDetails: { invoice: invoice.request, paymentHash: invoice.paymentHash, network },
          }
        : {
            amount: String(Math.max(1, amounts.unitSats ?? 1)),
            currency: "sat",
            description: memo,
            unitType: "request",
            depositInvoice: invoice.request,
            paymentHash: invoice.paymentHash,
            depositAmount: String(amounts.sats),
          };
    const expires = new Date(
      Math.min(Date.now() + this.config.challengeTtlSeconds * 1000, invoice.expiresAt.getTime()),
    );
    return [
      buildPaymentChallenge({
        secret: serviceSecret(await this.secret(), service.name),
        realm: this.config.realm,
        method: LIGHTNING_METHOD,
        intent,
        request,
        expires,
      }),
    ];
  }

  static format(challenges: readonly PaymentChallenge[]): string[] {
    return challenges.map(formatPaymentChallenge);
  }
}
