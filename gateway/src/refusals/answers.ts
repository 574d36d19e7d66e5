import { InvalidTargetError } from "../http/canonical-target.js";
import { BodyTooLargeError } from "../http/read-body.js";
import { bodyTooLarge, type Refusal, retryAfter } from "../http/refusal.js";
import { LightningUnavailableError } from "../lightning/invoices.js";
import { LlmRequestError, type LlmRequestErrorCode } from "../llm/llm-request.js";
import { DepositError } from "../metering/deposit.js";
import { QuoteError, type QuoteErrorCode } from "../pricing/pricer.js";
import type { CloseRefusal } from "../refunds/refunds.js";
import { isStoreFailure } from "../store/errors.js";

/** How the gateway answers a typed error: a Refusal, and whether it is the gateway's own trouble. */
export interface ErrorAnswer extends Refusal {
  /** Worth a warning in the log: the gateway, not the request, is in trouble. */
  readonly degraded?: boolean;
}

const RETRY_SOON = retryAfter(5);

/** A body in a form the gateway does not read is 415; any other unusable LLM body 400. */
const LLM_REQUEST_STATUS: Readonly<Record<LlmRequestErrorCode, number>> = {
  unsupported_encoding: 415,
  unsupported_media_type: 415,
  unsupported_charset: 415,
  invalid_encoding: 400,
  body_too_deep: 400,
  invalid_json: 400,
  invalid_request: 400,
  unsupported_parameter: 400,
  conflicting_max_tokens: 400,
  max_tokens_too_large: 400,
};

/**
 * A request that cannot be priced is the client's (400), unless the upstream does not count as its configured kind
 * should (502: the operator's set-up) or the pricing itself is down (503).
 */
const QUOTE_STATUS: Readonly<Record<QuoteErrorCode, number>> = {
  no_price: 400,
  unpriced_endpoint: 400,
  price_out_of_range: 400,
  invalid_request: 400,
  unknown_model: 400,
  token_counting_misconfigured: 502,
  pricing_unavailable: 503,
};

/**
 * The one mapping from the errors the stages throw to HTTP answers. Anything it does not know is a bug: the caller
 * logs it and answers 500 `internal_error`.
 */
export function answerFor(error: unknown): ErrorAnswer | undefined {
  if (error instanceof InvalidTargetError) return { status: 400, code: error.code, message: error.message };
  if (error instanceof BodyTooLargeError) return bodyTooLarge(error.message);
  if (error instanceof LlmRequestError) {
    return { status: LLM_REQUEST_STATUS[error.code], code: error.code, message: error.message };
  }
  if (error instanceof DepositError) return { status: 400, code: error.code, message: error.message };
  if (error instanceof QuoteError)
    return { status: QUOTE_STATUS[error.code], code: error.code, message: error.message };
  if (error instanceof LightningUnavailableError) {
    return {
      status: 503,
      code: "lightning_unavailable",
      message: "the payment node is unavailable; try again shortly",
      headers: RETRY_SOON,
      degraded: true,
    };
  }
  if (isStoreFailure(error)) {
    // Database down, disk full or read-only, I/O error, lock timeout: refuse new work rather than serve unaccounted.
    return {
      status: 503,
      code: "store_unavailable",
      message: "the token store is unavailable; try again shortly",
      headers: RETRY_SOON,
      degraded: true,
    };
  }
  return undefined;
}

export const INTERNAL_ERROR: ErrorAnswer = {
  status: 500,
  code: "internal_error",
  message: "the gateway could not handle this request",
};

/** How an account close (`POST /l402/close`, or a Payment session's close) answers a refused close. */
export function closeRefused(refusal: CloseRefusal): Refusal {
  switch (refusal.reason) {
    case "invalid_invoice":
      return { status: 400, code: "invalid_refund_invoice", message: refusal.detail };
    case "rate_limited":
      return {
        status: 429,
        code: "rate_limited",
        message: "too many refunds at the moment; retry later",
        headers: retryAfter(refusal.retryAfterSeconds),
      };
    case "not_found":
      return { status: 404, code: "not_found", message: "no such token or session" };
    case "not_refundable":
      return {
        status: 409,
        code: "not_refundable",
        message: "only a paid, prepaid (metered) token or session can be closed",
      };
    case "busy":
      return {
        status: 409,
        code: "request_in_flight",
        message: "a request is still being metered on this account; retry when done",
      };
    case "over_cap":
      return {
        status: 422,
        code: "refund_over_cap",
        message: `the balance is above the automatic refund cap of ${refusal.maxSats} sats; ask the operator`,
      };
  }
}
