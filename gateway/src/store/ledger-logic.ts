import type {
  CloseOutcome,
  CloseRequest,
  NewClaim,
  NewSession,
  RefundAttemptEnd,
  RefundClaim,
  RefundClaimRequest,
  RefundRecord,
  RefundRow,
  SessionOpen,
  TopUpCredit,
} from "./ledger.js";
import { toRefund } from "./ledger.js";
import type { TokenRow } from "./token-row.js";
import { toRecord } from "./token-row.js";

/**
 * The decisions of the payment ledger, written once for both stores over a synchronous (SQLite, inside an immediate
 * transaction) or asynchronous (PostgreSQL, inside BEGIN…COMMIT with the token row locked) statement runner. The
 * generator yields each statement and receives its rows, so the decision code is not written twice.
 */
export type LedgerStep = { readonly sql: LedgerStatement; readonly params: readonly unknown[] };
export type LedgerStatement =
  | "claimByHash"
  | "hashOwnedElsewhere"
  | "insertClaim"
  | "openSession"
  | "credit"
  | "tokenById"
  | "tokenByIdForUpdate"
  | "refundById"
  | "refundByIdForUpdate"
  | "setRefund"
  | "refundInvoiceOwner"
  | "insertRefundInvoice"
  | "refundInvoiceAttempted"
  | "close"
  | "insertRefund"
  | "insertToken";
export type LedgerProgram<T> = Generator<LedgerStep, T, readonly unknown[]>;

function* rows<Row>(sql: LedgerStatement, ...params: unknown[]): Generator<LedgerStep, Row[], readonly unknown[]> {
  return (yield { sql, params }) as Row[];
}

export function* openSessionProgram(
  session: NewSession,
  at: Date,
  insertValues: readonly unknown[],
): LedgerProgram<SessionOpen> {
  const hash = session.token.paymentHash;
  const [claim] = yield* rows<{ kind: string; token_id: string | null }>("claimByHash", hash);
  if (claim) {
    if (claim.kind !== "open" || claim.token_id === null) return { ok: false, reason: "used" };
    const [row] = yield* rows<TokenRow>("tokenById", claim.token_id);
    return row ? { ok: true, token: toRecord(row), repeated: true } : { ok: false, reason: "used" };
  }
  if ((yield* rows("hashOwnedElsewhere", hash)).length > 0) return { ok: false, reason: "used" };
  yield* rows("insertToken", ...insertValues);
  const [row] = yield* rows<TokenRow>("openSession", session.token.tokenId, session.returnInvoice, at.getTime());
  yield* rows(
    "insertClaim",
    hash,
    "open",
    session.token.tokenId,
    session.token.service,
    session.token.priceSats,
    session.challengeId,
    at.getTime(),
  );
  if (!row) throw new Error("a new session's token was not issued");
  return { ok: true, token: toRecord(row), repeated: false };
}

export function* creditTopUpProgram(tokenId: string, claim: NewClaim): LedgerProgram<TopUpCredit> {
  const [existing] = yield* rows<{ kind: string; token_id: string | null }>("claimByHash", claim.paymentHash);
  if (existing) return existing.kind === "topup" && existing.token_id === tokenId ? "repeated" : "used";
  if ((yield* rows("hashOwnedElsewhere", claim.paymentHash)).length > 0) return "used";
  const [token] = yield* rows<TokenRow>("tokenByIdForUpdate", tokenId);
  if (token?.status !== "paid" || token.metered !== 1) return "closed";
  const at = claim.at.getTime();
  yield* rows("insertClaim", claim.paymentHash, "topup", tokenId, claim.service, claim.sats, claim.challengeId, at);
  yield* rows("credit", tokenId, claim.sats * 1000);
  return "credited";
}

export function* closeProgram(request: CloseRequest): LedgerProgram<CloseOutcome> {
  const [row] = yield* rows<TokenRow>("tokenByIdForUpdate", request.tokenId);
  if (!row) return { kind: "not_found" };
  const [refund] = yield* rows<RefundRow>("refundById", request.tokenId);
  if (refund) return { kind: "already_closed", refund: toRefund(refund), token: toRecord(row) };
  const token = toRecord(row);
  if (row.metered !== 1 || row.status !== "paid") return { kind: "not_refundable", token };
  if (row.reserved_msat > 0) return { kind: "busy", token };
  const amount = row.balance_msat;
  if (amount > request.maxMsat) return { kind: "over_cap", token };
  const invoiceAmount = request.invoice?.amountMsat;
  if (amount > 0 && (request.invoice === undefined || (invoiceAmount !== undefined && invoiceAmount !== amount))) {
    return { kind: "invoice_required", token, balanceMsat: amount };
  }
  const at = request.at.getTime();
  if (amount > 0 && request.invoice) {
    const [owner] = yield* rows<{ token_id: string }>("refundInvoiceOwner", request.invoice.paymentHash);
    if (owner && owner.token_id !== request.tokenId) return { kind: "invoice_used", token };
  }
  const [closed] = yield* rows<TokenRow>("close", request.tokenId, at, amount);
  if (!closed) throw new Error("a checked account could not be closed");
  const invoice = amount > 0 ? request.invoice : undefined;
  const [inserted] = yield* rows<RefundRow>(
    "insertRefund",
    request.tokenId,
    row.service,
    amount,
    invoice?.request ?? "",
    invoice?.paymentHash ?? "",
    amount > 0 ? "pending" : "skipped",
    at,
  );
  if (!inserted) throw new Error("the refund row was not written");
  if (invoice) yield* rows("insertRefundInvoice", invoice.paymentHash, request.tokenId, invoice.request, at);
  return { kind: "closed", refund: toRefund(inserted), token: toRecord(closed) };
}

