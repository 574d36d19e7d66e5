/** Persistence of L402 tokens, their root keys, and the LND settlement cursor. */

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
}

export type NewToken = Omit<TokenRecord, "status" | "paidAt" | "revokedAt"> & { readonly rootKey: Buffer };

export type RootKeyLookup =
  | { readonly found: "active"; readonly rootKey: Buffer; readonly token: TokenRecord }
  | { readonly found: "revoked"; readonly token: TokenRecord }
  | { readonly found: "none" };

export interface TokenFilter {
  readonly status?: TokenStatus;
  readonly service?: string;
  readonly limit?: number;
}

/**
 * Async so that a PostgreSQL implementation for several replicas can follow the same interface.
 * Every method is a single atomic statement or transaction.
 */
export interface TokenStore {
  insertToken(token: NewToken): Promise<void>;
  lookupRootKey(rootKeyId: string): Promise<RootKeyLookup>;
  /** Marks the token of a payment hash paid; undefined if unknown, already paid, or revoked. Exactly once per token. */
  markPaid(paymentHash: string, at: Date): Promise<TokenRecord | undefined>;
  /** Paid tokens that are neither revoked nor past their validity. */
  countActiveTokens(now: Date): Promise<number>;
  /** Revokes a token and erases its root key; undefined if no such token. */
  revoke(tokenId: string, at: Date): Promise<TokenRecord | undefined>;
  getToken(tokenId: string): Promise<TokenRecord | undefined>;
  listTokens(filter?: TokenFilter): Promise<TokenRecord[]>;
  /** Issued tokens whose invoice may still be paid, or was paid while nobody watched. */
  unpaidTokens(invoiceExpiredAfter: Date): Promise<TokenRecord[]>;
  /** LND's settle index of the last settlement this store has seen. */
  settleIndex(): Promise<number>;
  /** Advances the settle index; never moves it backwards. */
  advanceSettleIndex(index: number): Promise<void>;
  /** Cheap write probe for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
