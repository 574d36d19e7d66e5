#!/usr/bin/env node
/**
 * l402-gateway --config gateway.yaml [--workers N|auto]  serve
 * l402-gateway tokens list [--status S] [--service N] [--limit N] --config gateway.yaml
 * l402-gateway tokens revoke <token-id> --config gateway.yaml
 */
import { parseArgs } from "node:util";
import { workerCount } from "./cluster/messages.js";
import { startCluster } from "./cluster/primary.js";
import { ConfigError, loadConfigFile } from "./config/load.js";
import type { GatewayConfig } from "./config/schema.js";
import { startGateway } from "./server.js";
import { openStore } from "./store/open.js";
import type { TokenRecord, TokenStatus } from "./store/store.js";

const USAGE = `usage:
  l402-gateway --config <file.yaml> [--workers <n>|auto]
  l402-gateway tokens list [--status issued|paid|revoked] [--service <name>] [--limit <n>] --config <file.yaml>
  l402-gateway tokens revoke <token-id> --config <file.yaml>`;

class UsageError extends Error {}

function describe(token: TokenRecord): Record<string, unknown> {
  return {
    token_id: token.tokenId,
    service: token.service,
    status: token.status,
    price_sats: token.priceSats,
    payment_hash: token.paymentHash,
    created_at: token.createdAt.toISOString(),
    valid_until: token.validUntil.toISOString(),
    paid_at: token.paidAt?.toISOString(),
    revoked_at: token.revokedAt?.toISOString(),
  };
}

async function tokensCommand(
  configPath: string,
  args: string[],
  values: { status?: string; service?: string; limit?: string },
) {
  const config = loadConfigFile(configPath);
  const store = await openStore(config.store);
  try {
    const [action, tokenId] = args;
    if (action === "list") {
      const status = values.status as TokenStatus | undefined;
      if (status && !["issued", "paid", "revoked"].includes(status)) throw new UsageError(`unknown status ${status}`);
      const limit = values.limit === undefined ? 100 : Number(values.limit);
      if (!Number.isInteger(limit) || limit <= 0) throw new UsageError("--limit takes a positive integer");
      const tokens = await store.listTokens({ status, service: values.service, limit });
      console.log(JSON.stringify(tokens.map(describe), null, 2));
    } else if (action === "revoke") {
      if (!tokenId || !/^[0-9a-f]{64}$/.test(tokenId)) throw new UsageError("revoke takes a 64-hex-digit token id");
      const revoked = await store.revoke(tokenId, new Date());
      if (!revoked) {
        console.error(`no token ${tokenId}`);
        process.exitCode = 1;
        return;
      }
      console.log(JSON.stringify(describe(revoked), null, 2));
    } else {
      throw new UsageError(`unknown tokens command ${action ?? "(none)"}`);
    }
  } finally {
    await store.close();
  }
}

function parseWorkers(text: string): GatewayConfig["workers"] {
  if (text === "auto") return "auto";
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 256)
    throw new UsageError("--workers takes a whole number from 1 to 256, or auto");
  return n;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      status: { type: "string" },
      service: { type: "string" },
      limit: { type: "string" },
      workers: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.config) throw new UsageError("--config is required");
  const [command, ...rest] = positionals;
  if (command === "tokens") return tokensCommand(values.config, rest, values);
  if (command !== undefined) throw new UsageError(`unknown command ${command}`);

  const config = loadConfigFile(values.config);
  const workers = workerCount(values.workers === undefined ? config.workers : parseWorkers(values.workers));
  // A signal during the start (workers take seconds to come up) stops the gateway once it is up, cleanly.
  let requested = false;
  let close: (() => Promise<void>) | undefined;
  const shutdown = () => {
    requested = true;
    if (close) void close().then(() => process.exit(0));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
  const gateway =
    workers > 1
      ? await startCluster(config, { workers, configPath: values.config })
      : await startGateway(config, { configPath: values.config });
  close = () => gateway.close();
  if (requested) shutdown();
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) console.error(`${error.message}\n${USAGE}`);
  else if (error instanceof ConfigError) console.error(error.message);
  else console.error(`l402-gateway: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(error instanceof UsageError ? 2 : 1);
});
