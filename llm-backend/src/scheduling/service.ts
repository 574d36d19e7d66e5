import type { ChatHistoryItem, LlamaGrammar, Token } from "node-llama-cpp";
import type { z } from "zod";
import { ApiError, fromZodError, invalidRequest } from "../api/api-error.js";
import {
  type ChatMessage,
  chatCompletionRequestSchema,
  completionRequestSchema,
  type ResponseFormat,
  tokenizeRequestSchema,
} from "../api/api-schema.js";
import type { Config } from "../config.js";
import {
  chatPromptTokens,
  completionPromptTokens,
  createSlots,
  type GenerationInput,
  type GenerationResult,
  generate,
  type SamplingParams,
  type Slot,
  slotPreference,
} from "../inference/inference.js";
import type { LoadedModel } from "../inference/model.js";
import { DEFAULT_MODEL_NAME, namesServedModel, shortModelName } from "../inference/model-names.js";
import { BackendMetrics, ThroughputMeter } from "../metrics.js";
import { AbortedWhileQueuedError, QueueFullError, SlotPool } from "./slot-pool.js";

/** A validated request, already tokenized and checked against the context, ready to wait for a slot. */
export interface PreparedJob {
  input: GenerationInput;
  params: SamplingParams;
  stream: boolean;
  includeUsage: boolean;
  arrivedAt: number;
}

export interface HealthReport {
  status: "ok";
  model: string;
  gpu: string;
  threads: number;
  slots_idle: number;
  slots_total: number;
  busy_sequences: number;
  queue_depth: number;
  max_queue: number;
  context_size: number;
  tokens_per_second: number;
}

const GRAMMAR_CACHE_LIMIT = 64;

function messageText(message: ChatMessage): string {
  const { content } = message;
  if (content == null) return "";
  if (typeof content === "string") return content;
  return content.map((part) => part.text).join("");
}

/** OpenAI messages → node-llama-cpp history; a trailing assistant message is continued, otherwise a new reply starts. */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((message): ChatHistoryItem => {
    const text = messageText(message);
    switch (message.role) {
      case "system":
      case "developer":
        return { type: "system", text };
      case "user":
        return { type: "user", text };
      default:
        return { type: "model", response: [text] };
    }
  });
  if (history.at(-1)?.type !== "model") history.push({ type: "model", response: [] });
  return history;
}

function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (body === undefined || body === null || typeof body !== "object" || Array.isArray(body)) {
    throw invalidRequest("The request body must be a JSON object.", null, "invalid_request_body");
  }
  const result = schema.safeParse(body);
  if (!result.success) throw fromZodError(result.error);
  return result.data;
}

function normaliseStop(stop: string | string[] | null | undefined): string[] {
  if (stop == null) return [];
  return (Array.isArray(stop) ? stop : [stop]).filter((value) => value.length > 0);
}

export class LlmService {
  readonly metrics: BackendMetrics;
  readonly #pool: SlotPool<Slot>;
  readonly #throughput = new ThroughputMeter();
  readonly #grammars = new Map<string, Promise<LlamaGrammar>>();
  readonly #chatWrapper: Slot["chat"]["chatWrapper"];

  constructor(
    readonly loaded: LoadedModel,
    private readonly config: Config,
  ) {
    const slots = createSlots(loaded);
    const first = slots[0];
    if (!first) throw new Error("the context has no sequences");
    this.#chatWrapper = first.chat.chatWrapper;
    this.#pool = new SlotPool(slots, config.maxQueue);
    this.metrics = new BackendMetrics(loaded.modelId, () => ({
      running: this.#pool.busy,
      waiting: this.#pool.queueDepth,
      totalSequences: this.#pool.total,
      tokensPerSecond: this.#throughput.tokensPerSecond(),
    }));
  }

  get modelId(): string {
    return this.loaded.modelId;
  }

  get contextSize(): number {
    return this.loaded.context.contextSize;
  }

