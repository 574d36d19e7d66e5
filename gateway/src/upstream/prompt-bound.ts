import type { PricingConfig } from "../config/pricing-schema.js";

/** The template allowances of a prompt bound (see pricing.tokenCounting.promptBound). */
export type PromptBoundAllowance = PricingConfig["tokenCounting"]["promptBound"];

/** A request whose prompt has no provable bound: content other than text (an image becomes many tokens). */
export class UnboundedPromptError extends Error {
  override readonly name = "UnboundedPromptError";
}

const utf8Bytes = (text: string): number => Buffer.byteLength(text, "utf8");

/** Throws for message content other than a string or text parts. */
function assertTextOnly(messages: readonly unknown[]): void {
  for (const [i, message] of messages.entries()) {
    const content = (message as { content?: unknown } | null)?.content;
    if (!Array.isArray(content)) continue;
    for (const part of content) {
      const type = (part as { type?: unknown } | null)?.type;
      if (type !== "text") {
        throw new UnboundedPromptError(
          `messages.${i}.content: only text parts can be priced on this service (got ${JSON.stringify(type ?? null)})`,
        );
      }
    }
  }
}

/**
 * An upper bound on a chat request's prompt tokens for an upstream whose tokenizer the gateway cannot ask: the UTF-8
 * bytes of the whole body as it is forwarded (messages, tools and every other field the template could render; JSON
 * escaping only adds bytes), plus the template's special tokens per message and once per request. It holds because a
 * byte-level BPE or SentencePiece tokenizer with byte fallback never makes more tokens of a text than it has bytes;
 * what the template adds that is not in the body (special tokens, a default system prompt) is the allowance.
 */
export function chatPromptBound(body: Record<string, unknown>, allowance: PromptBoundAllowance): number {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  assertTextOnly(messages);
  return utf8Bytes(JSON.stringify(body)) + messages.length * allowance.perMessageTokens + allowance.perRequestTokens;
}

/** The same bound for a completion prompt: its UTF-8 bytes plus the per-request allowance (BOS and the like). */
export function textPromptBound(prompt: string, allowance: PromptBoundAllowance): number {
  return utf8Bytes(prompt) + allowance.perRequestTokens;
}
