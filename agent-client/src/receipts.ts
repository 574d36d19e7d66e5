import type { ClientState, Receipt, ReceiptStatus } from "./store/state.js";

export type { Receipt, ReceiptStatus } from "./store/state.js";

export interface ReceiptQuery {
  readonly origin?: string;
  readonly status?: ReceiptStatus;
  /** Only receipts created at or after this time. */
  readonly since?: Date;
  /** The newest N. */
  readonly limit?: number;
}

/** Receipts matching the query, newest first. */
export function queryReceipts(state: ClientState, query: ReceiptQuery = {}): Receipt[] {
  const matching = state.receipts
    .filter((receipt) => query.origin === undefined || receipt.origin === query.origin)
    .filter((receipt) => query.status === undefined || receipt.status === query.status)
    .filter((receipt) => query.since === undefined || Date.parse(receipt.createdAt) >= query.since.getTime())
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return query.limit === undefined ? matching : matching.slice(0, query.limit);
}

export function findReceipt(state: ClientState, paymentHash: string): Receipt | undefined {
  return state.receipts.find((receipt) => receipt.paymentHash === paymentHash);
}
