import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { pricingSchema } from "../config/pricing-schema.js";
import { jsonDepth, LlmRequestError, MAX_JSON_DEPTH, parseLlmRequest, upstreamBody } from "../llm/llm-request.js";
import { answerFor } from "../refusals/answers.js";
import { SseUsageTap, usageFromJson } from "./usage-tap.js";

const pricing = pricingSchema.parse({ rules: [{ perCallMsat: 1 }], defaultMaxTokens: 64, maxTokensCap: 128 });

describe("LLM request bodies", () => {
  const chat = (body: unknown) => parseLlmRequest("chat", {}, Buffer.from(JSON.stringify(body)), pricing);
  const JSON_TYPE = { "content-type": "application/json" };
  const message = [{ role: "user", content: "hi" }];
  const forwarded = (raw: string, headers: Record<string, string> = JSON_TYPE) =>
    JSON.parse(upstreamBody(parseLlmRequest("chat", headers, Buffer.from(raw), pricing)).toString()) as Record<
      string,
      unknown
    >;
  const codeOf = (run: () => unknown): { code: string; status: number | undefined } => {
    try {
      run();
    } catch (error) {
      if (error instanceof LlmRequestError) return { code: error.code, status: answerFor(error)?.status };
      throw error;
    }
    throw new Error("not refused");
  };

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
    ["n_predict above the cap", JSON.stringify({ messages: [{}], n_predict: 1_000 }), "max_tokens_too_large"],
    ["a negative max_tokens", JSON.stringify({ messages: [{}], max_tokens: -1 }), "invalid_request"],
    ["llama.cpp's endless n_predict", JSON.stringify({ messages: [{}], n_predict: -1 }), "invalid_request"],
    ["a length as a string", JSON.stringify({ messages: [{}], max_tokens: "16" }), "invalid_request"],
    [
      "disagreeing length fields",
      JSON.stringify({ messages: [{}], max_tokens: 8, n_predict: 100 }),
      "conflicting_max_tokens",
    ],
    ["several answers", JSON.stringify({ messages: [{}], n: 3 }), "unsupported_parameter"],
    ["best_of", JSON.stringify({ messages: [{}], best_of: 2 }), "unsupported_parameter"],
    ["beam search", JSON.stringify({ messages: [{}], use_beam_search: true }), "unsupported_parameter"],
    ["invalid UTF-8", Buffer.from([0x7b, 0xff, 0x7d]).toString("latin1"), "invalid_encoding"],
    [
      "nesting past the bound",
      `{"messages":[{}],"x":${"[".repeat(MAX_JSON_DEPTH)}${"]".repeat(MAX_JSON_DEPTH)}}`,
      "body_too_deep",
    ],
  ])("refuses %s with a typed 400", (_name, raw, code) => {
    expect(codeOf(() => parseLlmRequest("chat", JSON_TYPE, Buffer.from(raw, "latin1"), pricing))).toEqual({
      code,
      status: 400,
    });
  });

  it.each([
    ["another charset", { "content-type": "application/json; charset=utf-16" }, "unsupported_charset"],
    ["latin-1", { "content-type": "application/json;charset=ISO-8859-1" }, "unsupported_charset"],
    ["a form", { "content-type": "application/x-www-form-urlencoded" }, "unsupported_media_type"],
    ["multipart", { "content-type": "multipart/form-data; boundary=x" }, "unsupported_media_type"],
    ["text in latin-1", { "content-type": "text/plain; charset=iso-8859-1" }, "unsupported_charset"],
    ["gzip", { "content-type": "application/json", "content-encoding": "gzip" }, "unsupported_encoding"],
    ["deflate", { "content-encoding": "deflate" }, "unsupported_encoding"],
  ])("refuses a body in %s with 415, which the upstream could read differently", (_name, headers, code) => {
    const raw = Buffer.from(JSON.stringify({ messages: message }));
    expect(codeOf(() => parseLlmRequest("chat", headers, raw, pricing))).toEqual({ code, status: 415 });
  });

  it("accepts JSON as UTF-8 however the header spells it, and a body without a content type", () => {
    const types = ["application/json", "Application/JSON; charset=UTF-8", 'application/json; charset="utf-8"'];
    for (const type of [...types, "text/plain;charset=UTF-8", "application/vnd.api+json"]) {
      expect(forwarded(JSON.stringify({ messages: message }), { "content-type": type }).messages).toEqual(message);
    }
    expect(forwarded(JSON.stringify({ messages: message }), {}).messages).toEqual(message);
  });

  it("forwards one length field holding the reserved value, whichever alias the client used", () => {
    for (const alias of ["max_tokens", "max_completion_tokens", "n_predict", "max_new_tokens", "max_output_tokens"]) {
      const body = forwarded(JSON.stringify({ messages: message, [alias]: 12 }));
      expect(body.max_tokens, alias).toBe(12);
      for (const other of ["max_completion_tokens", "n_predict", "max_new_tokens", "max_output_tokens"]) {
        expect(body, `${alias} leaves no ${other}`).not.toHaveProperty(other);
      }
    }
    const both = forwarded(JSON.stringify({ messages: message, max_tokens: 12, max_completion_tokens: 12, n: 1 }));
    expect(both).toMatchObject({ max_tokens: 12, n: 1 });
    const owner = pricingSchema.parse({ rules: [{ perCallMsat: 1 }], chatLengthField: "max_completion_tokens" });
    const chosen = upstreamBody(parseLlmRequest("chat", {}, Buffer.from(JSON.stringify({ messages: message })), owner));
    expect(JSON.parse(chosen.toString())).toMatchObject({ max_completion_tokens: 256 });
    expect(JSON.parse(chosen.toString())).not.toHaveProperty("max_tokens");
  });

  it("forwards one reading of duplicate keys and numeric spellings, re-serialised", () => {
    const raw = '{"messages":[{"role":"user","content":"hi"}],"max_tokens":100,"max_tokens":1.6e1,"stream":false}';
    const body = forwarded(raw);
    expect(body.max_tokens).toBe(16);
    const bytes = upstreamBody(parseLlmRequest("chat", {}, Buffer.from(raw), pricing)).toString();
    expect(bytes.match(/max_tokens/g)).toHaveLength(1);
    expect(JSON.parse(bytes)).toEqual({ messages: message, max_tokens: 16, stream: false });
    expect(forwarded(`\uFEFF{"messages":[{"role":"user","content":"hi"}],"max_tokens":16.0}`).max_tokens).toBe(16);
  });

  it("accepts one completion prompt, and refuses several (each would be answered)", () => {
    const completion = (prompt: unknown) =>
      parseLlmRequest("completion", {}, Buffer.from(JSON.stringify({ prompt })), pricing);
    expect(completion(["one"]).body.prompt).toEqual(["one"]);
    expect(codeOf(() => completion(["one", "two"])).code).toBe("invalid_request");
    expect(codeOf(() => completion([1, 2, 3])).code).toBe("invalid_request");
  });

  it("measures JSON depth without counting brackets inside strings", () => {
    expect(jsonDepth('{"a":[1,{"b":"[[[{{{"}]}')).toBe(3);
    expect(jsonDepth('"\\"[')).toBe(0);
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
