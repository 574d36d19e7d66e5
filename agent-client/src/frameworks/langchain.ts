/**
 * LangChain.js: the payment tools as LangChain tools, and `ChatOpenAI` talking to a paid (L402) OpenAI-compatible
 * endpoint through the client's fetch. Needs the optional peer dependencies `@langchain/core` and `@langchain/openai`.
 */
import { DynamicStructuredTool } from "@langchain/core/tools";
import { ChatOpenAI, type ChatOpenAIFields } from "@langchain/openai";
import type { z } from "zod";
import type { L402Client } from "../client.js";
import type { ToolResult } from "../tools/result.js";
import { type FrameworkToolOptions, namedPaymentTools } from "./named-tools.js";

export type { FrameworkToolOptions } from "./named-tools.js";

/**
 * The payment tools (l402_fetch, l402_quote, l402_balance, l402_receipts, l402_budget, l402_close) for
 * `model.bindTools(...)` or an agent. Each returns content and artifact: the model reads the result as JSON, and the
 * ToolMessage's `artifact` holds it as an object (`{ ok, ... }` or `{ ok: false, code, message }`).
 */
export function l402Tools(
  client: L402Client,
  options: FrameworkToolOptions = {},
): DynamicStructuredTool<z.ZodObject, unknown, unknown, [string, ToolResult]>[] {
  return namedPaymentTools(client, options).map(
    (tool) =>
      new DynamicStructuredTool({
        name: tool.name,
        description: tool.description,
        schema: tool.inputSchema,
        responseFormat: "content_and_artifact",
        func: async (input: unknown): Promise<[string, ToolResult]> => {
          const result = await tool.run(input);
          return [JSON.stringify(result), result];
        },
      }),
  );
}

/** `ChatOpenAI` fields, with the paid endpoint's base URL (e.g. "https://gateway.example/v1") in place of a key. */
export type PaidChatOpenAIFields = Omit<ChatOpenAIFields, "configuration" | "apiKey" | "openAIApiKey"> & {
  readonly baseURL: string;
};

/** A `ChatOpenAI` whose requests go through `client.fetch`: paid within its caps and budgets, its token reused. */
export function paidChatOpenAI(client: L402Client, fields: PaidChatOpenAIFields): ChatOpenAI {
  const { baseURL, ...rest } = fields;
  // The SDK insists on a key; the L402 credential replaces it on the wire.
  return new ChatOpenAI({ ...rest, apiKey: "l402", configuration: { baseURL, fetch: client.fetch } });
}
