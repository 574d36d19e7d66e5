import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunningGateway } from "@l402-gateway/gateway";
import { formatAuthorization } from "@l402-gateway/l402";
import { pay } from "lightning";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testNetwork } from "./regtest/context.js";
import { lndClient } from "./regtest/network-file.js";
import { settledAccountOf } from "./support/account.js";
import { checkAccounting } from "./support/accounting.js";
import type { InferenceServer } from "./support/inference-server.js";
import { startLlamaServer } from "./support/llama-server.js";
import { startOllama } from "./support/ollama.js";
import { startRegtestGateway } from "./support/regtest-gateway.js";
import { tokenMeteredLlm } from "./support/services.js";

const network = testNetwork();
const alice = lndClient(network.nodes.alice);
const bob = lndClient(network.nodes.bob);
const RATES = { prompt: 2, completion: 5, fee: 7 };
const MAX_TOKENS_CAP = 16;
const priceOf = (usage: { prompt_tokens: number; completion_tokens: number }) =>
  usage.prompt_tokens * RATES.prompt + usage.completion_tokens * RATES.completion + RATES.fee;

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
}

const PROMPTS = [
  "Name a colour.",
  "Count from one to five, in words, separated by commas.",
  "Traduis « le café est prêt » en anglais ✓",
];

const KINDS = [
  { kind: "llama.cpp", start: () => startLlamaServer({ parallel: 2, threads: 2 }), exact: true },
  { kind: "ollama", start: () => startOllama({ parallel: 2 }), exact: false },
] as const;

/**
 * The billing differential against the real inference servers an operator runs (llama.cpp's llama-server and
 * Ollama, on the default GGUF) and real Lightning: every answered call is charged the price of the usage the server
 * reports, that usage fits what was reserved, every refused call is charged nothing, streams and disconnects
 * included; then the accounting invariant against LND.
 */
