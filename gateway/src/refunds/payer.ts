import { readFileSync } from "node:fs";
import { quietIpServernameWarning } from "@l402-gateway/l402";
import {
  type AuthenticatedLnd,
  authenticatedLndGrpc,
  getPayment,
  getWalletInfo,
  payViaPaymentRequest,
} from "lightning";
import type { GatewayConfig } from "../config/schema.js";
import { describeLndError } from "../lightning/lnd.js";

export type PaymentResult =
  | { readonly status: "succeeded"; readonly feeMsat: number }
  | { readonly status: "failed"; readonly error: string };

/**
 * LND's answer to a pay call. `failed` is only what the call said, not yet the payment's fate: LND's tracking
 * (`lookup`) decides that. LND's answers that the hash is already paid or being paid are `in_flight`.
 */
export type PayAnswer = PaymentResult | { readonly status: "in_flight"; readonly detail: string };

/** What LND's payment tracking says of a payment by its hash: `unknown` when LND never registered it. */
export type PaymentState = PaymentResult | { readonly status: "in_flight" } | { readonly status: "unknown" };

/**
 * LND refuses a second payment of a hash it is paying or has paid ("invoice is already paid", "payment is in
 * transition"): that is the first payment in flight or done, never a failure of it.
 */
export function isAlreadyPayingAnswer(error: string): boolean {
  return /already (been )?paid|in transition|already in flight|payment (is )?in flight|AlreadyPaid|PaymentInTransition|PaymentInFlight/i.test(
    error,
  );
}

/** Pays refunds. LND implements it with a macaroon that has only offchain:read and offchain:write. */
export interface RefundPayer {
  /** The paying node's public key (an invoice to it would pay the gateway itself). */
  nodeKey(): Promise<string | undefined>;
  /** Asks LND to pay; resolves when LND answers (for a held HTLC, when the payee settles or cancels it). */
  pay(args: {
    readonly invoice: string;
    /** Set for an amountless invoice. */
    readonly amountMsat?: number;
    readonly maxFeeMsat: number;
    readonly timeoutSeconds: number;
  }): Promise<PayAnswer>;
  /** LND's payment tracking of a hash; throws when LND cannot be asked. */
  lookup(paymentHash: string): Promise<PaymentState>;
}

function isNotFound(error: unknown): boolean {
  return Array.isArray(error) && (error[0] === 404 || /not ?found/i.test(String(error[1])));
}

export class LndRefundPayer implements RefundPayer {
  constructor(private readonly lnd: AuthenticatedLnd) {}

  /** A payer on the refund macaroon, or undefined when none is configured (refunds then stay pending). */
  static fromConfig(config: GatewayConfig["lnd"]): LndRefundPayer | undefined {
    const macaroon =
      config.refundMacaroon ??
      (config.refundMacaroonPath === undefined
        ? undefined
        : readFileSync(config.refundMacaroonPath).toString("base64"));
    if (macaroon === undefined) return undefined;
    const cert = config.cert ?? (config.certPath === undefined ? "" : readFileSync(config.certPath).toString("base64"));
    quietIpServernameWarning(config.socket);
    return new LndRefundPayer(authenticatedLndGrpc({ cert, macaroon, socket: config.socket }).lnd);
  }

  async nodeKey(): Promise<string | undefined> {
    try {
      return (await getWalletInfo({ lnd: this.lnd })).public_key;
    } catch {
      // getinfo needs info:read, which a refund macaroon need not have: the invoice check then skips this test.
      return undefined;
    }
  }

  async pay(args: {
    invoice: string;
    amountMsat?: number;
    maxFeeMsat: number;
    timeoutSeconds: number;
  }): Promise<PayAnswer> {
    try {
      const paid = await payViaPaymentRequest({
        lnd: this.lnd,
        request: args.invoice,
        ...(args.amountMsat === undefined ? {} : { mtokens: String(args.amountMsat) }),
        max_fee_mtokens: String(args.maxFeeMsat),
        pathfinding_timeout: args.timeoutSeconds * 1000,
      });
      return { status: "succeeded", feeMsat: Number(paid.fee_mtokens) };
    } catch (error) {
      const described = describeLndError(error);
      return isAlreadyPayingAnswer(described)
        ? { status: "in_flight", detail: described }
        : { status: "failed", error: described };
    }
  }

  async lookup(paymentHash: string): Promise<PaymentState> {
    try {
      const payment = await getPayment({ lnd: this.lnd, id: paymentHash });
      if (payment.is_confirmed) return { status: "succeeded", feeMsat: Number(payment.payment?.fee_mtokens ?? 0) };
      if (payment.is_failed) return { status: "failed", error: "LND reports the payment failed" };
      return { status: "in_flight" };
    } catch (error) {
      if (isNotFound(error)) return { status: "unknown" };
      throw error;
    }
  }
}
