import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { CLOSE_CREDENTIALS_SQL, closeCredentialsMigration } from "./close-credentials.js";
import type {
  CloseOutcome,
  CloseRequest,
  NewClaim,
  NewSession,
  RefundAttemptEnd,
  RefundClaim,
  RefundClaimRequest,
  RefundRecord,
  RefundRow,
  RefundStatus,
  RefundUpdate,
  SessionOpen,
  TopUpCredit,
} from "./ledger.js";
import { ledgerMigration, refundClaimMigration, toRefund } from "./ledger.js";
import * as programs from "./ledger-logic.js";
import { LEDGER_SQL, PAYMENT_SECRET_NAME, sqliteBindings, sqliteParams } from "./ledger-sql.js";
import * as reports from "./owner-reports.js";
import { RootKeyCache } from "./root-key-cache.js";
import type {
  Charge,
  ChargeEntry,
  ClosedReservation,
  NewToken,
  NewTopUp,
  PaymentsRow,
  Reservation,
  RevenueRow,
  RootKeyLookup,
  SettledPayment,
  TokenFilter,
  TokenRecord,
  TokenStore,
} from "./store.js";
import {
  type ChargeRow,
  paidToken,
  paidTopUp,
  refundUpdateValues,
  TOKEN_COLUMNS,
  type TokenRow,
  type TopUpRow,
  toChargeEntry,
  tokenInsertValues,
  tokenLookup,
  tokenRowOf,
  topUpInsertValues,
  topUpLookup,
  toRecord,
} from "./token-row.js";

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
  {
    // Prepaid metering: balances on tokens, top-up invoices, reservations in flight, and the charges ledger.
    version: 2,
    sql: `
      ALTER TABLE tokens ADD COLUMN metered INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tokens ADD COLUMN balance_msat INTEGER NOT NULL DEFAULT 0 CHECK (balance_msat >= 0);
      ALTER TABLE tokens ADD COLUMN reserved_msat INTEGER NOT NULL DEFAULT 0 CHECK (reserved_msat >= 0);
      ALTER TABLE tokens ADD COLUMN credited_msat INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tokens ADD COLUMN charged_msat INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tokens ADD COLUMN requests INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE topups (
        payment_hash TEXT PRIMARY KEY,
        token_id TEXT NOT NULL REFERENCES tokens (token_id),
        root_key_id TEXT NOT NULL UNIQUE,
        root_key BLOB NOT NULL,
        sats INTEGER NOT NULL CHECK (sats > 0),
        invoice TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('issued', 'paid')),
        created_at INTEGER NOT NULL,
        invoice_expires_at INTEGER NOT NULL,
        paid_at INTEGER
      );
      CREATE INDEX topups_status_expiry ON topups (status, invoice_expires_at);
      CREATE TABLE reservations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        token_id TEXT NOT NULL REFERENCES tokens (token_id),
        amount_msat INTEGER NOT NULL CHECK (amount_msat > 0),
        owner TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE charges (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        token_id TEXT NOT NULL REFERENCES tokens (token_id),
        service TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        amount_msat INTEGER NOT NULL CHECK (amount_msat >= 0),
        reason TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX charges_token ON charges (token_id);
    `,
  },
  // The Payment scheme and refunds: sessions are metered tokens, claims of Payment invoices, refunds, the HMAC secret.
  { version: 3, sql: ledgerMigration("INTEGER", "BLOB") },
  // Exactly-once refunds: the claim on a refund's payment attempt, and the invoices each refund was to be paid to.
  { version: 4, sql: refundClaimMigration("INTEGER") },
  // Who may retry a closed account's refund: the credentials that closed it.
  { version: 5, sql: closeCredentialsMigration("INTEGER") },
  // The owner's reports: hourly challenge and call counters, and indexes for the token list and revenue series.
  { version: 6, sql: reports.ownerReportsMigration("INTEGER") },
];

