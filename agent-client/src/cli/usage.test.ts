import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { describe, expect, it } from "vitest";
import type { L402Client } from "../client.js";
import { createMcpServer } from "../mcp/server.js";
import { USAGE } from "./usage.js";

describe("l402 --help", () => {
  it("lists every tool the MCP server offers", async () => {
    // Registering the tools reads the policy only; no call reaches the client.
    const server = createMcpServer(
      {} as L402Client,
      { maxCostSats: 1, confirmAboveSats: undefined, maxBodyChars: 1 },
      "0",
    );
    const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: "usage-test", version: "0" });
    await client.connect(clientSide);
    try {
      const { tools } = await client.listTools();
      const listed = /\(tools: ([^)]+)\)/.exec(USAGE)?.[1]?.split(/,\s*/) ?? [];
      expect(listed.sort()).toEqual(tools.map((tool) => tool.name).sort());
      expect(listed).toContain("close");
    } finally {
      await client.close();
    }
  });
});
