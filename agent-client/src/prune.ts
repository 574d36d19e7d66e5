import type { ClientState } from "./store/state.js";
import { pruneExpired } from "./tokens.js";

/** Failed receipts older than this are dropped: they cost nothing, so no budget needs them. */
export const FAILED_RECEIPT_TTL_MS = 7 * 24 * 3_600_000;
/** At most this many failed receipts are kept (the newest). */
export const MAX_FAILED_RECEIPTS = 100;
/** At most this many tokens are kept per origin (the most recently used): a server may name a new service per call. */
export const MAX_TOKENS_PER_ORIGIN = 16;

/**
 * Keeps the store bounded whatever a server does, without touching what budgets and recovery need: succeeded
 * receipts (the budget history: their number is bounded by the money spent) and pending ones (recovery) are kept;
 * failed receipts older than 7 days or beyond the newest 100 are dropped, as are expired tokens and, per origin,
 * tokens beyond the 16 most recently used.
 */
export function pruneStore(state: ClientState, now: Date): void {
  const failed = state.receipts
    .filter((receipt) => receipt.status === "failed")
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const dropped = new Set(
    failed
      .filter(
        (receipt, index) =>
          index >= MAX_FAILED_RECEIPTS || now.getTime() - Date.parse(receipt.createdAt) > FAILED_RECEIPT_TTL_MS,
      )
      .map((receipt) => receipt.paymentHash),
  );
  if (dropped.size > 0) state.receipts = state.receipts.filter((receipt) => !dropped.has(receipt.paymentHash));
  pruneExpired(state, now);
  const byOrigin = new Map<string, number>();
  state.tokens = [...state.tokens]
    .sort((a, b) => b.lastUsedAt.localeCompare(a.lastUsedAt))
    .filter((token) => {
      const count = (byOrigin.get(token.origin) ?? 0) + 1;
      byOrigin.set(token.origin, count);
      return count <= MAX_TOKENS_PER_ORIGIN;
    });
}