const STATEMENTS = {
  insert: `INSERT INTO tokens (token_id, root_key_id, root_key, payment_hash, service, price_sats, invoice, status,
             created_at, invoice_expires_at, valid_until, metered)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'issued', ?, ?, ?, ?)`,
  topUpByRootKeyId: "SELECT * FROM topups WHERE root_key_id = ?",
  markPaid: `UPDATE tokens SET status = 'paid', paid_at = @at,
               balance_msat = balance_msat + metered * price_sats * 1000,
               credited_msat = credited_msat + metered * price_sats * 1000
             WHERE payment_hash = @hash AND status = 'issued' RETURNING *`,
  markTopUpPaid: `UPDATE topups SET status = 'paid', paid_at = @at
                  WHERE payment_hash = @hash AND status = 'issued'
                    AND token_id IN (SELECT token_id FROM tokens WHERE status = 'paid')
                  RETURNING *`,
  credit: `UPDATE tokens SET balance_msat = balance_msat + @msat, credited_msat = credited_msat + @msat
           WHERE token_id = @tokenId RETURNING *`,
  insertTopUp: `INSERT INTO topups (payment_hash, token_id, root_key_id, root_key, sats, invoice, status, created_at,
                  invoice_expires_at)
                VALUES (?, ?, ?, ?, ?, ?, 'issued', ?, ?)`,
  reserve: `UPDATE tokens SET balance_msat = balance_msat - @amount, reserved_msat = reserved_msat + @amount
            WHERE token_id = @tokenId AND status = 'paid' AND metered = 1 AND balance_msat >= @amount
            RETURNING balance_msat`,
  balance: "SELECT balance_msat FROM tokens WHERE token_id = ?",
  insertReservation: `INSERT INTO reservations (token_id, amount_msat, owner, created_at) VALUES (?, ?, ?, ?)`,
  takeReservation: "DELETE FROM reservations WHERE id = ? RETURNING token_id, amount_msat",
  applyCharge: `UPDATE tokens SET reserved_msat = reserved_msat - @reserved,
                  balance_msat = balance_msat + @reserved - @charge,
                  charged_msat = charged_msat + @charge, requests = requests + 1
                WHERE token_id = @tokenId RETURNING balance_msat`,
  insertCharge: `INSERT INTO charges (token_id, service, model, prompt_tokens, completion_tokens, amount_msat, reason,
                   created_at)
                 VALUES (@tokenId, @service, @model, @promptTokens, @completionTokens, @amount, @reason, @at)`,
  staleReservations:
    "SELECT r.id, t.service FROM reservations r JOIN tokens t USING (token_id) WHERE r.owner != ? AND r.created_at < ?",
  reservationsOf: "SELECT r.id, t.service FROM reservations r JOIN tokens t USING (token_id) WHERE r.owner = ?",
  // A refund claim's id starts with its owner and '/' (see Refunds): a stopped owner's claims are released, and
  // whoever claims next reads LND before paying.
  staleRefundClaims: `UPDATE refunds SET claimed_by = NULL, claimed_until = NULL
                      WHERE claimed_by IS NOT NULL AND substr(claimed_by, 1, length(@owner) + 1) <> @owner || '/'
                        AND updated_at < @before`,
  refundClaimsOf: `UPDATE refunds SET claimed_by = NULL, claimed_until = NULL
                   WHERE substr(claimed_by, 1, length(@owner) + 1) = @owner || '/'`,
  outstanding:
    "SELECT COALESCE(SUM(balance_msat + reserved_msat), 0) AS msat FROM tokens WHERE status = 'paid' AND metered = 1",
  revenueByModel: `SELECT service, model, SUM(amount_msat) AS charged_msat, COUNT(*) AS requests FROM charges
                   WHERE created_at >= @since GROUP BY service, model ORDER BY service, model`,
  paymentsByService: `SELECT service, SUM(sats) AS sats, COUNT(*) AS invoices FROM (
                        SELECT service, price_sats AS sats FROM tokens WHERE paid_at >= @since
                        UNION ALL
                        SELECT t.service, u.sats FROM topups u JOIN tokens t USING (token_id)
                        WHERE u.status = 'paid' AND u.paid_at >= @since
                        UNION ALL
                        SELECT service, sats FROM payment_claims WHERE kind IN ('charge', 'topup') AND claimed_at >= @since)
                      GROUP BY service ORDER BY service`,
  chargesOf: `SELECT service, model, prompt_tokens, completion_tokens, amount_msat, reason, created_at FROM charges
              WHERE token_id = ? ORDER BY id DESC LIMIT ?`,
  countActive: "SELECT COUNT(*) AS n FROM tokens WHERE status = 'paid' AND valid_until > ?",
  revoke: `UPDATE tokens SET status = 'revoked', root_key = NULL, revoked_at = COALESCE(revoked_at, ?)
           WHERE token_id = ? RETURNING *`,
  byTokenId: "SELECT * FROM tokens WHERE token_id = ?",
  list: `SELECT * FROM tokens WHERE (@status IS NULL OR status = @status) AND (@service IS NULL OR service = @service)
           AND (@hash IS NULL OR payment_hash = @hash
                OR token_id IN (SELECT token_id FROM topups WHERE payment_hash = @hash))
         ORDER BY created_at DESC LIMIT @limit`,
  unpaid: `SELECT payment_hash FROM tokens WHERE status = 'issued' AND invoice_expires_at > @after
           UNION ALL SELECT payment_hash FROM topups WHERE status = 'issued' AND invoice_expires_at > @after`,
  settleIndex: "SELECT value FROM cursors WHERE name = 'lnd_settle_index'",
  advanceSettleIndex: "UPDATE cursors SET value = MAX(value, ?) WHERE name = 'lnd_settle_index'",
  ping: "UPDATE cursors SET value = value WHERE name = 'lnd_settle_index'",
} as const;

