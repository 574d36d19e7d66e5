/**
 * The inference servers a service can sit in front of, and what each one's API offers the gateway: how it counts a
 * prompt's tokens, where it reports its load, where it lists its models, and which length field it obeys.
 */
export const UPSTREAM_KINDS = ["l402-llm-backend", "llama.cpp", "vllm", "ollama", "openai-compatible"] as const;
export type UpstreamKind = (typeof UPSTREAM_KINDS)[number];

/**
 * How a kind's prompt tokens are known before the call: `backend` (our llm-backend's own counting endpoint),
 * `llama.cpp` (`POST /apply-template`, then `POST /tokenize` of the rendered prompt), `vllm` (`POST /tokenize` with
 * the messages) — all exact — or `bound`: no tokenizer, an upper bound from the request's UTF-8 bytes.
 */
export type PromptCounting = "backend" | "llama.cpp" | "vllm" | "bound";

/** Where a kind reports its load for surge pricing; `none` turns surge off for it. */
export type LoadSource = "backend-health" | "llama.cpp-slots" | "vllm-metrics" | "none";

export interface UpstreamKindProfile {
  readonly counting: PromptCounting;
  readonly load: LoadSource;
  /** Path listing the model ids the upstream answers to, and the shape of its answer. */
  readonly models: { readonly path: string; readonly shape: "openai" | "ollama-tags" };
  /** The chat length fields this kind obeys as the completion limit. */
  readonly lengthFields: readonly ("max_tokens" | "max_completion_tokens")[];
  /** Whether the upstream refuses a model name it does not serve (so the gateway refuses it first, unpaid). */
  readonly refusesUnknownModel: boolean;
  /** Why surge has no reading on this kind (the one log line), when `load` is `none`. */
  readonly noLoadReason?: string;
}

export const UPSTREAM_KIND_PROFILES: Readonly<Record<UpstreamKind, UpstreamKindProfile>> = {
  "l402-llm-backend": {
    refusesUnknownModel: false,
    counting: "backend",
    load: "backend-health",
    models: { path: "/v1/models", shape: "openai" },
    lengthFields: ["max_tokens", "max_completion_tokens"],
  },
  // llama.cpp's server reads max_tokens (and its own n_predict, which the gateway removes) as the limit.
  "llama.cpp": {
    refusesUnknownModel: false,
    counting: "llama.cpp",
    load: "llama.cpp-slots",
    models: { path: "/v1/models", shape: "openai" },
    lengthFields: ["max_tokens"],
  },
  vllm: {
    refusesUnknownModel: true,
    counting: "vllm",
    load: "vllm-metrics",
    models: { path: "/v1/models", shape: "openai" },
    lengthFields: ["max_tokens", "max_completion_tokens"],
  },
  // Ollama's OpenAI-compatible API maps max_tokens to num_predict; its names are those /api/tags lists.
  ollama: {
    refusesUnknownModel: true,
    counting: "bound",
    load: "none",
    models: { path: "/api/tags", shape: "ollama-tags" },
    lengthFields: ["max_tokens"],
    noLoadReason:
      "Ollama reports no busy or queued requests (/api/ps lists only the models loaded in memory), so surge pricing is off",
  },
  "openai-compatible": {
    refusesUnknownModel: true,
    counting: "bound",
    load: "none",
    models: { path: "/v1/models", shape: "openai" },
    lengthFields: ["max_tokens", "max_completion_tokens"],
    noLoadReason: "an OpenAI-compatible API reports no load, so surge pricing is off",
  },
};

export function profileOf(kind: UpstreamKind): UpstreamKindProfile {
  return UPSTREAM_KIND_PROFILES[kind];
}