function* writeRefund(row: RefundRow): LedgerProgram<RefundRecord> {
  const [written] = yield* rows<RefundRow>(
    "setRefund",
    row.token_id,
    row.status,
    row.fee_msat,
    row.error,
    row.claimed_by,
    row.claimed_until,
    row.invoice,
    row.payment_hash,
    row.attempts,
    row.updated_at,
  );
  if (!written) throw new Error("a locked refund row was not written");
  return toRefund(written);
}

/** See RefundClaimRequest: one holder of a refund's payment attempt at a time. */
export function* claimRefundProgram(request: RefundClaimRequest): LedgerProgram<RefundClaim> {
  const [row] = yield* rows<RefundRow>("refundByIdForUpdate", request.tokenId);
  if (!row) return { kind: "not_found" };
  const refund = toRefund(row);
  const at = request.at.getTime();
  if (row.status === "succeeded" || row.status === "skipped") return { kind: "idle", refund };
  if (row.claimed_until !== null && row.claimed_until > at) return { kind: "busy", refund };
  if (row.status === "failed" && !request.retry) return { kind: "idle", refund };
  let { invoice, payment_hash } = row;
  const next = request.invoice;
  // Only a failed refund moves to a new invoice: LND reported its attempt failed for good, so it cannot pay later.
  if (
    row.status === "failed" &&
    next !== undefined &&
    next.paymentHash !== row.payment_hash &&
    (next.amountMsat ?? row.amount_msat) === row.amount_msat
  ) {
    const [owner] = yield* rows<{ token_id: string }>("refundInvoiceOwner", next.paymentHash);
    if (owner && owner.token_id !== request.tokenId) return { kind: "invoice_used", refund };
    yield* rows("insertRefundInvoice", next.paymentHash, request.tokenId, next.request, at);
    invoice = next.request;
    payment_hash = next.paymentHash;
  }
  const [invoiceRow] = yield* rows<{ token_id: string; attempted_at: number | null }>(
    "refundInvoiceOwner",
    payment_hash,
  );
  const untried = invoiceRow ? invoiceRow.attempted_at === null : row.attempts === 0;
  const claimed = yield* writeRefund({
    ...row,
    status: "pending",
    invoice,
    payment_hash,
    claimed_by: request.claimId,
    claimed_until: at + request.leaseMs,
    updated_at: at,
  });
  return { kind: "claimed", refund: claimed, previous: row.status, untried };
}

/** Counts a payment attempt, only while `claimId` holds a live claim on the refund at `paymentHash`. */
export function* startRefundPaymentProgram(
  tokenId: string,
  claimId: string,
  paymentHash: string,
  at: Date,
): LedgerProgram<RefundRecord | undefined> {
  const [row] = yield* rows<RefundRow>("refundByIdForUpdate", tokenId);
  if (
    row?.status !== "pending" ||
    row.claimed_by !== claimId ||
    (row.claimed_until ?? 0) <= at.getTime() ||
    row.payment_hash !== paymentHash
  ) {
    return undefined;
  }
  yield* rows("refundInvoiceAttempted", paymentHash, at.getTime());
  return yield* writeRefund({ ...row, attempts: row.attempts + 1, updated_at: at.getTime() });
}

/**
 * Records what LND reported of an attempt, if the refund is still pending at that attempt (same payment hash, same
 * count: a later attempt's state is not overwritten by an earlier one's), and releases the caller's claim.
 */
export function* finishRefundAttemptProgram(end: RefundAttemptEnd): LedgerProgram<RefundRecord | undefined> {
  const [row] = yield* rows<RefundRow>("refundByIdForUpdate", end.tokenId);
  if (!row) return undefined;
  const current = row.status === "pending" && row.payment_hash === end.paymentHash && row.attempts === end.attempts;
  const record = current && end.status !== "pending";
  const release = row.claimed_by === end.claimId;
  if (!record && !release) return toRefund(row);
  return yield* writeRefund({
    ...row,
    ...(record
      ? {
          status: end.status,
          fee_msat: end.feeMsat ?? row.fee_msat,
          error: end.status === "failed" ? (end.error ?? "failed") : null,
        }
      : {}),
    ...(release ? { claimed_by: null, claimed_until: null } : {}),
    updated_at: end.at.getTime(),
  });
}

export function* claimChargeProgram(claim: NewClaim): LedgerProgram<boolean> {
  const at = claim.at.getTime();
  const inserted = yield* rows(
    "insertClaim",
    claim.paymentHash,
    "charge",
    null,
    claim.service,
    claim.sats,
    claim.challengeId,
    at,
  );
  return inserted.length === 1;
}
