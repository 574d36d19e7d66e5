/// <reference path="../types/invoices.d.ts" />
import { CodedError, type DecodedBolt11, decodedBolt11Schema } from "@l402-gateway/l402";
import invoices from "invoices";

/** A refund invoice as the gateway checks it before closing an account. */
export interface RefundInvoice {
  readonly request: string;
  readonly paymentHash: string;
  /** Undefined for an amountless invoice (or one of 0). */
  readonly amountMsat?: number;
  readonly network: string;
  readonly expiresAt: Date;
  readonly destination: string;
}

/** A refund invoice the gateway will not pay; a close answers it as an `invalid_invoice` refusal. */
export class RefundInvoiceError extends CodedError<"invalid_refund_invoice"> {
  override readonly name = "RefundInvoiceError";

  constructor(message: string) {
    super("invalid_refund_invoice", message);
  }
}

/** An invoice this close to expiry is refused: the payment may take `refunds.timeoutSeconds` to route. */
const MIN_REMAINING_MS = 120_000;

/**
 * Decodes and checks a BOLT11 refund invoice (signature included, by the `invoices` package): on `network`, not
 * about to expire, not one of the gateway's own node, and amountless or of an amount (checked against the balance
 * when the account closes). Throws RefundInvoiceError naming the problem.
 */
export function decodeRefundInvoice(
  request: string,
  expected: { network: string; ownNode?: string | undefined; now: Date },
): RefundInvoice {
  let parsed: DecodedBolt11;
  try {
    parsed = decodedBolt11Schema.parse(invoices.parsePaymentRequest({ request: request.trim() }));
  } catch (error) {
    throw new RefundInvoiceError(
      `not a valid BOLT11 invoice: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (parsed.network !== expected.network) {
    throw new RefundInvoiceError(`the invoice is for ${parsed.network}, this gateway is on ${expected.network}`);
  }
  const expiresAt = new Date(parsed.expires_at);
  if (expiresAt.getTime() - expected.now.getTime() < MIN_REMAINING_MS) {
    throw new RefundInvoiceError("the invoice has expired or expires within two minutes");
  }
  if (expected.ownNode !== undefined && parsed.destination === expected.ownNode) {
    throw new RefundInvoiceError("the invoice is payable to this gateway's own node");
  }
  const msat = parsed.mtokens === undefined ? 0 : Number(parsed.mtokens);
  return {
    request: request.trim(),
    paymentHash: parsed.id,
    ...(msat > 0 ? { amountMsat: msat } : {}),
    network: parsed.network,
    expiresAt,
    destination: parsed.destination,
  };
}

/** The network an invoice's human-readable prefix names (for our own invoices, which we know are valid). */
export { invoiceNetwork as networkOfInvoice } from "@l402-gateway/l402";

/** The amount a (valid) invoice names, undefined when it is amountless or of 0. */
export function invoiceAmountMsat(request: string): number | undefined {
  const mtokens = decodedBolt11Schema.shape.mtokens.safeParse(invoices.parsePaymentRequest({ request }).mtokens);
  const msat = mtokens.success && mtokens.data !== undefined ? Number(mtokens.data) : 0;
  return msat > 0 ? msat : undefined;
}
