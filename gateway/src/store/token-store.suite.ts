import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { NewClaim, NewSession } from "./ledger.js";
import { describeOwnerReports } from "./owner-reports.suite.js";
import type { NewToken, NewTopUp, TokenStore } from "./store.js";

/** One empty database that several stores (as separate processes or replicas would) can open. */
export interface StoreDatabase {
  open(owner?: string): Promise<TokenStore>;
  schemaVersion(): Promise<number>;
}

/** A store implementation under test: SQLite here, PostgreSQL in test/postgres-store.test.ts. */
export interface StoreBackend {
  readonly name: string;
  readonly latestSchemaVersion: number;
  createDatabase(): Promise<StoreDatabase>;
}

const hex = (n: number) => randomBytes(n).toString("hex");

export function newToken(overrides: Partial<NewToken> = {}): NewToken {
  const now = Date.now();
  return {
    tokenId: hex(32),
    rootKeyId: hex(32),
    rootKey: randomBytes(32),
    paymentHash: hex(32),
    service: "llm",
    priceSats: 21,
    invoice: "lnbcrt210n1...",
    createdAt: new Date(now),
    invoiceExpiresAt: new Date(now + 600_000),
    validUntil: new Date(now + 86_400_000),
    ...overrides,
  };
}

export function newTopUp(tokenId: string, sats: number): NewTopUp {
  return {
    tokenId,
    rootKeyId: hex(32),
    rootKey: randomBytes(32),
    paymentHash: hex(32),
    sats,
    invoice: "lnbcrt50n1...",
    createdAt: new Date(),
    invoiceExpiresAt: new Date(Date.now() + 600_000),
  };
}

export async function paidMetered(store: TokenStore, sats = 10) {
  const token = newToken({ priceSats: sats, metered: true });
  await store.insertToken(token);
  const paid = await store.markPaid(token.paymentHash, new Date());
  return { token, paid };
}

