import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { NewToken, RootKeyLookup, TokenFilter, TokenRecord, TokenStatus, TokenStore } from "./store.js";

/** Versioned migrations; append only. */
const MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE tokens (
        token_id TEXT PRIMARY KEY,
        root_key_id TEXT NOT NULL UNIQUE,
        root_key BLOB,
        payment_hash TEXT NOT NULL UNIQUE,
        service TEXT NOT NULL,
        price_sats INTEGER NOT NULL,
        invoice TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('issued', 'paid', 'revoked')),
        created_at INTEGER NOT NULL,
        invoice_expires_at INTEGER NOT NULL,
        valid_until INTEGER NOT NULL,
        paid_at INTEGER,
        revoked_at INTEGER
      );
      CREATE INDEX tokens_status_created ON tokens (status, created_at);
      CREATE TABLE cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT INTO cursors (name, value) VALUES ('lnd_settle_index', 0);
    `,
  },
];

interface TokenRow {
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
}

function toRecord(row: TokenRow): TokenRecord {
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
  };
}

const STATEMENTS = {
  insert: `INSERT INTO tokens (token_id, root_key_id, root_key, payment_hash, service, price_sats, invoice, status,
             created_at, invoice_expires_at, valid_until)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'issued', ?, ?, ?)`,
  byRootKeyId: "SELECT * FROM tokens WHERE root_key_id = ?",
  markPaid: "UPDATE tokens SET status = 'paid', paid_at = ? WHERE payment_hash = ? AND status = 'issued' RETURNING *",
  countActive: "SELECT COUNT(*) AS n FROM tokens WHERE status = 'paid' AND valid_until > ?",
  revoke: `UPDATE tokens SET status = 'revoked', root_key = NULL, revoked_at = COALESCE(revoked_at, ?)
           WHERE token_id = ? RETURNING *`,
  byTokenId: "SELECT * FROM tokens WHERE token_id = ?",
  list: `SELECT * FROM tokens WHERE (@status IS NULL OR status = @status) AND (@service IS NULL OR service = @service)
         ORDER BY created_at DESC LIMIT @limit`,
  unpaid: "SELECT * FROM tokens WHERE status = 'issued' AND invoice_expires_at > ? ORDER BY created_at",
  settleIndex: "SELECT value FROM cursors WHERE name = 'lnd_settle_index'",
  advanceSettleIndex: "UPDATE cursors SET value = MAX(value, ?) WHERE name = 'lnd_settle_index'",
  ping: "UPDATE cursors SET value = value WHERE name = 'lnd_settle_index'",
} as const;

export class SqliteTokenStore implements TokenStore {
  private readonly db: Database.Database;
  /** Prepared once: compiling SQL per request showed up in the gateway's profile. */
  private readonly statements: Record<keyof typeof STATEMENTS, Database.Statement>;

  constructor(path: string) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    // The revocation CLI writes while a gateway reads: wait for the lock instead of failing.
    this.db.pragma("busy_timeout = 5000");
    this.migrate();
    this.statements = Object.fromEntries(
      Object.entries(STATEMENTS).map(([name, sql]) => [name, this.db.prepare(sql)]),
    ) as Record<keyof typeof STATEMENTS, Database.Statement>;
  }

  /** The schema version after migrating. */
  get schemaVersion(): number {
    return (this.db.pragma("user_version", { simple: true }) as number) ?? 0;
  }

  private migrate(): void {
    const current = this.schemaVersion;
    const pending = MIGRATIONS.filter((m) => m.version > current);
    const apply = this.db.transaction(() => {
      for (const migration of pending) {
        this.db.exec(migration.sql);
        this.db.pragma(`user_version = ${migration.version}`);
      }
    });
    apply.immediate();
  }

  async insertToken(token: NewToken): Promise<void> {
    this.statements.insert.run(
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
    );
  }

  async lookupRootKey(rootKeyId: string): Promise<RootKeyLookup> {
    const row = this.statements.byRootKeyId.get(rootKeyId) as TokenRow | undefined;
    if (!row) return { found: "none" };
    if (row.status === "revoked" || row.root_key === null) return { found: "revoked", token: toRecord(row) };
    return { found: "active", rootKey: row.root_key, token: toRecord(row) };
  }

  async markPaid(paymentHash: string, at: Date): Promise<TokenRecord | undefined> {
    const row = this.statements.markPaid.get(at.getTime(), paymentHash) as TokenRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  async countActiveTokens(now: Date): Promise<number> {
    return (this.statements.countActive.get(now.getTime()) as { n: number }).n;
  }

  async revoke(tokenId: string, at: Date): Promise<TokenRecord | undefined> {
    const row = this.statements.revoke.get(at.getTime(), tokenId) as TokenRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  async getToken(tokenId: string): Promise<TokenRecord | undefined> {
    const row = this.statements.byTokenId.get(tokenId) as TokenRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  async listTokens(filter: TokenFilter = {}): Promise<TokenRecord[]> {
    const rows = this.statements.list.all({
      status: filter.status ?? null,
      service: filter.service ?? null,
      limit: filter.limit ?? 100,
    }) as TokenRow[];
    return rows.map(toRecord);
  }

  async unpaidTokens(invoiceExpiredAfter: Date): Promise<TokenRecord[]> {
    const rows = this.statements.unpaid.all(invoiceExpiredAfter.getTime()) as TokenRow[];
    return rows.map(toRecord);
  }

  async settleIndex(): Promise<number> {
    const row = this.statements.settleIndex.get() as { value: number } | undefined;
    return row?.value ?? 0;
  }

  async advanceSettleIndex(index: number): Promise<void> {
    this.statements.advanceSettleIndex.run(index);
  }

  async ping(): Promise<void> {
    this.statements.ping.run();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
