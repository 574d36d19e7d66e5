import { closeCredentialsMigration } from "./close-credentials.js";
import { ledgerMigration, refundClaimMigration } from "./ledger.js";
import { ownerReportsMigration } from "./owner-reports.js";

/**
 * The PostgreSQL schema: the same versioned migrations as SQLite's (v1 tokens and cursors, v2 metering), with
 * PostgreSQL types (BIGINT msat and epoch milliseconds, BYTEA keys), plus v3: replica heartbeats, which SQLite does
 * not need (one gateway per file). Append only.
 */
export const POSTGRES_MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE tokens (
        token_id TEXT PRIMARY KEY,
        root_key_id TEXT NOT NULL UNIQUE,
        root_key BYTEA,
        payment_hash TEXT NOT NULL UNIQUE,
        service TEXT NOT NULL,
        price_sats BIGINT NOT NULL,
        invoice TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('issued', 'paid', 'revoked')),
        created_at BIGINT NOT NULL,
        invoice_expires_at BIGINT NOT NULL,
        valid_until BIGINT NOT NULL,
        paid_at BIGINT,
        revoked_at BIGINT
      );
      CREATE INDEX tokens_status_created ON tokens (status, created_at);
      CREATE TABLE cursors (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
      INSERT INTO cursors (name, value) VALUES ('lnd_settle_index', 0);
    `,
  },
  {
    version: 2,
    sql: `
      ALTER TABLE tokens ADD COLUMN metered INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tokens ADD COLUMN balance_msat BIGINT NOT NULL DEFAULT 0 CHECK (balance_msat >= 0);
      ALTER TABLE tokens ADD COLUMN reserved_msat BIGINT NOT NULL DEFAULT 0 CHECK (reserved_msat >= 0);
      ALTER TABLE tokens ADD COLUMN credited_msat BIGINT NOT NULL DEFAULT 0;
      ALTER TABLE tokens ADD COLUMN charged_msat BIGINT NOT NULL DEFAULT 0;
      ALTER TABLE tokens ADD COLUMN requests BIGINT NOT NULL DEFAULT 0;
      CREATE TABLE topups (
        payment_hash TEXT PRIMARY KEY,
        token_id TEXT NOT NULL REFERENCES tokens (token_id),
        root_key_id TEXT NOT NULL UNIQUE,
        root_key BYTEA NOT NULL,
        sats BIGINT NOT NULL CHECK (sats > 0),
        invoice TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('issued', 'paid')),
        created_at BIGINT NOT NULL,
        invoice_expires_at BIGINT NOT NULL,
        paid_at BIGINT
      );
      CREATE INDEX topups_status_expiry ON topups (status, invoice_expires_at);
      CREATE TABLE reservations (
        id BIGSERIAL PRIMARY KEY,
        token_id TEXT NOT NULL REFERENCES tokens (token_id),
        amount_msat BIGINT NOT NULL CHECK (amount_msat > 0),
        owner TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE charges (
        id BIGSERIAL PRIMARY KEY,
        token_id TEXT NOT NULL REFERENCES tokens (token_id),
        service TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt_tokens BIGINT,
        completion_tokens BIGINT,
        amount_msat BIGINT NOT NULL CHECK (amount_msat >= 0),
        reason TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX charges_token ON charges (token_id);
    `,
  },
  {
    // Several replicas share reservations: each heartbeats its owner id, and the reservations of an owner whose
    // heartbeat is older than the lease are released (docs/pricing.md, "Restarts and replicas").
    version: 3,
    sql: `
      CREATE TABLE replica_heartbeats (owner TEXT PRIMARY KEY, heartbeat_at BIGINT NOT NULL);
      CREATE INDEX reservations_owner ON reservations (owner, created_at);
    `,
  },
  // SQLite's migration 3: the Payment scheme and refunds.
  { version: 4, sql: ledgerMigration("BIGINT", "BYTEA") },
  // SQLite's migration 4: exactly-once refunds.
  { version: 5, sql: refundClaimMigration("BIGINT") },
  // SQLite's migration 5: who may retry a closed account's refund.
  { version: 6, sql: closeCredentialsMigration("BIGINT") },
  // SQLite's migration 6: the owner's reports (hourly traffic counters, indexes).
  { version: 7, sql: ownerReportsMigration("BIGINT") },
];

export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS.length;
