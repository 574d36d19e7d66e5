import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { pricingSchema } from "../pricing/schema.js";
import { LlmRequestError, parseLlmRequest, upstreamBody } from "./llm-request.js";
import { SseUsageTap, usageFromJson } from "./usage-tap.js";

const pricing = pricingSchema.parse({ rules: [{ perCallMsat: 1 }], defaultMaxTokens: 64, maxTokensCap: 128 });

describe("LLM request bodies", () => {
  const chat = (body: unknown) => parseLlmRequest("chat", Buffer.from(JSON.stringify(body)), pricing);

  it("reads model, max_tokens (or the default) and streaming", () => {
    expect(
      chat({ model: "m", messages: [{ role: "user", content: "hi" }], max_tokens: 10, stream: true }),
    ).toMatchObject({
      model: "m",
      maxTokens: 10,
      stream: true,
      clientWantsUsage: false,
    });
    expect(chat({ messages: [{ role: "user", content: "hi" }] }).maxTokens).toBe(64);
  });

  it("asks the upstream for usage on streams and makes max_tokens explicit", () => {
    const request = chat({ messages: [{ role: "user", content: "hi" }], stream: true });
    expect(JSON.parse(upstreamBody(request).toString())).toMatchObject({
      max_tokens: 64,
      stream_options: { include_usage: true },
    });
  });

  it.each([
    ["not JSON", "{", "invalid_json"],
    ["no messages", JSON.stringify({ model: "m" }), "invalid_request"],
    ["max_tokens above the cap", JSON.stringify({ messages: [{}], max_tokens: 1_000 }), "max_tokens_too_large"],
    ["a negative max_tokens", JSON.stringify({ messages: [{}], max_tokens: -1 }), "invalid_request"],
  ])("refuses %s with a typed error", (_name, raw, code) => {
    try {
      parseLlmRequest("chat", Buffer.from(raw), pricing);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(LlmRequestError);
      expect((error as LlmRequestError).code).toBe(code);
    }
  });
});

describe("usage from responses", () => {
  it("reads a JSON response's usage", () => {
    expect(usageFromJson(Buffer.from(JSON.stringify({ usage: { prompt_tokens: 3, completion_tokens: 4 } })))).toEqual({
      promptTokens: 3,
      completionTokens: 4,
    });
    expect(usageFromJson(Buffer.from("not json"))).toBeUndefined();
  });

  async function tap(events: string[], dropUsage: boolean, splitAt = 7) {
    const tapper = new SseUsageTap(dropUsage, async () => ": cost\n\n");
    const whole = events.join("");
    const pieces: string[] = [];
    for (let i = 0; i < whole.length; i += splitAt) pieces.push(whole.slice(i, i + splitAt));
    let out = "";
    await pipeline(Readable.from(pieces.map((p) => Buffer.from(p))), tapper, async (source) => {
      for await (const chunk of source) out += String(chunk);
    });
    return { out, tapper };
  }

  const stream = [
    `data: ${JSON.stringify({ choices: [{ delta: { content: "Hel" } }], usage: null })}\n\n`,
    `data: ${JSON.stringify({ choices: [{ delta: { content: "lo" } }], usage: null })}\n\n`,
    `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } })}\n\n`,
    "data: [DONE]\n\n",
  ];

  it("records the usage chunk, drops it when the client did not ask, and writes the cost before [DONE]", async () => {
    const { out, tapper } = await tap(stream, true);
    expect(tapper.usage).toEqual({ promptTokens: 5, completionTokens: 2 });
    expect(tapper.deliveredText).toBe("Hello");
    expect(out).toBe(`${stream[0]}${stream[1]}: cost\n\ndata: [DONE]\n\n`);
  });

  it("keeps the usage chunk for a client that asked for it", async () => {
    const { out } = await tap(stream, false, 3);
    expect(out).toBe(`${stream[0]}${stream[1]}${stream[2]}: cost\n\ndata: [DONE]\n\n`);
  });
});
