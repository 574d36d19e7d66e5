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

/** Counts tokens exactly with the upstream's own tokenizer, so quotes match what the model will see. */
export class TokenCounter {
  /** @param upstream the upstream's URL, or where to find one now (a live member of the service's pool). */
  constructor(
    private readonly upstream: string | (() => string),
    readonly config: TokenCountingConfig,
  ) {}

  private url(path: string): string {
    return upstreamUrl(typeof this.upstream === "string" ? this.upstream : this.upstream(), path);
  }

  private async post(path: string, body: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(this.url(path), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.config.timeoutMs),
      });
    } catch (error) {
      throw new TokenCountError(`the upstream's token counter did not answer: ${(error as Error).message}`);
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
   * @param upstreamOf a live upstream of a service now.
   * @param settingsOf the service's token counting settings now (undefined for a service that is not metered).
   */
  constructor(
    private readonly upstreamOf: (service: string) => string,
    private readonly settingsOf: (service: string) => TokenCountingConfig | undefined,
  ) {}

  of(service: string): TokenCounter {
    const settings = this.settingsOf(service);
    if (!settings) throw new Error(`service ${service} is not metered`);
    let counter = this.counters.get(service);
    if (counter?.config !== settings) {
      counter = new TokenCounter(() => this.upstreamOf(service), settings);
      this.counters.set(service, counter);
    }
    return counter;
  }
}
