import { type PaymentProblemType, PROBLEM_TYPE_BASE } from "./errors.js";

/** An RFC 9457 problem details body, as a Payment 402 (or 400) carries it. */
export interface PaymentProblem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly challengeId?: string;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

const TITLES: Record<PaymentProblemType, string> = {
  "payment-required": "Payment Required",
  "malformed-credential": "Malformed Credential",
  "invalid-challenge": "Invalid Challenge",
  "verification-failed": "Verification Failed",
  "payment-insufficient": "Payment Insufficient",
  "payment-expired": "Payment Expired",
  "method-unsupported": "Method Unsupported",
  "bad-request": "Bad Request",
  "lightning/malformed-credential": "Malformed Lightning Credential",
  "lightning/unknown-challenge": "Unknown Challenge",
  "lightning/invalid-preimage": "Invalid Preimage",
  "lightning/expired-invoice": "Expired Invoice",
  "lightning/session-not-found": "Session Not Found",
  "lightning/session-closed": "Session Closed",
  "lightning/insufficient-balance": "Insufficient Balance",
  "lightning/challenge-expired": "Challenge Expired",
  "lightning/invalid-return-invoice": "Invalid Return Invoice",
};

/** The HTTP status of a problem type: 400 for `method-unsupported` and `bad-request`, else 402 (with a fresh challenge). */
export function problemStatus(type: PaymentProblemType): 400 | 402 {
  return type === "method-unsupported" || type === "bad-request" ? 400 : 402;
}

/** The problem body for `type`. */
export function paymentProblem(type: PaymentProblemType, detail: string, challengeId?: string): PaymentProblem {
  return {
    type: `${PROBLEM_TYPE_BASE}${type}`,
    title: TITLES[type],
    status: problemStatus(type),
    detail,
    ...(challengeId === undefined ? {} : { challengeId }),
  };
}
