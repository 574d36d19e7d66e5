import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteTokenStore } from "./sqlite.js";
import type { NewToken } from "./store.js";

const hex = (n: number) => randomBytes(n).toString("hex");

function newToken(overrides: Partial<NewToken> = {}): NewToken {
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

describe("SQLite token store", () => {
  const stores: SqliteTokenStore[] = [];
  const open = (path = join(mkdtempSync(join(tmpdir(), "gw-store-")), "db", "gateway.sqlite")) => {
    const store = new SqliteTokenStore(path);
    stores.push(store);
    return store;
  };
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
  });

  it("migrates a new database to the latest schema version, and again is a no-op", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "gw-store-")), "gateway.sqlite");
    const first = open(path);
    expect(first.schemaVersion).toBe(1);
    await first.insertToken(newToken());
    await first.close();
    stores.splice(stores.indexOf(first), 1);
    const again = open(path);
    expect(again.schemaVersion).toBe(1);
    expect(await again.listTokens()).toHaveLength(1);
  });

  it("stores a token and finds its root key", async () => {
    const store = open();
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
    const store = open();
    const token = newToken();
    await store.insertToken(token);
    expect((await store.markPaid(token.paymentHash, new Date(1_000)))?.tokenId).toBe(token.tokenId);
    expect(await store.markPaid(token.paymentHash, new Date(2_000))).toBeUndefined();
    expect((await store.getToken(token.tokenId))?.paidAt?.getTime()).toBe(1_000);
    expect(await store.markPaid(hex(32), new Date())).toBeUndefined();
  });

  it("revokes: erases the root key, keeps the record, survives reopening", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "gw-store-")), "gateway.sqlite");
    const store = open(path);
    const token = newToken();
    await store.insertToken(token);
    const revoked = await store.revoke(token.tokenId, new Date(5_000));
    expect(revoked?.status).toBe("revoked");
    expect(await store.revoke(hex(32), new Date())).toBeUndefined();
    expect(await store.markPaid(token.paymentHash, new Date())).toBeUndefined();
    const reopened = open(path);
    const lookup = await reopened.lookupRootKey(token.rootKeyId);
    expect(lookup.found).toBe("revoked");
    expect(JSON.stringify(lookup)).not.toContain(token.rootKey.toString("hex"));
  });

  it("sees a revocation written by another connection at once", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "gw-store-")), "gateway.sqlite");
    const gateway = open(path);
    const cli = open(path);
    const token = newToken();
    await gateway.insertToken(token);
    expect((await gateway.lookupRootKey(token.rootKeyId)).found).toBe("active");
    await cli.revoke(token.tokenId, new Date());
    expect((await gateway.lookupRootKey(token.rootKeyId)).found).toBe("revoked");
  });

  it("lists and filters tokens, newest first", async () => {
    const store = open();
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
    const store = open();
    const live = newToken({ invoiceExpiresAt: new Date(10_000) });
    const stale = newToken({ invoiceExpiresAt: new Date(1_000) });
    await store.insertToken(live);
    await store.insertToken(stale);
    expect((await store.unpaidTokens(new Date(5_000))).map((t) => t.tokenId)).toEqual([live.tokenId]);
  });

  it("counts paid, unrevoked, unexpired tokens as active", async () => {
    const store = open();
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
    const store = open();
    expect(await store.settleIndex()).toBe(0);
    await store.advanceSettleIndex(7);
    await store.advanceSettleIndex(3);
    expect(await store.settleIndex()).toBe(7);
  });
});
