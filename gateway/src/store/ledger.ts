import type { NewToken, TokenRecord } from "./store.js";

/**
 * What the Payment scheme and refunds add to the token store. A Payment session is a metered token (its id and
 * payment hash are the deposit's payment hash, its scheme `payment`): one account model for both schemes, with the
 * same reservations and charges. Invariant per metered token: credited = balance + reserved + charged + refunded.
 */

export type RefundStatus = "pending" | "succeeded" | "failed" | "skipped";

/** The one refund of a closed account (a token is closed at most once). */
export interface RefundRecord {
  readonly tokenId: string;
  readonly service: string;
  readonly amountMsat: number;
  /** The agent's invoice; empty when nothing was owed (`skipped`). */
  readonly invoice: string;
  /** The payment hash of `invoice`: LND's key for the payment, and what reconciliation looks up. */
  readonly paymentHash: string;
  readonly status: RefundStatus;
  readonly feeMsat: number;
  readonly attempts: number;
  readonly error?: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** Until when a process holds the refund's payment attempt (see claimRefund); undefined when none does. */
  readonly claimedUntil?: Date;
}

export interface NewSession {
  /** The session's token: `tokenId` and `paymentHash` are the deposit's payment hash; `priceSats` the deposit. */
  readonly token: NewToken;
  /** Where the unspent balance goes when the session closes (amountless BOLT11). */
  readonly returnInvoice: string;
  readonly challengeId: string;
}

export type SessionOpen =
  | { readonly ok: true; readonly token: TokenRecord; readonly repeated: boolean }
  | { readonly ok: false; readonly reason: "used" };

export interface NewClaim {
  readonly paymentHash: string;
  readonly service: string;
  readonly sats: number;
  readonly challengeId: string;
  readonly at: Date;
}

export type TopUpCredit = "credited" | "repeated" | "used" | "closed";

export interface CloseRequest {
  readonly tokenId: string;
  /**
   * The agent's invoice for the refund, its payment hash and, unless amountless, its amount (which must then equal
   * the balance); absent when the caller expects nothing to be owed.
   */
  readonly invoice?: { readonly request: string; readonly paymentHash: string; readonly amountMsat?: number };
  /** A balance above this is not refunded automatically: the close is refused and the account stays open. */
  readonly maxMsat: number;
  readonly at: Date;
}

export type CloseOutcome =
  | { readonly kind: "closed"; readonly refund: RefundRecord; readonly token: TokenRecord }
  | { readonly kind: "already_closed"; readonly refund: RefundRecord; readonly token: TokenRecord }
  | { readonly kind: "not_found" }
  /** The invoice's payment hash is already the refund invoice of another account. */
  | { readonly kind: "invoice_used"; readonly token: TokenRecord }
  /** Not a paid metered token (fixed-price, unpaid, or revoked by the operator). */
  | { readonly kind: "not_refundable"; readonly token: TokenRecord }
  /** A request is in flight: its reservation must settle first. */
  | { readonly kind: "busy"; readonly token: TokenRecord }
  | { readonly kind: "over_cap"; readonly token: TokenRecord }
  /** A balance is owed but no invoice was given, or the invoice asks another amount than the balance. */
  | { readonly kind: "invoice_required"; readonly token: TokenRecord; readonly balanceMsat: number };

export interface RefundUpdate {
  readonly status: RefundStatus;
  readonly feeMsat?: number;
  readonly error?: string;
  /** A new invoice for a retry of a failed refund. */
  readonly invoice?: { readonly request: string; readonly paymentHash: string };
  /** Counts one more payment attempt. */
  readonly attempted?: boolean;
  readonly at: Date;
}

/**
 * Asks for the one payment attempt of a refund: granted (`claimed`) to one caller at a time, across processes and
 * replicas, until it finishes the attempt or `leaseMs` passes (a holder that died). A failed refund is claimed only by
 * a retry (which may switch it to `invoice`); a pending one by anyone (a close, a retry, reconciliation), and whoever
 * holds it reads LND before paying.
 */
export interface RefundClaimRequest {
  readonly tokenId: string;
  /** Unique per claim: only its holder starts a payment or releases it. */
  readonly claimId: string;
  /** A retry asked by the agent: may reopen a failed refund, to `invoice` when one is given. */
  readonly retry: boolean;
  readonly invoice?: { readonly request: string; readonly paymentHash: string; readonly amountMsat?: number };
  readonly leaseMs: number;
  readonly at: Date;
}

