import pino from "pino";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/load.js";
import { pricingSchema } from "../config/pricing-schema.js";
import { costOf, msatToInvoiceSats, quoteFor } from "./quote.js";
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
