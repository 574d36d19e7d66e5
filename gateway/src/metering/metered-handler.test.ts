import type { IncomingMessage } from "node:http";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { canonicalTarget } from "../http/canonical-target.js";
import { GatewayMetrics } from "../metrics/metrics.js";
import { PriceBook } from "../pricing/price-book.js";
import type { Pricer } from "../pricing/pricer.js";
import { fixedQuote } from "../pricing/quote.js";
import { SqliteTokenStore } from "../store/sqlite.js";
import { newToken } from "../store/token-store.suite.js";
import { offlineGatewayConfig } from "../test-support/offline-config.js";
import type { AuthResult } from "../tokens/authenticator.js";
import { COST_HEADER, MeteredHandler } from "./metered-handler.js";
import { newTokenDepositMsat, priceMeteredRequest } from "./metered-price.js";

const PRICE_SATS = 3;
const config = offlineGatewayConfig({
  services: [
    {
      name: "llm",
      match: { pathPrefix: "/" },
      upstream: "http://127.0.0.1:1",
      pricing: { rules: [{ perCallMsat: PRICE_SATS * 1000 }], deposit: { minMsat: 1_000, maxMsat: 10_000_000 } },
    },
  ],
});
const service = config.services[0] ?? (undefined as never);
const target = canonicalTarget("/meter");

/** The metered stages over a real in-memory store, a counting pricer and a rate limit the test sets. */
function setup() {
  const store = new SqliteTokenStore(":memory:");
  const log = pino({ level: "silent" });
  const metrics = new GatewayMetrics(["llm"]);
  const asked: string[] = [];
  const pricer: Pricer = {
    quote: async (_service, line) => {
      asked.push(line.path);
      return fixedQuote(PRICE_SATS);
    },
  };
  const limit = { wait: 0, waitFor: () => limit.wait };
  const handler = new MeteredHandler({
    store,
    book: new PriceBook(config.services, log, metrics),
    pricer,
    counters: { of: () => ({ textTokens: async () => 0 }) } as never,
    metrics,
    log,
    maxBodyBytes: 1_000_000,
    limit,
  });
  const request = { method: "GET", headers: {} } as IncomingMessage;
  const account = async (sats: number): Promise<AuthResult> => {
    const token = newToken({ priceSats: sats, metered: true });
    await store.insertToken(token);
    const paid = await store.markPaid(token.paymentHash, new Date());
    if (!paid) throw new Error("not paid");
    return { ok: true, token: paid.token, caveats: [] };
  };
  return { store, handler, asked, limit, request, account };
}

describe("the metered admit stage", () => {
  it("rate limits an unpaid request before it is priced, then answers a challenge for the quote", async () => {
    const { handler, asked, limit, request } = setup();
    const missing: AuthResult = { ok: false, code: "missing", message: "no credential" };
    limit.wait = 9;
    expect(await handler.admit(request, service, target, missing)).toEqual({ kind: "rateLimited", waitSeconds: 9 });
    expect(asked).toEqual([]);
    limit.wait = 0;
    expect(await handler.admit(request, service, target, missing)).toMatchObject({
      kind: "challenge",
      amountMsat: PRICE_SATS * 1000,
      reason: { code: "missing" },
    });
    expect(asked).toEqual(["/meter"]);
  });

  it("asks a new token for what the quote endpoint's pricing steps say, a larger deposit included", async () => {
    const { handler, request } = setup();
    const withDeposit = { ...request, headers: { "x-l402-deposit-msat": "5000" } } as unknown as IncomingMessage;
    const missing: AuthResult = { ok: false, code: "missing", message: "no credential" };
    const admitted = await handler.admit(withDeposit, service, target, missing);
    const pricer: Pricer = { quote: async () => fixedQuote(PRICE_SATS) };
    const pricing = service.pricing ?? (undefined as never);
    const line = { method: "GET", path: target.key };
    const priced = await priceMeteredRequest(pricer, service, pricing, line, withDeposit.headers, async () =>
      Buffer.alloc(0),
    );
    expect(admitted).toMatchObject({ kind: "challenge", amountMsat: 5_000 });
    expect(newTokenDepositMsat(priced.quote, priced.depositMsat)).toBe(5_000);
  });

  it("asks a token whose balance cannot cover the quote for a top-up, rate limited like a challenge", async () => {
    const { handler, limit, request, account } = setup();
    const auth = await account(2);
    expect(await handler.admit(request, service, target, auth)).toMatchObject({
      kind: "topUp",
      amountMsat: 1_000,
      balanceMsat: 2_000,
    });
    limit.wait = 4;
    expect(await handler.admit(request, service, target, auth)).toEqual({ kind: "rateLimited", waitSeconds: 4 });
  });

  it("reserves the worst case from a paid metered token", async () => {
    const { store, handler, request, account } = setup();
    const auth = await account(10);
    const admitted = await handler.admit(request, service, target, auth);
    expect(admitted).toMatchObject({ kind: "reserved", reservation: { balanceAfterReserve: 7_000 } });
    const token = auth.ok ? auth.token : (undefined as never);
    expect((await store.getToken(token.tokenId))?.account).toMatchObject({ balanceMsat: 7_000, reservedMsat: 3_000 });
  });
});

describe("the metered account stage", () => {
  async function reserved() {
    const parts = setup();
    const auth = await parts.account(10);
    const admitted = await parts.handler.admit(parts.request, service, target, auth);
    if (admitted.kind !== "reserved") throw new Error(`not reserved: ${admitted.kind}`);
    const tokenId = admitted.reservation.token.tokenId;
    const accountOf = async () => (await parts.store.getToken(tokenId))?.account;
    return { ...parts, account: parts.handler.account(admitted.reservation), accountOf };
  }

  it("charges an answered request once, from its plan, and finishing changes nothing more", async () => {
    const { handler, account, accountOf } = await reserved();
    const plan = await account.options.plan?.(200, { "content-type": "text/plain" });
    expect(plan?.headers?.[COST_HEADER]).toBe("3000");
    await handler.finish(account);
    expect(await accountOf()).toMatchObject({ balanceMsat: 7_000, reservedMsat: 0, chargedMsat: 3_000 });
  });

  it("charges nothing for an upstream error, and returns the reservation of a request never answered", async () => {
    const failed = await reserved();
    const plan = await failed.account.options.plan?.(502, {});
    expect(plan?.headers?.[COST_HEADER]).toBe("0");
    await failed.handler.finish(failed.account);
    expect(await failed.accountOf()).toMatchObject({ balanceMsat: 10_000, reservedMsat: 0, chargedMsat: 0 });

    const unanswered = await reserved();
    await unanswered.handler.finish(unanswered.account);
    expect(await unanswered.accountOf()).toMatchObject({ balanceMsat: 10_000, reservedMsat: 0, chargedMsat: 0 });
  });
});
