import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { KnownPreimageInvoices } from "../../../test/support/known-preimage-invoices.js";
import { parseConfig } from "../config/load.js";
import { pricingSchema } from "../config/pricing-schema.js";
import { startGateway } from "../server.js";
import { offlineGatewayConfig } from "../test-support/offline-config.js";
import { TokenCounters } from "../upstream/token-counter.js";
import { ConfiguredPricer, type Pricer } from "./pricer.js";
import { costOf, fixedQuote, msatToInvoiceSats, quoteFor } from "./quote.js";
import { matchRule } from "./rules.js";
import { curveMultiplier, SurgeMonitor } from "./surge.js";

const tokensRule = { tokens: { promptMsatPerToken: 10, completionMsatPerToken: 30 }, feeMsat: 500, minimumMsat: 1_000 };

describe("quotes", () => {
  it("prices prompt plus max_tokens at the rule's rates, plus the fee, times the surge", () => {
    const quote = quoteFor(tokensRule, { model: "m", promptTokens: 40, maxTokens: 100 }, 1_000);
    expect(quote.worstCaseMsat).toBe(40 * 10 + 100 * 30 + 500);
    const surged = quoteFor(tokensRule, { model: "m", promptTokens: 40, maxTokens: 100 }, 1_500);
    expect(surged.worstCaseMsat).toBe(Math.ceil((40 * 10 + 100 * 30 + 500) * 1.5));
  });

  it("charges actual usage at the quoted rates, at least the minimum, never above the worst case", () => {
    const quote = quoteFor(tokensRule, { model: "m", promptTokens: 40, maxTokens: 100 }, 1_000);
    expect(costOf(quote, { promptTokens: 40, completionTokens: 7 })).toBe(40 * 10 + 7 * 30 + 500);
    expect(costOf(quote, { promptTokens: 0, completionTokens: 0 })).toBe(1_000);
    expect(costOf(quote, { promptTokens: 40, completionTokens: 5_000 })).toBe(quote.worstCaseMsat);
  });

  it("adds fee and minimum to a per-call price", () => {
    expect(
      quoteFor({ perCallMsat: 2_000, feeMsat: 100 }, { model: undefined, promptTokens: 0, maxTokens: 0 }, 1_000)
        .worstCaseMsat,
    ).toBe(2_100);
    expect(
      quoteFor({ perCallMsat: 2_000, minimumMsat: 5_000 }, { model: undefined, promptTokens: 0, maxTokens: 0 }, 1_000)
        .worstCaseMsat,
    ).toBe(5_000);
  });

  it("rounds invoices up to whole sats", () => {
    expect(msatToInvoiceSats(1)).toBe(1);
    expect(msatToInvoiceSats(1_000)).toBe(1);
    expect(msatToInvoiceSats(1_001)).toBe(2);
  });

  it("picks the first rule that fits path and model", () => {
    const pricing = pricingSchema.parse({
      rules: [
        { pathPrefix: "/v1/chat/", model: "big", tokens: { promptMsatPerToken: 100, completionMsatPerToken: 300 } },
        { pathPrefix: "/v1/chat/", tokens: { promptMsatPerToken: 10, completionMsatPerToken: 30 } },
        { perCallMsat: 1_000 },
      ],
    });
    expect(matchRule(pricing, "/v1/chat/completions", "big")?.tokens?.promptMsatPerToken).toBe(100);
    expect(matchRule(pricing, "/v1/chat/completions", "small")?.tokens?.promptMsatPerToken).toBe(10);
    expect(matchRule(pricing, "/v1/embeddings", "big")?.perCallMsat).toBe(1_000);
  });
});

