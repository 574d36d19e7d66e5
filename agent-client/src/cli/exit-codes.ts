import type { L402ClientErrorCode } from "../errors.js";

/** The `l402` CLI's exit codes; README.md and `l402 --help` list the same. */
export const EXIT = {
  ok: 0,
  /** Anything unexpected: the server unreachable or silent past a timeout, a store file that does not parse, a bug. */
  error: 1,
  usage: 2,
  /** The price is over --max-cost or a budget: nothing was paid. */
  overLimit: 3,
  /** The payment failed, timed out (still pending), or an earlier one (or too many) is still in flight. */
  paymentFailed: 4,
  /**
   * The final response is an HTTP error (≥ 400), including a server that answers 402 after being paid or never
   * answers the paid request, now or in an earlier call (then nothing is paid during the cool-off without
   * --allow-refused).
   */
  httpError: 5,
  /** The server's challenge is unusable: malformed, invoice undecodable, zero-amount, expired or not bound. */
  badChallenge: 6,
} as const;

export function exitCodeFor(code: L402ClientErrorCode): number {
  switch (code) {
    case "over_cap":
    case "budget_exceeded":
    case "payment_declined":
      return EXIT.overLimit;
    case "payment_failed":
    case "payment_timeout":
    case "payment_pending":
    case "too_many_pending":
      return EXIT.paymentFailed;
    case "payment_refused":
    case "paid_not_served":
    case "origin_refused_token":
      return EXIT.httpError;
    case "request_timeout":
    case "redirect_refused":
    case "quote_failed":
      return EXIT.error;
    case "insecure_origin":
      return EXIT.usage;
    case "malformed_challenge":
    case "invalid_invoice":
    case "zero_amount_invoice":
    case "invoice_expired":
    case "timelock_too_long":
    case "payment_hash_mismatch":
    case "amount_mismatch":
    case "network_mismatch":
    case "session_unsupported":
    case "redirected_challenge":
      return EXIT.badChallenge;
    case "dry_run":
      return EXIT.ok;
  }
}
