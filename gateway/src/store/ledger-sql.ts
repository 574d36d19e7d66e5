/**
 * SQL of the payment ledger, shared by both stores: written with PostgreSQL's `$n` parameters, which SQLite reads
 * as `@pn` (see sqliteParams). Each store runs them inside one transaction per ledger operation.
 */
export const LEDGER_SQL = {
  claimByHash: "SELECT kind, token_id FROM payment_claims WHERE payment_hash = $1",
  hashOwnedElsewhere: `SELECT 1 AS found FROM tokens WHERE payment_hash = $1
                       UNION ALL SELECT 1 AS found FROM topups WHERE payment_hash = $1`,
  insertClaim: `INSERT INTO payment_claims (payment_hash, kind, token_id, service, sats, challenge_id, claimed_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (payment_hash) DO NOTHING RETURNING payment_hash`,
  openSession: `UPDATE tokens SET scheme = 'payment', return_invoice = $2, status = 'paid', paid_at = $3,
                  balance_msat = balance_msat + price_sats * 1000, credited_msat = credited_msat + price_sats * 1000
                WHERE token_id = $1 AND status = 'issued' RETURNING *`,
  credit: `UPDATE tokens SET balance_msat = balance_msat + $2, credited_msat = credited_msat + $2
           WHERE token_id = $1 RETURNING *`,
  tokenById: "SELECT * FROM tokens WHERE token_id = $1",
  refundById: "SELECT * FROM refunds WHERE token_id = $1",
  close: `UPDATE tokens SET refunded_msat = refunded_msat + balance_msat, balance_msat = 0, status = 'revoked',
            root_key = NULL, revoked_at = COALESCE(revoked_at, $2)
          WHERE token_id = $1 AND status = 'paid' AND metered = 1 AND reserved_msat = 0 AND balance_msat = $3
          RETURNING *`,
  insertRefund: `INSERT INTO refunds (token_id, service, amount_msat, invoice, payment_hash, status, fee_msat, attempts,
                   error, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 0, 0, NULL, $7, $7) RETURNING *`,
  // A refund LND reported succeeded never changes again.
  updateRefund: `UPDATE refunds SET status = $2, fee_msat = COALESCE($3, fee_msat), error = $4,
                   attempts = attempts + $5, invoice = COALESCE($6, invoice), payment_hash = COALESCE($7, payment_hash),
                   updated_at = $8
                 WHERE token_id = $1 AND status <> 'succeeded' RETURNING *`,
  // Written by the refund programs, which decide every column from the row they locked (see ledger-logic.ts).
  setRefund: `UPDATE refunds SET status = $2, fee_msat = $3, error = $4, claimed_by = $5, claimed_until = $6, invoice = $7,
                payment_hash = $8, attempts = $9, updated_at = $10
              WHERE token_id = $1 RETURNING *`,
  refundInvoiceOwner: "SELECT token_id, attempted_at FROM refund_invoices WHERE payment_hash = $1",
  refundInvoiceAttempted:
    "UPDATE refund_invoices SET attempted_at = COALESCE(attempted_at, $2) WHERE payment_hash = $1 RETURNING payment_hash",
  insertRefundInvoice: `INSERT INTO refund_invoices (payment_hash, token_id, invoice, created_at) VALUES ($1, $2, $3, $4)
                        ON CONFLICT (payment_hash) DO NOTHING RETURNING payment_hash`,
  refundPaymentHashes: "SELECT payment_hash FROM refund_invoices WHERE token_id = $1 ORDER BY created_at, payment_hash",
  listRefunds: `SELECT * FROM refunds WHERE ($1::text IS NULL OR status = $1::text) ORDER BY updated_at DESC LIMIT $2`,
  insertSecret: "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
  secret: "SELECT value FROM secrets WHERE name = $1",
} as const;

export const PAYMENT_SECRET_NAME = "payment-hmac-v1";

/** The same statement with SQLite named parameters `@p1`, `@p2`… (see sqliteBindings) and without casts. */
export function sqliteParams(sql: string): string {
  return sql.replace(/\$(\d+)/g, "@p$1").replace(/::[a-z]+/g, "");
}

/** Positional values as the named bindings sqliteParams' statements take. */
export function sqliteBindings(values: readonly unknown[]): Record<string, unknown> {
  return Object.fromEntries(values.map((value, i) => [`p${i + 1}`, value]));
}
