import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, type RunningCluster, startCluster } from "@l402-gateway/gateway";
import { formatAuthorization } from "@l402-gateway/l402";
import { pay } from "lightning";
import pino from "pino";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testNetwork } from "./regtest/context.js";
import { gatewayLndConfig, lndClient } from "./regtest/network-file.js";
import { checkAccounting } from "./support/accounting.js";
import { scrapeSum } from "./support/metrics.js";
import { weatherAndEcho } from "./support/services.js";
import { startUpstream, type TestUpstream } from "./support/upstream.js";

const network = testNetwork();
const alice = lndClient(network.nodes.alice);
const bob = lndClient(network.nodes.bob);
const ADMIN_SECRET = randomBytes(32).toString("base64url");
const CALL_MSAT = 2_000;

interface ChallengeBody {
  readonly macaroon: string;
  readonly invoice: string;
  readonly price_msat?: number;
  readonly token_id?: string;
}

/** One request on a connection of its own: the primary hands each new connection to the next worker. */
async function onNewConnection(
  url: string,
  init: { method?: "GET" | "POST" | "PUT"; headers?: Record<string, string>; body?: string } = {},
) {
  const agent = new Agent();
  try {
    const res = await request(url, {
      method: init.method ?? "POST",
      headers: init.headers ?? {},
      body: init.body,
      dispatcher: agent,
    });
    return { status: res.statusCode, text: await res.body.text() };
  } finally {
    await agent.close();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("one gateway host with two workers on one SQLite file (regtest)", () => {
  let upstream: TestUpstream;
  let cluster: RunningCluster;
  let storePath: string;
  const metrics = (url: string, prefix: string) => scrapeSum(`${url}/metrics`, prefix);

  beforeAll(async () => {
    upstream = await startUpstream();
    storePath = join(mkdtempSync(join(tmpdir(), "l402-workers-")), "gateway.sqlite");
    const config = parseConfig({
      listen: { port: 0 },
      operator: { port: 0 },
      admin: { port: 0, secret: ADMIN_SECRET },
      lnd: gatewayLndConfig(network.nodes.alice),
      store: { path: storePath },
      log: { level: "silent" },
      limits: { challengeBurst: 1_000, challengesPerMinute: 1_000 },
      services: [
        ...weatherAndEcho(upstream.url, CALL_MSAT),
        // The test upstream holds a stream open after its first event: a request in flight when a worker dies.
        {
          name: "stream",
          match: { pathPrefix: "/v1/stream" },
          upstream: upstream.url,
          pricing: { rules: [{ perCallMsat: CALL_MSAT }] },
        },
      ],
    });
    cluster = await startCluster(config, { workers: 2, log: pino({ level: "silent" }) });
  });

  afterAll(async () => {
    await cluster?.close();
    await upstream?.close();
  });

  async function buy(path: string, headers: Record<string, string> = {}) {
    const res = await onNewConnection(`${cluster.url}${path}`, { headers });
    expect(res.status).toBe(402);
    const body = JSON.parse(res.text) as ChallengeBody;
    const payment = await pay({ lnd: bob, request: body.invoice });
    const authorization = formatAuthorization({
      macaroons: [body.macaroon],
      preimage: Buffer.from(payment.secret, "hex"),
    });
    return { body, authorization, paidSats: payment.tokens };
  }

  it("serves a token bought through one worker on the other, and sums the metrics over both", async () => {
    const [first, second] = cluster.workerOperatorUrls();
    if (!first || !second) throw new Error("two workers expected");
    const { authorization } = await buy("/weather/today");
    const issuedBy = [
      await metrics(first, "l402_challenges_issued_total"),
      await metrics(second, "l402_challenges_issued_total"),
    ];
    expect(issuedBy.sort()).toEqual([0, 1]);
    for (let i = 0; i < 6; i++) {
      const res = await onNewConnection(`${cluster.url}/weather/today`, { method: "GET", headers: { authorization } });
      expect(res.status).toBe(200);
    }
    const servedBy = [
      await metrics(first, "l402_paid_requests_total"),
      await metrics(second, "l402_paid_requests_total"),
    ];
    // Both workers served the token, whichever one sold it.
    expect(servedBy.every((n) => n > 0)).toBe(true);
    expect(servedBy.reduce((a, b) => a + b, 0)).toBe(6);
    expect(await metrics(cluster.operatorUrl, "l402_paid_requests_total")).toBe(6);
    expect(await metrics(cluster.operatorUrl, "l402_challenges_issued_total")).toBe(1);
    expect(await metrics(cluster.operatorUrl, "l402_lnd_up")).toBe(1);
    const ready = await onNewConnection(`${cluster.operatorUrl}/readyz`, { method: "GET" });
    expect(ready.status).toBe(200);
  });

  it("notices a settlement once, and relays an admin price change to every worker", async () => {
    const deposit = { "x-l402-deposit-msat": String(5 * CALL_MSAT) };
    const { authorization, paidSats } = await buy("/v1/echo", deposit);
    const credited = async () => {
      const res = await onNewConnection(`${cluster.url}/l402/balance`, { method: "GET", headers: { authorization } });
      return (JSON.parse(res.text) as { credited_msat: number }).credited_msat;
    };
    await expect.poll(credited, { timeout: 15_000 }).toBe(paidSats * 1000);
    expect(await metrics(cluster.operatorUrl, 'l402_invoices_settled_total{service="echo"}')).toBe(1);
    for (let i = 0; i < 4; i++) {
      expect((await onNewConnection(`${cluster.url}/v1/echo`, { headers: { authorization } })).status).toBe(200);
    }

    const admin = { authorization: `Bearer ${ADMIN_SECRET}`, "content-type": "application/json" };
    const put = await onNewConnection(`${cluster.adminUrl}/admin/prices/echo`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify({ rules: [{ perCallMsat: 3 * CALL_MSAT }] }),
    });
    expect(put.status).toBe(200);
    await expect
      .poll(async () => {
        const quotes = await Promise.all(
          [1, 2, 3, 4].map(async () => {
            const res = await onNewConnection(`${cluster.url}/v1/echo`);
            return (JSON.parse(res.text) as ChallengeBody).price_msat;
          }),
        );
        return quotes.every((q) => q === 3 * CALL_MSAT);
      })
      .toBe(true);
  });

  it("restarts a killed worker, the leader too, releases what the dead ones held, and keeps watching settlements", async () => {
    const streamer = await buy("/v1/stream", { "x-l402-deposit-msat": String(3 * CALL_MSAT) });
    const account = async () => {
      const res = await onNewConnection(`${cluster.url}/l402/balance`, {
        method: "GET",
        headers: { authorization: streamer.authorization },
      });
      return JSON.parse(res.text) as { balance_msat: number; reserved_msat: number; credited_msat: number };
    };
    await expect.poll(async () => (await account()).credited_msat, { timeout: 15_000 }).toBe(3 * CALL_MSAT);
    // Held open by the upstream; it dies with its worker, and its client with it.
    const inFlight = onNewConnection(`${cluster.url}/v1/stream`, {
      headers: { authorization: streamer.authorization },
    }).catch(() => undefined);
    await expect.poll(async () => (await account()).reserved_msat, { timeout: 15_000 }).toBe(CALL_MSAT);

    const before = cluster.pids();
    expect(before).toHaveLength(2);
    const [leader, other] = before;
    if (leader === undefined || other === undefined) throw new Error("two workers expected");
    // One at a time: the public port stays bound while one worker holds it (with port 0 a new one would be drawn).
    for (const pid of [other, leader]) {
      process.kill(pid, "SIGKILL");
      await expect.poll(() => cluster.pids().includes(pid), { timeout: 15_000 }).toBe(false);
      await cluster.ready();
      expect(cluster.pids()).toHaveLength(2);
    }
    await inFlight;
    // The dead worker's reservation was released in full by the primary: nothing charged, nothing held.
    expect(await account()).toMatchObject({ balance_msat: 3 * CALL_MSAT, reserved_msat: 0 });

    // A settlement after the leader's restart is noticed by its replacement, once.
    const settledBefore = await metrics(cluster.operatorUrl, 'l402_invoices_settled_total{service="echo"}');
    const { authorization, paidSats } = await buy("/v1/echo", { "x-l402-deposit-msat": String(3 * 3 * CALL_MSAT) });
    await expect
      .poll(
        async () => {
          const res = await onNewConnection(`${cluster.url}/l402/balance`, {
            method: "GET",
            headers: { authorization },
          });
          return (JSON.parse(res.text) as { credited_msat: number }).credited_msat;
        },
        { timeout: 15_000 },
      )
      .toBe(paidSats * 1000);
    expect(await metrics(cluster.operatorUrl, 'l402_invoices_settled_total{service="echo"}')).toBe(settledBefore + 1);
    expect((await onNewConnection(`${cluster.url}/v1/echo`, { headers: { authorization } })).status).toBe(200);
  });

  it("stops every worker on close, and the accounting holds", async () => {
    const pids = cluster.pids();
    await cluster.close();
    for (const pid of pids) expect(alive(pid)).toBe(false);
    const metered = upstream.seen.filter((r) => r.url.startsWith("/v1/echo")).length;
    const verdict = await checkAccounting({ storePath, lnd: alice, upstreamServed: metered, quiescent: true });
    expect(verdict.violations).toEqual([]);
  });
});
