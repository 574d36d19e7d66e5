import { z } from "zod";
import { asPaymentError, PaymentError } from "./errors.js";
import { canonicalExactJson, parseExactJson } from "./exact-json.js";
import { int64Schema } from "./receipt.js";

/** SSE event a session stream sends when its balance runs out (and holds the connection for a top-up). */
export const PAYMENT_NEED_TOPUP_EVENT = "payment-need-topup";
/** SSE event a held session stream sends when no top-up came in time, before it closes. */
export const SESSION_TIMEOUT_EVENT = "session-timeout";

/**
 * The data of `payment-need-topup` and `session-timeout`: what the session has spent and what the next chunk needs,
 * in the method's base unit (sats for lightning). Read exactly: integers up to the int64 maximum, as bigints.
 */
export interface SessionNeedTopUp {
  readonly sessionId: string;
  readonly balanceSpent: bigint;
  readonly balanceRequired: bigint;
}

const needTopUpSchema = z.looseObject({
  sessionId: z.string().min(1),
  balanceSpent: int64Schema,
  balanceRequired: int64Schema,
});

/** The event's JSON data (canonical, integers as plain digits however large). */
export function formatSessionNeedTopUp(data: SessionNeedTopUp): string {
  const { sessionId, balanceSpent, balanceRequired } = data;
  const parsed = needTopUpSchema.safeParse({ sessionId, balanceSpent, balanceRequired });
  if (!parsed.success) throw new RangeError(`not a session top-up request: ${parsed.error.issues[0]?.message}`);
  return canonicalExactJson({ sessionId, balanceSpent, balanceRequired });
}

/**
 * Reads the JSON data of a `payment-need-topup` (or `session-timeout`) event exactly; unknown fields are left out.
 * Throws PaymentError("malformed-credential") when it is not that shape.
 */
export function parseSessionNeedTopUp(text: string): SessionNeedTopUp {
  return asPaymentError("malformed-credential", "invalid session top-up event", () => {
    const parsed = needTopUpSchema.safeParse(parseExactJson(text));
    if (!parsed.success) {
      throw new PaymentError(
        "malformed-credential",
        "session top-up event lacks sessionId, balanceSpent or balanceRequired",
      );
    }
    const { sessionId, balanceSpent, balanceRequired } = parsed.data;
    return { sessionId, balanceSpent, balanceRequired };
  });
}

/** SSE event that ends a session's streamed answer (before `data: [DONE]`): what the stream cost. */
export const PAYMENT_RECEIPT_EVENT = "payment-receipt";

/**
 * The data of `payment-receipt`: the receipt's core fields (`reference` is the session id) and what this stream
 * spent, in the method's base unit (sats for lightning), for how many units (`unitType` of the session's request).
 * `spent` and `units` are read exactly, up to the int64 maximum.
 */
export interface StreamPaymentReceipt {
  readonly status: "success";
  readonly method: string;
  /** RFC 3339. */
  readonly timestamp: string;
  readonly reference: string;
  readonly spent: bigint;
  readonly units: bigint;
}

const streamReceiptSchema = z.looseObject({
  status: z.literal("success"),
  method: z.string().min(1),
  timestamp: z.string().min(1),
  reference: z.string().min(1),
  spent: int64Schema,
  units: int64Schema,
});

/** The event's JSON data (canonical, integers as plain digits however large). */
export function formatStreamPaymentReceipt(receipt: StreamPaymentReceipt): string {
  const parsed = streamReceiptSchema.safeParse(receipt);
  if (!parsed.success) throw new RangeError(`not a stream payment receipt: ${parsed.error.issues[0]?.message}`);
  const { status, method, timestamp, reference, spent, units } = receipt;
  return canonicalExactJson({ method, reference, spent, status, timestamp, units });
}

/**
 * Reads the JSON data of a `payment-receipt` event exactly; unknown fields are left out. Throws
 * PaymentError("malformed-credential") when it is not that shape.
 */
export function parseStreamPaymentReceipt(text: string): StreamPaymentReceipt {
  return asPaymentError("malformed-credential", "invalid stream payment receipt", () => {
    const parsed = streamReceiptSchema.safeParse(parseExactJson(text));
    if (!parsed.success) {
      throw new PaymentError("malformed-credential", "stream payment receipt lacks a required field");
    }
    const { status, method, timestamp, reference, spent, units } = parsed.data;
    return { status, method, timestamp, reference, spent, units };
  });
}
