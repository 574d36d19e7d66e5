import type { ServerResponse as Response } from "node:http";
import {
  formatPaymentChallenge,
  type PaymentChallenge,
  PROBLEM_CONTENT_TYPE,
  paymentProblem,
  problemStatus,
} from "@l402-gateway/l402";
import type { ServiceConfig } from "../config/schema.js";
import { sendJson } from "../http/json.js";
import { msatToInvoiceSats } from "../pricing/quote.js";
import type { ForwardOptions } from "../proxy/proxy.js";
import type { Challenge } from "../tokens/challenger.js";
import type { PaymentRefusal, PaymentReply } from "./gate.js";
import type { PaymentOffers } from "./offers.js";

export const RECEIPT_HEADER = "payment-receipt";

/** `options` with the request's Payment-Receipt (and `Cache-Control: private`) added to a 2xx answer only. */
export function withReceipt(receipt: string | undefined, options: ForwardOptions): ForwardOptions {
  if (receipt === undefined) return options;
  const inner = options.plan;
  // Every field named, not `{ ...options, plan }`: see Exchange.answered in proxy/proxy.ts.
  return {
    body: options.body,
    bodyContentType: options.bodyContentType,
    plan: async (status, headers) => {
      const plan = inner ? await inner(status, headers) : {};
      if (status < 200 || status >= 300) return plan;
      return { ...plan, headers: { ...plan.headers, [RECEIPT_HEADER]: receipt, "cache-control": "private" } };
    },
  };
}

/** The gateway's own answer to a session top-up or close. */
export function sendReply(res: Response, reply: PaymentReply): void {
  const ok = reply.status >= 200 && reply.status < 300;
  sendJson(res, reply.status, reply.body, {
    "cache-control": ok ? "private" : "no-store",
    ...(ok && reply.receipt !== undefined ? { [RECEIPT_HEADER]: reply.receipt } : {}),
  });
}

/** A 400 problem (method-unsupported, bad-request): no challenge. */
export function sendBadRequest(res: Response, refusal: PaymentRefusal): void {
  const body = paymentProblem(refusal.type, refusal.detail, refusal.challengeId);
  sendJson(res, problemStatus(refusal.type), body, {
    "cache-control": "no-store",
    "content-type": PROBLEM_CONTENT_TYPE,
  });
}

/** What a 402 sends: header values, body and its content type. */
export interface ChallengeAnswer {
  readonly wwwAuthenticate: readonly string[];
  readonly body: Readonly<Record<string, unknown>>;
  readonly contentType?: string;
}

/**
 * Adds the Payment offer (its own invoice) to an L402 challenge, after the LSAT and L402 lines as Aperture orders
 * them, and makes the body RFC 9457 problem details (`application/problem+json`) that keeps the L402 fields as
 * extension members; a refused Payment credential's `refusal` gives the problem its type. Without `l402` among the service's schemes the L402 lines and fields are left out.
 */
export async function withPaymentOffer(
  refusal: PaymentRefusal | undefined,
  offers: PaymentOffers,
  service: ServiceConfig,
  issued: Challenge,
): Promise<ChallengeAnswer> {
  const body = issued.body;
  const priceMsat = typeof body.price_msat === "number" ? body.price_msat : undefined;
  const payment: PaymentChallenge[] = await offers.challenges(service, {
    sats: body.price_sats,
    ...(priceMsat === undefined ? {} : { unitSats: msatToInvoiceSats(priceMsat) }),
  });
  const l402 = service.schemes.includes("l402");
  if (payment.length === 0) return { wwwAuthenticate: issued.wwwAuthenticate, body };
  const type =
    refusal?.type ?? (body.code === "insufficient_balance" ? "lightning/insufficient-balance" : "payment-required");
  const problem = paymentProblem(type, refusal?.detail ?? body.message, refusal?.challengeId);
  const { invoice: _i, macaroon: _m, payment_hash: _h, ...rest } = body;
  return {
    wwwAuthenticate: [...(l402 ? issued.wwwAuthenticate : []), ...payment.map(formatPaymentChallenge)],
    body: { ...problem, ...(l402 ? body : rest), schemes: service.schemes, payment_challenge_id: payment[0]?.id },
    contentType: PROBLEM_CONTENT_TYPE,
  };
}
