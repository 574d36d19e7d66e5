import { randomUUID } from "node:crypto";
import pg from "pg";
import type { PostgresConfig } from "../config/schema.js";
import { CLOSE_CREDENTIALS_SQL } from "./close-credentials.js";
import { isUnavailable, StoreUnavailableError } from "./errors.js";
import type * as ledger from "./ledger.js";
import { toRefund } from "./ledger.js";
import * as programs from "./ledger-logic.js";
import { LEDGER_SQL, PAYMENT_SECRET_NAME } from "./ledger-sql.js";
import * as reports from "./owner-reports.js";
import { POSTGRES_MIGRATIONS } from "./postgres-schema.js";
import { REVOCATION_CHANNEL, RevocationListener } from "./revocation-listener.js";
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
  type TokenRow,
  type TopUpRow,
  toChargeEntry,
  tokenInsertValues,
  tokenLookup,
  topUpInsertValues,
  topUpLookup,
  toRecord,
} from "./token-row.js";

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** BIGINT columns hold msat and epoch milliseconds, well inside Number's exact range. */
const numericTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as "text");
  }) as pg.CustomTypesConfig["getTypeParser"],
};

/** Serializes migrations of replicas that start at the same moment. */
const MIGRATION_LOCK = 0x1402_0001;

const SQL = {
  insert: `INSERT INTO tokens (token_id, root_key_id, root_key, payment_hash, service, price_sats, invoice, status,
             created_at, invoice_expires_at, valid_until, metered)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'issued', $8, $9, $10, $11)`,
  byRootKeyId: "SELECT * FROM tokens WHERE root_key_id = $1",
  topUpByRootKeyId: "SELECT * FROM topups WHERE root_key_id = $1",
  // The `status = 'issued'` guard makes crediting exactly-once however many replicas watch the same settlement.
  markPaid: `UPDATE tokens SET status = 'paid', paid_at = $2,
               balance_msat = balance_msat + metered * price_sats * 1000,
               credited_msat = credited_msat + metered * price_sats * 1000
             WHERE payment_hash = $1 AND status = 'issued' RETURNING *`,
  markTopUpPaid: `WITH paid AS (
                    UPDATE topups SET status = 'paid', paid_at = $2
                    WHERE payment_hash = $1 AND status = 'issued'
                      AND token_id IN (SELECT token_id FROM tokens WHERE status = 'paid')
                    RETURNING token_id, sats)
                  UPDATE tokens t SET balance_msat = t.balance_msat + paid.sats * 1000,
                    credited_msat = t.credited_msat + paid.sats * 1000
                  FROM paid WHERE t.token_id = paid.token_id
                  RETURNING t.*, paid.sats AS topup_sats`,
  insertTopUp: `INSERT INTO topups (payment_hash, token_id, root_key_id, root_key, sats, invoice, status, created_at,
                  invoice_expires_at)
                VALUES ($1, $2, $3, $4, $5, $6, 'issued', $7, $8)`,
  // One statement: the row lock on the token serializes concurrent reservations from every replica, and the
  // balance condition is re-checked after the lock, so no interleaving can overdraw.
  reserve: `WITH taken AS (
              UPDATE tokens SET balance_msat = balance_msat - $2, reserved_msat = reserved_msat + $2
              WHERE token_id = $1 AND status = 'paid' AND metered = 1 AND balance_msat >= $2
              RETURNING token_id, balance_msat)
            INSERT INTO reservations (token_id, amount_msat, owner, created_at)
            SELECT token_id, $2::bigint, $3::text, $4::bigint FROM taken
            RETURNING id, (SELECT balance_msat FROM taken) AS balance_msat`,
  balance: "SELECT balance_msat FROM tokens WHERE token_id = $1",
  // One statement: take the reservation (once), charge at most its amount, refund the rest, write the ledger.
  closeReservation: `WITH taken AS (
             DELETE FROM reservations WHERE id = $1 RETURNING token_id, amount_msat),
           decided AS (
             SELECT token_id, amount_msat AS reserved, LEAST(GREATEST($2::bigint, 0), amount_msat) AS charge FROM taken),
           applied AS (
             UPDATE tokens t SET reserved_msat = t.reserved_msat - d.reserved,
               balance_msat = t.balance_msat + d.reserved - d.charge,
               charged_msat = t.charged_msat + d.charge, requests = t.requests + 1
             FROM decided d WHERE t.token_id = d.token_id
             RETURNING t.balance_msat, d.charge),
           ledger AS (
             INSERT INTO charges (token_id, service, model, prompt_tokens, completion_tokens, amount_msat, reason,
               created_at)
             SELECT token_id, $3::text, $4::text, $5::bigint, $6::bigint, charge, $7::text, $8::bigint FROM decided)
           SELECT charge, balance_msat FROM applied`,
  heartbeat: `INSERT INTO replica_heartbeats (owner, heartbeat_at) VALUES ($1, $2)
              ON CONFLICT (owner) DO UPDATE SET heartbeat_at = GREATEST(replica_heartbeats.heartbeat_at, $2)`,
  // Reservations of owners other than $1 whose last heartbeat (or, never seen, the reservation itself) is older
  // than $2: their process stopped, nobody will settle them.
  orphaned: `SELECT r.id, t.service FROM reservations r JOIN tokens t USING (token_id)
             LEFT JOIN replica_heartbeats h ON h.owner = r.owner
             WHERE r.owner <> $1 AND COALESCE(h.heartbeat_at, r.created_at) < $2`,
  reservationsOf: `SELECT r.id, t.service FROM reservations r JOIN tokens t USING (token_id) WHERE r.owner = $1`,
  // A refund claim's id starts with its owner and '/' (see Refunds): the claims of a replica whose heartbeat is older
  // than the lease are released, and whoever claims next reads LND before paying.
  orphanedRefundClaims: `UPDATE refunds SET claimed_by = NULL, claimed_until = NULL
                         WHERE claimed_by IS NOT NULL AND split_part(claimed_by, '/', 1) <> $1
                           AND COALESCE((SELECT h.heartbeat_at FROM replica_heartbeats h
                                         WHERE h.owner = split_part(refunds.claimed_by, '/', 1)), updated_at) < $2`,
  refundClaimsOf: `UPDATE refunds SET claimed_by = NULL, claimed_until = NULL
                   WHERE split_part(claimed_by, '/', 1) = $1`,
  forgetStopped: `DELETE FROM replica_heartbeats h WHERE h.heartbeat_at < $1
                  AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.owner = h.owner)`,
  outstanding: `SELECT COALESCE(SUM(balance_msat + reserved_msat), 0)::bigint AS msat FROM tokens
                WHERE status = 'paid' AND metered = 1`,
  revenueByModel: `SELECT service, model, SUM(amount_msat)::bigint AS charged_msat, COUNT(*) AS requests FROM charges
                   WHERE created_at >= $1 GROUP BY service, model ORDER BY service, model`,
  paymentsByService: `SELECT service, SUM(sats)::bigint AS sats, COUNT(*) AS invoices FROM (
                        SELECT service, price_sats AS sats FROM tokens WHERE paid_at >= $1
                        UNION ALL
                        SELECT t.service, u.sats FROM topups u JOIN tokens t USING (token_id)
                        WHERE u.status = 'paid' AND u.paid_at >= $1
                        UNION ALL
                        SELECT service, sats FROM payment_claims WHERE kind IN ('charge', 'topup') AND claimed_at >= $1
                      ) AS paid GROUP BY service ORDER BY service`,
  chargesOf: `SELECT service, model, prompt_tokens, completion_tokens, amount_msat, reason, created_at FROM charges
              WHERE token_id = $1 ORDER BY id DESC LIMIT $2`,
  countActive: "SELECT COUNT(*) AS n FROM tokens WHERE status = 'paid' AND valid_until > $1",
  // One statement: the notification goes out when the revocation commits, to every replica listening.
  revoke: `WITH revoked AS (
             UPDATE tokens SET status = 'revoked', root_key = NULL, revoked_at = COALESCE(revoked_at, $1)
             WHERE token_id = $2 RETURNING *)
           SELECT revoked.*, pg_notify('${REVOCATION_CHANNEL}', revoked.token_id) FROM revoked`,
  byTokenId: "SELECT * FROM tokens WHERE token_id = $1",
  list: `SELECT * FROM tokens WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR service = $2)
           AND ($4::text IS NULL OR payment_hash = $4
                OR token_id IN (SELECT token_id FROM topups WHERE payment_hash = $4))
         ORDER BY created_at DESC LIMIT $3`,
  unpaid: `SELECT payment_hash FROM tokens WHERE status = 'issued' AND invoice_expires_at > $1
           UNION ALL SELECT payment_hash FROM topups WHERE status = 'issued' AND invoice_expires_at > $1`,
  settleIndex: "SELECT value FROM cursors WHERE name = 'lnd_settle_index'",
  advanceSettleIndex: "UPDATE cursors SET value = GREATEST(value, $1) WHERE name = 'lnd_settle_index'",
  ping: "UPDATE cursors SET value = value WHERE name = 'lnd_settle_index'",
} as const;

