import type { IncomingHttpHeaders } from "node:http";
import { CodedError } from "@l402-gateway/l402";
import { z } from "zod";
import type { PricingConfig } from "../config/pricing-schema.js";

export type LlmKind = "chat" | "completion";

/** OpenAI-style endpoints whose price depends on the prompt and the completion length, by canonical path key. */
export function llmKindOf(method: string, pathKey: string): LlmKind | undefined {
  if (method !== "POST") return undefined;
  if (pathKey.endsWith("/chat/completions")) return "chat";
  if (pathKey.endsWith("/completions")) return "completion";
  return undefined;
}

/**
 * Every field that some OpenAI-compatible upstream obeys as the completion length: OpenAI's two, llama.cpp's
 * `n_predict`, TGI's `max_new_tokens`, the Responses API's `max_output_tokens`. The gateway reads them all, refuses
 * a request whose values disagree, removes them and writes the reserved length into the one field the service's
 * upstream reads, so no alias it did not price reaches the upstream.
 */
export const LENGTH_FIELDS = [
  "max_tokens",
  "max_completion_tokens",
  "n_predict",
  "max_new_tokens",
  "max_output_tokens",
] as const;

/**
 * Fields that multiply the output (several choices, beam candidates): only the single-answer value is accepted.
 * `n_cmpl` is llama.cpp's server's own name for `n` (completions generated from one prompt).
 */
const SINGLE_ANSWER: Record<string, unknown> = { n: 1, n_cmpl: 1, best_of: 1, use_beam_search: false };

/** JSON nesting deeper than this is refused before parsing: OpenAI-style bodies nest a few levels. */
export const MAX_JSON_DEPTH = 64;

const positiveTokens = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const bodySchema = z.looseObject({
  model: z.string().optional(),
  ...Object.fromEntries(LENGTH_FIELDS.map((field) => [field, positiveTokens.nullish()])),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  messages: z.array(z.unknown()).optional(),
  prompt: z.union([z.string(), z.array(z.string()).length(1, "only one prompt per request is accepted")]).optional(),
});

export interface LlmRequest {
  readonly kind: LlmKind;
  readonly model: string | undefined;
  /** The completion tokens this request may use: its own limit, or the owner's default; written into `body`. */
  readonly maxTokens: number;
  readonly stream: boolean;
  /** Whether the client itself asked for the usage chunk at the end of a stream. */
  readonly clientWantsUsage: boolean;
  /** Exactly what is counted and sent upstream (re-serialised, as UTF-8 JSON): the priced request. */
  readonly body: Record<string, unknown>;
}

/** Why an LLM request body cannot be read or priced (refusals/answers.ts gives each its HTTP status). */
export type LlmRequestErrorCode =
  | "unsupported_encoding"
  | "unsupported_media_type"
  | "unsupported_charset"
  | "invalid_encoding"
  | "body_too_deep"
  | "invalid_json"
  | "invalid_request"
  | "unsupported_parameter"
  | "conflicting_max_tokens"
  | "max_tokens_too_large";

