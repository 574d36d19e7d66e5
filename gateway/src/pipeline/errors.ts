import { InvalidTargetError } from "../http/canonical-target.js";
import { BodyTooLargeError } from "../http/read-body.js";
import { LightningUnavailableError } from "../lightning/invoices.js";
import { LlmRequestError } from "../llm/llm-request.js";
import { DepositError } from "../metering/deposit.js";
import { QuoteError } from "../pricing/pricer.js";
import { isStoreFailure } from "../store/errors.js";

/** How the gateway answers a typed error: status, a stable `code`, a message for people, extra headers. */
export interface ErrorAnswer {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly headers?: Record<string, string>;
  /** Worth a warning in the log: the gateway, not the request, is in trouble. */
  readonly degraded?: boolean;
}

const RETRY_SOON = { "retry-after": "5" };

/**
 * The one mapping from the errors the stages throw to HTTP answers. Anything it does not know is a bug: the caller
 * logs it and answers 500 `internal_error`.
 */
export function answerFor(error: unknown): ErrorAnswer | undefined {
  if (error instanceof InvalidTargetError) return { status: 400, code: "invalid_path", message: error.message };
  if (error instanceof BodyTooLargeError) return { status: 413, code: "body_too_large", message: error.message };
  if (error instanceof LlmRequestError) return { status: error.status, code: error.code, message: error.message };
  if (error instanceof DepositError) return { status: 400, code: "invalid_deposit", message: error.message };
  if (error instanceof QuoteError) return { status: error.status, code: error.code, message: error.message };
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
