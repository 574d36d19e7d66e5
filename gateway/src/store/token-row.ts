import type { TokenRecord, TokenStatus } from "./store.js";

/** A `tokens` row as both stores read it (times in ms since the epoch, `metered` as 0 or 1). */
export interface TokenRow {
  token_id: string;
  root_key_id: string;
  root_key: Buffer | null;
  payment_hash: string;
  service: string;
  price_sats: number;
  invoice: string;
  status: TokenStatus;
  created_at: number;
  invoice_expires_at: number;
  valid_until: number;
  paid_at: number | null;
  revoked_at: number | null;
  metered: number;
  balance_msat: number;
  reserved_msat: number;
  credited_msat: number;
  charged_msat: number;
  requests: number;
}

/** The record a store returns for a `tokens` row. */
export function toRecord(row: TokenRow): TokenRecord {
  return {
    tokenId: row.token_id,
    rootKeyId: row.root_key_id,
    paymentHash: row.payment_hash,
    service: row.service,
    priceSats: row.price_sats,
    invoice: row.invoice,
    status: row.status,
    createdAt: new Date(row.created_at),
    invoiceExpiresAt: new Date(row.invoice_expires_at),
    validUntil: new Date(row.valid_until),
    ...(row.paid_at === null ? {} : { paidAt: new Date(row.paid_at) }),
    ...(row.revoked_at === null ? {} : { revokedAt: new Date(row.revoked_at) }),
    metered: row.metered === 1,
    account: {
      balanceMsat: row.balance_msat,
      reservedMsat: row.reserved_msat,
      creditedMsat: row.credited_msat,
      chargedMsat: row.charged_msat,
      requests: row.requests,
    },
  };
}
