import { Agent, fetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InferenceServer } from "./support/inference-server.js";
import { startLlamaServer } from "./support/llama-server.js";
import { startOllama } from "./support/ollama.js";

/**
 * The real inference servers the gateway is put in front of, built by the test run (test/tools/llama-server.ts,
 * test/tools/ollama.ts) and serving the default GGUF: what each answers, as the gateway's metering relies on it.
 */

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

const MESSAGES = [{ role: "user", content: "Name three colours." }];

/**
 * A new connection per request: these tests are about what each server answers, and a kept-alive connection that the
 * server closes just as the next request is written fails that request ("other side closed"), seen here under load.
 */
const freshConnections = new Agent({ pipelining: 0 });
const get = (url: string) => fetch(url, { dispatcher: freshConnections });
const MAX_TOKENS = 8;

async function postJson(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(url, {
    dispatcher: freshConnections,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function chatUsage(server: InferenceServer): Promise<Usage> {
  const { status, json } = await postJson(`${server.baseUrl}/v1/chat/completions`, {
    model: server.model,
    messages: MESSAGES,
    max_tokens: MAX_TOKENS,
    temperature: 0,
  });
  expect(status).toBe(200);
  const usage = json.usage as Usage;
  expect(usage.prompt_tokens).toBeGreaterThan(0);
  expect(usage.completion_tokens).toBeGreaterThan(0);
  expect(usage.completion_tokens).toBeLessThanOrEqual(MAX_TOKENS);
  expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
  return usage;
}

/** A streamed chat with `stream_options.include_usage`: the text chunks, then one chunk with the usage. */
async function streamedUsage(server: InferenceServer): Promise<{ usage: Usage; chunks: number }> {
  const response = await fetch(`${server.baseUrl}/v1/chat/completions`, {
    dispatcher: freshConnections,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: server.model,
      messages: MESSAGES,
      max_tokens: MAX_TOKENS,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  expect(response.status).toBe(200);
  const events = (await response.text())
    .split("\n")
    .filter((line) => line.startsWith("data: ") && line !== "data: [DONE]")
    .map((line) => JSON.parse(line.slice("data: ".length)) as { usage?: Usage | null; choices?: unknown[] });
  const withUsage = events.filter((event) => event.usage);
  expect(withUsage).toHaveLength(1);
  return { usage: withUsage[0]?.usage as Usage, chunks: events.length };
}

function describeServer(
  name: string,
  start: () => Promise<InferenceServer>,
  extra: (server: () => InferenceServer) => void,
) {
  describe(name, () => {
    let server: InferenceServer | undefined;
    const current = () => {
      if (!server) throw new Error(`${name} did not start`);
      return server;
    };
    beforeAll(async () => {
      server = await start();
    });
    afterAll(async () => {
      await server?.stop();
    });

    it("lists the model it serves on /v1/models", async () => {
      const models = (await (await get(`${current().baseUrl}/v1/models`)).json()) as { data: { id: string }[] };
      expect(models.data.map((model) => model.id)).toContain(current().model);
    });

    it("answers /v1/chat/completions with usage, the same usage when streamed with include_usage", async () => {
      const usage = await chatUsage(current());
      const streamed = await streamedUsage(current());
      // temperature 0: the same tokens (a server may add detail fields, e.g. prompt_tokens_details, to either)
      expect(streamed.usage.prompt_tokens).toBe(usage.prompt_tokens);
      expect(streamed.usage.completion_tokens).toBe(usage.completion_tokens);
      expect(streamed.chunks).toBeGreaterThan(1);
    });

    extra(current);
  });
}

describeServer(
  "llama.cpp llama-server (real, built from llama-cpp-python's vendored llama.cpp)",
  startLlamaServer,
  (server) => {
    it("counts a chat's prompt tokens exactly with /apply-template then /tokenize", async () => {
      const template = await postJson(`${server().baseUrl}/apply-template`, { messages: MESSAGES });
      expect(template.status).toBe(200);
      const prompt = template.json.prompt as string;
      expect(prompt).toContain("Name three colours.");
      expect(prompt).toContain("<|im_start|>user");
      const tokenized = await postJson(`${server().baseUrl}/tokenize`, {
        content: prompt,
        add_special: true,
        parse_special: true,
      });
      expect(tokenized.status).toBe(200);
      const tokens = tokenized.json.tokens as number[];
      expect((await chatUsage(server())).prompt_tokens).toBe(tokens.length);
    });

    it("reports readiness on /health and slot state on /slots", async () => {
      expect((await get(`${server().baseUrl}/health`)).status).toBe(200);
      const slots = (await (await get(`${server().baseUrl}/slots`)).json()) as {
        id: number;
        is_processing: boolean;
      }[];
      expect(slots).toHaveLength(4);
    });
  },
);

describeServer(
  "Ollama (real, built from the Go module proxy, the GGUF imported through a Modelfile)",
  startOllama,
  (server) => {
    it("reports the loaded model on /api/ps", async () => {
      const ps = (await (await get(`${server().baseUrl}/api/ps`)).json()) as { models: { name: string }[] };
      expect(ps.models.map((model) => model.name)).toContain(server().model);
    });
  },
);
