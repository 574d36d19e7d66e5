import { type Dispatcher, request } from "undici";
import { z } from "zod";
import type { PricingConfig } from "../config/pricing-schema.js";
import { profileOf, type UpstreamKind } from "./kinds.js";
import { chatPromptBound, textPromptBound, UnboundedPromptError } from "./prompt-bound.js";
import { upstreamUrl } from "./url.js";

const chatCountSchema = z.looseObject({ input_tokens: z.number().int().min(0) });
const tokenizeSchema = z.looseObject({ tokens: z.array(z.unknown()) });
/** vLLM's /tokenize answer: `count` (and the tokens themselves). */
const vllmTokenizeSchema = z.looseObject({ count: z.number().int().min(0) });
/** llama.cpp's /apply-template answer: the prompt the chat template renders. */
const appliedTemplateSchema = z.looseObject({ prompt: z.string() });

/** llama.cpp's server renders a chat body's prompt here (same body as /v1/chat/completions). */
export const LLAMA_CPP_APPLY_TEMPLATE_PATH = "/apply-template";

/** Fields of a chat request that vLLM's chat template reads: what its /tokenize must see to count the same prompt. */
const VLLM_TEMPLATE_FIELDS = [
  "model",
  "messages",
  "tools",
  "add_generation_prompt",
  "continue_final_message",
  "add_special_tokens",
  "chat_template",
  "chat_template_kwargs",
  "documents",
] as const;

/** Where a service's upstream counts tokens (its tokenizer endpoints) and how long to wait for an answer. */
export type TokenCountingConfig = PricingConfig["tokenCounting"];

/**
 * Whose failure a count is: `client` (the upstream refused the request itself: bad messages, content that cannot
 * be priced), `operator` (the upstream lacks the endpoint its kind should have, or answers another shape: the
 * service's upstreamKind does not fit what runs there), or `unavailable` (down, slow, failing).
 */
export type CountBlame = "client" | "operator" | "unavailable";

export class TokenCountError extends Error {
  override readonly name = "TokenCountError";
  constructor(
    message: string,
    readonly blame: CountBlame = "unavailable",
  ) {
    super(message);
  }

  /** True when the upstream refused the request itself (bad messages): the client's fault. */
  get refusedByUpstream(): boolean {
    return this.blame === "client";
  }
}

/**
 * llama.cpp's server (cpp-httplib) holds one of its few HTTP threads per open connection, and a thread on an idle
 * kept-alive connection wakes every 10 ms until the keep-alive timeout (5 s). A count's connection left open
 * slowed the decode that followed on a 2-core machine (bench:llm-gateway), so it is closed once answered.
 */
const CLOSE_AFTER_COUNT = { "content-type": "application/json", connection: "close" };

/** Statuses that say the endpoint is not there (a set-up that does not match the kind), not that the body is bad. */
const MISSING_ENDPOINT = new Set([404, 405, 501]);

/** Where a counter finds a live upstream of its service, and reports one that did not answer: the service's pool. */
export interface UpstreamChoice {
  /** A live upstream not in `exclude`; undefined when every upstream is excluded. */
  pick(exclude?: ReadonlySet<string>): string | undefined;
  reportFailure(url: string, reason: string): void;
}

/**
 * Counts tokens exactly with the upstream's own tokenizer, so quotes match what the model will see. With a pool, a
 * tokenizer that does not answer (down, or past the timeout) counts toward its upstream's ejection and the count is
 * asked once more of another upstream, as the forward stage retries a request: a dying upstream does not make
 * requests unpriceable while the others serve.
 */
export class TokenCounter {
  /**
   * @param upstream the upstream's URL, or the pool to choose a live one from on each count.
   * @param kind which server that is, and so which endpoints count (see kinds.ts).
   */
  constructor(
    private readonly upstream: string | UpstreamChoice,
    readonly config: TokenCountingConfig,
    readonly kind: UpstreamKind = "l402-llm-backend",
  ) {}

  /** Whether prompt counts are exact (the upstream's tokenizer) or an upper bound (see prompt-bound.ts). */
  get exact(): boolean {
    return profileOf(this.kind).counting !== "bound";
  }

