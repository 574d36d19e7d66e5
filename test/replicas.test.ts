import { randomBytes } from "node:crypto";
import { type GatewayConfig, parseConfig, type RunningGateway, startGateway } from "@l402-gateway/gateway";
import { formatAuthorization } from "@l402-gateway/l402";
import { pay } from "lightning";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testNetwork } from "./regtest/context.js";
import { gatewayLndConfig, lndClient } from "./regtest/network-file.js";
import { startPostgres, type TestPostgres } from "./support/postgres.js";
import { weatherAndEcho } from "./support/services.js";
import { startUpstream, type TestUpstream } from "./support/upstream.js";

const network = testNetwork();
const bob = lndClient(network.nodes.bob);
const ADMIN_SECRET = randomBytes(32).toString("base64url");
const CALL_MSAT = 2_000;
/** The documented revocation bound with a root-key cache: the cache's lifetime, here longer than the test. */
const ROOT_KEY_CACHE_MS = 600_000;

interface Credential {
  readonly macaroon: string;
  readonly preimage: string;
  readonly paidSats: number;
}

interface ChallengeBody {
  readonly code: string;
  readonly macaroon: string;
  readonly invoice: string;
  readonly token_id?: string;
}

const authorization = (c: Credential) => ({
  authorization: formatAuthorization({ macaroons: [c.macaroon], preimage: Buffer.from(c.preimage, "hex") }),
});

describe("two gateway replicas on one PostgreSQL database (regtest)", () => {
  let postgres: TestPostgres;
  let upstream: TestUpstream;
  let a: RunningGateway;
  let b: RunningGateway;
  let config: GatewayConfig;

  beforeAll(async () => {
    postgres = await startPostgres();
    upstream = await startUpstream();
    const url = await postgres.createDatabase();
    config = parseConfig({
      listen: { port: 0 },
      operator: { port: 0 },
      admin: { port: 0, secret: ADMIN_SECRET },
      lnd: gatewayLndConfig(network.nodes.alice),
      store: { postgres: { url, rootKeyCacheMs: ROOT_KEY_CACHE_MS, connectTimeoutMs: 1_000 } },
      log: { level: "silent" },
      limits: { challengeBurst: 1_000, challengesPerMinute: 1_000 },
      services: weatherAndEcho(upstream.url, CALL_MSAT),
    });
    // Each replica has its own store (its own pool and owner id) on the same database, and watches alice's invoices.
    a = await startGateway(config, { log: pino({ level: "silent" }) });
    b = await startGateway(config, { log: pino({ level: "silent" }) });
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await upstream?.close();
    await postgres?.stop();
  });

  async function buy(gateway: RunningGateway, path: string, headers: Record<string, string> = {}): Promise<Credential> {
    const res = await fetch(`${gateway.url}${path}`, { method: "POST", headers });
    expect(res.status).toBe(402);
    const body = (await res.json()) as ChallengeBody;
    const payment = await pay({ lnd: bob, request: body.invoice });
    return { macaroon: body.macaroon, preimage: payment.secret, paidSats: payment.tokens };
  }

  it("serves a token bought and paid through replica A on replica B", async () => {
    const token = await buy(a, "/weather/today");
    const onB = await fetch(`${b.url}/weather/today`, { headers: authorization(token) });
    expect(onB.status).toBe(200);
    await onB.text();
    const onA = await fetch(`${a.url}/weather/today`, { headers: authorization(token) });
    expect(onA.status).toBe(200);
    await onA.text();
  });

  it("credits a prepaid balance once although both replicas watch the settlement", async () => {
    const token = await buy(a, "/v1/echo", { "x-l402-deposit-msat": String(5 * CALL_MSAT) });
    // Both watchers see the settlement; only one credit may land.
    const credited = async () => {
      const res = await fetch(`${b.url}/l402/balance`, { headers: authorization(token) });
      return ((await res.json()) as { credited_msat: number }).credited_msat;
    };
    await expect.poll(credited, { timeout: 15_000 }).toBe(token.paidSats * 1000);
    const settledBy = async (gateway: RunningGateway) => {
      const text = await (await fetch(`${gateway.operatorUrl}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith('l402_invoices_settled_total{service="echo"'));
      return Number(line?.split(" ").pop() ?? 0);
    };
    await new Promise((done) => setTimeout(done, 500));
    expect(await credited()).toBe(token.paidSats * 1000);
    expect((await settledBy(a)) + (await settledBy(b))).toBe(1);
  });

  it("serves exactly balance/price of 50 concurrent requests spread over both replicas, never overdrawing", async () => {
    const calls = 7;
    const token = await buy(b, "/v1/echo", { "x-l402-deposit-msat": String(calls * CALL_MSAT) });
    expect(token.paidSats * 1000).toBe(calls * CALL_MSAT);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        fetch(`${(i % 2 ? a : b).url}/v1/echo`, { method: "POST", headers: authorization(token) }),
      ),
    );
    const statuses = answers.map((r) => r.status);
    await Promise.all(answers.map((r) => r.text()));
    expect(statuses.filter((s) => s === 200)).toHaveLength(calls);
    expect(statuses.filter((s) => s === 402)).toHaveLength(50 - calls);
    const account = await b.store.getToken(
      ((await (await fetch(`${a.url}/l402/balance`, { headers: authorization(token) })).json()) as { token_id: string })
        .token_id,
    );
    expect(account?.account).toMatchObject({
      balanceMsat: 0,
      reservedMsat: 0,
      chargedMsat: calls * CALL_MSAT,
      creditedMsat: calls * CALL_MSAT,
      requests: calls,
    });
  });

  it("refuses on replica B a token revoked through replica A, though B had its root key cached", async () => {
    const token = await buy(a, "/weather/today");
    // B serves it (and caches the root key: the cache outlives this test, so only the notification can clear it).
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${b.url}/weather/today`, { headers: authorization(token) });
      expect(res.status).toBe(200);
      await res.text();
    }
    const tokenId = (await a.store.listTokens({ service: "weather", status: "paid", limit: 1 }))[0]?.tokenId ?? "";
    const revoked = await fetch(`${a.adminUrl}/admin/tokens/${tokenId}/revoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_SECRET}` },
    });
    expect(revoked.status).toBe(200);
    await expect
      .poll(
        async () => {
          const res = await fetch(`${b.url}/weather/today`, { headers: authorization(token) });
          return ((await res.json()) as { code?: string }).code;
        },
        { timeout: 10_000, interval: 50 },
      )
      .toBe("revoked");
  });

  it("answers 503 store_unavailable while the database is down, and serves again when it is back", async () => {
    const token = await buy(a, "/v1/echo", { "x-l402-deposit-msat": String(2 * CALL_MSAT) });
    await expect
      .poll(async () => (await fetch(`${a.url}/v1/echo`, { method: "POST", headers: authorization(token) })).status, {
        timeout: 15_000,
      })
      .toBe(200);
    await postgres.stopServer();
    try {
      const res = await fetch(`${b.url}/v1/echo`, { method: "POST", headers: authorization(token) });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: "store_unavailable" });
      const ready = await fetch(`${b.operatorUrl}/readyz`);
      expect(ready.status).toBe(503);
    } finally {
      await postgres.startServer();
    }
    await expect
      .poll(async () => (await fetch(`${b.url}/v1/echo`, { method: "POST", headers: authorization(token) })).status, {
        timeout: 20_000,
      })
      .toBe(200);
  });
});
