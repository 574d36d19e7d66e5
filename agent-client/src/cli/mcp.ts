import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createL402Client } from "../client.js";
import { createMcpServer } from "../mcp/server.js";
import { FileStore } from "../store/file.js";
import type { McpCommand } from "./args.js";
import { describeEvent, type Io, readCacert, requireWallet } from "./commands.js";
import { EXIT } from "./exit-codes.js";

/** Longest response body handed to the model, in characters. */
const MAX_BODY_CHARS = 100_000;

/**
 * `l402 mcp`: a Model Context Protocol server on stdin/stdout until the host closes stdin. Caps, budgets (those saved
 * in the store) and the confirmation threshold come from the command line and the store, never from the model.
 * stdout carries only the protocol; progress goes to stderr.
 */
export async function mcpCommand(command: McpCommand, io: Io, version: string): Promise<number> {
  // stdout carries the protocol only: anything a library prints goes to stderr.
  console.log = console.info = console.debug = console.warn = (...args: unknown[]) => console.error(...args);
  const store = new FileStore(command.store);
  const wallet = await requireWallet(command);
  const client = createL402Client({
    wallet,
    store,
    budget: (await store.read()).budgetLimits,
    maxCostSats: command.maxCostSats,
    maxFeeSats: command.maxFeeSats,
    allowInsecure: command.insecure,
    ...(command.coolOffSeconds === undefined ? {} : { refusalCoolOffMs: command.coolOffSeconds * 1000 }),
    timeouts: {
      ...(command.headersTimeoutSeconds === undefined ? {} : { headersMs: command.headersTimeoutSeconds * 1000 }),
      ...(command.idleTimeoutSeconds === undefined ? {} : { idleMs: command.idleTimeoutSeconds * 1000 }),
    },
    ...(command.cacert === undefined ? {} : { ca: readCacert(command.cacert) }),
    ...(command.timeoutSeconds === undefined ? {} : { paymentTimeoutMs: command.timeoutSeconds * 1000 }),
    ...(command.deposit === undefined ? {} : { deposit: command.deposit }),
    onEvent: (event) => {
      if (!command.quiet) io.stderr.write(`l402 mcp: ${describeEvent(event)}\n`);
    },
  });
  // Payments a crash left pending are settled before the model can pay anything.
  await client.resolvePending().catch(() => undefined);
  const server = createMcpServer(
    client,
    { maxCostSats: command.maxCostSats, confirmAboveSats: command.confirmAboveSats, maxBodyChars: MAX_BODY_CHARS },
    version,
    wallet,
  );
  const closed = new Promise<void>((resolve) => {
    process.stdin.once("end", resolve);
    process.stdin.once("close", resolve);
  });
  await server.connect(new StdioServerTransport());
  await closed;
  await server.close();
  return EXIT.ok;
}
