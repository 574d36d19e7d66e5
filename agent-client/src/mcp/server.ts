import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { L402Client } from "../client.js";
import { L402ClientError, type PriceQuote } from "../errors.js";
import { createPaymentTools } from "../tools/payment-tools.js";
import type { ToolResult } from "../tools/result.js";
import type { Wallet } from "../wallet/wallet.js";

/** What the person running the server decides; nothing a model sends can change it. */
export interface McpPolicy {
  /** The client's cap per payment (amount plus maximum fee), for the tools' descriptions. */
  readonly maxCostSats: number;
  /** Payments above this (amount plus maximum fee) are made only after the user confirms through the host. */
  readonly confirmAboveSats: number | undefined;
  /** Response bodies longer than this are cut (the model's context is the limit). */
  readonly maxBodyChars: number;
}

/** A tool result as MCP carries it: the data as text and as structured content, `isError` for a failure. */
function callToolResult({ ok, ...data }: ToolResult): CallToolResult {
  return ok
    ? { content: [{ type: "text", text: JSON.stringify(data, null, 2) }], structuredContent: data }
    : { content: [{ type: "text", text: JSON.stringify(data) }], structuredContent: data, isError: true };
}

/**
 * An MCP server whose tools pay L402 APIs through `client`: the payment tools (fetch, quote, balance, receipts,
 * budget, close), with the confirmation above the threshold asked of the user through the host (MCP elicitation).
 */
export function createMcpServer(client: L402Client, policy: McpPolicy, version: string, wallet?: Wallet): McpServer {
  const server = new McpServer({ name: "l402", version });

  /** Asks the user, through the host, to confirm a payment above the threshold; refused where the host cannot ask. */
  async function confirm(quote: PriceQuote): Promise<boolean> {
    if (!server.server.getClientCapabilities()?.elicitation) {
      throw new L402ClientError(
        "payment_declined",
        `paying ${quote.amountSats} sats needs the user's confirmation (above ${policy.confirmAboveSats} sats), and ` +
          "this host cannot ask for it (no MCP elicitation)",
        { quote },
      );
    }
    const answer = await server.server.elicitInput({
      message:
        `Pay ${quote.amountSats} sats (+ up to ${quote.maxFeeSats} sats routing fee) over Lightning to ` +
        `${quote.origin}${quote.service ? ` for ${quote.service}` : ""}?`,
      requestedSchema: {
        type: "object",
        properties: { confirm: { type: "boolean", title: "Pay", description: "Pay this invoice" } },
        required: ["confirm"],
      },
    });
    return answer.action === "accept" && answer.content?.confirm === true;
  }

  const tools = createPaymentTools(client, {
    maxCostSats: policy.maxCostSats,
    ...(policy.confirmAboveSats === undefined ? {} : { confirmAboveSats: policy.confirmAboveSats }),
    confirm,
    maxBodyChars: policy.maxBodyChars,
    ...(wallet === undefined ? {} : { wallet }),
  });
  for (const tool of tools) {
    server.registerTool(
      tool.name,
      { title: tool.title, description: tool.description, inputSchema: tool.inputSchema.shape },
      async (args: unknown) => callToolResult(await tool.run(args)),
    );
  }
  return server;
}
