import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { type CallToolResult, ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { REPO_ROOT } from "../regtest/paths.js";

/** The committed launcher npm links as `l402`. */
const BIN = join(REPO_ROOT, "agent-client", "bin", "l402.js");

export type Elicit = "accept" | "decline" | "none";

export interface Host {
  readonly client: Client;
  call(name: string, args?: Record<string, unknown>): Promise<{ error: boolean; data: Record<string, unknown> }>;
  close(): Promise<void>;
}

/** An MCP host: the SDK's client, over stdio, to `l402 mcp` spawned from the bin launcher with `env` (store, wallet). */
export async function startHost(
  env: Record<string, string>,
  flags: string[] = [],
  elicit: Elicit = "none",
): Promise<Host> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, "mcp", "--quiet", ...flags],
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stderr: "pipe",
  });
  const client = new Client(
    { name: "test-host", version: "1.0.0" },
    { capabilities: elicit === "none" ? {} : { elicitation: {} } },
  );
  if (elicit !== "none") {
    client.setRequestHandler(ElicitRequestSchema, async () =>
      elicit === "accept" ? { action: "accept", content: { confirm: true } } : { action: "decline" },
    );
  }
  await client.connect(transport);
  return {
    client,
    async call(name, args = {}) {
      const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
      return { error: result.isError === true, data: (result.structuredContent ?? {}) as Record<string, unknown> };
    },
    close: () => client.close(),
  };
}
