import type {
  CloseOutcome,
  CloseRequest,
  NewClaim,
  NewSession,
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
  // Owned first, then claimed: a session's token and its claim commit together, so a token seen here has its claim
  // seen next (on PostgreSQL a concurrent open may commit between the two statements).
  const owned = (yield* rows("hashOwnedElsewhere", hash)).length > 0;
  const [claim] = yield* rows<{ kind: string; token_id: string | null }>("claimByHash", hash);
  if (claim) return yield* openedBefore(claim);
  if (owned) return { ok: false, reason: "used" };
  // The claim first: on PostgreSQL a concurrent open of the same deposit waits here for the other to commit, then
  // finds its claim and answers the session it opened (inserting the token first would fail on its key instead).
  const inserted = yield* rows(
    "insertClaim",
    hash,
    "open",
    session.token.tokenId,
    session.token.service,
    session.token.priceSats,
    session.challengeId,
    at.getTime(),
  );
  if (inserted.length === 0) {
    const [winner] = yield* rows<{ kind: string; token_id: string | null }>("claimByHash", hash);
    return winner ? yield* openedBefore(winner) : { ok: false, reason: "used" };
  }
  yield* rows("insertToken", ...insertValues);
  const [row] = yield* rows<TokenRow>("openSession", session.token.tokenId, session.returnInvoice, at.getTime());
  if (!row) throw new Error("a new session's token was not issued");
  return { ok: true, token: toRecord(row), repeated: false };
}

/** A deposit already claimed: the session it opened (a repeated open), or refused when it paid for something else. */
function* openedBefore(claim: { kind: string; token_id: string | null }): LedgerProgram<SessionOpen> {
  if (claim.kind !== "open" || claim.token_id === null) return { ok: false, reason: "used" };
  const [row] = yield* rows<TokenRow>("tokenById", claim.token_id);
  return row ? { ok: true, token: toRecord(row), repeated: true } : { ok: false, reason: "used" };
}

export function* creditTopUpProgram(tokenId: string, claim: NewClaim): LedgerProgram<TopUpCredit> {
  const [existing] = yield* rows<{ kind: string; token_id: string | null }>("claimByHash", claim.paymentHash);
  if (existing) return existing.kind === "topup" && existing.token_id === tokenId ? "repeated" : "used";
  if ((yield* rows("hashOwnedElsewhere", claim.paymentHash)).length > 0) return "used";
  const [token] = yield* rows<TokenRow>("tokenByIdForUpdate", tokenId);
  if (token?.status !== "paid" || token.metered !== 1) return "closed";
  const at = claim.at.getTime();
  const inserted = yield* rows(
    "insertClaim",
    claim.paymentHash,
    "topup",
    tokenId,
    claim.service,
    claim.sats,
    claim.challengeId,
    at,
  );
  if (inserted.length === 0) {
    // Claimed meanwhile: on PostgreSQL a concurrent credit committed while this one waited for the token's lock.
    const [winner] = yield* rows<{ kind: string; token_id: string | null }>("claimByHash", claim.paymentHash);
    return winner?.kind === "topup" && winner.token_id === tokenId ? "repeated" : "used";
  }
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
  return { kind: "closed", refund: toRefund(inserted), token: toRecord(closed) };
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
