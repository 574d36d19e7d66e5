import { type GatewayConfig, PostgresTokenStore, parseConfig, StoreUnavailableError } from "@l402-gateway/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeTokenStore, newToken, paidMetered } from "../gateway/src/store/token-store.suite.js";
import { startPostgres, type TestPostgres } from "./support/postgres.js";

let server: TestPostgres;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

type PostgresOptions = NonNullable<GatewayConfig["store"]["postgres"]>;

function postgresConfig(url: string, overrides: Partial<PostgresOptions> = {}): PostgresOptions {
  const config = parseConfig({
    lnd: { socket: "127.0.0.1:1", cert: "x", macaroon: "x" },
    store: { postgres: { url, ...overrides } },
    services: [{ name: "s", match: { pathPrefix: "/" }, upstream: "http://127.0.0.1:1", price: { sats: 1 } }],
  });
  if (!config.store.postgres) throw new Error("no postgres config");
  return config.store.postgres;
}

describeTokenStore({
  name: "PostgreSQL",
  latestSchemaVersion: 7,
  async createDatabase() {
    const url = await server.createDatabase();
    return {
      open: (owner?: string) => PostgresTokenStore.open(postgresConfig(url), { owner }),
      schemaVersion: async () => {
        const probe = await PostgresTokenStore.open(postgresConfig(url));
        try {
          return await probe.schemaVersion();
        } finally {
          await probe.close();
        }
      },
    };
  },
});

describe("PostgreSQL store: several replicas", () => {
  it("migrates once when replicas start together", async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresTokenStore.open(postgresConfig(url))));
    expect(await Promise.all(stores.map((s) => s.schemaVersion()))).toEqual([7, 7, 7, 7]);
    await Promise.all(stores.map((s) => s.close()));
  });

  it("releases the reservations of a replica whose heartbeat is older than the lease, and only those", async () => {
    const url = await server.createDatabase();
    const config = postgresConfig(url, { leaseSeconds: 30 });
    const stopped = await PostgresTokenStore.open(config, { owner: "stopped" });
    const alive = await PostgresTokenStore.open(config, { owner: "alive" });
    const janitor = await PostgresTokenStore.open(config, { owner: "janitor" });
    try {
      expect(janitor.heartbeatIntervalMs).toBe(10_000);
      const { token } = await paidMetered(stopped, 10);
      const t0 = 1_000_000;
      await stopped.releaseStaleReservations(new Date(t0));
      await stopped.reserve(token.tokenId, 4_000, new Date(t0));
      await alive.releaseStaleReservations(new Date(t0));
      await alive.reserve(token.tokenId, 1_000, new Date(t0));
      // 20 s later both leases hold: nothing is released.
      await alive.releaseStaleReservations(new Date(t0 + 20_000));
      expect(await janitor.releaseStaleReservations(new Date(t0 + 20_000))).toBe(0);
      // 40 s later "alive" heartbeated at +20 s, "stopped" last at 0: only its reservation goes back.
      expect(await janitor.releaseStaleReservations(new Date(t0 + 40_000))).toBe(1);
      expect(await alive.releaseStaleReservations(new Date(t0 + 40_000))).toBe(0);
      const account = (await janitor.getToken(token.tokenId))?.account;
      expect(account).toMatchObject({ balanceMsat: 9_000, reservedMsat: 1_000, chargedMsat: 0 });
    } finally {
      await Promise.all([stopped.close(), alive.close(), janitor.close()]);
    }
  });

  it("refuses a revoked token on another replica that had its root key cached", async () => {
    const url = await server.createDatabase();
    const config = postgresConfig(url, { rootKeyCacheMs: 600_000 });
    const a = await PostgresTokenStore.open(config);
    const b = await PostgresTokenStore.open(config);
    try {
      const token = newToken();
      await a.insertToken(token);
      await a.markPaid(token.paymentHash, new Date());
      // b looks up until its listener is up and the lookup is cached.
      await expect.poll(async () => (await b.lookupRootKey(token.rootKeyId)).found).toBe("active");
      await a.revoke(token.tokenId, new Date());
      await expect.poll(async () => (await b.lookupRootKey(token.rootKeyId)).found, { timeout: 5_000 }).toBe("revoked");
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("fails with StoreUnavailableError, not a hang, when the database is unreachable", async () => {
    await expect(
      PostgresTokenStore.open(postgresConfig("postgres://postgres@127.0.0.1:1/none", { connectTimeoutMs: 500 })),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it("answers StoreUnavailableError while the server is down, and works again when it is back", async () => {
    const url = await server.createDatabase();
    const store = await PostgresTokenStore.open(postgresConfig(url, { connectTimeoutMs: 1_000 }));
    try {
      const token = newToken();
      await store.insertToken(token);
      await server.stopServer();
      await expect(store.getToken(token.tokenId)).rejects.toBeInstanceOf(StoreUnavailableError);
      await server.startServer();
      await expect
        .poll(async () => (await store.getToken(token.tokenId).catch(() => undefined))?.tokenId, {
          timeout: 20_000,
        })
        .toBe(token.tokenId);
    } finally {
      await store.close();
    }
  });
});
