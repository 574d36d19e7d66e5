import type { TokenRecord, TokenStatus } from "./store.js";
import { type TokenRow, toRecord } from "./token-row.js";

/**
 * What an owner reads from the store beyond single tokens: a filtered, sorted, paged list of tokens with totals, and
 * revenue, calls and challenges over time. The SQL is shared by both stores (PostgreSQL's `$n`, which SQLite reads
 * through sqliteParams); only the running differs.
 */

export const TOKEN_SORTS = ["created", "paid", "balance", "used"] as const;
export type TokenSort = (typeof TOKEN_SORTS)[number];
export type SortOrder = "asc" | "desc";

export interface TokenBrowse {
  readonly service?: string;
  readonly status?: TokenStatus;
  readonly scheme?: TokenRecord["scheme"];
  readonly sort: TokenSort;
  readonly order: SortOrder;
  readonly limit: number;
  readonly offset: number;
}

export interface TokenListing {
  readonly token: TokenRecord;
  /** What was paid for it: a metered token's credits (deposit and top-ups), a paid fixed-price token's price. */
  readonly paidMsat: number;
  /** Its last charge (metered tokens only: fixed-price calls are not written to the store). */
  readonly lastUsedAt?: Date;
}

/** Sums over every token the filter selects, not only the page shown. */
export interface TokenTotals {
  readonly count: number;
  readonly paidMsat: number;
  /** Balances and reservations of paid metered tokens: owed to agents. */
  readonly outstandingMsat: number;
  readonly refundedMsat: number;
}

export interface TokenBrowsePage {
  readonly tokens: readonly TokenListing[];
  readonly totals: TokenTotals;
}

/** Challenges answered and paid calls proxied for one service within one hour (a counter row's increment). */
export interface TrafficCount {
  readonly service: string;
  readonly hourStart: Date;
  readonly challenges: number;
  readonly calls: number;
}

/** One service's figures within one bucket of a series (an hour, a UTC day). */
export interface SeriesPoint {
  readonly service: string;
  readonly start: Date;
  /** Invoices paid (tokens', top-ups', Payment charges and top-ups), in sats, and how many. */
  readonly paidSats: number;
  readonly invoices: number;
  readonly challenges: number;
  readonly calls: number;
}

/** The owner's reports, which both stores implement. */
export interface OwnerReports {
  /** A page of tokens, filtered and sorted, and the totals of the whole filtered set. */
  browseTokens(query: TokenBrowse): Promise<TokenBrowsePage>;
  /** Adds these counts to their service's hourly counter rows (created at zero when missing). */
  addTraffic(counts: readonly TrafficCount[]): Promise<void>;
  /** Payments, calls and challenges by service in buckets of `bucketMs` (aligned to the epoch) from `since`. */
  revenueSeries(since: Date, bucketMs: number): Promise<SeriesPoint[]>;
}

/** The hourly counters both stores add (SQLite migration 6, PostgreSQL migration 7), and indexes for the reports. */
export function ownerReportsMigration(int: "INTEGER" | "BIGINT"): string {
  return `
    CREATE TABLE traffic_hourly (
      service TEXT NOT NULL,
      hour_start ${int} NOT NULL,
      challenges ${int} NOT NULL DEFAULT 0,
      calls ${int} NOT NULL DEFAULT 0,
      PRIMARY KEY (service, hour_start)
    );
    CREATE INDEX tokens_created ON tokens (created_at, token_id);
    CREATE INDEX tokens_paid_at ON tokens (paid_at);
  `;
}

const FILTER = `($1::text IS NULL OR service = $1::text) AND ($2::text IS NULL OR status = $2::text)
  AND ($3::text IS NULL OR scheme = $3::text)`;
const PAID_MSAT = "CASE WHEN metered = 1 THEN credited_msat WHEN paid_at IS NOT NULL THEN price_sats * 1000 ELSE 0 END";
const LAST_USED = "(SELECT MAX(c.created_at) FROM charges c WHERE c.token_id = t.token_id)";
const SORT_KEYS: Record<TokenSort, string> = {
  created: "t.created_at",
  paid: PAID_MSAT,
  balance: "t.balance_msat",
  used: "COALESCE(u.last_used_at, 0)",
};
const LAST_CHARGES = `LEFT JOIN (SELECT token_id, MAX(created_at) AS last_used_at FROM charges GROUP BY token_id) AS u
  ON u.token_id = t.token_id`;

// Buckets start at `at - at % size`: SQLite's % works on integers even when the driver binds the size as a REAL,
// where `/` would not divide as integers.

/**
 * The page query for a sort: the page's token ids first (sorted on the key alone), then their rows with what is
 * computed per token, so a page of 25 does not compute the last charge of every token. The key comes from a fixed
 * list, never from the request; ties break on the token id.
 */
