import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { TokenBrowse } from "./owner-reports.js";
import type { TokenStore } from "./store.js";
import { newToken, newTopUp } from "./token-store.suite.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const hex = (n: number) => randomBytes(n).toString("hex");
const page = (overrides: Partial<TokenBrowse> = {}): TokenBrowse => ({
  sort: "created",
  order: "desc",
  limit: 100,
  offset: 0,
  ...overrides,
});

/**
 * A small history: a fixed-price token and a metered one on "weather", an unpaid one, a charged metered token with a
 * top-up on "llm", a closed (refunded) one, and a Payment session. Times are fixed so sorts and buckets are exact.
 */
async function history(store: TokenStore, base: number) {
  const at = (hours: number) => new Date(base + hours * HOUR);
  const fixed = newToken({ service: "weather", priceSats: 3, createdAt: at(0) });
  const unpaid = newToken({ service: "weather", priceSats: 7, createdAt: at(1) });
  const metered = newToken({ service: "llm", priceSats: 10, metered: true, createdAt: at(2) });
  const closed = newToken({ service: "llm", priceSats: 4, metered: true, createdAt: at(3) });
  for (const token of [fixed, unpaid, metered, closed]) await store.insertToken(token);
  await store.markPaid(fixed.paymentHash, at(0));
  await store.markPaid(metered.paymentHash, at(2));
  await store.markPaid(closed.paymentHash, at(3));
  const topUp = newTopUp(metered.tokenId, 5);
  await store.insertTopUp(topUp);
  await store.markPaid(topUp.paymentHash, at(26));
  const charge = async (tokenId: string, amountMsat: number, when: Date) => {
    const reservation = await store.reserve(tokenId, amountMsat, when);
    if (!reservation.ok) throw new Error("reservation refused");
    await store.closeReservation(reservation.id, { amountMsat, service: "llm", model: "m", reason: "usage" }, when);
  };
  await charge(metered.tokenId, 2_500, at(27));
  await charge(closed.tokenId, 1_000, at(4));
  const close = await store.closeAccount({
    tokenId: closed.tokenId,
    invoice: { request: "lnbcrt1refund", paymentHash: hex(32) },
    maxMsat: 1_000_000,
    at: at(5),
  });
  expect(close.kind).toBe("closed");
  const hash = hex(32);
  const session = await store.openSession(
    {
      token: newToken({
        tokenId: hash,
        paymentHash: hash,
        service: "llm",
        priceSats: 6,
        metered: true,
        createdAt: at(4),
      }),
      returnInvoice: "lnbcrt1return",
      challengeId: "cid",
    },
    at(4),
  );
  if (!session.ok) throw new Error("session not opened");
  return { fixed, unpaid, metered, closed, session: session.token };
}