export type RefundClaim =
  /**
   * `previous`: the status before the claim (a retry reopens `failed` as `pending`); `untried`: no attempt has yet
   * been started to pay the refund's current invoice (a new refund, or one a retry moved to a new invoice).
   */
  | {
      readonly kind: "claimed";
      readonly refund: RefundRecord;
      readonly previous: RefundStatus;
      readonly untried: boolean;
    }
  /** Another caller holds the attempt: answer the refund as it stands. */
  | { readonly kind: "busy"; readonly refund: RefundRecord }
  /** Nothing to pay: succeeded, skipped, or failed and not retried. */
  | { readonly kind: "idle"; readonly refund: RefundRecord }
  /** The retry's new invoice is already another account's refund invoice. */
  | { readonly kind: "invoice_used"; readonly refund: RefundRecord }
  | { readonly kind: "not_found" };

/** The end of a claimed attempt: what LND reported, recorded only while the refund is still at that attempt. */
export interface RefundAttemptEnd {
  readonly tokenId: string;
  readonly claimId: string;
  /** The attempt this outcome is about: its payment hash and the `attempts` count it was read at. */
  readonly paymentHash: string;
  readonly attempts: number;
  /** `pending` releases the claim and records nothing (LND has the payment in flight, or could not be asked). */
  readonly status: "pending" | "succeeded" | "failed";
  readonly feeMsat?: number;
  readonly error?: string;
  readonly at: Date;
}

/** The Payment scheme's claims on payment hashes: sessions opened, topped up and charged, each hash once. */
export interface PaymentClaims {
  /**
   * Opens a session: inserts its metered token already paid and credited with the deposit, and claims the deposit's
   * payment hash, in one transaction. A repeated open of the same deposit returns the session (`repeated`); a hash
   * claimed otherwise (a charge, a top-up) is refused.
   */
  openSession(session: NewSession, at: Date): Promise<SessionOpen>;
  /**
   * Credits a paid session invoice to an open session, exactly once per payment hash: a repeat for the same session
   * is `repeated` (nothing credited), a hash claimed by anything else is `used`, a closed session `closed`.
   */
  creditTopUp(tokenId: string, claim: NewClaim): Promise<TopUpCredit>;
  /** Claims a charge's payment hash once; false when it was claimed before (a replay). */
  claimCharge(claim: NewClaim): Promise<boolean>;
  /**
   * The secret binding Payment challenge ids: `candidate` is stored if none is yet, and the stored one returned, so
   * every replica and every restart uses the same.
   */
  paymentSecret(candidate: Buffer): Promise<Buffer>;
}

/** Closed accounts and their refunds: the close itself and each refund's payment attempts. */
export interface RefundLedger {
  /**
   * Closes a paid metered token (L402 or Payment session) in one transaction: its balance moves to refunded, the
   * token is revoked (root key erased), and a refund row is written, `pending` (or `skipped` when nothing is owed).
   * A token closed before answers `already_closed` with its stored refund: a repeated close never pays twice.
   */
  closeAccount(request: CloseRequest): Promise<CloseOutcome>;
  /** Claims a refund's payment attempt (see RefundClaimRequest), atomically for every process and replica. */
  claimRefund(request: RefundClaimRequest): Promise<RefundClaim>;
  /**
   * Counts one more payment attempt if `claimId` still holds the refund's claim on `paymentHash`, and returns the
   * refund then: only after this may the holder ask LND to pay. Undefined when the claim was lost.
   */
  startRefundPayment(
    tokenId: string,
    claimId: string,
    paymentHash: string,
    at: Date,
  ): Promise<RefundRecord | undefined>;
  /** Records the end of an attempt and releases the claim when `claimId` holds it; returns the refund as it is then. */
  finishRefundAttempt(end: RefundAttemptEnd): Promise<RefundRecord | undefined>;
  /** Every invoice's payment hash a refund of `tokenId` was ever to be paid to (the first, then each switch). */
  refundPaymentHashes(tokenId: string): Promise<string[]>;
  /** Records a refund payment's progress (the operator's tools); undefined if the token has no refund. */
  updateRefund(tokenId: string, update: RefundUpdate): Promise<RefundRecord | undefined>;
  getRefund(tokenId: string): Promise<RefundRecord | undefined>;
  /** Refunds, newest first; `status` filters (e.g. `pending` for reconciliation after a restart). */
  listRefunds(filter?: { readonly status?: RefundStatus; readonly limit?: number }): Promise<RefundRecord[]>;
}

