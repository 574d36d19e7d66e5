import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { pricingSchema } from "../../gateway/src/config/pricing-schema.js";
import { ConfiguredPricer, type Pricer } from "../../gateway/src/pricing/pricer.js";
import { costOf, fixedQuote, msatToInvoiceSats } from "../../gateway/src/pricing/quote.js";
import { startGateway } from "../../gateway/src/server.js";
import { offlineGatewayConfig } from "../../gateway/src/test-support/offline-config.js";
import { TokenCounters } from "../../gateway/src/upstream/token-counter.js";
import { KnownPreimageInvoices } from "../support/known-preimage-invoices.js";

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
