/**
 * What the framework examples share: an agent client paying from the LND node named in the environment, the
 * gateway's first model, and the sats a run spent.
 *
 *   L402_GATEWAY_URL=http://127.0.0.1:8080 L402_LND_SOCKET=127.0.0.1:10009 \
 *   L402_LND_CERT=<base64 tls.cert> L402_LND_MACAROON=<base64 admin.macaroon> \
 *   npx tsx examples/langchain-agent.ts "Why pay per call?"
 *
 * (`npm run demo` starts a gateway, a model and a regtest network and prints these values.) L402_STORE names the
 * store file (default ~/.l402/store.json).
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { createL402Client, FileStore, type L402Client, LndWallet } from "@l402-gateway/agent-client";

export function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
}

export const gatewayUrl = required("L402_GATEWAY_URL");
export const question = process.argv[2] ?? "In one sentence: why pay per call?";

export function payingClient(): L402Client {
  return createL402Client({
    wallet: LndWallet.connect({
      socket: required("L402_LND_SOCKET"),
      cert: required("L402_LND_CERT"),
      macaroon: required("L402_LND_MACAROON"),
    }),
    // Tokens, receipts and budget spending survive restarts (file mode 0600).
    store: new FileStore(process.env.L402_STORE ?? join(homedir(), ".l402", "store.json")),
    maxCostSats: 100,
    maxFeeSats: 5,
    budget: { hourlySats: 500, dailySats: 2_000 },
    // A completion that is not streamed sends its headers once the model has finished: a CPU model takes a while.
    timeouts: { headersMs: 300_000 },
    ...(process.env.L402_CA ? { ca: process.env.L402_CA } : {}),
  });
}

/** The id of the gateway's first model (the listing is paid like any call to the service; the token is reused). */
export async function firstModel(client: L402Client): Promise<string> {
  const response = await client.fetch(`${gatewayUrl}/v1/models`);
  const listing = (await response.json()) as { data?: { id: string }[] };
  return listing.data?.[0]?.id ?? "default";
}

/** Prints, on stderr, the sats paid (amount plus fee) since `since`. */
export async function printSpent(client: L402Client, since: Date): Promise<void> {
  const receipts = await client.receipts({ since, status: "succeeded" });
  const sats = receipts.reduce((sum, receipt) => sum + receipt.amountSats + (receipt.feeSats ?? 0), 0);
  console.error(`spent ${sats} sats in ${receipts.length} payment(s)`);
}