export function browseSql(sort: TokenSort, order: SortOrder): string {
  const direction = order === "asc" ? "ASC" : "DESC";
  return `SELECT t.*, ${PAID_MSAT} AS paid_msat, ${LAST_USED} AS last_used_at FROM tokens t
          JOIN (SELECT t.token_id, ${SORT_KEYS[sort]} AS sort_key FROM tokens t ${sort === "used" ? LAST_CHARGES : ""}
                WHERE ${FILTER} ORDER BY sort_key ${direction}, t.token_id ${direction} LIMIT $4 OFFSET $5) AS page
            ON page.token_id = t.token_id
          ORDER BY page.sort_key ${direction}, t.token_id ${direction}`;
}

export const OWNER_REPORTS_SQL = {
  totals: `SELECT COUNT(*) AS n, COALESCE(SUM(${PAID_MSAT}), 0) AS paid_msat,
             COALESCE(SUM(CASE WHEN status = 'paid' AND metered = 1 THEN balance_msat + reserved_msat ELSE 0 END), 0)
               AS outstanding_msat,
             COALESCE(SUM(refunded_msat), 0) AS refunded_msat
           FROM tokens WHERE ${FILTER}`,
  addTraffic: `INSERT INTO traffic_hourly (service, hour_start, challenges, calls) VALUES ($1, $2, $3, $4)
               ON CONFLICT (service, hour_start) DO UPDATE SET challenges = traffic_hourly.challenges + $3,
                 calls = traffic_hourly.calls + $4`,
  paymentSeries: `SELECT service, at - at % $2::bigint AS bucket, SUM(sats) AS sats, COUNT(*) AS invoices
                  FROM (SELECT service, price_sats AS sats, paid_at AS at FROM tokens WHERE paid_at >= $1
                        UNION ALL
                        SELECT t.service, u.sats, u.paid_at AS at FROM topups u JOIN tokens t USING (token_id)
                        WHERE u.status = 'paid' AND u.paid_at >= $1
                        UNION ALL
                        SELECT service, sats, claimed_at AS at FROM payment_claims
                        WHERE kind IN ('charge', 'topup') AND claimed_at >= $1) AS paid
                  GROUP BY service, bucket`,
  trafficSeries: `SELECT service, hour_start - hour_start % $2::bigint AS bucket, SUM(challenges) AS challenges,
                    SUM(calls) AS calls
                  FROM traffic_hourly WHERE hour_start >= $1 GROUP BY service, bucket`,
} as const;

/** The parameters of browseSql and OWNER_REPORTS_SQL.totals (the latter reads the first three). */
export function browseValues(query: TokenBrowse): unknown[] {
  return [query.service ?? null, query.status ?? null, query.scheme ?? null, query.limit, query.offset];
}

export function addTrafficValues(count: TrafficCount): unknown[] {
  return [count.service, count.hourStart.getTime(), count.challenges, count.calls];
}

export type ListingRow = TokenRow & { paid_msat: number; last_used_at: number | null };
export interface TotalsRow {
  n: number;
  paid_msat: number;
  outstanding_msat: number;
  refunded_msat: number;
}
export interface PaymentSeriesRow {
  service: string;
  bucket: number;
  sats: number;
  invoices: number;
}
export interface TrafficSeriesRow {
  service: string;
  bucket: number;
  challenges: number;
  calls: number;
}

export function toListing(row: ListingRow): TokenListing {
  return {
    token: toRecord(row),
    paidMsat: row.paid_msat,
    ...(row.last_used_at === null ? {} : { lastUsedAt: new Date(row.last_used_at) }),
  };
}

export function toPage(rows: readonly ListingRow[], totals: TotalsRow | undefined): TokenBrowsePage {
  return {
    tokens: rows.map(toListing),
    totals: {
      count: totals?.n ?? 0,
      paidMsat: totals?.paid_msat ?? 0,
      outstandingMsat: totals?.outstanding_msat ?? 0,
      refundedMsat: totals?.refunded_msat ?? 0,
    },
  };
}

/** Payments and traffic merged by service and bucket, ordered by service, then time. */
export function mergeSeries(
  payments: readonly PaymentSeriesRow[],
  traffic: readonly TrafficSeriesRow[],
): SeriesPoint[] {
  const points = new Map<string, { -readonly [K in keyof SeriesPoint]: SeriesPoint[K] }>();
  const at = (service: string, bucket: number) => {
    const key = `${service}\u0000${bucket}`;
    let point = points.get(key);
    if (!point) {
      point = { service, start: new Date(Number(bucket)), paidSats: 0, invoices: 0, challenges: 0, calls: 0 };
      points.set(key, point);
    }
    return point;
  };
  for (const row of payments) {
    const point = at(row.service, row.bucket);
    point.paidSats += Number(row.sats);
    point.invoices += Number(row.invoices);
  }
  for (const row of traffic) {
    const point = at(row.service, row.bucket);
    point.challenges += Number(row.challenges);
    point.calls += Number(row.calls);
  }
  return [...points.values()].sort(
    (a, b) => a.service.localeCompare(b.service) || a.start.getTime() - b.start.getTime(),
  );
}