describe.each(KINDS)("metering a real $kind server (regtest)", ({ kind, start, exact }) => {
  let server: InferenceServer;
  let gateway: RunningGateway;
  const storePath = join(mkdtempSync(join(tmpdir(), `gw-${kind}-`)), "gateway.sqlite");
  let authorization = "";
  /** Calls the server answered through the gateway (each must carry a charge). */
  let answered = 0;

  beforeAll(async () => {
    server = await start();
    gateway = await startRegtestGateway({
      storePath,
      limits: { challengeBurst: 100, challengesPerMinute: 100 },
      services: [
        tokenMeteredLlm(server.baseUrl, {
          rates: RATES,
          defaultMaxTokens: 8,
          maxTokensCap: MAX_TOKENS_CAP,
          upstreamKind: kind,
        }),
      ],
    });
    const challenge = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-l402-deposit-msat": "3000000" },
      body: JSON.stringify({ model: server.model, messages: [{ role: "user", content: "hi" }] }),
    });
    expect(challenge.status).toBe(402);
    const body = (await challenge.json()) as { macaroon: string; invoice: string; quote: { models: string[] } };
    // The 402 names the model as the server lists it (Ollama: with its tag).
    expect(body.quote.models.some((id) => id === server.model || id === `${server.model}:latest`)).toBe(true);
    const payment = await pay({ lnd: bob, request: body.invoice });
    authorization = formatAuthorization({ macaroons: [body.macaroon], preimage: Buffer.from(payment.secret, "hex") });
  }, 600_000);

  afterAll(async () => {
    await gateway?.close();
    await server?.stop();
  });

  const chat = (content: string, extra: Record<string, unknown> = {}) => ({
    model: server.model,
    messages: [{ role: "user", content }],
    temperature: 0,
    ...extra,
  });

  async function quoted(body: unknown): Promise<{ prompt_tokens: number; worst_case_msat: number }> {
    const res = await fetch(`${gateway.url}/l402/quote?method=POST&target=/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { quote: { prompt_tokens: number; worst_case_msat: number } }).quote;
  }

  /** Sends one call through the gateway and settles it: its status, text and charge. */
  async function call(body: unknown, disconnect = false) {
    const before = await settledAccountOf(gateway.url, authorization);
    const abort = new AbortController();
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization },
      body: JSON.stringify(body),
      signal: AbortSignal.any([abort.signal, AbortSignal.timeout(180_000)]),
    });
    let text = "";
    if (disconnect) {
      const reader = res.body?.getReader();
      // Leave once the first generated text has arrived.
      while (!/"content":"[^"]/.test(text)) {
        const chunk = await reader?.read();
        if (!chunk || chunk.done) break;
        text += Buffer.from(chunk.value).toString("utf8");
      }
      abort.abort();
      await reader?.cancel().catch(() => {});
    } else {
      text = await res.text();
    }
    const after = await settledAccountOf(gateway.url, authorization);
    expect(after.credited_msat).toBe(after.charged_msat + after.balance_msat + after.reserved_msat);
    if (res.status === 200) answered += 1;
    return { status: res.status, text, charged: after.charged_msat - before.charged_msat };
  }

  it("quotes a chat prompt exactly (llama.cpp) or by a bound at least the count the server reports (Ollama)", {
    timeout: 300_000,
  }, async () => {
    for (const prompt of PROMPTS) {
      const quote = await quoted(chat(prompt));
      // Straight to the server, not through the gateway: its own count of the same prompt.
      const direct = await fetch(`${server.baseUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(chat(prompt, { max_tokens: 1 })),
      });
      const usage = ((await direct.json()) as { usage: Usage }).usage;
      if (exact) expect(quote.prompt_tokens, prompt).toBe(usage.prompt_tokens);
      else expect(quote.prompt_tokens, prompt).toBeGreaterThanOrEqual(usage.prompt_tokens);
    }
  });

  it("charges each answered call the price of the usage the server reports, within the reservation", {
    timeout: 300_000,
  }, async () => {
    for (const prompt of PROMPTS) {
      const body = chat(prompt, { max_tokens: 6 });
      const quote = await quoted(body);
      const result = await call(body);
      expect(result.status).toBe(200);
      const usage = (JSON.parse(result.text) as { usage: Usage }).usage;
      expect(usage.completion_tokens).toBeLessThanOrEqual(6);
      expect(usage.prompt_tokens).toBeLessThanOrEqual(quote.prompt_tokens);
      expect(result.charged, prompt).toBe(priceOf(usage));
      expect(result.charged).toBeLessThanOrEqual(quote.worst_case_msat);
    }
  });

  it("charges a stream the usage the server reports at its end", { timeout: 300_000 }, async () => {
    const body = chat(PROMPTS[1] ?? "", { max_tokens: 6, stream: true, stream_options: { include_usage: true } });
    const result = await call(body);
    expect(result.status).toBe(200);
    const usageLine = result.text.split("\n").find((line) => line.includes('"usage":{'));
    expect(usageLine, "the usage chunk the client asked for").toBeDefined();
    const usage = (JSON.parse((usageLine ?? "").replace(/^data: /, "")) as { usage: Usage }).usage;
    expect(result.charged).toBe(priceOf(usage));
    expect(result.text).toContain("data: [DONE]");
  });

  it("charges a stream the client leaves: its quoted prompt and at most the tokens it could have had", {
    timeout: 300_000,
  }, async () => {
    const body = chat(PROMPTS[1] ?? "", { max_tokens: MAX_TOKENS_CAP, stream: true });
    const quote = await quoted(body);
    const result = await call(body, true);
    expect(result.status).toBe(200);
    // Some text was delivered, so more than the fee; never more than the reservation. Where the whole stream arrived
    // before the client left, the charge is the reported usage's (below an Ollama prompt bound); otherwise the
    // quoted prompt and the delivered text, of which an exact kind counts at least one token.
    expect(result.charged).toBeGreaterThan(RATES.fee);
    expect(result.charged).toBeLessThanOrEqual(quote.worst_case_msat);
    if (exact) {
      const promptOnly = priceOf({ prompt_tokens: quote.prompt_tokens, completion_tokens: 0 });
      expect(result.charged).toBeGreaterThan(promptOnly);
    }
  });

  it("charges nothing for calls refused before the server works", { timeout: 120_000 }, async () => {
    for (const body of [
      chat("hi", { n: 2 }),
      chat("hi", { n_cmpl: 2 }),
      chat("hi", { max_tokens: MAX_TOKENS_CAP + 1 }),
      chat("hi", { max_tokens: 4, max_completion_tokens: 5 }),
      ...(kind === "ollama" ? [{ ...chat("hi"), model: "no-such-model" }] : []),
    ]) {
      const result = await call(body);
      expect(result.status, JSON.stringify(body)).toBe(400);
      expect(result.charged).toBe(0);
    }
  });

  it("ends with the accounting invariant against LND", { timeout: 120_000 }, async () => {
    const verdict = await checkAccounting({ storePath, lnd: alice, upstreamServed: answered, quiescent: true });
    expect(verdict.violations).toEqual([]);
  });
});
