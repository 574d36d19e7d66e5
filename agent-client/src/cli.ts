#!/usr/bin/env node
import { createRequire } from "node:module";
import type { Command } from "./cli/args.js";
import type { Io } from "./cli/commands.js";
import { EXIT, exitCodeFor } from "./cli/exit-codes.js";
import { USAGE } from "./cli/usage.js";

// Modules load as a command needs them: `--help` and `--version` load none, the argument parser (zod) and the
// protocol library come next, and the client with its wallets (gRPC, Nostr) only for commands that use them.
const FAST = new Set(["--help", "-h", "--version"]);

async function main(argv: readonly string[], io: Io): Promise<number> {
  const [only] = argv;
  if (argv.length === 1 && only !== undefined && FAST.has(only)) {
    io.stdout.write(only === "--version" ? `${packageVersion()}\n` : USAGE);
    return EXIT.ok;
  }
  let command: Command;
  try {
    const { parseCommandLine } = await import("./cli/args.js");
    command = parseCommandLine(argv, process.env);
  } catch (error) {
    return fail(error, io);
  }
  if (command.command === "help") {
    io.stdout.write(USAGE);
    return EXIT.ok;
  }
  if (command.command === "version") {
    io.stdout.write(`${packageVersion()}\n`);
    return EXIT.ok;
  }
  try {
    // Loaded only now: the LND client (gRPC, protobufs) takes a while to load, and usage errors need none of it.
    const {
      budgetCommand,
      closeCommand,
      quoteCommand,
      receiptsCommand,
      refusalsCommand,
      requestCommand,
      tokensCommand,
    } = await import("./cli/commands.js");
    if (command.command === "mcp") {
      const { mcpCommand } = await import("./cli/mcp.js");
      return await mcpCommand(command, io, packageVersion());
    }
    switch (command.command) {
      case "get":
      case "post":
        return await requestCommand(command, io);
      case "quote":
        return await quoteCommand(command, io);
      case "tokens":
        return await tokensCommand(command, io);
      case "receipts":
        return await receiptsCommand(command, io);
      case "budget":
        return await budgetCommand(command, io);
      case "close":
        return await closeCommand(command, io);
      case "refusals":
        return await refusalsCommand(command, io);
    }
  } catch (error) {
    return fail(error, io);
  }
}

async function fail(error: unknown, io: Io): Promise<number> {
  const [{ UsageError }, { L402ClientError }] = await Promise.all([import("./cli/args.js"), import("./errors.js")]);
  if (error instanceof UsageError) {
    io.stderr.write(`l402: ${error.message}\nRun 'l402 --help' for usage.\n`);
    return EXIT.usage;
  }
  if (error instanceof L402ClientError) {
    io.stderr.write(`l402: ${error.code}: ${error.message}\n`);
    if (error.quote) io.stderr.write(`l402: price ${JSON.stringify(error.quote)}\n`);
    return exitCodeFor(error.code);
  }
  io.stderr.write(`l402: ${describeError(error)}\n`);
  return EXIT.error;
}

/** fetch's "fetch failed" says nothing by itself: the cause (ECONNREFUSED, a DNS error, ...) is what a user needs. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message;
}

function packageVersion(): string {
  const manifest: unknown = createRequire(import.meta.url)("../package.json");
  return typeof manifest === "object" && manifest !== null && "version" in manifest ? String(manifest.version) : "";
}

const io: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
// The gRPC channel to LND would keep the process alive: exit once stdout has taken everything.
const exit = (code: number) => process.stdout.write("", () => process.exit(code));
main(process.argv.slice(2), io).then(exit, async (error: unknown) => exit(await fail(error, io)));