export interface PostgresStoreOptions {
  /** Names this replica in its reservations and heartbeats. */
  readonly owner?: string;
}

/**
 * The token store on PostgreSQL, shared by several gateway replicas. Every money movement is one statement (row
 * locks do the serializing), so replicas can never overdraw a balance or credit a settlement twice.
 */
export class PostgresTokenStore implements TokenStore {
  readonly owner: string;
  private readonly pool: pg.Pool;
  private readonly cache: RootKeyCache;
  private readonly listener: RevocationListener;
  private readonly leaseMs: number;

  private constructor(config: PostgresConfig, options: PostgresStoreOptions) {
    this.owner = options.owner ?? randomUUID();
    this.leaseMs = config.leaseSeconds * 1000;
    const clientConfig: pg.ClientConfig = {
      connectionString: config.url,
      connectionTimeoutMillis: config.connectTimeoutMs,
      statement_timeout: config.statementTimeoutMs,
      types: numericTypes,
      application_name: `l402-gateway ${this.owner.slice(0, 8)}`,
    };
    this.pool = new pg.Pool({ ...clientConfig, max: config.poolSize, idleTimeoutMillis: 30_000 });
    // An idle connection that dies (database restart) must not crash the process; the next query reconnects.
    this.pool.on("error", () => {});
    this.cache = new RootKeyCache(config.rootKeyCacheMs);
    this.listener = new RevocationListener(
      clientConfig,
      () => this.cache.clear(),
      (listening) => {
        this.cache.clear();
        this.cache.enabled = listening;
      },
    );
  }

