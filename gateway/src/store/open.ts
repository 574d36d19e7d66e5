import type { StoreConfig } from "../config/schema.js";
import { PostgresTokenStore } from "./postgres.js";
import { SqliteTokenStore } from "./sqlite.js";
import type { TokenStore } from "./store.js";

/** Opens the configured store: SQLite for one gateway, PostgreSQL for several replicas. */
export async function openStore(config: StoreConfig, owner?: string): Promise<TokenStore> {
  if (config.postgres) return PostgresTokenStore.open(config.postgres, { owner });
  return new SqliteTokenStore(config.path ?? ":memory:", owner);
}
