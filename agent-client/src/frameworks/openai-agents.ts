/**
 * The OpenAI Agents SDK: the payment tools as function tools, and a chat-completions model for a paid (L402)
 * endpoint through the client's fetch. Needs the optional peer dependencies `@openai/agents` and `openai`.
 */
import { type FunctionTool, OpenAIChatCompletionsModel, tool } from "@openai/agents";
import OpenAI from "openai";
import { z } from "zod";
import type { L402Client } from "../client.js";
import type { ToolResult } from "../tools/result.js";
import { type FrameworkToolOptions, namedPaymentTools } from "./named-tools.js";

export type { FrameworkToolOptions } from "./named-tools.js";

/**
 * The payment tools (l402_fetch, l402_quote, l402_balance, l402_receipts, l402_budget, l402_close) for
 * `new Agent({ tools })`. Each returns `{ ok, ... }` or `{ ok: false, code, message }`. The schemas have optional
 * fields, so the tools are not strict: they are offered as JSON schemas, and the input is checked by the tool.
 */
export function l402Tools(
  client: L402Client,
  options: FrameworkToolOptions = {},
): FunctionTool<unknown, NonStrictParameters, ToolResult>[] {
  return namedPaymentTools(client, options).map((payment) =>
    tool({
      name: payment.name,
      description: payment.description,
      parameters: nonStrictParameters(payment.inputSchema),
      strict: false,
      execute: (input: unknown): Promise<ToolResult> => payment.run(input),
    }),
  );
}

/** A chat-completions model `model` at the paid endpoint `baseURL` (e.g. "https://gateway.example/v1"). */
export function paidChatCompletionsModel(
  client: L402Client,
  settings: { readonly baseURL: string; readonly model: string },
): OpenAIChatCompletionsModel {
  // The SDK insists on a key; the L402 credential replaces it on the wire.
  const openai = new OpenAI({ baseURL: settings.baseURL, apiKey: "l402", fetch: client.fetch });
  return new OpenAIChatCompletionsModel(openai, settings.model);
}

/** A non-strict tool's parameters, as the Agents SDK takes them: a JSON schema that allows more properties. */
export interface NonStrictParameters {
  type: "object";
  properties: Record<string, Record<string, unknown>>;
  required: string[];
  additionalProperties: true;
}

/** A zod object schema as the Agents SDK takes a non-strict tool's parameters. */
function nonStrictParameters(schema: z.ZodObject): NonStrictParameters {
  const json = z.toJSONSchema(schema, { io: "input" });
  const properties = Object.fromEntries(
    Object.entries(json.properties ?? {}).map(([name, property]) => [
      name,
      typeof property === "object" ? property : {},
    ]),
  );
  return { type: "object", properties, required: json.required ?? [], additionalProperties: true };
}
