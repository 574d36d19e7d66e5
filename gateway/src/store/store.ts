import type { PaymentLedger } from "./ledger.js";
import type { OwnerReports } from "./owner-reports.js";

/** Persistence of L402 tokens and Payment sessions, their root keys, refunds, and the LND settlement cursor. */

export type TokenStatus = "issued" | "paid" | "revoked";

export interface TokenRecord {
  /** Hex of the 32-byte token id in the identifier. */
  readonly tokenId: string;
  /** Hex of sha256(identifier): the key the root key is stored under. */
  readonly rootKeyId: string;
  readonly paymentHash: string;
  readonly service: string;
  readonly priceSats: number;
  readonly invoice: string;
  readonly status: TokenStatus;
  readonly createdAt: Date;
  readonly invoiceExpiresAt: Date;
  readonly validUntil: Date;
  readonly paidAt?: Date;
  readonly revokedAt?: Date;
  /** Metered tokens carry a prepaid balance that each request draws down; the others buy access until validUntil. */
  readonly metered: boolean;
  readonly account: TokenAccount;
  /** How the account was opened: an L402 token, or a Payment session (whose token id is the deposit's hash). */
  readonly scheme: "l402" | "payment";
  /** A Payment session's refund invoice, given at open. */
  readonly returnInvoice?: string;
}

/** A metered token's money, in msat. Invariant: credited = balance + reserved + charged + refunded. */
export interface TokenAccount {
  readonly balanceMsat: number;
  readonly reservedMsat: number;
  readonly creditedMsat: number;
  readonly chargedMsat: number;
  /** Moved out of the balance when the account was closed, to be paid back to the agent. */
  readonly refundedMsat: number;
  readonly requests: number;
}

export type NewToken = Omit<
  TokenRecord,
  "status" | "paidAt" | "revokedAt" | "metered" | "account" | "scheme" | "returnInvoice"
> & {
  readonly rootKey: Buffer;
  readonly metered?: boolean;
};

/** A second invoice for an existing metered token: paying it adds to the same token's balance. */
export interface NewTopUp {
  readonly tokenId: string;
  readonly rootKeyId: string;
  readonly rootKey: Buffer;
  readonly paymentHash: string;
  readonly sats: number;
  readonly invoice: string;
  readonly createdAt: Date;
  readonly invoiceExpiresAt: Date;
}

/** An invoice seen paid for the first time: a token's own invoice, or a top-up. */
export interface SettledPayment {
  readonly tokenId: string;
  readonly service: string;
  readonly sats: number;
  readonly kind: "token" | "topup";
  readonly token: TokenRecord;
}

export type Reservation =
  | { readonly ok: true; readonly id: number; readonly amountMsat: number; readonly balanceMsat: number }
  | { readonly ok: false; readonly balanceMsat: number };

export interface Charge {
  readonly amountMsat: number;
  readonly service: string;
  /** Model name for LLM routes, "-" otherwise. */
  readonly model: string;
  readonly promptTokens?: number;
  readonly completionTokens?: number;
  /** Why this amount: usage, partial (client left mid-stream), failed (nothing charged), no_usage, fixed, released. */
  readonly reason: string;
}

export interface ClosedReservation {
  readonly chargedMsat: number;
  readonly balanceMsat: number;
}

export interface RevenueRow {
  readonly service: string;
  readonly model: string;
  readonly chargedMsat: number;
  readonly requests: number;
}

export interface PaymentsRow {
  readonly service: string;
  readonly sats: number;
  readonly invoices: number;
}

/** The invoice a presented macaroon commits to: the token's own, or one of its top-ups. */
export interface CredentialInvoice {
  readonly paymentHash: string;
  readonly paid: boolean;
}

export type RootKeyLookup =
  | {
      readonly found: "active";
      readonly rootKey: Buffer;
      readonly token: TokenRecord;
      readonly credential: CredentialInvoice;
    }
  | { readonly found: "revoked"; readonly token: TokenRecord }
  | { readonly found: "none" };

export interface TokenFilter {
  readonly status?: TokenStatus;
  readonly service?: string;
  /** The token whose own invoice or one of whose top-ups has this payment hash. */
  readonly paymentHash?: string;
  readonly limit?: number;
}

/** One line of a token's charges ledger. */
export interface ChargeEntry extends Charge {
  readonly at: Date;
}

/*
 * The store's roles. Each consumer names the roles it uses; TokenStore, all of them, is what the SQLite and PostgreSQL
 * stores implement. Async so that a PostgreSQL implementation for several replicas can follow the same interfaces.
 * Every method is a single atomic statement or transaction.
 */

