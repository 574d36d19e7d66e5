import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Small in-process stand-ins for the inference servers the gateway meters, each answering only the endpoints its
 * real counterpart documents, in their request and response shapes: llama.cpp's server (`/apply-template`,
 * `/tokenize`, `/slots`, `/metrics`, `/v1/models`), vLLM (`/tokenize` with `messages` → `count`, `/metrics` with
 * `vllm:num_requests_*`, `/v1/models`), Ollama (`/api/tags`, `/api/ps`, no tokenizer) and a hosted OpenAI-compatible
 * API (`/v1/models`, no tokenizer). Every one answers `/v1/chat/completions` and `/v1/completions` with `usage` (and,
 * streamed with `stream_options.include_usage`, a usage chunk at the end), generating one word per token.
 *
 * Their "model" counts a token per whitespace-separated word of the prompt the chat template renders: fewer tokens
 * than UTF-8 bytes, as every real tokenizer's count is.
 */
export type FakeKind = "llama.cpp" | "vllm" | "ollama" | "openai-compatible";

export interface ServedCall {
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly rawBody: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
}

export interface FakeUpstream {
  readonly url: string;
  readonly kind: FakeKind;
  /** The model ids it serves (as its model list names them). */
  readonly models: readonly string[];
  /** Generation calls it answered (chat and completions), in order. */
  readonly served: ServedCall[];
  /** What its load endpoints report: busy slots / running, queued / waiting. */
  load: { busy: number; queued: number; slots: number };
  close(): Promise<void>;
}

const MODEL = "smollm2-135m";

/** A prompt containing this makes a streamed answer stop after one word and hang until the client leaves. */
export const STALL = "please stall";

/** ChatML, as SmolLM2's template renders it, with the generation prompt. */
export function renderChatMl(messages: readonly { role?: unknown; content?: unknown }[]): string {
  const text = (content: unknown) =>
    Array.isArray(content) ? content.map((part) => (part as { text?: string }).text ?? "").join("") : String(content);
  return `${messages.map((m) => `<|im_start|>${String(m.role)}\n${text(m.content)}<|im_end|>\n`).join("")}<|im_start|>assistant\n`;
}

/** The fake tokenizer: one token per word, special tokens split off as words of their own. */
export function fakeTokens(text: string): number {
  return text
    .replace(/<\|[a-z_]+\|>/g, " $& ")
    .split(/\s+/)
    .filter((word) => word !== "").length;
}

/** How many words the fake generates: fewer than max_tokens when asked for many, so usage differs from the limit. */
const generated = (limit: number) => Math.max(1, Math.min(limit, 6));

