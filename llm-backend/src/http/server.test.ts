import { once } from "node:events";
import { connect } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatBody, MODEL_ID, metricValue, postJson, sseEvents, startTestServer, waitFor } from "../testing/helpers.js";
import type { RunningServer } from "./server.js";

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}
interface ChatCompletion {
  object: string;
  model: string;
  choices: { message: { role: string; content: string }; finish_reason: string }[];
  usage: Usage;
  timings: { prompt_n: number; predicted_n: number; predicted_per_second: number };
}
interface HealthBody {
  status: string;
  gpu: string;
  slots_idle: number;
  slots_total: number;
  busy_sequences: number;
  queue_depth: number;
  tokens_per_second: number;
}

const LONG_PROMPT = "Write a very long story about a dragon who lives in the mountains.";

let server: RunningServer;

beforeAll(async () => {
  server = await startTestServer({ parallel: 4, maxQueue: 2 }, false);
  // The server listens before the model is loaded and says so.
  const probe = (path: string) => fetch(`${server.url}${path}`);
  const [loading, notReady, live] = await Promise.all([probe("/health"), probe("/readyz"), probe("/healthz")]);
  expect(loading.status).toBe(503);
  expect(await loading.json()).toEqual({ status: "loading" });
  expect(notReady.status).toBe(503);
  // Alive while loading: a liveness probe must not restart a server that is still reading its model.
  expect(live.status).toBe(200);
  expect(await live.json()).toEqual({ status: "ok", phase: "loading" });
  await server.ready;
  expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

async function health(): Promise<HealthBody> {
  return (await (await fetch(`${server.url}/health`)).json()) as HealthBody;
}

describe("llm-backend on the default model (CPU)", () => {
  it("reports readiness, slots and the CPU backend in /health", async () => {
    const response = await fetch(`${server.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: "ok",
      model: MODEL_ID,
      gpu: "cpu",
      slots_idle: 4,
      slots_total: 4,
      busy_sequences: 0,
      queue_depth: 0,
    });
  });

  it("lists the model with its context size", async () => {
    const body = (await (await fetch(`${server.url}/v1/models`)).json()) as {
      data: { id: string; context_size: number }[];
    };
    expect(body.data).toEqual([expect.objectContaining({ id: MODEL_ID, context_size: 512 })]);
  });

  it("answers a non-streaming chat completion with exact usage and timings", async () => {
    const response = await postJson(server, "/v1/chat/completions", chatBody("Say hello.", { max_tokens: 12 }));
    expect(response.status).toBe(200);
    const body = (await response.json()) as ChatCompletion;
    expect(body.object).toBe("chat.completion");
    expect(body.model).toBe(MODEL_ID);
    const [choice] = body.choices;
    expect(choice?.message.role).toBe("assistant");
    expect(choice?.message.content.length).toBeGreaterThan(0);
    expect(["stop", "length"]).toContain(choice?.finish_reason);
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
    expect(body.usage.completion_tokens).toBeLessThanOrEqual(12);
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);
    expect(body.timings.predicted_n).toBe(body.usage.completion_tokens);
  });

  it("counts prompt tokens exactly as /tokenize and input_tokens do", async () => {
    const messages = [
      { role: "system", content: "You are terse." },
      { role: "user", content: "Name three colours." },
    ];
    const tokenized = (await (await postJson(server, "/tokenize", { messages })).json()) as {
      count: number;
      tokens: number[];
    };
    const counted = (await (
      await postJson(server, "/v1/chat/completions/input_tokens", { model: MODEL_ID, messages })
    ).json()) as { input_tokens: number };
    const completion = (await (
      await postJson(server, "/v1/chat/completions", { model: MODEL_ID, messages, max_tokens: 4 })
    ).json()) as ChatCompletion;
    expect(tokenized.tokens).toHaveLength(tokenized.count);
    expect(counted.input_tokens).toBe(tokenized.count);
    expect(completion.usage.prompt_tokens).toBe(tokenized.count);

    const prompt = "The capital of France is";
    const raw = (await (await postJson(server, "/tokenize", { content: prompt, add_special: true })).json()) as {
      count: number;
    };
    const text = (await (
      await postJson(server, "/v1/completions", { model: MODEL_ID, prompt, max_tokens: 4, temperature: 0 })
    ).json()) as { object: string; choices: { text: string; finish_reason: string }[]; usage: Usage };
    expect(text.object).toBe("text_completion");
    expect(text.usage.prompt_tokens).toBe(raw.count);
    expect(text.usage.completion_tokens).toBe(4);
    expect(text.choices[0]?.finish_reason).toBe("length");
  });

  it("streams SSE chunks, then a usage chunk with no choices, then [DONE]", async () => {
    const response = await postJson(
      server,
      "/v1/chat/completions",
      chatBody("Count from one to ten.", { max_tokens: 10, stream: true, stream_options: { include_usage: true } }),
    );
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const events: unknown[] = [];
    for await (const event of sseEvents(response)) events.push(event);
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1) as {
      object: string;
      choices: { delta: { content?: string }; finish_reason: string | null }[];
      usage?: Usage | null;
    }[];
    const usageChunk = chunks.at(-1);
    expect(usageChunk?.choices).toEqual([]);
    expect(usageChunk?.usage?.completion_tokens).toBe(10);
    expect(usageChunk?.usage?.total_tokens).toBe((usageChunk?.usage?.prompt_tokens ?? 0) + 10);
    const finishChunk = chunks.at(-2);
    expect(finishChunk?.choices[0]?.finish_reason).toBe("length");
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("");
    expect(text.length).toBeGreaterThan(0);
    expect(chunks.every((chunk) => chunk.object === "chat.completion.chunk")).toBe(true);
  });

  it("stops on a stop sequence with finish_reason stop", async () => {
    const response = await postJson(
      server,
      "/v1/chat/completions",
      chatBody("Count from one to ten, separated by commas.", { max_tokens: 40, stop: [","] }),
    );
    const body = (await response.json()) as ChatCompletion;
    expect(body.choices[0]?.finish_reason).toBe("stop");
    expect(body.choices[0]?.message.content).not.toContain(",");
  });

  it("enforces a json_schema response format with the grammar", async () => {
    const schema = {
      type: "object",
      properties: {
        name: { type: "string", maxLength: 20 },
        age: { type: "integer" },
        city: { enum: ["Paris", "Rome"] },
      },
      required: ["name", "age", "city"],
      additionalProperties: false,
    };
    const response = await postJson(
      server,
      "/v1/chat/completions",
      chatBody("Describe a person as JSON with a name, an age and a city.", {
        max_tokens: 60,
        response_format: { type: "json_schema", json_schema: { name: "person", schema, strict: true } },
      }),
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as ChatCompletion;
    expect(body.choices[0]?.finish_reason).toBe("stop");
    const parsed = JSON.parse(body.choices[0]?.message.content ?? "") as Record<string, unknown>;
    expect(Object.keys(parsed).sort()).toEqual(["age", "city", "name"]);
    expect(typeof parsed.name).toBe("string");
    expect(Number.isInteger(parsed.age)).toBe(true);
    expect(["Paris", "Rome"]).toContain(parsed.city);
  });

  it("rejects prompt + max_tokens beyond the context instead of shifting it", async () => {
    const prompt = "word ".repeat(400);
    const response = await postJson(server, "/v1/chat/completions", chatBody(prompt, { max_tokens: 200 }));
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; param: string } };
    expect(body.error).toMatchObject({ code: "context_length_exceeded", param: "max_tokens" });
    expect(await metricValue(server, `llm:request_errors_context_length_total{model="${MODEL_ID}"}`)).toBeGreaterThan(
      0,
    );
  });

  it("answers 503 with Retry-After when every sequence is busy and the queue is full", async () => {
    const controllers: AbortController[] = [];
    const open = (content: string) => {
      const controller = new AbortController();
      controllers.push(controller);
      return postJson(server, "/v1/chat/completions", chatBody(content, { max_tokens: 300, stream: true }), {
        signal: controller.signal,
      });
    };
    try {
      // Four streams hold the four sequences (headers arrive only once a sequence is held)...
      const running = await Promise.all([1, 2, 3, 4].map((n) => open(`${LONG_PROMPT} Part ${n}.`)));
      expect(running.map((response) => response.status)).toEqual([200, 200, 200, 200]);
      // ...two more wait in the queue (maxQueue 2)...
      const queued = [open("Queued one."), open("Queued two.")];
      for (const pending of queued) pending.catch(() => {});
      await waitFor(async () => (await health()).queue_depth === 2);
      expect(await health()).toMatchObject({ busy_sequences: 4, slots_idle: 0, queue_depth: 2 });
      // ...and the next is turned away at once.
      const rejected = await postJson(server, "/v1/chat/completions", chatBody("One too many.", { max_tokens: 5 }));
      expect(rejected.status).toBe(503);
      expect(rejected.headers.get("retry-after")).toBe("1");
      const body = (await rejected.json()) as { error: { code: string; type: string } };
      expect(body.error).toMatchObject({ code: "queue_full", type: "service_unavailable_error" });
      expect(await metricValue(server, `llm:request_errors_queue_full_total{model="${MODEL_ID}"}`)).toBe(1);
      expect(await metricValue(server, `llm:num_requests_waiting{model="${MODEL_ID}"}`)).toBe(2);
      expect(await metricValue(server, `llm:num_requests_running{model="${MODEL_ID}"}`)).toBe(4);
    } finally {
      for (const controller of controllers) controller.abort();
    }
    await waitFor(async () => {
      const state = await health();
      return state.busy_sequences === 0 && state.queue_depth === 0;
    });
  });

  it("stops generating when the client aborts mid-stream and counts only generated tokens", async () => {
    const abortSeries = `llm:request_success_total{model="${MODEL_ID}",finish_reason="abort"}`;
    const tokensSeries = `llm:generation_tokens_total{model="${MODEL_ID}"}`;
    const abortsBefore = await metricValue(server, abortSeries);
    const tokensBefore = await metricValue(server, tokensSeries);

    const controller = new AbortController();
    const maxTokens = 400;
    const response = await postJson(
      server,
      "/v1/chat/completions",
      chatBody(LONG_PROMPT, { max_tokens: maxTokens, stream: true, stream_options: { include_usage: true } }),
      { signal: controller.signal },
    );
    let contentChunks = 0;
    try {
      for await (const event of sseEvents(response)) {
        const chunk = event as { choices?: { delta?: { content?: string } }[] };
        if (chunk.choices?.[0]?.delta?.content) contentChunks++;
        if (contentChunks >= 3) controller.abort();
      }
    } catch (error) {
      expect((error as Error).name).toBe("AbortError");
    }
    expect(contentChunks).toBe(3);

    await waitFor(async () => (await metricValue(server, abortSeries)) === abortsBefore + 1);
    const generated = (await metricValue(server, tokensSeries)) - tokensBefore;
    expect(generated).toBeGreaterThanOrEqual(3);
    expect(generated).toBeLessThan(maxTokens / 2);
    expect((await health()).busy_sequences).toBe(0);
    // Nothing keeps generating after the abort.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await metricValue(server, tokensSeries)) - tokensBefore).toBe(generated);
  });

  it("keeps an idle keep-alive connection past Node's 5 s default, so a pooled client's next request is not reset", async () => {
    const socket = connect(server.port, "127.0.0.1");
    await once(socket, "connect");
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
    });
    const ask = async () => {
      const before = (received.match(/HTTP\/1\.1 200/g) ?? []).length;
      socket.write("GET /healthz HTTP/1.1\r\nHost: backend\r\nConnection: keep-alive\r\n\r\n");
      await waitFor(async () => (received.match(/HTTP\/1\.1 200/g) ?? []).length > before);
    };
    await ask();
    expect(received).toMatch(/Keep-Alive: timeout=65/i);
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    expect(socket.readyState).toBe("open");
    await ask();
    socket.destroy();
  });

  it("exposes vLLM-style metrics with only model and finish_reason labels", async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    for (const name of [
      "llm:num_requests_running",
      "llm:num_requests_waiting",
      "llm:prompt_tokens_total",
      "llm:generation_tokens_total",
      "llm:time_to_first_token_seconds_bucket",
      "llm:inter_token_latency_seconds_bucket",
      "llm:e2e_request_latency_seconds_bucket",
      "llm:request_queue_time_seconds_bucket",
      "llm:request_success_total",
      "llm:request_errors_invalid_request_total",
    ]) {
      expect(text).toContain(name);
    }
    const labelNames = new Set(
      [...text.matchAll(/\{([^}]*)\}/g)].flatMap((match) =>
        (match[1] ?? "").split(",").map((pair) => pair.split("=")[0]),
      ),
    );
    labelNames.delete("le");
    expect([...labelNames].sort()).toEqual(["finish_reason", "model"]);
    expect(
      await metricValue(server, `llm:request_success_total{model="${MODEL_ID}",finish_reason="length"}`),
    ).toBeGreaterThan(0);
  });
});

// Each test starts its own server, so which slots hold a conversation is known. Throughput of parallel against single
// streams is a benchmark (npm run bench:llm), not a test: here we prove the behaviour.
// Several streams decode at once here, which a CPU shared with other work slows many times over: each test stops its
// streams once what it proves is seen, instead of decoding them to the end.
describe("llm-backend with several requests in flight", () => {
  let fresh: RunningServer;

  beforeEach(async () => {
    fresh = await startTestServer({ parallel: 6, maxQueue: 2 });
  });

  afterEach(async () => {
    await fresh?.close();
  });

  const busySequences = async () => ((await (await fetch(`${fresh.url}/health`)).json()) as HealthBody).busy_sequences;

  /**
   * Streams a completion, recording the index of the stream on `arrivals` (and calling `onChunk`) for every content
   * chunk. Returns its finish_reason, or null when `signal` stopped it first.
   */
  async function stream(
    content: string,
    index: number,
    arrivals: number[],
    maxTokens: number,
    signal?: AbortSignal,
    onChunk?: () => void,
  ): Promise<string | null> {
    let finishReason: string | null = null;
    try {
      const response = await postJson(
        fresh,
        "/v1/chat/completions",
        chatBody(content, { max_tokens: maxTokens, stream: true }),
        { signal },
      );
      for await (const event of sseEvents(response)) {
        if (event === "[DONE]") continue;
        const choice = (event as { choices: { delta: { content?: string }; finish_reason: string | null }[] })
          .choices[0];
        if (choice?.delta.content) {
          arrivals.push(index);
          onChunk?.();
        }
        finishReason = choice?.finish_reason ?? finishReason;
      }
    } catch (error) {
      if (!signal?.aborted) throw error;
    }
    return finishReason;
  }

  const FOUR_PROMPTS = [
    LONG_PROMPT,
    "Write a long poem about the sea.",
    "Explain in detail how rain forms.",
    "Tell a long story about a robot.",
  ];

  it("decodes four requests together: their streams interleave", async () => {
    // Served one after another, a stream's first token would come after the previous stream's last one. Together,
    // every stream sends a token after the last stream's first: the streams are stopped as soon as that is seen, so
    // the test decodes a few tokens however slow the machine; 40 tokens only bound how long serving them one after
    // another would take to fail.
    const arrivals: number[] = [];
    const interleaved = () => {
      const firstTokenAt = FOUR_PROMPTS.map((_, index) => arrivals.indexOf(index));
      const lastTokenAt = FOUR_PROMPTS.map((_, index) => arrivals.lastIndexOf(index));
      return Math.min(...firstTokenAt) >= 0 && Math.max(...firstTokenAt) < Math.min(...lastTokenAt);
    };
    const stopStreams = new AbortController();
    let markSeen = () => {};
    const seen = new Promise<void>((resolve) => {
      markSeen = resolve;
    });
    const inFlight = Promise.all(
      FOUR_PROMPTS.map((prompt, index) =>
        stream(prompt, index, arrivals, 40, stopStreams.signal, () => {
          if (interleaved()) markSeen();
        }),
      ),
    );
    let busyDuringRun = 0;
    await waitFor(async () => {
      busyDuringRun = Math.max(busyDuringRun, await busySequences());
      return busyDuringRun === 4;
    });
    await Promise.race([seen, inFlight]);
    stopStreams.abort();
    await inFlight;
    // Recent throughput, which load-based pricing reads.
    const health = (await (await fetch(`${fresh.url}/health`)).json()) as HealthBody;
    expect(health.tokens_per_second).toBeGreaterThan(0);
    expect(interleaved()).toBe(true);
  });

  it("gives requests that arrive during decoding clean slots, so they are not held until the others end", async () => {
    // Three overlapping requests land on three empty slots and leave their conversations there; three stay empty.
    const warmUp = FOUR_PROMPTS.slice(0, 3).map((prompt) =>
      postJson(fresh, "/v1/chat/completions", chatBody(prompt, { max_tokens: 8 })),
    );
    await waitFor(async () => (await busySequences()) === 3);
    expect((await Promise.all(warmUp)).map((response) => response.status)).toEqual([200, 200, 200]);

    // The first stream, alone, takes over a held slot and erases it at once; the next two, arriving while it
    // decodes, take empty ones. The streams are stopped as soon as the late request below is answered, so the test
    // decodes a few tokens however slow the machine; 60 tokens (which they reach without an end of text) only bound
    // how long a broken slot choice keeps the late request waiting.
    const maxTokens = 60;
    const arrivals: number[] = [];
    const stopStreams = new AbortController();
    const streams: Promise<string | null>[] = [];
    for (const [index, prompt] of FOUR_PROMPTS.slice(0, 3).entries()) {
      const firstChunk = new Promise<void>((resolve) => {
        streams.push(stream(`${prompt} Go on.`, index, arrivals, maxTokens, stopStreams.signal, resolve));
      });
      await Promise.race([firstChunk, streams[index]]);
    }

    // Two held slots and one empty one are left: the late request must take the empty one.
    const response = await postJson(fresh, "/v1/chat/completions", chatBody("Say hi.", { max_tokens: 3 }));
    const late = (await response.json()) as ChatCompletion & { timings: { cache_n: number } };
    stopStreams.abort();
    // Each request was answered while every earlier stream was still going (no finish_reason yet): none waited for
    // another to end.
    expect(await Promise.all(streams)).toEqual([null, null, null]);
    expect(late.usage.completion_tokens).toBe(3);
    expect(late.timings.cache_n).toBe(0);
    expect(arrivals.indexOf(1)).toBeGreaterThan(arrivals.indexOf(0));
    expect(arrivals.indexOf(2)).toBeGreaterThan(arrivals.indexOf(1));
  });
});