/** The owner's reports (owner-reports.ts), on every store. */
export function describeOwnerReports(
  name: string,
  fresh: () => Promise<{ store: TokenStore; second: () => Promise<TokenStore> }>,
) {
  describe(`${name} store: the owner's reports`, () => {
    const base = Date.UTC(2026, 0, 10, 0, 0, 0);

    it("lists tokens filtered by service, status and scheme, with totals of the whole filtered set", async () => {
      const { store } = await fresh();
      const t = await history(store, base);
      const all = await store.browseTokens(page());
      expect(all.tokens.map((l) => l.token.tokenId)).toEqual(
        [t.session, t.closed, t.metered, t.unpaid, t.fixed].map((x) => x.tokenId),
      );
      // Paid: 3 (fixed) + 15 (metered and its top-up) + 4 (closed) + 6 (session), in msat; the unpaid token nothing.
      expect(all.totals).toEqual({
        count: 5,
        paidMsat: 28_000,
        outstandingMsat: 12_500 + 6_000,
        refundedMsat: 3_000,
      });
      const metered = all.tokens.find((l) => l.token.tokenId === t.metered.tokenId);
      expect(metered).toMatchObject({ paidMsat: 15_000, lastUsedAt: new Date(base + 27 * HOUR) });
      expect(all.tokens.find((l) => l.token.tokenId === t.fixed.tokenId)?.lastUsedAt).toBeUndefined();

      const weather = await store.browseTokens(page({ service: "weather" }));
      expect(weather.tokens.map((l) => l.token.tokenId)).toEqual([t.unpaid.tokenId, t.fixed.tokenId]);
      expect(weather.totals).toEqual({ count: 2, paidMsat: 3_000, outstandingMsat: 0, refundedMsat: 0 });

      const revoked = await store.browseTokens(page({ status: "revoked" }));
      expect(revoked.tokens.map((l) => l.token.tokenId)).toEqual([t.closed.tokenId]);
      expect(revoked.totals).toMatchObject({ count: 1, refundedMsat: 3_000, outstandingMsat: 0 });

      const payment = await store.browseTokens(page({ scheme: "payment" }));
      expect(payment.tokens.map((l) => l.token.tokenId)).toEqual([t.session.tokenId]);
      expect(payment.totals).toEqual({ count: 1, paidMsat: 6_000, outstandingMsat: 6_000, refundedMsat: 0 });

      const none = await store.browseTokens(page({ service: "llm", status: "issued" }));
      expect(none).toEqual({ tokens: [], totals: { count: 0, paidMsat: 0, outstandingMsat: 0, refundedMsat: 0 } });
    });

    it("sorts by creation, amount paid, balance and last charge, both ways, ties broken by token id", async () => {
      const { store } = await fresh();
      const t = await history(store, base);
      const ids = async (query: Partial<TokenBrowse>) =>
        (await store.browseTokens(page(query))).tokens.map((l) => l.token.tokenId);
      expect(await ids({ order: "asc" })).toEqual(
        [t.fixed, t.unpaid, t.metered, t.closed, t.session].map((x) => x.tokenId),
      );
      expect(await ids({ sort: "paid" })).toEqual(
        [t.metered, t.session, t.closed, t.fixed, t.unpaid].map((x) => x.tokenId),
      );
      const balance = await ids({ sort: "balance", service: "llm" });
      expect(balance.slice(0, 2)).toEqual([t.metered.tokenId, t.session.tokenId]);
      expect(balance.slice(2)).toEqual([t.closed.tokenId]);
      const used = await ids({ sort: "used" });
      expect(used.slice(0, 2)).toEqual([t.metered.tokenId, t.closed.tokenId]);
      // Never charged: ordered after the charged ones, by token id (descending, as the sort).
      expect(used.slice(2)).toEqual(
        [t.fixed, t.unpaid, t.session]
          .map((x) => x.tokenId)
          .sort()
          .reverse(),
      );
      const usedAsc = await ids({ sort: "used", order: "asc" });
      expect(usedAsc.slice(-2)).toEqual([t.closed.tokenId, t.metered.tokenId]);
    });

    it("pages with a limit and an offset; the totals stay those of every page", async () => {
      const { store } = await fresh();
      const tokens = Array.from({ length: 7 }, (_, i) => newToken({ service: "s", createdAt: new Date(base + i) }));
      for (const token of tokens) await store.insertToken(token);
      const newestFirst = tokens.map((x) => x.tokenId).reverse();
      const seen: string[] = [];
      for (let offset = 0; offset < 9; offset += 3) {
        const found = await store.browseTokens(page({ limit: 3, offset }));
        expect(found.totals.count).toBe(7);
        seen.push(...found.tokens.map((l) => l.token.tokenId));
      }
      expect(seen).toEqual(newestFirst);
      expect((await store.browseTokens(page({ limit: 3, offset: 9 }))).tokens).toEqual([]);
    });

    it("adds challenges and calls into one counter row per service and hour, from several connections", async () => {
      const { store, second } = await fresh();
      const other = await second();
      const hour = new Date(base);
      await Promise.all([
        store.addTraffic([
          { service: "llm", hourStart: hour, challenges: 3, calls: 1 },
          { service: "weather", hourStart: hour, challenges: 1, calls: 0 },
        ]),
        other.addTraffic([{ service: "llm", hourStart: hour, challenges: 2, calls: 4 }]),
      ]);
      await store.addTraffic([{ service: "llm", hourStart: new Date(base + HOUR), challenges: 5, calls: 5 }]);
      await store.addTraffic([]);
      const hourly = await other.revenueSeries(new Date(base), HOUR);
      expect(hourly.map((p) => [p.service, p.start.getTime() - base, p.challenges, p.calls])).toEqual([
        ["llm", 0, 5, 5],
        ["llm", HOUR, 5, 5],
        ["weather", 0, 1, 0],
      ]);
    });

    it("buckets payments and traffic by hour and by day from a start, per service", async () => {
      const { store } = await fresh();
      await history(store, base);
      await store.addTraffic([{ service: "llm", hourStart: new Date(base + 2 * HOUR), challenges: 4, calls: 2 }]);
      const hourly = await store.revenueSeries(new Date(base + HOUR), HOUR);
      const row = (p: {
        service: string;
        start: Date;
        paidSats: number;
        invoices: number;
        challenges: number;
        calls: number;
      }) => [p.service, (p.start.getTime() - base) / HOUR, p.paidSats, p.invoices, p.challenges, p.calls] as const;
      // The fixed token, paid at hour 0, is before the start.
      expect(hourly.map(row)).toEqual([
        ["llm", 2, 10, 1, 4, 2],
        ["llm", 3, 4, 1, 0, 0],
        ["llm", 4, 6, 1, 0, 0],
        ["llm", 26, 5, 1, 0, 0],
      ]);
      const daily = await store.revenueSeries(new Date(base), DAY);
      expect(daily.map(row)).toEqual([
        ["llm", 0, 20, 3, 4, 2],
        ["llm", 24, 5, 1, 0, 0],
        ["weather", 0, 3, 1, 0, 0],
      ]);
    });
  });
}
