import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type GatewayConfig,
  loadConfigFile,
  parseConfig,
  type RunningGateway,
  startGateway,
} from "@l402-gateway/gateway";
import { formatAuthorization, parseChallenge } from "@l402-gateway/l402";
import { DEFAULT_MODEL, type RunningServer, startServer } from "@l402-gateway/llm-backend";
import { decodePaymentRequest, pay } from "lightning";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { testNetwork } from "./regtest/context.js";
import { gatewayLndConfig, lndClient } from "./regtest/network-file.js";
import { startUpstream, type TestUpstream } from "./support/upstream.js";

const network = testNetwork();
const bob = lndClient(network.nodes.bob);
const ADMIN_SECRET = randomBytes(32).toString("base64url");
const RATES = { promptMsatPerToken: 20, completionMsatPerToken: 50 };
const FEE_MSAT = 300;
const ECHO_MSAT = 2_000;

interface Credential {
  readonly macaroon: string;
  readonly preimage: string;
}

interface ChallengeBody {
  code: string;
  macaroon: string;
  invoice: string;
  price_sats: number;
  price_msat: number;
  deposit_msat: number;
  token_id: string;
  balance_msat?: number;
  quote: { prompt_tokens: number; max_tokens: number; worst_case_msat: number; surge_multiplier: number };
}

interface Balance {
  token_id: string;
  balance_msat: number;
  reserved_msat: number;
  credited_msat: number;
  charged_msat: number;
  requests: number;
}

const authorization = (c: Credential) => ({
  authorization: formatAuthorization({ macaroons: [c.macaroon], preimage: Buffer.from(c.preimage, "hex") }),
});

const MODEL = DEFAULT_MODEL.fileName.replace(/\.gguf$/, "");
const chatBody = (content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: MODEL, messages: [{ role: "user", content }], temperature: 0, ...extra });

