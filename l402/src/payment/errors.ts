import { CodedError } from "../errors.js";

/**
 * Problem types of the Payment scheme (payment-scheme.md §5), relative to PROBLEM_TYPE_BASE. Every one is answered
 * with 402 and a fresh challenge except `method-unsupported` and `bad-request` (400).
 */
export type PaymentProblemType =
  | "payment-required"
  | "malformed-credential"
  | "invalid-challenge"
  | "verification-failed"
  | "payment-insufficient"
  | "payment-expired"
  | "method-unsupported"
  | "bad-request"
  | "lightning/malformed-credential"
  | "lightning/unknown-challenge"
  | "lightning/invalid-preimage"
  | "lightning/expired-invoice"
  | "lightning/session-not-found"
  | "lightning/session-closed"
  | "lightning/insufficient-balance"
  | "lightning/challenge-expired"
  | "lightning/invalid-return-invoice";

export const PROBLEM_TYPE_BASE = "https://paymentauth.org/problems/";

/** Thrown by the decoders of untrusted Payment input; its code (`type`) names the RFC 9457 problem to answer with. */
export class PaymentError extends CodedError<PaymentProblemType> {
  override readonly name = "PaymentError";

  /** The code, by the name the Payment scheme gives it: the problem type. */
  get type(): PaymentProblemType {
    return this.code;
  }
}

/** Runs `fn`, turning anything but a PaymentError into one of `type`, so decoders leak no TypeError or SyntaxError. */
export function asPaymentError<T>(type: PaymentProblemType, message: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof PaymentError) throw error;
    const detail = error instanceof Error ? `: ${error.message}` : "";
    throw new PaymentError(type, `${message}${detail}`, { cause: error });
  }
}
