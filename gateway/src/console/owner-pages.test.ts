import { describe, expect, it } from "vitest";
import type { SeriesPoint, TokenBrowsePage } from "../store/owner-reports.js";
import type { TokenRecord } from "../store/store.js";
import { newToken } from "../store/token-store.suite.js";
import { renderOverview } from "./overview.js";
import { fillSeries, readSeries, renderSeries, seriesStart } from "./revenue-series.js";
import { parseTokenQuery, type TokenQuery } from "./token-query.js";
import { renderTokenList } from "./tokens-page.js";

const HOUR = 3_600_000;

function query(raw: Record<string, string> = {}): TokenQuery {
  const parsed = parseTokenQuery(raw, ["api", "llm"]);
  if (!parsed.ok) throw new Error(parsed.problems.join("; "));
  return parsed.query;
}

function record(service: string): TokenRecord {
  const token = newToken({ service, metered: true });
  return {
    ...token,
    status: "paid",
    metered: true,
    scheme: "l402",
    account: {
      balanceMsat: 1_500,
      reservedMsat: 0,
      creditedMsat: 2_000,
      chargedMsat: 500,
      refundedMsat: 0,
      requests: 2,
    },
  };
}

const listed = (tokens: TokenRecord[], count: number): TokenBrowsePage => ({
  tokens: tokens.map((token) => ({ token, paidMsat: 2_000, lastUsedAt: new Date(Date.UTC(2026, 0, 1, 12, 30)) })),
  totals: { count, paidMsat: 2_000 * count, outstandingMsat: 1_234_567, refundedMsat: 0 },
});

describe("the token list page", () => {
  it("shows the totals, one row per token, the current sort, and links to the next and previous pages", () => {
    const tokens = [record("api"), record("llm")];
    const page = renderTokenList(query({ sort: "balance", size: "10", page: "2" }), listed(tokens, 25), [
      "api",
      "llm",
    ]).text;
    expect(page).toContain('data-figure="total-count">25<');
    expect(page).toContain('data-figure="total-outstanding">1,234,567 msat<');
    for (const t of tokens) expect(page).toContain(`<a href="/console/tokens/${t.tokenId}">`);
    expect(page).toContain("Tokens 11–12 of 25");
    expect(page).toContain('aria-sort="descending"');
    expect(page).toContain('href="/console/tokens?sort=balance&amp;order=asc&amp;size=10" data-sort="balance"');
    expect(page).toContain('href="/console/tokens?sort=balance&amp;size=10" rel="prev"');
    expect(page).toContain('href="/console/tokens?sort=balance&amp;size=10&amp;page=3" rel="next"');
    expect(page).toContain("2026-01-01 12:30");
    expect(page).toContain('<option value="balance" selected>');
  });

  it("says when nothing matches, with no next page", () => {
    const page = renderTokenList(query({ service: "api" }), listed([], 0), ["api", "llm"]).text;
    expect(page).toContain('data-code="no_tokens"');
    expect(page).toContain("Page 1 of 1");
    expect(page).not.toContain('rel="next"');
  });

  it("escapes a service name in options, rows and links", () => {
    const evil = `<script>x</script>`;
    const page = renderTokenList(query(), listed([record(evil)], 1), [evil]).text;
    expect(page).not.toContain("<script>");
    expect(page).toContain("&lt;script&gt;x&lt;/script&gt;");
  });
});

describe("revenue and calls over time", () => {
  const now = new Date(Date.UTC(2026, 0, 10, 15, 42));

  it("starts a window on a bucket boundary, so its last bucket is the current one", () => {
    expect(seriesStart(now, HOUR, 24).toISOString()).toBe("2026-01-09T16:00:00.000Z");
    expect(seriesStart(now, 86_400_000, 30).toISOString()).toBe("2025-12-12T00:00:00.000Z");
  });

  it("fills every bucket of every configured service, zero where the store has nothing", () => {
    const start = seriesStart(now, HOUR, 24);
    const point: SeriesPoint = {
      service: "llm",
      start: new Date(start.getTime() + 23 * HOUR),
      paidSats: 7,
      invoices: 1,
      challenges: 2,
      calls: 3,
    };
    const series = fillSeries([point], ["api", "llm"], start, HOUR, 24);
    expect(series.map((s) => [s.service, s.points.length])).toEqual([
      ["api", 24],
      ["llm", 24],
    ]);
    expect(series[1]?.points[23]).toBe(point);
    expect(series[0]?.points.every((p) => p.paidSats === 0 && p.calls === 0 && p.challenges === 0)).toBe(true);
    expect(series[0]?.points[0]?.start).toEqual(start);
  });

  it("reads both windows from the store and draws each service's revenue, calls and conversion", async () => {
    const asked: [number, number][] = [];
    const store = {
      revenueSeries: async (since: Date, bucketMs: number): Promise<SeriesPoint[]> => {
        asked.push([since.getTime(), bucketMs]);
        return [{ service: "api", start: since, paidSats: 40, invoices: 4, challenges: 10, calls: 9 }];
      },
    };
    const windows = await readSeries(store, ["api"], now);
    expect(asked).toEqual([
      [seriesStart(now, HOUR, 24).getTime(), HOUR],
      [seriesStart(now, 86_400_000, 30).getTime(), 86_400_000],
    ]);
    const page = renderSeries(windows).text;
    for (const window of ["24h", "30d"]) {
      expect(page).toContain(`data-figure="series-${window}-api-sats">40<`);
      expect(page).toContain(`data-figure="series-${window}-api-calls">9<`);
      expect(page).toContain(`data-figure="series-${window}-api-challenges">10<`);
      expect(page).toContain(`id="conv-${window}-api-title">api: invoices paid per challenge, `);
    }
    expect(page).toContain("40.0 %");
    expect(page.match(/<svg class="chart"/g)).toHaveLength(4);
  });
});

describe("overview labels", () => {
  const overview = (surge: { service: string; multiplier: number; load: number | undefined }[]) =>
    renderOverview({
      windows: [
        {
          id: "day",
          title: "last day",
          payments: [],
          charges: [
            { service: "api", model: "-", chargedMsat: 5, requests: 1 },
            { service: "llm", model: "smol", chargedMsat: 7, requests: 1 },
          ],
        },
      ],
      conversion: [],
      activeTokens: 0,
      outstandingMsat: 0,
      surge,
      health: { lnd: { ok: true }, store: { ok: true } },
    }).text;

  it("names a charge without a model by its service alone, and leaves its model cell blank", () => {
    const page = overview([]);
    expect(page).not.toContain("api · -");
    expect(page).toContain(">api</text>");
    expect(page).toContain(">llm · smol</text>");
    expect(page).toContain('<tr><th scope="row">api</th><td></td>');
  });

  it("shows backend load only for services with surge pricing", () => {
    const none = overview([{ service: "api", multiplier: 1, load: undefined }]);
    expect(none).not.toContain("no surge pricing");
    expect(none).toContain("No service uses surge pricing");
    const some = overview([
      { service: "api", multiplier: 1, load: undefined },
      { service: "llm", multiplier: 1.5, load: 0.75 },
    ]);
    expect(some).toContain('data-figure="surge-llm">1.500×');
    expect(some).not.toContain('data-figure="surge-api"');
  });
});