describe("pricing config", () => {
  const service = { name: "llm", match: { pathPrefix: "/v1/" }, upstream: "http://127.0.0.1:1" };
  const config = (pricing: unknown) =>
    parseConfig({
      lnd: { socket: "h:1", cert: "c", macaroon: "m" },
      store: { path: ":memory:" },
      services: [{ ...service, pricing }],
    });

  it.each([
    ["a negative rate", { rules: [{ tokens: { promptMsatPerToken: -1, completionMsatPerToken: 1 } }] }],
    ["a zero per-call price", { rules: [{ perCallMsat: 0 }] }],
    ["a rule that could charge 0", { rules: [{ tokens: { promptMsatPerToken: 0, completionMsatPerToken: 5 } }] }],
    ["a non-finite price", { rules: [{ perCallMsat: Number.POSITIVE_INFINITY }] }],
    ["a fractional msat", { rules: [{ perCallMsat: 1.5 }] }],
    [
      "both kinds in one rule",
      { rules: [{ perCallMsat: 1, tokens: { promptMsatPerToken: 1, completionMsatPerToken: 1 } }] },
    ],
    ["a surge ceiling above 10", { rules: [{ perCallMsat: 1 }], surge: { ceiling: 50 } }],
  ])("rejects %s when the config loads", (_name, pricing) => {
    expect(() => config(pricing)).toThrow(/Invalid config/);
  });

  it("refuses a service with both price and pricing", () => {
    expect(() =>
      parseConfig({
        lnd: { socket: "h:1", cert: "c", macaroon: "m" },
        store: { path: ":memory:" },
        services: [{ ...service, price: { sats: 1 }, pricing: { rules: [{ perCallMsat: 1 }] } }],
      }),
    ).toThrow(/exactly one of price and pricing/);
  });
});

describe("surge multiplier", () => {
  const curve = [
    { load: 1, multiplier: 1 },
    { load: 3, multiplier: 2 },
  ];

  it("follows a piecewise-linear curve with a floor of 1", () => {
    expect(curveMultiplier(curve, 0)).toBe(1);
    expect(curveMultiplier(curve, 2)).toBe(1.5);
    expect(curveMultiplier(curve, 10)).toBe(2);
  });

  it("smooths toward the target, stays under the ceiling, and returns to exactly 1×", () => {
    const changes: number[] = [];
    const monitor = new SurgeMonitor(
      "http://127.0.0.1:1",
      { healthPath: "/health", pollIntervalMs: 1_000, curve, ceiling: 1.8, smoothing: 0.5 },
      pino({ level: "silent" }),
      (m) => changes.push(m),
    );
    monitor.observe(10);
    expect(monitor.multiplierMilli).toBe(1_400);
    for (let i = 0; i < 20; i++) monitor.observe(10);
    expect(monitor.multiplierMilli).toBe(1_800);
    for (let i = 0; i < 20; i++) monitor.observe(0);
    expect(monitor.multiplierMilli).toBe(1_000);
    expect(changes.length).toBeGreaterThan(2);
  });
});

