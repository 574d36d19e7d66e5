import type { RefundUpdate } from "./ledger.js";
import type {
  ChargeEntry,
  NewToken,
  NewTopUp,
  RootKeyLookup,
  SettledPayment,
  TokenRecord,
  TokenStatus,
} from "./store.js";

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
  refunded_msat: number;
  scheme: "l402" | "payment";
  return_invoice: string | null;
}

/** Every column of a `tokens` row, in the order tokenRowOf reads them. */
export const TOKEN_COLUMNS = [
  "token_id",
  "root_key_id",
  "root_key",
  "payment_hash",
  "service",
  "price_sats",
  "invoice",
  "status",
  "created_at",
  "invoice_expires_at",
  "valid_until",
  "paid_at",
  "revoked_at",
  "metered",
  "balance_msat",
  "reserved_msat",
  "credited_msat",
  "charged_msat",
  "requests",
  "refunded_msat",
  "scheme",
  "return_invoice",
] as const satisfies readonly (keyof TokenRow)[];

type TokenValues = [
  string,
  string,
  Buffer | null,
  string,
  string,
  number,
  string,
  TokenStatus,
  number,
  number,
  number,
  number | null,
  number | null,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  "l402" | "payment",
  string | null,
];

/**
 * A `tokens` row from its values in TOKEN_COLUMNS order. Reading a row as values and naming them here costs less than
 * half of what the SQLite driver spends building the object, and the root-key lookup runs on every paid request.
 */
export function tokenRowOf(values: readonly unknown[]): TokenRow {
  const v = values as TokenValues;
  return {
    token_id: v[0],
    root_key_id: v[1],
    root_key: v[2],
    payment_hash: v[3],
    service: v[4],
    price_sats: v[5],
    invoice: v[6],
    status: v[7],
    created_at: v[8],
    invoice_expires_at: v[9],
    valid_until: v[10],
    paid_at: v[11],
    revoked_at: v[12],
    metered: v[13],
    balance_msat: v[14],
    reserved_msat: v[15],
    credited_msat: v[16],
    charged_msat: v[17],
    requests: v[18],
    refunded_msat: v[19],
    scheme: v[20],
    return_invoice: v[21],
  };
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
      refundedMsat: row.refunded_msat,
      requests: row.requests,
    },
    scheme: row.scheme,
    ...(row.return_invoice === null ? {} : { returnInvoice: row.return_invoice }),
  };
}

/** A `topups` row as both stores read it. */
export interface TopUpRow {
  payment_hash: string;
  token_id: string;
  root_key: Buffer;
  sats: number;
  status: "issued" | "paid";
}

/** The values of a new `tokens` row, in the column order of both stores' INSERT. */
export function tokenInsertValues(token: NewToken): (string | number | Buffer)[] {
  return [
    token.tokenId,
    token.rootKeyId,
    token.rootKey,
    token.paymentHash,
    token.service,
    token.priceSats,
    token.invoice,
    token.createdAt.getTime(),
    token.invoiceExpiresAt.getTime(),
    token.validUntil.getTime(),
    token.metered ? 1 : 0,
  ];
}

/** The values of a new `topups` row, in the column order of both stores' INSERT. */
export function topUpInsertValues(topUp: NewTopUp): (string | number | Buffer)[] {
  return [
    topUp.paymentHash,
    topUp.tokenId,
    topUp.rootKeyId,
    topUp.rootKey,
    topUp.sats,
    topUp.invoice,
    topUp.createdAt.getTime(),
    topUp.invoiceExpiresAt.getTime(),
  ];
}

/** The lookup for a root key found on a token's own row. */
export function tokenLookup(row: TokenRow): RootKeyLookup {
  if (row.status === "revoked" || row.root_key === null) return { found: "revoked", token: toRecord(row) };
  return {
    found: "active",
    rootKey: row.root_key,
    token: toRecord(row),
    credential: { paymentHash: row.payment_hash, paid: row.status === "paid" },
  };
}

/** The lookup for a root key found on a top-up: the token is its owner's, the invoice the top-up's. */
export function topUpLookup(topUp: TopUpRow, owner: TokenRow): RootKeyLookup {
  if (owner.status === "revoked") return { found: "revoked", token: toRecord(owner) };
  return {
    found: "active",
    rootKey: topUp.root_key,
    token: toRecord(owner),
    credential: { paymentHash: topUp.payment_hash, paid: topUp.status === "paid" },
  };
}

/** A token's own invoice seen paid (`row` as returned by the paying UPDATE). */
export function paidToken(row: TokenRow): SettledPayment {
  const token = toRecord(row);
  return { tokenId: token.tokenId, service: token.service, sats: token.priceSats, kind: "token", token };
}

/** A top-up of `sats` seen paid and credited (`credited` is the token's row after the credit). */
export function paidTopUp(credited: TokenRow, sats: number): SettledPayment {
  const token = toRecord(credited);
  return { tokenId: token.tokenId, service: token.service, sats, kind: "topup", token };
}

/** The parameters of LEDGER_SQL.updateRefund. */
export function refundUpdateValues(tokenId: string, update: RefundUpdate): unknown[] {
  return [
    tokenId,
    update.status,
    update.feeMsat ?? null,
    update.error ?? null,
    update.attempted ? 1 : 0,
    update.invoice?.request ?? null,
    update.invoice?.paymentHash ?? null,
    update.at.getTime(),
  ];
}

/** A `charges` row as both stores read it. */
export interface ChargeRow {
  service: string;
  model: string;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  amount_msat: number;
  reason: string;
  created_at: number;
}

export function toChargeEntry(row: ChargeRow): ChargeEntry {
  return {
    service: row.service,
    model: row.model,
    amountMsat: row.amount_msat,
    reason: row.reason,
    at: new Date(row.created_at),
    ...(row.prompt_tokens === null ? {} : { promptTokens: row.prompt_tokens }),
    ...(row.completion_tokens === null ? {} : { completionTokens: row.completion_tokens }),
  };
}
