import { CodedError } from "@l402-gateway/l402";

/**
 * Why the client refused to pay, or why paying did not give access. Every code means no money was lost by the
 * refusal itself; `payment_timeout` and `payment_pending` mean a payment may still be in flight: it stays recorded
 * as pending and is resolved through the wallet before anything else is paid to that origin.
 */
export type L402ClientErrorCode =
  /** A 402 whose L402/LSAT challenge cannot be parsed, or whose macaroon cannot be decoded. */
  | "malformed_challenge"
  /** The challenge's invoice is not a BOLT11 invoice this client can read. */
  | "invalid_invoice"
  /** The invoice asks for no amount: the client never decides the price itself. */
  | "zero_amount_invoice"
  | "invoice_expired"
  /** The invoice could keep the payment locked longer than `maxLockBlocks` (final CLTV delta plus route hints). */
  | "timelock_too_long"
  /** The invoice's payment hash is not the one the macaroon is bound to: paying would buy nothing. */
  | "payment_hash_mismatch"
  /** A Payment challenge's `amount` (or `depositAmount`) is not its invoice's amount. */
  | "amount_mismatch"
  /** A Payment charge challenge's `network` is not its invoice's network. */
  | "network_mismatch"
  /** A Payment session cannot be opened: the wallet cannot make a return invoice for the refund. */
  | "session_unsupported"
  /** The 402 came from another origin the request was redirected to: not paid (the token could never be sent). */
  | "redirected_challenge"
  /** Amount plus the maximum routing fee is above `maxCostSats`. */
  | "over_cap"
  /** Paying would take an hourly, daily, total or per-origin budget past its limit. */
  | "budget_exceeded"
  /** The wallet reports that the payment definitely failed: nothing was paid. */
  | "payment_failed"
  /** The payment did not finish in time; it may still complete and is tracked as pending. */
  | "payment_timeout"
  /** An earlier payment to this origin (any service) is still in flight: paying another could pay twice. */
  | "payment_pending"
  /**
   * The server answered 402 again after being paid (also after acknowledging a top-up): the client stops instead of
   * paying again, and the origin is not paid again until its cool-off ends (see `origin_refused_token`).
   */
  | "payment_refused"
  /**
   * The server took the payment and never answered the paid request, also after the retries with the paid
   * credential (`paidRetries`): connection reset, no response headers in time, or a 5xx (then the response is
   * returned instead). `quote` is what was paid; the message says how to resume (a token stays cached and is reused
   * by the next call). The origin is not paid again until its cool-off ends.
   */
  | "paid_not_served"
  /**
   * This origin took a payment and did not serve it (refused the credential, or never answered): it is not paid
   * again until the cool-off ends (`refusalCoolOffMs`, default 24 h) or the owner allows it (`allowRefusedOrigins`,
   * `clearRefusals`, CLI `--allow-refused`, `l402 refusals clear`). A cached credential that works is still used.
   */
  | "origin_refused_token"
  /** Too many payments already in flight (`maxPendingPayments`): paying another could lock up more funds. */
  | "too_many_pending"
  /** The server did not answer in time (`timeouts`): connecting and response headers, or a pause in the body. */
  | "request_timeout"
  /**
   * The origin (or a redirect hop) is plain HTTP on the network: nothing was sent to it, since a credential or a
   * payment there could be read by anyone on the path. Allowed with `allowInsecure` (CLI `--insecure`).
   */
  | "insecure_origin"
  /** A request carrying a credential was redirected to another origin (or past 20 redirects): not followed. */
  | "redirect_refused"
  /** Dry-run mode met a challenge: `quote` holds the price that would have been paid. */
  | "dry_run"
  /** The origin has no quote endpoint (`/l402/quote`), or it could not price the request: nothing was paid. */
  | "quote_failed"
  /** The caller's approval (an MCP host's confirmation) was asked for this payment and not given: nothing paid. */
  | "payment_declined";

export interface PriceQuote {
  readonly origin: string;
  /** What the payment buys: an L402 token, a Payment charge, a session deposit or a session top-up. */
  readonly scheme?: "l402" | "charge" | "session" | "topUp";
  /** Service names from the macaroon's `services=` caveat, comma-joined; "" when it has none. */
  readonly service: string;
  readonly amountSats: number;
  readonly maxFeeSats: number;
  readonly paymentHash: string;
  readonly invoice: string;
  readonly expiresAt: string;
}

/** The client's errors, in the shape of the l402 core's (`CodedError`), with the payment they are about. */
export class L402ClientError extends CodedError<L402ClientErrorCode> {
  override readonly name = "L402ClientError";

  constructor(
    code: L402ClientErrorCode,
    message: string,
    readonly details: { readonly quote?: PriceQuote; readonly paymentHash?: string } = {},
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }

  /** The price this error is about, when it was read from a valid challenge. */
  get quote(): PriceQuote | undefined {
    return this.details.quote;
  }
}
