import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatBody, expectApiError, MODEL_ID, metricValue, postJson, startTestServer } from "../testing/helpers.js";
import type { RunningServer } from "./server.js";

let server: RunningServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startTestServer({ parallel: 2, maxBodyBytes: 64 * 1024 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "not-needed", maxRetries: 0 });
});

afterAll(async () => {
  await server?.close();
});

describe("the official openai client, unmodified", () => {
  it("lists the model", async () => {
    const models = await client.models.list();
    expect(models.data.map((model) => model.id)).toEqual([MODEL_ID]);
  });

  it("creates a chat completion with usage", async () => {
    const completion = await client.chat.completions.create({
      model: MODEL_ID,
      messages: [
        { role: "system", content: "You answer briefly." },
        { role: "user", content: "What is the capital of France?" },
      ],
      max_completion_tokens: 12,
      temperature: 0,
      seed: 42,
      top_p: 0.9,
    });
    expect(completion.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(completion.usage?.completion_tokens).toBeLessThanOrEqual(12);
    expect(completion.usage?.total_tokens).toBe(
      (completion.usage?.prompt_tokens ?? 0) + (completion.usage?.completion_tokens ?? 0),
    );
  });

  it("streams a chat completion with the final usage chunk", async () => {
    const stream = await client.chat.completions.create({
      model: MODEL_ID,
      messages: [{ role: "user", content: "Count from one to five." }],
      max_tokens: 8,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finishReason: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(finishReason).toBe("length");
    expect(usage?.completion_tokens).toBe(8);
  });

  it("creates a legacy text completion", async () => {
    const completion = await client.completions.create({ model: MODEL_ID, prompt: "One, two, three,", max_tokens: 5 });
    expect(completion.choices[0]?.text.length).toBeGreaterThan(0);
    expect(completion.usage?.completion_tokens).toBe(5);
  });

  it("never reports more completion tokens than max_tokens, even when the last token allowed ends mid-character", async () => {
    // This prompt's first sampled token is the start of a multi-byte character: node-llama-cpp meters one more.
    const completion = await client.completions.create({
      model: MODEL_ID,
      prompt: "pay sats the € ünïcödé",
      max_tokens: 1,
      temperature: 0,
    });
    expect(completion.usage?.completion_tokens).toBeLessThanOrEqual(1);
  });

  it("serves the default model by its short name and as default, answering with its full id", async () => {
    for (const model of ["SmolLM2-135M-Instruct", "default"]) {
      const completion = await client.completions.create({ model, prompt: "One, two,", max_tokens: 1 });
      expect(completion.model).toBe(MODEL_ID);
      expect(completion.usage?.completion_tokens).toBe(1);
    }
  });

  it("surfaces a 400 as BadRequestError", async () => {
    await expect(
      client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });
});

describe("bad input gets an OpenAI-style error and never crashes the server", () => {
  it("invalid JSON", async () => {
    const error = await expectApiError(await postJson(server, "/v1/chat/completions", '{"model": "x", '), 400, null);
    expect(error.code).toBe("invalid_json");
  });

  it("a body that is not an object", async () => {
    await expectApiError(await postJson(server, "/v1/chat/completions", "[1, 2]"), 400);
  });

  it("an unknown model", async () => {
    const error = await expectApiError(
      await postJson(server, "/v1/chat/completions", { ...chatBody("hi"), model: "gpt-4o" }),
      400,
      "model",
    );
    expect(error.code).toBe("model_not_found");
  });

  it("missing messages", async () => {
    const error = await expectApiError(
      await postJson(server, "/v1/chat/completions", { model: MODEL_ID }),
      400,
      "messages",
    );
    expect(error.code).toBe("missing_required_parameter");
  });

  it("empty messages", async () => {
    await expectApiError(
      await postJson(server, "/v1/chat/completions", { model: MODEL_ID, messages: [] }),
      400,
      "messages",
    );
  });

  it("a message with an unknown role", async () => {
    await expectApiError(
      await postJson(server, "/v1/chat/completions", {
        model: MODEL_ID,
        messages: [{ role: "wizard", content: "hi" }],
      }),
      400,
      "messages.0.role",
    );
  });

  it("max_tokens over the limit", async () => {
    await expectApiError(
      await postJson(server, "/v1/chat/completions", chatBody("hi", { max_tokens: 1_000_000 })),
      400,
      "max_tokens",
    );
    await expectApiError(
      await postJson(server, "/v1/completions", { model: MODEL_ID, prompt: "hi", max_tokens: 1_000_000 }),
      400,
      "max_tokens",
    );
  });

  it("wrong field types", async () => {
    await expectApiError(
      await postJson(server, "/v1/chat/completions", chatBody("hi", { temperature: "hot" })),
      400,
      "temperature",
    );
    await expectApiError(
      await postJson(server, "/v1/chat/completions", chatBody("hi", { max_tokens: 2.5 })),
      400,
      "max_tokens",
    );
    await expectApiError(
      await postJson(server, "/v1/chat/completions", chatBody("hi", { stream: "yes" })),
      400,
      "stream",
    );
    await expectApiError(
      await postJson(server, "/v1/chat/completions", { model: MODEL_ID, messages: [{ role: "user", content: 42 }] }),
      400,
      "messages.0.content",
    );
    await expectApiError(await postJson(server, "/v1/completions", { model: MODEL_ID, prompt: 7 }), 400, "prompt");
  });

  it("an unsupported response_format", async () => {
    await expectApiError(
      await postJson(server, "/v1/chat/completions", chatBody("hi", { response_format: { type: "xml" } })),
      400,
      "response_format.type",
    );
  });

  it("an oversized body gets 413 in the same error shape", async () => {
    const error = await expectApiError(
      await postJson(server, "/v1/chat/completions", chatBody("x".repeat(100 * 1024))),
      413,
      null,
    );
    expect(error.code).toBe("request_too_large");
  });

  it("an unknown endpoint gets 404 in the same error shape", async () => {
    const response = await fetch(`${server.url}/v1/embeddings`, { method: "POST", body: "{}" });
    await expectApiError(response, 404);
  });

  it("still serves requests afterwards and counted the rejections", async () => {
    const response = await postJson(server, "/v1/chat/completions", chatBody("hi", { max_tokens: 2 }));
    expect(response.status).toBe(200);
    expect(
      await metricValue(server, `llm:request_errors_invalid_request_total{model="${MODEL_ID}"}`),
    ).toBeGreaterThanOrEqual(14);
    expect(await metricValue(server, `llm:request_errors_internal_total{model="${MODEL_ID}"}`)).toBe(0);
  });
});