/** A reservation to release, and the service it was made for (the charge ledger names it). */
interface Held {
  readonly id: number;
  readonly service: string;
}

export class SqliteTokenStore implements TokenStore {
  private readonly db: Database.Database;
  /** Prepared once: compiling SQL per request showed up in the gateway's profile. */
  private readonly statements: Record<keyof typeof STATEMENTS, Database.Statement>;
  private readonly ledger: Record<keyof typeof LEDGER_SQL, Database.Statement>;
  private readonly closeCredentials: Record<keyof typeof CLOSE_CREDENTIALS_SQL, Database.Statement>;
  /** The root-key lookup of every paid request, read as values (see tokenRowOf). */
  private readonly tokenByRootKeyId: Database.Statement;

  readonly heartbeatIntervalMs = undefined;

  /**
   * Lookups of paid fixed-price tokens, which change only when revoked. SQLite's `data_version` changes whenever
   * another connection (a worker, the revocation CLI) commits to the file, and then the cache is dropped; this
   * connection's own revocations drop it too. So a revocation is seen by the next request, in every process. The
   * ledger's writes (sessions, top-ups, charges, closes) touch only issued or metered tokens, which are never kept.
   */
  private readonly rootKeys = new RootKeyCache(60_000);
  private readonly dataVersion: Database.Statement;
  private seenDataVersion = -1;

  /**
   * @param owner names this process in the reservations it makes, so that a restarted gateway can tell its own
   *   in-flight reservations from those a crashed process left behind.
   * @param openedAt reservations other owners made before this moment are stale: with one gateway per file, they
   *   were left by a process that has stopped.
   */
  constructor(
    path: string,
    readonly owner: string = randomUUID(),
    private readonly openedAt: Date = new Date(),
  ) {
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
    this.tokenByRootKeyId = this.db
      .prepare(`SELECT ${TOKEN_COLUMNS.join(", ")} FROM tokens WHERE root_key_id = ?`)
      .raw(true);
    this.ledger = Object.fromEntries(
      Object.entries(LEDGER_SQL).map(([name, sql]) => [name, this.db.prepare(sqliteParams(sql))]),
    ) as Record<keyof typeof LEDGER_SQL, Database.Statement>;
    this.closeCredentials = Object.fromEntries(
      Object.entries(CLOSE_CREDENTIALS_SQL).map(([name, sql]) => [name, this.db.prepare(sqliteParams(sql))]),
    ) as Record<keyof typeof CLOSE_CREDENTIALS_SQL, Database.Statement>;
    this.dataVersion = this.db.prepare("PRAGMA data_version").pluck();
    this.rootKeys.enabled = true;
  }

