import { readFileSync } from "node:fs";
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

/** What LND knows of a payment by its hash: `unknown` when it was never sent. */
export type PaymentState = PaymentResult | { readonly status: "in_flight" } | { readonly status: "unknown" };

/** Pays refunds. LND implements it with a macaroon that has only offchain:read and offchain:write. */
export interface RefundPayer {
  /** The paying node's public key (an invoice to it would pay the gateway itself). */
  nodeKey(): Promise<string | undefined>;
  pay(args: {
    readonly invoice: string;
    /** Set for an amountless invoice. */
    readonly amountMsat?: number;
    readonly maxFeeMsat: number;
    readonly timeoutSeconds: number;
  }): Promise<PaymentResult>;
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
  }): Promise<PaymentResult> {
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
      return { status: "failed", error: describeLndError(error) };
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
