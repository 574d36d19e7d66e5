import { z } from "zod";
import type { PricingConfig } from "../config/pricing-schema.js";
import { upstreamUrl } from "./url.js";

const chatCountSchema = z.looseObject({ input_tokens: z.number().int().min(0) });
const tokenizeSchema = z.looseObject({ tokens: z.array(z.unknown()) });

/** Where a service's upstream counts tokens (its tokenizer endpoints) and how long to wait for an answer. */
export type TokenCountingConfig = PricingConfig["tokenCounting"];

export class TokenCountError extends Error {
  override readonly name = "TokenCountError";
  /** True when the upstream refused the request itself (unknown model, bad messages): the client's fault. */
  constructor(
    message: string,
    readonly refusedByUpstream = false,
  ) {
    super(message);
  }
}

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
  /** @param upstream the upstream's URL, or the pool to choose a live one from on each count. */
  constructor(
    private readonly upstream: string | UpstreamChoice,
    readonly config: TokenCountingConfig,
  ) {}

  private async post(path: string, body: unknown): Promise<unknown> {
    const pool = typeof this.upstream === "string" ? undefined : this.upstream;
    const tried = new Set<string>();
    let response: Response;
    for (;;) {
      const upstream = pool ? pool.pick(tried) : (this.upstream as string);
      if (upstream === undefined) throw new TokenCountError("the service has no upstream to count tokens with");
      tried.add(upstream);
      try {
        response = await fetch(upstreamUrl(upstream, path), {
          method: "POST",
          headers: { "content-type": "application/json" },
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
    const text = await response.text();
    if (!response.ok) {
      throw new TokenCountError(
        `the upstream refused to count this request's tokens (${response.status}): ${text.slice(0, 300)}`,
        response.status >= 400 && response.status < 500,
      );
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new TokenCountError("the upstream's token counter answered something other than JSON");
    }
  }

  /** Prompt tokens of a chat request after the chat template. */
  async chatPromptTokens(body: Record<string, unknown>): Promise<number> {
    const parsed = chatCountSchema.safeParse(await this.post(this.config.chatPath, body));
    if (!parsed.success) throw new TokenCountError("the upstream's chat token count has no input_tokens");
    return parsed.data.input_tokens;
  }

  /** Tokens of a text (with the model's special tokens when `addSpecial`, as a completion prompt gets them). */
  async textTokens(content: string, addSpecial: boolean): Promise<number> {
    if (content === "" && !addSpecial) return 0;
    const parsed = tokenizeSchema.safeParse(
      await this.post(this.config.tokenizePath, { content, add_special: addSpecial }),
    );
    if (!parsed.success) throw new TokenCountError("the upstream's tokenizer answered no tokens array");
    return parsed.data.tokens.length;
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
   */
  constructor(
    private readonly poolOf: (service: string) => UpstreamChoice | string,
    private readonly settingsOf: (service: string) => TokenCountingConfig | undefined,
  ) {}

  of(service: string): TokenCounter {
    const settings = this.settingsOf(service);
    if (!settings) throw new Error(`service ${service} is not metered`);
    let counter = this.counters.get(service);
    if (counter?.config !== settings) {
      counter = new TokenCounter(this.poolOf(service), settings);
      this.counters.set(service, counter);
    }
    return counter;
  }
}
