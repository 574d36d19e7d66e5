import { z } from "zod";
import type { PricingConfig } from "../pricing/schema.js";

export type LlmKind = "chat" | "completion";

/** OpenAI-style endpoints whose price depends on the prompt and max_tokens. */
export function llmKindOf(method: string, path: string): LlmKind | undefined {
  if (method !== "POST") return undefined;
  if (path.endsWith("/chat/completions")) return "chat";
  if (path.endsWith("/completions")) return "completion";
  return undefined;
}

const positiveTokens = z.number().int().positive();
const bodySchema = z.looseObject({
  model: z.string().optional(),
  max_tokens: positiveTokens.nullish(),
  max_completion_tokens: positiveTokens.nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  messages: z.array(z.unknown()).optional(),
  prompt: z.union([z.string(), z.array(z.string())]).optional(),
});

export interface LlmRequest {
  readonly kind: LlmKind;
  readonly model: string | undefined;
  /** The completion tokens this request may use: its own max_tokens, or the owner's default. */
  readonly maxTokens: number;
  readonly stream: boolean;
  /** Whether the client itself asked for the usage chunk at the end of a stream. */
  readonly clientWantsUsage: boolean;
  readonly body: Record<string, unknown>;
}

export class LlmRequestError extends Error {
  override readonly name = "LlmRequestError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Reads what pricing needs from an OpenAI-style body, refusing bodies that cannot be priced. */
export function parseLlmRequest(kind: LlmKind, raw: Buffer, pricing: PricingConfig): LlmRequest {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new LlmRequestError("invalid_json", "the request body is not valid JSON");
  }
  const parsed = bodySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LlmRequestError(
      "invalid_request",
      `${issue?.path.join(".") || "body"}: ${issue?.message ?? "not an OpenAI-style request"}`,
    );
  }
  const body = parsed.data;
  if (kind === "chat" && (!body.messages || body.messages.length === 0)) {
    throw new LlmRequestError("invalid_request", "messages: a chat completion needs at least one message");
  }
  if (kind === "completion" && body.prompt === undefined) {
    throw new LlmRequestError("invalid_request", "prompt: a completion needs a prompt");
  }
  const asked = body.max_completion_tokens ?? body.max_tokens ?? undefined;
  if (asked !== undefined && asked > pricing.maxTokensCap) {
    throw new LlmRequestError(
      "max_tokens_too_large",
      `max_tokens ${asked} exceeds this gateway's cap of ${pricing.maxTokensCap}`,
    );
  }
  return {
    kind,
    model: body.model,
    maxTokens: asked ?? pricing.defaultMaxTokens,
    stream: body.stream === true,
    clientWantsUsage: body.stream_options?.include_usage === true,
    body,
  };
}

/**
 * The body sent upstream: max_tokens made explicit (the reservation assumes it), and for streams the usage chunk
 * requested, so the gateway can charge what was used even when the client did not ask for it.
 */
export function upstreamBody(request: LlmRequest): Buffer {
  const body: Record<string, unknown> = { ...request.body };
  if (body.max_completion_tokens == null && body.max_tokens == null) body.max_tokens = request.maxTokens;
  if (request.stream) {
    const options = typeof body.stream_options === "object" && body.stream_options !== null ? body.stream_options : {};
    body.stream_options = { ...options, include_usage: true };
  }
  return Buffer.from(JSON.stringify(body));
}

/** The prompt text of a completion request, for token counting. */
export function completionPrompt(request: LlmRequest): string {
  const prompt = request.body.prompt;
  return Array.isArray(prompt) ? prompt.join("") : String(prompt ?? "");
}