/** Everything the Payment scheme and refunds add to the token store. */
export interface PaymentLedger extends PaymentClaims, RefundLedger {}

/** A `refunds` row as both stores read it. */
export interface RefundRow {
  token_id: string;
  service: string;
  amount_msat: number;
  invoice: string;
  payment_hash: string;
  status: RefundStatus;
  fee_msat: number;
  attempts: number;
  error: string | null;
  created_at: number;
  updated_at: number;
  claimed_by: string | null;
  claimed_until: number | null;
}

export function toRefund(row: RefundRow): RefundRecord {
  return {
    tokenId: row.token_id,
    service: row.service,
    amountMsat: row.amount_msat,
    invoice: row.invoice,
    paymentHash: row.payment_hash,
    status: row.status,
    feeMsat: row.fee_msat,
    attempts: row.attempts,
    ...(row.error === null ? {} : { error: row.error }),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    ...(row.claimed_until === null || row.claimed_until === undefined
      ? {}
      : { claimedUntil: new Date(row.claimed_until) }),
  };
}

/** Columns both stores add (SQLite migration 3, PostgreSQL migration 4); `BLOB` becomes `BYTEA` on PostgreSQL. */
export function ledgerMigration(int: "INTEGER" | "BIGINT", blob: "BLOB" | "BYTEA"): string {
  return `
    ALTER TABLE tokens ADD COLUMN refunded_msat ${int} NOT NULL DEFAULT 0;
    ALTER TABLE tokens ADD COLUMN scheme TEXT NOT NULL DEFAULT 'l402';
    ALTER TABLE tokens ADD COLUMN return_invoice TEXT;
    CREATE TABLE payment_claims (
      payment_hash TEXT PRIMARY KEY,
      kind TEXT NOT NULL CHECK (kind IN ('charge', 'open', 'topup')),
      token_id TEXT,
      service TEXT NOT NULL,
      sats ${int} NOT NULL CHECK (sats > 0),
      challenge_id TEXT NOT NULL,
      claimed_at ${int} NOT NULL
    );
    CREATE INDEX payment_claims_token ON payment_claims (token_id);
    CREATE TABLE refunds (
      token_id TEXT PRIMARY KEY REFERENCES tokens (token_id),
      service TEXT NOT NULL,
      amount_msat ${int} NOT NULL CHECK (amount_msat >= 0),
      invoice TEXT NOT NULL,
      payment_hash TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'skipped')),
      fee_msat ${int} NOT NULL DEFAULT 0,
      attempts ${int} NOT NULL DEFAULT 0,
      error TEXT,
      created_at ${int} NOT NULL,
      updated_at ${int} NOT NULL
    );
    CREATE INDEX refunds_status ON refunds (status, updated_at);
    CREATE TABLE secrets (name TEXT PRIMARY KEY, value ${blob} NOT NULL);
  `;
}

/**
 * Exactly-once refunds (SQLite migration 4, PostgreSQL migration 5): the claim on a refund's payment attempt, and every
 * invoice a refund was ever to be paid to (each payment hash belonging to one account only) with when an attempt to
 * pay it first started.
 */
export function refundClaimMigration(int: "INTEGER" | "BIGINT"): string {
  return `
    ALTER TABLE refunds ADD COLUMN claimed_by TEXT;
    ALTER TABLE refunds ADD COLUMN claimed_until ${int};
    CREATE TABLE refund_invoices (
      payment_hash TEXT PRIMARY KEY,
      token_id TEXT NOT NULL REFERENCES tokens (token_id),
      invoice TEXT NOT NULL,
      created_at ${int} NOT NULL,
      attempted_at ${int}
    );
    CREATE INDEX refund_invoices_token ON refund_invoices (token_id);
    INSERT INTO refund_invoices (payment_hash, token_id, invoice, created_at, attempted_at)
      SELECT payment_hash, token_id, invoice, created_at, CASE WHEN attempts > 0 THEN updated_at END FROM refunds
      WHERE payment_hash <> ''
      ON CONFLICT (payment_hash) DO NOTHING;
  `;
}
