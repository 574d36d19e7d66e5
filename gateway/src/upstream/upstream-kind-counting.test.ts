import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type FakeUpstream,
  fakeTokens,
  renderChatMl,
  startFakeUpstream,
} from "../../../test/support/upstream-kind-fakes.js";
import { pricingSchema } from "../config/pricing-schema.js";
import { ModelCatalogs, namesModel } from "./models.js";
import { chatPromptBound, textPromptBound } from "./prompt-bound.js";
import { type TokenCountError, TokenCounter } from "./token-counter.js";

const settings = pricingSchema.parse({ rules: [{ perCallMsat: 1 }] }).tokenCounting;
const messages = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "Wie spät ist es in Zürich? ⏰" },
];

describe("prompt counting per upstream kind", () => {
  const fakes: FakeUpstream[] = [];
  const start = async (kind: Parameters<typeof startFakeUpstream>[0]) => {
    const fake = await startFakeUpstream(kind);
    fakes.push(fake);
    return fake;
  };
  afterAll(async () => {
    for (const fake of fakes) await fake.close();
  });

  it("llama.cpp: renders with POST /apply-template, then counts the prompt with POST /tokenize", async () => {
    const counter = new TokenCounter((await start("llama.cpp")).url, settings, "llama.cpp");
    expect(counter.exact).toBe(true);
    expect(await counter.chatPromptTokens({ messages })).toBe(fakeTokens(renderChatMl(messages)));
    expect(await counter.completionPromptTokens("one two three", undefined)).toBe(3);
  });

  it("llama.cpp: closes each count's connection once answered (an idle one holds a server thread); vLLM keeps it", async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.url} ${req.headers.connection}`);
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(req.url === "/apply-template" ? { prompt: "a b c" } : { tokens: [1, 2, 3], count: 3 }));
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect(await new TokenCounter(url, settings, "llama.cpp").chatPromptTokens({ messages })).toBe(3);
      expect(seen).toEqual(["/apply-template close", "/tokenize close"]);
      seen.length = 0;
      expect(await new TokenCounter(url, settings, "vllm").chatPromptTokens({ messages })).toBe(3);
      expect(seen).toEqual(["/tokenize keep-alive"]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("contract: vLLM: counts a chat prompt with POST /tokenize and its messages, reading count", async () => {
    const counter = new TokenCounter((await start("vllm")).url, settings, "vllm");
    expect(await counter.chatPromptTokens({ model: "smollm2-135m", messages, max_tokens: 9 })).toBe(
      fakeTokens(renderChatMl(messages)),
    );
    expect(await counter.completionPromptTokens("one two three", "smollm2-135m")).toBe(3);
    expect(await counter.deliveredTokens("w0 w1 ", 2, 16)).toBe(2);
  });

  it("Ollama and hosted APIs: no tokenizer is asked; the bound covers the real count", async () => {
    const fake = await start("ollama");
    const counter = new TokenCounter(fake.url, settings, "ollama");
    expect(counter.exact).toBe(false);
    const body = { model: "smollm2-135m", messages, max_tokens: 9 };
    const bound = await counter.chatPromptTokens(body);
    expect(bound).toBe(chatPromptBound(body, settings.promptBound));
    expect(bound).toBeGreaterThanOrEqual(fakeTokens(renderChatMl(messages)));
    expect(await counter.completionPromptTokens("héllo", undefined)).toBe(
      textPromptBound("héllo", settings.promptBound),
    );
    // A cut-short stream is counted by its text events, never by its bytes (which would overcharge).
    expect(await counter.deliveredTokens("a long delivered text", 3, 16)).toBe(3);
    expect(await counter.deliveredTokens("x", 40, 16)).toBe(16);
  });

  it("bounds a prompt by the UTF-8 bytes of the body plus the template allowances", () => {
    const allowance = { perMessageTokens: 5, perRequestTokens: 20 };
    const body = { messages: [{ role: "user", content: "é" }] };
    expect(chatPromptBound(body, allowance)).toBe(Buffer.byteLength(JSON.stringify(body)) + 5 + 20);
    const image = { messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] };
    expect(() => chatPromptBound(image, allowance)).toThrow(/only text parts/);
    const text = { messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }] };
    expect(chatPromptBound(text, allowance)).toBeGreaterThan(25);
  });
});

describe("whose failure a count is", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  });
  async function answering(status: number, body: string): Promise<string> {
    const server = createServer((_req, res) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(body);
    });
    servers.push(server);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  const blameOf = async (url: string, kind: "llama.cpp" | "vllm" | "l402-llm-backend") =>
    (
      (await new TokenCounter(url, settings, kind)
        .chatPromptTokens({ messages })
        .catch((e: unknown) => e)) as TokenCountError
    ).blame;

  it("a missing endpoint (404, 405, 501) or another shape is the operator's set-up", async () => {
    expect(await blameOf(await answering(404, "{}"), "llama.cpp")).toBe("operator");
    expect(await blameOf(await answering(405, "{}"), "vllm")).toBe("operator");
    expect(await blameOf(await answering(501, "{}"), "l402-llm-backend")).toBe("operator");
    expect(await blameOf(await answering(200, '{"tokens":[1]}'), "vllm")).toBe("operator");
    expect(await blameOf(await answering(200, "not json"), "llama.cpp")).toBe("operator");
  });

  it("a refused body (400, 422) is the client's; a failing upstream (5xx) is unavailable", async () => {
    expect(await blameOf(await answering(400, '{"error":"bad role"}'), "vllm")).toBe("client");
    expect(await blameOf(await answering(422, "{}"), "l402-llm-backend")).toBe("client");
    expect(await blameOf(await answering(503, "{}"), "llama.cpp")).toBe("unavailable");
  });
});

describe("model ids as the upstream knows them", () => {
  let ollama: FakeUpstream;
  let vllm: FakeUpstream;
  beforeAll(async () => {
    ollama = await startFakeUpstream("ollama");
    vllm = await startFakeUpstream("vllm");
  });
  afterAll(async () => {
    await ollama.close();
    await vllm.close();
  });

  it("reads Ollama's /api/tags and vLLM's /v1/models, and keeps a list until it is stale", async () => {
    let now = 0;
    const urls: Record<string, string> = { a: ollama.url, b: vllm.url };
    const catalogs = new ModelCatalogs(
      { upstream: (service) => urls[service], kind: (service) => (service === "a" ? "ollama" : "vllm") },
      2_000,
      () => now,
    );
    expect(await catalogs.ids("a")).toEqual([...ollama.models].sort());
    expect(await catalogs.ids("b")).toEqual(["smollm2-135m"]);
    urls.b = "http://127.0.0.1:1";
    now += 1_000;
    expect(await catalogs.ids("b"), "fresh: not asked again").toEqual(["smollm2-135m"]);
    now += 60_000;
    expect(await catalogs.ids("b"), "stale and unreadable: the last list stays").toEqual(["smollm2-135m"]);
    expect(catalogs.cached("c")).toBeUndefined();
  });

  it("reads an Ollama name without a tag as :latest, as Ollama does", () => {
    expect(namesModel("ollama", ["smollm2:latest"], "smollm2")).toBe(true);
    expect(namesModel("ollama", ["smollm2:latest"], "smollm2:q4")).toBe(false);
    expect(namesModel("vllm", ["smollm2:latest"], "smollm2")).toBe(false);
  });
});