  /** Runs a ledger program in one immediate transaction. */
  private runLedger<T>(program: () => programs.LedgerProgram<T>): T {
    return this.db
      .transaction((): T => {
        const running = program();
        let step = running.next([]);
        while (!step.done) {
          const { sql, params } = step.value;
          step = running.next(this.ledgerRows(sql, params));
        }
        return step.value;
      })
      .immediate();
  }

  private ledgerRows(sql: programs.LedgerStatement, params: readonly unknown[]): unknown[] {
    if (sql === "insertToken") {
      this.statements.insert.run(...params);
      return [];
    }
    const statement =
      sql === "tokenByIdForUpdate"
        ? this.ledger.tokenById
        : sql === "refundByIdForUpdate"
          ? this.ledger.refundById
          : this.ledger[sql];
    const bindings = sqliteBindings(params);
    if (statement.reader) return statement.all(bindings);
    statement.run(bindings);
    return [];
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
    this.statements.insert.run(...tokenInsertValues(token));
  }

  async lookupRootKey(rootKeyId: string): Promise<RootKeyLookup> {
    const version = this.dataVersion.get() as number;
    if (version !== this.seenDataVersion) {
      this.rootKeys.clear();
      this.seenDataVersion = version;
    }
    const cached = this.rootKeys.get(rootKeyId);
    if (cached) return cached;
    const values = this.tokenByRootKeyId.get(rootKeyId) as unknown[] | undefined;
    if (values) {
      const lookup = tokenLookup(tokenRowOf(values));
      this.rootKeys.offer(rootKeyId, lookup);
      return lookup;
    }
    const topUp = this.statements.topUpByRootKeyId.get(rootKeyId) as TopUpRow | undefined;
    if (!topUp) return { found: "none" };
    return topUpLookup(topUp, this.statements.byTokenId.get(topUp.token_id) as TokenRow);
  }

  private readonly markPaidTransaction = (paymentHash: string, at: number): SettledPayment | undefined => {
    const row = this.statements.markPaid.get({ at, hash: paymentHash }) as TokenRow | undefined;
    if (row) return paidToken(row);
    // A top-up of a token that is not (yet) paid stays issued: it is credited once its token is.
    const topUp = this.statements.markTopUpPaid.get({ at, hash: paymentHash }) as TopUpRow | undefined;
    if (!topUp) return undefined;
    const credited = this.statements.credit.get({ msat: topUp.sats * 1000, tokenId: topUp.token_id }) as TokenRow;
    return paidTopUp(credited, topUp.sats);
  };

  async markPaid(paymentHash: string, at: Date): Promise<SettledPayment | undefined> {
    return this.db.transaction(this.markPaidTransaction).immediate(paymentHash, at.getTime());
  }

  async insertTopUp(topUp: NewTopUp): Promise<void> {
    this.statements.insertTopUp.run(...topUpInsertValues(topUp));
  }

  async reserve(tokenId: string, amountMsat: number, at: Date): Promise<Reservation> {
    return this.db
      .transaction((): Reservation => {
        const row = this.statements.reserve.get({ tokenId, amount: amountMsat }) as
          | { balance_msat: number }
          | undefined;
        if (!row) {
          const current = this.statements.balance.get(tokenId) as { balance_msat: number } | undefined;
          return { ok: false, balanceMsat: current?.balance_msat ?? 0 };
        }
        const inserted = this.statements.insertReservation.run(tokenId, amountMsat, this.owner, at.getTime());
        return { ok: true, id: Number(inserted.lastInsertRowid), amountMsat, balanceMsat: row.balance_msat };
      })
      .immediate();
  }

