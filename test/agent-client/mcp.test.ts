import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore } from "@l402-gateway/agent-client";
import type { RunningGateway } from "@l402-gateway/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayLndConfig } from "../regtest/network-file.js";
import { checkAccounting } from "../support/accounting.js";
import { ensureOperatorCanPay } from "../support/operator-liquidity.js";
import { startUpstream, type TestUpstream } from "../support/upstream.js";
import { HostileServer } from "./hostile-server.js";
import { type Elicit, startHost as startMcpHost } from "./mcp-host.js";
import {
  added,
  aliceLnd,
  bobCliEnv,
  bobLnd,
  bobPaymentHashes,
  expectBooksToBalance,
  LLM_PRICE_SATS,
  network,
  startTestGateway,
  tempStorePath,
  WEATHER_PRICE_SATS,
} from "./support.js";

const startHost = (storePath: string, flags: string[] = [], elicit: Elicit = "none") =>
  startMcpHost(bobCliEnv(storePath), flags, elicit);

describe("l402 mcp: a Model Context Protocol server that pays the regtest gateway", () => {
  let upstream: TestUpstream;
  let gateway: RunningGateway;
  const gatewayStore = join(mkdtempSync(join(tmpdir(), "l402-mcp-gw-")), "gateway.sqlite");

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = await startTestGateway(upstream.url, { store: { path: gatewayStore } });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("lists its tools with schemas; pays once, then reuses the credential; reports receipts, balance, budget", async () => {
    const host = await startHost(tempStorePath());
    try {
      const { tools } = await host.client.listTools();
      expect(tools.map((tool) => tool.name).sort()).toEqual([
        "balance",
        "budget",
        "close",
        "fetch",
        "quote",
        "receipts",
      ]);
      for (const tool of tools) expect(tool.description?.length ?? 0).toBeGreaterThan(40);
      const fetchTool = tools.find((tool) => tool.name === "fetch");
      expect(Object.keys(fetchTool?.inputSchema.properties ?? {}).sort()).toEqual(
        ["body", "deposit_calls", "headers", "max_cost", "method", "url"].sort(),
      );

      const before = await bobPaymentHashes();
      const first = await host.call("fetch", { url: `${gateway.url}/v1/echo`, method: "POST", body: "hello" });
      expect(first.error).toBe(false);
      expect(first.data).toMatchObject({ status: 200, payment: { amount_sats: LLM_PRICE_SATS, service: "llm" } });
      expect(JSON.parse(String(first.data.body))).toMatchObject({ body: "hello" });
      const second = await host.call("fetch", { url: `${gateway.url}/v1/echo` });
      expect(second.data).toMatchObject({ status: 200, payment: null });
      const paid = added(before, await bobPaymentHashes());
      expect(paid).toHaveLength(1);

      const receipts = await host.call("receipts", { status: "succeeded" });
      expect(receipts.data.receipts).toEqual([
        expect.objectContaining({ payment_hash: paid[0], amount_sats: LLM_PRICE_SATS, status: "succeeded" }),
      ]);
      const balance = await host.call("balance", { origin: gateway.url });
      expect(balance.data.balances).toEqual([expect.objectContaining({ service: "llm", metered: false, error: null })]);
      const budget = await host.call("budget");
      expect(budget.data).toMatchObject({ max_cost_per_payment_sats: 1000, spent: { totalSats: expect.any(Number) } });
      const quote = await host.call("quote", { url: `${gateway.url}/weather/paris` });
      expect(quote.data).toMatchObject({ kind: "fixed", invoice_sats: WEATHER_PRICE_SATS, refused: null });
    } finally {
      await host.close();
    }
  });

  it("binds the model to the server's caps and budgets: refused over budget, max_cost only lowers the cap", async () => {
    const storePath = tempStorePath();
    await new FileStore(storePath).update((state) => {
      state.budgetLimits = { totalSats: LLM_PRICE_SATS - 1 };
    });
    const host = await startHost(storePath, ["--max-cost", "30"]);
    try {
      const before = await bobPaymentHashes();
      const overBudget = await host.call("fetch", { url: `${gateway.url}/v1/echo`, max_cost: 1_000_000 });
      expect(overBudget).toMatchObject({ error: true, data: { code: "over_cap" } });
      const underCap = await host.call("fetch", { url: `${gateway.url}/weather/paris`, max_cost: 12 });
      expect(underCap).toMatchObject({ error: true, data: { code: "over_cap" } });
      expect(String(underCap.data.message)).toContain("cap of 12 sats");
      const budget = await host.call("budget");
      expect(budget.data).toMatchObject({ max_cost_per_payment_sats: 30, limits: { totalSats: LLM_PRICE_SATS - 1 } });
      expect(added(before, await bobPaymentHashes())).toEqual([]);
    } finally {
      await host.close();
    }
    // Within the cap, the saved total budget still refuses.
    const wide = await startHost(storePath);
    try {
      const refused = await wide.call("fetch", { url: `${gateway.url}/v1/echo` });
      expect(refused).toMatchObject({ error: true, data: { code: "budget_exceeded" } });
    } finally {
      await wide.close();
    }
  });

  it("asks the user through MCP elicitation above the threshold: accepted pays, declined or unsupported does not", async () => {
    const before = await bobPaymentHashes();
    const declined = await startHost(tempStorePath(), ["--confirm-above", "10"], "decline");
    try {
      const result = await declined.call("fetch", { url: `${gateway.url}/weather/paris` });
      expect(result).toMatchObject({ error: true, data: { code: "payment_declined" } });
    } finally {
      await declined.close();
    }
    const unsupported = await startHost(tempStorePath(), ["--confirm-above", "10"]);
    try {
      const result = await unsupported.call("fetch", { url: `${gateway.url}/weather/paris` });
      expect(result).toMatchObject({ error: true, data: { code: "payment_declined" } });
      expect(String(result.data.message)).toContain("cannot ask");
    } finally {
      await unsupported.close();
    }
    expect(added(before, await bobPaymentHashes())).toEqual([]);

    const accepted = await startHost(tempStorePath(), ["--confirm-above", "10"], "accept");
    try {
      const result = await accepted.call("fetch", { url: `${gateway.url}/weather/paris` });
      expect(result).toMatchObject({
        error: false,
        data: { status: 200, payment: { amount_sats: WEATHER_PRICE_SATS } },
      });
    } finally {
      await accepted.close();
    }
    expect(added(before, await bobPaymentHashes())).toHaveLength(1);
  });

  it("keeps the books: LND's settlements and the gateway's tokens agree", async () => {
    await expectBooksToBalance(gatewayStore);
  });
});

