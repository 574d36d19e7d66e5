/**
 * The Vercel AI SDK: the payment tools as an AI SDK tool set, and an OpenAI-compatible provider for a paid (L402)
 * endpoint through the client's fetch. Needs the optional peer dependencies `ai` and `@ai-sdk/openai-compatible`.
 */
import { createOpenAICompatible, type OpenAICompatibleProvider } from "@ai-sdk/openai-compatible";
import { type ToolSet, tool } from "ai";
import type { L402Client } from "../client.js";
import type { ToolResult } from "../tools/result.js";
import { type FrameworkToolOptions, namedPaymentTools } from "./named-tools.js";

export type { FrameworkToolOptions } from "./named-tools.js";

/**
 * The payment tools (l402_fetch, l402_quote, l402_balance, l402_receipts, l402_budget, l402_close) for
 * `generateText({ tools })` or `streamText`. Each resolves to `{ ok, ... }` or `{ ok: false, code, message }`.
 */
export function l402Tools(client: L402Client, options: FrameworkToolOptions = {}): ToolSet {
  return Object.fromEntries(
    namedPaymentTools(client, options).map((payment) => [
      payment.name,
      tool({
        description: payment.description,
        inputSchema: payment.inputSchema,
        execute: (input: unknown): Promise<ToolResult> => payment.run(input),
      }),
    ]),
  );
}

/** An OpenAI-compatible provider for the paid endpoint at `baseURL` (e.g. "https://gateway.example/v1"). */
export function paidOpenAICompatible(
  client: L402Client,
  settings: { readonly baseURL: string; readonly name?: string },
): OpenAICompatibleProvider {
  return createOpenAICompatible({
    name: settings.name ?? "l402",
    baseURL: settings.baseURL,
    fetch: client.fetch,
    includeUsage: true,
  });
}