  health(): HealthReport {
    return {
      status: "ok",
      model: this.modelId,
      gpu: this.loaded.gpu,
      threads: this.loaded.threads,
      slots_idle: this.#pool.idle,
      slots_total: this.#pool.total,
      busy_sequences: this.#pool.busy,
      queue_depth: this.#pool.queueDepth,
      max_queue: this.config.maxQueue,
      context_size: this.contextSize,
      tokens_per_second: Math.round(this.#throughput.tokensPerSecond() * 10) / 10,
    };
  }

  #checkModel(model: string | undefined): void {
    if (model !== undefined && !namesServedModel(model, this.modelId)) {
      throw invalidRequest(
        `The model '${model}' does not exist; this server serves '${this.modelId}' (also called '${shortModelName(this.modelId)}' or '${DEFAULT_MODEL_NAME}').`,
        "model",
        "model_not_found",
      );
    }
  }

  #resolveMaxTokens(requested: number | null | undefined, fallback: number, promptTokens: number, param: string) {
    if (requested != null && requested > this.contextSize) {
      throw invalidRequest(
        `'${param}' is ${requested}, above this model's limit of ${this.contextSize} tokens (the context size).`,
        param,
        "invalid_value",
      );
    }
    const maxTokens = requested ?? Math.min(fallback, this.contextSize - promptTokens);
    // Rejected rather than context-shifted: billing must match the text the model actually saw.
    if (maxTokens < 1 || promptTokens + maxTokens > this.contextSize) {
      throw invalidRequest(
        `This model's context is ${this.contextSize} tokens per request, but ${promptTokens} prompt tokens plus ${maxTokens} for the completion were requested. Shorten the prompt or lower '${param}'.`,
        requested == null ? "messages" : param,
        "context_length_exceeded",
      );
    }
    return maxTokens;
  }

  async #grammarFor(format: ResponseFormat | null | undefined): Promise<LlamaGrammar | undefined> {
    if (!format || format.type === "text") return undefined;
    if (format.type === "json_object") return this.loaded.llama.getGrammarFor("json");
    const key = JSON.stringify(format.json_schema.schema);
    let grammar = this.#grammars.get(key);
    if (!grammar) {
      grammar = this.loaded.llama.createGrammarForJsonSchema(
        format.json_schema.schema as never,
      ) as Promise<LlamaGrammar>;
      if (this.#grammars.size >= GRAMMAR_CACHE_LIMIT) {
        const oldest = this.#grammars.keys().next();
        if (!oldest.done) this.#grammars.delete(oldest.value);
      }
      this.#grammars.set(key, grammar);
    }
    try {
      return await grammar;
    } catch (error) {
      this.#grammars.delete(key);
      throw invalidRequest(
        `Unsupported JSON schema in response_format: ${error instanceof Error ? error.message : String(error)}`,
        "response_format.json_schema.schema",
        "invalid_json_schema",
      );
    }
  }

  chatPromptTokens(messages: readonly ChatMessage[]): Token[] {
    return chatPromptTokens(this.loaded, this.#chatWrapper, toChatHistory(messages));
  }

  countChatInputTokens(body: unknown): number {
    const request = parseBody(chatCompletionRequestSchema, body);
    this.#checkModel(request.model);
    return this.chatPromptTokens(request.messages).length;
  }

  tokenize(body: unknown): Token[] {
    const request = parseBody(tokenizeRequestSchema, body);
    this.#checkModel(request.model);
    if (request.messages) return this.chatPromptTokens(request.messages);
    const content = request.content ?? "";
    return request.add_special ? completionPromptTokens(this.loaded, content) : this.loaded.model.tokenize(content);
  }

  async prepareChat(body: unknown): Promise<PreparedJob> {
    const arrivedAt = performance.now();
    const request = parseBody(chatCompletionRequestSchema, body);
    this.#checkModel(request.model);
    const history = toChatHistory(request.messages);
    const promptTokens = chatPromptTokens(this.loaded, this.#chatWrapper, history);
    const maxParam = request.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens";
    const maxTokens = this.#resolveMaxTokens(
      request.max_completion_tokens ?? request.max_tokens,
      this.contextSize,
      promptTokens.length,
      maxParam,
    );
    return {
      input: { kind: "chat", history, promptTokens },
      params: { ...this.#sampling(request, maxTokens), grammar: await this.#grammarFor(request.response_format) },
      stream: request.stream === true,
      includeUsage: request.stream_options?.include_usage === true,
      arrivedAt,
    };
  }

  prepareCompletion(body: unknown): PreparedJob {
    const arrivedAt = performance.now();
    const request = parseBody(completionRequestSchema, body);
    this.#checkModel(request.model);
    const prompt = typeof request.prompt === "string" ? request.prompt : (request.prompt[0] ?? "");
    const promptTokens = completionPromptTokens(this.loaded, prompt);
    // OpenAI's legacy completions default to 16 tokens.
    const maxTokens = this.#resolveMaxTokens(request.max_tokens, 16, promptTokens.length, "max_tokens");
    return {
      input: { kind: "completion", prompt, promptTokens },
      params: this.#sampling(request, maxTokens),
      stream: request.stream === true,
      includeUsage: request.stream_options?.include_usage === true,
      arrivedAt,
    };
  }

  #sampling(
    request: {
      temperature?: number | null;
      top_p?: number | null;
      top_k?: number | null;
      seed?: number | null;
      frequency_penalty?: number | null;
      presence_penalty?: number | null;
      stop?: string | string[] | null;
    },
    maxTokens: number,
  ): SamplingParams {
    return {
      maxTokens,
      temperature: request.temperature ?? undefined,
      topP: request.top_p ?? undefined,
      topK: request.top_k ?? undefined,
      seed: request.seed ?? undefined,
      frequencyPenalty: request.frequency_penalty ?? undefined,
      presencePenalty: request.presence_penalty ?? undefined,
      stop: normaliseStop(request.stop),
    };
  }

  /**
   * Waits for a slot (FIFO), then generates. `onAdmitted` runs once a slot is held, before the first token,
   * so a streaming response can send its headers only when it is no longer at risk of a 503.
   */
  async run(
    job: PreparedJob,
    signal: AbortSignal,
    onText?: (text: string) => void,
    onAdmitted?: () => void,
  ): Promise<GenerationResult> {
    const labels = { model: this.modelId };
    let slot: Slot;
    try {
      const busySlots = this.#pool.busy;
      slot = await this.#pool.acquire(signal, (candidate) =>
        slotPreference(candidate, job.input.promptTokens, busySlots),
      );
    } catch (error) {
      if (error instanceof QueueFullError) {
        this.metrics.countError("queue_full");
        throw new ApiError(
          503,
          `The server is at capacity: ${this.#pool.total} sequences busy and ${error.queueDepth} requests queued. Retry later.`,
          "service_unavailable_error",
          null,
          "queue_full",
          { "Retry-After": String(this.config.retryAfterSeconds) },
        );
      }
      if (error instanceof AbortedWhileQueuedError)
        this.metrics.requestSuccess.inc({ ...labels, finish_reason: "abort" });
      throw error;
    }
    try {
      const admittedAt = performance.now();
      this.metrics.queueTime.observe(labels, (admittedAt - job.arrivedAt) / 1000);
      this.metrics.promptTokens.inc(labels, job.input.promptTokens.length);
      onAdmitted?.();
      const result = await generate(slot, job.input, job.params, {
        signal,
        onText,
        onTokens: (count) => this.#throughput.record(count),
      });
      this.metrics.generationTokens.inc(labels, result.completionTokens);
      if (result.timeToFirstTokenSeconds !== null) {
        this.metrics.timeToFirstToken.observe(labels, result.timeToFirstTokenSeconds);
      }
      for (const seconds of result.interTokenSeconds) this.metrics.interTokenLatency.observe(labels, seconds);
      this.metrics.e2eLatency.observe(labels, (performance.now() - job.arrivedAt) / 1000);
      this.metrics.requestSuccess.inc({ ...labels, finish_reason: result.finishReason });
      return result;
    } catch (error) {
      this.metrics.countError("internal");
      throw error;
    } finally {
      this.#pool.release(slot);
    }
  }

  /** Rejects queued requests and waits (bounded) for running generations, which the caller has aborted, to end. */
  async shutdown(timeoutMs = 5000): Promise<void> {
    this.#pool.rejectWaiters(new ApiError(503, "The server is shutting down.", "service_unavailable_error"));
    const deadline = performance.now() + timeoutMs;
    while (this.#pool.busy > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
