/**
 * The credentials that closed an account, by the SHA-256 of their macaroon signature. Closing erases the token's root
 * keys, so a later retry (or a new refund invoice) can no longer be checked against a signature; it must present one
 * of these exact credentials instead. A macaroon signature is known only to whoever holds that macaroon, and a
 * delegate holds only the signature of its own, narrowed, macaroon, from which the owner's cannot be computed.
 */
export const CLOSE_CREDENTIALS_SQL = {
  record: `INSERT INTO close_credentials (token_id, signature_sha256, recorded_at) VALUES ($1, $2, $3)
           ON CONFLICT (token_id, signature_sha256) DO NOTHING`,
  find: "SELECT 1 AS found FROM close_credentials WHERE token_id = $1 AND signature_sha256 = $2",
} as const;

/** The table both stores add (SQLite migration 4, PostgreSQL migration 5). */
export function closeCredentialsMigration(int: "INTEGER" | "BIGINT"): string {
  return `
    CREATE TABLE close_credentials (
      token_id TEXT NOT NULL REFERENCES tokens (token_id),
      signature_sha256 TEXT NOT NULL,
      recorded_at ${int} NOT NULL,
      PRIMARY KEY (token_id, signature_sha256)
    );
  `;
}