  /** Connects, migrates to the latest schema (one replica at a time), and starts listening for revocations. */
  static async open(config: PostgresConfig, options: PostgresStoreOptions = {}): Promise<PostgresTokenStore> {
    const store = new PostgresTokenStore(config, options);
    try {
      await store.migrate();
    } catch (error) {
      await store.pool.end().catch(() => {});
      throw error;
    }
    store.listener.start();
    return store;
  }

  /** Heartbeat period: a third of the lease, so two missed beats still keep it. */
  get heartbeatIntervalMs(): number {
    return Math.floor(this.leaseMs / 3);
  }

  async schemaVersion(): Promise<number> {
    const rows = await this.query<{ version: number }>(
      "SELECT COALESCE(MAX(version), 0) AS version FROM schema_version",
    );
    return rows[0]?.version ?? 0;
  }

  private async migrate(): Promise<void> {
    await this.transaction(async (client) => {
      await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      await client.query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
      const current = (await client.query<{ v: number }>("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version"))
        .rows[0]?.v;
      for (const migration of POSTGRES_MIGRATIONS.filter((m) => m.version > (current ?? 0))) {
        await client.query(migration.sql);
        await client.query("INSERT INTO schema_version (version) VALUES ($1)", [migration.version]);
      }
    });
  }

  private unavailable(error: unknown): never {
    if (isUnavailable(error)) {
      throw new StoreUnavailableError(`PostgreSQL is unavailable: ${(error as Error).message}`, { cause: error });
    }
    throw error;
  }

