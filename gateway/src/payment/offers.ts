import {
  buildPaymentChallenge,
  formatPaymentChallenge,
  LIGHTNING_METHOD,
  type LightningChargeRequest,
  type LightningSessionRequest,
  type PaymentChallenge,
} from "@l402-gateway/l402";
import type { GatewayConfig, ServiceConfig } from "../config/schema.js";
import type { InvoiceBackend } from "../lightning/invoices.js";
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

  /** The WWW-Authenticate values to add (none when the service offers no Payment intent). */
  async challenges(service: ServiceConfig, amounts: OfferAmounts): Promise<PaymentChallenge[]> {
    const intent = PaymentOffers.intentOf(service);
    if (intent === undefined) return [];
    const memo = intent === "charge" ? `Payment for ${service.name}` : `Payment session deposit for ${service.name}`;
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
