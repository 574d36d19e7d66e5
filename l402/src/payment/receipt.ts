import { z } from "zod";
import { decodeBase64Url, encodeBase64Url } from "./base64url.js";
import { asPaymentError, PaymentError } from "./errors.js";
import { canonicalJson } from "./jcs.js";

export type RefundStatus = "succeeded" | "failed" | "skipped";

/** The `Payment-Receipt` of a 2xx answer. `reference` is the payment hash (charge) or session id, never a preimage. */
export interface PaymentReceipt {
  readonly status: "success";
  readonly method: string;
  /** RFC 3339. */
  readonly timestamp: string;
  readonly reference: string;
  readonly challengeId?: string;
  /** Session close only; Aperture omits it when 0. */
  readonly refundSats?: number;
  readonly refundStatus?: RefundStatus;
}

export const PAYMENT_RECEIPT_HEADER = "payment-receipt";

const receiptSchema = z.looseObject({
  status: z.literal("success"),
  method: z.string().min(1),
  timestamp: z.string().min(1),
  reference: z.string().min(1),
  challengeId: z.string().optional(),
  refundSats: z.number().int().nonnegative().optional(),
  refundStatus: z.enum(["succeeded", "failed", "skipped", "pending"]).optional(),
});

/** Unpadded base64url of the receipt's canonical JSON. */
export function formatPaymentReceipt(receipt: PaymentReceipt): string {
  return encodeBase64Url(canonicalJson(receipt));
}

/**
 * Decodes a receipt (padding tolerated, extra fields kept out, Aperture v0.5.0's `pending` read as `failed`). Throws
 * PaymentError("malformed-credential") for anything else.
 */
export function parsePaymentReceipt(text: string): PaymentReceipt {
  return asPaymentError("malformed-credential", "invalid Payment-Receipt", () => {
    const parsed = receiptSchema.safeParse(JSON.parse(decodeBase64Url(text.trim()).toString("utf8")));
    if (!parsed.success) throw new PaymentError("malformed-credential", "Payment-Receipt lacks a required field");
    const { status, method, timestamp, reference, challengeId, refundSats, refundStatus } = parsed.data;
    return {
      status,
      method,
      timestamp,
      reference,
      ...(challengeId === undefined ? {} : { challengeId }),
      ...(refundSats === undefined ? {} : { refundSats }),
      ...(refundStatus === undefined ? {} : { refundStatus: refundStatus === "pending" ? "failed" : refundStatus }),
    };
  });
}