function readJson(req: IncomingMessage): Promise<{ raw: string; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    let raw = "";
    req.on("data", (chunk: Buffer) => {
      raw += chunk.toString("utf8");
    });
    req.on("end", () => {
      try {
        resolve({ raw, json: raw === "" ? {} : (JSON.parse(raw) as Record<string, unknown>) });
      } catch (error) {
        reject(error);
      }
    });
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

const notFound = (res: ServerResponse) => json(res, 404, { error: "Not Found" });

/** The length field each kind obeys (the others it ignores). */
const LIMIT_FIELD: Record<FakeKind, string[]> = {
  "llama.cpp": ["max_tokens", "n_predict"],
  vllm: ["max_tokens", "max_completion_tokens"],
  ollama: ["max_tokens"],
  "openai-compatible": ["max_tokens", "max_completion_tokens"],
};

export async function startFakeUpstream(kind: FakeKind): Promise<FakeUpstream> {
  const models = kind === "ollama" ? [`${MODEL}:latest`, "qwen2.5:0.5b"] : [MODEL];
  const served: ServedCall[] = [];
  const fake = { load: { busy: 0, queued: 0, slots: 4 } };

  async function generate(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const { raw, json: body } = await readJson(req);
    const model = body.model as string | undefined;
    // Servers that know their models by name refuse others (llama.cpp answers to any name).
    if (kind !== "llama.cpp" && model !== undefined && !models.includes(model) && !models.includes(`${model}:latest`)) {
      json(res, 404, { error: { message: `model ${model} not found`, type: "NotFoundError" } });
      return;
    }
    const chat = path.endsWith("/chat/completions");
    const prompt = chat ? renderChatMl(body.messages as { role?: unknown; content?: unknown }[]) : String(body.prompt);
    const promptTokens = fakeTokens(prompt);
    const limit = LIMIT_FIELD[kind].map((field) => body[field]).find((v) => typeof v === "number") as
      | number
      | undefined;
    const completionTokens = generated(limit ?? 16);
    served.push({ path, body, rawBody: raw, promptTokens, completionTokens });
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };
    const words = Array.from({ length: completionTokens }, (_, i) => `w${i} `);
    if (body.stream !== true) {
      const choice = chat
        ? { index: 0, message: { role: "assistant", content: words.join("") }, finish_reason: "length" }
        : { index: 0, text: words.join(""), finish_reason: "length" };
      json(res, 200, {
        id: "x",
        object: chat ? "chat.completion" : "text_completion",
        model,
        choices: [choice],
        usage,
      });
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    const messages = (body.messages ?? []) as { content?: unknown }[];
    if (String(messages.at(-1)?.content ?? body.prompt).includes(STALL)) {
      // One word, then nothing until the client goes away: a stream the client cuts short.
      const choice = chat ? { index: 0, delta: { content: words[0] } } : { index: 0, text: words[0] };
      res.write(`data: ${JSON.stringify({ id: "x", choices: [choice] })}\n\n`);
      await once(res, "close");
      return;
    }
    for (const word of words) {
      const choice = chat ? { index: 0, delta: { content: word } } : { index: 0, text: word };
      res.write(`data: ${JSON.stringify({ id: "x", choices: [choice] })}\n\n`);
    }
    const wantsUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    if (wantsUsage) res.write(`data: ${JSON.stringify({ id: "x", choices: [], usage })}\n\n`);
    res.end("data: [DONE]\n\n");
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const get = req.method === "GET";
    if (req.method === "POST" && (path === "/v1/chat/completions" || path === "/v1/completions")) {
      return generate(req, res, path);
    }
    if (get && path === "/v1/models" && kind !== "ollama") {
      return json(res, 200, { object: "list", data: models.map((id) => ({ id, object: "model", owned_by: kind })) });
    }
    if (kind === "llama.cpp") {
      if (get && path === "/health") return json(res, 200, { status: "ok" });
      if (req.method === "POST" && path === "/apply-template") {
        const { json: body } = await readJson(req);
        return json(res, 200, { prompt: renderChatMl(body.messages as { role?: unknown; content?: unknown }[]) });
      }
      if (req.method === "POST" && path === "/tokenize") {
        const { json: body } = await readJson(req);
        // Like SmolLM2's, the fake model has no BOS: add_special adds nothing.
        return json(res, 200, { tokens: Array.from({ length: fakeTokens(String(body.content)) }, (_, i) => i) });
      }
      if (get && path === "/slots") {
        const slots = Array.from({ length: fake.load.slots }, (_, id) => ({ id, is_processing: id < fake.load.busy }));
        return json(res, 200, slots);
      }
      if (get && path === "/metrics") {
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        res.end(
          "# HELP llamacpp:requests_processing Number of requests processing.\n# TYPE llamacpp:requests_processing gauge\n" +
            `llamacpp:requests_processing ${fake.load.busy}\n# TYPE llamacpp:requests_deferred gauge\n` +
            `llamacpp:requests_deferred ${fake.load.queued}\n`,
        );
        return;
      }
    }
    if (kind === "vllm") {
      if (get && path === "/health") {
        res.writeHead(200);
        res.end();
        return;
      }
      if (req.method === "POST" && path === "/tokenize") {
        const { json: body } = await readJson(req);
        const text = Array.isArray(body.messages)
          ? renderChatMl(body.messages as { role?: unknown; content?: unknown }[])
          : String(body.prompt);
        const count = fakeTokens(text);
        return json(res, 200, { count, max_model_len: 2048, tokens: Array.from({ length: count }, (_, i) => i) });
      }
      if (get && path === "/metrics") {
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        const labels = `{engine="0",model_name="${MODEL}"}`;
        res.end(
          "# HELP vllm:num_requests_running Number of requests in model execution batches.\n" +
            `# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running${labels} ${fake.load.busy}\n` +
            `# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting${labels} ${fake.load.queued}\n`,
        );
        return;
      }
    }
    if (kind === "ollama") {
      if (get && path === "/") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("Ollama is running");
        return;
      }
      if (get && path === "/api/tags") {
        return json(res, 200, { models: models.map((name) => ({ name, model: name, size: 1, digest: "d" })) });
      }
      if (get && path === "/api/ps") return json(res, 200, { models: [{ name: models[0], model: models[0] }] });
      if (get && path === "/v1/models") {
        return json(res, 200, { object: "list", data: models.map((id) => ({ id, object: "model" })) });
      }
    }
    notFound(res);
  }

  const server: Server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => json(res, 500, { error: String(error) }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    kind,
    models,
    served,
    get load() {
      return fake.load;
    },
    set load(next) {
      fake.load = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
