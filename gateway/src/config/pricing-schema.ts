import { z } from "zod";

/**
 * Bounds that keep every price a safe integer: the largest worst case is
 * (1e6 prompt + 1e6 completion tokens) × 1e8 msat × surge ceiling 10 + fee ≈ 2e15 < 2^53.
 */
export const MAX_RATE_MSAT = 100_000_000;
export const MAX_TOKENS_LIMIT = 1_000_000;
export const MAX_SURGE_CEILING = 10;
const MAX_FIXED_MSAT = 1_000_000_000_000;

const fixedMsat = z.number().int().positive().max(MAX_FIXED_MSAT);
const optionalFee = z.number().int().min(0).max(MAX_FIXED_MSAT).optional();
const rate = z.number().int().min(0).max(MAX_RATE_MSAT);

export const priceRuleSchema = z
  .object({
    /** Applies to requests whose path starts with this; all when omitted. */
    pathPrefix: z.string().startsWith("/").optional(),
    /** Applies to requests whose JSON body names this model; all when omitted. */
    model: z.string().min(1).optional(),
    /** A fixed price per call. */
    perCallMsat: fixedMsat.optional(),
    /** Per-token rates, charged from the usage the upstream reports. */
    tokens: z.object({ promptMsatPerToken: rate, completionMsatPerToken: rate }).strict().optional(),
    /** Added to every call's charge. */
    feeMsat: optionalFee,
    /** The least a call is charged, fee included. */
    minimumMsat: optionalFee,
    /** Left out of the public price manifest (a model the operator does not advertise); still charged as set. */
    private: z.boolean().optional(),
  })
  .strict()
  .refine((rule) => (rule.perCallMsat === undefined) !== (rule.tokens === undefined), {
    message: "a rule sets exactly one of perCallMsat and tokens",
  })
  // A per-token rule with no fee, no minimum and a zero prompt rate could charge 0 for a call; refuse it.
  .refine(
    (rule) =>
      !rule.tokens || rule.tokens.promptMsatPerToken > 0 || (rule.feeMsat ?? 0) > 0 || (rule.minimumMsat ?? 0) > 0,
    { message: "a tokens rule needs promptMsatPerToken > 0, a feeMsat or a minimumMsat, so no call can cost 0" },
  );

const surgePointSchema = z
  .object({
    /** (busy sequences + queued requests) / sequences, as the upstream's health reports them. */
    load: z.number().min(0).max(1_000),
    multiplier: z.number().min(1).max(MAX_SURGE_CEILING),
  })
  .strict();

export const surgeSchema = z
  .object({
    /** Upstream path with `busy_sequences`, `queue_depth` and `slots_total` (the llm-backend's /health). */
    healthPath: z.string().startsWith("/").default("/health"),
    /**
     * Requests one upstream runs at once, for a kind whose load reading does not say (vLLM: its --max-num-seqs);
     * overrides the slot count a llama.cpp server reports.
     */
    slotsPerUpstream: z.number().int().positive().optional(),
    pollIntervalMs: z.number().int().min(50).max(60_000).default(1_000),
    /** Piecewise-linear curve from load to multiplier; below the first point 1×, above the last the last value. */
    curve: z
      .array(surgePointSchema)
      .min(1)
      .default([
        { load: 1, multiplier: 1 },
        { load: 3, multiplier: 2 },
      ])
      .refine((points) => points.every((p, i) => i === 0 || p.load > (points[i - 1]?.load ?? 0)), {
        message: "curve points need strictly increasing load",
      }),
    /** Highest multiplier ever applied. */
    ceiling: z.number().min(1).max(MAX_SURGE_CEILING).default(3),
    /**
     * Weight of each new reading in the exponentially smoothed multiplier (1 = no smoothing); smoothing keeps a
     * single burst from flapping prices.
     */
    smoothing: z.number().gt(0).max(1).default(0.5),
  })
  .strict();

export const externalPricerSchema = z
  .object({
    /** Receives a POST with the request summary and answers `{ "price_msat": <int> }`. */
    url: z.url({ protocol: /^https?$/ }),
    timeoutMs: z.number().int().positive().max(10_000).default(300),
  })
  .strict();

export const pricingSchema = z
  .object({
    /** First matching rule wins. */
    rules: z.array(priceRuleSchema).min(1),
    /** max_tokens assumed when an LLM request sends none (and written into the forwarded request). */
    defaultMaxTokens: z.number().int().positive().max(MAX_TOKENS_LIMIT).default(256),
    /** Requests asking for more completion tokens than this are refused with 400. */
    maxTokensCap: z.number().int().positive().max(MAX_TOKENS_LIMIT).default(4_096),
    /** The one field of a chat request that carries the reserved length upstream; every other alias is removed. */
    chatLengthField: z.enum(["max_tokens", "max_completion_tokens"]).default("max_tokens"),
    /** Bounds on the deposit an agent may ask for with the X-L402-Deposit-Msat header. */
    deposit: z
      .object({ minMsat: fixedMsat.default(1_000), maxMsat: fixedMsat.default(100_000_000) })
      .strict()
      .refine((d) => d.minMsat <= d.maxMsat, { message: "minMsat must not exceed maxMsat" })
      .prefault({}),
    /** Upstream paths that count prompt tokens exactly (the llm-backend's; llama.cpp's server has /tokenize). */
    tokenCounting: z
      .object({
        chatPath: z.string().startsWith("/").default("/v1/chat/completions/input_tokens"),
        tokenizePath: z.string().startsWith("/").default("/tokenize"),
        timeoutMs: z.number().int().positive().default(2_000),
        /**
         * For an upstream with no tokenizer (Ollama, a hosted API): the prompt is reserved as the UTF-8 bytes of its
         * messages (and tools) as JSON, plus these allowances for what the chat template adds, in tokens.
         */
        promptBound: z
          .object({
            /** Special tokens the template wraps around each message (ChatML: 5; Llama 3: 5). */
            perMessageTokens: z.number().int().min(0).max(10_000).default(8),
            /** Text the template adds once: the generation prompt and a default system prompt (Modelfile SYSTEM). */
            perRequestTokens: z.number().int().min(0).max(100_000).default(64),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    surge: surgeSchema.optional(),
    external: externalPricerSchema.optional(),
  })
  .strict()
  .refine((p) => p.defaultMaxTokens <= p.maxTokensCap, {
    message: "defaultMaxTokens must not exceed maxTokensCap",
    path: ["defaultMaxTokens"],
  });

export type PriceRule = z.infer<typeof priceRuleSchema>;
export type PricingConfig = z.infer<typeof pricingSchema>;
export type SurgeConfig = z.infer<typeof surgeSchema>;