describe("l402 mcp close: prepaid balances come back to the user's wallet", () => {
  const PER_CALL_MSAT = 2_000;
  const DEPOSIT_MSAT = 5 * PER_CALL_MSAT;
  let upstream: TestUpstream;
  let gateway: RunningGateway;
  const gatewayStore = join(mkdtempSync(join(tmpdir(), "l402-mcp-close-")), "gateway.sqlite");

  beforeAll(async () => {
    await ensureOperatorCanPay(aliceLnd, bobLnd, 1_000);
    upstream = await startUpstream();
    gateway = await startTestGateway(upstream.url, {
      lnd: { ...gatewayLndConfig(network.nodes.alice), refundMacaroon: network.nodes.alice.adminMacaroon },
      store: { path: gatewayStore },
      services: [
        {
          name: "echo",
          match: { pathPrefix: "/v1/echo" },
          upstream: upstream.url,
          pricing: { rules: [{ perCallMsat: PER_CALL_MSAT }] },
        },
      ],
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("closes the origin's prepaid token: the unspent balance arrives, and the next call pays again", async () => {
    const host = await startHost(tempStorePath());
    try {
      const before = await bobPaymentHashes();
      const deposit = { "x-l402-deposit-msat": String(DEPOSIT_MSAT) };
      const first = await host.call("fetch", { url: `${gateway.url}/v1/echo`, method: "POST", headers: deposit });
      expect(first.data).toMatchObject({ status: 200 });
      const closed = await host.call("close", { origin: `${gateway.url}/v1/anything` });
      expect(closed.error).toBe(false);
      const refunded = (DEPOSIT_MSAT - PER_CALL_MSAT) / 1000;
      expect(closed.data).toEqual({
        origin: gateway.url,
        sessions: [],
        tokens: [
          expect.objectContaining({
            service: "echo",
            refund: { announced_sats: refunded, received_sats: refunded, status: "succeeded" },
          }),
        ],
      });
      const again = await host.call("fetch", { url: `${gateway.url}/v1/echo`, method: "POST", headers: deposit });
      expect(again.data).toMatchObject({ status: 200, payment: expect.objectContaining({ service: "echo" }) });
      expect(added(before, await bobPaymentHashes())).toHaveLength(2);
    } finally {
      await host.close();
    }
    const served = upstream.seen.filter((seen) => seen.url.startsWith("/v1/echo")).length;
    const verdict = await checkAccounting({
      storePath: gatewayStore,
      lnd: aliceLnd,
      upstreamServed: served,
      quiescent: true,
    });
    expect(verdict.violations).toEqual([]);
  });
});

describe("l402 mcp against a server that is slow after payment or echoes the credential", () => {
  let slow: HostileServer;
  const held: (() => void)[] = [];

  beforeAll(async () => {
    slow = await HostileServer.start();
  });

  afterAll(async () => {
    for (const release of held) release();
    await slow?.close();
  });

  /** Holds the paid requests numbered in `hold` (0 is the first) until the test ends; the others echo the credential. */
  function holding(hold: (paidRequest: number) => boolean): void {
    let paidRequests = 0;
    slow.behaviour = async (request, res, server) => {
      if (!server.paidService(request)) return server.challenge(res, { service: "slow", sats: 2 });
      if (hold(paidRequests++)) return new Promise<void>((release) => held.push(release));
      res
        .writeHead(200, { "content-type": "application/json", location: `/seen?auth=${request.authorization}` })
        .end(JSON.stringify({ you_sent: request.authorization, served: true }));
    };
  }

  it("finishes the paid call after a lost answer, and never shows the model the credential it echoes", async () => {
    holding((paidRequest) => paidRequest === 0);
    const host = await startHost(tempStorePath(), ["--headers-timeout", "5"]);
    try {
      const before = await bobPaymentHashes();
      const result = await host.call("fetch", { url: `${slow.url}/answer` });
      expect(result.error).toBe(false);
      expect(result.data).toMatchObject({ status: 200, payment: { amount_sats: 2, service: "slow" } });
      const authorization = slow.seen.at(-1)?.authorization ?? "";
      expect(authorization).toMatch(/^L402 /);
      const shown = JSON.stringify(result.data);
      for (const secret of [authorization, authorization.slice(5), ...authorization.slice(5).split(":")]) {
        expect(shown).not.toContain(secret);
      }
      expect(JSON.parse(String(result.data.body))).toEqual({ you_sent: "[redacted]", served: true });
      expect(added(before, await bobPaymentHashes())).toHaveLength(1);
    } finally {
      await host.close();
    }
  });

  it("a paid request never answered: the tool says what was paid and how to resume, and resuming pays nothing", async () => {
    holding(() => true);
    const storePath = tempStorePath();
    const before = await bobPaymentHashes();
    const host = await startHost(storePath, ["--headers-timeout", "5"]);
    try {
      const lost = await host.call("fetch", { url: `${slow.url}/answer` });
      expect(lost).toMatchObject({
        error: true,
        data: { code: "paid_not_served", paid: { amount_sats: 2, scheme: "l402", origin: slow.url } },
      });
      expect(String(lost.data.message)).toMatch(/token is kept: calling again .* reuses it without paying/);
      const [paid] = added(before, await bobPaymentHashes());
      expect(lost.data.paid).toMatchObject({ payment_hash: paid });
      // The server answers again: the same tool call is served with the kept token.
      holding(() => false);
      const resumed = await host.call("fetch", { url: `${slow.url}/answer` });
      expect(resumed).toMatchObject({ error: false, data: { status: 200, payment: null } });
      expect(added(before, await bobPaymentHashes())).toHaveLength(1);
    } finally {
      await host.close();
    }
  });
});