export class LlmRequestError extends CodedError<LlmRequestErrorCode> {
  override readonly name = "LlmRequestError";
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The body as text, only when the upstream could not read it another way: no content coding, a JSON or plain-text
 * media type (or none), UTF-8, at most MAX_JSON_DEPTH levels deep.
 */
function bodyText(headers: IncomingHttpHeaders, raw: Buffer): string {
  const encoding = String(headers["content-encoding"] ?? "identity")
    .trim()
    .toLowerCase();
  if (encoding !== "identity" && encoding !== "") {
    throw new LlmRequestError(
      "unsupported_encoding",
      `content-encoding ${encoding} is not accepted; send the JSON as is`,
    );
  }
  const contentType = headers["content-type"];
  if (contentType !== undefined) {
    const [mediaType = "", ...params] = contentType.split(";").map((part) => part.trim().toLowerCase());
    // JSON under its own name, or as the plain text that fetch labels a string body with; nothing that names
    // another structure (a form, multipart), which an upstream could parse as that.
    if (mediaType !== "application/json" && !mediaType.endsWith("+json") && mediaType !== "text/plain") {
      throw new LlmRequestError(
        "unsupported_media_type",
        `content-type ${mediaType} is not accepted; send application/json`,
      );
    }
    for (const param of params) {
      const [name, value = ""] = param.split("=").map((part) => part.trim());
      if (name === "charset" && value.replace(/^"|"$/g, "") !== "utf-8") {
        throw new LlmRequestError("unsupported_charset", `charset ${value} is not accepted; send UTF-8`);
      }
    }
  }
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new LlmRequestError("invalid_encoding", "the request body is not valid UTF-8");
  }
  if (jsonDepth(text) > MAX_JSON_DEPTH) {
    throw new LlmRequestError("body_too_deep", `the request body nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return text;
}

/** The deepest nesting of arrays and objects in a JSON text (strings skipped), without parsing it. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c) i += 1;
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x7b || char === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (char === 0x7d || char === 0x5d) depth -= 1;
  }
  return deepest;
}

/** The one completion length a body asks for, read from every alias; undefined when it names none. */
function askedLength(body: Record<string, unknown>): number | undefined {
  const values = new Set<number>();
  for (const field of LENGTH_FIELDS) {
    const value = body[field];
    if (typeof value === "number") values.add(value);
  }
  if (values.size > 1) {
    const named = LENGTH_FIELDS.filter((field) => typeof body[field] === "number").join(", ");
    throw new LlmRequestError("conflicting_max_tokens", `${named} ask for different lengths; send one`);
  }
  return values.values().next().value;
}

/**
 * Reads an OpenAI-style request the one way it is priced and forwarded, refusing what cannot be priced exactly:
 * another charset or content coding, a body an upstream could read differently, several answers in one call,
 * disagreeing length fields, or a length above the owner's cap.
 */
export function parseLlmRequest(
  kind: LlmKind,
  headers: IncomingHttpHeaders,
  raw: Buffer,
  pricing: PricingConfig,
): LlmRequest {
  let json: unknown;
  try {
    json = JSON.parse(bodyText(headers, raw));
  } catch (error) {
    if (error instanceof LlmRequestError) throw error;
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
  const body: Record<string, unknown> = { ...parsed.data };
  if (kind === "chat" && (!Array.isArray(body.messages) || body.messages.length === 0)) {
    throw new LlmRequestError("invalid_request", "messages: a chat completion needs at least one message");
  }
  if (kind === "completion" && body.prompt === undefined) {
    throw new LlmRequestError("invalid_request", "prompt: a completion needs a prompt");
  }
  for (const [field, single] of Object.entries(SINGLE_ANSWER)) {
    if (body[field] != null && body[field] !== single) {
      throw new LlmRequestError(
        "unsupported_parameter",
        `${field}: only ${JSON.stringify(single)} is accepted (one answer per call)`,
      );
    }
  }
  const asked = askedLength(body);
  if (asked !== undefined && asked > pricing.maxTokensCap) {
    throw new LlmRequestError(
      "max_tokens_too_large",
      `max_tokens ${asked} exceeds this gateway's cap of ${pricing.maxTokensCap}`,
    );
  }
  const maxTokens = asked ?? pricing.defaultMaxTokens;
  for (const field of LENGTH_FIELDS) delete body[field];
  body[kind === "chat" ? pricing.chatLengthField : "max_tokens"] = maxTokens;
  const stream = body.stream === true;
  const options = body.stream_options as { include_usage?: boolean | null } | null | undefined;
  const clientWantsUsage = options?.include_usage === true;
  // A stream carries the usage chunk so that the gateway can charge what was used; it is dropped for the client
  // when the client did not ask for it.
  if (stream) body.stream_options = { ...(options ?? {}), include_usage: true };
  return { kind, model: body.model as string | undefined, maxTokens, stream, clientWantsUsage, body };
}

/** The bytes sent upstream: the priced body, re-serialised. */
export function upstreamBody(request: LlmRequest): Buffer {
  return Buffer.from(JSON.stringify(request.body), "utf8");
}

/** The prompt text of a completion request, for token counting. */
export function completionPrompt(request: LlmRequest): string {
  const prompt = request.body.prompt;
  return Array.isArray(prompt) ? String(prompt[0] ?? "") : String(prompt ?? "");
}