/** The behaviour every TokenStore must have, whatever database is under it. */
export function describeTokenStore(backend: StoreBackend): void {
  const opened: TokenStore[] = [];
  const track = async (store: Promise<TokenStore>) => {
    const s = await store;
    opened.push(s);
    return s;
  };
  const fresh = async (owner?: string) => {
    const database = await backend.createDatabase();
    return { database, store: await track(database.open(owner)), open: (o?: string) => track(database.open(o)) };
  };
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  describe(`${backend.name} token store`, () => {
    it("migrates a new database to the latest schema version, and again is a no-op", async () => {
      const { database, store: first, open } = await fresh();
      expect(await database.schemaVersion()).toBe(backend.latestSchemaVersion);
      await first.insertToken(newToken());
      await first.close();
      opened.splice(opened.indexOf(first), 1);
      const again = await open();
      expect(await database.schemaVersion()).toBe(backend.latestSchemaVersion);
      expect(await again.listTokens()).toHaveLength(1);
    });

    it("stores a token and finds its root key", async () => {
      const { store } = await fresh();
      const token = newToken();
      await store.insertToken(token);
      const lookup = await store.lookupRootKey(token.rootKeyId);
      expect(lookup.found).toBe("active");
      if (lookup.found !== "active") return;
      expect(lookup.rootKey.equals(token.rootKey)).toBe(true);
      expect(lookup.token.status).toBe("issued");
      expect(lookup.token.validUntil.getTime()).toBe(token.validUntil.getTime());
      expect((await store.lookupRootKey(hex(32))).found).toBe("none");
    });

    it("marks paid once, and only issued tokens", async () => {
      const { store } = await fresh();
      const token = newToken();
      await store.insertToken(token);
      expect((await store.markPaid(token.paymentHash, new Date(1_000)))?.tokenId).toBe(token.tokenId);
      expect(await store.markPaid(token.paymentHash, new Date(2_000))).toBeUndefined();
      expect((await store.getToken(token.tokenId))?.paidAt?.getTime()).toBe(1_000);
      expect(await store.markPaid(hex(32), new Date())).toBeUndefined();
    });

    it("revokes: erases the root key, keeps the record, survives reopening", async () => {
      const { store, open } = await fresh();
      const token = newToken();
      await store.insertToken(token);
      const revoked = await store.revoke(token.tokenId, new Date(5_000));
      expect(revoked?.status).toBe("revoked");
      expect(await store.revoke(hex(32), new Date())).toBeUndefined();
      expect(await store.markPaid(token.paymentHash, new Date())).toBeUndefined();
      const reopened = await open();
      const lookup = await reopened.lookupRootKey(token.rootKeyId);
      expect(lookup.found).toBe("revoked");
      expect(JSON.stringify(lookup)).not.toContain(token.rootKey.toString("hex"));
    });

    it("sees a revocation written by another connection", async () => {
      const { store: gateway, open } = await fresh();
      const cli = await open();
      const token = newToken();
      await gateway.insertToken(token);
      await gateway.markPaid(token.paymentHash, new Date());
      expect((await gateway.lookupRootKey(token.rootKeyId)).found).toBe("active");
      await cli.revoke(token.tokenId, new Date());
      // PostgreSQL may cache a paid token's root key; the revocation's notification clears it.
      await expect.poll(async () => (await gateway.lookupRootKey(token.rootKeyId)).found).toBe("revoked");
    });

    it("lists and filters tokens, newest first", async () => {
      const { store } = await fresh();
      const older = newToken({ createdAt: new Date(1_000), service: "a" });
      const newer = newToken({ createdAt: new Date(2_000), service: "b" });
      await store.insertToken(older);
      await store.insertToken(newer);
      await store.markPaid(newer.paymentHash, new Date());
      expect((await store.listTokens()).map((t) => t.tokenId)).toEqual([newer.tokenId, older.tokenId]);
      expect((await store.listTokens({ status: "paid" })).map((t) => t.tokenId)).toEqual([newer.tokenId]);
      expect((await store.listTokens({ service: "a" })).map((t) => t.tokenId)).toEqual([older.tokenId]);
      expect(await store.listTokens({ limit: 1 })).toHaveLength(1);
    });

    it("lists unpaid tokens whose invoice has not long expired", async () => {
      const { store } = await fresh();
      const live = newToken({ invoiceExpiresAt: new Date(10_000) });
      const stale = newToken({ invoiceExpiresAt: new Date(1_000) });
      await store.insertToken(live);
      await store.insertToken(stale);
      expect(await store.unpaidPaymentHashes(new Date(5_000))).toEqual([live.paymentHash]);
    });

    it("counts paid, unrevoked, unexpired tokens as active", async () => {
      const { store } = await fresh();
      const live = newToken({ validUntil: new Date(10_000) });
      const expired = newToken({ validUntil: new Date(1_000) });
      const unpaid = newToken({ validUntil: new Date(10_000) });
      const revoked = newToken({ validUntil: new Date(10_000) });
      for (const token of [live, expired, unpaid, revoked]) await store.insertToken(token);
      for (const token of [live, expired, revoked]) await store.markPaid(token.paymentHash, new Date(500));
      await store.revoke(revoked.tokenId, new Date(600));
      expect(await store.countActiveTokens(new Date(5_000))).toBe(1);
    });

    it("moves the settle index forward only", async () => {
      const { store } = await fresh();
      expect(await store.settleIndex()).toBe(0);
      await store.advanceSettleIndex(7);
      await store.advanceSettleIndex(3);
      expect(await store.settleIndex()).toBe(7);
    });
  });

  describe(`${backend.name} store: prepaid balances`, () => {
    it("credits a metered token with its invoice amount, once", async () => {
      const { store } = await fresh();
      const { token, paid } = await paidMetered(store, 10);
      expect(paid).toMatchObject({ kind: "token", sats: 10, tokenId: token.tokenId });
      expect(paid?.token.account).toMatchObject({ balanceMsat: 10_000, creditedMsat: 10_000 });
      expect(await store.markPaid(token.paymentHash, new Date())).toBeUndefined();
      expect((await store.getToken(token.tokenId))?.account.balanceMsat).toBe(10_000);
    });

    it("credits a settlement once when several processes record it at the same time", async () => {
      const { store, open } = await fresh();
      const other = await open();
      const token = newToken({ priceSats: 10, metered: true });
      await store.insertToken(token);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? other : store).markPaid(token.paymentHash, new Date())),
      );
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      expect((await store.getToken(token.tokenId))?.account).toMatchObject({ balanceMsat: 10_000 });
    });

    it("does not credit a token bought for access (not metered)", async () => {
      const { store } = await fresh();
      const token = newToken({ priceSats: 10 });
      await store.insertToken(token);
      expect((await store.markPaid(token.paymentHash, new Date()))?.token.account.balanceMsat).toBe(0);
    });

    it("reserves only what the balance covers, and settles charge plus refund in one step", async () => {
      const { store } = await fresh();
      const { token } = await paidMetered(store, 10);
      const first = await store.reserve(token.tokenId, 6_000, new Date());
      expect(first).toMatchObject({ ok: true, balanceMsat: 4_000 });
      expect(await store.reserve(token.tokenId, 6_000, new Date())).toEqual({ ok: false, balanceMsat: 4_000 });
      if (!first.ok) throw new Error("unreachable");
      const settled = await store.closeReservation(
        first.id,
        { amountMsat: 2_500, service: "llm", model: "m", promptTokens: 12, completionTokens: 30, reason: "usage" },
        new Date(),
      );
      expect(settled).toEqual({ chargedMsat: 2_500, balanceMsat: 7_500 });
      // Settling twice changes nothing.
      expect(
        await store.closeReservation(
          first.id,
          { amountMsat: 1, service: "llm", model: "m", reason: "usage" },
          new Date(),
        ),
      ).toBeUndefined();
      const account = (await store.getToken(token.tokenId))?.account;
      expect(account).toMatchObject({ balanceMsat: 7_500, reservedMsat: 0, chargedMsat: 2_500, creditedMsat: 10_000 });
      expect(await store.revenueByModel()).toEqual([{ service: "llm", model: "m", chargedMsat: 2_500, requests: 1 }]);
    });

    it("never overdraws when two processes reserve from one balance at once", async () => {
      const { store, open } = await fresh();
      const other = await open();
      const { token } = await paidMetered(store, 10);
      const attempts = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? other : store).reserve(token.tokenId, 1_000, new Date())),
      );
      expect(attempts.filter((r) => r.ok)).toHaveLength(10);
      const account = (await store.getToken(token.tokenId))?.account;
      expect(account).toMatchObject({ balanceMsat: 0, reservedMsat: 10_000 });
    });

    it("releases every reservation of a stopped owner, and none of a live one", async () => {
      const { store, open } = await fresh("live");
      const dead = await open("dead");
      const { token } = await paidMetered(store, 10);
      const live = await store.reserve(token.tokenId, 1_000, new Date());
      await dead.reserve(token.tokenId, 2_000, new Date());
      await dead.reserve(token.tokenId, 3_000, new Date());
      expect(await store.releaseReservationsOf("dead", new Date())).toBe(2);
      expect(await store.releaseReservationsOf("dead", new Date())).toBe(0);
      const account = (await store.getToken(token.tokenId))?.account;
      expect(account).toMatchObject({ balanceMsat: 9_000, reservedMsat: 1_000, chargedMsat: 0 });
      if (!live.ok) throw new Error("reservation refused");
      expect(
        await store.closeReservation(
          live.id,
          { amountMsat: 500, service: "llm", model: "-", reason: "usage" },
          new Date(),
        ),
      ).toEqual({ chargedMsat: 500, balanceMsat: 9_500 });
    });

    it("never charges more than was reserved", async () => {
      const { store } = await fresh();
      const { token } = await paidMetered(store, 5);
      const reservation = await store.reserve(token.tokenId, 1_000, new Date());
      if (!reservation.ok) throw new Error("reservation refused");
      const settled = await store.closeReservation(
        reservation.id,
        { amountMsat: 9_999, service: "llm", model: "-", reason: "usage" },
        new Date(),
      );
      expect(settled?.chargedMsat).toBe(1_000);
    });

    it("refuses reservations on unpaid and revoked tokens", async () => {
      const { store } = await fresh();
      const unpaid = newToken({ metered: true });
      await store.insertToken(unpaid);
      expect((await store.reserve(unpaid.tokenId, 1, new Date())).ok).toBe(false);
      const { token } = await paidMetered(store, 10);
      await store.revoke(token.tokenId, new Date());
      expect((await store.reserve(token.tokenId, 1, new Date())).ok).toBe(false);
    });

    it("credits a paid top-up to the same token, and finds the token by the top-up's root key", async () => {
      const { store } = await fresh();
      const { token } = await paidMetered(store, 1);
      const topUp = newTopUp(token.tokenId, 5);
      await store.insertTopUp(topUp);
      const lookup = await store.lookupRootKey(topUp.rootKeyId);
      expect(lookup).toMatchObject({ found: "active", token: { tokenId: token.tokenId }, credential: { paid: false } });
      expect(await store.unpaidPaymentHashes(new Date())).toEqual([topUp.paymentHash]);
      const paid = await store.markPaid(topUp.paymentHash, new Date());
      expect(paid).toMatchObject({ kind: "topup", sats: 5, tokenId: token.tokenId });
      expect(paid?.token.account.balanceMsat).toBe(6_000);
      expect(await store.markPaid(topUp.paymentHash, new Date())).toBeUndefined();
      expect(await store.paymentsByService()).toEqual([{ service: "llm", sats: 6, invoices: 2 }]);
      await store.revoke(token.tokenId, new Date());
      expect((await store.lookupRootKey(topUp.rootKeyId)).found).toBe("revoked");
    });

    it("counts payments and charges within a window, lists a token's charges, and finds it by any payment hash", async () => {
      const { store } = await fresh();
      const hourAgo = new Date(Date.now() - 3_600_000);
      const old = newToken({ priceSats: 4, metered: true });
      await store.insertToken(old);
      await store.markPaid(old.paymentHash, new Date(hourAgo.getTime() - 1_000));
      const { token } = await paidMetered(store, 10);
      const topUp = newTopUp(token.tokenId, 5);
      await store.insertTopUp(topUp);
      await store.markPaid(topUp.paymentHash, new Date());
      const charge = async (tokenId: string, amountMsat: number, at: Date) => {
        const reservation = await store.reserve(tokenId, amountMsat, at);
        if (!reservation.ok) throw new Error("reservation refused");
        await store.closeReservation(reservation.id, { amountMsat, service: "llm", model: "m", reason: "usage" }, at);
      };
      await charge(old.tokenId, 1_000, new Date(hourAgo.getTime() - 1_000));
      await charge(token.tokenId, 700, new Date());
      await charge(token.tokenId, 300, new Date());
      expect(await store.paymentsByService(hourAgo)).toEqual([{ service: "llm", sats: 15, invoices: 2 }]);
      expect(await store.paymentsByService()).toEqual([{ service: "llm", sats: 19, invoices: 3 }]);
      expect(await store.revenueByModel(hourAgo)).toEqual([
        { service: "llm", model: "m", chargedMsat: 1_000, requests: 2 },
      ]);
      expect(await store.revenueByModel()).toEqual([{ service: "llm", model: "m", chargedMsat: 2_000, requests: 3 }]);
      const ledger = await store.chargesOf(token.tokenId, 10);
      expect(ledger.map((entry) => entry.amountMsat)).toEqual([300, 700]);
      expect(ledger[0]).toMatchObject({ service: "llm", model: "m", reason: "usage" });
      expect(ledger[0]?.at).toBeInstanceOf(Date);
      for (const hash of [token.paymentHash, topUp.paymentHash]) {
        expect((await store.listTokens({ paymentHash: hash })).map((t) => t.tokenId)).toEqual([token.tokenId]);
      }
      expect(await store.listTokens({ paymentHash: hex(32) })).toEqual([]);
    });

    it("sums outstanding balances and reservations of paid metered tokens", async () => {
      const { store } = await fresh();
      const { token } = await paidMetered(store, 10);
      await paidMetered(store, 3);
      await store.reserve(token.tokenId, 4_000, new Date());
      expect(await store.outstandingBalanceMsat()).toBe(13_000);
    });
  });

  describe(`${backend.name} store: Payment sessions, claims and refunds`, () => {
    const claim = (overrides: Partial<NewClaim> = {}): NewClaim => ({
      paymentHash: hex(32),
      service: "llm",
      sats: 5,
      challengeId: "cid",
      at: new Date(),
      ...overrides,
    });
    const session = (sats = 10): NewSession => {
      const hash = hex(32);
      return {
        token: newToken({ tokenId: hash, paymentHash: hash, priceSats: sats, metered: true }),
        returnInvoice: "lnbcrt1return",
        challengeId: "open-cid",
      };
    };

    it("opens a session paid and credited once; a repeat returns it, a used hash is refused", async () => {
      const { store } = await fresh();
      const opened = session(10);
      const first = await store.openSession(opened, new Date());
      expect(first).toMatchObject({ ok: true, repeated: false, token: { scheme: "payment", status: "paid" } });
      expect(first.ok && first.token.account).toMatchObject({ balanceMsat: 10_000, creditedMsat: 10_000 });
      expect(first.ok && first.token.returnInvoice).toBe("lnbcrt1return");
      const again = await store.openSession(opened, new Date());
      expect(again).toMatchObject({ ok: true, repeated: true });
      expect(again.ok && again.token.account.creditedMsat).toBe(10_000);
      const charged = claim();
      expect(await store.claimCharge(charged)).toBe(true);
      const reused = session();
      const hash = charged.paymentHash;
      const sameHash = { ...reused, token: { ...reused.token, tokenId: hash, paymentHash: hash } };
      expect(await store.openSession(sameHash, new Date())).toEqual({ ok: false, reason: "used" });
    });

    it("claims a charge once, also when two claims race", async () => {
      const { database, store } = await fresh();
      const other = await track(database.open());
      const charge = claim();
      const results = await Promise.all([store.claimCharge(charge), other.claimCharge(charge)]);
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it("credits a top-up once per payment hash, to one session only", async () => {
      const { store } = await fresh();
      const a = session(10);
      const b = session(10);
      await store.openSession(a, new Date());
      await store.openSession(b, new Date());
      const topUp = claim({ sats: 5 });
      expect(await store.creditTopUp(a.token.tokenId, topUp)).toBe("credited");
      expect(await store.creditTopUp(a.token.tokenId, topUp)).toBe("repeated");
      expect(await store.creditTopUp(b.token.tokenId, topUp)).toBe("used");
      expect(await store.creditTopUp(a.token.tokenId, claim({ paymentHash: b.token.paymentHash }))).toBe("used");
      expect((await store.getToken(a.token.tokenId))?.account).toMatchObject({
        balanceMsat: 15_000,
        creditedMsat: 15_000,
      });
    });

    it("opens one session when its open is presented on two connections at once", async () => {
      const { database, store } = await fresh();
      const other = await track(database.open());
      for (let round = 0; round < 5; round++) {
        const opening = session(10);
        const both = await Promise.all([
          store.openSession(opening, new Date()),
          other.openSession(opening, new Date()),
        ]);
        expect(both.map((o) => o.ok && o.repeated).sort()).toEqual([false, true]);
        expect((await store.getToken(opening.token.tokenId))?.account).toMatchObject({
          balanceMsat: 10_000,
          creditedMsat: 10_000,
        });
      }
    });

    it("credits one top-up presented on two connections at once exactly once", async () => {
      const { database, store } = await fresh();
      const other = await track(database.open());
      const opened = session(10);
      await store.openSession(opened, new Date());
      for (let round = 0; round < 5; round++) {
        const topUp = claim({ sats: 5 });
        const both = await Promise.all([
          store.creditTopUp(opened.token.tokenId, topUp),
          other.creditTopUp(opened.token.tokenId, topUp),
        ]);
        expect(both.sort()).toEqual(["credited", "repeated"]);
      }
      expect((await store.getToken(opened.token.tokenId))?.account).toMatchObject({
        balanceMsat: 10_000 + 5 * 5_000,
        creditedMsat: 10_000 + 5 * 5_000,
      });
    });

    it("closes an account once: balance to refunded, token revoked, refund recorded and updated", async () => {
      const { store } = await fresh();
      const { token } = await paidMetered(store, 10);
      const reservation = await store.reserve(token.tokenId, 4_000, new Date());
      const invoice = { request: "lnbcrt1refund", paymentHash: hex(32) };
      const close = { tokenId: token.tokenId, invoice, maxMsat: 1_000_000, at: new Date() };
      expect((await store.closeAccount(close)).kind).toBe("busy");
      if (reservation.ok) {
        await store.closeReservation(
          reservation.id,
          { amountMsat: 1_000, service: "llm", model: "-", reason: "fixed" },
          new Date(),
        );
      }
      expect((await store.closeAccount({ ...close, maxMsat: 8_999 })).kind).toBe("over_cap");
      expect((await store.closeAccount({ ...close, invoice: { ...invoice, amountMsat: 1 } })).kind).toBe(
        "invoice_required",
      );
      const closed = await store.closeAccount(close);
      expect(closed).toMatchObject({ kind: "closed", refund: { amountMsat: 9_000, status: "pending", attempts: 0 } });
      const account = (await store.getToken(token.tokenId))?.account;
      expect(account).toMatchObject({ balanceMsat: 0, chargedMsat: 1_000, refundedMsat: 9_000, creditedMsat: 10_000 });
      expect((await store.lookupRootKey(token.rootKeyId)).found).toBe("revoked");
      expect((await store.reserve(token.tokenId, 1, new Date())).ok).toBe(false);
      expect(await store.closeAccount(close)).toMatchObject({ kind: "already_closed", refund: { amountMsat: 9_000 } });
      await store.updateRefund(token.tokenId, { status: "failed", error: "no route", attempted: true, at: new Date() });
      const done = await store.updateRefund(token.tokenId, {
        status: "succeeded",
        feeMsat: 3,
        attempted: true,
        at: new Date(),
      });
      expect(done).toMatchObject({ status: "succeeded", feeMsat: 3, attempts: 2 });
      expect(await store.updateRefund(token.tokenId, { status: "failed", at: new Date() })).toMatchObject({
        status: "succeeded",
      });
      expect(await store.listRefunds({ status: "succeeded" })).toHaveLength(1);
      expect(await store.listRefunds({ status: "pending" })).toHaveLength(0);
    });

    it("closes an empty account without an invoice as skipped, and refuses fixed-price tokens", async () => {
      const { store } = await fresh();
      const { token } = await paidMetered(store, 1);
      const r = await store.reserve(token.tokenId, 1_000, new Date());
      if (r.ok)
        await store.closeReservation(
          r.id,
          { amountMsat: 1_000, service: "llm", model: "-", reason: "fixed" },
          new Date(),
        );
      expect(await store.closeAccount({ tokenId: token.tokenId, maxMsat: 0, at: new Date() })).toMatchObject({
        kind: "closed",
        refund: { status: "skipped", amountMsat: 0 },
      });
      const fixed = newToken();
      await store.insertToken(fixed);
      await store.markPaid(fixed.paymentHash, new Date());
      expect((await store.closeAccount({ tokenId: fixed.tokenId, maxMsat: 1, at: new Date() })).kind).toBe(
        "not_refundable",
      );
      expect((await store.closeAccount({ tokenId: hex(32), maxMsat: 1, at: new Date() })).kind).toBe("not_found");
    });

    const closedWithRefund = async (store: TokenStore, sats = 10) => {
      const { token } = await paidMetered(store, sats);
      const invoice = { request: `lnbcrt1refund${hex(4)}`, paymentHash: hex(32) };
      await store.closeAccount({ tokenId: token.tokenId, invoice, maxMsat: 1e9, at: new Date() });
      return { token, invoice };
    };

    it("grants a refund's payment attempt to one claimant at a time, also when connections race", async () => {
      const { store, open } = await fresh();
      const other = await open();
      const { token, invoice } = await closedWithRefund(store);
      const ask = (claimId: string, at = new Date()) => ({
        tokenId: token.tokenId,
        claimId,
        retry: false,
        leaseMs: 60_000,
        at,
      });
      const [a, b] = await Promise.all([store.claimRefund(ask("a/1")), other.claimRefund(ask("b/1"))]);
      expect([a.kind, b.kind].sort()).toEqual(["busy", "claimed"]);
      const [holder, loser] = a.kind === "claimed" ? ["a/1", "b/1"] : ["b/1", "a/1"];
      const hash = invoice.paymentHash;
      expect(await store.startRefundPayment(token.tokenId, loser, hash, new Date())).toBeUndefined();
      expect(await store.startRefundPayment(token.tokenId, holder, hex(32), new Date())).toBeUndefined();
      const started = await other.startRefundPayment(token.tokenId, holder, hash, new Date());
      expect(started).toMatchObject({ attempts: 1, status: "pending" });
      expect(started?.claimedUntil).toBeInstanceOf(Date);
      // A lease that ran out lets another claim; the first holder can then no longer start a payment.
      expect((await store.claimRefund(ask("c/1", new Date(Date.now() + 61_000)))).kind).toBe("claimed");
      expect(await store.startRefundPayment(token.tokenId, holder, hash, new Date())).toBeUndefined();
      // An outcome about an earlier attempt is not recorded over a later one.
      const end = { tokenId: token.tokenId, claimId: holder, paymentHash: hash, at: new Date() };
      expect(await store.finishRefundAttempt({ ...end, attempts: 0, status: "failed", error: "x" })).toMatchObject({
        status: "pending",
      });
      expect(
        await store.finishRefundAttempt({ ...end, attempts: 1, status: "failed", error: "no route" }),
      ).toMatchObject({ status: "failed", error: "no route", claimedUntil: expect.any(Date) });
      expect(
        await store.finishRefundAttempt({ ...end, claimId: "c/1", attempts: 1, status: "pending" }),
      ).not.toHaveProperty("claimedUntil");
      expect((await store.claimRefund(ask("d/1"))).kind).toBe("idle");
    });

    it("moves a failed refund to a new invoice on a retry only, never to another account's invoice", async () => {
      const { store } = await fresh();
      const { token, invoice } = await closedWithRefund(store);
      const other = await closedWithRefund(store);
      const ask = { tokenId: token.tokenId, leaseMs: 60_000, at: new Date() };
      const next = { request: "lnbcrt1next", paymentHash: hex(32) };
      const first = await store.claimRefund({ ...ask, claimId: "a/1", retry: true, invoice: next });
      expect(first).toMatchObject({
        kind: "claimed",
        previous: "pending",
        untried: true,
        refund: { paymentHash: invoice.paymentHash },
      });
      await store.startRefundPayment(token.tokenId, "a/1", invoice.paymentHash, new Date());
      await store.finishRefundAttempt({
        tokenId: token.tokenId,
        claimId: "a/1",
        paymentHash: invoice.paymentHash,
        attempts: 1,
        status: "failed",
        error: "no route",
        at: new Date(),
      });
      const stolen = { request: other.invoice.request, paymentHash: other.invoice.paymentHash };
      expect(await store.claimRefund({ ...ask, claimId: "b/1", retry: true, invoice: stolen })).toMatchObject({
        kind: "invoice_used",
      });
      expect(await store.claimRefund({ ...ask, claimId: "c/1", retry: true })).toMatchObject({
        kind: "claimed",
        previous: "failed",
        untried: false,
      });
      await store.finishRefundAttempt({
        tokenId: token.tokenId,
        claimId: "c/1",
        paymentHash: invoice.paymentHash,
        attempts: 1,
        status: "failed",
        error: "no route again",
        at: new Date(),
      });
      expect(await store.claimRefund({ ...ask, claimId: "d/1", retry: true, invoice: next })).toMatchObject({
        kind: "claimed",
        previous: "failed",
        untried: true,
        refund: { status: "pending", paymentHash: next.paymentHash, invoice: next.request },
      });
      expect(await store.refundPaymentHashes(token.tokenId)).toEqual(
        expect.arrayContaining([invoice.paymentHash, next.paymentHash]),
      );
      const reused = await paidMetered(store, 5);
      expect(
        (
          await store.closeAccount({
            tokenId: reused.token.tokenId,
            invoice: next,
            maxMsat: 1e9,
            at: new Date(),
          })
        ).kind,
      ).toBe("invoice_used");
      expect((await store.getToken(reused.token.tokenId))?.status).toBe("paid");
    });

    it("releases the refund claims of a stopped owner, and none of a live one", async () => {
      const { store, open } = await fresh("live");
      const { token } = await closedWithRefund(store);
      const dead = await closedWithRefund(store);
      const ask = { retry: false, leaseMs: 600_000, at: new Date() };
      await store.claimRefund({ ...ask, tokenId: token.tokenId, claimId: "live/1" });
      await store.claimRefund({ ...ask, tokenId: dead.token.tokenId, claimId: "dead/1" });
      await (await open("other")).releaseReservationsOf("dead", new Date());
      expect((await store.claimRefund({ ...ask, tokenId: dead.token.tokenId, claimId: "x/1" })).kind).toBe("claimed");
      expect((await store.claimRefund({ ...ask, tokenId: token.tokenId, claimId: "x/2" })).kind).toBe("busy");
    });

    it("remembers the credentials that closed an account, per account and across connections", async () => {
      const { database, store } = await fresh();
      const { token } = await paidMetered(store, 1);
      const owner = hex(32);
      expect(await store.isCloseCredential(token.tokenId, owner)).toBe(false);
      await store.recordCloseCredential(token.tokenId, owner, new Date());
      await store.recordCloseCredential(token.tokenId, owner, new Date());
      const other = await track(database.open());
      expect(await other.isCloseCredential(token.tokenId, owner)).toBe(true);
      expect(await other.isCloseCredential(token.tokenId, hex(32))).toBe(false);
      expect(await other.isCloseCredential(hex(32), owner)).toBe(false);
    });

    it("keeps one payment secret for every connection", async () => {
      const { database, store } = await fresh();
      const first = await store.paymentSecret(randomBytes(32));
      const other = await track(database.open());
      expect(await other.paymentSecret(randomBytes(32))).toEqual(first);
    });
  });

  describeOwnerReports(backend.name, async () => {
    const { store, open } = await fresh();
    return { store, second: () => open() };
  });
}