  private async post(path: string, body: unknown): Promise<unknown> {
    const pool = typeof this.upstream === "string" ? undefined : this.upstream;
    const tried = new Set<string>();
    let response: Dispatcher.ResponseData;
    for (;;) {
      const upstream = pool ? pool.pick(tried) : (this.upstream as string);
      if (upstream === undefined) throw new TokenCountError("the service has no upstream to count tokens with");
      tried.add(upstream);
      try {
        // undici's request, not fetch: half a millisecond less per count, before the first token of every metered call.
        response = await request(upstreamUrl(upstream, path), {
          method: "POST",
          headers: this.kind === "llama.cpp" ? CLOSE_AFTER_COUNT : { "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(this.config.timeoutMs),
        });
        break;
      } catch (error) {
        pool?.reportFailure(upstream, "token_count_failed");
        if (pool && tried.size === 1 && pool.pick(tried) !== undefined) continue;
        throw new TokenCountError(`the upstream's token counter did not answer: ${(error as Error).message}`);
      }
    }
    const text = await response.body.text();
    const status = response.statusCode;
    if (MISSING_ENDPOINT.has(status)) {
      throw new TokenCountError(
        `the ${this.kind} upstream has no token counting endpoint at POST ${path} (${status}); the ` +
          "service's upstreamKind may not match the server that runs there",
        "operator",
      );
    }
    if (status < 200 || status > 299) {
      throw new TokenCountError(
        `the upstream refused to count this request's tokens (${status}): ${text.slice(0, 300)}`,
        status >= 400 && status < 500 ? "client" : "unavailable",
      );
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new TokenCountError(`the upstream's POST ${path} answered something other than JSON`, "operator");
    }
  }

  /** The answer of `path`, read as `schema`; another shape is a set-up that does not match the kind. */
  private async ask<T>(path: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
    const parsed = schema.safeParse(await this.post(path, body));
    if (!parsed.success) {
      throw new TokenCountError(
        `the upstream's POST ${path} did not answer as a ${this.kind} server does; check the service's upstreamKind`,
        "operator",
      );
    }
    return parsed.data;
  }

  /** Prompt tokens of a chat request after the chat template: exact, or the bound of a kind with no tokenizer. */
  async chatPromptTokens(body: Record<string, unknown>): Promise<number> {
    switch (profileOf(this.kind).counting) {
      case "backend":
        return (await this.ask(this.config.chatPath, body, chatCountSchema)).input_tokens;
      case "llama.cpp": {
        const { prompt } = await this.ask(LLAMA_CPP_APPLY_TEMPLATE_PATH, body, appliedTemplateSchema);
        // The server tokenizes a rendered chat prompt with the model's special tokens, parsing those in the text.
        const request = { content: prompt, add_special: true, parse_special: true };
        return (await this.ask(this.config.tokenizePath, request, tokenizeSchema)).tokens.length;
      }
      case "vllm": {
        const request = Object.fromEntries(VLLM_TEMPLATE_FIELDS.filter((f) => f in body).map((f) => [f, body[f]]));
        return (await this.ask(this.config.tokenizePath, request, vllmTokenizeSchema)).count;
      }
      case "bound":
        return this.bounded(() => chatPromptBound(body, this.config.promptBound));
    }
  }

  /** Prompt tokens of a completion request, with the model's special tokens as the server adds them. */
  async completionPromptTokens(prompt: string, model: string | undefined): Promise<number> {
    if (profileOf(this.kind).counting === "bound") return textPromptBound(prompt, this.config.promptBound);
    return this.textTokens(prompt, true, model);
  }

  /**
   * Completion tokens of the text a stream delivered before it was cut short: the upstream's tokenizer where it has
   * one, else (and when it no longer answers) the text events delivered, one or more tokens each on these servers,
   * never more than max_tokens: the count never exceeds what was generated.
   */
  async deliveredTokens(text: string, chunks: number, maxTokens: number): Promise<number> {
    if (text === "") return 0;
    if (this.exact) {
      try {
        return await this.textTokens(text, false);
      } catch {
        // The tokenizer died with the upstream: fall through to the events counted.
      }
    }
    return Math.min(chunks, maxTokens);
  }

  /** Tokens of a text (with the model's special tokens when `addSpecial`, as a completion prompt gets them). */
  async textTokens(content: string, addSpecial: boolean, model?: string): Promise<number> {
    if (content === "" && !addSpecial) return 0;
    const counting = profileOf(this.kind).counting;
    if (counting === "bound") throw new TokenCountError(`a ${this.kind} upstream has no tokenizer`, "operator");
    if (counting === "vllm") {
      const request = { ...(model === undefined ? {} : { model }), prompt: content, add_special_tokens: addSpecial };
      return (await this.ask(this.config.tokenizePath, request, vllmTokenizeSchema)).count;
    }
    const request = { content, add_special: addSpecial };
    return (await this.ask(this.config.tokenizePath, request, tokenizeSchema)).tokens.length;
  }

  private bounded(bound: () => number): number {
    try {
      return bound();
    } catch (error) {
      if (error instanceof UnboundedPromptError) throw new TokenCountError(error.message, "client");
      throw error;
    }
  }
}

/**
 * The token counters of the metered services, for pricing (prompt tokens) and metering (a stream cut short): one per
 * service, on a live upstream of its pool, replaced when the service's counting settings change.
 */
export class TokenCounters {
  private readonly counters = new Map<string, TokenCounter>();

  /**
   * @param poolOf a service's upstreams (its pool), or its one upstream's URL.
   * @param settingsOf the service's token counting settings now (undefined for a service that is not metered).
   * @param kindOf the kind of server the service's upstreams are.
   */
  constructor(
    private readonly poolOf: (service: string) => UpstreamChoice | string,
    private readonly settingsOf: (service: string) => TokenCountingConfig | undefined,
    private readonly kindOf: (service: string) => UpstreamKind = () => "l402-llm-backend",
  ) {}

  of(service: string): TokenCounter {
    const settings = this.settingsOf(service);
    if (!settings) throw new Error(`service ${service} is not metered`);
    let counter = this.counters.get(service);
    if (counter?.config !== settings) {
      counter = new TokenCounter(this.poolOf(service), settings, this.kindOf(service));
      this.counters.set(service, counter);
    }
    return counter;
  }
}