/** Tokens and top-ups with their root keys: written by the challenger, read by the authenticator. */
export interface RootKeys {
  insertToken(token: NewToken): Promise<void>;
  insertTopUp(topUp: NewTopUp): Promise<void>;
  lookupRootKey(rootKeyId: string): Promise<RootKeyLookup>;
}

/** Invoices seen paid, and how far LND's settlements have been read. */
export interface Settlements {
  /**
   * Marks the invoice of a payment hash paid (a token's own or a top-up) and credits a metered token's balance with
   * its amount; undefined if unknown, already paid, or revoked. Exactly once per invoice.
   */
  markPaid(paymentHash: string, at: Date): Promise<SettledPayment | undefined>;
  /** Payment hashes of unpaid invoices (tokens' and top-ups') that may still be paid, or were paid unwatched. */
  unpaidPaymentHashes(invoiceExpiredAfter: Date): Promise<string[]>;
  /** LND's settle index of the last settlement this store has seen. */
  settleIndex(): Promise<number>;
  /** Advances the settle index; never moves it backwards. */
  advanceSettleIndex(index: number): Promise<void>;
}

/** Metered reservations: money held from a balance while a request runs, and the processes that hold them. */
export interface Reservations {
  /** Takes `amountMsat` from a paid metered token's balance into a reservation, or nothing if the balance is short. */
  reserve(tokenId: string, amountMsat: number, at: Date): Promise<Reservation>;
  /**
   * Ends a reservation: charges at most its amount and returns the rest to the balance, in one transaction.
   * Undefined if the reservation was already closed or released.
   */
  closeReservation(reservationId: number, charge: Charge, at: Date): Promise<ClosedReservation | undefined>;
  /** Names this process in the reservations (and refund claims) it makes. */
  readonly owner: string;
  /**
   * Releases (charges nothing for) reservations that no running gateway will close; returns how many. SQLite (one
   * gateway per file): those other owners made before this store was opened. PostgreSQL (several replicas): records
   * this replica's heartbeat, then releases those of owners whose heartbeat is older than the lease. The same owners'
   * claims on refund payment attempts are released too (the next holder reads LND before paying).
   */
  releaseStaleReservations(now?: Date): Promise<number>;
  /**
   * Releases every reservation (and refund claim) of `owner`, a process known to have stopped (a worker that died);
   * returns how many reservations.
   */
  releaseReservationsOf(owner: string, at: Date): Promise<number>;
  /** How often `releaseStaleReservations` must run to keep this replica's lease; undefined when once at start is enough. */
  readonly heartbeatIntervalMs: number | undefined;
}

/** Tokens as the operator sees them: one, a list, its charges, and revocation. */
export interface Accounts {
  getToken(tokenId: string): Promise<TokenRecord | undefined>;
  listTokens(filter?: TokenFilter): Promise<TokenRecord[]>;
  /** A token's charges ledger, newest first. */
  chargesOf(tokenId: string, limit: number): Promise<ChargeEntry[]>;
  /** Revokes a token and erases its root key; undefined if no such token. */
  revoke(tokenId: string, at: Date): Promise<TokenRecord | undefined>;
}

/** Totals over every account: money held, revenue, payments, tokens in use. */
export interface AccountReports {
  /** Sum of balances and reservations of paid metered tokens: money agents have prepaid and not yet spent. */
  outstandingBalanceMsat(): Promise<number>;
  /** Charges by service and model; only those made at or after `since` when given. */
  revenueByModel(since?: Date): Promise<RevenueRow[]>;
  /** Paid invoices (tokens' and top-ups') by service; only those paid at or after `since` when given. */
  paymentsByService(since?: Date): Promise<PaymentsRow[]>;
  /** Paid tokens that are neither revoked nor past their validity. */
  countActiveTokens(now: Date): Promise<number>;
}

/** Credentials allowed to close an account after its root keys were erased. */
export interface CloseCredentials {
  /**
   * Remembers that the credential whose macaroon signature hashes to `signatureSha256` may close `tokenId`'s account
   * (it was verified, with the issuer's caveats only, before the close erased the root keys). Idempotent.
   */
  recordCloseCredential(tokenId: string, signatureSha256: string, at: Date): Promise<void>;
  /** Whether a credential recorded by recordCloseCredential for this account has this signature hash. */
  isCloseCredential(tokenId: string, signatureSha256: string): Promise<boolean>;
}

/** The store as a resource: probed for readiness, closed at shutdown. */
export interface StoreLifecycle {
  /** Cheap write probe for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Every role: what the SQLite and PostgreSQL stores implement, and what only the wiring (server, app) takes. */
export interface TokenStore
  extends RootKeys,
    Settlements,
    Reservations,
    Accounts,
    AccountReports,
    CloseCredentials,
    StoreLifecycle,
    PaymentLedger,
    OwnerReports {}