  async closeReservation(reservationId: number, charge: Charge, at: Date): Promise<ClosedReservation | undefined> {
    return this.db
      .transaction((): ClosedReservation | undefined => {
        const reservation = this.statements.takeReservation.get(reservationId) as
          | { token_id: string; amount_msat: number }
          | undefined;
        if (!reservation) return undefined;
        const amount = Math.min(Math.max(0, Math.ceil(charge.amountMsat)), reservation.amount_msat);
        const row = this.statements.applyCharge.get({
          tokenId: reservation.token_id,
          reserved: reservation.amount_msat,
          charge: amount,
        }) as { balance_msat: number };
        this.statements.insertCharge.run({
          tokenId: reservation.token_id,
          service: charge.service,
          model: charge.model,
          promptTokens: charge.promptTokens ?? null,
          completionTokens: charge.completionTokens ?? null,
          amount,
          reason: charge.reason,
          at: at.getTime(),
        });
        return { chargedMsat: amount, balanceMsat: row.balance_msat };
      })
      .immediate();
  }

  async releaseStaleReservations(): Promise<number> {
    const stale = this.statements.staleReservations.all(this.owner, this.openedAt.getTime()) as Held[];
    this.statements.staleRefundClaims.run({ owner: this.owner, before: this.openedAt.getTime() });
    return this.release(stale, this.openedAt);
  }

  async releaseReservationsOf(owner: string, at: Date): Promise<number> {
    this.statements.refundClaimsOf.run({ owner });
    return this.release(this.statements.reservationsOf.all(owner) as Held[], at);
  }

  private async release(held: readonly Held[], at: Date): Promise<number> {
    let released = 0;
    for (const { id, service } of held) {
      const settled = await this.closeReservation(id, { amountMsat: 0, service, model: "-", reason: "released" }, at);
      if (settled) released += 1;
    }
    return released;
  }

  async outstandingBalanceMsat(): Promise<number> {
    return (this.statements.outstanding.get() as { msat: number }).msat;
  }

  async revenueByModel(since?: Date): Promise<RevenueRow[]> {
    const rows = this.statements.revenueByModel.all({ since: since?.getTime() ?? 0 }) as {
      service: string;
      model: string;
      charged_msat: number;
      requests: number;
    }[];
    return rows.map((r) => ({ service: r.service, model: r.model, chargedMsat: r.charged_msat, requests: r.requests }));
  }

  async paymentsByService(since?: Date): Promise<PaymentsRow[]> {
    return this.statements.paymentsByService.all({ since: since?.getTime() ?? 0 }) as PaymentsRow[];
  }

  async chargesOf(tokenId: string, limit: number): Promise<ChargeEntry[]> {
    return (this.statements.chargesOf.all(tokenId, limit) as ChargeRow[]).map(toChargeEntry);
  }

  async countActiveTokens(now: Date): Promise<number> {
    return (this.statements.countActive.get(now.getTime()) as { n: number }).n;
  }

