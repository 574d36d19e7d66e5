import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningGateway, startGateway } from "../../gateway/src/server.js";
import { offlineGatewayConfig } from "../../gateway/src/test-support/offline-config.js";
import { buyMeteredToken, KnownPreimageInvoices } from "../support/known-preimage-invoices.js";
import { fakeChatTokens, type LiberalUpstream, startLiberalUpstream } from "../support/liberal-llm-upstream.js";

const RATES = { promptMsatPerToken: 3, completionMsatPerToken: 7 };
const FEE_MSAT = 11;
const PER_CALL_MSAT = 2_500;
const messages = [{ role: "user", content: "How much does this cost?" }];
const chat = (extra: Record<string, unknown> = {}) => JSON.stringify({ model: "m", messages, ...extra });
const JSON_TYPE = { "content-type": "application/json" };

interface QuoteAnswer {
  service: string | null;
  kind: string;
  reserve_msat: number;
  invoice_sats: number;
  price_sats?: number;
  quote: { prompt_tokens: number; max_tokens: number; worst_case_msat: number };
}

describe("price discovery: the manifest and the quote endpoint", () => {
  let upstream: LiberalUpstream;
  let gateway: RunningGateway;
  const invoices = new KnownPreimageInvoices();

  beforeAll(async () => {
    upstream = await startLiberalUpstream();
    const config = offlineGatewayConfig({
      // Quotes are limited like challenges, each with its own bucket of this size.
      limits: { challengeBurst: 12, challengesPerMinute: 0.001 },
      services: [
        {
          name: "secret-lab",
          match: { pathPrefix: "/lab/" },
          upstream: upstream.url,
          price: { sats: 99 },
          private: true,
        },
        {
          name: "weather",
          match: { pathPrefix: "/weather/" },
          upstream: upstream.url,
          price: { sats: 5 },
          freePaths: ["/weather/health"],
        },
        {
          name: "llm",
          match: { pathPrefix: "/v1/" },
          upstream: upstream.url,
          upstreamPool: { healthIntervalMs: 600_000 },
          capabilities: ["chat"],
          pricing: {
            rules: [
              { model: "internal-model", perCallMsat: 1, private: true },
              { model: "flat", perCallMsat: PER_CALL_MSAT },
              { tokens: RATES, feeMsat: FEE_MSAT },
            ],
            defaultMaxTokens: 16,
            deposit: { minMsat: 1_000, maxMsat: 10_000_000 },
          },
        },
      ],
    });
    gateway = await startGateway(config, { backend: invoices, log: pino({ level: "silent" }) });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  const quote = (target: string, body?: string, headers: Record<string, string> = JSON_TYPE, method = "POST") =>
    fetch(`${gateway.url}/l402/quote?method=${method}&target=${encodeURIComponent(target)}`, {
      method: "POST",
      headers,
      ...(body === undefined ? {} : { body }),
    });

  it("serves a public, cacheable manifest that names nothing marked private", async () => {
    const res = await fetch(`${gateway.url}/.well-known/l402.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=30");
    const etag = res.headers.get("etag");
    expect(etag).toMatch(/^"[\w-]+"$/);
    const text = await res.text();
    expect(text).not.toContain("secret-lab");
    expect(text).not.toContain("internal-model");
    expect(text).not.toContain(upstream.url);
    const manifest = JSON.parse(text) as {
      payment: { schemes: string[] };
      endpoints: { quote: string };
      services: { name: string; pricing: Record<string, unknown>; free_paths: string[]; capabilities: string[] }[];
    };
    expect(manifest.payment.schemes).toEqual(["L402", "LSAT"]);
    expect(manifest.endpoints.quote).toBe("/l402/quote");
    expect(manifest.services.map((s) => s.name)).toEqual(["weather", "llm"]);
    const [weather, llm] = manifest.services;
    expect(weather?.pricing).toEqual({ kind: "fixed", price_sats: 5, per: "credential" });
    expect(weather?.free_paths).toEqual(["/weather/health"]);
    expect(llm?.capabilities).toEqual(["chat"]);
    expect(llm?.pricing).toMatchObject({
      kind: "metered",
      rules_complete: false,
      surge_multiplier: 1,
      default_max_tokens: 16,
      deposit: { min_msat: 1_000, max_msat: 10_000_000 },
      rules: [
        { model: "flat", kind: "per_call", per_call_msat: PER_CALL_MSAT, fee_msat: 0 },
        { kind: "tokens", prompt_msat_per_token: 3, completion_msat_per_token: 7, fee_msat: FEE_MSAT },
      ],
    });

    const again = await fetch(`${gateway.url}/.well-known/l402.json`, { headers: { "if-none-match": etag ?? "" } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe("");
  });

  it("quotes a chat exactly what its 402 asks, creates no invoice, and the paid call is charged by the same rates", async () => {
    const body = chat({ max_tokens: 9 });
    const invoicesBefore = invoices.preimages.size;
    const res = await quote("/v1/chat/completions", body);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const answer = (await res.json()) as QuoteAnswer;
    const promptTokens = fakeChatTokens(messages);
    const worstCase = promptTokens * RATES.promptMsatPerToken + 9 * RATES.completionMsatPerToken + FEE_MSAT;
    expect(answer).toMatchObject({ service: "llm", kind: "metered", reserve_msat: worstCase });
    expect(answer.quote).toMatchObject({ prompt_tokens: promptTokens, max_tokens: 9, worst_case_msat: worstCase });
    expect(answer.invoice_sats).toBe(Math.ceil(worstCase / 1000));
    expect(invoices.preimages.size).toBe(invoicesBefore);

    const challenge = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", headers: JSON_TYPE, body });
    expect(challenge.status).toBe(402);
    const asked = (await challenge.json()) as { price_msat: number; price_sats: number };
    expect(asked.price_msat).toBe(answer.reserve_msat);
    expect(asked.price_sats).toBe(answer.invoice_sats);
  });

  it("quotes the deposit a 402 would ask for, and a per-call rule exactly as charged", async () => {
    const deposit = await quote("/v1/chat/completions", chat(), { ...JSON_TYPE, "x-l402-deposit-msat": "50000" });
    expect(((await deposit.json()) as QuoteAnswer).invoice_sats).toBe(50);

    const authorization = await buyMeteredToken(gateway.url, invoices, 100_000);
    const flat = JSON.stringify({ model: "flat", messages });
    const perCall = (await (await quote("/v1/chat/completions", flat)).json()) as QuoteAnswer;
    expect(perCall.reserve_msat).toBe(PER_CALL_MSAT);
    const paid = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...JSON_TYPE, authorization },
      body: flat,
    });
    expect(paid.status).toBe(200);
    await paid.arrayBuffer();
    expect(paid.headers.get("x-l402-cost-msat")).toBe(String(perCall.reserve_msat));
  });

  it("quotes fixed-price and free paths, and refuses what it cannot price with a JSON error", async () => {
    expect(await (await quote("/weather/paris", undefined, {}, "GET")).json()).toMatchObject({
      service: "weather",
      kind: "fixed",
      price_sats: 5,
      invoice_sats: 5,
    });
    expect(await (await quote("/weather/health", undefined, {}, "GET")).json()).toMatchObject({
      kind: "free",
      invoice_sats: 0,
    });
    // A private service is priced, but not named.
    expect(await (await quote("/lab/x", undefined, {}, "GET")).json()).toMatchObject({ service: null, price_sats: 99 });
    const unknown = await quote("/nowhere", "{}");
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: "not_found" });
    const tooLong = await quote("/v1/chat/completions", chat({ max_tokens: 100_000 }));
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toMatchObject({ code: "max_tokens_too_large" });
    const noTarget = await fetch(`${gateway.url}/l402/quote`, { method: "POST" });
    expect(noTarget.status).toBe(400);
    expect(await noTarget.json()).toMatchObject({ code: "invalid_quote_request" });
  });

  it("is rate-limited per client like challenges: 429 with Retry-After, before any token counting", async () => {
    const statuses: number[] = [];
    const countsBefore = upstream.calls.tokenCounts;
    // The bucket holds 12 and practically never refills: it runs out within 12 more quotes.
    while (statuses.at(-1) !== 429 && statuses.length <= 12) {
      const res = await quote("/v1/chat/completions", chat());
      statuses.push(res.status);
      if (res.status === 429) {
        expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
        expect(await res.json()).toMatchObject({ code: "rate_limited" });
      } else await res.arrayBuffer();
    }
    expect(statuses.at(-1)).toBe(429);
    expect(upstream.calls.tokenCounts - countsBefore).toBe(statuses.filter((status) => status === 200).length);
  });
});
