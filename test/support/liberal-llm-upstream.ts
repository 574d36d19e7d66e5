import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync, inflateSync } from "node:zlib";

/** What the upstream did for one request, by the X-Request-Id the gateway sent. */
export interface ServedCall {
  readonly kind: "chat" | "completion";
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** The length limit it obeyed, or undefined when the request named none (it then generated its own). */
  readonly limit: number | undefined;
  readonly rawBody: string;
  readonly contentType: string | undefined;
  readonly path: string;
}

export interface LiberalUpstream {
  readonly url: string;
  readonly served: Map<string, ServedCall>;
  /** Generation requests that reached it, by request id, whatever became of them. */
  readonly generationIds: Set<string>;
  /** Calls of its health path and of its token counters. */
  readonly calls: { health: number; tokenCounts: number };
  close(): Promise<void>;
}

/** One token per 3 UTF-8 bytes of text, at least one: deterministic, and the same for counting and for serving. */
export function fakeTokens(text: string): number {
  return Math.max(1, Math.ceil(Buffer.byteLength(text, "utf8") / 3));
}

/** Prompt tokens of a chat: each message's text plus 3 tokens of template. */
export function fakeChatTokens(messages: unknown): number {
  if (!Array.isArray(messages)) return 0;
  return messages.reduce<number>((sum, message) => {
    const content = (message as { content?: unknown }).content;
    const text = typeof content === "string" ? content : JSON.stringify(content ?? "");
    return sum + fakeTokens(text) + 3;
  }, 0);
}

/** How many tokens the model "wants" to write for a prompt: 1 to 40, from its hash. */
function wanted(seed: string): number {
  return (createHash("sha256").update(seed).digest().readUInt8(0) % 40) + 1;
}

/** Every spelling of a path that some upstream treats as the same route, reduced to one. */
function liberalRoute(url: string): string {
  const path = (url.split("?")[0] ?? "").replaceAll("\\", "/");
  const segments: string[] = [];
  for (const raw of path.split("/")) {
    let segment = raw;
    try {
      segment = decodeURIComponent(raw);
    } catch {}
    for (const part of segment.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") segments.pop();
      else segments.push(part.toLowerCase());
    }
  }
  return `/${segments.join("/")}`;
}

/** Reads a body every way some upstream would: decompressing, and decoding the charset it names. */
function liberalText(req: IncomingMessage, raw: Buffer): string {
  const encoding = String(req.headers["content-encoding"] ?? "").toLowerCase();
  const bytes = encoding === "gzip" ? gunzipSync(raw) : encoding === "deflate" ? inflateSync(raw) : raw;
  const charset = /charset="?([\w-]+)/i.exec(String(req.headers["content-type"] ?? ""))?.[1]?.toLowerCase();
  if (charset === "utf-16" || charset === "utf-16le") return bytes.toString("utf16le");
  if (charset === "iso-8859-1" || charset === "latin1") return bytes.toString("latin1");
  return bytes.toString("utf8");
}

/** The most permissive reading of the output length: llama.cpp's n_predict first, then every other alias. */
function liberalLimit(body: Record<string, unknown>): number | undefined {
  for (const field of ["n_predict", "max_new_tokens", "max_output_tokens", "max_completion_tokens", "max_tokens"]) {
    const value = Number(body[field]);
    if (body[field] != null && Number.isFinite(value) && value > 0) return Math.floor(value);
  }
  return undefined;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/**
 * An OpenAI-compatible upstream that reads requests as liberally as any real one might (case-insensitive routes,
 * decoded and dot-resolved paths, compressed bodies, other charsets, every length alias, `n` choices) and reports
 * its usage honestly. If the gateway forwarded anything it did not price, this upstream does more than was priced.
 */
export async function startLiberalUpstream(): Promise<LiberalUpstream> {
  const served = new Map<string, ServedCall>();
  const generationIds = new Set<string>();
  const calls = { health: 0, tokenCounts: 0 };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const route = liberalRoute(req.url ?? "/");
    if (req.method === "GET" && route.endsWith("/health")) {
      calls.health += 1;
      json(res, 200, { status: "ok", busy_sequences: 0, queue_depth: 0, slots_total: 4 });
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(liberalText(req, raw)) as Record<string, unknown>;
    } catch {
      json(res, 400, { error: { message: "invalid JSON" } });
      return;
    }
    if (route.endsWith("/chat/completions/input_tokens")) {
      calls.tokenCounts += 1;
      json(res, 200, { input_tokens: fakeChatTokens(body.messages) });
      return;
    }
    if (route.endsWith("/tokenize")) {
      calls.tokenCounts += 1;
      const content = String(body.content ?? "");
      const special = body.add_special === true ? 1 : 0;
      json(res, 200, { tokens: Array.from({ length: content === "" ? special : fakeTokens(content) + special }) });
      return;
    }
    const kind = route.endsWith("/chat/completions")
      ? "chat"
      : route.endsWith("/completions")
        ? "completion"
        : undefined;
    if (!kind || req.method !== "POST") {
      json(res, 404, { error: { message: `no route ${route}` } });
      return;
    }
    const requestId = String(req.headers["x-request-id"] ?? "");
    generationIds.add(requestId);
    const promptText = Array.isArray(body.prompt) ? body.prompt.join("") : String(body.prompt ?? "");
    const promptTokens = kind === "chat" ? fakeChatTokens(body.messages) : fakeTokens(promptText) + 1;
    const limit = liberalLimit(body);
    const choices = Math.max(1, Number(body.n ?? 1) || 1, Number(body.best_of ?? 1) || 1);
    const perChoice = Math.min(
      limit ?? 10_000,
      wanted(JSON.stringify(body.messages ?? body.prompt)) * (limit ? 1 : 50),
    );
    const usage = { prompt_tokens: promptTokens, completion_tokens: perChoice * choices };
    served.set(requestId, {
      kind,
      promptTokens,
      completionTokens: usage.completion_tokens,
      limit,
      rawBody: raw.toString("utf8"),
      contentType: req.headers["content-type"],
      path: req.url ?? "",
    });
    if (body.stream === true) {
      res.writeHead(200, { "content-type": "text/event-stream" });
      if (body.user === "hang") {
        // Accepted, prompt processed, and then nothing until the client leaves.
        res.write(
          `data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: "assistant", content: "" } }] })}\n\n`,
        );
        return;
      }
      for (let i = 0; i < perChoice * choices; i++) {
        const delta = kind === "chat" ? { delta: { content: "tok " } } : { text: "tok " };
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, ...delta }] })}\n\n`);
      }
      const wantsUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
      if (wantsUsage) res.write(`data: ${JSON.stringify({ choices: [], usage })}\n\n`);
      res.end("data: [DONE]\n\n");
      return;
    }
    const text = "tok ".repeat(perChoice);
    const choice = kind === "chat" ? { message: { role: "assistant", content: text } } : { text };
    json(res, 200, {
      choices: Array.from({ length: choices }, (_, index) => ({ index, ...choice, finish_reason: "length" })),
      usage,
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    served,
    generationIds,
    calls,
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
