import { assertWithinBudget, type BudgetLimits } from "./budget.js";
import { L402ClientError, type PriceQuote } from "./errors.js";
import type { ClientState, Refusal } from "./store/state.js";

export interface PayPolicy {
  readonly budget: BudgetLimits;
  /** Origins the caller allows to be paid although they took a payment and did not serve. */
  readonly allowRefusedOrigins: ReadonlySet<string>;
  /** How long an origin that took a payment and did not serve is not paid again. */
  readonly refusalCoolOffMs: number;
  /** Payments in flight at once, all origins together. */
  readonly maxPendingPayments: number;
}

/**
 * Everything that must hold, in the store's current state, before `quote` is paid. Run inside the store update
 * that records the payment as pending, so that concurrent payers (threads, processes) see each other.
 *
 * - an origin that took a payment and did not serve (any scheme) is not paid again during its cool-off unless
 *   allowed;
 * - one payment in flight per origin, whatever the server calls its services (each may hold funds until the
 *   invoice's timeout), and at most `maxPendingPayments` in all;
 * - the budgets.
 */
export function assertMayPay(state: ClientState, policy: PayPolicy, quote: PriceQuote, now: Date): void {
  const refusal = activeRefusal(state, policy, quote.origin, now);
  if (refusal) throw refusedOrigin(refusal, policy, quote);
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

/** The origin's recorded refusal while its cool-off lasts, unless the caller allows the origin. */
export function activeRefusal(
  state: ClientState,
  policy: Pick<PayPolicy, "allowRefusedOrigins" | "refusalCoolOffMs">,
  origin: string,
  now: Date,
): Refusal | undefined {
  if (policy.allowRefusedOrigins.has(origin)) return undefined;
  const refusal = state.refusals.find((candidate) => candidate.origin === origin);
  if (!refusal || coolOffEnd(refusal, policy.refusalCoolOffMs).getTime() <= now.getTime()) return undefined;
  return refusal;
}

export function coolOffEnd(refusal: Refusal, coolOffMs: number): Date {
  return new Date(Date.parse(refusal.at) + coolOffMs);
}

/** How the owner lifts a refusal before its cool-off ends; every error about one names these. */
export const CLEAR_REFUSAL_HINT =
  "to pay it again sooner: option allowRefusedOrigins or client.clearRefusals(origin), CLI --allow-refused or " +
  "'l402 refusals clear <origin>'";

function refusedOrigin(refusal: Refusal, policy: PayPolicy, quote: PriceQuote): L402ClientError {
  const what =
    refusal.reason === "unserved"
      ? "took a payment and did not answer the paid request"
      : "answered 402 to the credential it had just been paid for";
  return new L402ClientError(
    "origin_refused_token",
    `${quote.origin} ${what} (${describePaid(refusal)}, hash ${refusal.paymentHash}, ${refusal.at}); not paying ` +
      `it again until ${coolOffEnd(refusal, policy.refusalCoolOffMs).toISOString()} (cool-off ` +
      `${describeDuration(policy.refusalCoolOffMs)}, option refusalCoolOffMs, CLI --cool-off); ${CLEAR_REFUSAL_HINT}`,
    { quote, paymentHash: refusal.paymentHash },
  );
}

function describePaid(refusal: Refusal): string {
  switch (refusal.paid) {
    case "charge":
      return "a Payment charge";
    case "session":
      return "a Payment session deposit";
    case "topUp":
      return "a Payment session top-up";
    default:
      return `an L402 token${refusal.service ? ` for ${refusal.service}` : ""}`;
  }
}

export function describeDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.ceil(ms / 1000)} s`;
}