describe("usage-based pricing and prepaid metering (regtest, real model)", () => {
  let backend: RunningServer;
  let upstream: TestUpstream;
  let gateway: RunningGateway;
  let config: GatewayConfig;
  const storePath = join(mkdtempSync(join(tmpdir(), "gw-metering-")), "gateway.sqlite");

  function rawConfig(llmRates = RATES): Record<string, unknown> {
    return {
      listen: { port: 0 },
      operator: { port: 0 },
      admin: { port: 0, secret: ADMIN_SECRET },
      lnd: gatewayLndConfig(network.nodes.alice),
      store: { path: storePath },
      log: { level: "silent" },
      limits: { challengeBurst: 1_000, challengesPerMinute: 1_000 },
      services: [
        {
          name: "echo",
          match: { pathPrefix: "/v1/echo" },
          upstream: upstream.url,
          pricing: { rules: [{ perCallMsat: ECHO_MSAT }] },
        },
        {
          name: "failing",
          match: { pathPrefix: "/v1/fail" },
          upstream: upstream.url,
          pricing: { rules: [{ perCallMsat: ECHO_MSAT }] },
        },
        {
          name: "nousage",
          match: { pathPrefix: "/v1/no-usage" },
          upstream: upstream.url,
          // An LLM endpoint whose upstream (the echo server) reports no usage; no per-token rate, so nothing to count.
          pricing: { rules: [{ tokens: { promptMsatPerToken: 0, completionMsatPerToken: 0 }, feeMsat: 1_500 }] },
        },
        {
          name: "llm",
          match: { pathPrefix: "/v1/" },
          upstream: backend.url,
          freePaths: ["/v1/models"],
          pricing: {
            rules: [{ pathPrefix: "/v1/", tokens: llmRates, feeMsat: FEE_MSAT }],
            defaultMaxTokens: 32,
            maxTokensCap: 256,
            deposit: { minMsat: 1_000, maxMsat: 1_000_000 },
            surge: {
              pollIntervalMs: 100,
              curve: [
                { load: 1, multiplier: 1 },
                { load: 3, multiplier: 2 },
              ],
              ceiling: 2,
              smoothing: 1,
            },
          },
        },
      ],
    };
  }

  beforeAll(async () => {
    // One sequence: three requests at once make a queue, which the surge test needs.
    backend = await startServer(
      { gpu: "false", port: 0, host: "127.0.0.1", parallel: 1, contextSize: 1024, logLevel: "warn" },
      { waitUntilReady: true },
    );
    upstream = await startUpstream();
    config = parseConfig(rawConfig());
    gateway = await startGateway(config, { log: pino({ level: "silent" }) });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    await backend?.close();
  });

  async function challenge(path: string, init: RequestInit = {}): Promise<ChallengeBody> {
    const res = await fetch(`${gateway.url}${path}`, { method: "POST", ...init });
    expect(res.status).toBe(402);
    const body = (await res.json()) as ChallengeBody;
    const header = parseChallenge(res.headers.get("www-authenticate") ?? "");
    expect(header.macaroon).toBe(body.macaroon);
    return body;
  }

  async function payChallenge(body: ChallengeBody): Promise<Credential & { paidSats: number }> {
    const payment = await pay({ lnd: bob, request: body.invoice });
    return { macaroon: body.macaroon, preimage: payment.secret, paidSats: payment.tokens };
  }

  async function balance(credential: Credential): Promise<Balance> {
    const res = await fetch(`${gateway.url}/l402/balance`, { headers: authorization(credential) });
    expect(res.status).toBe(200);
    return (await res.json()) as Balance;
  }

  async function settled(credential: Credential): Promise<Balance> {
    await expect.poll(async () => (await balance(credential)).reserved_msat, { timeout: 10_000 }).toBe(0);
    return balance(credential);
  }

  async function countChatTokens(content: string): Promise<number> {
    const res = await fetch(`${backend.url}/v1/chat/completions/input_tokens`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chatBody(content),
    });
    return ((await res.json()) as { input_tokens: number }).input_tokens;
  }

  const llmCharge = (prompt: number, completion: number) =>
    prompt * RATES.promptMsatPerToken + completion * RATES.completionMsatPerToken + FEE_MSAT;

  let llmToken: Credential & { paidSats: number };

  it("quotes exact prompt tokens plus max_tokens at the configured rates, and invoices it in whole sats", async () => {
    const question = "What is the Lightning Network?";
    const body = await challenge("/v1/chat/completions", {
      headers: { "content-type": "application/json" },
      body: chatBody(question, { max_tokens: 16 }),
    });
    const promptTokens = await countChatTokens(question);
    expect(body.quote.prompt_tokens).toBe(promptTokens);
    expect(body.quote.max_tokens).toBe(16);
    expect(body.quote.worst_case_msat).toBe(llmCharge(promptTokens, 16));
    expect(body.price_msat).toBe(llmCharge(promptTokens, 16));
    expect(body.price_sats).toBe(Math.ceil(llmCharge(promptTokens, 16) / 1000));
    const invoice = await decodePaymentRequest({ lnd: bob, request: body.invoice });
    expect(invoice.tokens).toBe(body.price_sats);
  });

  it("refuses a deposit outside the owner's bounds and a body it cannot price, creating no invoice", async () => {
    const tooBig = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-l402-deposit-msat": "999999999" },
      body: chatBody("hi"),
    });
    expect(tooBig.status).toBe(400);
    expect(((await tooBig.json()) as { code: string }).code).toBe("invalid_deposit");
    const broken = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: "{not json" });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { code: string }).code).toBe("invalid_json");
  });

  it("charges a streamed completion exactly its usage; charges plus balance equal the amount paid", async () => {
    const body = await challenge("/v1/chat/completions", {
      headers: { "content-type": "application/json", "x-l402-deposit-msat": "200000" },
      body: chatBody("Say hello."),
    });
    expect(body.price_sats).toBe(200);
    llmToken = await payChallenge(body);
    expect(llmToken.paidSats).toBe(200);

    const question = "Name three colours.";
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...authorization(llmToken) },
      body: chatBody(question, { max_tokens: 24, stream: true, stream_options: { include_usage: true } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const text = await res.text();
    const usageEvent = text
      .split("\n\n")
      .filter((e) => e.startsWith("data: {"))
      .map((e) => JSON.parse(e.slice(6)) as { usage?: { prompt_tokens: number; completion_tokens: number } | null })
      .find((e) => e.usage);
    expect(usageEvent?.usage?.prompt_tokens).toBe(await countChatTokens(question));
    const cost = /: l402 cost_msat=(\d+) balance_msat=(\d+)/.exec(text);
    expect(cost).not.toBeNull();
    const usage = usageEvent?.usage ?? { prompt_tokens: 0, completion_tokens: 0 };
    expect(Number(cost?.[1])).toBe(llmCharge(usage.prompt_tokens, usage.completion_tokens));
    expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);

    const account = await settled(llmToken);
    expect(account.charged_msat).toBe(Number(cost?.[1]));
    expect(account.balance_msat).toBe(Number(cost?.[2]));
    expect(account.charged_msat + account.balance_msat).toBe(llmToken.paidSats * 1000);
    expect(account.credited_msat).toBe(200_000);
  });

  it("removes the usage chunk it asked for when the client did not, and reports the cost in headers when not streaming", async () => {
    const streamed = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...authorization(llmToken) },
      body: chatBody("Count to three.", { max_tokens: 12, stream: true }),
    });
    const text = await streamed.text();
    expect(text).not.toMatch(/"usage":\{/);
    expect(text).toMatch(/: l402 cost_msat=\d+/);

    const before = await settled(llmToken);
    const plain = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...authorization(llmToken) },
      body: chatBody("Say yes.", { max_tokens: 8 }),
    });
    expect(plain.status).toBe(200);
    const answer = (await plain.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    const cost = Number(plain.headers.get("x-l402-cost-msat"));
    expect(cost).toBe(llmCharge(answer.usage.prompt_tokens, answer.usage.completion_tokens));
    expect(Number(plain.headers.get("x-l402-balance-msat"))).toBe(before.balance_msat - cost);
  });

  it("charges only the tokens generated when the client disconnects mid-stream", async () => {
    const before = await settled(llmToken);
    const question = "Write a long story about a dragon who learns to pay with Lightning.";
    const promptTokens = await countChatTokens(question);
    const abort = new AbortController();
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...authorization(llmToken) },
      body: chatBody(question, { max_tokens: 200, stream: true }),
      signal: abort.signal,
    });
    const reader = res.body?.getReader();
    let seen = "";
    while ((seen.match(/"content":"/g) ?? []).length < 4) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      seen += Buffer.from(chunk.value).toString();
    }
    abort.abort();
    const after = await settled(llmToken);
    const charge = after.charged_msat - before.charged_msat;
    const completionTokens =
      (charge - FEE_MSAT - promptTokens * RATES.promptMsatPerToken) / RATES.completionMsatPerToken;
    expect(Number.isInteger(completionTokens)).toBe(true);
    expect(completionTokens).toBeGreaterThanOrEqual(1);
    expect(completionTokens).toBeLessThan(200);
    expect(after.balance_msat + after.charged_msat).toBe(after.credited_msat);
  });

  it("charges nothing when the upstream answers 5xx", async () => {
    const body = await challenge("/v1/fail", { headers: { "x-l402-deposit-msat": "10000" } });
    const token = await payChallenge(body);
    const res = await fetch(`${gateway.url}/v1/fail`, { method: "POST", headers: authorization(token) });
    expect(res.status).toBe(500);
    expect(res.headers.get("x-l402-cost-msat")).toBe("0");
    const account = await settled(token);
    expect(account).toMatchObject({ charged_msat: 0, balance_msat: 10_000 });
  });

  it("charges the whole reservation when a per-token answer reports no usage, and counts it", async () => {
    const path = "/v1/no-usage/chat/completions";
    const question = { headers: { "content-type": "application/json" }, body: chatBody("Anyone there?") };
    const body = await challenge(path, {
      ...question,
      headers: { ...question.headers, "x-l402-deposit-msat": "10000" },
    });
    expect(body.quote.worst_case_msat).toBe(1_500);
    const token = await payChallenge(body);
    const res = await fetch(`${gateway.url}${path}`, {
      method: "POST",
      ...question,
      headers: { ...question.headers, ...authorization(token) },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-l402-cost-msat")).toBe("1500");
    await res.text();
    expect(await settled(token)).toMatchObject({ charged_msat: 1_500, balance_msat: 8_500 });
    const metrics = await (await fetch(`${gateway.operatorUrl}/metrics`)).text();
    expect(metrics).toMatch(/l402_usage_missing_total\{service="nousage"\} 1/);
  });

  let echoToken: Credential & { paidSats: number };
  let topUps: ChallengeBody[] = [];

  it("serves exactly 5 of 20 concurrent requests on a balance for 5; the rest get top-up challenges, no overdraw", async () => {
    const body = await challenge("/v1/echo", { headers: { "x-l402-deposit-msat": String(5 * ECHO_MSAT) } });
    echoToken = await payChallenge(body);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${gateway.url}/v1/echo`, { method: "POST", headers: authorization(echoToken) }),
      ),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 402)).toHaveLength(15);
    topUps = (await Promise.all(answers.filter((r) => r.status === 402).map((r) => r.json()))) as ChallengeBody[];
    for (const topUp of topUps) {
      expect(topUp.code).toBe("insufficient_balance");
      expect(topUp.token_id).toBe(body.token_id);
    }
    await Promise.all(answers.filter((r) => r.status === 200).map((r) => r.text()));
    const account = await settled(echoToken);
    expect(account).toMatchObject({ balance_msat: 0, charged_msat: 5 * ECHO_MSAT, requests: 5 });
  });

  it("continues the same token after a top-up, with the old credential and with the new one", async () => {
    const topUp = topUps[0];
    if (!topUp) throw new Error("no top-up challenge");
    const paid = await payChallenge(topUp);
    // The agent that keeps its credential: the settlement credits the same token.
    await expect
      .poll(async () => (await balance(echoToken)).balance_msat, { timeout: 15_000 })
      .toBe(paid.paidSats * 1000);
    const old = await fetch(`${gateway.url}/v1/echo`, { method: "POST", headers: authorization(echoToken) });
    expect(old.status).toBe(200);
    await old.text();
    // Spent again: the next challenge is another top-up of the same token, this time with a bigger deposit.
    const again = await fetch(`${gateway.url}/v1/echo`, {
      method: "POST",
      headers: { ...authorization(paid), "x-l402-deposit-msat": String(2 * ECHO_MSAT) },
    });
    expect(again.status).toBe(402);
    const second = (await again.json()) as ChallengeBody;
    expect(second).toMatchObject({ code: "insufficient_balance", token_id: topUp.token_id, price_sats: 4 });
    // A plain L402 client (lnget) just pays and uses the credential from the top-up challenge.
    const lnget = await payChallenge(second);
    await expect
      .poll(
        async () => (await fetch(`${gateway.url}/v1/echo`, { method: "POST", headers: authorization(lnget) })).status,
        {
          timeout: 15_000,
        },
      )
      .toBe(200);
    const viaFirstTopUp = await fetch(`${gateway.url}/v1/echo`, { method: "POST", headers: authorization(paid) });
    expect(viaFirstTopUp.status).toBe(200);
    await viaFirstTopUp.text();
    const account = await settled(lnget);
    expect(account.token_id).toBe(topUp.token_id);
    expect(account).toMatchObject({
      charged_msat: 8 * ECHO_MSAT,
      requests: 8,
      balance_msat: 0,
      credited_msat: 8 * ECHO_MSAT,
    });
  });

  it("raises the surge multiplier while requests queue, and lowers it after", { timeout: 240_000 }, async () => {
    const quoteNow = async () =>
      (
        await challenge("/v1/chat/completions", {
          headers: { "content-type": "application/json" },
          body: chatBody("hi", { max_tokens: 4 }),
        })
      ).quote;
    expect((await quoteNow()).surge_multiplier).toBe(1);
    const base = (await quoteNow()).worst_case_msat;
    // Three generations straight at the one-sequence backend: one runs, two queue (load 3, so 2×).
    const load = Array.from({ length: 3 }, () =>
      fetch(`${backend.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: chatBody("Tell a long tale.", { max_tokens: 40 }),
      }).then((r) => r.text()),
    );
    let surged = await quoteNow();
    await expect
      .poll(
        async () => {
          surged = await quoteNow();
          return surged.surge_multiplier;
        },
        { timeout: 60_000, interval: 100 },
      )
      .toBeGreaterThan(1);
    expect(surged.worst_case_msat).toBe(Math.ceil((base * Math.round(surged.surge_multiplier * 1000)) / 1000));
    await Promise.all(load);
    await expect.poll(async () => (await quoteNow()).surge_multiplier, { timeout: 60_000, interval: 200 }).toBe(1);
  });

  it("refuses the admin API without the right credentials, every time", async () => {
    const url = `${gateway.adminUrl}/admin/prices`;
    const attempts: Record<string, string>[] = [
      {},
      { authorization: "Bearer wrong-secret" },
      { authorization: `Basic ${ADMIN_SECRET}` },
    ];
    for (const headers of attempts) {
      const res = await fetch(url, { headers });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { code: string }).code).toBe("unauthorized");
    }
    const put = await fetch(`${gateway.adminUrl}/admin/prices/llm`, { method: "PUT", body: "{}" });
    expect(put.status).toBe(401);
  });

  it("applies a price change from the admin API to the next quote", async () => {
    const admin = { authorization: `Bearer ${ADMIN_SECRET}`, "content-type": "application/json" };
    const current = (await (await fetch(`${gateway.adminUrl}/admin/prices`, { headers: admin })).json()) as {
      services: Record<string, { rules: unknown[] }>;
    };
    const llm = current.services.llm;
    if (!llm) throw new Error("no llm pricing");
    const bad = await fetch(`${gateway.adminUrl}/admin/prices/llm`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify({ ...llm, rules: [{ perCallMsat: -5 }] }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe("invalid_pricing");
    const put = await fetch(`${gateway.adminUrl}/admin/prices/llm`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify({ ...llm, rules: [{ perCallMsat: 7_000 }] }),
    });
    expect(put.status).toBe(200);
    const body = await challenge("/v1/chat/completions", {
      headers: { "content-type": "application/json" },
      body: chatBody("hi"),
    });
    expect(body.price_msat).toBe(7_000);
    const revenue = (await (await fetch(`${gateway.adminUrl}/admin/revenue`, { headers: admin })).json()) as {
      charges: { service: string; charged_msat: number }[];
    };
    expect(revenue.charges.find((c) => c.service === "echo")?.charged_msat).toBe(8 * ECHO_MSAT);
  });

  it("exports the outstanding prepaid balance and the charges by model to Prometheus", async () => {
    const admin = { authorization: `Bearer ${ADMIN_SECRET}` };
    const { tokens } = (await (
      await fetch(`${gateway.adminUrl}/admin/tokens?limit=1000`, { headers: admin })
    ).json()) as {
      tokens: { status: string; metered: boolean; balance_msat: number; reserved_msat: number; charged_msat: number }[];
    };
    const paid = tokens.filter((t) => t.status === "paid" && t.metered);
    const outstanding = paid.reduce((sum, t) => sum + t.balance_msat + t.reserved_msat, 0);
    const charged = tokens.reduce((sum, t) => sum + t.charged_msat, 0);
    const text = await (await fetch(`${gateway.operatorUrl}/metrics`)).text();
    const sample = (name: string) =>
      text
        .split("\n")
        .filter((line) => line.startsWith(name))
        .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
    expect(sample("l402_prepaid_balance_sats")).toBe(outstanding / 1000);
    expect(sample("l402_charged_msat_total")).toBe(charged);
    expect(text).toMatch(
      new RegExp(`l402_charged_msat_total\\{service="llm",model="${MODEL.replaceAll(".", "\\.")}"\\}`),
    );
    expect(text).toMatch(/l402_price_msat\{service="llm",rule="0",component="per_call"\} 7000/);
  });

  it("keeps balances across a restart", async () => {
    const before = await settled(llmToken);
    await gateway.close();
    gateway = await startGateway(config, { log: pino({ level: "silent" }) });
    const after = await balance(llmToken);
    expect(after).toMatchObject({ balance_msat: before.balance_msat, charged_msat: before.charged_msat });
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...authorization(llmToken) },
      body: chatBody("Say hi.", { max_tokens: 4 }),
    });
    expect(res.status).toBe(200);
    await res.text();
  });

  it("applies pricing changes in the config file without a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gw-reload-"));
    const file = join(dir, "gateway.yaml");
    const write = (rates: typeof RATES) =>
      writeFileSync(file, stringify({ ...rawConfig(rates), store: { path: join(dir, "store.sqlite") } }));
    write(RATES);
    const reloading = await startGateway(loadConfigFile(file), { log: pino({ level: "silent" }), configPath: file });
    try {
      const quote = async () => {
        const res = await fetch(`${reloading.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: chatBody("hi", { max_tokens: 10 }),
        });
        return ((await res.json()) as ChallengeBody).quote;
      };
      const first = await quote();
      write({ promptMsatPerToken: 40, completionMsatPerToken: 100 });
      await expect
        .poll(async () => (await quote()).worst_case_msat, { timeout: 15_000, interval: 300 })
        .toBe(first.prompt_tokens * 40 + 10 * 100 + FEE_MSAT);
    } finally {
      await reloading.close();
    }
  });
});
