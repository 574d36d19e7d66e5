import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { SqliteTokenStore } from "./sqlite.js";
import { TOKEN_COLUMNS, tokenRowOf } from "./token-row.js";
import { describeTokenStore, newToken, paidMetered } from "./token-store.suite.js";

const newPath = () => join(mkdtempSync(join(tmpdir(), "gw-store-")), "db", "gateway.sqlite");

describeTokenStore({
  name: "SQLite",
  latestSchemaVersion: 6,
  async createDatabase() {
    const path = newPath();
    return {
      open: async (owner?: string) => new SqliteTokenStore(path, owner),
      schemaVersion: async () => {
        const probe = new SqliteTokenStore(path);
        try {
          return probe.schemaVersion;
        } finally {
          await probe.close();
        }
      },
    };
  },
});

describe("SQLite store: one gateway per file", () => {
  it("releases reservations an earlier process left, and keeps its own", async () => {
    const path = newPath();
    const crashed = new SqliteTokenStore(path, "crashed");
    const { token } = await paidMetered(crashed, 10);
    await crashed.reserve(token.tokenId, 4_000, new Date(1_000));
    await crashed.close();
    const restarted = new SqliteTokenStore(path, "restarted", new Date(2_000));
    expect(restarted.heartbeatIntervalMs).toBeUndefined();
    const own = await restarted.reserve(token.tokenId, 1_000, new Date(1_500));
    expect(own.ok).toBe(true);
    expect(await restarted.releaseStaleReservations()).toBe(1);
    const account = (await restarted.getToken(token.tokenId))?.account;
    expect(account).toMatchObject({ balanceMsat: 9_000, reservedMsat: 1_000, chargedMsat: 0 });
    expect(await restarted.outstandingBalanceMsat()).toBe(10_000);
    await restarted.close();
  });

  it("answers a revocation from another process or from itself on the very next lookup of a cached root key", async () => {
    const path = newPath();
    const gateway = new SqliteTokenStore(path);
    const cli = new SqliteTokenStore(path);
    const [first, second] = [newToken(), newToken()];
    for (const token of [first, second]) {
      await gateway.insertToken(token);
      await gateway.markPaid(token.paymentHash, new Date());
      for (let i = 0; i < 3; i++) expect((await gateway.lookupRootKey(token.rootKeyId)).found).toBe("active");
    }
    await cli.revoke(first.tokenId, new Date());
    expect((await gateway.lookupRootKey(first.rootKeyId)).found).toBe("revoked");
    expect((await gateway.lookupRootKey(second.rootKeyId)).found).toBe("active");
    await gateway.revoke(second.tokenId, new Date());
    expect((await gateway.lookupRootKey(second.rootKeyId)).found).toBe("revoked");
    await gateway.close();
    await cli.close();
  });
});

describe("SQLite store: the root-key lookup's raw read", () => {
  it("names every column of the tokens table, each value under its own column", async () => {
    const path = newPath();
    await new SqliteTokenStore(path).close();
    const db = new Database(path, { readonly: true });
    const columns = (db.pragma("table_info(tokens)") as { name: string }[]).map((column) => column.name);
    db.close();
    expect([...TOKEN_COLUMNS].sort()).toEqual([...columns].sort());
    const indexes = TOKEN_COLUMNS.map((_, index) => index);
    expect(tokenRowOf(indexes)).toEqual(Object.fromEntries(TOKEN_COLUMNS.map((name, index) => [name, index])));
  });
});
