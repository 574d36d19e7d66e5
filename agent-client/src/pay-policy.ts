import { assertWithinBudget, type BudgetLimits } from "./budget.js";
import { L402ClientError, type PriceQuote } from "./errors.js";
import type { ClientState } from "./store/state.js";

export interface PayPolicy {
  readonly budget: BudgetLimits;
  /** Origins the caller allows to be paid although they refused a token they were paid for. */
  readonly allowRefusedOrigins: ReadonlySet<string>;
  /** Payments in flight at once, all origins together. */
  readonly maxPendingPayments: number;
}

/**
 * Everything that must hold, in the store's current state, before `quote` is paid. Run inside the store update
 * that records the payment as pending, so that concurrent payers (threads, processes) see each other.
 *
 * - an origin that refused a token it was just paid for is not paid again unless allowed;
 * - one payment in flight per origin, whatever the server calls its services (each may hold funds until the
 *   invoice's timeout), and at most `maxPendingPayments` in all;
 * - the budgets.
 */
export function assertMayPay(state: ClientState, policy: PayPolicy, quote: PriceQuote, now: Date): void {
  const refusal = state.refusals.find((candidate) => candidate.origin === quote.origin);
  if (refusal && !policy.allowRefusedOrigins.has(quote.origin)) {
    throw new L402ClientError(
      "origin_refused_token",
      `${quote.origin} refused a token it had just been paid for (service ${refusal.service || "-"}, hash ` +
        `${refusal.paymentHash}, ${refusal.at}); not paying it again unless allowed (option allowRefusedOrigins, ` +
        "CLI --allow-refused)",
      { quote, paymentHash: refusal.paymentHash },
    );
  }
  const pending = state.receipts.filter((receipt) => receipt.status === "pending");
  const sameOrigin = pending.find((receipt) => receipt.origin === quote.origin);
  if (sameOrigin) {
    throw new L402ClientError(
      "payment_pending",
      `a payment to ${quote.origin} (service ${sameOrigin.service || "-"}, hash ${sameOrigin.paymentHash}) is ` +
        "still in flight; not paying this origin again until its outcome is known",
      { quote, paymentHash: sameOrigin.paymentHash },
    );
  }
  if (pending.length >= policy.maxPendingPayments) {
    throw new L402ClientError(
      "too_many_pending",
      `${pending.length} payments are still in flight (limit ${policy.maxPendingPayments}); not paying another ` +
        "until one of them is resolved",
      { quote },
    );
  }
  assertWithinBudget(state, policy.budget, quote, now);
}
