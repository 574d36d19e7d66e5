import { z } from "zod";
import type { PricingConfig } from "../config/pricing-schema.js";

const answerSchema = z.object({ price_msat: z.number().int().positive().max(1_000_000_000_000) });

export interface PriceSummary {
  readonly service: string;
  readonly method: string;
  readonly path: string;
  readonly model: string | undefined;
  readonly promptTokens: number;
  readonly maxTokens: number;
}

/**
 * The owner's own pricing logic over HTTP (Aperture's pricer, as JSON): POST the request summary, read back
 * `{ "price_msat": n }`. Undefined on timeout, error or a malformed answer, so the caller falls back to its rules.
 */
export async function askExternalPricer(
  config: NonNullable<PricingConfig["external"]>,
  summary: PriceSummary,
): Promise<number | undefined> {
  try {
    const response = await fetch(config.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        service: summary.service,
        method: summary.method,
        path: summary.path,
        model: summary.model ?? null,
        prompt_tokens: summary.promptTokens,
        max_tokens: summary.maxTokens,
      }),
      signal: AbortSignal.timeout(config.timeoutMs),
    });
    if (!response.ok) return undefined;
    const parsed = answerSchema.safeParse(await response.json());
    return parsed.success ? parsed.data.price_msat : undefined;
  } catch {
    return undefined;
  }
}