  async revoke(tokenId: string, at: Date): Promise<TokenRecord | undefined> {
    this.rootKeys.clear();
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
      hash: filter.paymentHash ?? null,
      limit: filter.limit ?? 100,
    }) as TokenRow[];
    return rows.map(toRecord);
  }

  async unpaidPaymentHashes(invoiceExpiredAfter: Date): Promise<string[]> {
    const rows = this.statements.unpaid.all({ after: invoiceExpiredAfter.getTime() }) as { payment_hash: string }[];
    return rows.map((row) => row.payment_hash);
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

  async openSession(session: NewSession, at: Date): Promise<SessionOpen> {
    return this.runLedger(() => programs.openSessionProgram(session, at, tokenInsertValues(session.token)));
  }

  async creditTopUp(tokenId: string, claim: NewClaim): Promise<TopUpCredit> {
    return this.runLedger(() => programs.creditTopUpProgram(tokenId, claim));
  }

  async claimCharge(claim: NewClaim): Promise<boolean> {
    return this.runLedger(() => programs.claimChargeProgram(claim));
  }

  async closeAccount(request: CloseRequest): Promise<CloseOutcome> {
    return this.runLedger(() => programs.closeProgram(request));
  }

  async claimRefund(request: RefundClaimRequest): Promise<RefundClaim> {
    return this.runLedger(() => programs.claimRefundProgram(request));
  }

  async startRefundPayment(
    tokenId: string,
    claimId: string,
    paymentHash: string,
    at: Date,
  ): Promise<RefundRecord | undefined> {
    return this.runLedger(() => programs.startRefundPaymentProgram(tokenId, claimId, paymentHash, at));
  }

  async finishRefundAttempt(end: RefundAttemptEnd): Promise<RefundRecord | undefined> {
    return this.runLedger(() => programs.finishRefundAttemptProgram(end));
  }

  async refundPaymentHashes(tokenId: string): Promise<string[]> {
    const rows = this.ledger.refundPaymentHashes.all(sqliteBindings([tokenId])) as { payment_hash: string }[];
    return rows.map((row) => row.payment_hash);
  }

  async updateRefund(tokenId: string, update: RefundUpdate): Promise<RefundRecord | undefined> {
    const [row] = this.ledger.updateRefund.all(sqliteBindings(refundUpdateValues(tokenId, update))) as RefundRow[];
    return row ? toRefund(row) : this.getRefund(tokenId);
  }

  async getRefund(tokenId: string): Promise<RefundRecord | undefined> {
    const row = this.ledger.refundById.get(sqliteBindings([tokenId])) as RefundRow | undefined;
    return row ? toRefund(row) : undefined;
  }

  async listRefunds(filter: { status?: RefundStatus; limit?: number } = {}): Promise<RefundRecord[]> {
    const rows = this.ledger.listRefunds.all(
      sqliteBindings([filter.status ?? null, filter.limit ?? 100]),
    ) as RefundRow[];
    return rows.map(toRefund);
  }

  async recordCloseCredential(tokenId: string, signatureSha256: string, at: Date): Promise<void> {
    this.closeCredentials.record.run(sqliteBindings([tokenId, signatureSha256, at.getTime()]));
  }

  async isCloseCredential(tokenId: string, signatureSha256: string): Promise<boolean> {
    return this.closeCredentials.find.get(sqliteBindings([tokenId, signatureSha256])) !== undefined;
  }

  async paymentSecret(candidate: Buffer): Promise<Buffer> {
    this.ledger.insertSecret.run(sqliteBindings([PAYMENT_SECRET_NAME, candidate]));
    return (this.ledger.secret.get(sqliteBindings([PAYMENT_SECRET_NAME])) as { value: Buffer }).value;
  }

  /** The owner's reports' statements, prepared when first used (the token list: one per sort and order). */
  private readonly reportStatements = new Map<string, Database.Statement>();
  private report(sql: string): Database.Statement {
    let statement = this.reportStatements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sqliteParams(sql));
      this.reportStatements.set(sql, statement);
    }
    return statement;
  }

  async browseTokens(query: reports.TokenBrowse): Promise<reports.TokenBrowsePage> {
    const values = reports.browseValues(query);
    return this.db.transaction(() => {
      const rows = this.report(reports.browseSql(query.sort, query.order)).all(
        sqliteBindings(values),
      ) as reports.ListingRow[];
      const totals = this.report(reports.OWNER_REPORTS_SQL.totals).get(
        sqliteBindings(values.slice(0, 3)),
      ) as reports.TotalsRow;
      return reports.toPage(rows, totals);
    })();
  }

  async addTraffic(counts: readonly reports.TrafficCount[]): Promise<void> {
    const statement = this.report(reports.OWNER_REPORTS_SQL.addTraffic);
    this.db.transaction(() => {
      for (const count of counts) statement.run(sqliteBindings(reports.addTrafficValues(count)));
    })();
  }

  async revenueSeries(since: Date, bucketMs: number): Promise<reports.SeriesPoint[]> {
    const bindings = sqliteBindings([since.getTime(), bucketMs]);
    const payments = this.report(reports.OWNER_REPORTS_SQL.paymentSeries).all(bindings) as reports.PaymentSeriesRow[];
    const traffic = this.report(reports.OWNER_REPORTS_SQL.trafficSeries).all(bindings) as reports.TrafficSeriesRow[];
    return reports.mergeSeries(payments, traffic);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