  private async query<Row extends object>(sql: string, params: unknown[] = []): Promise<Row[]> {
    try {
      return (await this.pool.query<Row>(sql, params)).rows;
    } catch (error) {
      return this.unavailable(error);
    }
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      return this.unavailable(error);
    }
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      return this.unavailable(error);
    } finally {
      client.release();
    }
  }

  async insertToken(token: NewToken): Promise<void> {
    await this.query(SQL.insert, tokenInsertValues(token));
  }

  async lookupRootKey(rootKeyId: string): Promise<RootKeyLookup> {
    const cached = this.cache.get(rootKeyId);
    if (cached) return cached;
    const lookup = await this.lookupUncached(rootKeyId);
    this.cache.offer(rootKeyId, lookup);
    return lookup;
  }

  private async lookupUncached(rootKeyId: string): Promise<RootKeyLookup> {
    const [row] = await this.query<TokenRow>(SQL.byRootKeyId, [rootKeyId]);
    if (row) return tokenLookup(row);
    const [topUp] = await this.query<TopUpRow>(SQL.topUpByRootKeyId, [rootKeyId]);
    if (!topUp) return { found: "none" };
    const [owner] = await this.query<TokenRow>(SQL.byTokenId, [topUp.token_id]);
    return owner ? topUpLookup(topUp, owner) : { found: "none" };
  }

  async markPaid(paymentHash: string, at: Date): Promise<SettledPayment | undefined> {
    const [row] = await this.query<TokenRow>(SQL.markPaid, [paymentHash, at.getTime()]);
    if (row) return paidToken(row);
    // A top-up of a token that is not (yet) paid stays issued: it is credited once its token is.
    const [credited] = await this.query<TokenRow & { topup_sats: number }>(SQL.markTopUpPaid, [
      paymentHash,
      at.getTime(),
    ]);
    return credited ? paidTopUp(credited, credited.topup_sats) : undefined;
  }

  async insertTopUp(topUp: NewTopUp): Promise<void> {
    await this.query(SQL.insertTopUp, topUpInsertValues(topUp));
  }

  async reserve(tokenId: string, amountMsat: number, at: Date): Promise<Reservation> {
    const [row] = await this.query<{ id: number; balance_msat: number }>(SQL.reserve, [
      tokenId,
      amountMsat,
      this.owner,
      at.getTime(),
    ]);
    if (row) return { ok: true, id: row.id, amountMsat, balanceMsat: row.balance_msat };
    const [current] = await this.query<{ balance_msat: number }>(SQL.balance, [tokenId]);
    return { ok: false, balanceMsat: current?.balance_msat ?? 0 };
  }

  async closeReservation(reservationId: number, charge: Charge, at: Date): Promise<ClosedReservation | undefined> {
    const [row] = await this.query<{ charge: number; balance_msat: number }>(SQL.closeReservation, [
      reservationId,
      Math.ceil(charge.amountMsat),
      charge.service,
      charge.model,
      charge.promptTokens ?? null,
      charge.completionTokens ?? null,
      charge.reason,
      at.getTime(),
    ]);
    return row ? { chargedMsat: row.charge, balanceMsat: row.balance_msat } : undefined;
  }

  /**
   * Heartbeats this replica, then releases the reservations of replicas whose heartbeat is older than the lease
   * (they stopped or crashed mid-request). Settling is idempotent, so replicas racing here release each once.
   */
  async releaseStaleReservations(now: Date = new Date()): Promise<number> {
    await this.query(SQL.heartbeat, [this.owner, now.getTime()]);
    const expired = now.getTime() - this.leaseMs;
    const orphaned = await this.query<{ id: number; service: string }>(SQL.orphaned, [this.owner, expired]);
    const released = await this.release(orphaned, now);
    await this.query(SQL.orphanedRefundClaims, [this.owner, expired]);
    await this.query(SQL.forgetStopped, [expired]);
    return released;
  }

  async releaseReservationsOf(owner: string, at: Date): Promise<number> {
    await this.query(SQL.refundClaimsOf, [owner]);
    return this.release(await this.query<{ id: number; service: string }>(SQL.reservationsOf, [owner]), at);
  }

  private async release(held: readonly { id: number; service: string }[], at: Date): Promise<number> {
    let released = 0;
    for (const { id, service } of held) {
      const settled = await this.closeReservation(id, { amountMsat: 0, service, model: "-", reason: "released" }, at);
      if (settled) released += 1;
    }
    return released;
  }

  async outstandingBalanceMsat(): Promise<number> {
    const [row] = await this.query<{ msat: number }>(SQL.outstanding);
    return row?.msat ?? 0;
  }

  async revenueByModel(since?: Date): Promise<RevenueRow[]> {
    const rows = await this.query<{ service: string; model: string; charged_msat: number; requests: number }>(
      SQL.revenueByModel,
      [since?.getTime() ?? 0],
    );
    return rows.map((r) => ({ service: r.service, model: r.model, chargedMsat: r.charged_msat, requests: r.requests }));
  }

  async paymentsByService(since?: Date): Promise<PaymentsRow[]> {
    return this.query<PaymentsRow>(SQL.paymentsByService, [since?.getTime() ?? 0]);
  }

  async chargesOf(tokenId: string, limit: number): Promise<ChargeEntry[]> {
    return (await this.query<ChargeRow>(SQL.chargesOf, [tokenId, limit])).map(toChargeEntry);
  }

  async countActiveTokens(now: Date): Promise<number> {
    const [row] = await this.query<{ n: number }>(SQL.countActive, [now.getTime()]);
    return row?.n ?? 0;
  }

  async revoke(tokenId: string, at: Date): Promise<TokenRecord | undefined> {
    const [row] = await this.query<TokenRow>(SQL.revoke, [at.getTime(), tokenId]);
    this.cache.clear();
    return row ? toRecord(row) : undefined;
  }

  async getToken(tokenId: string): Promise<TokenRecord | undefined> {
    const [row] = await this.query<TokenRow>(SQL.byTokenId, [tokenId]);
    return row ? toRecord(row) : undefined;
  }

  async listTokens(filter: TokenFilter = {}): Promise<TokenRecord[]> {
    const rows = await this.query<TokenRow>(SQL.list, [
      filter.status ?? null,
      filter.service ?? null,
      filter.limit ?? 100,
      filter.paymentHash ?? null,
    ]);
    return rows.map(toRecord);
  }

  async unpaidPaymentHashes(invoiceExpiredAfter: Date): Promise<string[]> {
    const rows = await this.query<{ payment_hash: string }>(SQL.unpaid, [invoiceExpiredAfter.getTime()]);
    return rows.map((row) => row.payment_hash);
  }

  async settleIndex(): Promise<number> {
    const [row] = await this.query<{ value: number }>(SQL.settleIndex);
    return row?.value ?? 0;
  }

  async advanceSettleIndex(index: number): Promise<void> {
    await this.query(SQL.advanceSettleIndex, [index]);
  }

  async browseTokens(query: reports.TokenBrowse): Promise<reports.TokenBrowsePage> {
    const values = reports.browseValues(query);
    const [rows, [totals]] = await Promise.all([
      this.query<reports.ListingRow>(reports.browseSql(query.sort, query.order), values),
      this.query<reports.TotalsRow>(reports.OWNER_REPORTS_SQL.totals, values.slice(0, 3)),
    ]);
    return reports.toPage(rows, totals);
  }

  async addTraffic(counts: readonly reports.TrafficCount[]): Promise<void> {
    if (counts.length === 0) return;
    // Rows in one order (service, then hour), so two replicas flushing at once cannot deadlock on them.
    const ordered = [...counts].sort(
      (a, b) => a.service.localeCompare(b.service) || a.hourStart.getTime() - b.hourStart.getTime(),
    );
    await this.transaction(async (client) => {
      for (const count of ordered) {
        await client.query(reports.OWNER_REPORTS_SQL.addTraffic, reports.addTrafficValues(count));
      }
    });
  }

  async revenueSeries(since: Date, bucketMs: number): Promise<reports.SeriesPoint[]> {
    const values = [since.getTime(), bucketMs];
    const [payments, traffic] = await Promise.all([
      this.query<reports.PaymentSeriesRow>(reports.OWNER_REPORTS_SQL.paymentSeries, values),
      this.query<reports.TrafficSeriesRow>(reports.OWNER_REPORTS_SQL.trafficSeries, values),
    ]);
    return reports.mergeSeries(payments, traffic);
  }

  async ping(): Promise<void> {
    await this.query(SQL.ping);
  }

  /** Runs a ledger program in one transaction; the token rows it reads for update stay locked until it commits. */
  private async runLedger<T>(program: () => programs.LedgerProgram<T>): Promise<T> {
    const result = await this.transaction(async (client) => {
      const running = program();
      let step = running.next([]);
      while (!step.done) {
        const { sql, params } = step.value;
        step = running.next((await client.query(ledgerSql(sql), [...params])).rows);
      }
      return step.value;
    });
    this.cache.clear();
    return result;
  }

  async openSession(session: ledger.NewSession, at: Date): Promise<ledger.SessionOpen> {
    return this.runLedger(() => programs.openSessionProgram(session, at, tokenInsertValues(session.token)));
  }

  async creditTopUp(tokenId: string, claim: ledger.NewClaim): Promise<ledger.TopUpCredit> {
    return this.runLedger(() => programs.creditTopUpProgram(tokenId, claim));
  }

  async claimCharge(claim: ledger.NewClaim): Promise<boolean> {
    return this.runLedger(() => programs.claimChargeProgram(claim));
  }

  async closeAccount(request: ledger.CloseRequest): Promise<ledger.CloseOutcome> {
    const outcome = await this.runLedger(() => programs.closeProgram(request));
    if (outcome.kind === "closed") await this.query("SELECT pg_notify($1, $2)", [REVOCATION_CHANNEL, request.tokenId]);
    return outcome;
  }

  async claimRefund(request: ledger.RefundClaimRequest): Promise<ledger.RefundClaim> {
    return this.runLedger(() => programs.claimRefundProgram(request));
  }

  async startRefundPayment(
    tokenId: string,
    claimId: string,
    paymentHash: string,
    at: Date,
  ): Promise<ledger.RefundRecord | undefined> {
    return this.runLedger(() => programs.startRefundPaymentProgram(tokenId, claimId, paymentHash, at));
  }

  async finishRefundAttempt(end: ledger.RefundAttemptEnd): Promise<ledger.RefundRecord | undefined> {
    return this.runLedger(() => programs.finishRefundAttemptProgram(end));
  }

  async refundPaymentHashes(tokenId: string): Promise<string[]> {
    const rows = await this.query<{ payment_hash: string }>(LEDGER_SQL.refundPaymentHashes, [tokenId]);
    return rows.map((row) => row.payment_hash);
  }

  async updateRefund(tokenId: string, update: ledger.RefundUpdate): Promise<ledger.RefundRecord | undefined> {
    const [row] = await this.query<ledger.RefundRow>(LEDGER_SQL.updateRefund, refundUpdateValues(tokenId, update));
    return row ? toRefund(row) : this.getRefund(tokenId);
  }

  async getRefund(tokenId: string): Promise<ledger.RefundRecord | undefined> {
    const [row] = await this.query<ledger.RefundRow>(LEDGER_SQL.refundById, [tokenId]);
    return row ? toRefund(row) : undefined;
  }

  async listRefunds(filter: { status?: ledger.RefundStatus; limit?: number } = {}): Promise<ledger.RefundRecord[]> {
    const rows = await this.query<ledger.RefundRow>(LEDGER_SQL.listRefunds, [
      filter.status ?? null,
      filter.limit ?? 100,
    ]);
    return rows.map(toRefund);
  }

  async recordCloseCredential(tokenId: string, signatureSha256: string, at: Date): Promise<void> {
    await this.query(CLOSE_CREDENTIALS_SQL.record, [tokenId, signatureSha256, at.getTime()]);
  }

  async isCloseCredential(tokenId: string, signatureSha256: string): Promise<boolean> {
    return (await this.query(CLOSE_CREDENTIALS_SQL.find, [tokenId, signatureSha256])).length > 0;
  }

  async paymentSecret(candidate: Buffer): Promise<Buffer> {
    await this.query(LEDGER_SQL.insertSecret, [PAYMENT_SECRET_NAME, candidate]);
    const [row] = await this.query<{ value: Buffer }>(LEDGER_SQL.secret, [PAYMENT_SECRET_NAME]);
    if (!row) throw new Error("the payment secret was not stored");
    return row.value;
  }

  async close(): Promise<void> {
    await this.listener.stop();
    await this.pool.end();
  }
}

function ledgerSql(statement: programs.LedgerStatement): string {
  if (statement === "insertToken") return SQL.insert;
  if (statement === "tokenByIdForUpdate") return `${LEDGER_SQL.tokenById} FOR UPDATE`;
  if (statement === "refundByIdForUpdate") return `${LEDGER_SQL.refundById} FOR UPDATE`;
  return LEDGER_SQL[statement];
}