describe("one pricer for every service", () => {
  const config = offlineGatewayConfig({
    services: [
      { name: "fixed", match: { pathPrefix: "/fixed/" }, upstream: "http://127.0.0.1:1", price: { sats: 21 } },
      {
        name: "metered",
        match: { pathPrefix: "/metered/" },
        upstream: "http://127.0.0.1:1",
        pricing: { rules: [{ perCallMsat: 2_500, feeMsat: 100 }] },
      },
    ],
  });
  const [fixed, metered] = config.services;
  if (!fixed || !metered) throw new Error("two services");
  const book = { pricing: () => metered.pricing, multiplierMilli: () => 1_000 };
  const pricer = new ConfiguredPricer(
    book,
    new TokenCounters(
      () => "http://127.0.0.1:1",
      () => metered.pricing?.tokenCounting,
    ),
  );

  it("quotes a fixed price as a per-call quote of that price: reserved and charged in full", async () => {
    const quote = await pricer.quote(fixed, { method: "GET", path: "/fixed/x" });
    expect(quote).toEqual(fixedQuote(21));
    expect(quote).toMatchObject({ kind: "per_call", source: "fixed", worstCaseMsat: 21_000, perCallMsat: 21_000 });
    expect(costOf(quote, { promptTokens: 0, completionTokens: 0 })).toBe(21_000);
    expect(msatToInvoiceSats(quote.worstCaseMsat)).toBe(21);
  });

  it("quotes a metered service by its rules, through the same interface", async () => {
    const quote = await pricer.quote(metered, { method: "GET", path: "/metered/x" });
    expect(quote).toMatchObject({ kind: "per_call", source: "rule", worstCaseMsat: 2_600 });
  });

  it("asks the owner's external pricer first, and falls back to the rule with its surge when it does not answer", async () => {
    const answers: unknown[] = [];
    const summaries: unknown[] = [];
    const external = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on("end", () => {
        summaries.push(JSON.parse(body));
        const answer = answers.shift();
        res.writeHead(answer === undefined ? 500 : 200, { "content-type": "application/json" });
        res.end(JSON.stringify(answer ?? {}));
      });
    });
    await new Promise<void>((done) => external.listen(0, "127.0.0.1", done));
    try {
      const url = `http://127.0.0.1:${(external.address() as AddressInfo).port}/price`;
      const pricing = pricingSchema.parse({ rules: [{ perCallMsat: 2_000 }], external: { url, timeoutMs: 2_000 } });
      const surged = new ConfiguredPricer(
        { pricing: () => pricing, multiplierMilli: () => 1_500 },
        new TokenCounters(
          () => "http://127.0.0.1:1",
          () => pricing.tokenCounting,
        ),
      );
      answers.push({ price_msat: 777 });
      const asked = await surged.quote(metered, { method: "GET", path: "/metered/x" });
      expect(asked).toMatchObject({ source: "external", kind: "per_call", worstCaseMsat: 777, multiplierMilli: 1_000 });
      expect(summaries[0]).toMatchObject({ service: "metered", method: "GET", path: "/metered/x", model: null });
      const fallback = await surged.quote(metered, { method: "GET", path: "/metered/x" });
      expect(fallback).toMatchObject({ source: "rule", worstCaseMsat: 3_000, multiplierMilli: 1_500 });
    } finally {
      await new Promise((done) => external.close(done));
    }
  });

  /** An embedder's pricer: 5 sats for the fixed-price service, the configured prices for the rest. */
  const custom = (configured: Pricer): Pricer => ({
    quote: (service, line, llm) =>
      service.name === "fixed" ? Promise.resolve(fixedQuote(5)) : configured.quote(service, line, llm),
  });

  it.each([
    ["a Pricer for every service", custom(pricer)],
    ["a function of the configured pricer", custom],
  ])("lets an embedder price challenges, quotes and metrics with %s", async (_name, override) => {
    const gateway = await startGateway(config, {
      backend: new KnownPreimageInvoices(),
      log: pino({ level: "silent" }),
      pricer: override,
    });
    try {
      const challenge = await fetch(`${gateway.url}/fixed/x`);
      expect(challenge.status).toBe(402);
      expect(((await challenge.json()) as { price_sats: number }).price_sats).toBe(5);
      const quoted = await fetch(`${gateway.url}/l402/quote?method=GET&target=/fixed/x`, { method: "POST" });
      expect(await quoted.json()).toMatchObject({ kind: "fixed", price_sats: 5, invoice_sats: 5 });
      const meteredQuote = await fetch(`${gateway.url}/l402/quote?method=GET&target=/metered/x`, { method: "POST" });
      expect(await meteredQuote.json()).toMatchObject({ kind: "metered", reserve_msat: 2_600 });
      const metrics = await (await fetch(`${gateway.operatorUrl}/metrics`)).text();
      expect(metrics).toMatch(/^l402_price_sats\{service="fixed"\} 5$/m);
      expect(metrics).not.toMatch(/^l402_price_sats\{service="metered"\}/m);
    } finally {
      await gateway.close();
    }
  });
});
