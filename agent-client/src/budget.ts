import { L402ClientError, type PriceQuote } from "./errors.js";
import type { BudgetLimits, ClientState, Receipt } from "./store/state.js";

export type { BudgetLimits } from "./store/state.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface Spending {
  readonly lastHourSats: number;
  readonly lastDaySats: number;
  readonly totalSats: number;
  readonly byOriginSats: Readonly<Record<string, number>>;
}

/**
 * What counts against budgets: a succeeded payment counts amount plus the fee paid; a pending one counts amount plus
 * its maximum fee (it may still complete); a failed one counts nothing. Hour and day are rolling windows ending now
 * and read from the stored receipts, so a restart neither resets nor extends them. Total and per-origin are for the
 * store's whole life.
 */
export function spending(state: ClientState, now: Date): Spending {
  let lastHourSats = 0;
  let lastDaySats = 0;
  let totalSats = 0;
  const byOriginSats: Record<string, number> = {};
  for (const receipt of state.receipts) {
    const cost = receiptCost(receipt);
    if (cost === 0) continue;
    const age = now.getTime() - Date.parse(receipt.createdAt);
    if (age < HOUR_MS) lastHourSats += cost;
    if (age < DAY_MS) lastDaySats += cost;
    totalSats += cost;
    byOriginSats[receipt.origin] = (byOriginSats[receipt.origin] ?? 0) + cost;
  }
  return { lastHourSats, lastDaySats, totalSats, byOriginSats };
}

/**
 * A session deposit or a prepaid token counts in full until its refund reaches the wallet; the sats received then
 * come off its own receipt (never below zero: a refund of top-ups beyond the deposit is not released from it).
 */
export function receiptCost(receipt: Receipt): number {
  switch (receipt.status) {
    case "succeeded": {
      const paid = receipt.amountSats + (receipt.feeSats ?? receipt.maxFeeSats);
      return Math.max(0, paid - (receipt.refund?.receivedSats ?? 0));
    }
    case "pending":
      return receipt.amountSats + receipt.maxFeeSats;
    case "failed":
      return 0;
  }
}

/** The budget when none is configured: at most two payments at the default cap per hour, and 10,000 sats a day. */
export const DEFAULT_BUDGET: BudgetLimits = Object.freeze({ hourlySats: 2_000, dailySats: 10_000 });

/**
 * The limits a client applies: those set, plus `DEFAULT_BUDGET`'s hourly and daily limits when no global limit
 * (hourly, daily or total) is set. A per-origin limit is no global budget: set alone, it is added to the defaults
 * and never removes them.
 */
export function composeBudget(limits: BudgetLimits): BudgetLimits {
  const set = Object.fromEntries(Object.entries(limits).filter(([, limit]) => limit !== undefined)) as BudgetLimits;
  const global = set.hourlySats !== undefined || set.dailySats !== undefined || set.totalSats !== undefined;
  return global ? set : { ...DEFAULT_BUDGET, ...set };
}

/** What a payment would cost: an invoice read from a challenge, or a price the gateway quoted before any invoice. */
export type PaymentCost = Pick<PriceQuote, "origin" | "amountSats" | "maxFeeSats">;

/**
 * Throws `budget_exceeded` naming the first limit that paying `quote` (amount plus maximum fee) would break; the
 * error carries the quote when it is one read from a challenge.
 */
export function assertWithinBudget(
  state: ClientState,
  limits: BudgetLimits,
  quote: PaymentCost | PriceQuote,
  now: Date,
): void {
  const cost = quote.amountSats + quote.maxFeeSats;
  const spent = spending(state, now);
  const checks: [limit: number | undefined, spent: number, what: string][] = [
    [limits.hourlySats, spent.lastHourSats, "hourly budget"],
    [limits.dailySats, spent.lastDaySats, "daily budget"],
    [limits.totalSats, spent.totalSats, "total budget"],
    [limits.perOriginSats, spent.byOriginSats[quote.origin] ?? 0, `budget for ${quote.origin}`],
  ];
  for (const [limit, already, what] of checks) {
    if (limit !== undefined && already + cost > limit) {
      throw new L402ClientError(
        "budget_exceeded",
        `paying ${quote.amountSats} sats (+ up to ${quote.maxFeeSats} fee) would exceed the ${what}: ` +
          `${already} of ${limit} sats already spent`,
        isPriceQuote(quote) ? { quote } : {},
      );
    }
  }
}

/** What the tightest budget still allows to `origin` now (amount plus fee), in sats; infinite without limits. */
export function budgetLeftSats(state: ClientState, limits: BudgetLimits, origin: string, now: Date): number {
  const spent = spending(state, now);
  const left = [
    limits.hourlySats === undefined ? Number.POSITIVE_INFINITY : limits.hourlySats - spent.lastHourSats,
    limits.dailySats === undefined ? Number.POSITIVE_INFINITY : limits.dailySats - spent.lastDaySats,
    limits.totalSats === undefined ? Number.POSITIVE_INFINITY : limits.totalSats - spent.totalSats,
    limits.perOriginSats === undefined
      ? Number.POSITIVE_INFINITY
      : limits.perOriginSats - (spent.byOriginSats[origin] ?? 0),
  ];
  return Math.max(0, Math.min(...left));
}

export function isPriceQuote(cost: PaymentCost | PriceQuote): cost is PriceQuote {
  return "paymentHash" in cost;
}
