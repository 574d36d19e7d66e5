import { z } from "zod";
import { decodeBase64Url, encodeBase64Url } from "./base64url.js";
import { asPaymentError, PaymentError } from "./errors.js";
import { canonicalExactJson, parseExactJson } from "./exact-json.js";

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

/** A receipt read exactly: `refundSats` up to the int64 maximum (Aperture's type), beyond 2^53, as a bigint. */
export interface ExactPaymentReceipt extends Omit<PaymentReceipt, "refundSats"> {
  readonly refundSats?: bigint;
}

export const PAYMENT_RECEIPT_HEADER = "payment-receipt";

export const INT64_MAX = 2n ** 63n - 1n;

/** A non-negative integer up to the int64 maximum, as a bigint (a JSON number, or a bigint read past 2^53). */
export const int64Schema = z
  .union([z.number().int().nonnegative(), z.bigint().nonnegative()])
  .transform((value) => BigInt(value))
  .refine((value) => value <= INT64_MAX, "beyond the int64 maximum");

const receiptSchema = z.looseObject({
  status: z.literal("success"),
  method: z.string().min(1),
  timestamp: z.string().min(1),
  reference: z.string().min(1),
  challengeId: z.string().optional(),
  refundSats: int64Schema.optional(),
  refundStatus: z.enum(["succeeded", "failed", "skipped", "pending"]).optional(),
});

/** Unpadded base64url of the receipt's canonical JSON; a bigint `refundSats` is written exactly. */
export function formatPaymentReceipt(receipt: PaymentReceipt | ExactPaymentReceipt): string {
  const { refundSats } = receipt;
  if (refundSats !== undefined && (refundSats < 0 || BigInt(refundSats) > INT64_MAX)) {
    throw new RangeError("refundSats must be an integer from 0 to the int64 maximum");
  }
  return encodeBase64Url(canonicalExactJson(receipt));
}

/**
 * Decodes a receipt with `refundSats` as a number: as parseExactPaymentReceipt, and a refund beyond 2^53 (which a
 * number cannot hold exactly) is refused the same way.
 */
export function parsePaymentReceipt(text: string): PaymentReceipt {
  const { refundSats, ...rest } = parseExactPaymentReceipt(text);
  if (refundSats === undefined) return rest;
  if (refundSats > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new PaymentError("malformed-credential", "Payment-Receipt refundSats is beyond 2^53: read it exactly");
  }
  return { ...rest, refundSats: Number(refundSats) };
}

/**
 * Decodes a receipt exactly (padding tolerated, extra fields kept out, Aperture v0.5.0's `pending` read as `failed`,
 * `refundSats` up to the int64 maximum). Throws PaymentError("malformed-credential") for anything else.
 */
export function parseExactPaymentReceipt(text: string): ExactPaymentReceipt {
  return asPaymentError("malformed-credential", "invalid Payment-Receipt", () => {
    const parsed = receiptSchema.safeParse(parseExactJson(decodeBase64Url(text.trim()).toString("utf8")));
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
