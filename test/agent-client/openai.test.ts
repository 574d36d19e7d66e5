import { createL402Fetch } from "@l402-gateway/agent-client";
import type { RunningGateway } from "@l402-gateway/gateway";
import { DEFAULT_MODEL, type RunningServer, startServer } from "@l402-gateway/llm-backend";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { added, bobPaymentHashes, bobWallet, LLM_PRICE_SATS, startTestGateway } from "./support.js";

const MODEL = DEFAULT_MODEL.fileName.replace(/\.gguf$/, "");

describe("the OpenAI SDK, unmodified, through the L402 fetch", () => {
  let backend: RunningServer;
  let gateway: RunningGateway;

  beforeAll(async () => {
    backend = await startServer(
      { gpu: "false", port: 0, host: "127.0.0.1", parallel: 2, contextSize: 512, logLevel: "warn" },
      { waitUntilReady: true },
    );
    gateway = await startTestGateway(backend.url);
  });

  afterAll(async () => {
    await gateway?.close();
    await backend?.close();
  });

  it("streams a chat completion from the real backend behind the real gateway, paying once", async () => {
    const before = await bobPaymentHashes();
    const l402fetch = createL402Fetch({ wallet: bobWallet() });
    const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "l402", fetch: l402fetch, maxRetries: 0 });

    const stream = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Say hello." }],
      max_tokens: 8,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let chunks = 0;
    let completionTokens: number | undefined;
    for await (const chunk of stream) {
      chunks += 1;
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) completionTokens = chunk.usage.completion_tokens;
    }
    expect(chunks).toBeGreaterThan(1);
    expect(text.length).toBeGreaterThan(0);
    expect(completionTokens).toBeGreaterThan(0);

    // A second call, not streamed, rides on the same token.
    const completion = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Count to three." }],
      max_tokens: 8,
      temperature: 0,
    });
    expect(completion.choices[0]?.message.content?.length).toBeGreaterThan(0);

    const receipts = await l402fetch.client.receipts();
    expect(receipts).toMatchObject([{ status: "succeeded", amountSats: LLM_PRICE_SATS, service: "llm" }]);
    expect(added(before, await bobPaymentHashes())).toEqual([receipts[0]?.paymentHash]);
  });
});
