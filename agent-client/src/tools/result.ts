import { L402ClientError } from "../errors.js";

/** What a tool hands back to the model when it did its job. */
export type ToolSuccess = { readonly ok: true } & Readonly<Record<string, unknown>>;

/**
 * A refusal or failure the model can act on: the client's error code (`over_cap`, `budget_exceeded`,
 * `payment_pending`, `payment_refused`, ...) with its message, which says how to resume after a payment; the price a
 * refusal was about, or the payment made when the call failed after paying. Never a stack.
 */
export interface ToolFailure {
  readonly ok: false;
  readonly code: string;
  readonly message: string;
  readonly price_sats?: number;
  readonly paid?: {
    readonly amount_sats: number;
    readonly payment_hash: string;
    readonly scheme: string;
    readonly origin: string;
  };
}

export type ToolResult = ToolSuccess | ToolFailure;

/** Codes of errors that come after a payment this call made: the model is told what was paid. */
const AFTER_PAYMENT: ReadonlySet<string> = new Set(["paid_not_served", "payment_refused"]);

export function toolFailure(error: unknown): ToolFailure {
  if (!(error instanceof L402ClientError)) {
    return { ok: false, code: "error", message: error instanceof Error ? error.message : String(error) };
  }
  const { code, message, quote } = error;
  if (quote && AFTER_PAYMENT.has(code)) {
    const paid = {
      amount_sats: quote.amountSats,
      payment_hash: quote.paymentHash,
      scheme: quote.scheme ?? "l402",
      origin: quote.origin,
    };
    return { ok: false, code, message, paid };
  }
  return quote ? { ok: false, code, message, price_sats: quote.amountSats } : { ok: false, code, message };
}

/** Runs a tool's work; whatever it throws comes back as a coded failure, so no framework sees an exception. */
export async function settle(run: () => Promise<Record<string, unknown>>): Promise<ToolResult> {
  try {
    return { ...(await run()), ok: true };
  } catch (error) {
    return toolFailure(error);
  }
}
